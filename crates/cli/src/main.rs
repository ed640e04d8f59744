//! The `quittance` command.

use clap::{Parser, Subcommand};
use quittance_cli::demo;

#[derive(Parser)]
#[command(name = "quittance", version, about = "x402 agent payments on EVM chains")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the demo on a fresh local chain: an agent pays a seller with a signed authorization.
    Demo,
}

#[tokio::main]
async fn main() -> eyre::Result<()> {
    match Cli::parse().command {
        Command::Demo => {
            let report = demo::run(|line| println!("• {line}")).await?;
            println!(
                "Done: the seller received {} USDC from the agent; the agent spent {} ether on gas.",
                demo::format_usd(report.balances_after.1 - report.balances_before.1),
                report.agent_ether
            );
        }
    }
    Ok(())
}
