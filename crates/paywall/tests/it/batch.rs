//! A route priced in `batch-settlement` on the in-process chain, with x402's batch-settlement contract at
//! its canonical address and our facilitator in-process as the receiver authorizer: the deposit settled
//! before serving, vouchers accepted one price at a time, a replayed voucher answered from the store, a
//! voucher off the channel's count corrected with the channel's state, the vouchers kept across a restart,
//! and claims of many channels paying the payee exactly what was served.

use crate::{get_with, receipt, required};
use alloy::{
    primitives::{Address, B256, U256, keccak256},
    signers::local::PrivateKeySigner,
};
use axum::{Json, Router, http::StatusCode, routing::get};
use quittance_bindings::TestStablecoin;
use quittance_chain::{Chain, DevChain, revm::RevmChain};
use quittance_facilitator::{Facilitator, SqliteLedger};
use quittance_paywall::{BatchOffer, BatchStore, Paywall, Price};
use quittance_x402::{
    Ambient, ErrorReason, PaymentPayload, PaymentRequirements, ResourceInfo,
    batch_settlement::{self, BATCH_SETTLEMENT_ADDRESS, BatchSettlementExtra, BatchTerms, ChannelConfig},
};
use serde_json::json;
use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

/// What one request costs.
const PRICE: u128 = 1_000;
/// What a payer deposits: ten requests.
const DEPOSIT: u128 = 10_000;
/// The chain's clock, which the paywall reads too.
const NOW: u64 = 1_750_000_000;

struct Shop {
    chain: RevmChain,
    token: Address,
    payee: Address,
    facilitator: Arc<Facilitator<RevmChain>>,
    payers: Vec<PrivateKeySigner>,
}

async fn shop() -> eyre::Result<Shop> {
    let chain = RevmChain::new(31337, NOW);
    let owner = PrivateKeySigner::from_bytes(&keccak256("paywall batch owner"))?;
    let key = PrivateKeySigner::from_bytes(&keccak256("paywall batch facilitator"))?;
    let payers = ["paywall batch payer one", "paywall batch payer two"]
        .map(|seed| PrivateKeySigner::from_bytes(&keccak256(seed)))
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    let payee = PrivateKeySigner::from_bytes(&keccak256("paywall batch payee"))?.address();
    for account in [owner.address(), key.address()] {
        chain.set_balance(account, U256::from(10u64).pow(U256::from(20))).await?;
    }
    quittance_deploy::install_batch_settlement(&chain).await?;
    let funded = payers.iter().map(PrivateKeySigner::address).collect::<Vec<_>>();
    let manifest = quittance_deploy::deploy(&chain, &owner, owner.address(), &funded, |_| {}).await?;
    let token = manifest.address("TestStablecoin").ok_or_else(|| eyre::eyre!("no token"))?;
    let ledger = Arc::new(SqliteLedger::in_memory()?);
    let facilitator = Arc::new(Facilitator::new(chain.clone(), key, ledger, quittance_testkit::fast()).await?);
    Ok(Shop { chain, token, payee, facilitator, payers })
}

impl Shop {
    fn price(&self) -> Price {
        Price {
            network: "eip155:31337".into(),
            asset: self.token,
            asset_name: "USD Coin".into(),
            asset_version: "2".into(),
            amount: U256::from(PRICE),
            pay_to: self.payee,
            max_timeout_seconds: 120,
            description: "a metered answer".into(),
            mime_type: "application/json".into(),
            invoices: None,
            settle_before_serving: false,
            channels: None,
            cross_chain: Vec::new(),
        }
    }

    fn offer(&self) -> BatchOffer {
        BatchOffer::new(self.facilitator.address())
    }

