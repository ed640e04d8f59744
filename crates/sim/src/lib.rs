#![doc = include_str!("../README.md")]

mod report;
mod scenario;

pub use report::{Jobs, Outcome, Party, Report, Transaction};
pub use scenario::Scenario;

use alloy::{
    primitives::{Address, B256, Bytes, U256, aliases::U48, keccak256},
    signers::local::PrivateKeySigner,
    sol_types::{SolCall, SolEvent, SolInterface},
};
use axum::{
    Json, Router,
    extract::{Request, State},
    http::{HeaderMap, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use quittance_agent::{Agent, AgentError, Budget, ChainFunds, Policy, PolicyRefusal, SpendRecord};
use quittance_bindings::{
    PaymentEscrow::{self, PaymentEscrowErrors},
    TestStablecoin::{self, TestStablecoinErrors},
    payment_escrow::IPaymentEscrow::PaymentTerms,
};
use quittance_chain::{Chain, ChainError, DevChain, Receipt, Sender};
use quittance_facilitator::{Facilitator, SettleConfig, SqliteLedger};
use quittance_paywall::{InvoiceIssuer, Paywall, Price};
use quittance_x402::{Ambient, PAYMENT_SIGNATURE, escrow};
use report::{Jobs as JobTally, Outcome as Tally};
use scenario::Rng;
use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

/// Why a simulation could not run (what it finds wrong is in the report, not here).
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The scenario is not runnable.
    #[error("{0}")]
    Scenario(String),
    /// The chain failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The contracts could not be deployed.
    #[error("deployment failed: {0}")]
    Deploy(String),
    /// The facilitator, the paywall's server, an agent or their storage failed.
    #[error("{0}")]
    Service(String),
}

/// Seconds a late payment is held back: past both the authorization (120 s) and the invoice (300 s).
const LATE_BY: u64 = 301;
/// The request header that makes the simulation's network deliver a payment late.
const LATE: &str = "x-simulation-late";
/// The request header that makes the simulation's handler fail.
const FAIL: &str = "x-simulation-fail";
/// The endpoints' origin, resolved to the loopback listener.
const ORIGIN: &str = "endpoints.simulation";
/// Mixed into the seed for the stream of nonces and salts, apart from the stream of choices.
const NONCE_STREAM: u64 = 0x6e6f_6e63_6573_2121;
/// The escrow fee of a captured job, in basis points (also its terms' maximum).
const JOB_FEE_BPS: u16 = 100;

/// A deterministic key for `role` number `index` of a run with `seed`.
fn key(seed: u64, role: &str, index: u32) -> PrivateKeySigner {
    PrivateKeySigner::from_bytes(&keccak256(format!("quittance simulation {seed} {role} {index}")))
        .expect("a keccak digest is a valid secp256k1 key but with negligible probability")
}

/// The chain's clock as the simulation moves it, readable without `await` (for the paywall and agents).
#[derive(Clone)]
struct Clock<C> {
    chain: C,
    now: Arc<AtomicU64>,
}

impl<C: DevChain> Clock<C> {
    async fn advance(&self, seconds: u64) -> Result<(), ChainError> {
        self.chain.advance(seconds).await?;
        self.now.fetch_add(seconds, Ordering::SeqCst);
        Ok(())
    }
}

/// The simulated network: delivers a payment late when the request asks for it.
async fn network<C: DevChain + Clone + 'static>(
    State(clock): State<Clock<C>>,
    request: Request,
    next: Next,
) -> Response {
    if request.headers().contains_key(PAYMENT_SIGNATURE)
        && request.headers().contains_key(LATE)
        && let Err(err) = clock.advance(LATE_BY).await
    {
        return (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response();
    }
    next.run(request).await
}

/// An endpoint's handler: fails when the request asks for it.
async fn handler(headers: HeaderMap) -> Response {
    if headers.contains_key(FAIL) {
        return (StatusCode::INTERNAL_SERVER_ERROR, "the handler failed").into_response();
    }
    Json(serde_json::json!({"result": "done"})).into_response()
}

/// Books kept by the simulation: what each party should have gained (negative: lost).
#[derive(Default)]
struct Books(BTreeMap<Address, i128>);

impl Books {
    fn pay(&mut self, from: Address, to: Address, amount: u64) {
        *self.0.entry(from).or_default() -= i128::from(amount);
        *self.0.entry(to).or_default() += i128::from(amount);
    }
}

/// An escrow or token error's name, from revert data.
fn error_name(data: &Bytes) -> String {
    let debug = if let Ok(err) = PaymentEscrowErrors::abi_decode(data) {
        format!("{err:?}")
    } else if let Ok(err) = TestStablecoinErrors::abi_decode(data) {
        format!("{err:?}")
    } else {
        return format!("revert 0x{}", alloy::hex::encode(data.get(..4).unwrap_or_default()));
    };
    debug.split(['(', ' ', '{']).next().unwrap_or_default().to_owned()
}

fn policy_kind(refusal: &PolicyRefusal) -> &'static str {
    match refusal {
        PolicyRefusal::Network(_) => "policy:network",
        PolicyRefusal::Asset(_) => "policy:asset",
        PolicyRefusal::Host(_) => "policy:host",
        PolicyRefusal::Scheme(_) => "policy:scheme",
        PolicyRefusal::Amount(_) => "policy:amount",
        PolicyRefusal::PerRequest { .. } => "policy:per_request",
        PolicyRefusal::PerHost { .. } => "policy:per_host",
        PolicyRefusal::Total { .. } => "policy:total",
        PolicyRefusal::Deposit { .. } => "policy:deposit",
        PolicyRefusal::Funds { .. } => "policy:funds",
    }
}

