//! Interop with the official x402 Python SDK's MCP helpers (`x402.mcp`, PyPI `x402` pinned in
//! `interop/python/requirements.txt`), on anvil, settled by Quittance's facilitator: its MCP client pays our
//! paid tool, and our agent pays its paid MCP server; exact balance changes, and a replayed payment moves
//! nothing more.
//!
//! The SDK runs from the venv `tools/test` makes (`ensure_python_x402` in `tools/lib.sh`): `.tools/python-x402`
//! at the repository root, or the venv named by `QUITTANCE_PYTHON_X402`. Without it the tests fail and say so.

use alloy::{
    primitives::{B256, U256},
    signers::local::PrivateKeySigner,
};
use quittance_agent::{Agent, Budget, Policy, SpendRecord, SpendState};
use quittance_mcp::{McpPayer, PAYMENT_META, PaidTools, client::payment_required};
use quittance_paywall::Price;
use quittance_testkit::{PRICE, World};
use rmcp::{
    ErrorData, RoleServer, ServerHandler, ServiceExt,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, JsonObject, ServerCapabilities,
        ServerConfig,
    },
    service::RequestContext,
    transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
    },
};
use serde_json::{Value, json};
use std::{
    collections::BTreeMap,
    path::PathBuf,
    process::Stdio,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

/// How long a Python script may take to report a step.
const REPORT_TIMEOUT: Duration = Duration::from_secs(90);

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The venv's python: `$QUITTANCE_PYTHON_X402/bin/python`, else `.tools/python-x402/bin/python`.
fn python() -> eyre::Result<PathBuf> {
    let venv = std::env::var_os("QUITTANCE_PYTHON_X402")
        .map(PathBuf::from)
        .unwrap_or_else(|| repository().join(".tools/python-x402"));
    let python = venv.join("bin/python");
    if !python.exists() {
        eyre::bail!(
            "the official x402 Python SDK is not installed at {}: run `bash -c 'source tools/lib.sh && \
             ensure_python_x402'` (tools/test does), or set QUITTANCE_PYTHON_X402 to a venv made from \
             interop/python/requirements.txt",
            venv.display()
        );
    }
    Ok(python)
}

/// A script of `interop/python/`, killed when dropped; its stderr kept in a file shown on failure.
struct Script {
    child: Child,
    stdout: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    stderr: PathBuf,
    _dir: tempfile::TempDir,
}

impl Script {
    fn start(name: &str, env: &[(&str, String)]) -> eyre::Result<Self> {
        let dir = tempfile::tempdir()?;
        let stderr = dir.path().join("stderr");
        let mut command = Command::new(python()?);
        command
            .arg(repository().join("interop/python").join(name))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr)?)
            .kill_on_drop(true);
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn()?;
        let stdout = BufReader::new(child.stdout.take().ok_or_else(|| eyre::eyre!("no stdout"))?).lines();
        Ok(Self { child, stdout, stderr, _dir: dir })
    }

    /// The next step the script reports.
    async fn report(&mut self) -> eyre::Result<Value> {
        let line = tokio::time::timeout(REPORT_TIMEOUT, self.stdout.next_line()).await;
        match line {
            Ok(Ok(Some(line))) => Ok(serde_json::from_str(&line)?),
            other => {
                let _ = self.child.start_kill();
                let stderr = std::fs::read_to_string(&self.stderr).unwrap_or_default();
                eyre::bail!("the script reported nothing ({other:?}); its stderr:\n{stderr}")
            }
        }
    }
}

fn price(world: &World) -> Price {
    Price {
        network: world.facilitator.network().into(),
        asset: *world.token.address(),
        asset_name: "USD Coin".into(),
        asset_version: "2".into(),
        amount: U256::from(PRICE),
        pay_to: world.payee,
        max_timeout_seconds: 120,
        description: "a weather report".into(),
        mime_type: "application/json".into(),
        invoices: None,
        settle_before_serving: false,
        channels: None,
        cross_chain: Vec::new(),
    }
}

async fn balance(world: &World, account: alloy::primitives::Address) -> eyre::Result<U256> {
    Ok(world.token.balanceOf(account).call().await?)
}

/// Two paid tools, counted.
#[derive(Clone)]
struct Weather {
    runs: Arc<AtomicUsize>,
}

impl ServerHandler for Weather {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        let city = request.arguments.as_ref().and_then(|a| a.get("city")).and_then(Value::as_str).unwrap_or("?");
        Ok(CallToolResult::success(vec![ContentBlock::text(format!("{} in {city}", request.name))]).into())
    }
}

