//! `quittance mcp`: the agent's wallet as an MCP server, for any LLM agent that speaks MCP (desktop agent
//! hosts over stdio; others over streamable HTTP with `--listen`).
//!
//! Its tools: `fetch` (GET or send a URL, paying x402 within the policy), `call_paid_tool` (call a tool on
//! another MCP server over streamable HTTP, paying within the policy), `balances` (what the wallet holds
//! where `--funds-rpc` reaches), `spend_report` (the spend record: payments, channels, totals) and
//! `in_doubt` (payments not resolved yet). The key stays in the process and is never printed (the tools
//! name the wallet by its address); the policy is fixed by the command line, and no tool changes it.

use alloy::primitives::{Address, U256};
use quittance_agent::{Agent, Budget, ChainFunds, Funds, Paid, Policy, SpendRecord, SpendState, http_client};
use quittance_chain::RpcChain;
use quittance_mcp::McpPayer;
use rmcp::{
    ErrorData, RoleServer, ServerHandler, ServiceExt,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation, JsonObject,
        ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
    },
    service::RequestContext,
};
use serde_json::{Value, json};
use std::{collections::BTreeMap, net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

/// Arguments of `quittance mcp`.
#[derive(Debug, clap::Args)]
pub struct McpArgs {
    /// Serve streamable HTTP on this address (at `/mcp`) instead of stdio.
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// The token the agent pays with (repeat for more; each gets the limits below).
    #[arg(long, required = true)]
    pub token: Vec<Address>,
    /// The CAIP-2 networks the agent pays on (default eip155:31337).
    #[arg(long, value_parser = crate::pay::evm_network)]
    pub network: Vec<String>,
    /// Where the agent reads a network's chain, as `<CAIP-2 network>=<JSON-RPC URL>` (repeat per network):
    /// for `balances`, skipping options it cannot fund, and resolving payments in doubt from the chain.
    #[arg(long, value_parser = crate::serve::network_url)]
    pub funds_rpc: Vec<(String, reqwest::Url)>,
    /// The spending limits (a tool call counts as a request).
    #[command(flatten)]
    pub limits: crate::pay::BudgetArgs,
    /// The spend record (an SQLite file), as `pay --record`.
    #[arg(long, default_value = "quittance-spend.sqlite")]
    pub record: PathBuf,
    /// The agent's key.
    #[command(flatten)]
    pub key: crate::keys::KeyArgs,
    /// Seconds the agent waits for a whole answer.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout_secs: u64,
}

/// The wallet server.
#[derive(Clone)]
pub struct Wallet {
    payer: McpPayer,
    record: Arc<SpendRecord>,
    tokens: Vec<Address>,
    funds: Option<Arc<ChainFunds<RpcChain>>>,
    networks: Vec<String>,
}

/// Runs the wallet server until its client goes (stdio) or the process is stopped (`--listen`).
pub async fn run(args: McpArgs) -> eyre::Result<()> {
    let key = args.key.source();
    let mut networks = args.network.clone();
    if networks.is_empty() {
        networks.push("eip155:31337".into());
    }
    let budget = args.limits.budget()?;
    let policy = Policy {
        budgets: args.token.iter().map(|token| (*token, budget.clone())).collect::<BTreeMap<_, _>>(),
        networks: networks.clone(),
        hosts: None,
        channel_requests: 0,
    };
    let record = Arc::new(SpendRecord::open(&args.record)?);
    let http = http_client(Duration::from_secs(args.timeout_secs))?;
    let mut agent = Agent::new(key.load()?, policy, record.clone()).with_http(http);
    let funds =
        (!args.funds_rpc.is_empty()).then(|| {
            Arc::new(args.funds_rpc.iter().fold(ChainFunds::new(), |funds, (network, url)| {
                funds.with(network.clone(), RpcChain::http(url.clone()))
            }))
        });
    if let Some(funds) = &funds {
        agent = agent.with_funds(funds.clone());
    }
    let wallet =
        Wallet { payer: McpPayer::new(agent).await?, record, tokens: args.token, funds, networks: networks.clone() };
    match args.listen {
        None => {
            let running = wallet.serve(rmcp::transport::stdio()).await?;
            running.waiting().await?;
        }
        Some(address) => {
            use rmcp::transport::streamable_http_server::{
                StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
            };
            let service: StreamableHttpService<Wallet, LocalSessionManager> = StreamableHttpService::new(
                move || Ok(wallet.clone()),
                Default::default(),
                StreamableHttpServerConfig::default(),
            );
            let listener = tokio::net::TcpListener::bind(address).await?;
            eprintln!("quittance mcp: the wallet on http://{}/mcp", listener.local_addr()?);
            axum::serve(listener, axum::Router::new().nest_service("/mcp", service)).await?;
        }
    }
    Ok(())
}

fn tool(name: &'static str, description: &'static str, schema: Value) -> Tool {
    let schema = match schema {
        Value::Object(object) => object,
        _ => JsonObject::new(),
    };
    Tool::new(name, description, Arc::new(schema))
}

/// The wallet's tools.
fn tools() -> Vec<Tool> {
    vec![
        tool(
            "fetch",
            "Fetch a URL, paying its x402 price (HTTP 402) from the wallet within the spending policy. Returns the \
             status, the body, and what was paid (scheme, amount, token, payee, settlement).",
            json!({"type": "object", "required": ["url"], "properties": {
                "url": {"type": "string", "description": "the http(s) URL"},
                "method": {"type": "string", "description": "GET (default), or POST with a body"},
                "body": {"type": "string", "description": "the request's body"},
                "headers": {"type": "object", "additionalProperties": {"type": "string"}}
            }}),
        ),
        tool(
            "call_paid_tool",
            "Call a tool on another MCP server (streamable HTTP), paying its x402 price from the wallet within the \
             spending policy. Returns the tool's result and what was paid.",
            json!({"type": "object", "required": ["server_url", "tool"], "properties": {
                "server_url": {"type": "string", "description": "the MCP server's streamable HTTP endpoint"},
                "tool": {"type": "string"},
                "arguments": {"type": "object"}
            }}),
        ),
        tool(
            "balances",
            "The wallet's address and its balance of each token on each network it can read.",
            json!({"type": "object", "properties": {}}),
        ),
        tool(
            "spend_report",
            "The wallet's spend record: recent payments and where each stands, voucher channels, totals per token.",
            json!({"type": "object", "properties": {"limit": {"type": "integer", "minimum": 1}}}),
        ),
        tool(
            "in_doubt",
            "Payments not resolved yet (signed, in doubt, or charged and not served): the wallet resolves them \
             before it pays again for the same purchase.",
            json!({"type": "object", "properties": {}}),
        ),
    ]
}

impl ServerHandler for Wallet {
    fn get_info(&self) -> ServerConfig {
        let mut config = ServerConfig::new(ServerCapabilities::builder().enable_tools().build());
        config.server_info = Implementation::new("quittance-wallet", env!("CARGO_PKG_VERSION"));
        config.instructions = Some(
            "An x402 wallet: fetch paid URLs and call paid MCP tools within a fixed spending policy; read \
             balances, the spend report and what is in doubt. Keys never leave it."
                .into(),
        );
        config
    }

    async fn list_tools(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let arguments = request.arguments.unwrap_or_default();
        let outcome = match request.name.as_ref() {
            "fetch" => self.fetch(&arguments).await,
            "call_paid_tool" => self.call_paid_tool(&arguments).await,
            "balances" => self.balances().await,
            "spend_report" => self.spend_report(&arguments),
            "in_doubt" => self.in_doubt(),
            other => return Err(ErrorData::invalid_params(format!("no tool {other:?}"), None)),
        };
        let result = match outcome {
            Ok(value) => {
                let mut result = CallToolResult::success(vec![ContentBlock::text(value.to_string())]);
                result.structured_content = Some(value);
                result
            }
            // What went wrong, in words: a refusal of the policy, of the server, a payment in doubt.
            Err(error) => CallToolResult::error(vec![ContentBlock::text(format!("{error:#}"))]),
        };
        Ok(result.into())
    }
}

fn text<'a>(arguments: &'a JsonObject, name: &str) -> eyre::Result<Option<&'a str>> {
    match arguments.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => eyre::bail!("`{name}` must be a string"),
    }
}