fn service(err: impl std::fmt::Display) -> SimError {
    SimError::Service(err.to_string())
}

async fn balance<C: Chain>(chain: &C, token: Address, account: Address) -> Result<u128, SimError> {
    let held = quittance_chain::read(chain, token, TestStablecoin::balanceOfCall { account }).await?;
    held.try_into().map_err(|_| SimError::Service(format!("a balance of {held} does not fit 128 bits")))
}

/// Runs `scenario` on `chain` (a fresh chain: the simulation deploys the contracts itself), calling
/// `progress(done, total)` after each step, and reports what happened.
pub async fn run<C: DevChain + Clone + std::fmt::Debug + 'static>(
    chain: C,
    chain_name: &str,
    scenario: &Scenario,
    mut progress: impl FnMut(u32, u32),
) -> Result<Report, SimError> {
    scenario.check().map_err(SimError::Scenario)?;
    let s = scenario;
    let mut rng = Rng::new(s.seed);
    chain.hold_clock().await?;
    let clock = Clock { chain: chain.clone(), now: Arc::new(AtomicU64::new(chain.timestamp().await?)) };
    let nonces = Arc::new(Mutex::new(Rng::new(s.seed ^ NONCE_STREAM)));
    let ambient = {
        let (now, nonces) = (clock.now.clone(), nonces.clone());
        Ambient::new(
            move || now.load(Ordering::SeqCst),
            move || nonces.lock().map(|mut rng| rng.b256()).unwrap_or_default(),
        )
    };

    // The parties, with ether for those that send transactions.
    let deployer = key(s.seed, "deployer", 0);
    let facilitator_key = key(s.seed, "facilitator", 0);
    let operator = key(s.seed, "operator", 0);
    let agents: Vec<PrivateKeySigner> = (0..s.agents).map(|i| key(s.seed, "agent", i)).collect();
    let payees: Vec<PrivateKeySigner> = (0..s.endpoints).map(|i| key(s.seed, "payee", i)).collect();
    let sellers: Vec<PrivateKeySigner> = (0..s.endpoints).map(|i| key(s.seed, "seller", i)).collect();
    let ether = U256::from(10u64).pow(U256::from(22));
    for account in [&deployer, &facilitator_key, &operator].into_iter().chain(&payees) {
        chain.set_balance(account.address(), ether).await?;
    }
    let manifest = quittance_deploy::deploy(&chain, &deployer, deployer.address(), &[], |_| {})
        .await
        .map_err(|e| SimError::Deploy(e.to_string()))?;
    let contract = |name: &str| manifest.address(name).ok_or_else(|| SimError::Deploy(format!("no {name}")));
    let (token, registry, escrow) =
        (contract("TestStablecoin")?, contract("InvoiceRegistry")?, contract("PaymentEscrow")?);
    let chain_id = chain.chain_id().await?;

    // Funds: the poor agents first; payees let the escrow take their refunds.
    let mut owner = Sender::new(&chain, &deployer).await?;
    for (i, agent) in agents.iter().enumerate() {
        let funds = if (i as u32) < s.poor_agents { 3 * s.max_price } else { s.agent_funds };
        let mint = TestStablecoin::mintCall { to: agent.address(), amount: U256::from(funds) };
        owner.send(token, mint.abi_encode().into()).await?;
    }
    let mut payee_senders = Vec::new();
    for payee in &payees {
        let mut sender = Sender::new(&chain, payee).await?;
        if s.job_permille > 0 {
            let approve = TestStablecoin::approveCall { spender: escrow, value: U256::MAX };
            sender.send(token, approve.abi_encode().into()).await?;
        }
        payee_senders.push(sender);
    }
    let mut operator_sender = Sender::new(&chain, &operator).await?;

    // The facilitator, and the endpoints behind the paywall on loopback.
    let ledger = SqliteLedger::in_memory().map_err(service)?;
    let config = SettleConfig {
        receipt_timeout: Duration::from_secs(30),
        poll_interval: Duration::from_millis(20),
        ..SettleConfig::default()
    };
    let facilitator = Arc::new(
        Facilitator::new(chain.clone(), facilitator_key.clone(), Arc::new(ledger), config).await.map_err(service)?,
    );
    // The endpoints' origin is a fixed name (invoices commit to their resource's URL, so a port that
    // changes from run to run would change the calldata); the agents resolve it to the loopback listener.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(service)?;
    let base = format!("http://{ORIGIN}");
    let http =
        reqwest::Client::builder().resolve(ORIGIN, listener.local_addr().map_err(service)?).build().map_err(service)?;
    let paywall = Paywall::new(facilitator.clone(), base.clone()).with_ambient(ambient.clone());
    let prices: Vec<u64> = (0..s.endpoints).map(|_| s.min_price + rng.below(s.max_price - s.min_price + 1)).collect();
    let mut app = Router::new();
    for (i, &amount) in prices.iter().enumerate() {
        let price = Price {
            network: facilitator.network().into(),
            asset: token,
            asset_name: "USD Coin".into(),
            asset_version: "2".into(),
            amount: U256::from(amount),
            pay_to: payees[i].address(),
            max_timeout_seconds: 120,
            description: format!("endpoint {i}"),
            mime_type: "application/json".into(),
            invoices: (i % 2 == 0).then(|| InvoiceIssuer {
                registry,
                signer: sellers[i].clone(),
                validity_seconds: 300,
            }),
            settle_before_serving: false,
            channels: None,
            cross_chain: Vec::new(),
        };
        app = app.route(&format!("/api/{i}"), get(handler).layer(paywall.price(price)));
    }
    let app = app.layer(middleware::from_fn_with_state(clock.clone(), network::<C>));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let budget = Budget {
        per_request: U256::from(s.max_price),
        per_host: U256::from(s.budget / 2),
        period: Duration::from_secs(3600),
        total: U256::from(s.budget),
    };
    let policy = Policy {
        budgets: BTreeMap::from([(token, budget)]),
        networks: vec![facilitator.network().into()],
        hosts: None,
        channel_requests: 0,
    };
    // The agents read their payments from the chain (a payment in doubt is concluded there), not their
    // balances: a short balance is learned from the server's refusal, as the scenario counts it.
    let funds = Arc::new(ChainFunds::new().with(facilitator.network(), chain.clone()).without_balances());
    let mut paying = Vec::new();
    for agent in &agents {
        let record = Arc::new(SpendRecord::in_memory().map_err(service)?);
        paying.push(
            Agent::new(agent.clone(), policy.clone(), record)
                .with_ambient(ambient.clone())
                .with_http(http.clone())
                .with_funds(funds.clone()),
        );
    }

    // Everyone's balance before the first step.
    let mut parties: Vec<(String, Address)> = Vec::new();
    parties.extend(agents.iter().enumerate().map(|(i, a)| (format!("agent {i}"), a.address())));
    parties.extend(payees.iter().enumerate().map(|(i, p)| (format!("payee {i}"), p.address())));
    parties.push(("operator".into(), operator.address()));
    parties.push(("escrow".into(), escrow));
    parties.push(("registry".into(), registry));
    parties.push(("facilitator".into(), facilitator_key.address()));
    let mut start = Vec::new();
    for (_, address) in &parties {
        start.push(balance(&chain, token, *address).await?);
    }

    let mut tally = Tally::default();
    let mut books = Books::default();
    let mut x402_paid = vec![0u64; agents.len()];
    let mut receipts: Vec<(String, Receipt)> = Vec::new();
    let started = Instant::now();
    let first = clock.now.load(Ordering::SeqCst);
    for step in 0..s.steps {
        let pause = rng.below(s.max_seconds_between + 1);
        if pause > 0 {
            clock.advance(pause).await?;
        }
        let a = rng.below(agents.len() as u64) as usize;
        let e = rng.below(prices.len() as u64) as usize;
        if rng.chance(s.job_permille) {
            let now = clock.now.load(Ordering::SeqCst);
            let job = Job {
                terms: PaymentTerms {
                    operator: operator.address(),
                    payer: agents[a].address(),
                    payee: payees[e].address(),
                    token,
                    maxAmount: U256::from(prices[e] * s.job_price_multiple),
                    preApprovalExpiry: U48::from(now + 600),
                    authorizationExpiry: U48::from(now + 3600),
                    refundExpiry: U48::from(now + 86_400),
                    maxFeeBps: JOB_FEE_BPS,
                    feeReceiver: operator.address(),
                    salt: rng.b256(),
                    invoiceId: B256::ZERO,
                },
                amount: prices[e] * s.job_price_multiple,
                fate: rng.below(100),
            };
            let (tally, books, receipts) = (&mut tally.jobs, &mut books, &mut receipts);
            let payee = &mut payee_senders[e];
            job.run(chain_id, escrow, &agents[a], &mut operator_sender, payee, tally, books, receipts).await?;
        } else {
            let late = rng.chance(s.late_permille);
            let fail = rng.chance(s.handler_error_permille);
            let mut request = http.get(format!("{base}/api/{e}"));
            if late {
                request = request.header(LATE, "1");
            }
            if fail {
                request = request.header(FAIL, "1");
            }
            tally.requests += 1;
            match paying[a].send(request.build().map_err(service)?).await {
                Ok(paid) if paid.response.status() == StatusCode::OK => {
                    let (Some(receipt), Some(payment)) = (paid.receipt, paid.payment) else {
                        tally.mismatches.push(format!("step {step}: served without a settled payment"));
                        continue;
                    };
                    let hash: B256 = receipt.transaction.parse().map_err(service)?;
                    let mined = chain.receipt(hash).await?.ok_or_else(|| service("a settlement has no receipt"))?;
                    receipts.push((format!("settle {}", payment.accepted.scheme), mined));
                    *tally.paid.entry(payment.accepted.scheme).or_default() += 1;
                    books.pay(agents[a].address(), payees[e].address(), prices[e]);
                    x402_paid[a] += prices[e];
                }
                Ok(paid) if paid.response.status() == StatusCode::INTERNAL_SERVER_ERROR && fail => {
                    tally.handler_errors += 1
                }
                Ok(paid) => *tally.refused.entry(format!("http {}", paid.response.status().as_u16())).or_default() += 1,
                Err(AgentError::Refused(reason)) => *tally.refused.entry(reason.as_str().to_owned()).or_default() += 1,
                Err(AgentError::Policy(refusals)) => {
                    let kind = refusals.first().map(policy_kind).unwrap_or("policy:none");
                    *tally.refused.entry(kind.to_owned()).or_default() += 1
                }
                Err(err) => return Err(service(format!("step {step}: agent {a}: {err}"))),
            }
        }
        progress(step + 1, s.steps);
    }
    let elapsed_ms = started.elapsed().as_millis() as u64;
    tally.chain_seconds = clock.now.load(Ordering::SeqCst) - first;
    server.abort();

    // Reconcile: balances, Transfer events, books; and each agent's spend record.
    let mut by_events: BTreeMap<Address, i128> = BTreeMap::new();
    for (_, receipt) in &receipts {
        for log in receipt.logs.iter().filter(|l| l.address == token) {
            if let Ok(transfer) = TestStablecoin::Transfer::decode_log(log) {
                let value = i128::try_from(transfer.value).map_err(service)?;
                *by_events.entry(transfer.from).or_default() -= value;
                *by_events.entry(transfer.to).or_default() += value;
            }
        }
    }
    for ((role, address), start) in parties.into_iter().zip(start) {
        let party = Party {
            role,
            address,
            start,
            end: balance(&chain, token, address).await?,
            by_events: by_events.remove(&address).unwrap_or_default(),
            by_books: books.0.remove(&address).unwrap_or_default(),
        };
        if party.change() != party.by_events || party.change() != party.by_books {
            tally.mismatches.push(format!(
                "{}: the balance changed by {}, the events say {}, the books {}",
                party.role,
                party.change(),
                party.by_events,
                party.by_books
            ));
        }
        tally.parties.push(party);
    }
    for (address, amount) in by_events.into_iter().chain(books.0).filter(|(_, amount)| *amount != 0) {
        tally.mismatches.push(format!("{address} moved {amount} but is no party of the simulation"));
    }
    for (i, agent) in paying.iter().enumerate() {
        let recorded = agent.record().settled_total(token).map_err(service)?;
        if recorded != U256::from(x402_paid[i]) {
            tally
                .mismatches
                .push(format!("agent {i}: its spend record says {recorded} settled, the run paid {}", x402_paid[i]));
        }
    }
    tally.transactions =
        receipts.into_iter().map(|(kind, r)| Transaction { kind, gas_used: r.gas_used, logs: r.logs.len() }).collect();
    Ok(Report { scenario: scenario.clone(), chain: chain_name.into(), outcome: tally, elapsed_ms })
}

