//! `quittance cre`: the local DON stand-in (local chains only). `deploy` puts Chainlink's KeystoneForwarder,
//! configured with the stand-in's test keys, and a WorkflowOperator on a local chain; `run` watches the
//! operator's DeliveryReported events and, for each, decides, signs the report with f + 1 keys and
//! transmits it through the forwarder.

use crate::keys::KeySource;
use alloy::{
    primitives::{Address, B256, keccak256},
    providers::{Provider, ProviderBuilder},
    rpc::types::Filter,
    signers::local::PrivateKeySigner,
    sol_types::SolEvent,
};
use clap::{Args, Subcommand};
use quittance_chain::{Chain, RpcChain, Sender};
use quittance_cre::{Action, Delivery, DeliveryReported, LocalDon, LocalSetup, Workflow, deploy_operator};
use quittance_deploy::{LOCAL_CHAIN_IDS, Manifest};
use std::{path::PathBuf, time::Duration};

/// `quittance cre` subcommands.
#[derive(Debug, Subcommand)]
pub enum CreCommand {
    /// Deploy Chainlink's KeystoneForwarder with the local DON's keys, and a WorkflowOperator on the escrow.
    Deploy(DeployArgs),
    /// Watch the operator's delivery reports and transmit the workflow's signed reports.
    Run(RunArgs),
}

/// Where the chain is and which key transacts (it owns the forwarder and transmits reports).
#[derive(Debug, Args)]
pub struct Connection {
    /// JSON-RPC endpoint of the local chain.
    #[arg(long, env = "QUITTANCE_RPC_URL", default_value = "http://127.0.0.1:8545")]
    rpc_url: alloy::transports::http::reqwest::Url,
    /// File holding the transmitting account's hex private key.
    #[arg(long, conflicts_with = "key_env")]
    key_file: Option<PathBuf>,
    /// Environment variable holding the transmitting account's hex private key.
    #[arg(long, default_value = "QUITTANCE_DON_KEY")]
    key_env: String,
}

impl Connection {
    /// The chain and the key, refusing chains that are not local.
    async fn open(&self) -> eyre::Result<(RpcChain, PrivateKeySigner, u64)> {
        let key = match &self.key_file {
            Some(path) => KeySource::File(path.clone()),
            None => KeySource::Env(self.key_env.clone()),
        };
        let signer = key.load()?;
        let chain = RpcChain::http(self.rpc_url.clone());
        let chain_id = chain.chain_id().await?;
        eyre::ensure!(
            LOCAL_CHAIN_IDS.contains(&chain_id),
            "chain {chain_id} is not a local chain: the DON stand-in signs with test keys and runs on local chains only"
        );
        Ok((chain, signer, chain_id))
    }
}

/// `quittance cre deploy` arguments.
#[derive(Debug, Args)]
pub struct DeployArgs {
    #[command(flatten)]
    connection: Connection,
    /// The chain's Quittance manifest (written by `quittance deploy`): the escrow to operate on.
    #[arg(long)]
    deployment: PathBuf,
    /// The workflow owner's address.
    #[arg(long)]
    workflow_owner: Address,
    /// The workflow's name.
    #[arg(long)]
    workflow_name: String,
    /// The workflow id the stand-in reports (default: keccak256 of owner and name).
    #[arg(long)]
    workflow_id: Option<B256>,
    /// Make the operator accept that workflow id only (otherwise any id of that owner and name).
    #[arg(long)]
    pin_workflow_id: bool,
    /// The DON's fault tolerance: 3f + 1 signers, f + 1 signatures a report.
    #[arg(long, default_value_t = 1)]
    f: u8,
    /// The seed of the DON's test keys.
    #[arg(long, default_value = "quittance local don")]
    don_seed: String,
    /// Where to write the setup that `quittance cre run` reads.
    #[arg(long, default_value = "cre-local.json")]
    out: PathBuf,
}

/// `quittance cre run` arguments.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    connection: Connection,
    /// The setup written by `quittance cre deploy`.
    #[arg(long, default_value = "cre-local.json")]
    setup: PathBuf,
    /// The first block to look at.
    #[arg(long, default_value_t = 0)]
    from_block: u64,
    /// How often to look for new events, in milliseconds.
    #[arg(long, default_value_t = 500)]
    poll_ms: u64,
    /// Handle the events there are now, then stop.
    #[arg(long)]
    once: bool,
}