    /// The paywall over `store`, with `/meter` counting its executions in `runs` and `/broken` failing.
    fn app(
        &self,
        store: Arc<BatchStore>,
        offer: BatchOffer,
        runs: Arc<AtomicUsize>,
    ) -> (Router, Paywall<Facilitator<RevmChain>>) {
        let paywall = Paywall::new(self.facilitator.clone(), "http://shop.test")
            .with_ambient(Ambient::new(|| NOW, B256::random))
            .with_batch_store(store);
        let meter = get(move || {
            let runs = runs.clone();
            async move { Json(json!({"run": runs.fetch_add(1, Ordering::SeqCst) + 1})) }
        })
        .layer(paywall.price_batch_settlement(self.price(), offer));
        let broken = get(|| async { StatusCode::INTERNAL_SERVER_ERROR })
            .layer(paywall.price_batch_settlement(self.price(), offer));
        (Router::new().route("/meter", meter).route("/broken", broken), paywall)
    }

    async fn balance(&self, account: Address) -> eyre::Result<U256> {
        Ok(quittance_chain::read(&self.chain, self.token, TestStablecoin::balanceOfCall { account }).await?)
    }
}

/// The route's 402: its one option and the resource.
async fn offered(app: &Router) -> eyre::Result<(PaymentRequirements, ResourceInfo)> {
    let (status, headers, _) = get_with(app, "/meter", None).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    let offer = required(&headers);
    assert_eq!(offer.accepts.len(), 1, "batch-settlement only");
    Ok((offer.accepts[0].clone(), offer.resource))
}

/// The payer's channel, as the official client opens it (the payer signs its own vouchers).
fn channel(option: &PaymentRequirements, payer: &PrivateKeySigner) -> eyre::Result<ChannelConfig> {
    let terms = BatchTerms::from_requirements(option).map_err(|r| eyre::eyre!("{r}"))?;
    Ok(ChannelConfig::for_terms(&terms, payer.address(), payer.address(), B256::ZERO))
}

fn voucher(
    option: &PaymentRequirements,
    config: &ChannelConfig,
    payer: &PrivateKeySigner,
    cumulative: u128,
) -> eyre::Result<PaymentPayload> {
    Ok(batch_settlement::pay_voucher(option, None, config, cumulative, payer)?)
}

/// Pays `/meter` with `payment`: the status and the handler's run number.
async fn pay(app: &Router, payment: &PaymentPayload) -> (StatusCode, serde_json::Value, axum::http::HeaderMap) {
    let (status, headers, body) = get_with(app, "/meter", Some(payment)).await;
    (status, body["run"].clone(), headers)
}