/// What a paid answer cost, as the tools report it.
fn payment(paid: &Paid) -> Value {
    payment_parts(paid.payment.as_ref(), paid.receipt.as_ref(), paid.spend, paid.state)
}

fn payment_parts(
    payment: Option<&quittance_x402::PaymentPayload>,
    receipt: Option<&quittance_x402::SettleResponse>,
    spend: Option<i64>,
    state: Option<SpendState>,
) -> Value {
    match payment {
        None => Value::Null,
        Some(p) => json!({
            "scheme": p.accepted.scheme, "network": p.accepted.network, "amount": p.accepted.amount,
            "asset": p.accepted.asset, "payTo": p.accepted.pay_to, "receipt": receipt,
            "spend": spend, "state": state.map(|s| s.as_str()),
        }),
    }
}

impl Wallet {
    async fn fetch(&self, arguments: &JsonObject) -> eyre::Result<Value> {
        let url = text(arguments, "url")?.ok_or_else(|| eyre::eyre!("`url` is required"))?;
        let url = reqwest::Url::parse(url).map_err(|e| eyre::eyre!("{url:?} is not a URL: {e}"))?;
        eyre::ensure!(matches!(url.scheme(), "http" | "https"), "only http(s) URLs are fetched");
        let body = text(arguments, "body")?;
        let method = match text(arguments, "method")? {
            Some(name) => reqwest::Method::from_bytes(name.to_ascii_uppercase().as_bytes())
                .map_err(|_| eyre::eyre!("{name:?} is not an HTTP method"))?,
            None if body.is_some() => reqwest::Method::POST,
            None => reqwest::Method::GET,
        };
        let mut request = reqwest::Request::new(method, url);
        if let Some(Value::Object(headers)) = arguments.get("headers") {
            for (name, value) in headers {
                let value = value.as_str().ok_or_else(|| eyre::eyre!("header {name:?} must be a string"))?;
                request.headers_mut().append(
                    reqwest::header::HeaderName::from_bytes(name.as_bytes())?,
                    reqwest::header::HeaderValue::from_str(value)?,
                );
            }
        }
        if let Some(body) = body {
            *request.body_mut() = Some(body.to_owned().into());
        }
        let paid = self.payer.agent().send(request).await?;
        let status = paid.response.status().as_u16();
        let paid_for = payment(&paid);
        let text = paid.response.text().await?;
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok(json!({"status": status, "body": body, "payment": paid_for}))
    }

