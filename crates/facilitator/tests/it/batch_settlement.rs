//! `batch-settlement` on the in-memory chain, with x402's batch-settlement contract and its ERC-3009 deposit
//! collector installed at their canonical addresses: a deposit and its first voucher verified and the
//! deposit settled once, then vouchers on the funded channel; a voucher over the deposit, for another
//! channel or tampered, and a replayed deposit, refused with the SDK's codes and nothing moved; a deposit
//! whose answer was lost settled with one transaction, and one in doubt at a crash concluded on restart; claims of many channels and their sweep sent once each; cooperative refunds (with the claims first, in one
//! `multicall`) sent once per nonce, a stale nonce refused by the simulation.

use crate::{fast, faults::Faulty, request, settle::settled_before};
use alloy::{
    primitives::{Address, B256, U256, keccak256},
    signers::local::PrivateKeySigner,
};
use quittance_bindings::{IBatchSettlement, TestStablecoin};
use quittance_chain::{Chain, DevChain, revm::RevmChain};
use quittance_facilitator::{Facilitator, Ledger, SqliteLedger};
use quittance_x402::{
    ErrorReason, PaymentPayload, PaymentRequirements, SettleResponse,
    batch_settlement::{
        self, BATCH_SETTLEMENT_ADDRESS, BatchSettlementExtra, ChannelConfig, ClaimPayload, EnrichedRefundPayload,
        MIN_WITHDRAW_DELAY, SettleAction, SettlePayload, VoucherClaim,
    },
};
use serde_json::json;
use std::sync::{Arc, atomic::Ordering};

/// What one request costs.
const PRICE: u128 = 1_000;
/// What the payer deposits: ten requests.
const DEPOSIT: u128 = 10_000;

struct Setup {
    chain: Faulty,
    payer: PrivateKeySigner,
    token: Address,
    payee: Address,
    facilitator: Facilitator<Faulty>,
    ledger: Arc<SqliteLedger>,
}

async fn setup() -> eyre::Result<Setup> {
    let chain = RevmChain::new(31337, 1_750_000_000);
    let owner = PrivateKeySigner::from_bytes(&keccak256("batch owner"))?;
    let key = PrivateKeySigner::from_bytes(&keccak256("batch facilitator"))?;
    let payer = PrivateKeySigner::from_bytes(&keccak256("batch payer"))?;
    let payee = PrivateKeySigner::from_bytes(&keccak256("batch payee"))?.address();
    for account in [owner.address(), key.address(), payer.address()] {
        chain.set_balance(account, U256::from(10u64).pow(U256::from(20))).await?;
    }
    quittance_deploy::install_batch_settlement(&chain).await?;
    let manifest = quittance_deploy::deploy(&chain, &owner, owner.address(), &[payer.address()], |_| {}).await?;
    let token = manifest.address("TestStablecoin").ok_or_else(|| eyre::eyre!("no token"))?;
    let chain = Faulty::new(chain);
    let ledger = Arc::new(SqliteLedger::in_memory()?);
    let facilitator = Facilitator::new(chain.clone(), key, ledger.clone(), fast()).await?;
    Ok(Setup { chain, payer, token, payee, facilitator, ledger })
}

impl Setup {
    /// The seller's option: [`PRICE`] a request, claims authorized by a key of its own.
    fn option(&self) -> PaymentRequirements {
        self.option_authorized_by(Address::repeat_byte(0xa1))
    }

    /// The seller's option with claims and refunds authorized by `authorizer`.
    fn option_authorized_by(&self, authorizer: Address) -> PaymentRequirements {
        let extra = BatchSettlementExtra::new(authorizer, MIN_WITHDRAW_DELAY, "USD Coin", "2", DEPOSIT);
        serde_json::from_value(serde_json::json!({
            "scheme": "batch-settlement", "network": "eip155:31337", "amount": PRICE.to_string(),
            "asset": self.token, "payTo": self.payee, "maxTimeoutSeconds": 120, "extra": extra.to_map(),
        }))
        .expect("valid option")
    }

    /// The payer's channel with `salt`, as the official client opens it.
    fn channel(&self, option: &PaymentRequirements, salt: B256) -> ChannelConfig {
        let terms = batch_settlement::BatchTerms::from_requirements(option).expect("valid terms");
        ChannelConfig::for_terms(&terms, self.payer.address(), Address::ZERO, salt)
    }

