//! Two anvil chains joined by a local CCIP lane: an agent funded only on chain A pays an invoice on chain
//! B — with the contracts alone, and through x402 (the seller's paywall on B, the facilitator on A, the
//! relay standing in for the CCIP network). Chainlink's token admin registry and BurnMintTokenPool on both;
//! the proof is the registry record on B.

use alloy::{
    node_bindings::AnvilInstance,
    primitives::{Address, B256, Bytes, U256, keccak256},
    signers::{SignerSync, local::PrivateKeySigner},
    sol_types::{SolCall, SolValue, eip712_domain},
};
use axum::{Json, Router, routing::get};
use quittance_agent::{Agent, AgentError, Budget, ChainFunds, Policy, PolicyRefusal, SpendRecord};
use quittance_bindings::{
    CrossChainInvoicePayer, CrossChainInvoiceReceiver, InvoiceRegistry, TestStablecoin,
    cross_chain_invoice_payer::ICrossChainInvoice::CrossChainPayment, relayout,
};
use quittance_ccip::{LaneEnd, RateLimit, Relay, deploy_local_lane, messages_sent, relay};
use quittance_chain::{Chain, DevChain, RpcChain, Sender, anvil::spawn_anvil_with_chain_id, read};
use quittance_facilitator::{Facilitator, SettleConfig, SqliteLedger};
use quittance_paywall::{ByNetwork, CrossChainRoute, InvoiceIssuer, Paywall, Price};
use quittance_x402::{ErrorReason, channel::ReceiveWithAuthorization, crosschain, invoice};
use serde_json::json;
use std::{collections::BTreeMap, sync::Arc, time::Duration};
use tokio::sync::oneshot;

const SELECTOR_A: u64 = 3_478_487_238_524_512_106;
const SELECTOR_B: u64 = 16_015_286_601_757_825_753;
const AMOUNT: u64 = 2_500_000;
const A: &str = "eip155:31337";
const B: &str = "eip155:1337";
/// The gas the receiver's execution gets on B.
const RECEIVER_GAS: u64 = 500_000;

async fn balance<C: Chain>(chain: &C, token: Address, account: Address) -> eyre::Result<U256> {
    Ok(read(chain, token, TestStablecoin::balanceOfCall { account }).await?)
}

/// Both chains, the lane between them, Quittance's registry on B with the receiver as its CrossChain
/// settler, the sender on A, and an agent holding tokens on A only.
struct Lanes {
    _anvils: (AnvilInstance, AnvilInstance),
    a: RpcChain,
    b: RpcChain,
    end_a: LaneEnd,
    end_b: LaneEnd,
    registry: Address,
    sender: Address,
    receiver: Address,
    deployer: PrivateKeySigner,
    facilitator: PrivateKeySigner,
    agent: PrivateKeySigner,
    seller: PrivateKeySigner,
    payee: Address,
}

