//! The `quittance` command.

use clap::{Args, Parser, Subcommand};
use quittance_cli::demo;
use std::process::ExitCode;

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
    /// Run an x402 facilitator (POST /verify, POST /settle, GET /supported, GET /health), for one chain or,
    /// with --config, for many networks.
    Facilitator(Box<quittance_cli::facilitator::FacilitatorArgs>),
    /// Serve an example paid API behind the paywall, settled by a facilitator.
    Serve(Box<quittance_cli::serve::ServeArgs>),
    /// GET a URL as a paying agent, within a spending policy.
    Pay(Box<quittance_cli::pay::PayArgs>),
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
    /// The agent's voucher channels: `withdraw` gets their deposits back.
    #[command(subcommand)]
    Channel(quittance_cli::channel::ChannelCommand),
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
        | Command::Channel(_)
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
        Command::Facilitator(args) => quittance_cli::facilitator::run(*args).await?,
        Command::Serve(args) => quittance_cli::serve::run(*args).await?,
        Command::Deploy(args) => quittance_cli::deploy::run(args).await?,
        Command::Pay(args) => quittance_cli::pay::run(*args).await?,
        Command::VerifyReceipt(args) => quittance_cli::receipt::run(args).await?,
        Command::Spend(args) => quittance_cli::spend::run(args)?,
        Command::Channel(command) => quittance_cli::channel::run(command).await?,
        Command::Mcp(args) => quittance_cli::mcp::run(*args).await?,
        Command::Cre(command) => quittance_cli::cre::run(command).await?,
        Command::Ccip(command) => quittance_cli::ccip::run(command).await?,
        Command::Simulate(args) => {
            quittance_cli::simulate::run(args).await?;
        }
    }
    Ok(())
}