    async fn call_paid_tool(&self, arguments: &JsonObject) -> eyre::Result<Value> {
        let server = text(arguments, "server_url")?.ok_or_else(|| eyre::eyre!("`server_url` is required"))?;
        let url = reqwest::Url::parse(server).map_err(|e| eyre::eyre!("{server:?} is not a URL: {e}"))?;
        let name = text(arguments, "tool")?.ok_or_else(|| eyre::eyre!("`tool` is required"))?;
        let mut params = CallToolRequestParams::new(name.to_owned());
        params.arguments = match arguments.get("arguments") {
            None | Some(Value::Null) => None,
            Some(Value::Object(object)) => Some(object.clone()),
            Some(_) => eyre::bail!("`arguments` must be an object"),
        };
        let transport = rmcp::transport::StreamableHttpClientTransport::from_uri(url.as_str().to_owned());
        let client = ().serve(transport).await.map_err(|e| eyre::eyre!("cannot reach {url}: {e}"))?;
        let host = url.host_str().unwrap_or_default().to_owned();
        let called = self.payer.call_tool(client.peer(), &host, params).await;
        let _ = client.cancel().await;
        let called = called?;
        Ok(json!({
            "result": called.result,
            "payment": payment_parts(called.payment.as_ref(), called.receipt.as_ref(), called.spend, called.state),
        }))
    }

