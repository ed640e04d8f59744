//! The agent against the real paywall and facilitator on the in-process chain, behind a proxy that can lose
//! answers, stall, say a payment is in flight, or keep answers by payment id as an x402 server would.

use alloy::{
    primitives::{Address, U256, keccak256},
    signers::local::PrivateKeySigner,
    sol_types::SolEvent,
};
use axum::{
    Json, Router,
    body::{Body, Bytes},
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
};
use quittance_agent::{Agent, Budget, ChainFunds, Policy, SpendRecord};
use quittance_bindings::TestStablecoin;
use quittance_chain::{Chain, DevChain, read, revm::RevmChain};
use quittance_facilitator::{Facilitator, SettleConfig, SqliteLedger};
use quittance_paywall::{BatchOffer, ChannelOffer, InvoiceIssuer, Paywall, Price};
use quittance_x402::{
    Ambient, PAYMENT_REQUIRED, PAYMENT_RESPONSE, PAYMENT_SIGNATURE, PaymentPayload, PaymentRequired, ResourceInfo,
    SettleResponse, X_PAYMENT, decode_header, encode_header, payment_identifier,
};
use serde_json::json;
use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

/// The price of a resource.
pub(crate) const PRICE: u64 = 10_000;

/// A chain in memory with Quittance deployed, its clock shared with the paywall and the agents.
pub(crate) struct Local {
    pub(crate) chain: RevmChain,
    pub(crate) now: Arc<AtomicU64>,
    pub(crate) network: String,
    pub(crate) token: Address,
    pub(crate) registry: Address,
    pub(crate) channels: Address,
    pub(crate) agent: PrivateKeySigner,
    pub(crate) seller: PrivateKeySigner,
    pub(crate) payee: Address,
    pub(crate) deployer: PrivateKeySigner,
    pub(crate) facilitator: Arc<Facilitator<RevmChain>>,
}

impl Local {
    /// A fresh chain, the contracts deployed, the agent funded.
    pub(crate) async fn new() -> eyre::Result<Self> {
        Self::on_chain(31337).await
    }

    /// The same on a chain with this id.
    pub(crate) async fn on_chain(chain_id: u64) -> eyre::Result<Self> {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
        let chain = RevmChain::new(chain_id, now);
        let key = |name: &str| PrivateKeySigner::from_bytes(&keccak256(format!("agent tests {name}")));
        let (deployer, facilitator_key, agent, seller) =
            (key("deployer")?, key("facilitator")?, key("agent")?, key("seller")?);
        let ether = U256::from(10u64).pow(U256::from(21));
        for account in [&deployer, &facilitator_key] {
            chain.set_balance(account.address(), ether).await?;
        }
        let manifest =
            quittance_deploy::deploy(&chain, &deployer, deployer.address(), &[agent.address()], |_| {}).await?;
        quittance_deploy::install_permit2(&chain).await?;
        quittance_deploy::install_batch_settlement(&chain).await?;
        let contract = |name: &str| manifest.address(name).ok_or_else(|| eyre::eyre!("no {name}"));
        let config = SettleConfig {
            receipt_timeout: Duration::from_secs(10),
            poll_interval: Duration::from_millis(5),
            delivery_timeout: Duration::from_secs(10),
        };
        let facilitator = Arc::new(
            Facilitator::new(chain.clone(), facilitator_key, Arc::new(SqliteLedger::in_memory()?), config).await?,
        );
        // Quittance deploys its test token on local chain ids only: elsewhere the test deploys one itself.
        let token = match manifest.address("TestStablecoin") {
            Some(token) => token,
            None => {
                use alloy::sol_types::SolConstructor;
                let args = TestStablecoin::constructorCall {
                    name_: "USD Coin".into(),
                    symbol_: "USDC".into(),
                    version_: "2".into(),
                    owner_: deployer.address(),
                };
                let init = [TestStablecoin::BYTECODE.as_ref(), &args.abi_encode()].concat();
                let mut sender = quittance_chain::Sender::new(&chain, &deployer).await?;
                let (token, _) = sender.create(init.into(), 5_000_000).await?;
                use alloy::sol_types::SolCall;
                let mint = TestStablecoin::mintCall { to: agent.address(), amount: U256::from(1_000_000_000u64) };
                sender.send(token, mint.abi_encode().into()).await?;
                token
            }
        };
        Ok(Self {
            network: facilitator.network().into(),
            token,
            registry: contract("InvoiceRegistry")?,
            channels: contract("VoucherChannels")?,
            now: Arc::new(AtomicU64::new(now)),
            chain,
            agent,
            seller,
            payee: key("payee")?.address(),
            deployer,
            facilitator,
        })
    }

