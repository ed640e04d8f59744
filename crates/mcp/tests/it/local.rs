//! The in-process chain with Quittance deployed, and a seller's MCP server with paid tools on it.

use alloy::{
    primitives::{Address, U256, keccak256},
    signers::local::PrivateKeySigner,
};
use quittance_agent::{Agent, Budget, Policy, SpendRecord};
use quittance_bindings::TestStablecoin;
use quittance_chain::{Chain, DevChain, read, revm::RevmChain};
use quittance_facilitator::{Facilitator, SettleConfig, SqliteLedger};
use quittance_mcp::PaidTools;
use quittance_paywall::Price;
use rmcp::{
    ErrorData, RoleClient, RoleServer, ServerHandler, ServiceExt,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ListToolsResult, PaginatedRequestParams,
        ServerCapabilities, ServerConfig, Tool,
    },
    service::{RequestContext, RunningService},
    transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
    },
};
use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

/// The price of a paid tool call: one cent of the 6-decimal token.
pub(crate) const PRICE: u64 = 10_000;

/// A chain in memory with Quittance deployed, the agent funded, and the in-process facilitator.
pub(crate) struct Local {
    pub(crate) chain: RevmChain,
    pub(crate) token: Address,
    pub(crate) agent: PrivateKeySigner,
    pub(crate) payee: Address,
    pub(crate) facilitator: Arc<Facilitator<RevmChain>>,
}

impl Local {
    pub(crate) async fn new() -> eyre::Result<Self> {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
        let chain = RevmChain::new(31337, now);
        let key = |name: &str| PrivateKeySigner::from_bytes(&keccak256(format!("mcp tests {name}")));
        let (deployer, facilitator_key, agent) = (key("deployer")?, key("facilitator")?, key("agent")?);
        let ether = U256::from(10u64).pow(U256::from(21));
        for account in [&deployer, &facilitator_key] {
            chain.set_balance(account.address(), ether).await?;
        }
        let manifest =
            quittance_deploy::deploy(&chain, &deployer, deployer.address(), &[agent.address()], |_| {}).await?;
        let config = SettleConfig {
            receipt_timeout: Duration::from_secs(10),
            poll_interval: Duration::from_millis(5),
            delivery_timeout: Duration::from_secs(10),
        };
        let facilitator = Arc::new(
            Facilitator::new(chain.clone(), facilitator_key, Arc::new(SqliteLedger::in_memory()?), config).await?,
        );
        Ok(Self {
            token: manifest.address("TestStablecoin").ok_or_else(|| eyre::eyre!("no token"))?,
            chain,
            agent,
            payee: key("payee")?.address(),
            facilitator,
        })
    }

    /// The chain's clock.
    pub(crate) fn now(&self) -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
    }

    /// `account`'s balance of the token.
    pub(crate) async fn balance(&self, account: Address) -> eyre::Result<U256> {
        Ok(read(&self.chain, self.token, TestStablecoin::balanceOfCall { account }).await?)
    }

    /// At most one price per call, `total` in all.
    pub(crate) fn policy(&self, total: u64) -> Policy {
        Policy {
            budgets: BTreeMap::from([(
                self.token,
                Budget {
                    per_request: U256::from(PRICE),
                    per_host: U256::from(total),
                    period: Duration::from_secs(3600),
                    total: U256::from(total),
                },
            )]),
            networks: vec![self.facilitator.network().into()],
            hosts: None,
            channel_requests: 0,
        }
    }

    /// The agent, remembering in `record`.
    pub(crate) fn agent(&self, record: &Arc<SpendRecord>, policy: Policy) -> Agent {
        Agent::new(self.agent.clone(), policy, record.clone())
    }

    /// The seller's price of a tool call, in `exact`.
    pub(crate) fn price(&self, description: &str) -> Price {
        Price {
            network: self.facilitator.network().into(),
            asset: self.token,
            asset_name: "USD Coin".into(),
            asset_version: "2".into(),
            amount: U256::from(PRICE),
            pay_to: self.payee,
            max_timeout_seconds: 120,
            description: description.into(),
            mime_type: "application/json".into(),
            invoices: None,
            settle_before_serving: false,
            channels: None,
            cross_chain: Vec::new(),
        }
    }
}

/// The seller's tools: `report` and `forecast` (paid, counted), `broken` (paid, always fails), `time` (free).
#[derive(Clone)]
pub(crate) struct Tools {
    runs: Arc<AtomicUsize>,
    forecasts: Arc<AtomicUsize>,
}

