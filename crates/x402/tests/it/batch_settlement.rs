use alloy::{
    primitives::{Address, B256, U256, address, b256},
    signers::local::PrivateKeySigner,
};
use quittance_x402::{
    ErrorReason, PaymentPayload, PaymentRequirements,
    batch_settlement::{
        self, BatchSettlementExtra, BatchSettlementPayload, BatchTerms, ChannelConfig, ChannelState, ChannelStateExtra,
        DepositAuthorization, PaymentResponseExtra, SettleAction, VoucherClaim,
    },
};
use serde_json::{Value, json};

const NOW: u64 = 1_750_000_000;
const CHAIN: u64 = 31337;
const TOKEN: Address = address!("0x5FbDB2315678afecb367f032d93F642f64180aa3");
const SELLER: Address = address!("0x90F79bf6EB2c4f870365E785982E1f101E93b906");
const AUTHORIZER: Address = address!("0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
const SALT: B256 = b256!("0x1111111111111111111111111111111111111111111111111111111111111111");
const PRICE: u128 = 10_000;
const DEPOSIT: u128 = 100_000;

fn requirements() -> PaymentRequirements {
    serde_json::from_value(json!({
        "scheme": "batch-settlement", "network": "eip155:31337", "amount": PRICE.to_string(),
        "asset": TOKEN.to_checksum(None), "payTo": SELLER.to_checksum(None), "maxTimeoutSeconds": 120,
        "extra": {"name": "USD Coin", "version": "2", "receiverAuthorizer": AUTHORIZER.to_checksum(None),
                  "withdrawDelay": 900, "minDeposit": "100000"}
    }))
    .expect("valid requirements")
}

fn with_extra(edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> PaymentRequirements {
    let mut requirements = requirements();
    edit(&mut requirements.extra);
    requirements
}

fn key(hex: B256) -> PrivateKeySigner {
    PrivateKeySigner::from_bytes(&hex).expect("valid key")
}

/// Anvil's third account, `0x3C44…93BC`.
fn payer() -> PrivateKeySigner {
    key(b256!("0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"))
}

fn stranger() -> PrivateKeySigner {
    key(b256!("0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a"))
}

/// Anvil's second account, [`AUTHORIZER`].
fn authorizer() -> PrivateKeySigner {
    key(b256!("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"))
}

fn terms() -> BatchTerms {
    BatchTerms::from_requirements(&requirements()).expect("valid terms")
}

fn config() -> ChannelConfig {
    ChannelConfig::for_terms(&terms(), payer().address(), payer().address(), B256::ZERO)
}

fn deposit_for(config: &ChannelConfig, voucher: u128) -> PaymentPayload {
    batch_settlement::pay_deposit(&requirements(), None, config, DEPOSIT, voucher, &payer(), &payer(), NOW, SALT)
        .expect("signs")
}

fn deposit() -> PaymentPayload {
    deposit_for(&config(), PRICE)
}

fn voucher(amount: u128) -> PaymentPayload {
    batch_settlement::pay_voucher(&requirements(), None, &config(), amount, &payer()).expect("signs")
}

fn payload(payment: &PaymentPayload) -> BatchSettlementPayload {
    serde_json::from_value(payment.payload.clone()).expect("a batch-settlement payload")
}

fn with_payload(payment: &PaymentPayload, edit: impl FnOnce(&mut BatchSettlementPayload)) -> PaymentPayload {
    let mut p = payload(payment);
    edit(&mut p);
    PaymentPayload { payload: serde_json::to_value(p).expect("serializes"), ..payment.clone() }
}

/// Every check without the chain, signatures included.
fn offline(payment: &PaymentPayload, offered: &PaymentRequirements, now: u64) -> Result<(), ErrorReason> {
    batch_settlement::check(payment, offered, now)?.check_eoa_signatures()
}

fn state(balance: u128, total_claimed: u128) -> ChannelState {
    ChannelState { balance, total_claimed, withdraw_requested_at: 0, refund_nonce: U256::ZERO }
}

#[test]
fn ids_and_digests_are_the_official_sdks() {
    // Computed with the SDK's `computeChannelId` and viem's `hashTypedData` over the SDK's types and domain.
    let config = config();
    let id = config.id(CHAIN);
    assert_eq!(id, b256!("0xa1ba6ce221d5fd7e72507a4b855145daf476675d0f1054d0f52fa4f68ab95747"));
    let other = ChannelConfig { salt: B256::repeat_byte(0x22), ..config };
    assert_eq!(other.id(CHAIN), b256!("0x105c96a564f718820017f7c1b06725521ba1999f0a5fc762664f72d825863de5"));
    assert_ne!(config.id(1), id, "the id binds the chain");
    assert_eq!(
        batch_settlement::voucher_digest(id, 10_000, CHAIN),
        b256!("0xdcb8692dc9e27ef4f4672067a8fff2be21c139ffacbd4ebfc6e89ebbdccf8e11")
    );
    assert_eq!(
        batch_settlement::refund_digest(id, U256::from(3), 90_000, CHAIN),
        b256!("0x8880f1a72f174982b8c720d6365bfa4b6509b5dbf2314b96ae5ac51d18ba8ed2")
    );
    let signed =
        |config: ChannelConfig, amount| batch_settlement::sign_voucher(&payer(), config.id(CHAIN), amount, CHAIN);
    let claims = [
        VoucherClaim::new(config, &signed(config, 30_000).expect("signs"), 20_000),
        VoucherClaim::new(other, &signed(other, 10_000).expect("signs"), 10_000),
    ];
    assert_eq!(
        batch_settlement::claim_batch_digest(&claims, CHAIN),
        b256!("0x8912197ff37ce6c9499717266e0a0965cd93f44befa399eecfc5ef0134a7fabc")
    );
    for claim in &claims {
        claim.check(CHAIN).expect("a valid row");
    }
    let signature = batch_settlement::sign_claim_batch(&authorizer(), &claims, CHAIN).expect("signs");
    let recovered = alloy::primitives::Signature::from_raw(&signature)
        .expect("65 bytes")
        .recover_address_from_prehash(&batch_settlement::claim_batch_digest(&claims, CHAIN))
        .expect("recovers");
    assert_eq!(recovered, AUTHORIZER);
}

#[test]
fn the_client_opens_the_channel_the_official_client_opens() {
    let config = config();
    assert_eq!(config.receiver, SELLER);
    assert_eq!(config.receiver_authorizer, AUTHORIZER);
    assert_eq!(config.token, TOKEN);
    assert_eq!(config.withdraw_delay, 900);
    let no_delay = with_extra(|e| {
        e.remove("withdrawDelay");
    });
    let terms = BatchTerms::from_requirements(&no_delay).expect("valid");
    assert_eq!(terms.withdraw_delay, None);
    let config = ChannelConfig::for_terms(&terms, payer().address(), Address::ZERO, B256::ZERO);
    assert_eq!(config.withdraw_delay, batch_settlement::MIN_WITHDRAW_DELAY);
    assert_eq!(config.voucher_signer(), payer().address(), "no authorizer: the payer signs");
    assert_eq!(terms.min_deposit, Some(100_000));
}

#[test]
fn a_deposit_has_the_sdks_wire_form_and_passes_every_check() {
    let payment = deposit();
    assert_eq!(payment.accepted, requirements(), "the chosen option is echoed unchanged");
    let p = &payment.payload;
    assert_eq!(p["type"], "deposit");
    let config = &p["channelConfig"];
    let hex = |a: Address| json!(a.to_checksum(None));
    assert_eq!(config["payer"], hex(payer().address()));
    assert_eq!(config["withdrawDelay"], json!(900), "a JSON number, as the SDK compares it");
    assert_eq!(config["salt"], json!(format!("{:#x}", B256::ZERO)));
    assert_eq!(p["voucher"]["channelId"], json!(format!("{:#x}", self::config().id(CHAIN))));
    assert_eq!(p["voucher"]["maxClaimableAmount"], "10000");
    assert_eq!(p["deposit"]["amount"], "100000");
    let a = &p["deposit"]["authorization"]["erc3009Authorization"];
    assert_eq!(a["validAfter"], "0");
    assert_eq!(a["validBefore"], json!((NOW + 120).to_string()));
    assert_eq!(a["salt"], json!(format!("{SALT:#x}")));
    let fields = |v: &Value| v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()).unwrap_or_default();
    assert_eq!(fields(p), ["channelConfig", "deposit", "type", "voucher"]);
    assert_eq!(fields(a), ["salt", "signature", "validAfter", "validBefore"]);

    let checked = batch_settlement::check(&payment, &requirements(), NOW).expect("valid");
    checked.check_eoa_signatures().expect("signed by the payer");
    checked.check_payer_balance(U256::from(DEPOSIT)).expect("the payer can fund it");
    checked.check_channel(&ChannelState::default()).expect("the deposit covers the voucher");
    checked.check_charge(0).expect("the first request");
    checked.check_min_deposit(100_000).expect("the minimum");
    assert_eq!(checked.payer(), payer().address());
    assert_eq!(checked.channel_id(), self::config().id(CHAIN));
    let nonce = batch_settlement::deposit_nonce(checked.channel_id(), SALT);
    assert_ne!(nonce, batch_settlement::deposit_nonce(ChannelConfig { salt: SALT, ..self::config() }.id(CHAIN), SALT));
}

#[test]
fn a_voucher_and_a_refund_pass_every_check() {
    let payment = voucher(3 * PRICE);
    let checked = batch_settlement::check(&payment, &requirements(), NOW).expect("valid");
    checked.check_eoa_signatures().expect("signed by the payer authorizer");
    checked.check_channel(&state(DEPOSIT, PRICE)).expect("covered and above the claims");
    checked.check_charge(2 * PRICE).expect("the price on top of what was charged");
    checked.check_min_deposit(u128::MAX).expect("no deposit, no minimum");

    let refund =
        batch_settlement::pay_refund(&requirements(), None, &config(), 2 * PRICE, &payer(), None).expect("signs");
    assert_eq!(refund.payload["type"], "refund");
    assert!(refund.payload.get("amount").is_none(), "absent amount: everything");
    let checked = batch_settlement::check(&refund, &requirements(), NOW).expect("valid");
    checked.check_eoa_signatures().expect("signed");
    checked.check_channel(&state(DEPOSIT, 2 * PRICE)).expect("a refund's voucher may equal the claims");
    checked.check_charge(2 * PRICE).expect("a refund charges nothing");
    assert_eq!(
        batch_settlement::pay_refund(&requirements(), None, &config(), 0, &payer(), Some(0))
            .err()
            .map(|e| e.to_string()),
        Some(format!("the batch-settlement requirements cannot be paid: {}", ErrorReason::BatchRefundAmountInvalid))
    );
}

#[test]
fn a_voucher_for_another_channel_is_refused() {
    let other = ChannelConfig { salt: B256::repeat_byte(0x22), ..config() };
    // Signed for the other channel but sent with ours.
    let payment = with_payload(&voucher(PRICE), |p| {
        let BatchSettlementPayload::Voucher(v) = p else { unreachable!() };
        v.voucher = batch_settlement::sign_voucher(&payer(), other.id(CHAIN), PRICE, CHAIN).expect("signs");
    });
    assert_eq!(offline(&payment, &requirements(), NOW), Err(ErrorReason::BatchChannelIdMismatch));
    // The same for a deposit's voucher.
    let payment = with_payload(&deposit(), |p| {
        let BatchSettlementPayload::Deposit(d) = p else { unreachable!() };
        d.voucher = batch_settlement::sign_voucher(&payer(), other.id(CHAIN), PRICE, CHAIN).expect("signs");
    });
    assert_eq!(offline(&payment, &requirements(), NOW), Err(ErrorReason::BatchChannelIdMismatch));
    // A voucher of our channel signed over another channel's id.
    let payment = with_payload(&voucher(PRICE), |p| {
        let BatchSettlementPayload::Voucher(v) = p else { unreachable!() };
        v.voucher.signature =
            batch_settlement::sign_voucher(&payer(), other.id(CHAIN), PRICE, CHAIN).expect("signs").signature;
    });
    assert_eq!(offline(&payment, &requirements(), NOW), Err(ErrorReason::BatchInvalidVoucherSignature));
}

#[test]
fn a_voucher_over_the_deposit_or_not_increasing_is_refused() {
    // The deposit does not cover the voucher.
    let checked = batch_settlement::check(&deposit_for(&config(), DEPOSIT + 1), &requirements(), NOW).expect("valid");
    assert_eq!(checked.check_channel(&ChannelState::default()), Err(ErrorReason::BatchCumulativeExceedsBalance));
    assert_eq!(checked.check_channel(&state(1, 0)), Ok(()), "a top-up counts what the channel holds");
    // Over the balance.
    let checked = batch_settlement::check(&voucher(DEPOSIT + 1), &requirements(), NOW).expect("valid");
    assert_eq!(checked.check_channel(&state(DEPOSIT, 0)), Err(ErrorReason::BatchCumulativeExceedsBalance));
    // On a channel that holds nothing.
    assert_eq!(checked.check_channel(&state(0, 0)), Err(ErrorReason::BatchChannelNotFound));
    // Not above what was claimed.
    let checked = batch_settlement::check(&voucher(2 * PRICE), &requirements(), NOW).expect("valid");
    assert_eq!(checked.check_channel(&state(DEPOSIT, 2 * PRICE)), Err(ErrorReason::BatchCumulativeAmountBelowClaimed));
    assert_eq!(checked.check_channel(&state(DEPOSIT, 3 * PRICE)), Err(ErrorReason::BatchCumulativeAmountBelowClaimed));
    let checked = batch_settlement::check(&deposit(), &requirements(), NOW).expect("valid");
    assert_eq!(checked.check_channel(&state(PRICE, PRICE)), Err(ErrorReason::BatchCumulativeAmountBelowClaimed));
    // The server's view: a reused voucher, one that skips ahead, one below its charges.
    let checked = batch_settlement::check(&voucher(2 * PRICE), &requirements(), NOW).expect("valid");
    assert_eq!(checked.check_charge(2 * PRICE), Err(ErrorReason::BatchCumulativeAmountMismatch), "reused");
    assert_eq!(checked.check_charge(0), Err(ErrorReason::BatchCumulativeAmountMismatch), "skips ahead");
    assert_eq!(checked.check_charge(3 * PRICE), Err(ErrorReason::BatchCumulativeAmountMismatch), "below");
    assert_eq!(checked.check_charge(u128::MAX), Err(ErrorReason::BatchCumulativeAmountMismatch), "no overflow");
    // Below the server's minimum, and more than the payer holds.
    let checked = batch_settlement::check(&deposit(), &requirements(), NOW).expect("valid");
    assert_eq!(checked.check_min_deposit(DEPOSIT + 1), Err(ErrorReason::BatchDepositBelowMinDeposit));
    assert_eq!(checked.check_payer_balance(U256::from(DEPOSIT - 1)), Err(ErrorReason::BatchInsufficientBalance));
}

#[test]
fn bad_signatures_are_refused() {
    let by_stranger =
        batch_settlement::pay_voucher(&requirements(), None, &config(), PRICE, &stranger()).expect("signs");
    assert_eq!(offline(&by_stranger, &requirements(), NOW), Err(ErrorReason::BatchInvalidVoucherSignature));
    let by_stranger = batch_settlement::pay_deposit(
        &requirements(),
        None,
        &config(),
        DEPOSIT,
        PRICE,
        &stranger(),
        &payer(),
        NOW,
        SALT,
    )
    .expect("signs");
    assert_eq!(
        offline(&by_stranger, &requirements(), NOW),
        Err(ErrorReason::BatchInvalidReceiveAuthorizationSignature)
    );
    // A deposit whose amount was raised after signing.
    let raised = with_payload(&deposit(), |p| {
        let BatchSettlementPayload::Deposit(d) = p else { unreachable!() };
        d.deposit.amount += 1;
    });
    assert_eq!(offline(&raised, &requirements(), NOW), Err(ErrorReason::BatchInvalidReceiveAuthorizationSignature));
    // A voucher whose amount was raised after signing, and one with a high `s`.
    let raised = with_payload(&voucher(PRICE), |p| {
        let BatchSettlementPayload::Voucher(v) = p else { unreachable!() };
        v.voucher.max_claimable_amount += 1;
    });
    assert_eq!(offline(&raised, &requirements(), NOW), Err(ErrorReason::BatchInvalidVoucherSignature));
    let malleated = with_payload(&voucher(PRICE), |p| {
        let BatchSettlementPayload::Voucher(v) = p else { unreachable!() };
        let signature = alloy::primitives::Signature::from_raw(&v.voucher.signature).expect("65 bytes");
        let n =
            U256::from_str_radix("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", 16).expect("n");
        let high = alloy::primitives::Signature::new(signature.r(), n - signature.s(), !signature.v());
        v.voucher.signature = high.as_bytes().into();
    });
    assert_eq!(offline(&malleated, &requirements(), NOW), Err(ErrorReason::BatchInvalidVoucherSignature));
    // With a payer authorizer, only it signs: the payer's own signature does not count.
    let delegated = ChannelConfig { payer_authorizer: stranger().address(), ..config() };
    let payment = batch_settlement::pay_voucher(&requirements(), None, &delegated, PRICE, &payer()).expect("signs");
    assert_eq!(offline(&payment, &requirements(), NOW), Err(ErrorReason::BatchInvalidVoucherSignature));
    let payment = batch_settlement::pay_voucher(&requirements(), None, &delegated, PRICE, &stranger()).expect("signs");
    assert_eq!(offline(&payment, &requirements(), NOW), Ok(()));
}

#[test]
fn a_channel_the_requirements_do_not_accept_is_refused() {
    // Channels a client would open for other requirements, sent to ours (ids and signatures are right).
    let cases = [
        (ChannelConfig { receiver: AUTHORIZER, ..config() }, ErrorReason::BatchReceiverMismatch),
        (ChannelConfig { receiver_authorizer: SELLER, ..config() }, ErrorReason::BatchReceiverAuthorizerMismatch),
        (ChannelConfig { token: SELLER, ..config() }, ErrorReason::BatchTokenMismatch),
        (ChannelConfig { withdraw_delay: 1800, ..config() }, ErrorReason::BatchWithdrawDelayMismatch),
    ];
    for (config, reason) in cases {
        let payment = with_payload(&deposit(), |p| {
            let BatchSettlementPayload::Deposit(d) = p else { unreachable!() };
            d.channel_config = config;
            d.voucher = batch_settlement::sign_voucher(&payer(), config.id(CHAIN), PRICE, CHAIN).expect("signs");
        });
        assert_eq!(offline(&payment, &requirements(), NOW), Err(reason.clone()), "{config:?}");
        assert_eq!(
            batch_settlement::pay_voucher(&requirements(), None, &config, PRICE, &payer()).err().map(|e| e.to_string()),
            Some(format!("the batch-settlement requirements cannot be paid: {reason}")),
            "the client refuses to sign it too"
        );
    }
    // Without `extra.withdrawDelay` any delay in range goes, and none outside.
    let any_delay = with_extra(|e| {
        e.remove("withdrawDelay");
    });
    for (delay, result) in [
        (900, Ok(())),
        (2_592_000, Ok(())),
        (899, Err(ErrorReason::BatchWithdrawDelayOutOfRange)),
        (2_592_001, Err(ErrorReason::BatchWithdrawDelayOutOfRange)),
    ] {
        let config = ChannelConfig { withdraw_delay: delay, ..config() };
        let payment = with_payload(&voucher(PRICE), |p| {
            let BatchSettlementPayload::Voucher(v) = p else { unreachable!() };
            v.channel_config = config;
            v.voucher = batch_settlement::sign_voucher(&payer(), config.id(CHAIN), PRICE, CHAIN).expect("signs");
        });
        let payment = PaymentPayload { accepted: any_delay.clone(), ..payment };
        assert_eq!(offline(&payment, &any_delay, NOW), result, "{delay}");
    }
}

#[test]
fn wrong_scheme_network_requirements_or_payload_are_refused() {
    let payment = deposit();
    let mut other_network = requirements();
    other_network.network = "eip155:1".into();
    assert_eq!(offline(&payment, &other_network, NOW), Err(ErrorReason::BatchNetworkMismatch));
    let mut exact = requirements();
    exact.scheme = "exact".into();
    assert_eq!(offline(&payment, &exact, NOW), Err(ErrorReason::BatchInvalidScheme));
    let echoed_exact = PaymentPayload { accepted: exact, ..payment.clone() };
    assert_eq!(offline(&echoed_exact, &requirements(), NOW), Err(ErrorReason::BatchInvalidScheme));

    let no_authorizer = with_extra(|e| {
        e.remove("receiverAuthorizer");
    });
    let zero_authorizer = with_extra(|e| {
        e.insert("receiverAuthorizer".into(), json!(Address::ZERO));
    });
    for offered in [no_authorizer, zero_authorizer] {
        let payment = PaymentPayload { accepted: offered.clone(), ..payment.clone() };
        assert_eq!(offline(&payment, &offered, NOW), Err(ErrorReason::BatchReceiverAuthorizerMismatch));
    }
    let no_domain = with_extra(|e| {
        e.remove("name");
    });
    let echoed = PaymentPayload { accepted: no_domain.clone(), ..payment.clone() };
    assert_eq!(offline(&echoed, &no_domain, NOW), Err(ErrorReason::BatchMissingEip712Domain));
    assert_eq!(
        batch_settlement::pay_deposit(&no_domain, None, &config(), DEPOSIT, PRICE, &payer(), &payer(), NOW, SALT)
            .err()
            .map(|e| e.to_string()),
        Some(format!("the batch-settlement requirements cannot be paid: {}", ErrorReason::BatchMissingEip712Domain))
    );
    let permit2 = with_extra(|e| {
        e.insert("assetTransferMethod".into(), json!("permit2"));
    });
    let echoed = PaymentPayload { accepted: permit2.clone(), ..payment.clone() };
    assert_eq!(offline(&echoed, &permit2, NOW), Err(ErrorReason::BatchInvalidPayloadType));

    for bad in [
        json!({"type": "claim", "claims": []}),
        json!({"type": "deposit"}),
        json!({"type": "voucher", "channelConfig": payment.payload["channelConfig"],
               "voucher": {"channelId": "0x01", "maxClaimableAmount": "1", "signature": "0x"}}),
        json!({"type": "voucher", "channelConfig": payment.payload["channelConfig"],
               "voucher": {"channelId": payment.payload["voucher"]["channelId"], "maxClaimableAmount": "-1",
                           "signature": "0x"}}),
        json!({"type": "deposit", "channelConfig": payment.payload["channelConfig"],
               "voucher": payment.payload["voucher"],
               "deposit": {"amount": "1", "authorization": {}}}),
        json!("deposit"),
    ] {
        let payment = PaymentPayload { payload: bad.clone(), ..payment.clone() };
        assert_eq!(offline(&payment, &requirements(), NOW), Err(ErrorReason::BatchInvalidPayloadType), "{bad}");
    }
}

#[test]
fn an_expired_or_early_deposit_authorization_is_refused() {
    let payment = deposit();
    assert_eq!(offline(&payment, &requirements(), NOW + 114), Ok(()));
    assert_eq!(offline(&payment, &requirements(), NOW + 115), Err(ErrorReason::BatchValidBeforeExpired));
    let early = with_payload(&payment, |p| {
        let BatchSettlementPayload::Deposit(d) = p else { unreachable!() };
        let DepositAuthorization::Erc3009Authorization(a) = &mut d.deposit.authorization else { unreachable!() };
        a.valid_after = U256::from(NOW + 10);
    });
    assert_eq!(offline(&early, &requirements(), NOW), Err(ErrorReason::BatchValidAfterInFuture));
    // Vouchers carry no time.
    assert_eq!(offline(&voucher(PRICE), &requirements(), u64::MAX), Ok(()));
}

#[test]
fn permit2_deposits_parse_and_their_fields_are_checked() {
    let config = config();
    let id = config.id(CHAIN);
    let authorization = json!({
        "from": payer().address(), "permitted": {"token": TOKEN, "amount": DEPOSIT.to_string()},
        "spender": batch_settlement::PERMIT2_DEPOSIT_COLLECTOR_ADDRESS, "nonce": "42",
        "deadline": (NOW + 120).to_string(), "witness": {"channelId": id}, "signature": "0x"
    });
    let permit2 = with_extra(|e| {
        e.insert("assetTransferMethod".into(), json!("permit2"));
    });
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut authorization = authorization.clone();
        edit(&mut authorization);
        let mut payment = deposit();
        payment.accepted = permit2.clone();
        payment.payload["deposit"]["authorization"] = json!({"permit2Authorization": authorization});
        payment
    };
    let checked = batch_settlement::check(&with(&|_| {}), &permit2, NOW).expect("the fields are right");
    assert!(checked.deposit_signing_hash().is_some());
    assert_eq!(checked.check_deposit_signature(), Err(ErrorReason::BatchPermit2InvalidSignature), "unsigned");
    type Edit<'a> = &'a dyn Fn(&mut Value);
    let cases: [(Edit<'_>, ErrorReason); 5] = [
        (&|a| a["from"] = json!(SELLER), ErrorReason::BatchPermit2InvalidSignature),
        (&|a| a["spender"] = json!(SELLER), ErrorReason::BatchPermit2InvalidSpender),
        (&|a| a["permitted"]["token"] = json!(SELLER), ErrorReason::BatchTokenMismatch),
        (&|a| a["permitted"]["amount"] = json!("1"), ErrorReason::BatchPermit2AmountMismatch),
        (&|a| a["witness"]["channelId"] = json!(B256::ZERO), ErrorReason::BatchChannelIdMismatch),
    ];
    for (edit, reason) in cases {
        assert_eq!(batch_settlement::check(&with(edit), &permit2, NOW).err(), Some(reason));
    }
    assert_eq!(
        batch_settlement::check(&with(&|_| {}), &permit2, NOW + 115).err(),
        Some(ErrorReason::BatchPermit2DeadlineExpired)
    );
    // A permit where the server asks for ERC-3009.
    let mut eip3009 = with(&|_| {});
    eip3009.accepted = with_extra(|e| {
        e.insert("assetTransferMethod".into(), json!("eip3009"));
    });
    assert_eq!(
        batch_settlement::check(&eip3009, &eip3009.accepted, NOW).err(),
        Some(ErrorReason::BatchErc3009AuthorizationRequired)
    );
    assert!(matches!(
        batch_settlement::pay_deposit(&permit2, None, &config, DEPOSIT, PRICE, &payer(), &payer(), NOW, SALT),
        Err(batch_settlement::SignError::Permit2Deposit)
    ));
}

#[test]
fn the_sdks_messages_round_trip_field_for_field() {
    let config = json!({
        "payer": "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
        "payerAuthorizer": "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
        "receiver": "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
        "receiverAuthorizer": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        "token": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
        "withdrawDelay": 900,
        "salt": "0x0000000000000000000000000000000000000000000000000000000000000000"
    });
    let id = "0xa1ba6ce221d5fd7e72507a4b855145daf476675d0f1054d0f52fa4f68ab95747";
    let signature = format!("0x{}1b", "ab".repeat(64));
    let voucher = json!({"channelId": id, "maxClaimableAmount": "10000", "signature": signature});
    let claim = json!({"voucher": {"channel": config, "maxClaimableAmount": "10000"}, "signature": signature,
                       "totalClaimed": "10000"});
    let payloads = [
        json!({"type": "deposit", "channelConfig": config, "voucher": voucher,
               "deposit": {"amount": "100000", "authorization": {"erc3009Authorization": {
                   "validAfter": "0", "validBefore": "1750000120",
                   "salt": "0x1111111111111111111111111111111111111111111111111111111111111111",
                   "signature": signature}}}}),
        json!({"type": "voucher", "channelConfig": config, "voucher": voucher}),
        json!({"type": "refund", "channelConfig": config, "voucher": voucher}),
        json!({"type": "refund", "channelConfig": config, "voucher": voucher, "amount": "5"}),
    ];
    for json in payloads {
        let parsed: BatchSettlementPayload = serde_json::from_value(json.clone()).expect("parses");
        assert_eq!(serde_json::to_value(&parsed).expect("serializes"), json);
    }
    let actions = [
        json!({"type": "claim", "claims": [claim]}),
        json!({"type": "claim", "claims": [claim, claim], "claimAuthorizerSignature": signature}),
        json!({"type": "settle", "receiver": "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
               "token": "0x5FbDB2315678afecb367f032d93F642f64180aa3"}),
        json!({"type": "refund", "channelConfig": config, "voucher": voucher, "amount": "90000",
               "refundNonce": "0", "claims": [claim], "refundAuthorizerSignature": signature,
               "claimAuthorizerSignature": signature}),
    ];
    for json in actions {
        let payment = PaymentPayload { payload: json.clone(), ..deposit() };
        let parsed = SettleAction::of(&payment).expect("parses");
        assert_eq!(serde_json::to_value(&parsed).expect("serializes"), json);
    }
    // A client's refund is not a settle action (it lacks the nonce and the claims), nor is a voucher.
    for json in
        [payloads_refund(&config, &voucher), json!({"type": "voucher", "channelConfig": config, "voucher": voucher})]
    {
        let payment = PaymentPayload { payload: json, ..deposit() };
        assert_eq!(SettleAction::of(&payment), Err(ErrorReason::BatchInvalidPayloadType));
    }

    let state = json!({"channelId": id, "balance": "100000", "totalClaimed": "10000", "withdrawRequestedAt": 0,
                       "refundNonce": "0", "chargedCumulativeAmount": "20000"});
    let parsed: ChannelStateExtra = serde_json::from_value(state.clone()).expect("parses");
    assert_eq!(parsed.state.balance, 100_000);
    assert_eq!(Value::Object(parsed.to_map()), state);
    let response = json!({"chargedAmount": "10000", "channelState": state,
                          "voucherState": {"signedMaxClaimable": "20000", "signature": signature}});
    let parsed: PaymentResponseExtra = serde_json::from_value(response.clone()).expect("parses");
    assert_eq!(Value::Object(parsed.to_map()), response);
    let extra = json!({"receiverAuthorizer": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "withdrawDelay": 900,
                       "name": "USD Coin", "version": "2", "assetTransferMethod": "eip3009", "minDeposit": "100000",
                       "channelState": state, "voucherState": {"signedMaxClaimable": "20000"}});
    let parsed: BatchSettlementExtra = serde_json::from_value(extra.clone()).expect("parses");
    assert_eq!(Value::Object(parsed.to_map()), extra);
    let built = BatchSettlementExtra::new(AUTHORIZER, 900, "USD Coin", "2", 100_000).to_map();
    let mut offered = requirements();
    offered.extra = built;
    assert_eq!(BatchTerms::from_requirements(&offered), Ok(terms()), "what a server builds, a client reads");
}

fn payloads_refund(config: &Value, voucher: &Value) -> Value {
    json!({"type": "refund", "channelConfig": config, "voucher": voucher})
}

#[test]
fn collector_data_is_the_contracts_encoding() {
    let payment = deposit();
    let p = payload(&payment);
    let BatchSettlementPayload::Deposit(d) = p else { unreachable!() };
    let DepositAuthorization::Erc3009Authorization(a) = &d.deposit.authorization else { unreachable!() };
    let data = batch_settlement::erc3009_collector_data(a);
    use alloy::sol_types::SolValue;
    let (valid_after, valid_before, salt, signature) =
        <(U256, U256, U256, alloy::primitives::Bytes)>::abi_decode_params(&data).expect("decodes");
    assert_eq!((valid_after, valid_before), (U256::ZERO, U256::from(NOW + 120)));
    assert_eq!(salt, U256::from_be_bytes(SALT.0));
    assert_eq!(signature, a.signature);
    assert_eq!(data.len(), 32 * 4 + 32 + 96, "three words, an offset, a length and 65 bytes padded");
}
