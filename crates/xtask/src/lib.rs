//! Developer tasks of the Quittance workspace, run as `cargo xtask <task>`.
//!
//! `cargo xtask bindings` compiles `contracts/` with foundry-compilers through the repository's solc-js
//! wrapper (`tools/solc`), with the compiler settings of `foundry.toml` and the remappings of
//! `remappings.txt`, and writes the compiled artifacts (ABI and bytecode) and the `sol!` module list into
//! the `quittance-bindings` crate. `cargo xtask bindings --check` does the same in memory and fails when
//! the committed files differ, so stale bindings cannot land.

use eyre::{Context, bail, eyre};
use foundry_compilers::{
    ConfigurableArtifacts, ProjectBuilder, ProjectPathsConfig,
    artifacts::{
        EvmVersion, Optimizer, Remapping, Settings,
        solc::{BytecodeHash, SettingsMetadata},
    },
    compilers::solc::{Solc, SolcCompiler, SolcSettings},
};
use serde_json::{Value, json};
use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
    str::FromStr,
};

/// The command that regenerates the bindings, named in every staleness message.
pub const REGENERATE: &str = "cargo xtask bindings";
/// Where the bindings crate keeps what this task generates, relative to the workspace root.
const BINDINGS_DIR: &str = "crates/bindings";

/// The compiler configuration, read from `foundry.toml` (`[profile.default]`) and `remappings.txt` so
/// that forge and the bindings cannot drift apart.
#[derive(Debug)]
struct BuildConfig {
    src: String,
    solc: PathBuf,
    optimizer: bool,
    optimizer_runs: usize,
    via_ir: bool,
    evm_version: EvmVersion,
    remappings: Vec<Remapping>,
}

impl BuildConfig {
    fn load(root: &Path) -> eyre::Result<Self> {
        let text = fs::read_to_string(root.join("foundry.toml")).wrap_err("reading foundry.toml")?;
        let toml: toml::Table = toml::from_str(&text).wrap_err("parsing foundry.toml")?;
        let profile = toml
            .get("profile")
            .and_then(|p| p.get("default"))
            .and_then(|p| p.as_table())
            .ok_or_else(|| eyre!("foundry.toml has no [profile.default]"))?;
        let string = |key: &str| -> eyre::Result<String> {
            profile
                .get(key)
                .and_then(|v| v.as_str())
                .map(str::to_owned)
                .ok_or_else(|| eyre!("foundry.toml: [profile.default].{key} must be set (a string)"))
        };
        let boolean = |key: &str| -> eyre::Result<bool> {
            profile
                .get(key)
                .and_then(|v| v.as_bool())
                .ok_or_else(|| eyre!("foundry.toml: [profile.default].{key} must be set (a boolean)"))
        };
        // The artifacts are deterministic only with these two settings; refuse anything else.
        if string("bytecode_hash")? != "none" || boolean("cbor_metadata")? {
            bail!("foundry.toml must keep bytecode_hash = \"none\" and cbor_metadata = false (deterministic bytecode)");
        }
        let optimizer_runs = profile
            .get("optimizer_runs")
            .and_then(|v| v.as_integer())
            .and_then(|v| usize::try_from(v).ok())
            .ok_or_else(|| eyre!("foundry.toml: [profile.default].optimizer_runs must be set"))?;
        let evm_version = string("evm_version")?;
        let evm_version =
            EvmVersion::from_str(&evm_version).map_err(|e| eyre!("foundry.toml: evm_version {evm_version:?}: {e}"))?;

        let remappings = fs::read_to_string(root.join("remappings.txt"))
            .wrap_err("reading remappings.txt")?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| {
                let mut remapping = Remapping::from_str(l).map_err(|e| eyre!("remappings.txt: {l:?}: {e}"))?;
                remapping.path = root.join(&remapping.path).to_string_lossy().into_owned();
                if let Some(context) = remapping.context.as_mut() {
                    *context = root.join(&*context).to_string_lossy().into_owned();
                }
                Ok(remapping)
            })
            .collect::<eyre::Result<Vec<_>>>()?;

