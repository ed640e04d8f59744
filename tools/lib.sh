# Shared by tools/test and tools/demo: the repository root, the pinned Foundry binaries, and the npm
# install that brings them (run only when node_modules is missing or older than the lock file).
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Foundry's npm platform package for this machine (all four are optional dependencies; npm installs the one
# that matches): linux-amd64, linux-arm64, darwin-amd64 or darwin-arm64.
foundry_platform() {
  local os arch
  case "$(uname -s)" in Linux) os=linux ;; Darwin) os=darwin ;; *) echo "unsupported system: $(uname -s)" >&2; return 1 ;; esac
  case "$(uname -m)" in x86_64 | amd64) arch=amd64 ;; aarch64 | arm64) arch=arm64 ;; *) echo "unsupported machine: $(uname -m)" >&2; return 1 ;; esac
  echo "$os-$arch"
}
FOUNDRY_PLATFORM="$(foundry_platform)"
FOUNDRY_BIN="$ROOT/node_modules/@foundry-rs"
FORGE="$FOUNDRY_BIN/forge-$FOUNDRY_PLATFORM/bin/forge"
ANVIL="$FOUNDRY_BIN/anvil-$FOUNDRY_PLATFORM/bin/anvil"
CAST="$FOUNDRY_BIN/cast-$FOUNDRY_PLATFORM/bin/cast"
export QUITTANCE_ANVIL="$ANVIL"
TSC="$ROOT/node_modules/.bin/tsc"

# Bun, from npm: its install script moves the platform binary into the `bun` package; without install
# scripts it stays in the platform package.
bun_path() {
  local platform="$ROOT/node_modules/@oven/bun-linux-x64/bin/bun"
  if [[ -x "$platform" ]]; then echo "$platform"; else echo "$ROOT/node_modules/bun/bin/bun.exe"; fi
}

# Prints a step header, with the time the previous step took.
_step_started=""
step() {
  if [[ -n "$_step_started" ]]; then printf '    (%ss)\n' "$((SECONDS - _step_started))"; fi
  _step_started=$SECONDS
  printf '\n\033[1m==> %s\033[0m\n' "$*"
}

# Installs the pinned Solidity toolchain and libraries from package-lock.json when node_modules is
# missing or was installed from a different lock file.
ensure_node_modules() {
  local stamp="$ROOT/node_modules/.quittance-lock" want
  want="$(cat "$ROOT/package.json" "$ROOT/package-lock.json" | sha256sum | cut -d' ' -f1)"
  if [[ -x "$FORGE" && -x "$ANVIL" && -x "$CAST" && -x "$TSC" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    return
  fi
  step "npm ci (Solidity toolchain and libraries, pinned in package-lock.json)"
  (cd "$ROOT" && npm ci --no-audit --no-fund)
  echo "$want" > "$stamp"
}

# Headless Chromium and its WebDriver (Debian's `chromium` and `chromium-driver`), for the paywall page's
# browser test: installed with apt-get when missing (as root, or through sudo); `apt-get update` only if the
# first install fails.
ensure_chromium() {
  if command -v chromium > /dev/null && command -v chromedriver > /dev/null; then
    return
  fi
  local apt=(apt-get)
  if [[ "$(id -u)" != 0 ]]; then apt=(sudo apt-get); fi
  step "apt-get install chromium chromium-driver (the paywall page's browser test)"
  DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y -q chromium chromium-driver \
    || { "${apt[@]}" update -q && DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y -q chromium chromium-driver; }
}

# The Python analysis tools (halmos, slither), pinned with hashes in tools/analysis/requirements.txt, in a
# git-ignored virtual environment that is made again only when it is missing or was made from another lock file.
ANALYSIS_VENV="$ROOT/.tools/venv"
ensure_analysis_tools() {
  local lock="$ROOT/tools/analysis/requirements.txt" stamp="$ANALYSIS_VENV/.quittance-lock" want python
  want="$(sha256sum "$lock" | cut -d' ' -f1)"
  if [[ -x "$ANALYSIS_VENV/bin/halmos" && -x "$ANALYSIS_VENV/bin/slither" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    return
  fi
  python="$(command -v python3.11 || command -v python3)"
  step "Python analysis tools (halmos, slither: pinned with hashes in tools/analysis/requirements.txt)"
  rm -rf "$ANALYSIS_VENV"
  "$python" -m venv "$ANALYSIS_VENV"
  "$ANALYSIS_VENV/bin/pip" install --quiet --disable-pip-version-check --no-input --require-hashes --no-deps \
    -r "$lock"
  echo "$want" > "$stamp"
}

PYTHON_X402_VENV="$ROOT/.tools/python-x402"

# The official x402 Python SDK (x402[mcp,evm], pinned with hashes in interop/python/requirements.txt) in its
# own venv, for the MCP interop tests (crates/mcp/tests/python.rs, which find it at .tools/python-x402 or
# $QUITTANCE_PYTHON_X402); reinstalled when the lock changes.
ensure_python_x402() {
  local lock="$ROOT/interop/python/requirements.txt" stamp="$PYTHON_X402_VENV/.quittance-lock" want python
  want="$(sha256sum "$lock" | cut -d' ' -f1)"
  if [[ -x "$PYTHON_X402_VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    return
  fi
  python="$(command -v python3.11 || command -v python3)"
  step "the official x402 Python SDK (x402[mcp,evm]: pinned with hashes in interop/python/requirements.txt)"
  rm -rf "$PYTHON_X402_VENV"
  "$python" -m venv "$PYTHON_X402_VENV"
  "$PYTHON_X402_VENV/bin/pip" install --quiet --disable-pip-version-check --no-input --require-hashes --no-deps \
    -r "$lock"
  echo "$want" > "$stamp"
}

# Runs a command with a scratch HOME (halmos and slither's helpers write caches there), removed afterwards, and
# with forge and the analysis tools on PATH.
with_analysis_env() {
  local home status=0
  home="$(mktemp -d)"
  HOME="$home" PATH="$(dirname "$FORGE"):$ANALYSIS_VENV/bin:$PATH" "$@" || status=$?
  rm -rf "$home"
  return "$status"
}