    /// A deposit of `amount` into `config` with a voucher for `voucher`.
    async fn deposit(
        &self,
        option: &PaymentRequirements,
        config: &ChannelConfig,
        amount: u128,
        voucher: u128,
    ) -> eyre::Result<PaymentPayload> {
        let now = self.chain.timestamp().await?;
        Ok(batch_settlement::pay_deposit(
            option,
            None,
            config,
            amount,
            voucher,
            &self.payer,
            &self.payer,
            now,
            B256::random(),
        )?)
    }

    /// A voucher for `voucher` on `config`.
    fn voucher(
        &self,
        option: &PaymentRequirements,
        config: &ChannelConfig,
        voucher: u128,
    ) -> eyre::Result<PaymentPayload> {
        Ok(batch_settlement::pay_voucher(option, None, config, voucher, &self.payer)?)
    }

    async fn balance(&self, account: Address) -> eyre::Result<U256> {
        Ok(quittance_chain::read(&self.chain.chain, self.token, TestStablecoin::balanceOfCall { account }).await?)
    }

    /// The payer's and the contract's balances.
    async fn balances(&self) -> eyre::Result<(U256, U256)> {
        Ok((self.balance(self.payer.address()).await?, self.balance(BATCH_SETTLEMENT_ADDRESS).await?))
    }

    /// What the channel holds in the contract.
    async fn channel_balance(&self, config: &ChannelConfig) -> eyre::Result<u128> {
        let call = IBatchSettlement::channelsCall { channelId: config.id(31337) };
        Ok(quittance_chain::read(&self.chain.chain, BATCH_SETTLEMENT_ADDRESS, call).await?.balance)
    }
}

/// Exactly `amount` went from the payer into the contract since `before`.
async fn moved(setup: &Setup, before: (U256, U256), amount: u128) -> eyre::Result<()> {
    let after = setup.balances().await?;
    assert_eq!(before.0 - after.0, U256::from(amount), "the payer paid exactly the deposit");
    assert_eq!(after.1 - before.1, U256::from(amount), "the contract holds exactly the deposit");
    Ok(())
}

fn refused(response: &SettleResponse, reason: ErrorReason) {
    assert!(!response.success, "expected a refusal: {response:?}");
    assert_eq!(response.error_reason, Some(reason), "{response:?}");
    assert_eq!(response.transaction, "", "nothing was sent: {response:?}");
}

async fn verify_refuses(setup: &Setup, payment: &PaymentPayload, option: &PaymentRequirements, reason: ErrorReason) {
    let verdict = setup.facilitator.verify(&request(payment.clone(), option.clone())).await;
    assert!(!verdict.is_valid, "{verdict:?}");
    assert_eq!(verdict.invalid_reason, Some(reason), "{verdict:?}");
}

#[tokio::test]
async fn a_deposit_settles_once_then_vouchers_verify_and_a_replayed_deposit_is_refused() -> eyre::Result<()> {
    let setup = setup().await?;
    let supported = setup.facilitator.supported();
    let kind = supported.kinds.iter().find(|k| k.scheme == "batch-settlement").expect("batch-settlement offered");
    let authorizer = kind.extra.as_ref().and_then(|e| e.get("receiverAuthorizer"));
    assert_eq!(authorizer, Some(&serde_json::json!(setup.facilitator.address().to_checksum(None))));
    let option = setup.option();
    let config = setup.channel(&option, B256::ZERO);
    let deposit = setup.deposit(&option, &config, DEPOSIT, PRICE).await?;
    let verified = setup.facilitator.verify(&request(deposit.clone(), option.clone())).await;
    assert!(verified.is_valid, "{verified:?}");
    assert_eq!(verified.payer, Some(setup.payer.address().to_checksum(None)));

    let before = setup.balances().await?;
    let settled = setup.facilitator.settle(&request(deposit.clone(), option.clone())).await;
    assert!(settled.success, "{settled:?}");
    moved(&setup, before, DEPOSIT).await?;
    assert_eq!(setup.channel_balance(&config).await?, DEPOSIT);
    // The channel after the deposit, where an official server keeps its balance from.
    let state = &settled.extra.clone().unwrap_or_default()["channelState"];
    assert_eq!((&state["balance"], &state["channelId"]), (&json!(DEPOSIT.to_string()), &json!(config.id(31337))));

    // Vouchers on the funded channel, up to the deposit.
    for cumulative in [2 * PRICE, DEPOSIT] {
        let voucher = setup.voucher(&option, &config, cumulative)?;
        let verdict = setup.facilitator.verify(&request(voucher, option.clone())).await;
        assert!(verdict.is_valid, "{cumulative}: {verdict:?}");
        // The channel's state, as the official facilitator answers it.
        let extra = serde_json::Value::Object(verdict.extra.unwrap_or_default());
        assert_eq!(extra["channelId"], serde_json::json!(config.id(31337)));
        assert_eq!(extra["balance"], serde_json::json!(DEPOSIT.to_string()));
        assert_eq!(extra["totalClaimed"], serde_json::json!("0"));
        assert_eq!(extra["refundNonce"], serde_json::json!("0"));
    }

    // The same deposit again: answered from the ledger, nothing sent.
    let again = setup.facilitator.settle(&request(deposit.clone(), option.clone())).await;
    settled_before(&again, ErrorReason::BatchCumulativeAmountBelowClaimed, &settled.transaction);
    verify_refuses(&setup, &deposit, &option, ErrorReason::BatchCumulativeAmountBelowClaimed).await;
    // A facilitator that lost its ledger: the simulation of the used authorization fails.
    let forgetful = Facilitator::new(
        setup.chain.clone(),
        PrivateKeySigner::from_bytes(&keccak256("batch facilitator"))?,
        Arc::new(SqliteLedger::in_memory()?),
        fast(),
    )
    .await?;
    let verdict = forgetful.verify(&request(deposit.clone(), option.clone())).await;
    assert_eq!(verdict.invalid_reason, Some(ErrorReason::BatchDepositSimulationFailed), "{verdict:?}");
    let (reached, reverted) = setup.chain.mined().await?;
    assert_eq!((reached, reverted), (1, 0), "one deposit sent");
    moved(&setup, before, DEPOSIT).await
}

