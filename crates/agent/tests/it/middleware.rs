//! The agent as `reqwest-middleware` middleware, on anvil: it pays through the agent's own path (one spend
//! record, one payment per purchase) and refuses what the policy forbids.

use super::{agent, policy, serve};
use alloy::primitives::U256;
use quittance_agent::{AgentError, Paying, Payment, PurchaseId};
use quittance_testkit::{PRICE, World};
use reqwest_middleware::ClientBuilder;
use serde_json::json;

#[tokio::test]
async fn the_middleware_pays_within_the_policy_and_a_named_purchase_once() -> eyre::Result<()> {
    let world = World::new().await?;
    let base = serve(&world).await?;
    let agent = agent(&world, policy(&world, PRICE, 10 * PRICE))?;
    let client = ClientBuilder::new(reqwest::Client::new()).with(Paying::new(agent.clone())).build();

    let response = client.get(format!("{base}/exact")).send().await?;
    assert_eq!(response.status(), 200);
    let payment = response.extensions().get::<Payment>().cloned().expect("the payment");
    assert_eq!(payment.payment.accepted.scheme, "exact");
    assert!(payment.receipt.expect("a receipt").success);
    assert_eq!(response.json::<serde_json::Value>().await?, json!({"exact": true}));
    assert_eq!(world.token.balanceOf(world.payee).call().await?, U256::from(PRICE));
    // The spend is in the agent's record, as `Agent::get` would have left it.
    assert_eq!(agent.record().spent_total(*world.token.address(), u64::MAX - 1)?, U256::from(PRICE));

    // A named purchase run twice is paid once: the second answer comes for the same payment.
    for _ in 0..2 {
        let response = client.get(format!("{base}/exact")).with_extension(PurchaseId("order-1".into())).send().await?;
        assert_eq!(response.status(), 200);
    }
    assert_eq!(world.token.balanceOf(world.payee).call().await?, U256::from(2 * PRICE), "order-1 paid once");
    Ok(())
}

#[tokio::test]
async fn the_middleware_refuses_what_the_policy_forbids() -> eyre::Result<()> {
    let world = World::new().await?;
    let base = serve(&world).await?;
    let stingy = agent(&world, policy(&world, PRICE - 1, 10 * PRICE))?;
    let client = ClientBuilder::new(reqwest::Client::new()).with(Paying::new(stingy)).build();

    let err = client.get(format!("{base}/exact")).send().await.expect_err("over the per-request budget");
    let reqwest_middleware::Error::Middleware(err) = err else { panic!("expected the agent's error, got {err:?}") };
    assert!(matches!(err.downcast_ref::<AgentError>(), Some(AgentError::Policy(_))), "{err:?}");

    assert_eq!(world.token.balanceOf(world.payee).call().await?, U256::ZERO, "nothing paid");
    Ok(())
}

#[tokio::test]
async fn a_body_that_cannot_be_sent_twice_is_refused_before_anything_is_sent() -> eyre::Result<()> {
    use super::local::{Local, PRICE as LOCAL_PRICE, Proxy};
    let local = Local::new().await?;
    let proxy = Proxy::with_plan([]);
    let (base, served) = local.serve(proxy.clone()).await?;
    let record = std::sync::Arc::new(quittance_agent::SpendRecord::in_memory()?);
    let agent = local.agent_without_chain(&local.agent_key(), &record, local.policy(10 * LOCAL_PRICE));
    let client = ClientBuilder::new(reqwest::Client::new()).with(Paying::new(agent)).build();

    // A body behind `http_body::Body` (a stream, a file, another service's body) is read once.
    let err = client
        .post(format!("{base}/exact"))
        .body(reqwest::Body::wrap(String::from("{}")))
        .send()
        .await
        .expect_err("a stream cannot be sent again with a payment");
    let reqwest_middleware::Error::Middleware(err) = err else { panic!("expected the agent's error, got {err:?}") };
    assert!(matches!(err.downcast_ref::<AgentError>(), Some(AgentError::NotRetryable)), "{err:?}");
    assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert!(proxy.payments.lock().expect("the lock").is_empty(), "nothing was paid");
    assert!(record.recent(10)?.is_empty());
    Ok(())
}
