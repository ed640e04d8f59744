//! `quittance deploy`: Quittance's contracts at their CREATE2 addresses, and the chain's manifest.

use crate::keys::KeySource;
use alloy::primitives::{Address, Bytes, U256};
use clap::Args;
use quittance_chain::{Call, Chain, RpcChain};
use quittance_deploy::{CREATE2_DEPLOYER, Event, LOCAL_CHAIN_IDS, deploy, plan, salt};
use std::path::PathBuf;

/// Arguments of `quittance deploy`.
#[derive(Debug, Args)]
pub struct DeployArgs {
    /// JSON-RPC endpoint of the chain.
    #[arg(long, env = "QUITTANCE_RPC_URL", default_value = "http://127.0.0.1:8545")]
    pub rpc_url: alloy::transports::http::reqwest::Url,
    /// File holding the deploying account's hex private key (it pays the gas).
    #[arg(long, conflicts_with = "key_env")]
    pub key_file: Option<PathBuf>,
    /// Environment variable holding the deploying account's hex private key.
    #[arg(long, default_value = "QUITTANCE_DEPLOYER_KEY")]
    pub key_env: String,
    /// The registry's owner (default: the deploying account). Addresses depend on it.
    #[arg(long)]
    pub owner: Option<Address>,
    /// Where to write the manifest (default: `deployments/<chain-id>.json`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// On a local chain, give this account 1,000 test dollars (repeat the flag for more accounts).
    #[arg(long)]
    pub fund: Vec<Address>,
    /// Print the plan and its cost without sending anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Deploy to a chain that is not local (anvil's 31337 or 1337).
    #[arg(long)]
    pub allow_remote: bool,
    /// After `forge script script/Deploy.s.sol --broadcast`: its broadcast record
    /// (`broadcast/Deploy.s.sol/<chain-id>/run-latest.json`), whose transactions the manifest records.
    #[arg(long)]
    pub forge_broadcast: Option<PathBuf>,
}

/// Runs `quittance deploy`.
pub async fn run(args: DeployArgs) -> eyre::Result<()> {
    let key = match args.key_file {
        Some(path) => KeySource::File(path),
        None => KeySource::Env(args.key_env),
    };
    let signer = key.load()?;
    let owner = args.owner.unwrap_or(signer.address());
    let chain = RpcChain::http(args.rpc_url);
    let chain_id = chain.chain_id().await?;
    let local = LOCAL_CHAIN_IDS.contains(&chain_id);
    println!("chain {chain_id}{}; owner {owner}; deployer {}", if local { " (local)" } else { "" }, signer.address());

    if args.dry_run {
        let fees = chain.fees().await?;
        let mut total_gas = 0u64;
        for step in plan(owner, chain_id) {
            if !chain.code(step.address).await?.is_empty() {
                println!("  {:<16} {}  already deployed", step.name, step.address);
                continue;
            }
            let data: Bytes = [salt().as_slice(), &step.init_code].concat().into();
            let gas = chain
                .estimate_gas(Call { from: signer.address(), to: CREATE2_DEPLOYER, data, value: U256::ZERO })
                .await?;
            total_gas += gas;
            println!("  {:<16} {}  to deploy, about {gas} gas", step.name, step.address);
        }
        let cost = U256::from(total_gas) * U256::from(fees.max_fee_per_gas);
        println!(
            "about {total_gas} gas in all (plus the settler configuration), at most {} wei at {} wei per gas",
            cost, fees.max_fee_per_gas
        );
        return Ok(());
    }
    if !local && !args.allow_remote {
        eyre::bail!("chain {chain_id} is not a local chain: pass --allow-remote to deploy there (try --dry-run first)");
    }
    let manifest = deploy(&chain, &signer, owner, &args.fund, |event| match event {
        Event::Present(name, address) => println!("  {name:<16} {address}  already deployed, code checked"),
        Event::Deployed(name, address, tx) => println!("  {name:<16} {address}  deployed in {tx}"),
        Event::SettlerAllowed(escrow) => println!("  the registry now allows the escrow {escrow} as a settler"),
        Event::Funded(account) => println!("  {account} now holds 1,000 test dollars"),
    })
    .await?;
    if local {
        install_canonical(&chain, manifest.address("PaymentEscrow")).await?;
    }
    let out = args.out.unwrap_or_else(|| PathBuf::from(format!("deployments/{chain_id}.json")));
    let mut manifest = manifest;
    // What was there already keeps the deploying transaction an earlier manifest recorded, and the chain's
    // CCIP end (`quittance ccip deploy`) stays recorded.
    if let Ok(earlier) = quittance_deploy::Manifest::read(&out) {
        if let Some(ccip) = earlier.ccip.filter(|_| earlier.chain_id == manifest.chain_id) {
            manifest.settlers.insert(ccip.invoice_receiver, "CrossChain".into());
            manifest.ccip = Some(ccip);
        }
        for (name, deployed) in manifest.contracts.iter_mut() {
            if let Some(before) = earlier.contracts.get(name)
                && before.address == deployed.address
                && deployed.transaction.is_none()
            {
                deployed.transaction = before.transaction;
                deployed.block = before.block;
            }
        }
    }
    if let Some(broadcast) = &args.forge_broadcast {
        manifest.record_forge_broadcast(broadcast)?;
    }
    manifest.write(&out)?;
    println!("manifest written to {}", out.display());
    Ok(())
}

/// On a local chain, the contracts the official x402 SDK expects at fixed addresses: Permit2 and x402's
/// Permit2 proxies (`exact` over Permit2, `upto`), `batch-settlement`'s contract and deposit collector, and
/// `auth-capture`'s collector (ours, sponsoring into the deployed `PaymentEscrow`). Each is put there with
/// `anvil_setCode` when its address holds no code; what is there already is left alone.
async fn install_canonical(chain: &RpcChain, escrow: Option<Address>) -> eyre::Result<()> {
    use quittance_deploy::{
        AUTH_CAPTURE_EIP3009_COLLECTOR, BATCH_SETTLEMENT, PERMIT2, install_auth_capture, install_batch_settlement,
        install_permit2,
    };
    let absent = |address| async move { chain.code(address).await.map(|code| code.is_empty()) };
    if absent(PERMIT2).await? {
        install_permit2(chain).await?;
        println!("  Permit2 and x402's Permit2 proxies installed at their canonical addresses ({PERMIT2}, …)");
    }
    if absent(BATCH_SETTLEMENT).await? {
        install_batch_settlement(chain).await?;
        println!("  batch-settlement's contract installed at its canonical address {BATCH_SETTLEMENT}");
    }
    if let Some(escrow) = escrow
        && absent(AUTH_CAPTURE_EIP3009_COLLECTOR).await?
    {
        install_auth_capture(chain, escrow).await?;
        println!(
            "  auth-capture's collector installed at its canonical address {AUTH_CAPTURE_EIP3009_COLLECTOR}, \
             sponsoring into the PaymentEscrow {escrow}"
        );
    }
    Ok(())
}
