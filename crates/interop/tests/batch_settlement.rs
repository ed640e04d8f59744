//! The official SDK's batch-settlement client and facilitator run unchanged against Quittance's BatchSettlement
//! contract at the canonical address on anvil: a deposit, a claim and a settlement move exactly the amounts, and
//! a replayed deposit is refused with the SDK's reason code. And Quittance's protocol module
//! (`quittance_x402::batch_settlement`) agrees with the SDK and the contract: the same channel ids, digests and
//! signatures, our checks accept the SDK's payloads, and the SDK's facilitator accepts and settles ours.

use alloy::{
    primitives::{B256, Bytes, U256},
    signers::local::PrivateKeySigner,
};
use axum::{Json, Router, routing::get};
use quittance_agent::{Agent, Budget, ChainFunds, Policy, SpendRecord};
use quittance_bindings::{BatchSettlement, batch_settlement::IBatchSettlement, relayout};
use quittance_chain::RpcChain;
use quittance_deploy::{BATCH_SETTLEMENT, ERC3009_DEPOSIT_COLLECTOR, install_batch_settlement};
use quittance_interop::Script;
use quittance_paywall::{BatchOffer, BatchStore, Paywall, Price};
use quittance_testkit::World;
use quittance_x402::{
    PaymentPayload, PaymentRequirements,
    batch_settlement::{
        self, BatchSettlementExtra, BatchSettlementPayload, BatchTerms, ChannelConfig, ChannelState, ClaimPayload,
        DepositAuthorization, EnrichedRefundPayload, SettleAction, SettlePayload, SignedVoucher, VoucherClaim,
    },
};
use serde_json::{Value, json};
use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

const DEPOSIT: u64 = 1_000_000;
const VOUCHER: u64 = 10_000;

#[tokio::test]
async fn official_client_and_facilitator_deposit_claim_and_settle_on_our_contract() -> eyre::Result<()> {
    let world = World::new().await?;
    install_batch_settlement(&RpcChain::http(world.endpoint.clone())).await?;
    Script::run_all("multicall3.mjs", &[("QUITTANCE_RPC_URL", world.endpoint.to_string())]).await?;
    let payer = world.agent.address();
    let before = (world.token.balanceOf(payer).call().await?, world.token.balanceOf(world.payee).call().await?);

    let reports = Script::run_all(
        "batch-contract.mjs",
        &[
            ("QUITTANCE_RPC_URL", world.endpoint.to_string()),
            ("QUITTANCE_PAYER_KEY", B256::from(world.agent.to_bytes()).to_string()),
            ("QUITTANCE_FACILITATOR_KEY", B256::from(world.facilitator_key.to_bytes()).to_string()),
            ("QUITTANCE_TOKEN", world.token.address().to_checksum(None)),
            ("QUITTANCE_RECEIVER", world.payee.to_checksum(None)),
            ("QUITTANCE_DEPOSIT", DEPOSIT.to_string()),
            ("QUITTANCE_VOUCHER", VOUCHER.to_string()),
        ],
    )
    .await?;
    let step = |name: &str| reports.iter().find(|r| r["step"] == name).cloned().unwrap_or_default();
    assert_eq!(step("verify")["isValid"], true, "{reports:?}");
    assert_eq!(step("deposit")["success"], true, "{reports:?}");
    assert_eq!(step("claim")["success"], true, "{reports:?}");
    assert_eq!(step("settle")["success"], true, "{reports:?}");
    assert_eq!(step("replay")["isValid"], false, "{reports:?}");
    assert!(
        step("replay")["invalidReason"].as_str().is_some_and(|r| r.starts_with("invalid_batch_settlement_evm_")),
        "{reports:?}"
    );

    let after = (world.token.balanceOf(payer).call().await?, world.token.balanceOf(world.payee).call().await?);
    assert_eq!(before.0 - after.0, U256::from(DEPOSIT), "the payer deposited exactly once");
    assert_eq!(after.1 - before.1, U256::from(VOUCHER), "the receiver got exactly the voucher");
    assert_eq!(
        world.token.balanceOf(BATCH_SETTLEMENT).call().await?,
        U256::from(DEPOSIT - VOUCHER),
        "the rest stays escrowed"
    );
    Ok(())
}