impl Lanes {
    async fn new() -> eyre::Result<Self> {
        let (anvil_a, anvil_b) = (spawn_anvil_with_chain_id(31337)?, spawn_anvil_with_chain_id(1337)?);
        let (a, b) = (RpcChain::http(anvil_a.endpoint_url()), RpcChain::http(anvil_b.endpoint_url()));
        let deployer = PrivateKeySigner::from(anvil_a.keys()[0].clone());
        let facilitator = PrivateKeySigner::from(anvil_a.keys()[1].clone());
        let agent = PrivateKeySigner::from_bytes(&keccak256("cross-chain agent"))?;

        // Quittance on both; the lane between them (100 tokens in flight, refilling one a second, each way)
        // with the invoice sender and receiver on each end.
        let mut registries = [Address::ZERO; 2];
        for (registry, chain) in registries.iter_mut().zip([&a, &b]) {
            let manifest = quittance_deploy::deploy(chain, &deployer, deployer.address(), &[], |_| {}).await?;
            *registry = manifest.address("InvoiceRegistry").expect("a registry");
        }
        let limit = RateLimit { capacity: 100_000_000, rate: 1_000_000 };
        let lane = deploy_local_lane([&a, &b], &deployer, registries, [SELECTOR_A, SELECTOR_B], limit).await?;
        let (end_a, end_b) = (lane.ends[0], lane.ends[1]);
        let mint = TestStablecoin::mintCall { to: agent.address(), amount: U256::from(10 * AMOUNT) };
        Sender::new(&a, &deployer).await?.send(end_a.token, mint.abi_encode().into()).await?;
        Ok(Self {
            _anvils: (anvil_a, anvil_b),
            a,
            b,
            end_a,
            end_b,
            registry: registries[1],
            sender: lane.senders[0],
            receiver: lane.receivers[1],
            deployer,
            facilitator,
            agent,
            seller: PrivateKeySigner::from_bytes(&keccak256("cross-chain seller"))?,
            payee: PrivateKeySigner::from_bytes(&keccak256("cross-chain payee"))?.address(),
        })
    }

    /// The relay from A to B, from A's block 0.
    fn relay(&self) -> Relay<RpcChain> {
        Relay::new(self.a.clone(), self.end_a, self.b.clone(), self.end_b, self.deployer.clone(), 0)
    }

    /// Runs the relay in the background until the returned sender is dropped or fired.
    fn start_relay(&self) -> oneshot::Sender<()> {
        let (stop, stopped) = oneshot::channel::<()>();
        let relay = self.relay();
        tokio::spawn(relay.run(Duration::from_millis(20), async move {
            let _ = stopped.await;
        }));
        stop
    }

    /// The seller's API on B: `/report` for `AMOUNT`, payable on B (exact, invoice) or from A through the
    /// lane; the facilitators of both networks, A's watching B and waiting `delivery` for a message.
    async fn serve(&self, delivery: Duration) -> eyre::Result<String> {
        let config = SettleConfig {
            receipt_timeout: Duration::from_secs(10),
            poll_interval: Duration::from_millis(10),
            delivery_timeout: delivery,
        };
        let on_a =
            Facilitator::new(self.a.clone(), self.facilitator.clone(), Arc::new(SqliteLedger::in_memory()?), config)
                .await?
                .with_destination(self.b.clone())
                .await?;
        let on_b =
            Facilitator::new(self.b.clone(), self.facilitator.clone(), Arc::new(SqliteLedger::in_memory()?), config)
                .await?;
        let facilitators = ByNetwork::new().with(A, Arc::new(on_a)).with(B, Arc::new(on_b));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let price = Price {
            network: B.into(),
            asset: self.end_b.token,
            asset_name: "Quittance USD".into(),
            asset_version: "1".into(),
            amount: U256::from(AMOUNT),
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
            cross_chain: vec![CrossChainRoute {
                network: A.into(),
                asset: self.end_a.token,
                asset_name: "Quittance USD".into(),
                asset_version: "1".into(),
                lane: crosschain::Lane {
                    sender: self.sender,
                    destination_chain_selector: SELECTOR_B,
                    receiver: self.receiver,
                    gas_limit: RECEIVER_GAS,
                },
            }],
        };
        let paywall = Paywall::new(Arc::new(facilitators), base.clone());
        let app = Router::new()
            .route("/report", get(|| async { Json(json!({"report": "from B"})) }).layer(paywall.price(price)));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(base)
    }

    /// The agent, allowed to spend on both networks and knowing its balances on both.
    fn agent(&self) -> eyre::Result<Agent> {
        self.agent_with(self.agent.clone())
    }