/// Runs `quittance cre …`.
pub async fn run(command: CreCommand) -> eyre::Result<()> {
    match command {
        CreCommand::Deploy(args) => deploy(args).await,
        CreCommand::Run(args) => watch(args).await,
    }
}

async fn deploy(args: DeployArgs) -> eyre::Result<()> {
    let (chain, signer, chain_id) = args.connection.open().await?;
    let manifest = Manifest::read(&args.deployment)?;
    eyre::ensure!(manifest.chain_id == chain_id, "the manifest is for chain {}, not {chain_id}", manifest.chain_id);
    let escrow = manifest.address("PaymentEscrow").ok_or_else(|| eyre::eyre!("the manifest has no PaymentEscrow"))?;
    let id = args
        .workflow_id
        .unwrap_or_else(|| keccak256([args.workflow_owner.as_slice(), args.workflow_name.as_bytes()].concat()));
    let workflow = Workflow { owner: args.workflow_owner, name: args.workflow_name, id };
    let don = LocalDon::new(&args.don_seed, args.f)?;
    let mut sender = Sender::new(&chain, &signer).await?;
    let forwarder = don.deploy_forwarder(&mut sender).await?;
    let operator = deploy_operator(&mut sender, escrow, forwarder, &workflow, args.pin_workflow_id).await?;
    let setup = LocalSetup {
        chain_id,
        escrow,
        forwarder,
        operator,
        workflow,
        f: args.f,
        don_seed: args.don_seed,
        signers: don.signers(),
    };
    std::fs::write(&args.out, serde_json::to_string_pretty(&setup)? + "\n")?;
    println!("KeystoneForwarder {forwarder} (the local DON: {} signers, f = {})", setup.signers.len(), setup.f);
    println!(
        "WorkflowOperator {operator} on the escrow {escrow}, for workflow {:?} of {}",
        setup.workflow.name, setup.workflow.owner
    );
    println!("wrote {}", args.out.display());
    Ok(())
}

async fn watch(args: RunArgs) -> eyre::Result<()> {
    let (chain, signer, chain_id) = args.connection.open().await?;
    let setup: LocalSetup = serde_json::from_str(&std::fs::read_to_string(&args.setup)?)
        .map_err(|e| eyre::eyre!("{}: {e}", args.setup.display()))?;
    eyre::ensure!(setup.chain_id == chain_id, "the setup is for chain {}, not {chain_id}", setup.chain_id);
    let don = LocalDon::new(&setup.don_seed, setup.f)?;
    eyre::ensure!(don.signers() == setup.signers, "the DON seed does not give the configured signers");
    let provider = ProviderBuilder::new().connect_http(args.connection.rpc_url.clone());
    let mut sender = Sender::new(&chain, &signer).await?;
    let mut next = args.from_block;
    loop {
        let latest = provider.get_block_number().await?;
        if latest >= next {
            let filter = Filter::new()
                .address(setup.operator)
                .event_signature(DeliveryReported::SIGNATURE_HASH)
                .from_block(next)
                .to_block(latest);
            for log in provider.get_logs(&filter).await? {
                let (Some(transaction), Some(index), Some(number)) =
                    (log.transaction_hash, log.log_index, log.block_number)
                else {
                    continue;
                };
                let block = provider
                    .get_block_by_number(number.into())
                    .await?
                    .ok_or_else(|| eyre::eyre!("block {number} is gone"))?;
                let Some((instruction, delivery)) = don
                    .on_delivery(
                        &mut sender,
                        &setup.workflow,
                        setup.forwarder,
                        &log.inner,
                        transaction,
                        index,
                        block.header.timestamp,
                    )
                    .await?
                else {
                    continue;
                };
                let action = if instruction.action == Action::Capture as u8 { "capture" } else { "void" };
                let payment = DeliveryReported::decode_log(&log.inner).map(|e| e.paymentId).unwrap_or_default();
                match delivery {
                    Delivery::Sent(sent) => println!(
                        "payment {payment}: {action} {} (transaction {})",
                        if sent.accepted { "accepted" } else { "refused by the operator" },
                        sent.receipt.transaction_hash
                    ),
                    Delivery::AlreadyDelivered => println!("payment {payment}: {action} already delivered"),
                }
            }
            next = latest + 1;
        }
        if args.once {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(args.poll_ms.max(10))).await;
    }
}