#[tokio::test]
async fn vouchers_over_the_deposit_for_another_channel_or_tampered_are_refused_and_move_nothing() -> eyre::Result<()> {
    let setup = setup().await?;
    let option = setup.option();
    let config = setup.channel(&option, B256::ZERO);
    let before = setup.balances().await?;

    // A deposit whose voucher is over the deposit.
    let over = setup.deposit(&option, &config, DEPOSIT, DEPOSIT + 1).await?;
    verify_refuses(&setup, &over, &option, ErrorReason::BatchCumulativeExceedsBalance).await;
    refused(
        &setup.facilitator.settle(&request(over, option.clone())).await,
        ErrorReason::BatchCumulativeExceedsBalance,
    );

    // A deposit whose authorization signature is tampered with.
    let mut tampered = setup.deposit(&option, &config, DEPOSIT, PRICE).await?;
    let signature = &mut tampered.payload["deposit"]["authorization"]["erc3009Authorization"]["signature"];
    *signature = serde_json::json!(flip(signature.as_str().unwrap_or_default()));
    verify_refuses(&setup, &tampered, &option, ErrorReason::BatchInvalidReceiveAuthorizationSignature).await;
    refused(
        &setup.facilitator.settle(&request(tampered, option.clone())).await,
        ErrorReason::BatchInvalidReceiveAuthorizationSignature,
    );
    assert!(setup.ledger.unfinished()?.is_empty(), "nothing claimed");
    moved(&setup, before, 0).await?;

    // Fund the channel, then: a voucher over the deposit, one for an unfunded channel, one naming another
    // channel than its config, one tampered with.
    let deposit = setup.deposit(&option, &config, DEPOSIT, PRICE).await?;
    assert!(setup.facilitator.settle(&request(deposit, option.clone())).await.success);
    verify_refuses(
        &setup,
        &setup.voucher(&option, &config, DEPOSIT + 1)?,
        &option,
        ErrorReason::BatchCumulativeExceedsBalance,
    )
    .await;
    let unfunded = setup.channel(&option, B256::repeat_byte(7));
    verify_refuses(&setup, &setup.voucher(&option, &unfunded, PRICE)?, &option, ErrorReason::BatchChannelNotFound)
        .await;
    let mut elsewhere = setup.voucher(&option, &config, 2 * PRICE)?;
    elsewhere.payload["voucher"]["channelId"] = serde_json::json!(unfunded.id(31337));
    verify_refuses(&setup, &elsewhere, &option, ErrorReason::BatchChannelIdMismatch).await;
    let mut forged = setup.voucher(&option, &config, 2 * PRICE)?;
    let signature = &mut forged.payload["voucher"]["signature"];
    *signature = serde_json::json!(flip(signature.as_str().unwrap_or_default()));
    verify_refuses(&setup, &forged, &option, ErrorReason::BatchInvalidVoucherSignature).await;
    // A voucher is kept by the server, never settled on its own.
    let voucher = setup.voucher(&option, &config, 2 * PRICE)?;
    assert!(!setup.facilitator.settle(&request(voucher, option.clone())).await.success);
    let (reached, _) = setup.chain.mined().await?;
    assert_eq!(reached, 1, "only the good deposit was sent");
    moved(&setup, before, DEPOSIT).await
}

