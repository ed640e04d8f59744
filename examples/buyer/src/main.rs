//! `cargo run -p quittance-example-buyer -- URL`: buys URL with the key in `QUITTANCE_AGENT_KEY`, paying
//! at most `MAX` units (default 10000) of `TOKEN` a request and ten times that an hour on `NETWORK`
//! (default eip155:31337); its spend record is `buyer-spend.sqlite`.

use eyre::WrapErr;
use quittance_agent::SpendRecord;
use std::sync::Arc;

#[tokio::main]
async fn main() -> eyre::Result<()> {
    let url = std::env::args().nth(1).ok_or_else(|| eyre::eyre!("usage: quittance-example-buyer URL"))?;
    let key = std::env::var("QUITTANCE_AGENT_KEY").wrap_err("set QUITTANCE_AGENT_KEY to the paying key")?;
    let key = key.parse().map_err(|_| eyre::eyre!("QUITTANCE_AGENT_KEY is not a private key"))?;
    let token = std::env::var("TOKEN").wrap_err("set TOKEN to the token's address")?;
    let network = std::env::var("NETWORK").unwrap_or_else(|_| "eip155:31337".into());
    let max: alloy::primitives::U256 =
        std::env::var("MAX").unwrap_or_else(|_| "10000".into()).parse().wrap_err("MAX is not a number of units")?;
    let record = Arc::new(SpendRecord::open("buyer-spend.sqlite")?);
    let client = quittance_example_buyer::client(
        key,
        &network,
        token.parse().wrap_err("TOKEN is not an address")?,
        max,
        max * alloy::primitives::U256::from(10),
        record,
    );
    let (status, body, payment) = quittance_example_buyer::buy(&client, &url).await?;
    println!("{status} {body}");
    match payment.and_then(|p| p.receipt) {
        Some(receipt) => println!("paid; settled in {}", receipt.transaction),
        None => println!("nothing paid"),
    }
    Ok(())
}
