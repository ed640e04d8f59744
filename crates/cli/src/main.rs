//! The `quittance` command.

use clap::{Args, Parser, Subcommand};
use quittance_chain::RpcChain;
use quittance_cli::{demo, keys::KeySource, server};
use quittance_facilitator::{Facilitator, SettleConfig, SqliteLedger, http};
use std::{net::SocketAddr, path::PathBuf, process::ExitCode, sync::Arc, time::Duration};

#[derive(Parser)]
#[command(name = "quittance", version, about = "x402 agent payments on EVM chains")]
struct Cli {
    /// Log what Quittance does in detail on stderr (`RUST_LOG` chooses finer filters).
    #[arg(long, short, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the demo: an agent buys a paid API on a fresh local chain, paying a seller-signed invoice.
    Demo(DemoArgs),
    /// Deploy Quittance's contracts at their CREATE2 addresses and write the chain's manifest.
    Deploy(quittance_cli::deploy::DeployArgs),
    /// Run an x402 facilitator (POST /verify, POST /settle, GET /supported, GET /health).
    Facilitator(FacilitatorArgs),
    /// Serve an example paid API behind the paywall, settled by a facilitator.
    Serve(Box<quittance_cli::serve::ServeArgs>),
    /// GET a URL as a paying agent, within a spending policy.
    Pay(quittance_cli::pay::PayArgs),
    /// Cross-chain invoice payments between two local chains (local only): deploy a CCIP lane, relay it.
    #[command(subcommand)]
    Ccip(quittance_cli::ccip::CcipCommand),
    /// The local CRE DON stand-in (local chains only): deploy the forwarder and a workflow operator, run.
    #[command(subcommand)]
    Cre(quittance_cli::cre::CreCommand),
    /// Simulate many agents paying many endpoints over time, and reconcile every balance.
    Simulate(quittance_cli::simulate::SimulateArgs),
    /// Check a facilitator's signed receipt offline, and against a chain with --rpc-url.
    VerifyReceipt(quittance_cli::receipt::VerifyReceiptArgs),
    /// Show the agent's spend record: payments and where each stands, voucher channels, totals per token.
    Spend(quittance_cli::spend::SpendArgs),
    /// Serve the agent's wallet as MCP tools (stdio, or streamable HTTP with --listen): fetch paid URLs, call
    /// paid MCP tools, balances, the spend report, what is in doubt; within a fixed policy.
    Mcp(Box<quittance_cli::mcp::McpArgs>),
}

#[derive(Args)]
struct DemoArgs {
    /// Run on a fresh anvil instead of the in-process chain (revm).
    #[arg(long)]
    anvil: bool,
    /// Show payments over MCP instead: an MCP client buys a paid MCP tool end to end (in-process chain).
    #[arg(long, conflicts_with = "anvil")]
    mcp: bool,
}

