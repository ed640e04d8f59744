//! `quittance facilitator`: the x402 facilitator service, for one chain from flags or for many networks
//! from a TOML file (`--config facilitator.toml`).
//!
//! Each network gets its own facilitator: its chain, its signing account (its own nonces), its own ledger
//! file (a ledger is bound to one chain), its reconciler and its voucher claims. One service answers for all
//! of them: a request goes to the facilitator of its requirements' network, `/supported` lists every
//! network's kinds and signers, and `/health` reports each network.

use crate::{keys::KeySource, server};
use clap::Args;
use quittance_chain::RpcChain;
use quittance_facilitator::{Facilitator, Networks, Served, SettleConfig, SqliteLedger, http};
use serde::Deserialize;
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

/// Arguments of `quittance facilitator`.
#[derive(Debug, Args)]
pub struct FacilitatorArgs {
    /// Serve the networks listed in this TOML file (see `crates/cli/facilitator.example.toml`) instead of
    /// the one chain the flags below describe (`--rpc-url` and `$QUITTANCE_RPC_URL` are then ignored).
    #[arg(long, conflicts_with_all = ["key_file", "ledger", "watch_rpc_url"])]
    pub config: Option<PathBuf>,
    /// JSON-RPC endpoint of the chain to settle on.
    #[arg(long, env = "QUITTANCE_RPC_URL", default_value = "http://127.0.0.1:8545")]
    pub rpc_url: reqwest::Url,
    /// File holding the facilitator's hex private key (it pays the gas of settlements).
    #[arg(long, conflicts_with = "key_env")]
    pub key_file: Option<PathBuf>,
    /// Environment variable holding the facilitator's hex private key.
    #[arg(long, default_value = "QUITTANCE_FACILITATOR_KEY")]
    pub key_env: String,
    /// The settlement ledger (an SQLite file, created if missing).
    #[arg(long, default_value = "quittance-ledger.sqlite")]
    pub ledger: PathBuf,
    /// Address to listen on (with `--config`, the file's `listen` wins).
    #[arg(long, default_value = "127.0.0.1:4021")]
    pub listen: SocketAddr,
    /// Claim the latest voucher of every channel it accepted vouchers on, in one batch, this often (seconds).
    #[arg(long, default_value = "60")]
    pub claim_every: u64,
    /// Conclude unfinished settlements this often (seconds): from the chain, by broadcasting them again while
    /// they can succeed, or by filling the nonce of one that expired unsent.
    #[arg(long, default_value = "5", value_parser = clap::value_parser!(u64).range(1..))]
    pub reconcile_every: u64,
    /// Watch this chain too (repeat for more): cross-chain invoice payments from the facilitator's chain to
    /// it are sent here and confirmed there.
    #[arg(long)]
    pub watch_rpc_url: Vec<reqwest::Url>,
    /// Seconds each JSON-RPC request to a chain may take before it fails as timed out.
    #[arg(long, default_value_t = quittance_chain::RPC_TIMEOUT.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    pub rpc_timeout_secs: u64,
    /// Seconds a request to this facilitator may take before it is answered 503 (a settlement goes on).
    #[arg(long, default_value_t = server::FACILITATOR_REQUEST_TIMEOUT_SECS, value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout_secs: u64,
    /// The connection bounds.
    #[command(flatten)]
    pub server: server::ServerArgs,
}

/// A facilitator configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on (default: `--listen`).
    #[serde(default)]
    pub listen: Option<SocketAddr>,
    /// The networks served, one facilitator each.
    #[serde(rename = "network")]
    pub networks: Vec<NetworkConfig>,
}

/// One network of a configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    /// The chain's JSON-RPC endpoint.
    pub rpc_url: reqwest::Url,
    /// The CAIP-2 network it must be (`eip155:8453`); checked against the chain's id at start.
    #[serde(default)]
    pub network: Option<String>,
    /// Environment variable holding this network's signing key (default `QUITTANCE_FACILITATOR_KEY`).
    #[serde(default)]
    pub key_env: Option<String>,
    /// File holding this network's signing key, relative to the configuration file.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// This network's ledger, relative to the configuration file (default `quittance-ledger-<chain id>.sqlite`).
    #[serde(default)]
    pub ledger: Option<PathBuf>,
    /// The schemes offered on it (default: every scheme the facilitator serves there).
    #[serde(default)]
    pub schemes: Option<Vec<String>>,
    /// Chains that cross-chain invoice payments from this one settle on.
    #[serde(default)]
    pub watch_rpc_urls: Vec<reqwest::Url>,
    /// Seconds each JSON-RPC request may take (default `--rpc-timeout-secs`).
    #[serde(default)]
    pub rpc_timeout_secs: Option<u64>,
}

/// Reads and checks a configuration file; errors name the file and the network entry.
pub fn read_config(path: &Path) -> eyre::Result<Config> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| eyre::eyre!("cannot read the facilitator configuration {}: {err}", path.display()))?;
    let config: Config =
        toml::from_str(&text).map_err(|err| eyre::eyre!("{}: {}", path.display(), err.message().trim()))?;
    eyre::ensure!(!config.networks.is_empty(), "{}: no [[network]] to serve", path.display());
    let known: Vec<&str> = quittance_x402::Scheme::ALL.iter().map(|s| s.name()).collect();
    for (index, network) in config.networks.iter().enumerate() {
        let at = format!("{}: network {} ({})", path.display(), index + 1, network.rpc_url);
        if let Some(name) = &network.network {
            crate::pay::evm_network(name).map_err(|err| eyre::eyre!("{at}: network: {err}"))?;
        }
        eyre::ensure!(
            !(network.key_env.is_some() && network.key_file.is_some()),
            "{at}: give key_env or key_file, not both"
        );
        for scheme in network.schemes.iter().flatten() {
            eyre::ensure!(known.contains(&scheme.as_str()), "{at}: schemes: {scheme:?} is not one of {known:?}");
        }
        eyre::ensure!(network.rpc_timeout_secs != Some(0), "{at}: rpc_timeout_secs must be more than zero");
    }
    Ok(config)
}

