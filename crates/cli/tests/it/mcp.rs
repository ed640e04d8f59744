//! `quittance mcp` driven over stdio by the official MCP TypeScript SDK's client (`interop/mcp-wallet.mjs`),
//! on anvil: it buys a paid resource within the wallet's policy, is refused beyond it, buys a paid MCP tool
//! of another server (`quittance-mcp`'s paid tools), and reports spending,
//! what is in doubt and balances; the key is never printed and the policy has no tool.

use alloy::primitives::{B256, U256};
use axum::{Json, Router, routing::get};
use quittance_paywall::{Paywall, Price};
use quittance_testkit::{PRICE, World};
use serde_json::{Value, json};
use std::{path::PathBuf, process::Stdio, time::Duration};

/// A seller's MCP tool, sold behind the paywall by `quittance-mcp`.
#[derive(Clone)]
struct Weather;

impl rmcp::ServerHandler for Weather {
    fn get_info(&self) -> rmcp::model::ServerConfig {
        rmcp::model::ServerConfig::new(rmcp::model::ServerCapabilities::builder().enable_tools().build())
    }

    async fn call_tool(
        &self,
        request: rmcp::model::CallToolRequestParams,
        _: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<rmcp::model::CallToolResponse, rmcp::ErrorData> {
        let city = request.arguments.as_ref().and_then(|a| a.get("city")).and_then(Value::as_str).unwrap_or("?");
        let text = rmcp::model::ContentBlock::text(format!("sunny in {city}"));
        Ok(rmcp::model::CallToolResult::success(vec![text]).into())
    }
}

/// Serves the paid tool `report` over streamable HTTP; its endpoint.
async fn paid_tool_server(world: &World) -> eyre::Result<String> {
    use rmcp::transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
    };
    let paywall = quittance_mcp::paywall(world.facilitator.clone());
    let server = quittance_mcp::PaidTools::new(Weather).tool("report", paywall.price(price(world, PRICE)));
    let service: StreamableHttpService<_, LocalSessionManager> = StreamableHttpService::new(
        move || Ok(server.clone()),
        Default::default(),
        StreamableHttpServerConfig::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/mcp", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, Router::new().nest_service("/mcp", service)).await });
    Ok(url)
}

fn price(world: &World, amount: u64) -> Price {
    Price {
        network: world.facilitator.network().into(),
        asset: *world.token.address(),
        asset_name: "USD Coin".into(),
        asset_version: "2".into(),
        amount: U256::from(amount),
        pay_to: world.payee,
        max_timeout_seconds: 120,
        description: "a report".into(),
        mime_type: "application/json".into(),
        invoices: None,
        settle_before_serving: false,
        channels: None,
        cross_chain: Vec::new(),
    }
}

#[tokio::test]
async fn the_official_mcp_client_buys_through_the_wallet_within_its_policy_only() -> eyre::Result<()> {
    let world = World::new().await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let paywall = Paywall::new(world.facilitator.clone(), base.clone());
    let app = Router::new()
        .route("/report", get(|| async { Json(json!({"report": 42})) }).layer(paywall.price(price(&world, PRICE))))
        .route(
            "/expensive",
            get(|| async { Json(json!({"report": "dear"})) }).layer(paywall.price(price(&world, 20 * PRICE))),
        );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let tool_server = paid_tool_server(&world).await?;
    let dir = tempfile::tempdir()?;
    let key = B256::from(world.agent.to_bytes()).to_string();
    let wallet_args = json!([
        "--token",
        world.token.address().to_string(),
        "--network",
        world.facilitator.network(),
        "--funds-rpc",
        format!("{}={}", world.facilitator.network(), world.endpoint),
        "--units",
        "--max-per-request",
        (10 * PRICE).to_string(),
        "--max-per-host",
        (10 * PRICE).to_string(),
        "--budget",
        (10 * PRICE).to_string(),
        "--record",
        dir.path().join("spend.sqlite"),
    ]);
    let (agent_before, payee_before) =
        (world.token.balanceOf(world.agent.address()).call().await?, world.token.balanceOf(world.payee).call().await?);

    let repository = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let stderr = dir.path().join("stderr");
    let output = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new("node")
            .arg(repository.join("interop/mcp-wallet.mjs"))
            .current_dir(&repository)
            .env("QUITTANCE_BIN", env!("CARGO_BIN_EXE_quittance"))
            .env("WALLET_ARGS", wallet_args.to_string())
            .env("PAID_URL", format!("{base}/report"))
            .env("EXPENSIVE_URL", format!("{base}/expensive"))
            .env("TOOL_SERVER", &tool_server)
            .env("QUITTANCE_AGENT_KEY", &key)
            .stdin(Stdio::null())
            .stderr(std::fs::File::create(&stderr)?)
            .kill_on_drop(true)
            .output(),
    )
    .await??;
    let stdout = String::from_utf8(output.stdout)?;
    let logs = std::fs::read_to_string(&stderr)?;
    assert!(output.status.success(), "node failed: {stdout}\n{logs}");
    let run: Value = serde_json::from_str(stdout.trim())?;

