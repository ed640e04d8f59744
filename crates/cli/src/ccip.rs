//! `quittance ccip`: cross-chain invoice payments between two local chains (local only). `deploy` puts a
//! local CCIP lane between two chains Quittance is deployed on — Chainlink's token admin registry and
//! BurnMintTokenPool with the Cross-Chain Token, the local router stand-in, Quittance's sender and receiver
//! on each — and records each chain's end in its manifest; `relay` carries the messages both ways, standing
//! in for the CCIP network.

use crate::keys::KeySource;
use alloy::{
    primitives::{Address, U256, keccak256},
    signers::local::PrivateKeySigner,
    sol_types::SolCall,
};
use clap::{Args, Subcommand};
use quittance_bindings::TestStablecoin;
use quittance_ccip::{LOCAL_TOKEN, LaneEnd, RateLimit, Relay, deploy_local_lane};
use quittance_chain::{Chain, RpcChain, Sender};
use quittance_deploy::{CcipEnd, LOCAL_CHAIN_IDS, Manifest};
use std::{collections::BTreeMap, path::PathBuf, time::Duration};

/// The gas a receiver's execution gets (settling an invoice takes about 200,000).
const RECEIVER_GAS: u64 = 500_000;

/// `quittance ccip` subcommands.
#[derive(Debug, Subcommand)]
pub enum CcipCommand {
    /// Deploy a local CCIP lane between two local chains and record it in both manifests.
    Deploy(DeployArgs),
    /// Carry the lane's messages both ways (the local stand-in for the CCIP network).
    Relay(RelayArgs),
}

/// The two chains, their manifests, and the key that owns both ends.
#[derive(Debug, Args)]
pub struct Chains {
    /// The first chain's manifest (written by `quittance deploy`).
    #[arg(long)]
    deployment: PathBuf,
    /// The first chain's JSON-RPC endpoint.
    #[arg(long)]
    rpc_url: reqwest::Url,
    /// The second chain's manifest.
    #[arg(long)]
    remote_deployment: PathBuf,
    /// The second chain's JSON-RPC endpoint.
    #[arg(long)]
    remote_rpc_url: reqwest::Url,
    /// File holding the hex private key that owns both ends (the registries' owner; the relay).
    #[arg(long, conflicts_with = "key_env")]
    key_file: Option<PathBuf>,
    /// Environment variable holding that key.
    #[arg(long, default_value = "QUITTANCE_DEPLOYER_KEY")]
    key_env: String,
}

/// One chain of the two, opened.
struct Opened {
    chain: RpcChain,
    manifest: Manifest,
    path: PathBuf,
}

impl Chains {
    /// Both chains with their manifests, refusing chains that are not local or manifests of other chains.
    async fn open(&self) -> eyre::Result<(Opened, Opened, PrivateKeySigner)> {
        let key = match &self.key_file {
            Some(path) => KeySource::File(path.clone()),
            None => KeySource::Env(self.key_env.clone()),
        };
        let signer = key.load()?;
        let open = |path: &PathBuf, url: &reqwest::Url| {
            let (path, url) = (path.clone(), url.clone());
            async move {
                let chain = RpcChain::http(url);
                let chain_id = chain.chain_id().await?;
                eyre::ensure!(
                    LOCAL_CHAIN_IDS.contains(&chain_id),
                    "chain {chain_id} is not a local chain: the router stand-in and the relay are for local chains \
                     only (a network with CCIP has Chainlink's router)"
                );
                let manifest = Manifest::read(&path)?;
                eyre::ensure!(
                    manifest.chain_id == chain_id,
                    "{} is for chain {}, not {chain_id}",
                    path.display(),
                    manifest.chain_id
                );
                Ok(Opened { chain, manifest, path })
            }
        };
        let first = open(&self.deployment, &self.rpc_url).await?;
        let second = open(&self.remote_deployment, &self.remote_rpc_url).await?;
        eyre::ensure!(first.manifest.chain_id != second.manifest.chain_id, "the two chains must differ");
        Ok((first, second, signer))
    }
}

/// `quittance ccip deploy` arguments.
#[derive(Debug, Args)]
pub struct DeployArgs {
    #[command(flatten)]
    chains: Chains,
    /// Each way's rate limit: the most in flight, in the token's smallest unit.
    #[arg(long, default_value_t = 1_000_000_000)]
    capacity: u128,
    /// Each way's refill, in the token's smallest unit per second.
    #[arg(long, default_value_t = 1_000_000)]
    rate: u128,
    /// Give this account 1,000 Cross-Chain test dollars on the first chain (repeat for more accounts).
    #[arg(long)]
    fund: Vec<Address>,
}

/// `quittance ccip relay` arguments.
#[derive(Debug, Args)]
pub struct RelayArgs {
    #[command(flatten)]
    chains: Chains,
    /// How often to look for messages, in milliseconds.
    #[arg(long, default_value_t = 200)]
    poll_ms: u64,
    /// Relay the messages there are now (both ways), then stop.
    #[arg(long)]
    once: bool,
}

/// Runs `quittance ccip …`.
pub async fn run(command: CcipCommand) -> eyre::Result<()> {
    match command {
        CcipCommand::Deploy(args) => deploy(args).await,
        CcipCommand::Relay(args) => relay(args).await,
    }
}

