//! The demo: the whole x402 loop on a fresh local chain. A seller puts a paywall in front of an API; an agent
//! with tokens but no ether asks for it, gets `402 Payment Required` with a seller-signed invoice, checks
//! it, pays it within its policy, retries with the proof, and is served; the facilitator settles the
//! payment through the invoice registry, whose record is the proof anyone can check.

use alloy::{
    primitives::{Address, B256, U256, keccak256},
    signers::local::PrivateKeySigner,
    sol_types::SolCall,
};
use axum::{Json, Router, routing::get};
use quittance_agent::{Agent, Budget, Policy, SpendRecord};
use quittance_bindings::{InvoiceRegistry, TestStablecoin};
use quittance_chain::{
    Chain, ChainError, DevChain, RpcChain,
    anvil::{AnvilError, spawn_anvil},
    revm::RevmChain,
};
use quittance_facilitator::{Facilitator, FacilitatorError, SettleConfig, SqliteLedger};
use quittance_paywall::{InvoiceIssuer, Paywall, Price};
use quittance_x402::{PAYMENT_SIGNATURE, encode_header};
use std::{collections::BTreeMap, sync::Arc, time::Duration};

/// The price of the demo's resource: one cent, in the token's 6-decimal units.
const PRICE: u64 = 10_000;