        Ok(Self {
            src: string("src")?,
            solc: root.join(string("solc")?),
            optimizer: boolean("optimizer")?,
            optimizer_runs,
            via_ir: profile.get("via_ir").and_then(|v| v.as_bool()).unwrap_or(false),
            evm_version,
            remappings,
        })
    }
}

/// Contracts from packages that the bindings include besides `contracts/`: local chains, the local DON
/// stand-in and the local CCIP lanes deploy Chainlink's real forwarder, token pool and token admin registry.
const EXTERNAL: &[&str] = &[
    "node_modules/@chainlink/contracts/src/v0.8/keystone/KeystoneForwarder.sol",
    "node_modules/@chainlink/contracts-ccip/contracts/pools/BurnMintTokenPool.sol",
    "node_modules/@chainlink/contracts-ccip/contracts/tokenAdminRegistry/TokenAdminRegistry.sol",
    "node_modules/@chainlink/contracts-ccip/contracts/tokenAdminRegistry/RegistryModuleOwnerCustom.sol",
];

/// One compiled contract of `contracts/` (or of [`EXTERNAL`]).
#[derive(Debug)]
struct Compiled {
    name: String,
    /// Source path relative to the workspace root, with `/` separators.
    source: String,
    abi: Value,
    bytecode: String,
    deployed_bytecode: String,
    solc_version: String,
}

fn compile(root: &Path, config: &BuildConfig) -> eyre::Result<Vec<Compiled>> {
    let sources = root.join(&config.src);
    let paths = ProjectPathsConfig::builder()
        .root(root)
        .sources(&sources)
        .no_libs()
        .remappings(config.remappings.clone())
        .build_with_root(root);

    let mut settings = Settings {
        optimizer: Optimizer {
            enabled: Some(config.optimizer),
            runs: Some(config.optimizer_runs),
            ..Default::default()
        },
        evm_version: Some(config.evm_version),
        via_ir: Some(config.via_ir),
        metadata: Some(SettingsMetadata::new(BytecodeHash::None, false)),
        ..Default::default()
    };
    settings.remappings = config.remappings.clone();

    let solc = Solc::new(&config.solc).wrap_err_with(|| {
        format!("running {} --version (is node_modules installed? run `npm ci`)", config.solc.display())
    })?;
    let solc_version = solc.version.to_string();
    let project = ProjectBuilder::<SolcCompiler, ConfigurableArtifacts>::new(Default::default())
        .paths(paths)
        .settings(SolcSettings { settings, ..Default::default() })
        .ephemeral()
        .no_artifacts()
        .offline()
        .build(SolcCompiler::Specific(solc))
        .wrap_err("configuring the compiler")?;

    // contracts/ only: tests and scripts are forge's business and would only slow this down.
    let mut files: Vec<PathBuf> = project.sources().wrap_err("reading contracts")?.keys().cloned().collect();
    files.extend(EXTERNAL.iter().map(|path| root.join(path)));
    let output = project.compile_files(files).wrap_err("compiling contracts")?;
    if output.has_compiler_errors() {
        bail!("the contracts do not compile:\n{output}");
    }

    let mut compiled = Vec::new();
    for (id, artifact) in output.artifact_ids() {
        let Ok(relative) = id.source.strip_prefix(root) else {
            continue;
        };
        if !relative.starts_with(&config.src) && !EXTERNAL.iter().any(|path| relative == Path::new(path)) {
            continue;
        }
        let value = serde_json::to_value(artifact)?;
        let abi = value.get("abi").cloned().unwrap_or(Value::Array(vec![]));
        if abi.as_array().is_none_or(|a| a.is_empty()) {
            continue; // libraries without external functions, empty abstract contracts
        }
        let object = |key: &str| {
            value.get(key).and_then(|b| b.get("object")).and_then(|o| o.as_str()).unwrap_or("0x").to_owned()
        };
        compiled.push(Compiled {
            name: id.name.clone(),
            source: relative.to_string_lossy().replace('\\', "/"),
            abi,
            bytecode: object("bytecode"),
            deployed_bytecode: object("deployedBytecode"),
            solc_version: solc_version.clone(),
        });
    }
    compiled.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(pair) = compiled.windows(2).find(|w| w[0].name == w[1].name) {
        bail!(
            "two contracts are named {}: {} and {}; the bindings need unique names",
            pair[0].name,
            pair[0].source,
            pair[1].source
        );
    }
    if compiled.is_empty() {
        bail!("no contracts found under {}", sources.display());
    }
    Ok(compiled)
}