/// A hex signature with one bit of `r` flipped.
fn flip(signature: &str) -> String {
    let mut chars: Vec<char> = signature.chars().collect();
    if let Some(c) = chars.get_mut(10) {
        *c = if *c == '0' { '1' } else { '0' };
    }
    chars.into_iter().collect()
}

#[tokio::test]
async fn a_deposit_whose_answer_was_lost_is_sent_once() -> eyre::Result<()> {
    let setup = setup().await?;
    let option = setup.option();
    let config = setup.channel(&option, B256::ZERO);
    let deposit = setup.deposit(&option, &config, DEPOSIT, PRICE).await?;
    let before = setup.balances().await?;
    // The node takes the deposit but its answer is lost.
    setup.chain.lose_answers.store(1, Ordering::SeqCst);
    let first = setup.facilitator.settle(&request(deposit.clone(), option.clone())).await;
    let retried = setup.facilitator.settle(&request(deposit.clone(), option.clone())).await;
    let settled = [&first, &retried];
    assert_eq!(settled.iter().filter(|r| r.success).count(), 1, "one success: {first:?} {retried:?}");
    let (reached, reverted) = setup.chain.mined().await?;
    assert_eq!((reached, reverted), (1, 0), "one transaction, not reverted");
    assert!(setup.ledger.unfinished()?.is_empty());
    moved(&setup, before, DEPOSIT).await?;
    assert_eq!(setup.channel_balance(&config).await?, DEPOSIT);
    Ok(())
}

/// A server's `/settle` of `action`, in the envelope of `payment`.
fn action(payment: &PaymentPayload, action: &SettleAction) -> eyre::Result<PaymentPayload> {
    let mut payment = payment.clone();
    payment.payload = serde_json::to_value(action)?;
    Ok(payment)
}

#[tokio::test]
async fn claims_of_many_channels_and_their_sweep_are_sent_once_each() -> eyre::Result<()> {
    let setup = setup().await?;
    // The facilitator is the receiver authorizer: it signs the claim batch itself.
    let option = setup.option_authorized_by(setup.facilitator.address());
    let (one, two) = (setup.channel(&option, B256::ZERO), setup.channel(&option, B256::repeat_byte(2)));
    let mut claims = Vec::new();
    for (config, charged) in [(&one, 3 * PRICE), (&two, 4 * PRICE)] {
        let deposit = setup.deposit(&option, config, DEPOSIT, PRICE).await?;
        assert!(setup.facilitator.settle(&request(deposit, option.clone())).await.success);
        let voucher = batch_settlement::sign_voucher(&setup.payer, config.id(31337), charged, 31337)?;
        claims.push(VoucherClaim::new(*config, &voucher, charged));
    }
    let envelope = setup.voucher(&option, &one, PRICE)?;
    let payee_before = setup.balance(setup.payee).await?;

    // A row claiming more than its voucher: refused, nothing sent.
    let mut greedy = claims.clone();
    greedy[0].total_claimed += 1;
    let over =
        action(&envelope, &SettleAction::Claim(ClaimPayload { claims: greedy, claim_authorizer_signature: None }))?;
    refused(
        &setup.facilitator.settle(&request(over, option.clone())).await,
        ErrorReason::BatchChargeExceedsSignedCumulative,
    );

    let claim = action(&envelope, &SettleAction::Claim(ClaimPayload { claims, claim_authorizer_signature: None }))?;
    let claimed = setup.facilitator.settle(&request(claim.clone(), option.clone())).await;
    assert!(claimed.success, "{claimed:?}");
    let again = setup.facilitator.settle(&request(claim, option.clone())).await;
    settled_before(&again, ErrorReason::BatchCumulativeAmountBelowClaimed, &claimed.transaction);

    let sweep = action(&envelope, &SettleAction::Settle(SettlePayload { receiver: setup.payee, token: setup.token }))?;
    let swept = setup.facilitator.settle(&request(sweep.clone(), option.clone())).await;
    assert!(swept.success, "{swept:?}");
    assert_eq!(setup.balance(setup.payee).await? - payee_before, U256::from(7 * PRICE), "the payee got both claims");
    let again = setup.facilitator.settle(&request(sweep, option.clone())).await;
    settled_before(&again, ErrorReason::BatchCumulativeAmountBelowClaimed, &swept.transaction);
    assert_eq!(setup.balance(setup.payee).await? - payee_before, U256::from(7 * PRICE), "swept once");
    assert_eq!(setup.balance(BATCH_SETTLEMENT_ADDRESS).await?, U256::from(2 * DEPOSIT - 7 * PRICE));
    let (reached, reverted) = setup.chain.mined().await?;
    assert_eq!((reached, reverted), (4, 0), "two deposits, one claim, one sweep");
    Ok(())
}