#[tokio::test]
async fn deposits_settle_vouchers_are_kept_across_a_restart_and_claims_pay_exactly_what_was_served() -> eyre::Result<()>
{
    let shop = shop().await?;
    let file = tempfile::NamedTempFile::new()?;
    let runs = Arc::new(AtomicUsize::new(0));
    let (app, paywall) = shop.app(Arc::new(BatchStore::open(file.path())?), shop.offer(), runs.clone());
    let (option, resource) = offered(&app).await?;
    let extra: BatchSettlementExtra = serde_json::from_value(serde_json::Value::Object(option.extra.clone()))?;
    assert_eq!(extra.receiver_authorizer, shop.facilitator.address());
    assert_eq!(extra.min_deposit, Some(10 * PRICE), "ten prices, as the official server");
    let payer = &shop.payers[0];
    let config = channel(&option, payer)?;
    let payer_before = shop.balance(payer.address()).await?;

    // The first request: a deposit with the first voucher, settled before serving.
    let deposit = batch_settlement::pay_deposit(
        &option,
        Some(resource),
        &config,
        DEPOSIT,
        PRICE,
        payer,
        payer,
        NOW,
        B256::random(),
    )?;
    let (status, run, headers) = pay(&app, &deposit).await;
    assert_eq!((status, run), (StatusCode::OK, json!(1)));
    let settled = receipt(&headers);
    assert!(settled.success && settled.transaction.starts_with("0x"), "{settled:?}");
    let extra = settled.extra.clone().unwrap_or_default();
    assert_eq!(extra["chargedAmount"], json!(PRICE.to_string()));
    assert_eq!(extra["channelState"]["chargedCumulativeAmount"], json!(PRICE.to_string()));
    assert_eq!(payer_before - shop.balance(payer.address()).await?, U256::from(DEPOSIT));
    assert_eq!(shop.balance(BATCH_SETTLEMENT_ADDRESS).await?, U256::from(DEPOSIT));

    // Then a voucher a request, each for everything so far: no transaction.
    for n in 2..=5u128 {
        let (status, run, headers) = pay(&app, &voucher(&option, &config, payer, n * PRICE)?).await;
        assert_eq!((status, run), (StatusCode::OK, json!(n)), "voucher {n}");
        let settled = receipt(&headers);
        assert_eq!(settled.transaction, "", "a voucher sends nothing");
        assert_eq!(
            settled.extra.unwrap_or_default()["channelState"]["chargedCumulativeAmount"],
            json!((n * PRICE).to_string())
        );
    }
    // The same voucher again: the answer it bought, not a second run.
    let last = voucher(&option, &config, payer, 5 * PRICE)?;
    assert_eq!(pay(&app, &last).await.1, json!(5));
    assert_eq!(pay(&app, &deposit).await.1, json!(1), "the deposit again: its answer");
    // A voucher that skips a price: the corrective 402 with the channel's count and the latest voucher.
    let (status, _, headers) = pay(&app, &voucher(&option, &config, payer, 7 * PRICE)?).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    let corrective = required(&headers);
    assert_eq!(corrective.error.as_deref(), Some(ErrorReason::BatchCumulativeAmountMismatch.to_string().as_str()));
    let state = &corrective.accepts[0].extra;
    assert_eq!(state["channelState"]["chargedCumulativeAmount"], json!((5 * PRICE).to_string()));
    assert_eq!(state["channelState"]["balance"], json!(DEPOSIT.to_string()));
    assert_eq!(state["voucherState"]["signedMaxClaimable"], json!((5 * PRICE).to_string()));
    assert_eq!(state["voucherState"]["signature"], json!(last.payload["voucher"]["signature"]));
    // A failing handler charges nothing: the same voucher buys the next run.
    let sixth = voucher(&option, &config, payer, 6 * PRICE)?;
    let (broken, _, _) = get_with(&app, "/broken", Some(&sixth)).await;
    assert_eq!(broken, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(pay(&app, &sixth).await.1, json!(6));
    assert_eq!(runs.load(Ordering::SeqCst), 6, "one run per voucher");

    // A restart (the payment store, in memory, is lost; the batch store is the file): the vouchers stand.
    drop((app, paywall));
    let (app, paywall) = shop.app(Arc::new(BatchStore::open(file.path())?), shop.offer(), runs.clone());
    let (status, _, headers) = pay(&app, &sixth).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "a used voucher never runs twice");
    assert_eq!(
        required(&headers).accepts[0].extra["channelState"]["chargedCumulativeAmount"],
        json!((6 * PRICE).to_string())
    );
    assert_eq!(pay(&app, &voucher(&option, &config, payer, 7 * PRICE)?).await.1, json!(7));

    // A second payer's channel, three requests.
    let other = &shop.payers[1];
    let other_config = channel(&option, other)?;
    let other_deposit =
        batch_settlement::pay_deposit(&option, None, &other_config, DEPOSIT, PRICE, other, other, NOW, B256::random())?;
    assert_eq!(pay(&app, &other_deposit).await.0, StatusCode::OK);
    for n in 2..=3u128 {
        assert_eq!(pay(&app, &voucher(&option, &other_config, other, n * PRICE)?).await.0, StatusCode::OK);
    }
    assert_eq!(runs.load(Ordering::SeqCst), 10);

    // One claim of both channels, one sweep: the payee gets exactly the ten requests.
    let payee_before = shop.balance(shop.payee).await?;
    let done = paywall.claim_batches().await?;
    assert_eq!((done.claims.len(), done.vouchers, done.claimed, done.settlements.len()), (1, 2, 10 * PRICE, 1));
    assert_eq!(shop.balance(shop.payee).await? - payee_before, U256::from(10 * PRICE));
    assert_eq!(shop.balance(BATCH_SETTLEMENT_ADDRESS).await?, U256::from(2 * DEPOSIT - 10 * PRICE));
    let gas = |tx: &str| {
        let hash = tx.parse::<B256>();
        let chain = shop.chain.clone();
        async move { Ok::<_, eyre::Report>(chain.receipt(hash?).await?.map(|r| r.gas_used).unwrap_or_default()) }
    };
    println!(
        "gas: deposit {}, claim of 2 channels (10 requests) {}, sweep {}",
        gas(&settled.transaction).await?,
        gas(&done.claims[0]).await?,
        gas(&done.settlements[0]).await?
    );
    // Nothing is claimed twice.
    let again = paywall.claim_batches().await?;
    assert_eq!((again.claims.len(), again.settlements.len()), (0, 0));
    assert_eq!(shop.balance(shop.payee).await? - payee_before, U256::from(10 * PRICE));
    // The channel goes on after its claim.
    assert_eq!(pay(&app, &voucher(&option, &config, payer, 8 * PRICE)?).await.1, json!(11));
    let later = paywall.claim_batches().await?;
    assert_eq!((later.vouchers, later.claimed), (1, PRICE));
    assert_eq!(shop.balance(shop.payee).await? - payee_before, U256::from(11 * PRICE));
    Ok(())
}