const CHAIN: u64 = 31337;
const OUR_DEPOSIT: u128 = 100_000;
const SDK_DEPOSIT: u128 = 50_000;
const PRICE: u128 = 10_000;

/// Every string in lowercase: the SDK echoes addresses as given, we write them in lowercase hex.
fn lowercase(value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(s.to_lowercase()),
        Value::Array(a) => Value::Array(a.iter().map(lowercase).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), lowercase(v))).collect()),
        other => other.clone(),
    }
}

fn voucher_of(payment: &PaymentPayload) -> eyre::Result<SignedVoucher> {
    let payload: BatchSettlementPayload = serde_json::from_value(payment.payload.clone())?;
    Ok(payload.voucher().clone())
}

fn unix_now() -> eyre::Result<u64> {
    Ok(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs())
}

#[tokio::test]
async fn our_protocol_module_agrees_with_the_official_sdk_and_the_contract() -> eyre::Result<()> {
    let world = World::new().await?;
    install_batch_settlement(&RpcChain::http(world.endpoint.clone())).await?;
    Script::run_all("multicall3.mjs", &[("QUITTANCE_RPC_URL", world.endpoint.to_string())]).await?;
    let payer = &world.agent;
    let authorizer = PrivateKeySigner::random();
    let token = *world.token.address();
    let before =
        (world.token.balanceOf(payer.address()).call().await?, world.token.balanceOf(world.payee).call().await?);

    let requirements: PaymentRequirements = serde_json::from_value(json!({
        "scheme": "batch-settlement", "network": "eip155:31337", "amount": PRICE.to_string(),
        "asset": token.to_checksum(None), "payTo": world.payee.to_checksum(None), "maxTimeoutSeconds": 300,
        "extra": BatchSettlementExtra::new(authorizer.address(), 900, "USD Coin", "2", OUR_DEPOSIT).to_map(),
    }))?;
    let terms = BatchTerms::from_requirements(&requirements)?;
    let config = ChannelConfig::for_terms(&terms, payer.address(), payer.address(), B256::ZERO);
    let id = config.id(CHAIN);

    // Our payloads: a deposit with the first voucher, the second voucher, a refund; a claim of the second
    // voucher, the settlement of the claims, and the refund of the rest as a server sends them.
    let now = unix_now()?;
    let deposit = batch_settlement::pay_deposit(
        &requirements,
        None,
        &config,
        OUR_DEPOSIT,
        PRICE,
        payer,
        payer,
        now,
        B256::repeat_byte(0x33),
    )?;
    let voucher = batch_settlement::pay_voucher(&requirements, None, &config, 2 * PRICE, payer)?;
    let refund = batch_settlement::pay_refund(&requirements, None, &config, 2 * PRICE, payer, None)?;
    let claims = vec![VoucherClaim::new(config, &voucher_of(&voucher)?, 2 * PRICE)];
    let claim_signature = batch_settlement::sign_claim_batch(&authorizer, &claims, CHAIN)?;
    let claim =
        SettleAction::Claim(ClaimPayload { claims: claims.clone(), claim_authorizer_signature: Some(claim_signature) });
    let settle = SettleAction::Settle(SettlePayload { receiver: world.payee, token });
    let rest = OUR_DEPOSIT - 2 * PRICE;
    let enriched = SettleAction::Refund(EnrichedRefundPayload {
        channel_config: config,
        voucher: voucher_of(&refund)?,
        amount: rest,
        refund_nonce: U256::ZERO,
        claims: vec![],
        refund_authorizer_signature: Some(batch_settlement::sign_refund(&authorizer, id, rest, U256::ZERO, CHAIN)?),
        claim_authorizer_signature: None,
    });
    let action = |a: &SettleAction| -> eyre::Result<PaymentPayload> {
        Ok(PaymentPayload { payload: serde_json::to_value(a)?, ..deposit.clone() })
    };
    let ours = json!({
        "deposit": deposit, "voucher": voucher, "refund": refund,
        "claim": action(&claim)?, "settle": action(&settle)?, "enrichedRefund": action(&enriched)?,
    });

    let reports = Script::run_all(
        "batch-payloads.mjs",
        &[
            ("QUITTANCE_RPC_URL", world.endpoint.to_string()),
            ("QUITTANCE_PAYER_KEY", B256::from(payer.to_bytes()).to_string()),
            ("QUITTANCE_AUTHORIZER_KEY", B256::from(authorizer.to_bytes()).to_string()),
            ("QUITTANCE_FACILITATOR_KEY", B256::from(world.facilitator_key.to_bytes()).to_string()),
            ("QUITTANCE_REQUIREMENTS", serde_json::to_string(&requirements)?),
            ("QUITTANCE_VOUCHER", PRICE.to_string()),
            ("QUITTANCE_SDK_DEPOSIT", SDK_DEPOSIT.to_string()),
            ("QUITTANCE_OURS", ours.to_string()),
        ],
    )
    .await?;
    let step = |name: &str| reports.iter().find(|r| r["step"] == name).cloned().unwrap_or_default();

    // The SDK's ids, digests and signatures are ours.
    let sdk = step("sdk");
    assert_eq!(
        serde_json::from_value::<ChannelConfig>(sdk["config"].clone())?,
        config,
        "the official client's channel"
    );
    assert_eq!(sdk["channelId"].as_str().map(str::parse::<B256>).transpose()?, Some(id));
    let sdk_voucher: SignedVoucher = serde_json::from_value(sdk["voucher"].clone())?;
    assert_eq!(sdk_voucher, batch_settlement::sign_voucher(payer, id, PRICE, CHAIN)?, "byte for byte");
    let digest = |key: &str| sdk[key].as_str().map(str::parse::<B256>).transpose();
    assert_eq!(digest("voucherDigest")?, Some(batch_settlement::voucher_digest(id, PRICE, CHAIN)));
    assert_eq!(digest("refundDigest")?, Some(batch_settlement::refund_digest(id, U256::from(7), PRICE, CHAIN)));
    assert_eq!(digest("claimBatchDigest")?, Some(batch_settlement::claim_batch_digest(&claims, CHAIN)));
    let sdk_refund: Bytes = serde_json::from_value(sdk["refundSignature"].clone())?;
    assert_eq!(sdk_refund, batch_settlement::sign_refund(&authorizer, id, PRICE, U256::from(7), CHAIN)?);

    // The SDK's deposit passes our checks and keeps its shape through our types.
    let sdk_deposit = PaymentPayload { payload: sdk["deposit"].clone(), ..deposit.clone() };
    let checked = batch_settlement::check(&sdk_deposit, &requirements, unix_now()?)?;
    checked.check_eoa_signatures()?;
    checked.check_channel(&ChannelState::default())?;
    checked.check_charge(0)?;
    let parsed: BatchSettlementPayload = serde_json::from_value(sdk["deposit"].clone())?;
    assert_eq!(lowercase(&serde_json::to_value(&parsed)?), lowercase(&sdk["deposit"]), "field for field");

    // The SDK takes our payloads for what they are, and its facilitator (holding no authorizer key) verifies
    // and settles them on our contract.
    let guards = step("guards");
    for kind in ["deposit", "voucher", "refund", "claim", "settle", "enrichedRefund"] {
        assert_eq!(guards[kind], true, "{kind}: {guards}");
    }
    for name in ["verifyDeposit", "verifyVoucher", "verifyRefund"] {
        assert_eq!(step(name)["isValid"], true, "{name}: {reports:?}");
    }
    for name in ["settleDeposit", "claim", "settle", "refund"] {
        assert_eq!(step(name)["success"], true, "{name}: {reports:?}");
    }
    assert_eq!(
        step("verifyDeposit")["extra"]["channelId"],
        json!(format!("{id:#x}")),
        "the verify extra names the channel"
    );

    // The contract computes the same id and digests.
    let contract = BatchSettlement::new(BATCH_SETTLEMENT, world.rpc.clone());
    let on_chain: IBatchSettlement::ChannelConfig = relayout(&config.to_eip712());
    assert_eq!(contract.getChannelId(on_chain.clone()).call().await?, id);
    assert_eq!(contract.getVoucherDigest(id, PRICE).call().await?, batch_settlement::voucher_digest(id, PRICE, CHAIN));
    assert_eq!(
        contract.getRefundDigest(id, U256::from(7), PRICE).call().await?,
        batch_settlement::refund_digest(id, U256::from(7), PRICE, CHAIN)
    );
    let rows = claims
        .iter()
        .map(|c| IBatchSettlement::VoucherClaim {
            voucher: IBatchSettlement::Voucher {
                channel: on_chain.clone(),
                maxClaimableAmount: c.voucher.max_claimable_amount,
            },
            signature: c.signature.clone(),
            totalClaimed: c.total_claimed,
        })
        .collect::<Vec<_>>();
    assert_eq!(contract.getClaimBatchDigest(rows).call().await?, batch_settlement::claim_batch_digest(&claims, CHAIN));

    // The SDK's deposit lands on chain with our collector data.
    let BatchSettlementPayload::Deposit(sdk_payload) = parsed else { eyre::bail!("not a deposit") };
    let DepositAuthorization::Erc3009Authorization(authorization) = &sdk_payload.deposit.authorization else {
        eyre::bail!("not an ERC-3009 deposit")
    };
    let data = batch_settlement::erc3009_collector_data(authorization);
    let receipt = contract
        .deposit(on_chain, SDK_DEPOSIT, ERC3009_DEPOSIT_COLLECTOR, data)
        .send()
        .await?
        .with_timeout(Some(std::time::Duration::from_secs(30)))
        .get_receipt()
        .await?;
    assert!(receipt.status(), "the deposit went through");
    let channel = contract.channels(id).call().await?;
    assert_eq!((channel.balance, channel.totalClaimed), (2 * PRICE + SDK_DEPOSIT, 2 * PRICE));

    let after =
        (world.token.balanceOf(payer.address()).call().await?, world.token.balanceOf(world.payee).call().await?);
    assert_eq!(before.0 - after.0, U256::from(2 * PRICE + SDK_DEPOSIT), "our deposit came back but the claim");
    assert_eq!(after.1 - before.1, U256::from(2 * PRICE), "the receiver got exactly the claim");
    assert_eq!(
        world.token.balanceOf(BATCH_SETTLEMENT).call().await?,
        U256::from(SDK_DEPOSIT),
        "the SDK's deposit stays"
    );
    Ok(())
}

