//! Paid tool-call latency, over streamable HTTP and over a stdio-framed pipe, beside a paid HTTP GET
//! through the paywall, on the in-process chain and on anvil: each call a new purchase (signed, verified,
//! served, settled), the agent's spend record in memory. Prints the figures (`-- --nocapture`).

use crate::local::{Local, PRICE, Seller};
use axum::{Json, Router, routing::get};
use quittance_agent::{Agent, Budget, Policy, SpendRecord};
use quittance_chain::Chain;
use quittance_facilitator::Facilitator;
use quittance_mcp::McpPayer;
use quittance_paywall::Price;
use rmcp::model::{CallToolRequestParams, JsonObject};
use serde_json::json;
use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

fn summary(name: &str, mut times: Vec<Duration>) -> String {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "{name:<46} p50 {:>7.2} ms  p95 {:>7.2} ms  ({} calls)",
        ms(times[times.len() / 2]),
        ms(times[times.len() * 95 / 100]),
        times.len()
    )
}

fn call(i: usize) -> CallToolRequestParams {
    let mut params = CallToolRequestParams::new("report");
    params.arguments = Some(JsonObject::from_iter([("city".to_owned(), json!(format!("city {i}")))]));
    params
}

/// Measures each way `calls` times on `chain`'s facilitator, with agents made by `agent`.
async fn measure<C: Chain + 'static>(
    chain: &str,
    calls: usize,
    facilitator: Arc<Facilitator<C>>,
    price: impl Fn(&str) -> Price,
    agent: impl Fn() -> eyre::Result<Agent>,
) -> eyre::Result<()> {
    let seller = Seller::selling(facilitator.clone(), &price);
    let http = crate::connect_http(&seller.serve_http().await?).await?;
    let payer = McpPayer::new(agent()?).await?;
    let mut over_http = Vec::new();
    for i in 0..calls {
        let start = Instant::now();
        let paid = payer.call_tool(http.peer(), "bench", call(i)).await?;
        over_http.push(start.elapsed());
        assert!(paid.receipt.is_some_and(|r| r.success));
    }

    let pipe = seller.serve_pipe().await?;
    let payer = McpPayer::new(agent()?).await?;
    let mut over_pipe = Vec::new();
    for i in 0..calls {
        let start = Instant::now();
        let paid = payer.call_tool(pipe.peer(), "bench", call(i)).await?;
        over_pipe.push(start.elapsed());
        assert!(paid.receipt.is_some_and(|r| r.success));
    }

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let paywall = quittance_paywall::Paywall::new(facilitator, base.clone());
    let app = Router::new()
        .route("/report", get(|| async { Json(json!({"report": "sunny"})) }).layer(paywall.price(price("a report"))));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let agent = agent()?;
    let mut get_times = Vec::new();
    for i in 0..calls {
        let start = Instant::now();
        let paid = agent.get(&format!("{base}/report?i={i}")).await?;
        get_times.push(start.elapsed());
        assert!(paid.receipt.is_some_and(|r| r.success));
    }

    // An unpaid call for scale: the MCP round trip alone.
    let mut free = Vec::new();
    for _ in 0..calls {
        let start = Instant::now();
        http.call_tool(CallToolRequestParams::new("time")).await?;
        free.push(start.elapsed());
    }
    println!("{}", summary(&format!("{chain}: paid tool call, streamable HTTP"), over_http));
    println!("{}", summary(&format!("{chain}: paid tool call, stdio-framed pipe"), over_pipe));
    println!("{}", summary(&format!("{chain}: paid HTTP GET (paywall)"), get_times));
    println!("{}", summary(&format!("{chain}: free tool call, streamable HTTP"), free));
    http.cancel().await?;
    pipe.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn paid_tool_call_latency_beside_a_paid_http_get_on_the_in_process_chain() -> eyre::Result<()> {
    let local = Local::new().await?;
    let agent = || Ok(local.agent(&Arc::new(SpendRecord::in_memory()?), local.policy(1_000 * PRICE)));
    measure("in-process", 40, local.facilitator.clone(), |d| local.price(d), agent).await
}

#[tokio::test]
async fn paid_tool_call_latency_beside_a_paid_http_get_on_anvil() -> eyre::Result<()> {
    let world = quittance_testkit::World::new().await?;
    let token = *world.token.address();
    let price = |description: &str| Price {
        network: world.facilitator.network().into(),
        asset: token,
        asset_name: "USD Coin".into(),
        asset_version: "2".into(),
        amount: alloy::primitives::U256::from(PRICE),
        pay_to: world.payee,
        max_timeout_seconds: 120,
        description: description.into(),
        mime_type: "application/json".into(),
        invoices: None,
        settle_before_serving: false,
        channels: None,
        cross_chain: Vec::new(),
    };
    let budget = Budget {
        per_request: alloy::primitives::U256::from(PRICE),
        per_host: alloy::primitives::U256::from(1_000 * PRICE),
        period: Duration::from_secs(3600),
        total: alloy::primitives::U256::from(1_000 * PRICE),
    };
    let policy = Policy {
        budgets: BTreeMap::from([(token, budget)]),
        networks: vec![world.facilitator.network().into()],
        hosts: None,
        channel_requests: 0,
    };
    let agent = || Ok(Agent::new(world.agent.clone(), policy.clone(), Arc::new(SpendRecord::in_memory()?)));
    // The world funds the agent with a hundred calls' worth: 3 × 30 of them.
    measure("anvil", 30, world.facilitator.clone(), price, agent).await
}
