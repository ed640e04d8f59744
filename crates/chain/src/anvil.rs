//! Local chains for demos and tests: anvil started from the native binary that npm installs, with the
//! project's EVM version as its hardfork. Local only.

use alloy::node_bindings::{Anvil, AnvilInstance};
use quittance_bindings::EVM_VERSION;
use std::path::{Path, PathBuf};

/// Environment variable naming the anvil binary to use instead of the one under `node_modules`.
pub const ANVIL_ENV: &str = "QUITTANCE_ANVIL";

/// The suffix of Foundry's npm platform package for the machine this is built for (the four platform
/// packages are optional dependencies; npm installs the one that matches).
pub const FOUNDRY_PLATFORM: &str = if cfg!(all(target_os = "macos", target_arch = "aarch64")) {
    "darwin-arm64"
} else if cfg!(target_os = "macos") {
    "darwin-amd64"
} else if cfg!(target_arch = "aarch64") {
    "linux-arm64"
} else {
    "linux-amd64"
};

/// Where npm installs anvil for this platform, relative to the repository root.
fn anvil_in_node_modules() -> PathBuf {
    PathBuf::from(format!("node_modules/@foundry-rs/anvil-{FOUNDRY_PLATFORM}/bin/anvil"))
}

/// Finds the anvil binary: `$QUITTANCE_ANVIL`, else the repository's `node_modules` (searched from the
/// working directory upwards, then from this crate's source tree), else `anvil` on `PATH`.
pub fn anvil_path() -> PathBuf {
    if let Some(path) = std::env::var_os(ANVIL_ENV) {
        return path.into();
    }
    let from_cwd = std::env::current_dir().ok();
    let from_source = Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf();
    [from_cwd, Some(from_source)]
        .into_iter()
        .flatten()
        .flat_map(|start| start.ancestors().map(|dir| dir.join(anvil_in_node_modules())).collect::<Vec<_>>())
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| PathBuf::from("anvil"))
}

/// Errors starting a local chain.
#[derive(Debug, thiserror::Error)]
pub enum AnvilError {
    /// anvil could not be started.
    #[error("could not start anvil at {path}: {source} (run `npm ci` in the repository root, or set {ANVIL_ENV})")]
    Spawn {
        /// The binary that was tried.
        path: PathBuf,
        /// What went wrong.
        source: alloy::node_bindings::NodeError,
    },
}

/// Starts anvil on a free loopback port with chain id 31337 and the project's hardfork. The process
/// stops when the returned instance is dropped.
pub fn spawn_anvil() -> Result<AnvilInstance, AnvilError> {
    spawn_anvil_with_chain_id(31337)
}

/// Starts anvil as [`spawn_anvil`] does, with another chain id (e.g. to stand in for a network that x402
/// v1 names).
pub fn spawn_anvil_with_chain_id(chain_id: u64) -> Result<AnvilInstance, AnvilError> {
    let path = anvil_path();
    Anvil::at(&path)
        .port(0u16)
        .chain_id(chain_id)
        .args(["--hardfork", EVM_VERSION])
        .try_spawn()
        .map_err(|source| AnvilError::Spawn { path, source })
}