    async fn balances(&self) -> eyre::Result<Value> {
        let address = self.payer.agent().address();
        let mut balances = Vec::new();
        if let Some(funds) = &self.funds {
            for network in &self.networks {
                for token in &self.tokens {
                    let balance: Option<U256> = funds.balance(network, *token, address).await;
                    balances.push(json!({
                        "network": network, "token": token.to_checksum(None),
                        "balance": balance.map(|b| b.to_string()),
                    }));
                }
            }
        }
        let note = self.funds.is_none().then_some("no chain to read: start the wallet with --funds-rpc");
        Ok(json!({"address": address.to_checksum(None), "balances": balances, "note": note}))
    }

    fn spend_report(&self, arguments: &JsonObject) -> eyre::Result<Value> {
        let limit = arguments.get("limit").and_then(Value::as_u64).unwrap_or(50).clamp(1, 1000);
        let payments = self.record.recent(usize::try_from(limit).unwrap_or(50))?;
        Ok(crate::spend::report_json(&payments, &self.record.channels()?))
    }

    fn in_doubt(&self) -> eyre::Result<Value> {
        let open = self.record.all_unresolved()?;
        Ok(json!({"payments": open.iter().map(crate::spend::payment_json).collect::<Vec<_>>()}))
    }
}

/// What the MCP demo showed, for printing and for tests.
#[derive(Debug, Clone)]
pub struct McpDemoReport {
    /// The paid tool's result.
    pub result: String,
    /// The settlement transaction.
    pub transaction: String,
    /// Token balances of (agent, payee) before and after.
    pub balances: [(U256, U256); 2],
    /// The result the same payment got when sent again, and the balances of (agent, payee) after it.
    pub replay: (String, (U256, U256)),
}

/// The demo's seller: one paid tool, `market_report`.
#[derive(Clone)]
struct DemoTools;

impl ServerHandler for DemoTools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let schema = json!({"type": "object", "properties": {"market": {"type": "string"}}});
        Ok(ListToolsResult::with_all_items(vec![tool("market_report", "Today's market report (paid)", schema)]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let market = request.arguments.as_ref().and_then(|a| a.get("market")).and_then(Value::as_str).unwrap_or("all");
        Ok(CallToolResult::success(vec![ContentBlock::text(format!("{market} markets are up"))]).into())
    }
}