    fn agent_with(&self, signer: PrivateKeySigner) -> eyre::Result<Agent> {
        let budget = Budget {
            per_request: U256::from(AMOUNT),
            per_host: U256::from(10 * AMOUNT),
            period: Duration::from_secs(3600),
            total: U256::from(10 * AMOUNT),
        };
        let policy = Policy {
            budgets: BTreeMap::from([(self.end_a.token, budget.clone()), (self.end_b.token, budget)]),
            networks: vec![A.into(), B.into()],
            hosts: None,
            channel_requests: 0,
        };
        let funds = ChainFunds::new().with(A, self.a.clone()).with(B, self.b.clone());
        Ok(Agent::new(signer, policy, Arc::new(SpendRecord::in_memory()?)).with_funds(Arc::new(funds)))
    }

    async fn record(&self, id: B256) -> eyre::Result<quittance_bindings::invoice_registry::IInvoiceRegistry::Record> {
        Ok(read(&self.b, self.registry, InvoiceRegistry::recordOfCall { id }).await?)
    }
}

fn invoice_id(receipt: &quittance_x402::SettleResponse) -> eyre::Result<B256> {
    Ok(serde_json::from_value(receipt.extra.as_ref().expect("extra")["invoiceId"].clone())?)
}

#[tokio::test]
async fn an_agent_funded_on_a_pays_an_invoice_on_b() -> eyre::Result<()> {
    let lanes = Lanes::new().await?;
    let (a, b, agent) = (&lanes.a, &lanes.b, &lanes.agent);

    // The seller's invoice on B, in B's token.
    let now = b.timestamp().await?;
    let the_invoice = invoice::Invoice {
        issuer: lanes.seller.address(),
        payee: lanes.payee,
        token: lanes.end_b.token,
        amount: U256::from(AMOUNT),
        deadline: U256::from(now + 600),
        resource: invoice::resource_hash("http://b.local/report"),
        network: B.into(),
        salt: keccak256("cross-chain order"),
    };
    let id = the_invoice.id(1337, lanes.registry);
    let payment = CrossChainPayment {
        invoice: relayout(&the_invoice),
        issuerSignature: Bytes::from(lanes.seller.sign_hash_sync(&id)?.as_bytes().to_vec()),
        payer: agent.address(),
        refundTo: agent.address(),
    };

    // The agent signs on A; the facilitator submits (the agent holds no ether on either chain).
    let nonce = read(
        a,
        lanes.sender,
        CrossChainInvoicePayer::paymentNonceCall {
            destinationChainSelector: SELECTOR_B,
            receiver: lanes.receiver,
            payment: payment.clone(),
            gasLimit: U256::from(RECEIVER_GAS),
        },
    )
    .await?;
    let valid_before = a.timestamp().await? + 600;
    let message = ReceiveWithAuthorization {
        from: agent.address(),
        to: lanes.sender,
        value: U256::from(AMOUNT),
        validAfter: U256::ZERO,
        validBefore: U256::from(valid_before),
        nonce,
    };
    let domain =
        eip712_domain! { name: "Quittance USD", version: "1", chain_id: 31337, verifying_contract: lanes.end_a.token, };
    let signature = agent.sign_typed_data_sync(&message, &domain)?;
    let authorization =
        (U256::ZERO, U256::from(valid_before), Bytes::from(signature.as_bytes().to_vec())).abi_encode_params();
    let pay = CrossChainInvoicePayer::payWithAuthorizationCall {
        destinationChainSelector: SELECTOR_B,
        receiver: lanes.receiver,
        payment,
        authorization: authorization.into(),
        gasLimit: U256::from(RECEIVER_GAS),
    };
    let sent = Sender::new(a, &lanes.facilitator).await?.send(lanes.sender, pay.abi_encode().into()).await?;
    let messages = messages_sent(lanes.end_a.router, &sent.logs);
    assert_eq!(messages.len(), 1);
    let executed = relay(&mut Sender::new(b, &lanes.deployer).await?, &lanes.end_b, messages[0].clone()).await?;
    println!("send on A {} gas, execute on B {} gas", sent.gas_used, executed.gas_used);

    // The proof is on B; the money left A.
    let record = lanes.record(id).await?;
    assert_eq!(record.payer, agent.address());
    assert_eq!(record.path, 5, "recorded as a cross-chain payment");
    assert_eq!(balance(b, lanes.end_b.token, lanes.payee).await?, U256::from(AMOUNT));
    assert_eq!(balance(a, lanes.end_a.token, agent.address()).await?, U256::from(9 * AMOUNT));
    let supply = read(a, lanes.end_a.token, TestStablecoin::totalSupplyCall {}).await?;
    assert_eq!(supply, U256::from(9 * AMOUNT), "burned on A");
    assert_eq!(a.pending_nonce(agent.address()).await? + b.pending_nonce(agent.address()).await?, 0, "no gas spent");
    Ok(())
}