/// A job paid through the escrow.
struct Job {
    terms: PaymentTerms,
    amount: u64,
    /// 0..70 capture, 70..85 void, 85..100 capture then refund half.
    fate: u64,
}

impl Job {
    #[allow(clippy::too_many_arguments)]
    async fn run<C: Chain>(
        self,
        chain_id: u64,
        escrow: Address,
        agent: &PrivateKeySigner,
        operator: &mut Sender<'_, C>,
        payee: &mut Sender<'_, C>,
        tally: &mut JobTally,
        books: &mut Books,
        receipts: &mut Vec<(String, Receipt)>,
    ) -> Result<(), SimError> {
        let valid_before: u64 = self.terms.preApprovalExpiry.to();
        let offline: escrow::PaymentTerms = quittance_bindings::relayout(&self.terms);
        let amount = U256::from(self.amount);
        let data =
            escrow::sign_authorization(&offline, amount, 0, valid_before, chain_id, escrow, "USD Coin", "2", agent)
                .map_err(service)?;
        let authorize = PaymentEscrow::authorizeCall {
            terms: self.terms.clone(),
            amount,
            method: 0, // Method.Authorization
            data,
        };
        match operator.send(escrow, authorize.abi_encode().into()).await {
            Ok(receipt) => receipts.push(("escrow authorize".into(), receipt)),
            Err(ChainError::Reverted { data }) => {
                *tally.refused.entry(error_name(&data)).or_default() += 1;
                return Ok(());
            }
            Err(err) => return Err(err.into()),
        }
        tally.authorized += 1;
        let (payer, to, fee_receiver) = (agent.address(), self.terms.payee, operator.address());
        books.pay(payer, escrow, self.amount);
        if (70..85).contains(&self.fate) {
            let void = PaymentEscrow::voidCall { terms: self.terms };
            receipts.push(("escrow void".into(), operator.send(escrow, void.abi_encode().into()).await?));
            books.pay(escrow, payer, self.amount);
            tally.voided += 1;
            return Ok(());
        }
        let fee = self.amount * u64::from(JOB_FEE_BPS) / 10_000;
        let capture = PaymentEscrow::captureCall {
            terms: self.terms.clone(),
            amount: U256::from(self.amount),
            fee: U256::from(fee),
            feeReceiver: fee_receiver,
        };
        receipts.push(("escrow capture".into(), operator.send(escrow, capture.abi_encode().into()).await?));
        books.pay(escrow, to, self.amount - fee);
        books.pay(escrow, fee_receiver, fee);
        if self.fate < 70 {
            tally.captured += 1;
            return Ok(());
        }
        let refunded = self.amount / 2;
        let refund = PaymentEscrow::refundCall { terms: self.terms, amount: U256::from(refunded) };
        receipts.push(("escrow refund".into(), payee.send(escrow, refund.abi_encode().into()).await?));
        books.pay(to, payer, refunded);
        tally.refunded += 1;
        Ok(())
    }
}