async fn serve<S: ServerHandler + Clone>(server: S) -> eyre::Result<String> {
    let service: StreamableHttpService<_, LocalSessionManager> = StreamableHttpService::new(
        move || Ok(server.clone()),
        Default::default(),
        StreamableHttpServerConfig::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/mcp", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, axum::Router::new().nest_service("/mcp", service)).await });
    Ok(url)
}

fn key_hex(key: &PrivateKeySigner) -> String {
    B256::from(key.to_bytes()).to_string()
}

#[tokio::test]
async fn the_official_python_mcp_client_pays_our_paid_tool_once() -> eyre::Result<()> {
    let world = World::new().await?;
    let runs = Arc::new(AtomicUsize::new(0));
    let paywall = quittance_mcp::paywall(world.facilitator.clone());
    let server = PaidTools::new(Weather { runs: runs.clone() })
        .tool("report", paywall.price(price(&world)))
        .tool("forecast", paywall.price(Price { description: "a forecast".into(), ..price(&world) }));
    let url = serve(server).await?;
    let (agent_before, payee_before) =
        (balance(&world, world.agent.address()).await?, balance(&world, world.payee).await?);

    let mut client = Script::start(
        "mcp_client.py",
        &[
            ("MCP_URL", url),
            ("AGENT_KEY", key_hex(&world.agent)),
            ("NETWORK", world.facilitator.network().into()),
            ("TOKEN", world.token.address().to_string()),
            ("PRICE", PRICE.to_string()),
            ("TOOL", "report".into()),
            ("OTHER_TOOL", "forecast".into()),
        ],
    )?;
    let paid = client.report().await?;
    assert_eq!(paid["step"], "paid", "{paid}");
    assert_eq!(
        (&paid["made"], &paid["isError"], &paid["text"]),
        (&json!(true), &json!(false), &json!("report in Lisbon"))
    );
    assert_eq!(paid["receipt"]["success"], json!(true), "{paid}");
    assert_eq!(balance(&world, world.agent.address()).await?, agent_before - U256::from(PRICE));
    assert_eq!(balance(&world, world.payee).await?, payee_before + U256::from(PRICE));
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    // The same payment again: the kept result; the tool does not run again and nothing moves.
    let replay = client.report().await?;
    assert_eq!(
        (&replay["step"], &replay["isError"], &replay["text"]),
        (&json!("replay"), &json!(false), &json!("report in Lisbon"))
    );
    // For another tool: refused, with the reason.
    let other = client.report().await?;
    assert_eq!((&other["step"], &other["isError"]), (&json!("other"), &json!(true)), "{other}");
    assert_eq!(other["structured"]["error"], json!("invalid_exact_evm_nonce_already_used"), "{other}");
    assert_eq!(runs.load(Ordering::SeqCst), 1, "one payment, one execution");
    assert_eq!(balance(&world, world.payee).await?, payee_before + U256::from(PRICE));
    Ok(())
}

#[tokio::test]
async fn our_agent_pays_the_official_python_paid_mcp_server() -> eyre::Result<()> {
    let world = World::new().await?;
    // The Python server settles through Quittance's facilitator over HTTP.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let facilitator_url = format!("http://{}/", listener.local_addr()?);
    let router = quittance_facilitator::http::router(world.facilitator.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let mut server = Script::start(
        "mcp_server.py",
        &[
            ("FACILITATOR_URL", facilitator_url),
            ("NETWORK", world.facilitator.network().into()),
            ("TOKEN", world.token.address().to_string()),
            ("PAY_TO", world.payee.to_string()),
            ("PRICE", PRICE.to_string()),
        ],
    )?;
    let ready = server.report().await?;
    let url = ready["url"].as_str().ok_or_else(|| eyre::eyre!("not ready: {ready}"))?.to_owned();
    let transport = rmcp::transport::StreamableHttpClientTransport::from_uri(url);
    let client = ().serve(transport).await?;

    let record = Arc::new(SpendRecord::in_memory()?);
    let policy = Policy {
        budgets: BTreeMap::from([(
            *world.token.address(),
            Budget {
                per_request: U256::from(PRICE),
                per_host: U256::from(10 * PRICE),
                period: Duration::from_secs(3600),
                total: U256::from(10 * PRICE),
            },
        )]),
        networks: vec![world.facilitator.network().into()],
        hosts: None,
        channel_requests: 0,
    };
    let payer = McpPayer::new(Agent::new(world.agent.clone(), policy, record.clone())).await?;
    let (agent_before, payee_before) =
        (balance(&world, world.agent.address()).await?, balance(&world, world.payee).await?);

    let mut params = CallToolRequestParams::new("report");
    params.arguments = Some(JsonObject::from_iter([("city".to_owned(), json!("Lisbon"))]));
    let paid = payer.call_tool(client.peer(), "127.0.0.1", params.clone()).await?;
    let text = paid.result.content.first().and_then(|c| c.as_text()).map(|t| t.text.clone()).unwrap_or_default();
    assert_eq!(serde_json::from_str::<Value>(&text)?, json!({"report": "sunny in Lisbon"}));
    assert!(paid.receipt.as_ref().is_some_and(|r| r.success), "{:?}", paid.receipt);
    assert_eq!(paid.state, Some(SpendState::Settled));
    assert_eq!(server.report().await?, json!({"step": "ran", "tool": "report"}));
    assert_eq!(balance(&world, world.agent.address()).await?, agent_before - U256::from(PRICE));
    assert_eq!(balance(&world, world.payee).await?, payee_before + U256::from(PRICE));

    // The same payment replayed: refused by the official server (its facilitator sees the nonce used).
    let payment = serde_json::to_value(paid.payment.expect("the payment sent"))?;
    let mut replay = params;
    let mut meta = rmcp::model::RequestMetaObject::new();
    meta.0.0.insert(PAYMENT_META.into(), payment);
    replay.meta = Some(meta);
    let refused = client.call_tool(replay).await?;
    let (offer, _) = payment_required(&refused).ok_or_else(|| eyre::eyre!("not refused: {refused:?}"))?;
    assert!(offer.error.is_some(), "{offer:?}");
    assert_eq!(balance(&world, world.payee).await?, payee_before + U256::from(PRICE));
    client.cancel().await?;
    Ok(())
}
