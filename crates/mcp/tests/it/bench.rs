//! Paid tool-call latency, over streamable HTTP and over a stdio-framed pipe, beside a paid HTTP GET
//! through the paywall, on the in-process chain: each call a new purchase (signed, verified, served,
//! settled), the agent's spend record in memory. Prints the figures (`-- --nocapture`).

use crate::local::{Local, PRICE, Seller};
use axum::{Json, Router, routing::get};
use quittance_agent::SpendRecord;
use quittance_mcp::McpPayer;
use rmcp::model::{CallToolRequestParams, JsonObject};
use serde_json::json;
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

const CALLS: usize = 20;

fn summary(name: &str, mut times: Vec<Duration>) -> String {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "{name:<34} p50 {:>7.2} ms  p95 {:>7.2} ms  ({} calls)",
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

#[tokio::test]
async fn paid_tool_call_latency_beside_a_paid_http_get() -> eyre::Result<()> {
    let local = Local::new().await?;
    let seller = Seller::new(&local);
    let policy = || local.policy(1_000 * PRICE);

    let http = crate::connect_http(&seller.serve_http().await?).await?;
    let payer = McpPayer::new(local.agent(&Arc::new(SpendRecord::in_memory()?), policy())).await?;
    let mut over_http = Vec::new();
    for i in 0..CALLS {
        let start = Instant::now();
        let paid = payer.call_tool(http.peer(), "bench", call(i)).await?;
        over_http.push(start.elapsed());
        assert!(paid.receipt.is_some_and(|r| r.success));
    }

    let pipe = seller.serve_pipe().await?;
    let payer = McpPayer::new(local.agent(&Arc::new(SpendRecord::in_memory()?), policy())).await?;
    let mut over_pipe = Vec::new();
    for i in 0..CALLS {
        let start = Instant::now();
        let paid = payer.call_tool(pipe.peer(), "bench", call(i)).await?;
        over_pipe.push(start.elapsed());
        assert!(paid.receipt.is_some_and(|r| r.success));
    }

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let paywall = quittance_paywall::Paywall::new(local.facilitator.clone(), base.clone());
    let app = Router::new().route(
        "/report",
        get(|| async { Json(json!({"report": "sunny"})) }).layer(paywall.price(local.price("a report"))),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let agent = local.agent(&Arc::new(SpendRecord::in_memory()?), policy());
    let mut get_times = Vec::new();
    for i in 0..CALLS {
        let start = Instant::now();
        let paid = agent.get(&format!("{base}/report?i={i}")).await?;
        get_times.push(start.elapsed());
        assert!(paid.receipt.is_some_and(|r| r.success));
    }

    // An unpaid call for scale: the MCP round trip alone.
    let mut free = Vec::new();
    for _ in 0..CALLS {
        let start = Instant::now();
        http.call_tool(CallToolRequestParams::new("time")).await?;
        free.push(start.elapsed());
    }
    println!("{}", summary("paid tool call, streamable HTTP", over_http));
    println!("{}", summary("paid tool call, stdio-framed pipe", over_pipe));
    println!("{}", summary("paid HTTP GET (paywall)", get_times));
    println!("{}", summary("free tool call, streamable HTTP", free));
    http.cancel().await?;
    pipe.cancel().await?;
    Ok(())
}