    /// The clock every party reads.
    pub(crate) fn ambient(&self) -> Ambient {
        let now = self.now.clone();
        Ambient::new(move || now.load(Ordering::SeqCst), alloy::primitives::B256::random)
    }

    /// Moves the chain's clock and everyone's.
    pub(crate) async fn advance(&self, seconds: u64) -> eyre::Result<()> {
        self.chain.advance(seconds).await?;
        self.now.fetch_add(seconds, Ordering::SeqCst);
        Ok(())
    }

    /// A budget of `total` in the token, any host, this network.
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
            networks: vec![self.network.clone()],
            hosts: None,
            channel_requests: 0,
        }
    }

    /// An agent paying with `key`, remembering in `record`, on the shared clock, without a chain to read.
    pub(crate) fn agent_without_chain(
        &self,
        key: &PrivateKeySigner,
        record: &Arc<SpendRecord>,
        policy: Policy,
    ) -> Agent {
        Agent::new(key.clone(), policy, record.clone()).with_ambient(self.ambient())
    }

    /// The same, reading this chain for its network.
    pub(crate) fn agent_with_chain(&self, key: &PrivateKeySigner, record: &Arc<SpendRecord>, policy: Policy) -> Agent {
        let funds = ChainFunds::new().with(self.network.clone(), self.chain.clone());
        self.agent_without_chain(key, record, policy).with_funds(Arc::new(funds))
    }

    /// The agent's own key.
    pub(crate) fn agent_key(&self) -> PrivateKeySigner {
        self.agent.clone()
    }

    /// `account`'s balance of the token.
    pub(crate) async fn balance(&self, account: Address) -> eyre::Result<U256> {
        Ok(read(&self.chain, self.token, TestStablecoin::balanceOfCall { account }).await?)
    }

    /// How many token transfers `from` made, over the whole chain.
    pub(crate) async fn transfers_from(&self, from: Address) -> eyre::Result<usize> {
        let logs = self.chain.logs(self.token, 0, self.chain.block_number().await?).await?;
        Ok(logs
            .iter()
            .filter_map(|log| TestStablecoin::Transfer::decode_log(log).ok())
            .filter(|transfer| transfer.from == from)
            .count())
    }

    /// Mints `amount` of the token to `to`.
    pub(crate) async fn mint(&self, to: Address, amount: u64) -> eyre::Result<()> {
        use alloy::sol_types::SolCall;
        let mut owner = quittance_chain::Sender::new(&self.chain, &self.deployer).await?;
        let mint = TestStablecoin::mintCall { to, amount: U256::from(amount) };
        owner.send(self.token, mint.abi_encode().into()).await?;
        Ok(())
    }

    /// Lets Permit2 spend `key`'s tokens (what `exact` over Permit2 needs), paying the gas for it.
    pub(crate) async fn approve_permit2(&self, key: &PrivateKeySigner) -> eyre::Result<()> {
        use alloy::sol_types::SolCall;
        self.chain.set_balance(key.address(), U256::from(10u64).pow(U256::from(18))).await?;
        let mut owner = quittance_chain::Sender::new(&self.chain, key).await?;
        let approve =
            TestStablecoin::approveCall { spender: quittance_x402::permit2::PERMIT2_ADDRESS, value: U256::MAX };
        owner.send(self.token, approve.abi_encode().into()).await?;
        Ok(())
    }

    /// Serves, behind `proxy`, `/report` (invoice and exact), `/exact` (exact only), `/permit2` (exact over
    /// Permit2 only), `/metered` (`upto` of at most the price, sponsoring EIP-2612 permits), `/tick` (a voucher
    /// channel, a tenth of the price) and `/batch` (x402's `batch-settlement`, a tenth of the price, the
    /// facilitator the receiver authorizer); returns the proxy's origin (the one the paywall describes resources
    /// and issues invoices for) and how many times each handler ran.
    pub(crate) async fn serve(&self, proxy: Arc<Proxy>) -> eyre::Result<(String, Arc<AtomicUsize>)> {
        let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let front = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", front.local_addr()?);
        let paywall = Paywall::new(self.facilitator.clone(), base.clone()).with_ambient(self.ambient());
        let price = Price {
            network: self.network.clone(),
            asset: self.token,
            asset_name: "USD Coin".into(),
            asset_version: "2".into(),
            amount: U256::from(PRICE),
            pay_to: self.payee,
            max_timeout_seconds: 120,
            description: "a report".into(),
            mime_type: "application/json".into(),
            invoices: Some(InvoiceIssuer {
                registry: self.registry,
                signer: self.seller.clone(),
                validity_seconds: 600,
            }),
            settle_before_serving: false,
            channels: None,
            cross_chain: Vec::new(),
        };
        let served = Arc::new(AtomicUsize::new(0));
        let handler = |served: Arc<AtomicUsize>| {
            move || {
                let served = served.clone();
                async move {
                    served.fetch_add(1, Ordering::SeqCst);
                    Json(json!({"report": 42}))
                }
            }
        };
        let tick = Price {
            amount: U256::from(PRICE / 10),
            invoices: None,
            channels: Some(ChannelOffer { contract: self.channels, min_withdraw_delay: 3600 }),
            ..price.clone()
        };
        let app = Router::new()
            .route("/report", get(handler(served.clone())).layer(paywall.price(price.clone())))
            .route("/permit2", get(handler(served.clone())).layer(paywall.price_exact_permit2(price.clone(), false)))
            .route(
                "/metered",
                get(handler(served.clone())).layer(paywall.price_upto(
                    Price { invoices: None, ..price.clone() },
                    self.facilitator.address(),
                    true,
                )),
            )
            .route("/exact", get(handler(served.clone())).layer(paywall.price(Price { invoices: None, ..price })))
            .route("/batch", {
                let offer = BatchOffer::new(self.facilitator.address());
                let batch = Price { channels: None, ..tick.clone() };
                get(handler(served.clone())).layer(paywall.price_batch_settlement(batch, offer))
            })
            .route("/tick", get(handler(served.clone())).layer(paywall.price(tick)));
        let upstream_url = format!("http://{}", upstream.local_addr()?);
        tokio::spawn(async move { axum::serve(upstream, app).await });
        start_proxy(proxy, front, upstream_url);
        Ok((base, served))
    }
}