#[tokio::test]
async fn a_deposit_in_doubt_at_a_crash_is_concluded_from_the_chain_on_restart() -> eyre::Result<()> {
    let setup = setup().await?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("ledger.sqlite");
    let key = PrivateKeySigner::from_bytes(&keccak256("batch facilitator"))?;
    let option = setup.option();
    let config = setup.channel(&option, B256::ZERO);
    let deposit = setup.deposit(&option, &config, DEPOSIT, PRICE).await?;
    let before = setup.balances().await?;
    {
        let facilitator =
            Facilitator::new(setup.chain.clone(), key.clone(), Arc::new(SqliteLedger::open(&path)?), fast()).await?;
        // The node takes the deposit but its answer is lost, then goes away: the process stops in doubt.
        setup.chain.lose_answers.store(1, Ordering::SeqCst);
        let first = facilitator.settle(&request(deposit.clone(), option.clone())).await;
        assert_eq!(first.error_reason, Some(ErrorReason::SettlementPending), "{first:?}");
        setup.chain.unreachable.store(true, Ordering::SeqCst);
    }
    setup.chain.unreachable.store(false, Ordering::SeqCst);
    assert_eq!(SqliteLedger::open(&path)?.unfinished()?.len(), 1, "recorded before it was sent");
    // On start the deposit is concluded from its receipt (its calldata read back); asked again, it is the
    // one recorded settlement.
    let ledger = Arc::new(SqliteLedger::open(&path)?);
    let restarted = Facilitator::new(setup.chain.clone(), key, ledger.clone(), fast()).await?;
    let again = restarted.settle(&request(deposit, option)).await;
    assert!(again.success, "{again:?}");
    assert!(ledger.unfinished()?.is_empty());
    let (reached, reverted) = setup.chain.mined().await?;
    assert_eq!((reached, reverted), (1, 0), "one deposit, never twice");
    moved(&setup, before, DEPOSIT).await
}