/// Errors of the demo.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The local chain could not be started.
    #[error(transparent)]
    Anvil(#[from] AnvilError),
    /// The chain failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The facilitator could not start.
    #[error(transparent)]
    Facilitator(#[from] FacilitatorError),
    /// The agent failed.
    #[error(transparent)]
    Agent(#[from] quittance_agent::AgentError),
    /// The spend record or ledger failed.
    #[error("{0}")]
    Storage(String),
    /// The local server failed.
    #[error("local server: {0}")]
    Io(#[from] std::io::Error),
    /// Something did not happen as it should.
    #[error("unexpected outcome: {0}")]
    Unexpected(String),
}

/// What happened in the demo, for printing and for tests.
#[derive(Debug, Clone)]
pub struct DemoReport {
    /// The chain id of the local chain.
    pub chain_id: u64,
    /// The URL the agent bought.
    pub url: String,
    /// The paying agent.
    pub agent: Address,
    /// The seller's payee address.
    pub payee: Address,
    /// The schemes the 402 offered.
    pub offered: Vec<String>,
    /// The scheme the agent paid.
    pub paid_with: String,
    /// The invoice paid.
    pub invoice_id: B256,
    /// The settlement transaction.
    pub transaction: String,
    /// The registry's record of the invoice: (payer, paid at).
    pub proof: (Address, u64),
    /// Token balances of (agent, payee) before and after.
    pub balances: [(U256, U256); 2],
    /// How many transactions the agent sent (none: the facilitator pays the gas).
    pub agent_transactions: u64,
    /// What the served resource said.
    pub body: serde_json::Value,
    /// The paywall's answer to the same payment sent again (a lost answer, recovered): its status and body,
    /// and the balances of (agent, payee) after it.
    pub replay: (u16, serde_json::Value, (U256, U256)),
}

/// A deterministic demo key, so the demo prints the same addresses every time.
fn demo_signer(role: &str) -> PrivateKeySigner {
    PrivateKeySigner::from_bytes(&keccak256(format!("quittance demo {role}")))
        .expect("a keccak digest of a fixed string is a valid secp256k1 key")
}

/// Formats a 6-decimal token amount as dollars.
pub fn format_usd(amount: U256) -> String {
    let units = U256::from(1_000_000u64);
    format!("{}.{:06}", amount / units, (amount % units).to::<u64>())
}

/// Where the demo runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DemoChain {
    /// In this process, on revm: nothing to start (the default).
    #[default]
    InProcess,
    /// On a fresh anvil.
    Anvil,
}

/// What the demo funds the agent with, in the token's units (the deployment gives each funded account
/// this much).
const AGENT_FUNDS: u64 = quittance_deploy::FUNDING;

/// Runs the demo on a fresh chain, telling `say` what happens in plain words.
pub async fn run(on: DemoChain, say: impl FnMut(&str)) -> Result<DemoReport, DemoError> {
    let deployer = demo_signer("deployer");
    let facilitator_key = demo_signer("facilitator");
    match on {
        DemoChain::InProcess => {
            let chain = RevmChain::new(31337, now());
            for account in [deployer.address(), facilitator_key.address()] {
                chain.set_balance(account, U256::from(10u64).pow(U256::from(20))).await?;
            }
            run_on(chain, "an in-process chain (revm)", deployer, facilitator_key, say).await
        }
        DemoChain::Anvil => {
            let anvil = spawn_anvil()?;
            let deployer = PrivateKeySigner::from(anvil.keys()[0].clone());
            let facilitator_key = PrivateKeySigner::from(anvil.keys()[1].clone());
            run_on(RpcChain::http(anvil.endpoint_url()), "anvil", deployer, facilitator_key, say).await
        }
    }
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

/// Reads a view function through the chain.
async fn read<C: Chain, T: SolCall>(chain: &C, to: Address, call: T) -> Result<T::Return, DemoError> {
    Ok(quittance_chain::read(chain, to, call).await?)
}

async fn run_on<C: DevChain + Clone + 'static>(
    chain: C,
    name: &str,
    deployer: PrivateKeySigner,
    facilitator_key: PrivateKeySigner,
    mut say: impl FnMut(&str),
) -> Result<DemoReport, DemoError> {
    let chain_id = chain.chain_id().await?;
    let seller = demo_signer("seller");
    let payee = demo_signer("payee").address();
    let agent_key = demo_signer("agent");
    say(&format!("Started a local chain: {name}, chain id {chain_id}."));
    quittance_deploy::install_permit2(&chain).await.map_err(|e| DemoError::Unexpected(e.to_string()))?;
    say(&format!(
        "Installed Permit2 at {} and x402's Permit2 proxies at their canonical addresses.",
        quittance_deploy::PERMIT2
    ));

    let manifest = quittance_deploy::deploy(&chain, &deployer, deployer.address(), &[agent_key.address()], |_| {})
        .await
        .map_err(|e| DemoError::Unexpected(e.to_string()))?;
    let token = manifest.address("TestStablecoin").ok_or_else(|| DemoError::Unexpected("no token".into()))?;
    let registry = manifest.address("InvoiceRegistry").ok_or_else(|| DemoError::Unexpected("no registry".into()))?;
    say(&format!(
        "Deployed Quittance's contracts at their CREATE2 addresses (a USDC look-alike at {token}, the invoice registry at {registry}); gave the agent {} USDC and no ether.",
        format_usd(U256::from(AGENT_FUNDS))
    ));

    // The facilitator and the seller's paid API.
    let ledger = SqliteLedger::in_memory().map_err(|e| DemoError::Storage(e.to_string()))?;
    let facilitator =
        Arc::new(Facilitator::new(chain.clone(), facilitator_key, Arc::new(ledger), SettleConfig::default()).await?);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let price = Price {
        network: facilitator.network().into(),
        asset: token,
        asset_name: "USD Coin".into(),
        asset_version: "2".into(),
        amount: U256::from(PRICE),
        pay_to: payee,
        max_timeout_seconds: 120,
        description: "Today's market report".into(),
        mime_type: "application/json".into(),
        invoices: Some(InvoiceIssuer { registry, signer: seller.clone(), validity_seconds: 600 }),
        settle_before_serving: false,
        channels: None,
        cross_chain: Vec::new(),
    };
    let paywall = Paywall::new(facilitator.clone(), base.clone());
    let app = Router::new().route(
        "/report",
        get(|| async { Json(serde_json::json!({"report": "markets are up", "price_usd": "0.01"})) })
            .layer(paywall.price(price)),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let url = format!("{base}/report");
    say(&format!("The seller serves {url} behind a paywall: one cent per call, settled by an in-process facilitator."));

    // What an unpaid request gets.
    let http = reqwest::Client::new();
    let unpaid = http.get(&url).send().await.map_err(|e| DemoError::Unexpected(e.to_string()))?;
    let offer: quittance_x402::PaymentRequired = unpaid
        .headers()
        .get(quittance_x402::PAYMENT_REQUIRED)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| quittance_x402::decode_header(v).ok())
        .ok_or_else(|| DemoError::Unexpected("the paywall did not answer 402 with an offer".into()))?;
    let offered: Vec<String> = offer.accepts.iter().map(|o| o.scheme.clone()).collect();
    say(&format!(
        "Without payment the API answers {} with two ways to pay: {}. The `invoice` option carries an invoice signed by the seller.",
        unpaid.status(),
        offered.join(" and ")
    ));

    let balances = async || -> Result<(U256, U256), DemoError> {
        Ok((
            read(&chain, token, TestStablecoin::balanceOfCall { account: agent_key.address() }).await?,
            read(&chain, token, TestStablecoin::balanceOfCall { account: payee }).await?,
        ))
    };
    let before = balances().await?;
    let policy = Policy {
        budgets: BTreeMap::from([(
            token,
            Budget {
                per_request: U256::from(50_000u64),
                per_host: U256::from(1_000_000u64),
                period: Duration::from_secs(3600),
                total: U256::from(2_000_000u64),
            },
        )]),
        networks: vec![facilitator.network().into()],
        hosts: None,
        channel_requests: 0,
    };
    let record = SpendRecord::in_memory().map_err(|e| DemoError::Storage(e.to_string()))?;
    let agent = Agent::new(agent_key.clone(), policy, Arc::new(record));
    say("The agent's policy: at most 0.05 USDC a request, 1 USDC an hour per host, 2 USDC in all.");

    let paid = agent.get(&url).await?;
    let receipt = paid.receipt.ok_or_else(|| DemoError::Unexpected("no receipt came back".into()))?;
    let payment = paid.payment.ok_or_else(|| DemoError::Unexpected("nothing was paid".into()))?;
    if !receipt.success {
        return Err(DemoError::Unexpected(format!("settlement failed: {receipt:?}")));
    }
    let invoice_id: B256 = receipt
        .extra
        .as_ref()
        .and_then(|e| e.get("invoiceId"))
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .ok_or_else(|| DemoError::Unexpected("the receipt names no invoice".into()))?;
    say(&format!(
        "The agent checked the seller's signature and terms, signed an EIP-3009 authorization to the registry for exactly {} USDC with the invoice id {invoice_id} as nonce, and retried.",
        format_usd(U256::from(PRICE))
    ));
    let status = paid.response.status();
    let body: serde_json::Value = paid.response.json().await.map_err(|e| DemoError::Unexpected(e.to_string()))?;
    say(&format!(
        "The facilitator verified it, the API answered {status} with {body}, and the payment settled in transaction {} (gas paid by the facilitator).",
        receipt.transaction
    ));

    let record = read(&chain, registry, InvoiceRegistry::recordOfCall { id: invoice_id }).await?;
    let after = balances().await?;
    say(&format!(
        "Proof: the registry records invoice {invoice_id} as paid by {} at {}; balances agent {} → {} USDC, seller {} → {} USDC.",
        record.payer,
        record.paidAt,
        format_usd(before.0),
        format_usd(after.0),
        format_usd(before.1),
        format_usd(after.1)
    ));

    // The same proof again (as a client whose answer was lost sends it): the same answer, from the paywall's
    // store, and nothing more is charged.
    let replayed = http
        .get(&url)
        .header(PAYMENT_SIGNATURE, encode_header(&payment))
        .send()
        .await
        .map_err(|e| DemoError::Unexpected(e.to_string()))?;
    let status = replayed.status().as_u16();
    let again: serde_json::Value = replayed.json().await.map_err(|e| DemoError::Unexpected(e.to_string()))?;
    let after_replay = balances().await?;
    if again != body || after_replay != after {
        return Err(DemoError::Unexpected(format!("the same payment again was answered {status} {again}")));
    }
    say(&format!(
        "Sending the same payment again (as after a lost answer) gets the same answer from the paywall's store, {status} {again}, and charges nothing more."
    ));

    let agent_transactions = chain.pending_nonce(agent_key.address()).await?;
    Ok(DemoReport {
        chain_id,
        url,
        agent: agent_key.address(),
        payee,
        offered,
        paid_with: payment.accepted.scheme,
        invoice_id,
        transaction: receipt.transaction,
        proof: (record.payer, u64::try_from(record.paidAt).unwrap_or_default()),
        balances: [before, after],
        agent_transactions,
        replay: (status, again, after_replay),
        body,
    })
}