/// What a request to our batch-settlement paywall costs.
const PAYWALL_PRICE: u128 = 10_000;

/// Our paywall for `/meter` priced [`PAYWALL_PRICE`] in `batch-settlement`, settled and claimed by our
/// in-process facilitator (the receiver authorizer), its channels kept in `store`; the handler counts its
/// runs. Returns the paywall (to claim) and the route's URL.
async fn our_batch_paywall(
    world: &World,
    store: Arc<BatchStore>,
    runs: Arc<AtomicUsize>,
) -> eyre::Result<(Paywall<quittance_facilitator::Facilitator<RpcChain>>, String)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let price = Price {
        network: world.facilitator.network().into(),
        asset: *world.token.address(),
        asset_name: "USD Coin".into(),
        asset_version: "2".into(),
        amount: U256::from(PAYWALL_PRICE),
        pay_to: world.payee,
        max_timeout_seconds: 120,
        description: "a metered answer".into(),
        mime_type: "application/json".into(),
        invoices: None,
        settle_before_serving: false,
        channels: None,
        cross_chain: Vec::new(),
    };
    let paywall = Paywall::new(world.facilitator.clone(), base.clone()).with_batch_store(store);
    let handler = move || {
        let runs = runs.clone();
        async move { Json(json!({"run": runs.fetch_add(1, Ordering::SeqCst) + 1})) }
    };
    let offer = BatchOffer::new(world.facilitator.address());
    let app = Router::new().route("/meter", get(handler).layer(paywall.price_batch_settlement(price, offer)));
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((paywall, format!("{base}/meter")))
}