/// What the proxy does with a paid request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    /// Passes it on, and its answer back.
    Forward,
    /// Passes it on, then answers 502 instead of the server's answer.
    LoseAnswer,
    /// Passes it on, then never answers.
    Hang,
    /// Does not pass it on, and never answers.
    Stall,
    /// Does not pass it on; answers 402 `settlement_pending` with `Retry-After: 1`.
    Pending,
    /// Does not pass it on; answers 409 Conflict.
    Conflict,
    /// Does not pass it on; answers 402 with this reason (as a server without a payment store would answer
    /// a payment it settled before: "already used", "already paid").
    Refuse(&'static str),
    /// Does not pass it on; answers 402 with this reason and a `PAYMENT-RESPONSE` saying the payment was
    /// settled before (as a paywall that lost its store answers, from its facilitator's ledger).
    SettledBefore(&'static str),
}

/// A proxy in front of the paywall.
#[derive(Debug, Default)]
pub(crate) struct Proxy {
    /// The `PAYMENT-SIGNATURE` of every paid request, in order.
    pub(crate) payments: Mutex<Vec<String>>,
    /// What happens to the next paid requests; then they are forwarded.
    pub(crate) plan: Mutex<VecDeque<Fate>>,
    /// Declares x402 `payment-identifier` in 402s and keeps answers by payment id, answering a payment id
    /// seen before from its store (409 for another payload under the same id).
    pub(crate) store: Option<Mutex<HashMap<String, (String, StoredAnswer)>>>,
    /// Speaks x402 v1 only, as a server written for v1 does: the v2 headers (`PAYMENT-REQUIRED`,
    /// `PAYMENT-RESPONSE`) are taken out of answers, and a v2 payment (`PAYMENT-SIGNATURE`) is answered 400.
    pub(crate) v1_only: bool,
}

/// An answer kept by payment id.
#[derive(Debug, Clone)]
pub(crate) struct StoredAnswer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl StoredAnswer {
    fn response(&self) -> Response {
        let mut response = Response::new(Body::from(self.body.clone()));
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers.clone();
        response
    }
}

impl Proxy {
    /// A proxy that will treat the next paid requests as `plan` says.
    pub(crate) fn with_plan(plan: impl IntoIterator<Item = Fate>) -> Arc<Self> {
        Arc::new(Self { plan: Mutex::new(plan.into_iter().collect()), ..Self::default() })
    }

    /// The same, keeping answers by payment id.
    pub(crate) fn with_store(plan: impl IntoIterator<Item = Fate>) -> Arc<Self> {
        Arc::new(Self {
            plan: Mutex::new(plan.into_iter().collect()),
            store: Some(Mutex::default()),
            ..Self::default()
        })
    }

    /// A v1-only server (see [`Proxy::v1_only`]) that will treat the next paid requests as `plan` says.
    pub(crate) fn v1_only(plan: impl IntoIterator<Item = Fate>) -> Arc<Self> {
        Arc::new(Self { plan: Mutex::new(plan.into_iter().collect()), v1_only: true, ..Self::default() })
    }

    /// The payments it saw, decoded.
    pub(crate) fn seen(&self) -> Vec<PaymentPayload> {
        self.payments.lock().expect("the lock").iter().map(|header| decode_header(header).expect("a payment")).collect()
    }

    /// How many different payments it saw.
    pub(crate) fn distinct(&self) -> usize {
        let mut headers = self.payments.lock().expect("the lock").clone();
        headers.sort();
        headers.dedup();
        headers.len()
    }
}

/// Starts `proxy` on `front`, passing requests to `upstream`.
pub(crate) fn start_proxy(proxy: Arc<Proxy>, front: tokio::net::TcpListener, upstream: String) {
    let app = Router::new().fallback(relay).with_state((proxy, upstream, reqwest::Client::new()));
    tokio::spawn(async move { axum::serve(front, app).await });
}

type ProxyState = (Arc<Proxy>, String, reqwest::Client);

async fn relay(State((proxy, upstream, http)): State<ProxyState>, request: Request) -> Response {
    if proxy.v1_only && request.headers().contains_key(PAYMENT_SIGNATURE) {
        return (StatusCode::BAD_REQUEST, "this server speaks x402 v1").into_response();
    }
    let payment_header = if proxy.v1_only { X_PAYMENT } else { PAYMENT_SIGNATURE };
    let paid = request.headers().get(payment_header).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let fate = match &paid {
        Some(header) => {
            proxy.payments.lock().expect("the lock").push(header.clone());
            proxy.plan.lock().expect("the lock").pop_front().unwrap_or(Fate::Forward)
        }
        None => Fate::Forward,
    };
    let id = paid
        .as_deref()
        .and_then(|h| decode_header::<PaymentPayload>(h).ok())
        .and_then(|p| payment_identifier::payment_id(&p, false).ok().flatten());
    if let (Some(store), Some(id), Some(header)) = (&proxy.store, &id, &paid) {
        let stored = store.lock().expect("the lock").get(id).cloned();
        match stored {
            Some((payload, answer)) if payload == *header => return answer.response(),
            Some(_) => return StatusCode::CONFLICT.into_response(),
            None => {}
        }
    }
    match fate {
        Fate::Stall => return std::future::pending().await,
        Fate::Pending | Fate::Refuse(_) | Fate::SettledBefore(_) => {
            let error = match fate {
                Fate::Refuse(reason) | Fate::SettledBefore(reason) => reason,
                _ => "settlement_pending",
            };
            if proxy.v1_only {
                let body = json!({"x402Version": 1, "error": error, "accepts": []});
                return (StatusCode::PAYMENT_REQUIRED, Json(body)).into_response();
            }
            let required = PaymentRequired {
                x402_version: 2,
                error: Some(error.into()),
                resource: ResourceInfo { url: request.uri().to_string(), description: None, mime_type: None },
                accepts: Vec::new(),
                extensions: None,
            };
            let mut response = StatusCode::PAYMENT_REQUIRED.into_response();
            let headers = response.headers_mut();
            headers.insert(PAYMENT_REQUIRED, HeaderValue::from_str(&encode_header(&required)).expect("a header"));
            if fate == Fate::Pending {
                headers.insert("retry-after", HeaderValue::from_static("1"));
            }
            if let Fate::SettledBefore(reason) = fate {
                let settled: SettleResponse = serde_json::from_value(json!({
                    "success": false, "errorReason": reason, "transaction": format!("0x{}", "ab".repeat(32)),
                    "network": "eip155:31337", "extra": {"settledBefore": true},
                }))
                .expect("a settlement response");
                headers.insert(PAYMENT_RESPONSE, HeaderValue::from_str(&encode_header(&settled)).expect("a header"));
            }
            return response;
        }
        Fate::Conflict => return StatusCode::CONFLICT.into_response(),
        Fate::Forward | Fate::LoseAnswer | Fate::Hang => {}
    }
    let answer = match forward(&http, &upstream, request).await {
        Ok(answer) => answer,
        Err(err) => return (StatusCode::BAD_GATEWAY, err.to_string()).into_response(),
    };
    let mut answer = if proxy.store.is_some() { declare_payment_id(answer) } else { answer };
    if proxy.v1_only {
        answer.headers.remove(PAYMENT_REQUIRED);
        answer.headers.remove(PAYMENT_RESPONSE);
    }
    if let (Some(store), Some(id), Some(header)) = (&proxy.store, id, &paid) {
        store.lock().expect("the lock").insert(id, (header.clone(), answer.clone()));
    }
    match fate {
        Fate::LoseAnswer => (StatusCode::BAD_GATEWAY, "the answer was lost").into_response(),
        Fate::Hang => std::future::pending().await,
        _ => answer.response(),
    }
}

/// Passes `request` on to `upstream` and reads the whole answer.
async fn forward(http: &reqwest::Client, upstream: &str, request: Request) -> eyre::Result<StoredAnswer> {
    let path = request.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/").to_owned();
    let mut outgoing = http.request(request.method().clone(), format!("{upstream}{path}"));
    for (name, value) in request.headers() {
        if name != "host" {
            outgoing = outgoing.header(name, value);
        }
    }
    let answer = outgoing.send().await?;
    let status = answer.status();
    let mut headers = answer.headers().clone();
    headers.remove("content-length");
    headers.remove("transfer-encoding");
    let body = answer.bytes().await?;
    Ok(StoredAnswer { status, headers, body })
}

/// Adds the `payment-identifier` declaration to a 402's offer.
fn declare_payment_id(mut answer: StoredAnswer) -> StoredAnswer {
    let Some(mut offer) = answer
        .headers
        .get(PAYMENT_REQUIRED)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| decode_header::<PaymentRequired>(v).ok())
    else {
        return answer;
    };
    offer
        .extensions
        .get_or_insert_with(Default::default)
        .insert(payment_identifier::PAYMENT_IDENTIFIER.into(), payment_identifier::declare(false));
    if let Ok(value) = HeaderValue::from_str(&encode_header(&offer)) {
        answer.headers.insert(PAYMENT_REQUIRED, value);
    }
    answer
}