/// The generated files, by path relative to the workspace root.
fn render(config: &BuildConfig, contracts: &[Compiled]) -> eyre::Result<BTreeMap<PathBuf, String>> {
    let mut files = BTreeMap::new();
    for c in contracts {
        let mut artifact = json!({
            "contractName": c.name,
            "sourcePath": c.source,
            "compiler": {
                "solc": c.solc_version,
                "evmVersion": config.evm_version.as_str(),
                "optimizer": config.optimizer,
                "optimizerRuns": config.optimizer_runs,
                "viaIR": config.via_ir,
            },
            "abi": c.abi,
        });
        if has_code(&c.bytecode) {
            artifact["bytecode"] = json!({ "object": c.bytecode });
            artifact["deployedBytecode"] = json!({ "object": c.deployed_bytecode });
        }
        let text = serde_json::to_string_pretty(&artifact)? + "\n";
        files.insert(Path::new(BINDINGS_DIR).join("artifacts").join(format!("{}.json", c.name)), text);
    }
    files.insert(Path::new(BINDINGS_DIR).join("src/generated.rs"), render_module(config, contracts));
    Ok(files)
}

fn has_code(object: &str) -> bool {
    !object.trim_start_matches("0x").is_empty()
}

fn render_module(config: &BuildConfig, contracts: &[Compiled]) -> String {
    let solc = contracts.first().map(|c| c.solc_version.as_str()).unwrap_or_default();
    let mut out = format!(
        "// @generated by `{REGENERATE}` from contracts/, foundry.toml and remappings.txt. Do not edit.\n\n\
         /// The EVM version every part of Quittance uses: forge, the committed artifacts, anvil's hardfork and\n\
         /// revm's spec.\n\
         pub const EVM_VERSION: &str = {:?};\n\n\
         /// The Solidity compiler the artifacts were built with.\n\
         pub const SOLC_VERSION: &str = {solc:?};\n",
        config.evm_version.as_str(),
    );
    for c in contracts {
        let deployable = if has_code(&c.bytecode) { "deployable, " } else { "" };
        out.push_str(&format!(
            "\n/// Bindings for `{name}` ({deployable}from `{source}`), with the types its ABI uses.\n\
             pub mod {module} {{\n    \
                 #![allow(missing_docs)]\n    \
                 alloy::sol!(\n        #[sol(rpc, all_derives)]\n        {name},\n        \"artifacts/{name}.json\"\n    );\n\
             }}\n\
             pub use {module}::{name};\n",
            name = c.name,
            source = c.source,
            module = snake_case(&c.name),
        ));
    }
    out
}

/// `PaymentEscrow` → `payment_escrow`, `IERC3009` → `ierc3009`.
fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let prev = i.checked_sub(1).map(|j| chars[j]);
        let next = chars.get(i + 1);
        let starts_word = c.is_uppercase()
            && (prev.is_some_and(|p| p.is_lowercase() || p.is_ascii_digit())
                || (prev.is_some_and(char::is_uppercase) && next.is_some_and(|n| n.is_lowercase())));
        if starts_word {
            out.push('_');
        }
        out.extend(c.to_lowercase());
    }
    out
}

fn write_files(root: &Path, files: &BTreeMap<PathBuf, String>) -> eyre::Result<()> {
    let artifacts_dir = root.join(BINDINGS_DIR).join("artifacts");
    fs::create_dir_all(&artifacts_dir)?;
    for stale in stale_artifacts(root, files)? {
        fs::remove_file(root.join(&stale)).wrap_err_with(|| format!("removing {}", stale.display()))?;
    }
    for (path, text) in files {
        let path = root.join(path);
        if fs::read_to_string(&path).ok().as_deref() != Some(text) {
            fs::write(&path, text).wrap_err_with(|| format!("writing {}", path.display()))?;
        }
    }
    Ok(())
}