/// Runs the facilitator service until stopped.
pub async fn run(args: FacilitatorArgs) -> eyre::Result<()> {
    let rpc_timeout = Duration::from_secs(args.rpc_timeout_secs);
    let (served, listen) = match &args.config {
        None => {
            let key = match &args.key_file {
                Some(path) => KeySource::File(path.clone()),
                None => KeySource::Env(args.key_env.clone()),
            };
            let one = NetworkConfig {
                rpc_url: args.rpc_url.clone(),
                network: None,
                key_env: None,
                key_file: None,
                ledger: None,
                schemes: None,
                watch_rpc_urls: args.watch_rpc_url.clone(),
                rpc_timeout_secs: None,
            };
            (vec![start(&one, key, args.ledger.clone(), rpc_timeout).await?], args.listen)
        }
        Some(path) => {
            let config = read_config(path)?;
            let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
            let mut served = Vec::new();
            for network in &config.networks {
                let key = match (&network.key_file, &network.key_env) {
                    (Some(file), _) => KeySource::File(base.join(file)),
                    (None, Some(env)) => KeySource::Env(env.clone()),
                    (None, None) => KeySource::Env(args.key_env.clone()),
                };
                let timeout = network.rpc_timeout_secs.map_or(rpc_timeout, Duration::from_secs);
                // The ledger's default name needs the chain id: asked first.
                let ledger = match &network.ledger {
                    Some(ledger) => base.join(ledger),
                    None => {
                        let chain = RpcChain::http_with_timeout(network.rpc_url.clone(), timeout);
                        let chain_id = quittance_chain::Chain::chain_id(&chain)
                            .await
                            .map_err(|err| eyre::eyre!("could not reach the chain at {}: {err}", network.rpc_url))?;
                        base.join(format!("quittance-ledger-{chain_id}.sqlite"))
                    }
                };
                served.push(start(network, key, ledger, timeout).await?);
            }
            (served, config.listen.unwrap_or(args.listen))
        }
    };
    let listener = server::bind(listen).await?;
    let limits = args.server.limits(args.request_timeout_secs);
    for (facilitator, ledger) in &served {
        let watching = facilitator.facilitator.destinations().collect::<Vec<_>>().join(", ");
        println!(
            "facilitator {} on {} listening on http://{} (ledger {}){}{}",
            facilitator.facilitator.address(),
            facilitator.facilitator.network(),
            listener.local_addr()?,
            ledger.display(),
            facilitator.schemes.as_ref().map_or_else(String::new, |s| format!("; schemes {}", s.join(", "))),
            if watching.is_empty() { String::new() } else { format!("; cross-chain payments to {watching}") }
        );
        facilitator.facilitator.spawn_reconciler(Duration::from_secs(args.reconcile_every));
        spawn_claimer(facilitator.facilitator.clone(), Duration::from_secs(args.claim_every.max(1)));
    }
    if args.config.is_none() {
        // One chain: the facilitator itself, as before.
        let (one, _) = served.into_iter().next().ok_or_else(|| eyre::eyre!("nothing to serve"))?;
        server::serve(listener, http::router(one.facilitator), limits).await?;
    } else {
        let networks = Networks::new(served.into_iter().map(|(served, _)| served))?;
        server::serve(listener, http::router(Arc::new(networks)), limits).await?;
    }
    Ok(())
}

/// Starts the facilitator of one network: its chain checked against the configured network, its ledger
/// opened and bound, what a previous run left unfinished reconciled.
async fn start(
    network: &NetworkConfig,
    key: KeySource,
    ledger_path: PathBuf,
    rpc_timeout: Duration,
) -> eyre::Result<(Served<RpcChain>, PathBuf)> {
    let signer = key.load()?;
    let ledger = Arc::new(
        SqliteLedger::open(&ledger_path)
            .map_err(|err| eyre::eyre!("could not open the ledger {}: {err}", ledger_path.display()))?,
    );
    let chain = RpcChain::http_with_timeout(network.rpc_url.clone(), rpc_timeout);
    let mut facilitator = Facilitator::new(chain, signer, ledger, SettleConfig::default())
        .await
        .map_err(|err| eyre::eyre!("the facilitator could not start (chain {}): {err}", network.rpc_url))?;
    if let Some(expected) = &network.network {
        eyre::ensure!(
            facilitator.network() == expected,
            "the chain at {} is {}, not {expected} as configured",
            network.rpc_url,
            facilitator.network()
        );
    }
    for url in &network.watch_rpc_urls {
        facilitator = facilitator
            .with_destination(RpcChain::http_with_timeout(url.clone(), rpc_timeout))
            .await
            .map_err(|err| eyre::eyre!("could not watch the chain at {url}: {err}"))?;
    }
    Ok((Served { facilitator: Arc::new(facilitator), schemes: network.schemes.clone() }, ledger_path))
}

/// Claims, every `every`, the latest voucher of every channel the facilitator accepted vouchers on.
fn spawn_claimer(facilitator: Arc<Facilitator<RpcChain>>, every: Duration) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            match facilitator.claim_channels().await {
                Ok(report) if report.channels > 0 => tracing::info!(
                    network = facilitator.network(),
                    channels = report.channels,
                    claimed = report.claimed,
                    transactions = ?report.transactions,
                    "claimed vouchers"
                ),
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(network = facilitator.network(), %err, "claiming vouchers failed; trying again later")
                }
            }
        }
    });
}
