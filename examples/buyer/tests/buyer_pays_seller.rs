//! The two examples together on anvil: the buyer pays the seller's `/report` through our facilitator over
//! HTTP, once, and a request beyond its budget is refused with nothing paid.

use alloy::primitives::U256;
use quittance_agent::SpendRecord;
use quittance_example_seller::Seller;
use quittance_testkit::{PRICE, World};
use std::sync::Arc;

#[tokio::test]
async fn the_example_buyer_pays_the_example_seller_once() -> eyre::Result<()> {
    let world = World::new().await?;
    let facilitator = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let facilitator_url = format!("http://{}/", facilitator.local_addr()?);
    let router = quittance_facilitator::http::router(world.facilitator.clone());
    tokio::spawn(async move { axum::serve(facilitator, router).await });

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let seller = Seller {
        facilitator: facilitator_url.parse()?,
        public_url: base.clone(),
        network: world.facilitator.network().into(),
        token: *world.token.address(),
        token_name: "USD Coin".into(),
        token_version: "2".into(),
        price: U256::from(PRICE),
        pay_to: world.payee,
    };
    let app = seller.app();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let record = Arc::new(SpendRecord::in_memory()?);
    let network = world.facilitator.network().to_string();
    let token = *world.token.address();
    let client = quittance_example_buyer::client(
        world.agent.clone(),
        &network,
        token,
        U256::from(PRICE),
        U256::from(PRICE),
        record,
    );
    let (status, body, payment) = quittance_example_buyer::buy(&client, &format!("{base}/report")).await?;
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&body)?, serde_json::json!({"report": "markets are up"}));
    assert!(payment.and_then(|p| p.receipt).is_some_and(|r| r.success), "paid with a receipt");
    assert_eq!(world.token.balanceOf(world.payee).call().await?, U256::from(PRICE));

    // The hour's budget is one price: a second report is refused, and nothing more is paid.
    assert!(quittance_example_buyer::buy(&client, &format!("{base}/report")).await.is_err(), "over the budget");
    assert_eq!(world.token.balanceOf(world.payee).call().await?, U256::from(PRICE));
    Ok(())
}
