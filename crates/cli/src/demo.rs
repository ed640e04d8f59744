//! The demo: the whole x402 loop on a fresh local chain. A seller puts a paywall in front of an API; an agent
//! with tokens but no ether asks for it, gets `402 Payment Required` with a seller-signed invoice, checks
//! it, pays it within its policy, retries with the proof, and is served; the facilitator settles the
//! payment through the invoice registry, whose record is the proof anyone can check.

use alloy::{
    network::EthereumWallet,
    primitives::{Address, B256, U256, keccak256},
    providers::{DynProvider, Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};
use axum::{Json, Router, routing::get};
use quittance_agent::{Agent, Budget, Policy, SpendRecord};
use quittance_bindings::{InvoiceRegistry, TestStablecoin};
use quittance_chain::{
    RpcChain,
    anvil::{AnvilError, spawn_anvil},
};
use quittance_facilitator::{Facilitator, FacilitatorError, SettleConfig, SqliteLedger};
use quittance_paywall::{InvoiceIssuer, Paywall, Price};
use quittance_x402::{ErrorReason, PAYMENT_SIGNATURE, encode_header};
use std::{collections::BTreeMap, sync::Arc, time::Duration};

/// The price of the demo's resource: one cent, in the token's 6-decimal units.
const PRICE: u64 = 10_000;
/// What the agent is funded with: five dollars.
const AGENT_FUNDS: u64 = 5_000_000;

/// Errors of the demo.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The local chain could not be started.
    #[error(transparent)]
    Anvil(#[from] AnvilError),
    /// A contract call failed.
    #[error("{0}")]
    Contract(#[from] alloy::contract::Error),
    /// A transaction was not mined.
    #[error("{0}")]
    Pending(#[from] alloy::providers::PendingTransactionError),
    /// The chain failed.
    #[error("{0}")]
    Rpc(#[from] alloy::transports::TransportError),
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
    /// The agent's ether after the payment (it never pays gas).
    pub agent_ether: U256,
    /// What the served resource said.
    pub body: serde_json::Value,
    /// The paywall's answer to the same payment sent again.
    pub replay: ErrorReason,
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

/// Runs the demo on a fresh anvil, telling `say` what happens in plain words.
pub async fn run(mut say: impl FnMut(&str)) -> Result<DemoReport, DemoError> {
    let anvil = spawn_anvil()?;
    let deployer = PrivateKeySigner::from(anvil.keys()[0].clone());
    let facilitator_key = PrivateKeySigner::from(anvil.keys()[1].clone());
    let seller = demo_signer("seller");
    let payee = demo_signer("payee").address();
    let agent_key = demo_signer("agent");
    say(&format!("Started a local chain (anvil, chain id {}).", anvil.chain_id()));

    let rpc: DynProvider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(deployer.clone()))
        .connect_http(anvil.endpoint_url())
        .erased();
    let token =
        TestStablecoin::deploy(rpc.clone(), "USD Coin".into(), "USDC".into(), "2".into(), deployer.address()).await?;
    let registry = InvoiceRegistry::deploy(rpc.clone(), deployer.address()).await?;
    let timeout = Some(Duration::from_secs(30));
    token.mint(agent_key.address(), U256::from(AGENT_FUNDS)).send().await?.with_timeout(timeout).get_receipt().await?;
    say(&format!(
        "Deployed a USDC look-alike at {} and the invoice registry at {}; gave the agent {} USDC and no ether.",
        token.address(),
        registry.address(),
        format_usd(U256::from(AGENT_FUNDS))
    ));

    // The facilitator and the seller's paid API.
    let ledger = SqliteLedger::in_memory().map_err(|e| DemoError::Storage(e.to_string()))?;
    let facilitator = Arc::new(
        Facilitator::new(
            RpcChain::http(anvil.endpoint_url()),
            facilitator_key,
            Arc::new(ledger),
            SettleConfig::default(),
        )
        .await?,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let price = Price {
        network: facilitator.network().into(),
        asset: *token.address(),
        asset_name: "USD Coin".into(),
        asset_version: "2".into(),
        amount: U256::from(PRICE),
        pay_to: payee,
        max_timeout_seconds: 120,
        description: "Today's market report".into(),
        mime_type: "application/json".into(),
        invoices: Some(InvoiceIssuer { registry: *registry.address(), signer: seller.clone(), validity_seconds: 600 }),
        settle_before_serving: false,
        channels: None,
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

    let before = (token.balanceOf(agent_key.address()).call().await?, token.balanceOf(payee).call().await?);
    let policy = Policy {
        budgets: BTreeMap::from([(
            *token.address(),
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

    let record = registry.recordOf(invoice_id).call().await?;
    let after = (token.balanceOf(agent_key.address()).call().await?, token.balanceOf(payee).call().await?);
    say(&format!(
        "Proof: the registry records invoice {invoice_id} as paid by {} at {}; balances agent {} → {} USDC, seller {} → {} USDC.",
        record.payer,
        record.paidAt,
        format_usd(before.0),
        format_usd(after.0),
        format_usd(before.1),
        format_usd(after.1)
    ));

    // The same proof again does not buy the resource twice.
    let replayed = http
        .get(&url)
        .header(PAYMENT_SIGNATURE, encode_header(&payment))
        .send()
        .await
        .map_err(|e| DemoError::Unexpected(e.to_string()))?;
    let replay = replayed
        .headers()
        .get(quittance_x402::PAYMENT_REQUIRED)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| quittance_x402::decode_header::<quittance_x402::PaymentRequired>(v).ok())
        .and_then(|r| r.error)
        .map(|e| ErrorReason::from_code(&e))
        .ok_or_else(|| DemoError::Unexpected(format!("a replayed payment was answered {}", replayed.status())))?;
    say(&format!("Sending the same payment again is refused with {} ({replay}).", replayed.status()));

    let agent_ether = rpc.get_balance(agent_key.address()).await?;
    Ok(DemoReport {
        chain_id: anvil.chain_id(),
        url,
        agent: agent_key.address(),
        payee,
        offered,
        paid_with: payment.accepted.scheme,
        invoice_id,
        transaction: receipt.transaction,
        proof: (record.payer, u64::try_from(record.paidAt).unwrap_or_default()),
        balances: [before, after],
        agent_ether,
        body,
        replay,
    })
}
