//! `quittance-bench cross-chain`: paid GETs on chain B by an agent whose funds are on chain A, through x402
//! (`cross-chain-invoice`), the facilitator on A, the local CCIP lane and its relay, on two anvils. Reports
//! the end-to-end latency (402 → signed → sent on A → relayed → settled on B → 200) and the gas on each side.

use crate::{ms, summarize};
use alloy::{
    primitives::{Address, B256, U256, keccak256},
    signers::local::PrivateKeySigner,
    sol_types::SolCall,
};
use axum::{Json, Router, routing::get};
use eyre::ensure;
use quittance_agent::{Agent, Budget, ChainFunds, Policy, SpendRecord};
use quittance_bindings::TestStablecoin;
use quittance_ccip::{LOCAL_TOKEN, RateLimit, Relay, deploy_local_lane};
use quittance_chain::{Chain, RpcChain, Sender, anvil::spawn_anvil_with_chain_id, read};
use quittance_facilitator::{Facilitator, SettleConfig, SqliteLedger};
use quittance_paywall::{ByNetwork, CrossChainRoute, InvoiceIssuer, Paywall, Price};
use quittance_x402::crosschain::Lane;
use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

const PRICE: u64 = 10_000;
const A: &str = "eip155:31337";
const B: &str = "eip155:1337";