#[derive(Args)]
struct FacilitatorArgs {
    /// JSON-RPC endpoint of the chain to settle on.
    #[arg(long, env = "QUITTANCE_RPC_URL", default_value = "http://127.0.0.1:8545")]
    rpc_url: alloy::transports::http::reqwest::Url,
    /// File holding the facilitator's hex private key (it pays the gas of settlements).
    #[arg(long, conflicts_with = "key_env")]
    key_file: Option<PathBuf>,
    /// Environment variable holding the facilitator's hex private key.
    #[arg(long, default_value = "QUITTANCE_FACILITATOR_KEY")]
    key_env: String,
    /// The settlement ledger (an SQLite file, created if missing).
    #[arg(long, default_value = "quittance-ledger.sqlite")]
    ledger: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:4021")]
    listen: SocketAddr,
    /// Claim the latest voucher of every channel it accepted vouchers on, in one batch, this often (seconds).
    #[arg(long, default_value = "60")]
    claim_every: u64,
    /// Conclude unfinished settlements this often (seconds): from the chain, by broadcasting them again while
    /// they can succeed, or by filling the nonce of one that expired unsent.
    #[arg(long, default_value = "5", value_parser = clap::value_parser!(u64).range(1..))]
    reconcile_every: u64,
    /// Watch this chain too (repeat for more): cross-chain invoice payments from the facilitator's chain to
    /// it are sent here and confirmed there.
    #[arg(long)]
    watch_rpc_url: Vec<alloy::transports::http::reqwest::Url>,
    /// Seconds each JSON-RPC request to a chain may take before it fails as timed out.
    #[arg(long, default_value_t = quittance_chain::RPC_TIMEOUT.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    rpc_timeout_secs: u64,
    /// Seconds a request to this facilitator may take before it is answered 503 (a settlement goes on).
    #[arg(long, default_value_t = server::FACILITATOR_REQUEST_TIMEOUT_SECS, value_parser = clap::value_parser!(u64).range(1..))]
    request_timeout_secs: u64,
    #[command(flatten)]
    server: server::ServerArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo narrates in plain words; services log what they do.
    let default_filter = match cli.command {
        _ if cli.verbose => "info,quittance=debug",
        Command::Demo(_) => "warn",
        Command::Pay(_)
        | Command::VerifyReceipt(_)
        | Command::Spend(_)
        | Command::Mcp(_)
        | Command::Deploy(_)
        | Command::Simulate(_)
        | Command::Cre(_) => "warn",
        Command::Facilitator(_) | Command::Serve(_) | Command::Ccip(_) => "warn,quittance=info",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(cli.command).await {
        Ok(()) => ExitCode::SUCCESS,
        // A sentence, and what led to it; no source locations or backtraces: they are not the user's concern
        // (`--verbose` and `RUST_LOG` show what happened).
        Err(err) => {
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  because: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> eyre::Result<()> {
    match command {
        Command::Demo(args) if args.mcp => {
            let report = quittance_cli::mcp::demo(|line| println!("• {line}")).await?;
            let [before, after] = report.balances;
            println!(
                "Done: the seller received {} USDC for one paid tool call, once.",
                demo::format_usd(after.1 - before.1)
            );
        }
        Command::Demo(args) => {
            let on = if args.anvil { demo::DemoChain::Anvil } else { demo::DemoChain::InProcess };
            let report = demo::run(on, |line| println!("• {line}")).await?;
            let [before, after] = report.balances;
            println!(
                "Done: the seller received {} USDC for one call; the agent sent {} transactions and paid no gas.",
                demo::format_usd(after.1 - before.1),
                report.agent_transactions
            );
        }
        Command::Facilitator(args) => {
            let key = match args.key_file {
                Some(path) => KeySource::File(path),
                None => KeySource::Env(args.key_env),
            };
            let signer = key.load()?;
            let ledger = Arc::new(SqliteLedger::open(&args.ledger)?);
            let rpc_timeout = Duration::from_secs(args.rpc_timeout_secs);
            let chain = RpcChain::http_with_timeout(args.rpc_url.clone(), rpc_timeout);
            let mut facilitator = Facilitator::new(chain, signer, ledger, SettleConfig::default())
                .await
                .map_err(|err| eyre::eyre!("the facilitator could not start (chain {}): {err}", args.rpc_url))?;
            for url in args.watch_rpc_url {
                facilitator = facilitator
                    .with_destination(RpcChain::http_with_timeout(url.clone(), rpc_timeout))
                    .await
                    .map_err(|err| eyre::eyre!("could not watch the chain at {url}: {err}"))?;
            }
            let listener = server::bind(args.listen).await?;
            let watching = facilitator.destinations().collect::<Vec<_>>().join(", ");
            println!(
                "facilitator {} on {} listening on http://{} (ledger {}){}",
                facilitator.address(),
                facilitator.network(),
                listener.local_addr()?,
                args.ledger.display(),
                if watching.is_empty() { String::new() } else { format!("; cross-chain payments to {watching}") }
            );
            facilitator.spawn_reconciler(Duration::from_secs(args.reconcile_every));
            let facilitator = Arc::new(facilitator);
            let claimer = facilitator.clone();
            let every = Duration::from_secs(args.claim_every.max(1));
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    match claimer.claim_channels().await {
                        Ok(report) if report.channels > 0 => tracing::info!(
                            channels = report.channels,
                            claimed = report.claimed,
                            transactions = ?report.transactions,
                            "claimed vouchers"
                        ),
                        Ok(_) => {}
                        Err(err) => tracing::warn!(%err, "claiming vouchers failed; trying again later"),
                    }
                }
            });
            server::serve(listener, http::router(facilitator), args.server.limits(args.request_timeout_secs)).await?;
        }
        Command::Serve(args) => quittance_cli::serve::run(*args).await?,
        Command::Deploy(args) => quittance_cli::deploy::run(args).await?,
        Command::Pay(args) => quittance_cli::pay::run(args).await?,
        Command::VerifyReceipt(args) => quittance_cli::receipt::run(args).await?,
        Command::Spend(args) => quittance_cli::spend::run(args)?,
        Command::Mcp(args) => quittance_cli::mcp::run(*args).await?,
        Command::Cre(command) => quittance_cli::cre::run(command).await?,
        Command::Ccip(command) => quittance_cli::ccip::run(command).await?,
        Command::Simulate(args) => {
            quittance_cli::simulate::run(args).await?;
        }
    }
    Ok(())
}