    assert_eq!(run["tools"], json!(["fetch", "call_paid_tool", "balances", "spend_report", "in_doubt"]));
    let within = &run["within"];
    assert_eq!(within["isError"], json!(false), "{within}");
    let fetched = &within["structuredContent"];
    assert_eq!((&fetched["status"], &fetched["body"]), (&json!(200), &json!({"report": 42})), "{fetched}");
    assert_eq!(fetched["payment"]["amount"], json!(PRICE.to_string()));
    assert_eq!(fetched["payment"]["receipt"]["success"], json!(true));
    assert_eq!(fetched["payment"]["state"], json!("settled"));

    let beyond = &run["beyond"];
    assert_eq!(beyond["isError"], json!(true), "{beyond}");
    let refusal = beyond["content"][0]["text"].as_str().unwrap_or_default();
    assert!(refusal.contains("no option fits the spending policy") && refusal.contains("PerRequest"), "{refusal}");

    let tool = &run["tool"];
    assert_eq!(tool["isError"], json!(false), "{tool}");
    let called = &tool["structuredContent"];
    assert_eq!(called["result"]["content"][0]["text"], json!("sunny in Lisbon"), "{called}");
    assert_eq!(called["payment"]["receipt"]["success"], json!(true), "{called}");

    assert_eq!(run["report"]["structuredContent"]["payments"].as_array().map(Vec::len), Some(2), "{}", run["report"]);
    assert_eq!(run["report"]["structuredContent"]["totals"][0]["taken"], json!((2 * PRICE).to_string()));
    assert_eq!(run["doubt"]["structuredContent"]["payments"], json!([]));
    let balances = &run["balances"]["structuredContent"];
    assert_eq!(balances["address"], json!(world.agent.address().to_checksum(None)));
    assert_eq!(balances["balances"][0]["balance"], json!((agent_before - U256::from(2 * PRICE)).to_string()));
    assert!(run["unknown"]["error"].is_string() || run["unknown"]["isError"] == json!(true), "{}", run["unknown"]);

    // Exactly the price moved for the resource and for the tool, once each; the dear resource was not paid.
    assert_eq!(world.token.balanceOf(world.agent.address()).call().await?, agent_before - U256::from(2 * PRICE));
    assert_eq!(world.token.balanceOf(world.payee).call().await?, payee_before + U256::from(2 * PRICE));
    // The key never leaves the process.
    let key_digits = key.trim_start_matches("0x");
    assert!(!stdout.contains(key_digits) && !logs.contains(key_digits), "the key was printed");
    Ok(())
}

#[tokio::test]
async fn the_mcp_demo_buys_a_paid_tool_once_on_the_in_process_chain() -> eyre::Result<()> {
    let mut lines = Vec::new();
    let report = quittance_cli::mcp::demo(|line| lines.push(line.to_owned())).await?;
    let [before, after] = report.balances;
    assert_eq!(report.result, "European markets are up");
    assert_eq!((before.0 - after.0, after.1 - before.1), (U256::from(PRICE), U256::from(PRICE)));
    assert_eq!(report.replay, (report.result.clone(), after), "the replay gets the kept result and moves nothing");
    assert!(report.transaction.starts_with("0x") && report.transaction.len() == 66, "{}", report.transaction);
    assert!(lines.iter().any(|l| l.contains("payment-required")), "{lines:?}");
    Ok(())
}

#[tokio::test]
async fn the_wallet_serves_streamable_http_with_listen() -> eyre::Result<()> {
    use rmcp::ServiceExt;
    use tokio::io::AsyncBufReadExt;
    let world = World::new().await?;
    let dir = tempfile::tempdir()?;
    let key = B256::from(world.agent.to_bytes()).to_string();
    let mut wallet = tokio::process::Command::new(env!("CARGO_BIN_EXE_quittance"))
        .args(["mcp", "--listen", "127.0.0.1:0", "--token", &world.token.address().to_string()])
        .args(["--funds-rpc", &format!("{}={}", world.facilitator.network(), world.endpoint)])
        .arg("--record")
        .arg(dir.path().join("spend.sqlite"))
        .env("QUITTANCE_AGENT_KEY", &key)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut stderr = tokio::io::BufReader::new(wallet.stderr.take().ok_or_else(|| eyre::eyre!("no stderr"))?).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), stderr.next_line()).await??.unwrap_or_default();
    let url = line.rsplit(' ').next().filter(|u| u.starts_with("http://")).ok_or_else(|| eyre::eyre!("{line}"))?;
    let client = ().serve(rmcp::transport::StreamableHttpClientTransport::from_uri(url.to_owned())).await?;
    let balances = client.call_tool(rmcp::model::CallToolRequestParams::new("balances")).await?;
    let balances = balances.structured_content.ok_or_else(|| eyre::eyre!("no structured content"))?;
    assert_eq!(balances["address"], json!(world.agent.address().to_checksum(None)));
    let held = world.token.balanceOf(world.agent.address()).call().await?;
    assert_eq!(balances["balances"][0]["balance"], json!(held.to_string()));
    assert!(!balances.to_string().contains(key.trim_start_matches("0x")));
    client.cancel().await?;
    wallet.kill().await?;
    Ok(())
}
