//! Paid MCP tools on the in-process chain, with the in-process facilitator: our agent pays them over
//! streamable HTTP and over a stdio-framed pipe; bad payments in `_meta` are refused with their x402 reason
//! and move nothing; one payment buys one execution, and its copy gets the kept result.

mod bench;
mod local;

use alloy::primitives::{B256, U256};
use local::{Local, PRICE, Seller};
use quittance_agent::{AgentError, PolicyRefusal, SpendRecord, SpendState};
use quittance_mcp::{McpPayer, PAYMENT_META, PAYMENT_RESPONSE_META, client::payment_required};
use quittance_x402::{ErrorReason, PaymentPayload, PaymentRequired, exact};
use rmcp::{
    RoleClient, ServiceExt,
    model::{CallToolRequestParams, CallToolResult, JsonObject},
    service::{Peer, RunningService},
};
use serde_json::{Value, json};
use std::sync::{Arc, atomic::Ordering};

fn call(name: &str, payment: Option<Value>) -> CallToolRequestParams {
    let mut params = CallToolRequestParams::new(name.to_owned());
    params.arguments = Some(JsonObject::from_iter([("city".to_owned(), json!("Lisbon"))]));
    if let Some(payment) = payment {
        let mut meta = rmcp::model::RequestMetaObject::new();
        meta.0.0.insert(PAYMENT_META.into(), payment);
        params.meta = Some(meta);
    }
    params
}

fn offer(result: &CallToolResult) -> PaymentRequired {
    payment_required(result).expect("a payment-required result").0
}

fn reason(result: &CallToolResult) -> Option<String> {
    offer(result).error
}

fn text(result: &CallToolResult) -> String {
    result.content.first().and_then(|c| c.as_text()).map(|t| t.text.clone()).unwrap_or_default()
}

/// Signs the offer's `exact` option as the agent, with a fresh nonce.
fn sign(local: &Local, required: &PaymentRequired) -> PaymentPayload {
    let option = required.accepts.iter().find(|o| o.scheme == "exact").expect("an exact option");
    exact::pay(
        option,
        Some(required.resource.clone()),
        &local.agent,
        local.agent.address(),
        local.now(),
        B256::random(),
    )
    .expect("signed")
}

pub(crate) async fn connect_http(url: &str) -> eyre::Result<RunningService<RoleClient, ()>> {
    let transport = rmcp::transport::StreamableHttpClientTransport::from_uri(url.to_owned());
    Ok(().serve(transport).await?)
}