impl ServerHandler for Tools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let schema = Arc::new(rmcp::model::JsonObject::from_iter([("type".to_owned(), "object".into())]));
        let tools = ["report", "forecast", "broken", "time"]
            .map(|name| Tool::new(name, format!("the {name} tool"), schema.clone()))
            .to_vec();
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let city = request.arguments.as_ref().and_then(|a| a.get("city")).and_then(|c| c.as_str()).unwrap_or("?");
        let text = match request.name.as_ref() {
            "report" => {
                self.runs.fetch_add(1, Ordering::SeqCst);
                format!("sunny in {city}")
            }
            "forecast" => {
                self.forecasts.fetch_add(1, Ordering::SeqCst);
                format!("rain in {city}")
            }
            "broken" => {
                return Ok(CallToolResult::error(vec![ContentBlock::text("the weather station is down")]).into());
            }
            "time" => "noon".into(),
            _ => return Err(ErrorData::invalid_params("no such tool", None)),
        };
        Ok(CallToolResult::success(vec![ContentBlock::text(text)]).into())
    }
}

/// A seller: the tools behind the paywall, and how often the paid ones ran.
pub(crate) struct Seller<C: Chain = RevmChain> {
    pub(crate) server: PaidTools<Tools, Facilitator<C>>,
    pub(crate) runs: Arc<AtomicUsize>,
    pub(crate) forecasts: Arc<AtomicUsize>,
}

impl Seller {
    pub(crate) fn new(local: &Local) -> Self {
        Self::selling(local.facilitator.clone(), |description| local.price(description))
    }
}

impl<C: Chain + 'static> Seller<C> {
    /// The tools priced by `price` (from a description), settled by `facilitator`.
    pub(crate) fn selling(facilitator: Arc<Facilitator<C>>, price: impl Fn(&str) -> Price) -> Self {
        let (runs, forecasts) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let paywall = quittance_mcp::paywall(facilitator);
        let server = PaidTools::new(Tools { runs: runs.clone(), forecasts: forecasts.clone() })
            .tool("report", paywall.price(price("a weather report")))
            .tool("forecast", paywall.price(price("a forecast")))
            .tool("broken", paywall.price(price("a broken tool")));
        Self { server, runs, forecasts }
    }

    /// Serves over streamable HTTP on a loopback port; the endpoint's URL.
    pub(crate) async fn serve_http(&self) -> eyre::Result<String> {
        let server = self.server.clone();
        let service: StreamableHttpService<_, LocalSessionManager> = StreamableHttpService::new(
            move || Ok(server.clone()),
            Default::default(),
            StreamableHttpServerConfig::default(),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/mcp", listener.local_addr()?);
        let router = axum::Router::new().nest_service("/mcp", service);
        tokio::spawn(async move { axum::serve(listener, router).await });
        Ok(url)
    }

    /// Serves over streamable HTTP, losing the answers to the first `count` paid calls (served, then answered
    /// 502); the endpoint, and how many answers were lost.
    pub(crate) async fn serve_http_losing_paid_answers(
        &self,
        count: usize,
    ) -> eyre::Result<(String, Arc<AtomicUsize>)> {
        use axum::{body::Body, extract::Request, middleware::Next, response::Response};
        let server = self.server.clone();
        let service: StreamableHttpService<_, LocalSessionManager> = StreamableHttpService::new(
            move || Ok(server.clone()),
            Default::default(),
            StreamableHttpServerConfig::default(),
        );
        let lost = Arc::new(AtomicUsize::new(0));
        let seen = lost.clone();
        let lose = move |request: Request, next: Next| {
            let lost = lost.clone();
            async move {
                let (parts, body) = request.into_parts();
                let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
                let paid = String::from_utf8_lossy(&bytes).contains(quittance_mcp::PAYMENT_META);
                let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
                if paid
                    && lost.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n < count).then_some(n + 1)).is_ok()
                {
                    // Read the answer whole (the call completes), then lose it.
                    let _ = axum::body::to_bytes(response.into_body(), 1 << 20).await;
                    let mut lost = Response::new(Body::from("bad gateway"));
                    *lost.status_mut() = axum::http::StatusCode::BAD_GATEWAY;
                    return lost;
                }
                response
            }
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/mcp", listener.local_addr()?);
        let router = axum::Router::new().nest_service("/mcp", service).layer(axum::middleware::from_fn(lose));
        tokio::spawn(async move { axum::serve(listener, router).await });
        Ok((url, seen))
    }

    /// Serves over an in-process pipe with the stdio transport's framing; the client connected to it.
    pub(crate) async fn serve_pipe(&self) -> eyre::Result<RunningService<RoleClient, ()>> {
        let (ours, theirs) = tokio::io::duplex(1 << 20);
        let server = self.server.clone();
        tokio::spawn(async move {
            if let Ok(running) = server.serve(ours).await {
                let _ = running.waiting().await;
            }
        });
        Ok(().serve(theirs).await?)
    }
}