/// A local chain's CCIP selector: any number distinct per chain (real selectors come from Chainlink's
/// directory).
fn local_selector(chain_id: u64) -> u64 {
    let hash = keccak256(format!("quittance local ccip {chain_id}"));
    u64::from_be_bytes(hash[..8].try_into().expect("eight bytes"))
}

fn lane_end(end: &CcipEnd) -> eyre::Result<LaneEnd> {
    Ok(LaneEnd {
        chain_selector: end.selector()?,
        router: end.router,
        token_admin_registry: end.token_admin_registry,
        token: end.token,
        pool: end.pool,
    })
}

async fn deploy(args: DeployArgs) -> eyre::Result<()> {
    let (mut first, mut second, signer) = args.chains.open().await?;
    for opened in [&first, &second] {
        eyre::ensure!(
            opened.manifest.ccip.is_none(),
            "{} already records a CCIP end: one lane between two local chains is what this command sets up",
            opened.path.display()
        );
    }
    let mut registries = Vec::new();
    for opened in [&first, &second] {
        registries.push(
            opened
                .manifest
                .address("InvoiceRegistry")
                .ok_or_else(|| eyre::eyre!("{} has no InvoiceRegistry", opened.path.display()))?,
        );
    }
    let selectors = [local_selector(first.manifest.chain_id), local_selector(second.manifest.chain_id)];
    let limit = RateLimit { capacity: args.capacity, rate: args.rate };
    let lane =
        deploy_local_lane([&first.chain, &second.chain], &signer, [registries[0], registries[1]], selectors, limit)
            .await?;
    for (i, opened) in [&first, &second].into_iter().enumerate() {
        let end = lane.ends[i];
        println!(
            "{}: selector {}, router {} (local stand-in), token {} with pool {}, sender {}, receiver {}",
            opened.manifest.network,
            end.chain_selector,
            end.router,
            end.token,
            end.pool,
            lane.senders[i],
            lane.receivers[i]
        );
    }
    let mut on_first = Sender::new(&first.chain, &signer).await?;
    for account in &args.fund {
        let mint = TestStablecoin::mintCall { to: *account, amount: U256::from(quittance_deploy::FUNDING) };
        on_first.send(lane.ends[0].token, mint.abi_encode().into()).await?;
        println!("{account} now holds 1,000 Cross-Chain test dollars on {}", first.manifest.network);
    }
    let record = |end: &LaneEnd, sender: Address, receiver: Address, remote: &Opened, remote_end: &LaneEnd| CcipEnd {
        chain_selector: end.chain_selector.to_string(),
        router: end.router,
        local: true,
        token_admin_registry: end.token_admin_registry,
        token: end.token,
        token_name: LOCAL_TOKEN.0.into(),
        token_version: LOCAL_TOKEN.1.into(),
        pool: end.pool,
        invoice_sender: sender,
        invoice_receiver: receiver,
        receiver_gas: RECEIVER_GAS,
        lanes: BTreeMap::from([(remote.manifest.network.clone(), remote_end.chain_selector.to_string())]),
    };
    let ccip_1 = record(&lane.ends[0], lane.senders[0], lane.receivers[0], &second, &lane.ends[1]);
    let ccip_2 = record(&lane.ends[1], lane.senders[1], lane.receivers[1], &first, &lane.ends[0]);
    first.manifest.settlers.insert(lane.receivers[0], "CrossChain".into());
    first.manifest.ccip = Some(ccip_1);
    second.manifest.settlers.insert(lane.receivers[1], "CrossChain".into());
    second.manifest.ccip = Some(ccip_2);
    for opened in [&first, &second] {
        opened.manifest.write(&opened.path)?;
        println!("recorded the lane in {}", opened.path.display());
    }
    println!("run `quittance ccip relay` with the same chains to carry the messages");
    Ok(())
}

async fn relay(args: RelayArgs) -> eyre::Result<()> {
    let (first, second, signer) = args.chains.open().await?;
    let end = |opened: &Opened| {
        opened
            .manifest
            .ccip
            .as_ref()
            .ok_or_else(|| eyre::eyre!("{} records no CCIP end: run `quittance ccip deploy`", opened.path.display()))
            .and_then(lane_end)
    };
    let (end_1, end_2) = (end(&first)?, end(&second)?);
    let mut relays = [
        (
            format!("{} → {}", first.manifest.network, second.manifest.network),
            Relay::new(first.chain.clone(), end_1, second.chain.clone(), end_2, signer.clone(), 0),
        ),
        (
            format!("{} → {}", second.manifest.network, first.manifest.network),
            Relay::new(second.chain.clone(), end_2, first.chain.clone(), end_1, signer, 0),
        ),
    ];
    println!("relaying between {} and {}", first.manifest.network, second.manifest.network);
    loop {
        for (direction, relay) in &mut relays {
            match relay.poll().await {
                Ok(relayed) => {
                    for (id, receipt) in &relayed.executed {
                        println!(
                            "{direction}: message {id} executed in {} ({} gas)",
                            receipt.transaction_hash, receipt.gas_used
                        );
                    }
                    if relayed.waiting > 0 {
                        println!("{direction}: {} message(s) refused for now; trying again", relayed.waiting);
                    }
                }
                Err(err) if args.once => return Err(err.into()),
                Err(err) => tracing::warn!(%err, %direction, "relay poll failed; trying again"),
            }
        }
        if args.once {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(args.poll_ms.max(10))).await;
    }
}