#[tokio::test]
async fn past_the_threshold_the_paywall_claims_on_its_own() -> eyre::Result<()> {
    let shop = shop().await?;
    let store = Arc::new(BatchStore::in_memory()?);
    let offer = BatchOffer { claim_threshold: Some(3 * PRICE), ..shop.offer() };
    let (app, _paywall) = shop.app(store.clone(), offer, Arc::new(AtomicUsize::new(0)));
    let (option, _) = offered(&app).await?;
    let payer = &shop.payers[0];
    let config = channel(&option, payer)?;
    let deposit =
        batch_settlement::pay_deposit(&option, None, &config, DEPOSIT, PRICE, payer, payer, NOW, B256::random())?;
    let payee_before = shop.balance(shop.payee).await?;
    assert_eq!(pay(&app, &deposit).await.0, StatusCode::OK);
    assert_eq!(pay(&app, &voucher(&option, &config, payer, 2 * PRICE)?).await.0, StatusCode::OK);
    assert_eq!(store.unclaimed()?, 2 * PRICE, "below the threshold: nothing claimed");
    assert_eq!(pay(&app, &voucher(&option, &config, payer, 3 * PRICE)?).await.0, StatusCode::OK);
    for _ in 0..200 {
        if shop.balance(shop.payee).await? > payee_before {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(shop.balance(shop.payee).await? - payee_before, U256::from(3 * PRICE));
    assert_eq!(store.unclaimed()?, 0);
    Ok(())
}

#[tokio::test]
async fn a_voucher_over_the_deposit_or_for_another_channel_is_refused_with_the_sdks_code_and_runs_nothing()
-> eyre::Result<()> {
    let shop = shop().await?;
    let runs = Arc::new(AtomicUsize::new(0));
    let (app, _paywall) = shop.app(Arc::new(BatchStore::in_memory()?), shop.offer(), runs.clone());
    let (option, _) = offered(&app).await?;
    let payer = &shop.payers[0];
    let config = channel(&option, payer)?;
    // A deposit of two prices.
    let deposit =
        batch_settlement::pay_deposit(&option, None, &config, 2 * PRICE, PRICE, payer, payer, NOW, B256::random())?;
    assert_eq!(pay(&app, &deposit).await.0, StatusCode::OK);
    assert_eq!(pay(&app, &voucher(&option, &config, payer, 2 * PRICE)?).await.0, StatusCode::OK);
    let refused = |headers: &axum::http::HeaderMap| required(headers).error.unwrap_or_default();
    // The third voucher is over the deposit: the facilitator's code, nothing run.
    let (status, _, headers) = pay(&app, &voucher(&option, &config, payer, 3 * PRICE)?).await;
    assert_eq!(
        (status, refused(&headers)),
        (StatusCode::PAYMENT_REQUIRED, ErrorReason::BatchCumulativeExceedsBalance.to_string())
    );
    // A voucher naming another channel than its config.
    let mut other = voucher(&option, &config, payer, 3 * PRICE)?;
    other.payload["voucher"]["channelId"] = json!(B256::repeat_byte(7));
    let (status, _, headers) = pay(&app, &other).await;
    assert_eq!(
        (status, refused(&headers)),
        (StatusCode::PAYMENT_REQUIRED, ErrorReason::BatchChannelIdMismatch.to_string())
    );
    // A tampered signature.
    let mut tampered = voucher(&option, &config, payer, 3 * PRICE)?;
    tampered.payload["voucher"]["signature"] = json!(format!("0x{}", "11".repeat(65)));
    let (status, _, headers) = pay(&app, &tampered).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    assert!(refused(&headers).starts_with("invalid_batch_settlement_evm_"), "{}", refused(&headers));
    assert_eq!(runs.load(Ordering::SeqCst), 2, "nothing run for a refused voucher");
    // A top-up deposit with the next voucher pays on.
    let top_up =
        batch_settlement::pay_deposit(&option, None, &config, 2 * PRICE, 3 * PRICE, payer, payer, NOW, B256::random())?;
    let (status, run, headers) = pay(&app, &top_up).await;
    assert_eq!((status, run), (StatusCode::OK, json!(3)));
    assert_eq!(
        receipt(&headers).extra.unwrap_or_default()["channelState"]["chargedCumulativeAmount"],
        json!((3 * PRICE).to_string())
    );
    assert_eq!(shop.balance(BATCH_SETTLEMENT_ADDRESS).await?, U256::from(4 * PRICE));
    Ok(())
}

#[tokio::test]
async fn a_clients_refund_claims_what_was_charged_returns_the_rest_once_and_the_sweep_pays_the_payee()
-> eyre::Result<()> {
    let shop = shop().await?;
    let runs = Arc::new(AtomicUsize::new(0));
    let (app, paywall) = shop.app(Arc::new(BatchStore::in_memory()?), shop.offer(), runs.clone());
    let (option, _) = offered(&app).await?;
    let payer = &shop.payers[0];
    let config = channel(&option, payer)?;
    let payer_before = shop.balance(payer.address()).await?;
    let deposit =
        batch_settlement::pay_deposit(&option, None, &config, DEPOSIT, PRICE, payer, payer, NOW, B256::random())?;
    assert_eq!(pay(&app, &deposit).await.0, StatusCode::OK);
    for n in 2..=3u128 {
        assert_eq!(pay(&app, &voucher(&option, &config, payer, n * PRICE)?).await.0, StatusCode::OK);
    }
    // A refund whose voucher is not what was charged: the corrective 402, nothing moved.
    let wrong = batch_settlement::pay_refund(&option, None, &config, 2 * PRICE, payer, None)?;
    let (status, _, headers) = pay(&app, &wrong).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(required(&headers).error, Some(ErrorReason::BatchCumulativeAmountMismatch.to_string()));
    // The refund of the rest: the three requests claimed, seven prices back to the payer, the handler not run.
    let refund = batch_settlement::pay_refund(&option, None, &config, 3 * PRICE, payer, None)?;
    let (status, headers, body) = get_with(&app, "/meter", Some(&refund)).await;
    assert_eq!((status, body["message"].clone()), (StatusCode::OK, json!("Refund acknowledged")));
    let settled = receipt(&headers);
    assert!(settled.success && settled.transaction.starts_with("0x"), "{settled:?}");
    assert_eq!(settled.amount, Some((DEPOSIT - 3 * PRICE).to_string()));
    assert_eq!(payer_before - shop.balance(payer.address()).await?, U256::from(3 * PRICE));
    assert_eq!(runs.load(Ordering::SeqCst), 3, "a refund runs nothing");
    // The same refund again: its stored answer, nothing moved. Another: nothing left to refund.
    let (again, again_headers, _) = get_with(&app, "/meter", Some(&refund)).await;
    assert_eq!((again, receipt(&again_headers).transaction), (StatusCode::OK, settled.transaction.clone()));
    let more = batch_settlement::pay_refund(&option, None, &config, 3 * PRICE, payer, Some(1))?;
    let (status, _, headers) = pay(&app, &more).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(required(&headers).error, Some(ErrorReason::BatchRefundNoBalance.to_string()));
    assert_eq!(payer_before - shop.balance(payer.address()).await?, U256::from(3 * PRICE));
    // The claim was the refund's: the next claim run only sweeps.
    let payee_before = shop.balance(shop.payee).await?;
    let done = paywall.claim_batches().await?;
    assert_eq!((done.claims.len(), done.settlements.len()), (0, 1));
    assert_eq!(shop.balance(shop.payee).await? - payee_before, U256::from(3 * PRICE));
    assert_eq!(shop.balance(BATCH_SETTLEMENT_ADDRESS).await?, U256::ZERO);
    Ok(())
}

/// The paywall over the two stores in files, `/meter` panicking (a crash mid-request) while `crash` is set.
fn crashing_app(
    shop: &Shop,
    payments: &std::path::Path,
    batches: &std::path::Path,
    crash: Arc<std::sync::atomic::AtomicBool>,
    runs: Arc<AtomicUsize>,
) -> eyre::Result<Router> {
    let paywall = Paywall::new(shop.facilitator.clone(), "http://shop.test")
        .with_ambient(Ambient::new(|| NOW, B256::random))
        .with_store(Arc::new(quittance_paywall::SqliteStore::open(payments)?), "shop")
        .with_batch_store(Arc::new(BatchStore::open(batches)?));
    let meter = get(move || {
        let (crash, runs) = (crash.clone(), runs.clone());
        async move {
            assert!(!crash.load(Ordering::SeqCst), "the process dies mid-request");
            Json(json!({"run": runs.fetch_add(1, Ordering::SeqCst) + 1}))
        }
    })
    .layer(paywall.price_batch_settlement(shop.price(), shop.offer()));
    Ok(Router::new().route("/meter", meter))
}

#[tokio::test]
async fn a_voucher_recorded_before_a_crash_is_served_on_restart_and_charged_once() -> eyre::Result<()> {
    let shop = shop().await?;
    let dir = tempfile::tempdir()?;
    let (payments, batches) = (dir.path().join("payments.sqlite"), dir.path().join("batches.sqlite"));
    let crash = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let runs = Arc::new(AtomicUsize::new(0));
    let app = crashing_app(&shop, &payments, &batches, crash.clone(), runs.clone())?;
    let (option, _) = offered(&app).await?;
    let payer = &shop.payers[0];
    let config = channel(&option, payer)?;
    let deposit =
        batch_settlement::pay_deposit(&option, None, &config, DEPOSIT, PRICE, payer, payer, NOW, B256::random())?;
    assert_eq!(pay(&app, &deposit).await.0, StatusCode::OK);

    // The second voucher is recorded, then the process dies in the handler: no answer.
    crash.store(true, Ordering::SeqCst);
    let second = voucher(&option, &config, payer, 2 * PRICE)?;
    let request = axum::http::Request::get("/meter")
        .header(quittance_x402::PAYMENT_SIGNATURE, quittance_x402::encode_header(&second))
        .body(axum::body::Body::empty())?;
    let died = tokio::spawn(tower::ServiceExt::oneshot(app.clone(), request)).await;
    assert!(died.is_err(), "the request died with the process");
    drop(app);
    let record = BatchStore::open(&batches)?.channel(config.id(31337))?.expect("the channel is recorded");
    assert_eq!(record.charged, 2 * PRICE, "the voucher was recorded before the handler ran");

    // On restart the same voucher is served (its charge stands, once); the next builds on it.
    crash.store(false, Ordering::SeqCst);
    let app = crashing_app(&shop, &payments, &batches, crash, runs.clone())?;
    let (status, run, headers) = pay(&app, &second).await;
    assert_eq!((status, run), (StatusCode::OK, json!(2)));
    assert_eq!(
        receipt(&headers).extra.unwrap_or_default()["channelState"]["chargedCumulativeAmount"],
        json!((2 * PRICE).to_string())
    );
    assert_eq!(pay(&app, &second).await.1, json!(2), "then its stored answer");
    assert_eq!(pay(&app, &voucher(&option, &config, payer, 3 * PRICE)?).await.1, json!(3));
    assert_eq!(BatchStore::open(&batches)?.unclaimed()?, 3 * PRICE, "charged once each");
    Ok(())
}

#[tokio::test]
async fn a_claim_sent_before_a_crash_is_resumed_as_recorded_and_pays_once() -> eyre::Result<()> {
    use quittance_x402::batch_settlement::{ClaimPayload, SettleAction, VoucherClaim};
    let shop = shop().await?;
    let file = tempfile::NamedTempFile::new()?;
    let store = Arc::new(BatchStore::open(file.path())?);
    let (app, _paywall) = shop.app(store.clone(), shop.offer(), Arc::new(AtomicUsize::new(0)));
    let (option, _) = offered(&app).await?;
    let payer = &shop.payers[0];
    let config = channel(&option, payer)?;
    let deposit =
        batch_settlement::pay_deposit(&option, None, &config, DEPOSIT, PRICE, payer, payer, NOW, B256::random())?;
    assert_eq!(pay(&app, &deposit).await.0, StatusCode::OK);
    for n in 2..=3u128 {
        assert_eq!(pay(&app, &voucher(&option, &config, payer, n * PRICE)?).await.0, StatusCode::OK);
    }

    // The claim as the paywall makes it: recorded, then sent; the process dies before it sees the outcome.
    let record = store.channel(config.id(31337))?.expect("the channel");
    let payload = ClaimPayload {
        claims: vec![VoucherClaim::new(record.config, &record.voucher, record.charged)],
        claim_authorizer_signature: None,
    };
    store.begin_claim("eip155:31337", shop.payee, shop.token, &payload, NOW)?;
    let requirements: PaymentRequirements = serde_json::from_value(json!({
        "scheme": "batch-settlement", "network": "eip155:31337", "amount": "0", "asset": shop.token,
        "payTo": shop.payee, "maxTimeoutSeconds": 0, "extra": {},
    }))?;
    let claim = PaymentPayload {
        x402_version: 2,
        resource: None,
        accepted: requirements.clone(),
        payload: serde_json::to_value(SettleAction::Claim(payload))?,
        extensions: None,
    };
    let request =
        quittance_x402::VerifyRequest { x402_version: 2, payment_payload: claim, payment_requirements: requirements };
    let sent = shop.facilitator.settle(&request).await;
    assert!(sent.success, "{sent:?}");
    drop((app, _paywall, store));

    // After the restart the recorded claim is sent again as it was: the facilitator answers it from its
    // ledger, nothing is claimed twice, and the sweep pays the payee exactly the three requests.
    let store = Arc::new(BatchStore::open(file.path())?);
    let (_app, paywall) = shop.app(store.clone(), shop.offer(), Arc::new(AtomicUsize::new(0)));
    let payee_before = shop.balance(shop.payee).await?;
    let done = paywall.claim_batches().await?;
    assert_eq!(done.claims, [sent.transaction], "the claim sent before, not a new one");
    assert_eq!((done.vouchers, done.claimed, done.settlements.len()), (1, 3 * PRICE, 1));
    assert_eq!(shop.balance(shop.payee).await? - payee_before, U256::from(3 * PRICE));
    assert_eq!(shop.balance(BATCH_SETTLEMENT_ADDRESS).await?, U256::from(DEPOSIT - 3 * PRICE));
    assert_eq!(store.unclaimed()?, 0);
    Ok(())
}