/// Committed artifacts that a fresh build no longer produces (a contract was removed or renamed).
fn stale_artifacts(root: &Path, files: &BTreeMap<PathBuf, String>) -> eyre::Result<Vec<PathBuf>> {
    let relative = Path::new(BINDINGS_DIR).join("artifacts");
    let Ok(entries) = fs::read_dir(root.join(&relative)) else {
        return Ok(vec![]);
    };
    let mut stale = Vec::new();
    for entry in entries {
        let path = relative.join(entry?.file_name());
        if path.extension().is_some_and(|e| e == "json") && !files.contains_key(&path) {
            stale.push(path);
        }
    }
    Ok(stale)
}

fn check_files(root: &Path, files: &BTreeMap<PathBuf, String>) -> eyre::Result<()> {
    let mut problems = Vec::new();
    for (path, text) in files {
        match fs::read_to_string(root.join(path)) {
            Ok(committed) if &committed == text => {}
            Ok(_) => problems.push(format!("{} differs from a fresh build", path.display())),
            Err(_) => problems.push(format!("{} is missing", path.display())),
        }
    }
    for stale in stale_artifacts(root, files)? {
        problems.push(format!("{} belongs to no contract any more", stale.display()));
    }
    if !problems.is_empty() {
        bail!(
            "the contract bindings are stale:\n  - {}\nRegenerate them with `{REGENERATE}` and commit the result.",
            problems.join("\n  - ")
        );
    }
    Ok(())
}

/// Compares forge's artifacts (`<out>/<File>.sol/<Name>.json`) with ours, contract by contract.
fn check_forge_out(out: &Path, contracts: &[Compiled]) -> eyre::Result<()> {
    let mut problems = Vec::new();
    for c in contracts.iter().filter(|c| has_code(&c.bytecode)) {
        let file = Path::new(&c.source).file_name().ok_or_else(|| eyre!("bad source path {}", c.source))?;
        let path = out.join(file).join(format!("{}.json", c.name));
        let text = fs::read_to_string(&path)
            .wrap_err_with(|| format!("reading {} (run `forge build` first)", path.display()))?;
        let forge: Value = serde_json::from_str(&text)?;
        let forge_object = |key: &str| forge.get(key).and_then(|b| b.get("object")).and_then(|o| o.as_str());
        if forge_object("bytecode") != Some(&c.bytecode)
            || forge_object("deployedBytecode") != Some(&c.deployed_bytecode)
        {
            problems.push(format!("{} ({})", c.name, path.display()));
        }
    }
    if !problems.is_empty() {
        bail!(
            "forge and the bindings compile different bytecode for: {}\nforge build and `{REGENERATE}` must use the same settings (foundry.toml, remappings.txt).",
            problems.join(", ")
        );
    }
    Ok(())
}

/// Where the workspace root is, seen from this crate.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/xtask sits two levels below the workspace root")
        .to_path_buf()
}

/// Regenerates (or, with `check`, verifies) the bindings of the workspace at `root`; with `forge_out`,
/// also compares against forge's build output there. Returns a one-line summary.
pub fn bindings(root: &Path, check: bool, forge_out: Option<&Path>) -> eyre::Result<String> {
    let config = BuildConfig::load(root)?;
    let contracts = compile(root, &config)?;
    let files = render(&config, &contracts)?;
    let mut summary = if check {
        check_files(root, &files)?;
        format!("bindings are fresh: {} contracts", contracts.len())
    } else {
        write_files(root, &files)?;
        format!("wrote bindings for {} contracts into {BINDINGS_DIR}", contracts.len())
    };
    if let Some(out) = forge_out {
        check_forge_out(&root.join(out), &contracts)?;
        summary.push_str("; forge's build output holds the same bytecode");
    }
    Ok(summary)
}