#[tokio::test]
async fn the_agent_pays_a_tool_over_streamable_http_once_and_a_copy_gets_the_kept_result() -> eyre::Result<()> {
    let local = Local::new().await?;
    let seller = Seller::new(&local);
    let url = seller.serve_http().await?;
    let client = connect_http(&url).await?;
    let record = Arc::new(SpendRecord::in_memory()?);
    let payer = McpPayer::new(local.agent(&record, local.policy(10 * PRICE))).await?;
    let (agent_before, payee_before) = (local.balance(local.agent.address()).await?, local.balance(local.payee).await?);

    let paid = payer.call_tool(client.peer(), "weather.example", call("report", None)).await?;
    assert_eq!(text(&paid.result), "sunny in Lisbon");
    let receipt = paid.receipt.clone().expect("a settlement");
    assert!(receipt.success, "{receipt:?}");
    let in_meta =
        paid.result.meta.as_ref().and_then(|m| m.0.get(PAYMENT_RESPONSE_META)).expect("the settlement in _meta");
    assert_eq!(in_meta["transaction"], json!(receipt.transaction));
    assert_eq!(paid.state, Some(SpendState::Settled));
    assert_eq!(local.balance(local.agent.address()).await?, agent_before - U256::from(PRICE));
    assert_eq!(local.balance(local.payee).await?, payee_before + U256::from(PRICE));
    assert_eq!(seller.runs.load(Ordering::SeqCst), 1);

    // The same payment again (a lost answer, a replay): the kept result, nothing moves, the tool does not run.
    let payment = serde_json::to_value(paid.payment.expect("the payment sent"))?;
    let again = client.call_tool(call("report", Some(payment.clone()))).await?;
    assert_eq!(text(&again), "sunny in Lisbon");
    assert_eq!(seller.runs.load(Ordering::SeqCst), 1, "one payment, one execution");
    assert_eq!(local.balance(local.payee).await?, payee_before + U256::from(PRICE));

    // The same payment for another paid tool: refused with the scheme's "already used" reason.
    let other = client.call_tool(call("forecast", Some(payment))).await?;
    assert_eq!(reason(&other).as_deref(), Some("invalid_exact_evm_nonce_already_used"), "{other:?}");
    assert_eq!(seller.forecasts.load(Ordering::SeqCst), 0);

    // A free tool is the inner server's, untouched.
    let free = payer.call_tool(client.peer(), "weather.example", call("time", None)).await?;
    assert_eq!((text(&free.result), free.payment.is_none()), ("noon".to_owned(), true));
    client.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn the_agent_pays_a_tool_over_a_stdio_pipe_within_its_policy_and_is_refused_beyond_it() -> eyre::Result<()> {
    let local = Local::new().await?;
    let seller = Seller::new(&local);
    let client = seller.serve_pipe().await?;
    let record = Arc::new(SpendRecord::in_memory()?);
    let payer = McpPayer::new(local.agent(&record, local.policy(PRICE))).await?;
    let payee_before = local.balance(local.payee).await?;

    let paid = payer.call_tool(client.peer(), "weather", call("report", None)).await?;
    assert_eq!(text(&paid.result), "sunny in Lisbon");
    assert!(paid.receipt.is_some_and(|r| r.success));

    // The budget is spent: the next purchase is refused by the policy, and nothing is signed.
    let mut params = call("report", None);
    params.arguments = Some(JsonObject::from_iter([("city".to_owned(), json!("Porto"))]));
    let refused = payer.call_tool(client.peer(), "weather", params).await;
    assert!(
        matches!(&refused, Err(quittance_mcp::McpPayError::Agent(AgentError::Policy(r)))
            if r.iter().any(|r| matches!(r, PolicyRefusal::Total { .. } | PolicyRefusal::PerHost { .. }))),
        "{refused:?}"
    );
    assert_eq!(local.balance(local.payee).await?, payee_before + U256::from(PRICE));
    assert_eq!(seller.runs.load(Ordering::SeqCst), 1);
    client.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn bad_payments_in_meta_are_refused_with_their_reason_and_a_failed_tool_charges_nothing() -> eyre::Result<()> {
    let local = Local::new().await?;
    let seller = Seller::new(&local);
    let client = connect_http(&seller.serve_http().await?).await?;
    let peer: &Peer<RoleClient> = client.peer();
    let payee_before = local.balance(local.payee).await?;

    // No payment: the offer, as x402's MCP transport carries it (structured and as text).
    let unpaid = peer.call_tool(call("report", None)).await?;
    let required = offer(&unpaid);
    assert_eq!(required.resource.url, "mcp://tool/report");
    assert_eq!(required.accepts[0].amount, PRICE.to_string());
    assert_eq!(serde_json::from_str::<Value>(&text(&unpaid))?, unpaid.structured_content.clone().expect("structured"));

    // Malformed `_meta`: not a payment at all.
    for malformed in [json!(42), json!("not json"), json!({"x402Version": 2})] {
        let refused = peer.call_tool(call("report", Some(malformed))).await?;
        assert_eq!(reason(&refused).as_deref(), Some("invalid_payload"));
    }

    // Tampered: the amount raised after signing.
    let mut tampered = serde_json::to_value(sign(&local, &required))?;
    tampered["payload"]["authorization"]["value"] = json!((PRICE * 100).to_string());
    let refused = peer.call_tool(call("report", Some(tampered))).await?;
    let code = reason(&refused).unwrap_or_default();
    assert!(code.starts_with("invalid_exact_evm"), "{code}");

    // A payment for a tool that fails: the tool's error, no settlement, nothing charged...
    let payment = serde_json::to_value(sign(&local, &required))?;
    let failed = peer.call_tool(call("broken", Some(payment.clone()))).await?;
    assert_eq!(failed.is_error, Some(true));
    assert!(payment_required(&failed).is_none(), "the tool's own error, not an offer: {failed:?}");
    assert!(failed.meta.as_ref().and_then(|m| m.0.get(PAYMENT_RESPONSE_META)).is_none());
    assert_eq!(local.balance(local.payee).await?, payee_before);
    // ...and the same payment can still buy what it was for.
    let bought = peer.call_tool(call("report", Some(payment.clone()))).await?;
    assert_eq!(text(&bought), "sunny in Lisbon");
    assert_eq!(local.balance(local.payee).await?, payee_before + U256::from(PRICE));

    // A replay for the same tool: the kept result; for another tool: refused.
    let replay = peer.call_tool(call("report", Some(payment.clone()))).await?;
    assert_eq!(text(&replay), "sunny in Lisbon");
    let other = peer.call_tool(call("forecast", Some(payment))).await?;
    assert!(reason(&other).is_some_and(|r| r == ErrorReason::ExactEvmNonceAlreadyUsed.to_string()));
    assert_eq!((seller.runs.load(Ordering::SeqCst), seller.forecasts.load(Ordering::SeqCst)), (1, 0));
    assert_eq!(local.balance(local.payee).await?, payee_before + U256::from(PRICE));
    client.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn a_lost_answer_to_a_paid_call_is_recovered_by_sending_the_same_payment_again() -> eyre::Result<()> {
    let local = Local::new().await?;
    let seller = Seller::new(&local);
    // The first answer to a paid call is lost on the way back (the tool ran, the payment settled).
    let (url, lost) = seller.serve_http_losing_paid_answers(1).await?;
    let client = connect_http(&url).await?;
    let record = Arc::new(SpendRecord::in_memory()?);
    let payer = McpPayer::new(local.agent(&record, local.policy(10 * PRICE))).await?;
    let (agent_before, payee_before) = (local.balance(local.agent.address()).await?, local.balance(local.payee).await?);

    let paid = payer.call_tool(client.peer(), "weather.example", call("report", None)).await?;
    assert_eq!(lost.load(Ordering::SeqCst), 1, "the first answer was lost");
    assert_eq!(text(&paid.result), "sunny in Lisbon");
    assert_eq!(paid.state, Some(SpendState::Settled));
    assert!(paid.receipt.is_some_and(|r| r.success));
    assert_eq!(seller.runs.load(Ordering::SeqCst), 1, "the tool ran once");
    assert_eq!(local.balance(local.agent.address()).await?, agent_before - U256::from(PRICE), "paid once");
    assert_eq!(local.balance(local.payee).await?, payee_before + U256::from(PRICE));
    assert_eq!(record.recent(10)?.len(), 1, "one payment signed");
    client.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn a_payment_left_in_doubt_is_resolved_after_a_restart_before_anything_new_is_signed() -> eyre::Result<()> {
    let local = Local::new().await?;
    let seller = Seller::new(&local);
    // Every answer lost while the agent sends the payment (the first time and its resends).
    let sends = 1 + quittance_agent::RESENDS as usize;
    let (url, lost) = seller.serve_http_losing_paid_answers(sends).await?;
    let client = connect_http(&url).await?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("spend.sqlite");
    let payee_before = local.balance(local.payee).await?;
    {
        let record = Arc::new(SpendRecord::open(&path)?);
        let payer = McpPayer::new(local.agent(&record, local.policy(10 * PRICE))).await?;
        let first = payer.call_tool(client.peer(), "weather.example", call("report", None)).await;
        assert!(
            matches!(&first, Err(quittance_mcp::McpPayError::Unanswered { state: Some(SpendState::InDoubt), .. })),
            "{first:?}"
        );
        assert_eq!(lost.load(Ordering::SeqCst), sends);
    }
    // A new process on the same spend record: the payment in doubt is sent again, and its kept result comes.
    let record = Arc::new(SpendRecord::open(&path)?);
    let payer = McpPayer::new(local.agent(&record, local.policy(10 * PRICE))).await?;
    let paid = payer.call_tool(client.peer(), "weather.example", call("report", None)).await?;
    assert_eq!(text(&paid.result), "sunny in Lisbon");
    assert_eq!(paid.state, Some(SpendState::Settled));
    assert_eq!(record.recent(10)?.len(), 1, "nothing new was signed");
    assert_eq!(seller.runs.load(Ordering::SeqCst), 1, "the tool ran once");
    assert_eq!(local.balance(local.payee).await?, payee_before + U256::from(PRICE), "paid once");
    client.cancel().await?;
    Ok(())
}