/// The official batch-settlement client pays `url` `requests` times, then replays its last payment, then
/// (`refund`) asks for the rest of its deposit back.
async fn official_batch_client(world: &World, url: &str, requests: usize, refund: bool) -> eyre::Result<Value> {
    let reports = Script::run_all(
        "batch-client.mjs",
        &[
            ("QUITTANCE_RPC_URL", world.endpoint.to_string()),
            ("QUITTANCE_URL", url.into()),
            ("QUITTANCE_PAYER_KEY", B256::from(world.agent.to_bytes()).to_string()),
            ("QUITTANCE_TOKEN", world.token.address().to_checksum(None)),
            ("QUITTANCE_REQUESTS", requests.to_string()),
            ("QUITTANCE_REFUND", if refund { "1" } else { "0" }.into()),
        ],
    )
    .await?;
    reports.into_iter().next().ok_or_else(|| eyre::eyre!("batch-client.mjs reported nothing"))
}

/// The payload types and voucher amounts an answer's request carried.
fn sent(answer: &Value) -> Vec<(String, String)> {
    answer["sent"]
        .as_array()
        .map(|sent| {
            sent.iter()
                .map(|s| {
                    (
                        s["type"].as_str().unwrap_or("").to_owned(),
                        s["maxClaimableAmount"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn the_official_client_pays_our_paywall_in_batches_gets_the_rest_refunded_and_the_payee_exactly_what_was_served()
-> eyre::Result<()> {
    let world = World::new().await?;
    install_batch_settlement(&RpcChain::http(world.endpoint.clone())).await?;
    Script::run_all("multicall3.mjs", &[("QUITTANCE_RPC_URL", world.endpoint.to_string())]).await?;
    let file = tempfile::NamedTempFile::new()?;
    let store = Arc::new(BatchStore::open(file.path())?);
    let runs = Arc::new(AtomicUsize::new(0));
    let (paywall, url) = our_batch_paywall(&world, store.clone(), runs.clone()).await?;
    let payer = world.agent.address();
    let before = (world.token.balanceOf(payer).call().await?, world.token.balanceOf(world.payee).call().await?);
    let price = |n: u128| (n * PAYWALL_PRICE).to_string();

    // Three requests: a deposit of the announced minimum (ten prices) with the first voucher, then vouchers.
    let first = official_batch_client(&world, &url, 3, false).await?;
    let answers = first["answers"].as_array().cloned().unwrap_or_default();
    assert_eq!(answers.len(), 3, "{first}");
    for (n, answer) in answers.iter().enumerate() {
        assert_eq!(answer["status"], 200, "{answer}");
        let body: Value = serde_json::from_str(answer["body"].as_str().unwrap_or_default())?;
        assert_eq!(body["run"], n + 1, "{answer}");
        let settled = &answer["paymentResponse"];
        assert_eq!(settled["success"], true, "{answer}");
        assert_eq!(settled["extra"]["channelState"]["chargedCumulativeAmount"], price(n as u128 + 1), "{answer}");
    }
    assert_eq!(sent(&answers[0]), [("deposit".to_owned(), price(1))]);
    assert_eq!(sent(&answers[2]), [("voucher".to_owned(), price(3))]);
    assert!(answers[0]["paymentResponse"]["transaction"].as_str().is_some_and(|t| t.starts_with("0x")), "{first}");
    assert_eq!(answers[1]["paymentResponse"]["transaction"], "", "a voucher sends nothing");
    // The last voucher again: the answer it bought, not a second run.
    assert_eq!(first["replay"]["status"], 200, "{first}");
    assert_eq!(first["replay"]["body"], answers[2]["body"], "{first}");
    assert_eq!(runs.load(Ordering::SeqCst), 3);
    assert_eq!(before.0 - world.token.balanceOf(payer).call().await?, U256::from(10 * PAYWALL_PRICE));

    // A new client process knows nothing of the channel: it reads the chain (nothing claimed), signs a voucher
    // for one price, gets the corrective 402 with our count and latest voucher, resyncs and pays on.
    let second = official_batch_client(&world, &url, 2, true).await?;
    let answers = second["answers"].as_array().cloned().unwrap_or_default();
    assert_eq!(answers.len(), 2, "{second}");
    assert_eq!(answers[0]["status"], 200, "{second}");
    assert_eq!(
        sent(&answers[0]),
        [("voucher".to_owned(), price(1)), ("voucher".to_owned(), price(4))],
        "resynced from the corrective 402"
    );
    assert_eq!(sent(&answers[1]), [("voucher".to_owned(), price(5))]);
    assert_eq!(second["replay"]["body"], answers[1]["body"], "{second}");
    assert_eq!(runs.load(Ordering::SeqCst), 5, "one run per voucher");

    // Then the client asks for the rest back: the five vouchers claimed and five prices refunded in one
    // transaction; one sweep pays the payee exactly the five requests served.
    let refund = &second["refund"];
    assert_eq!(refund["success"], true, "{second}");
    assert_eq!(refund["amount"], price(5), "{second}");
    assert_eq!(before.0 - world.token.balanceOf(payer).call().await?, U256::from(5 * PAYWALL_PRICE));
    assert_eq!(runs.load(Ordering::SeqCst), 5, "a refund runs nothing");
    let done = paywall.claim_batches().await?;
    assert_eq!((done.claims.len(), done.claimed, done.settlements.len()), (0, 0, 1), "claimed by the refund");
    let after = (world.token.balanceOf(payer).call().await?, world.token.balanceOf(world.payee).call().await?);
    assert_eq!(before.0 - after.0, U256::from(5 * PAYWALL_PRICE), "the payer paid exactly what was served");
    assert_eq!(after.1 - before.1, U256::from(5 * PAYWALL_PRICE), "the payee got exactly what was served");
    assert_eq!(world.token.balanceOf(BATCH_SETTLEMENT).call().await?, U256::ZERO);
    assert_eq!(store.unclaimed()?, 0);
    Ok(())
}

/// An agent paying through batch-settlement channels (deposits of at most `requests` prices), reading the
/// chain, keeping its record in `record`.
fn batch_agent(world: &World, record: Arc<SpendRecord>, requests: u64) -> Agent {
    let budget = Budget {
        per_request: U256::from(PAYWALL_PRICE),
        per_host: U256::from(1_000 * PAYWALL_PRICE),
        period: Duration::from_secs(3600),
        total: U256::from(1_000 * PAYWALL_PRICE),
    };
    let policy = Policy {
        budgets: BTreeMap::from([(*world.token.address(), budget)]),
        networks: vec![world.facilitator.network().into()],
        hosts: None,
        channel_requests: requests,
    };
    let funds = ChainFunds::new().with(world.facilitator.network(), RpcChain::http(world.endpoint.clone()));
    Agent::new(world.agent.clone(), policy, record).with_funds(Arc::new(funds))
}

/// The agent pays `url` once: the handler's run number and the receipt.
async fn agent_pays(agent: &Agent, url: &str) -> eyre::Result<(Value, quittance_x402::SettleResponse, PaymentPayload)> {
    let paid = agent.get(url).await?;
    assert_eq!(paid.response.status(), 200);
    let receipt = paid.receipt.clone().ok_or_else(|| eyre::eyre!("no PAYMENT-RESPONSE"))?;
    assert!(receipt.success, "{receipt:?}");
    let payment = paid.payment.clone().ok_or_else(|| eyre::eyre!("no payment"))?;
    let body: Value = paid.response.json().await?;
    Ok((body["run"].clone(), receipt, payment))
}

fn payload_type(payment: &PaymentPayload) -> String {
    payment.payload["type"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn our_agent_pays_an_official_batch_settlement_server_settled_by_the_official_facilitator() -> eyre::Result<()> {
    let world = World::new().await?;
    install_batch_settlement(&RpcChain::http(world.endpoint.clone())).await?;
    Script::run_all("multicall3.mjs", &[("QUITTANCE_RPC_URL", world.endpoint.to_string())]).await?;
    let official_key = PrivateKeySigner::from(world._anvil.keys()[4].clone());
    let (_server, port) = Script::serve(
        "batch-server.mjs",
        &[
            ("QUITTANCE_RPC_URL", world.endpoint.to_string()),
            ("QUITTANCE_FACILITATOR_KEY", B256::from(official_key.to_bytes()).to_string()),
            ("QUITTANCE_PAY_TO", world.payee.to_checksum(None)),
            ("QUITTANCE_TOKEN", world.token.address().to_checksum(None)),
            ("QUITTANCE_PRICE", PAYWALL_PRICE.to_string()),
        ],
    )
    .await?;
    let url = format!("http://127.0.0.1:{}/meter", port);
    let payer = world.agent.address();
    let before = (world.token.balanceOf(payer).call().await?, world.token.balanceOf(world.payee).call().await?);
    let file = tempfile::NamedTempFile::new()?;

    // The first request deposits the server's announced minimum (ten prices, within the policy's twenty).
    let agent = batch_agent(&world, Arc::new(SpendRecord::open(file.path())?), 20);
    let (run1, receipt, payment) = agent_pays(&agent, &url).await?;
    assert_eq!((run1, payload_type(&payment)), (json!(1), "deposit".to_owned()));
    assert!(receipt.transaction.starts_with("0x"), "{receipt:?}");
    assert_eq!(before.0 - world.token.balanceOf(payer).call().await?, U256::from(10 * PAYWALL_PRICE));
    for n in 2..=3 {
        let (run, _, payment) = agent_pays(&agent, &url).await?;
        assert_eq!((run, payload_type(&payment)), (json!(n), "voucher".to_owned()));
        assert_eq!(payment.payload["voucher"]["maxClaimableAmount"], (n * PAYWALL_PRICE).to_string());
    }
    let spent = agent.record().spent_total(*world.token.address(), u64::MAX / 2)?;
    assert_eq!(spent, U256::from(10 * PAYWALL_PRICE), "the deposit counts once against the budget");

    // A restart resumes from the record: the next voucher builds on the last one.
    drop(agent);
    let agent = batch_agent(&world, Arc::new(SpendRecord::open(file.path())?), 20);
    let (run, _, payment) = agent_pays(&agent, &url).await?;
    assert_eq!((run, payment.payload["voucher"]["maxClaimableAmount"].clone()), (json!(4), json!(price_of(4))));

    // An agent that lost its record opens the same channel: the server's corrective 402 resyncs it, and it
    // pays on from the server's count without a second deposit.
    let lost = batch_agent(&world, Arc::new(SpendRecord::in_memory()?), 20);
    let (run, _, payment) = agent_pays(&lost, &url).await?;
    assert_eq!((run, payload_type(&payment)), (json!(5), "voucher".to_owned()));
    assert_eq!(payment.payload["voucher"]["maxClaimableAmount"], price_of(5));
    assert_eq!(before.0 - world.token.balanceOf(payer).call().await?, U256::from(10 * PAYWALL_PRICE), "one deposit");

    // The server claims and sweeps: the payee gets exactly the five requests.
    let claimed: Value =
        reqwest::Client::new().post(format!("http://127.0.0.1:{}/claim", port)).send().await?.json().await?;
    assert!(claimed["settle"]["transaction"].as_str().is_some_and(|t| t.starts_with("0x")), "{claimed}");
    let after = (world.token.balanceOf(payer).call().await?, world.token.balanceOf(world.payee).call().await?);
    assert_eq!(after.1 - before.1, U256::from(5 * PAYWALL_PRICE), "the payee got exactly what was served");
    assert_eq!(before.0 - after.0, U256::from(10 * PAYWALL_PRICE));
    assert_eq!(world.token.balanceOf(BATCH_SETTLEMENT).call().await?, U256::from(5 * PAYWALL_PRICE));
    Ok(())
}

fn price_of(n: u128) -> String {
    (n * PAYWALL_PRICE).to_string()
}

#[tokio::test]
async fn the_official_client_and_server_are_settled_and_claimed_by_our_facilitator_over_http() -> eyre::Result<()> {
    let world = World::new().await?;
    install_batch_settlement(&RpcChain::http(world.endpoint.clone())).await?;
    Script::run_all("multicall3.mjs", &[("QUITTANCE_RPC_URL", world.endpoint.to_string())]).await?;
    // Started after the contract was installed, so that its /supported offers batch-settlement.
    let ledger = Arc::new(quittance_facilitator::SqliteLedger::in_memory()?);
    let facilitator = Arc::new(world.facilitator_with(ledger, quittance_testkit::fast()).await?);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let facilitator_url = format!("http://{}", listener.local_addr()?);
    let router = quittance_facilitator::http::router(facilitator.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let (_server, port) = Script::serve(
        "batch-server.mjs",
        &[
            ("QUITTANCE_RPC_URL", world.endpoint.to_string()),
            ("QUITTANCE_FACILITATOR_URL", facilitator_url),
            ("QUITTANCE_PAY_TO", world.payee.to_checksum(None)),
            ("QUITTANCE_TOKEN", world.token.address().to_checksum(None)),
            ("QUITTANCE_PRICE", PAYWALL_PRICE.to_string()),
        ],
    )
    .await?;
    let url = format!("http://127.0.0.1:{}/meter", port);
    let payer = world.agent.address();
    let before = (world.token.balanceOf(payer).call().await?, world.token.balanceOf(world.payee).call().await?);

    let report = official_batch_client(&world, &url, 3, false).await?;
    let answers = report["answers"].as_array().cloned().unwrap_or_default();
    assert_eq!(answers.len(), 3, "{report}");
    for (n, answer) in answers.iter().enumerate() {
        assert_eq!(answer["status"], 200, "{answer}");
        let body: Value = serde_json::from_str(answer["body"].as_str().unwrap_or_default())?;
        assert_eq!(body["run"], n + 1, "{answer}");
    }
    assert_eq!(sent(&answers[0]), [("deposit".to_owned(), price_of(1))]);
    assert_eq!(answers[0]["paymentResponse"]["success"], true, "{report}");
    assert_eq!(before.0 - world.token.balanceOf(payer).call().await?, U256::from(10 * PAYWALL_PRICE));
    // The last voucher again: the official server refuses it with the SDK's code; nothing runs twice.
    assert_eq!(report["replay"]["status"], 402, "{report}");
    assert_eq!(
        report["replay"]["paymentRequired"]["error"],
        quittance_x402::ErrorReason::BatchCumulativeAmountMismatch.to_string(),
        "{report}"
    );
    // The official server named our facilitator as the receiver authorizer (from our /supported).
    let offered = &report["replay"]["paymentRequired"]["accepts"][0];
    assert_eq!(offered["extra"]["receiverAuthorizer"], facilitator.address().to_checksum(None), "{report}");

    // The server's channel manager claims through our facilitator (which signs as the receiver authorizer)
    // and sweeps: the payee gets exactly the three requests.
    let claimed: Value =
        reqwest::Client::new().post(format!("http://127.0.0.1:{}/claim", port)).send().await?.json().await?;
    assert!(claimed["settle"]["transaction"].as_str().is_some_and(|t| t.starts_with("0x")), "{claimed}");
    let after = (world.token.balanceOf(payer).call().await?, world.token.balanceOf(world.payee).call().await?);
    assert_eq!(after.1 - before.1, U256::from(3 * PAYWALL_PRICE), "the payee got exactly what was served");
    assert_eq!(world.token.balanceOf(BATCH_SETTLEMENT).call().await?, U256::from(7 * PAYWALL_PRICE));
    Ok(())
}