pub(crate) async fn run(requests: usize, relay_poll: Duration) -> eyre::Result<()> {
    let (anvil_a, anvil_b) = (spawn_anvil_with_chain_id(31337)?, spawn_anvil_with_chain_id(1337)?);
    let (a, b) = (RpcChain::http(anvil_a.endpoint_url()), RpcChain::http(anvil_b.endpoint_url()));
    let owner = PrivateKeySigner::from(anvil_a.keys()[0].clone());
    let facilitator_key = PrivateKeySigner::from(anvil_a.keys()[1].clone());
    let seller = PrivateKeySigner::from(anvil_a.keys()[2].clone());
    let agent_key = PrivateKeySigner::from_bytes(&keccak256("bench cross-chain agent"))?;
    let payee = PrivateKeySigner::from_bytes(&keccak256("bench cross-chain payee"))?.address();

    let mut registries = [Address::ZERO; 2];
    for (registry, chain) in registries.iter_mut().zip([&a, &b]) {
        let manifest = quittance_deploy::deploy(chain, &owner, owner.address(), &[], |_| {}).await?;
        *registry = manifest.address("InvoiceRegistry").ok_or_else(|| eyre::eyre!("no registry"))?;
    }
    let limit = RateLimit { capacity: u128::from(PRICE) * 1_000_000, rate: u128::from(PRICE) * 1_000 };
    let lane = deploy_local_lane([&a, &b], &owner, registries, [1, 2], limit).await?;
    let [end_a, end_b] = lane.ends;
    let funding = U256::from(PRICE) * U256::from(requests as u64 + 10);
    let mint = TestStablecoin::mintCall { to: agent_key.address(), amount: funding };
    Sender::new(&a, &owner).await?.send(end_a.token, mint.abi_encode().into()).await?;

    // The relay, recording the gas of each execution on B.
    let executions = Arc::new(Mutex::new(Vec::<u64>::new()));
    let mut relay = Relay::new(a.clone(), end_a, b.clone(), end_b, owner.clone(), 0);
    let recorded = executions.clone();
    let relaying = tokio::spawn(async move {
        loop {
            match relay.poll().await {
                Ok(relayed) => {
                    if let Ok(mut gas) = recorded.lock() {
                        gas.extend(relayed.executed.iter().map(|(_, receipt)| receipt.gas_used));
                    }
                }
                Err(err) => eprintln!("relay poll failed: {err}"),
            }
            tokio::time::sleep(relay_poll).await;
        }
    });

    let config = SettleConfig {
        receipt_timeout: Duration::from_secs(30),
        poll_interval: Duration::from_millis(10),
        delivery_timeout: Duration::from_secs(30),
    };
    let dir = tempfile::tempdir()?;
    let ledger = |name: &str| SqliteLedger::open(dir.path().join(name)).map(Arc::new);
    let on_a = Facilitator::new(a.clone(), facilitator_key.clone(), ledger("a.sqlite")?, config)
        .await?
        .with_destination(b.clone())
        .await?;
    let on_b = Facilitator::new(b.clone(), facilitator_key.clone(), ledger("b.sqlite")?, config).await?;
    let facilitators = ByNetwork::new().with(A, Arc::new(on_a)).with(B, Arc::new(on_b));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (name, version) = LOCAL_TOKEN;
    let price = Price {
        network: B.into(),
        asset: end_b.token,
        asset_name: name.into(),
        asset_version: version.into(),
        amount: U256::from(PRICE),
        pay_to: payee,
        max_timeout_seconds: 120,
        description: "a report".into(),
        mime_type: "application/json".into(),
        invoices: Some(InvoiceIssuer { registry: registries[1], signer: seller, validity_seconds: 600 }),
        settle_before_serving: false,
        channels: None,
        cross_chain: vec![CrossChainRoute {
            network: A.into(),
            asset: end_a.token,
            asset_name: name.into(),
            asset_version: version.into(),
            lane: Lane {
                sender: lane.senders[0],
                destination_chain_selector: end_b.chain_selector,
                receiver: lane.receivers[1],
                gas_limit: 500_000,
            },
        }],
    };
    let paywall = Paywall::new(Arc::new(facilitators), base.clone());
    let app = Router::new().route("/report", get(|| async { Json(1) }).layer(paywall.price(price)));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let budget =
        Budget { per_request: U256::from(PRICE), per_host: funding, period: Duration::from_secs(3600), total: funding };
    let policy = Policy {
        budgets: BTreeMap::from([(end_a.token, budget.clone()), (end_b.token, budget)]),
        networks: vec![A.into(), B.into()],
        hosts: None,
        channel_requests: 0,
    };
    let funds = ChainFunds::new().with(A, a.clone()).with(B, b.clone());
    let agent = Agent::new(agent_key.clone(), policy, Arc::new(SpendRecord::in_memory()?)).with_funds(Arc::new(funds));

    let url = format!("{base}/report");
    let (mut latencies, mut sends) = (Vec::new(), Vec::new());
    for _ in 0..requests {
        let started = Instant::now();
        let paid = agent.get(&url).await?;
        latencies.push(started.elapsed());
        ensure!(paid.response.status() == 200, "answered {}", paid.response.status());
        let receipt = paid.receipt.ok_or_else(|| eyre::eyre!("no receipt"))?;
        ensure!(receipt.success && receipt.network == A, "not a cross-chain settlement: {receipt:?}");
        let sent = a.receipt(receipt.transaction.parse::<B256>()?).await?.ok_or_else(|| eyre::eyre!("not mined"))?;
        sends.push(sent.gas_used);
    }
    // The relay records an execution's gas after the poll that executed it: wait for the last.
    let waited = Instant::now();
    while executions.lock().map_err(|_| eyre::eyre!("poisoned"))?.len() < requests {
        ensure!(waited.elapsed() < Duration::from_secs(10), "the relay did not report every execution");
        tokio::time::sleep(relay_poll).await;
    }
    relaying.abort();
    let held = read(&b, end_b.token, TestStablecoin::balanceOfCall { account: payee }).await?;
    ensure!(held == U256::from(PRICE * requests as u64), "the payee holds {held} on B, not every payment");

    let mut executions = executions.lock().map_err(|_| eyre::eyre!("poisoned"))?.clone();
    executions.sort_unstable();
    sends.sort_unstable();
    let s = summarize(latencies);
    println!(
        "cross-chain paid GET on two anvils (relay polling every {relay_poll:?}), {requests} requests: median {}, p99 {}, max {}",
        ms(s.median),
        ms(s.p99),
        ms(s.max)
    );
    println!(
        "gas: send on A {} (median), execution on B {} (median of {}); the payee on B holds every payment",
        sends[sends.len() / 2],
        executions.get(executions.len() / 2).copied().unwrap_or_default(),
        executions.len()
    );
    Ok(())
}