#[tokio::test]
async fn a_cooperative_refund_claims_first_and_returns_the_rest_once() -> eyre::Result<()> {
    let setup = setup().await?;
    // The facilitator is the receiver authorizer: it signs the refund and the claim itself.
    let option = setup.option_authorized_by(setup.facilitator.address());
    let config = setup.channel(&option, B256::ZERO);
    let deposit = setup.deposit(&option, &config, DEPOSIT, PRICE).await?;
    assert!(setup.facilitator.settle(&request(deposit.clone(), option.clone())).await.success);
    let charged = 3 * PRICE;
    let voucher = batch_settlement::sign_voucher(&setup.payer, config.id(31337), charged, 31337)?;
    let refund = |amount: u128, nonce: u64, claims: Vec<VoucherClaim>| {
        action(
            &deposit,
            &SettleAction::Refund(EnrichedRefundPayload {
                channel_config: config,
                voucher: voucher.clone(),
                amount,
                refund_nonce: U256::from(nonce),
                claims,
                refund_authorizer_signature: None,
                claim_authorizer_signature: None,
            }),
        )
    };
    let claim = VoucherClaim::new(config, &voucher, charged);
    let payer_before = setup.balance(setup.payer.address()).await?;

    // A claim row over its voucher: refused, nothing sent.
    let mut greedy = claim.clone();
    greedy.total_claimed += 1;
    refused(
        &setup.facilitator.settle(&request(refund(DEPOSIT, 0, vec![greedy])?, option.clone())).await,
        ErrorReason::BatchChargeExceedsSignedCumulative,
    );
    // Another receiver authorizer, and no signature from the server: the facilitator cannot sign it.
    let foreign = setup.option();
    let foreign_config = setup.channel(&foreign, B256::ZERO);
    let mut not_ours = refund(DEPOSIT, 0, Vec::new())?;
    not_ours.payload["channelConfig"] = serde_json::to_value(foreign_config)?;
    not_ours.payload["voucher"]["channelId"] = serde_json::to_value(foreign_config.id(31337))?;
    refused(
        &setup.facilitator.settle(&request(not_ours, foreign.clone())).await,
        ErrorReason::BatchAuthorizerNotConfigured,
    );

    // The claim of what was charged and the refund of everything else, in one transaction.
    let asked = refund(DEPOSIT, 0, vec![claim.clone()])?;
    let refunded = setup.facilitator.settle(&request(asked.clone(), option.clone())).await;
    assert!(refunded.success, "{refunded:?}");
    assert_eq!(refunded.amount.as_deref(), Some((DEPOSIT - charged).to_string().as_str()));
    let state = &refunded.extra.clone().unwrap_or_default()["channelState"];
    assert_eq!((&state["balance"], &state["totalClaimed"]), (&json!(charged.to_string()), &json!(charged.to_string())));
    assert_eq!(setup.balance(setup.payer.address()).await? - payer_before, U256::from(DEPOSIT - charged));
    assert_eq!(setup.channel_balance(&config).await?, charged, "what was charged stays, claimed");
    let gas = setup.chain.receipt(refunded.transaction.parse()?).await?.map(|r| r.gas_used).unwrap_or_default();
    println!("gas: a claim and a refund in one multicall {gas}");
    // Asked again: from the ledger, nothing sent. At the used nonce: refused by the simulation.
    let again = setup.facilitator.settle(&request(asked, option.clone())).await;
    assert!(again.settled_before(), "{again:?}");
    refused(
        &setup.facilitator.settle(&request(refund(1, 0, Vec::new())?, option.clone())).await,
        ErrorReason::BatchRefundNoBalance,
    );
    refused(
        &setup.facilitator.settle(&request(refund(1, 1, Vec::new())?, option.clone())).await,
        ErrorReason::BatchRefundNoBalance,
    );
    assert_eq!(setup.balance(setup.payer.address()).await? - payer_before, U256::from(DEPOSIT - charged));

    // The sweep pays the payee what was claimed.
    let payee_before = setup.balance(setup.payee).await?;
    let sweep = action(&deposit, &SettleAction::Settle(SettlePayload { receiver: setup.payee, token: setup.token }))?;
    assert!(setup.facilitator.settle(&request(sweep, option.clone())).await.success);
    assert_eq!(setup.balance(setup.payee).await? - payee_before, U256::from(charged));
    let (reached, reverted) = setup.chain.mined().await?;
    assert_eq!((reached, reverted), (3, 0), "a deposit, the claim with the refund, a sweep");
    Ok(())
}

#[tokio::test]
async fn a_refund_at_a_stale_nonce_is_refused_by_the_simulation_and_moves_nothing() -> eyre::Result<()> {
    let setup = setup().await?;
    let option = setup.option_authorized_by(setup.facilitator.address());
    let config = setup.channel(&option, B256::ZERO);
    let deposit = setup.deposit(&option, &config, DEPOSIT, PRICE).await?;
    assert!(setup.facilitator.settle(&request(deposit.clone(), option.clone())).await.success);
    let voucher = batch_settlement::sign_voucher(&setup.payer, config.id(31337), PRICE, 31337)?;
    let refund = |amount: u128, nonce: u64| {
        action(
            &deposit,
            &SettleAction::Refund(EnrichedRefundPayload {
                channel_config: config,
                voucher: voucher.clone(),
                amount,
                refund_nonce: U256::from(nonce),
                claims: Vec::new(),
                refund_authorizer_signature: None,
                claim_authorizer_signature: None,
            }),
        )
    };
    let payer_before = setup.balance(setup.payer.address()).await?;
    // A part of it at nonce 0, then nonce 0 again (stale): refused, nothing moved.
    assert!(setup.facilitator.settle(&request(refund(2_000, 0)?, option.clone())).await.success);
    refused(
        &setup.facilitator.settle(&request(refund(3_000, 0)?, option.clone())).await,
        ErrorReason::BatchRefundSimulationFailed,
    );
    assert_eq!(setup.balance(setup.payer.address()).await? - payer_before, U256::from(2_000u64));
    // At the next nonce: the next part.
    assert!(setup.facilitator.settle(&request(refund(3_000, 1)?, option.clone())).await.success);
    assert_eq!(setup.balance(setup.payer.address()).await? - payer_before, U256::from(5_000u64));
    assert_eq!(setup.channel_balance(&config).await?, DEPOSIT - 5_000);
    Ok(())
}