/// `quittance demo --mcp`: on the in-process chain, a seller sells an MCP tool (streamable HTTP) behind the
/// paywall, and an MCP client, paying as the agent within its policy, buys one call end to end; the same
/// payment sent again gets the kept result and moves nothing.
pub async fn demo(mut say: impl FnMut(&str)) -> eyre::Result<McpDemoReport> {
    use quittance_chain::{DevChain, revm::RevmChain};
    use quittance_facilitator::{Facilitator, SettleConfig, SqliteLedger};
    use rmcp::transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
    };
    const PRICE: u64 = 10_000;
    let signer = |role: &str| {
        alloy::signers::local::PrivateKeySigner::from_bytes(&alloy::primitives::keccak256(format!(
            "quittance mcp demo {role}"
        )))
    };
    let (deployer, facilitator_key, agent_key) = (signer("deployer")?, signer("facilitator")?, signer("agent")?);
    let payee = signer("payee")?.address();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    let chain = RevmChain::new(31337, now);
    for account in [deployer.address(), facilitator_key.address()] {
        chain.set_balance(account, U256::from(10u64).pow(U256::from(20))).await?;
    }
    let manifest = quittance_deploy::deploy(&chain, &deployer, deployer.address(), &[agent_key.address()], |_| {})
        .await
        .map_err(|e| eyre::eyre!("deploy: {e}"))?;
    let token = manifest.address("TestStablecoin").ok_or_else(|| eyre::eyre!("no token"))?;
    say(&format!("Started an in-process chain (revm) with Quittance deployed; the agent holds test USDC at {token}."));
    let facilitator = Arc::new(
        Facilitator::new(chain.clone(), facilitator_key, Arc::new(SqliteLedger::in_memory()?), SettleConfig::default())
            .await?,
    );
    let price = quittance_paywall::Price {
        network: facilitator.network().into(),
        asset: token,
        asset_name: "USD Coin".into(),
        asset_version: "2".into(),
        amount: U256::from(PRICE),
        pay_to: payee,
        max_timeout_seconds: 120,
        description: "Today's market report".into(),
        mime_type: "application/json".into(),
        invoices: None,
        settle_before_serving: false,
        channels: None,
        cross_chain: Vec::new(),
    };
    let paywall = quittance_mcp::paywall(facilitator.clone());
    let server = quittance_mcp::PaidTools::new(DemoTools).tool("market_report", paywall.price(price));
    let service: StreamableHttpService<_, LocalSessionManager> = StreamableHttpService::new(
        move || Ok(server.clone()),
        Default::default(),
        StreamableHttpServerConfig::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/mcp", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, axum::Router::new().nest_service("/mcp", service)).await });
    say(&format!("The seller serves the MCP tool market_report at {url} (streamable HTTP): one cent per call."));

    let client = ().serve(rmcp::transport::StreamableHttpClientTransport::from_uri(url.clone())).await?;
    let mut params = CallToolRequestParams::new("market_report");
    params.arguments = Some(JsonObject::from_iter([("market".to_owned(), json!("European"))]));
    let unpaid = client.call_tool(params.clone()).await?;
    let (offer, _) = quittance_mcp::client::payment_required(&unpaid)
        .ok_or_else(|| eyre::eyre!("the unpaid call was not asked to pay: {unpaid:?}"))?;
    say(&format!(
        "An unpaid call gets x402's payment-required result: {} {} of {} to {} for {}.",
        offer.accepts[0].scheme,
        offer.accepts[0].amount,
        offer.accepts[0].asset,
        offer.accepts[0].pay_to,
        offer.resource.url
    ));

    let balance = |account: Address| {
        let chain = chain.clone();
        async move {
            quittance_chain::read(&chain, token, quittance_bindings::TestStablecoin::balanceOfCall { account }).await
        }
    };
    let before = (balance(agent_key.address()).await?, balance(payee).await?);
    let budget = Budget {
        per_request: U256::from(PRICE),
        per_host: U256::from(10 * PRICE),
        period: Duration::from_secs(3600),
        total: U256::from(10 * PRICE),
    };
    let policy = Policy {
        budgets: BTreeMap::from([(token, budget)]),
        networks: vec![facilitator.network().into()],
        hosts: None,
        channel_requests: 0,
    };
    let agent = Agent::new(agent_key.clone(), policy, Arc::new(SpendRecord::in_memory()?));
    let payer = McpPayer::new(agent).await?;
    let paid = payer.call_tool(client.peer(), "127.0.0.1", params.clone()).await?;
    let result = paid.result.content.first().and_then(|c| c.as_text()).map(|t| t.text.clone()).unwrap_or_default();
    let receipt = paid.receipt.clone().ok_or_else(|| eyre::eyre!("no settlement in the result's _meta"))?;
    let after = (balance(agent_key.address()).await?, balance(payee).await?);
    say(&format!(
        "The agent paid within its policy (one cent a call, ten in all), sent the payment in _meta[\"x402/payment\"], and got: {result:?}."
    ));
    say(&format!(
        "The settlement came back in the result's _meta[\"x402/payment-response\"]: transaction {}; the agent paid {} USDC, the seller got {} USDC, the agent paid no gas.",
        receipt.transaction,
        crate::demo::format_usd(before.0 - after.0),
        crate::demo::format_usd(after.1 - before.1)
    ));

    let mut again = params;
    let mut meta = rmcp::model::RequestMetaObject::new();
    meta.0.0.insert(quittance_mcp::PAYMENT_META.into(), serde_json::to_value(&paid.payment)?);
    again.meta = Some(meta);
    let replayed = client.call_tool(again).await?;
    let replay = replayed.content.first().and_then(|c| c.as_text()).map(|t| t.text.clone()).unwrap_or_default();
    let after_replay = (balance(agent_key.address()).await?, balance(payee).await?);
    say(&format!(
        "The same payment sent again (a lost answer) gets the kept result {replay:?}; balances unchanged: the tool ran once, paid once."
    ));
    let _ = client.cancel().await;
    Ok(McpDemoReport {
        result,
        transaction: receipt.transaction,
        balances: [before, after],
        replay: (replay, after_replay),
    })
}
