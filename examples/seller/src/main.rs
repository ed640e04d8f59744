//! `cargo run -p quittance-example-seller`: serves `/report` on `SELLER_LISTEN` (default 127.0.0.1:8402) for
//! `PRICE` units (default 10000: 0.01 of a 6-decimal token) of `TOKEN`, paid to `PAY_TO`, settled by the
//! facilitator at `FACILITATOR_URL` (default http://127.0.0.1:4021/) on `NETWORK` (default eip155:31337).

use eyre::WrapErr;
use quittance_example_seller::Seller;

fn var(name: &str, default: Option<&str>) -> eyre::Result<String> {
    match (std::env::var(name), default) {
        (Ok(value), _) => Ok(value),
        (Err(_), Some(default)) => Ok(default.into()),
        (Err(_), None) => eyre::bail!("set {name} (see examples/seller/README.md)"),
    }
}

#[tokio::main]
async fn main() -> eyre::Result<()> {
    let listen = var("SELLER_LISTEN", Some("127.0.0.1:8402"))?;
    let seller = Seller {
        facilitator: var("FACILITATOR_URL", Some("http://127.0.0.1:4021/"))?.parse().wrap_err("FACILITATOR_URL")?,
        public_url: format!("http://{listen}"),
        network: var("NETWORK", Some("eip155:31337"))?,
        token: var("TOKEN", None)?.parse().wrap_err("TOKEN is not an address")?,
        token_name: var("TOKEN_NAME", Some("USD Coin"))?,
        token_version: var("TOKEN_VERSION", Some("2"))?,
        price: var("PRICE", Some("10000"))?.parse().wrap_err("PRICE is not a number of units")?,
        pay_to: var("PAY_TO", None)?.parse().wrap_err("PAY_TO is not an address")?,
    };
    let listener =
        tokio::net::TcpListener::bind(&listen).await.wrap_err_with(|| format!("could not listen on {listen}"))?;
    println!("selling http://{listen}/report for {} units of {}", seller.price, seller.token);
    axum::serve(listener, seller.app()).await?;
    Ok(())
}