#[tokio::test]
async fn through_x402_the_agent_routes_across_chains_because_its_funds_are_on_a() -> eyre::Result<()> {
    let lanes = Lanes::new().await?;
    let base = lanes.serve(Duration::from_secs(10)).await?;
    let _relay = lanes.start_relay();
    let agent = lanes.agent()?;

    let paid = agent.get(&format!("{base}/report")).await?;
    assert_eq!(paid.response.status(), 200);
    let payment = paid.payment.expect("a payment");
    assert_eq!(payment.accepted.scheme, crosschain::SCHEME);
    assert_eq!(payment.accepted.network, A, "paid on A, where its funds are");
    let receipt = paid.receipt.expect("a receipt");
    assert!(receipt.success, "{receipt:?}");
    assert_eq!(receipt.extra.as_ref().expect("extra")["destinationNetwork"], json!(B));
    assert_eq!(paid.response.json::<serde_json::Value>().await?, json!({"report": "from B"}));

    // The proof is on B: the invoice paid by the agent through the CrossChain path; the payee paid on B.
    let record = lanes.record(invoice_id(&receipt)?).await?;
    assert_eq!((record.status, record.path, record.payer), (1, 5, lanes.agent.address()));
    assert_eq!(balance(&lanes.b, lanes.end_b.token, lanes.payee).await?, U256::from(AMOUNT));
    assert_eq!(balance(&lanes.a, lanes.end_a.token, lanes.agent.address()).await?, U256::from(9 * AMOUNT));
    assert_eq!(agent.record().spent_total(lanes.end_a.token, u64::MAX - 1)?, U256::from(AMOUNT));

    // The same payment sent again gets the answer it bought again, and nothing more is sent or charged.
    let replay = reqwest::Client::new()
        .get(format!("{base}/report"))
        .header(quittance_x402::PAYMENT_SIGNATURE, quittance_x402::encode_header(&payment))
        .send()
        .await?;
    assert_eq!(replay.status(), 200);
    assert_eq!(replay.json::<serde_json::Value>().await?, json!({"report": "from B"}));
    assert_eq!(balance(&lanes.b, lanes.end_b.token, lanes.payee).await?, U256::from(AMOUNT));
    assert_eq!(balance(&lanes.a, lanes.end_a.token, lanes.agent.address()).await?, U256::from(9 * AMOUNT));

    // Funded on B too, it pays there directly (the same-chain invoice comes first).
    let mut on_b = Sender::new(&lanes.b, &lanes.deployer).await?;
    let mint = TestStablecoin::mintCall { to: lanes.agent.address(), amount: U256::from(AMOUNT) };
    on_b.send(lanes.end_b.token, mint.abi_encode().into()).await?;
    let paid = agent.get(&format!("{base}/report")).await?;
    assert_eq!(paid.response.status(), 200);
    let payment = paid.payment.expect("a payment");
    assert_eq!((payment.accepted.scheme.as_str(), payment.accepted.network.as_str()), (invoice::SCHEME, B));

    // With too little anywhere, it says why and signs nothing.
    let poor = lanes.agent_with(PrivateKeySigner::from_bytes(&keccak256("poor agent"))?)?;
    match poor.get(&format!("{base}/report")).await {
        Err(AgentError::Policy(refusals)) => {
            assert_eq!(refusals.len(), 3, "{refusals:?}");
            assert!(refusals.iter().all(|r| matches!(r, PolicyRefusal::Funds { .. })), "{refusals:?}");
        }
        other => panic!("expected a refusal for lack of funds, got {other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn a_payment_in_flight_is_pending_then_served_and_never_sent_twice() -> eyre::Result<()> {
    let lanes = Lanes::new().await?;
    let base = lanes.serve(Duration::from_millis(200)).await?;
    let agent = lanes.agent()?.with_pending_timeout(Duration::from_millis(1500));
    let facilitator_nonce = lanes.a.pending_nonce(lanes.facilitator.address()).await?;

    // No relay yet: the message waits on A; the paywall says so, and the agent gives up for now.
    match agent.get(&format!("{base}/report")).await {
        Err(AgentError::Refused(ErrorReason::SettlementPending)) => {}
        other => panic!("expected the payment to be in flight, got {other:?}"),
    }
    let raw = reqwest::get(format!("{base}/report")).await?;
    assert_eq!(raw.status(), 402, "nothing is served while the message is in flight");

    // The relay delivers it; asking again sends the same payment, which has settled on B meanwhile.
    let _relay = lanes.start_relay();
    let paid = agent.get(&format!("{base}/report")).await?;
    assert_eq!(paid.response.status(), 200);
    let receipt = paid.receipt.expect("a receipt");
    assert!(receipt.success);
    assert_eq!(lanes.record(invoice_id(&receipt)?).await?.payer, lanes.agent.address());
    assert_eq!(
        lanes.a.pending_nonce(lanes.facilitator.address()).await?,
        facilitator_nonce + 1,
        "one transaction on A for the payment and its retries"
    );
    assert_eq!(balance(&lanes.a, lanes.end_a.token, lanes.agent.address()).await?, U256::from(9 * AMOUNT));
    assert_eq!(balance(&lanes.b, lanes.end_b.token, lanes.payee).await?, U256::from(AMOUNT));

    // Patient enough, an agent waits through `settlement_pending` by itself.
    let patient = lanes.agent()?;
    let paid = patient.get(&format!("{base}/report")).await?;
    assert_eq!(paid.response.status(), 200);
    Ok(())
}

#[tokio::test]
async fn a_payment_arriving_after_the_invoice_expired_is_refunded_on_b() -> eyre::Result<()> {
    let lanes = Lanes::new().await?;
    let base = lanes.serve(Duration::from_millis(200)).await?;
    let agent = lanes.agent()?.with_pending_timeout(Duration::from_millis(500));
    match agent.get(&format!("{base}/report")).await {
        Err(AgentError::Refused(ErrorReason::SettlementPending)) => {}
        other => panic!("expected the payment to be in flight, got {other:?}"),
    }

    // The message is delayed past the invoice's deadline (600 s after the paywall's clock) on B, then
    // delivered. B's latest block may be seconds older than that clock on a busy machine: leave a margin.
    lanes.b.advance(700).await?;
    let mut relay = lanes.relay();
    let relayed = relay.poll().await?;
    assert_eq!(relayed.executed.len(), 1);
    let message_id = relayed.executed[0].0;
    let received =
        read(&lanes.b, lanes.receiver, CrossChainInvoiceReceiver::receivedCall { messageId: message_id }).await?;
    assert_eq!(received.outcome, 2, "refundable");

    // Asked again, the facilitator says so; anyone pays the refund out to the agent on B.
    match agent.get(&format!("{base}/report")).await {
        Err(AgentError::Refused(ErrorReason::CrossChainRefundable)) => {}
        other => panic!("expected a refundable payment, got {other:?}"),
    }
    let refund = CrossChainInvoiceReceiver::refundCall { messageId: message_id };
    Sender::new(&lanes.b, &lanes.deployer).await?.send(lanes.receiver, refund.abi_encode().into()).await?;
    assert_eq!(balance(&lanes.b, lanes.end_b.token, lanes.agent.address()).await?, U256::from(AMOUNT));
    assert_eq!(balance(&lanes.b, lanes.end_b.token, lanes.payee).await?, U256::ZERO);
    Ok(())
}

#[tokio::test]
async fn the_facilitator_refuses_what_cannot_settle_before_sending_anything() -> eyre::Result<()> {
    let lanes = Lanes::new().await?;
    let base = lanes.serve(Duration::from_secs(10)).await?;
    let _relay = lanes.start_relay();
    let url = format!("{base}/report");
    let offered: quittance_x402::PaymentRequired =
        quittance_x402::decode_header(reqwest::get(&url).await?.headers()[quittance_x402::PAYMENT_REQUIRED].to_str()?)?;
    let option = offered.accepts.iter().find(|o| o.scheme == crosschain::SCHEME).expect("a cross-chain option");
    let resource = quittance_x402::ResourceInfo { url: url.clone(), ..offered.resource.clone() };
    let now = lanes.a.timestamp().await?;
    let sign = |signer: &PrivateKeySigner| crosschain::pay(option, &resource, signer, signer.address(), now);
    let request = |payment| quittance_x402::VerifyRequest {
        x402_version: 2,
        payment_payload: payment,
        payment_requirements: option.clone(),
    };
    let config = SettleConfig::default();
    let ledger = || SqliteLedger::in_memory().map(Arc::new);
    let reason = |response: quittance_x402::VerifyResponse| response.invalid_reason.expect("refused");

    // A facilitator that does not watch B cannot confirm the payment: it refuses it.
    let blind = Facilitator::new(lanes.a.clone(), lanes.facilitator.clone(), ledger()?, config).await?;
    assert_eq!(reason(blind.verify(&request(sign(&lanes.agent)?)).await), ErrorReason::InvalidNetwork);
    let refused = blind.settle(&request(sign(&lanes.agent)?)).await;
    assert_eq!(refused.error_reason, Some(ErrorReason::InvalidNetwork));

    let watching = Facilitator::new(lanes.a.clone(), lanes.facilitator.clone(), ledger()?, config)
        .await?
        .with_destination(lanes.b.clone())
        .await?;
    // A payer without the funds on A.
    let poor = PrivateKeySigner::from_bytes(&keccak256("poor payer"))?;
    assert_eq!(reason(watching.verify(&request(sign(&poor)?)).await), ErrorReason::ExactEvmInsufficientBalance);

    // The invoice paid by the agent; another payer's payment of the same invoice is refused on B's word.
    let paid = watching.settle(&request(sign(&lanes.agent)?)).await;
    assert!(paid.success, "{paid:?}");
    let rich = PrivateKeySigner::from_bytes(&keccak256("another payer"))?;
    let mint = TestStablecoin::mintCall { to: rich.address(), amount: U256::from(AMOUNT) };
    Sender::new(&lanes.a, &lanes.deployer).await?.send(lanes.end_a.token, mint.abi_encode().into()).await?;
    assert_eq!(reason(watching.verify(&request(sign(&rich)?)).await), ErrorReason::InvoiceAlreadyPaid);
    let nonce = lanes.a.pending_nonce(lanes.facilitator.address()).await?;
    let again = watching.settle(&request(sign(&rich)?)).await;
    assert_eq!(again.error_reason, Some(ErrorReason::InvoiceAlreadyPaid));
    assert_eq!(lanes.a.pending_nonce(lanes.facilitator.address()).await?, nonce, "nothing sent");
    assert_eq!(balance(&lanes.a, lanes.end_a.token, rich.address()).await?, U256::from(AMOUNT));
    Ok(())
}
