//! The `channel` scheme: vouchers an agent signs and the checks a server makes without the chain.

use alloy::{
    primitives::{Address, B256, U256, address, keccak256},
    signers::local::PrivateKeySigner,
};
use quittance_x402::{
    ErrorReason, PaymentPayload, PaymentRequirements,
    channel::{self, ChannelConfig, ChannelView},
};
use serde_json::json;

const TOKEN: Address = address!("0x5FbDB2315678afecb367f032d93F642f64180aa3");
const CONTRACT: Address = address!("0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512");
const RECEIVER: Address = address!("0x90F79bf6EB2c4f870365E785982E1f101E93b906");
const PRICE: u128 = 1_000;

fn requirements() -> PaymentRequirements {
    serde_json::from_value(json!({
        "scheme": "channel", "network": "eip155:31337", "amount": PRICE.to_string(), "asset": TOKEN,
        "payTo": RECEIVER, "maxTimeoutSeconds": 60,
        "extra": {"name": "USD Coin", "version": "2", "contract": CONTRACT, "minWithdrawDelay": 3600}
    }))
    .expect("valid requirements")
}

fn key(name: &str) -> PrivateKeySigner {
    PrivateKeySigner::from_bytes(&keccak256(name)).expect("valid key")
}

fn config() -> ChannelConfig {
    ChannelConfig {
        payer: key("payer").address(),
        payerAuthorizer: key("session").address(),
        receiver: RECEIVER,
        token: TOKEN,
        withdrawDelay: alloy::primitives::aliases::U40::from(3600),
        salt: B256::repeat_byte(1),
    }
}

fn voucher(amount: u128) -> PaymentPayload {
    channel::pay(&requirements(), None, &config(), amount, &key("session"), None).expect("signs")
}

fn open(balance: u128, accepted: u128) -> ChannelView {
    ChannelView { balance, accepted, closing: false }
}

#[test]
fn a_voucher_for_the_price_on_top_of_the_last_is_accepted() {
    let checked = channel::check(&voucher(3 * PRICE), &requirements(), &open(10 * PRICE, 2 * PRICE)).expect("valid");
    assert_eq!(checked.max_claimable_amount, 3 * PRICE);
    assert_eq!(checked.increment(&open(10 * PRICE, 2 * PRICE)), PRICE);
    assert_eq!(checked.channel_id, config().id(31337, CONTRACT));
}

#[test]
fn a_reused_or_out_of_order_voucher_is_refused() {
    let view = open(10 * PRICE, 3 * PRICE);
    for amount in [3 * PRICE, 2 * PRICE, 3 * PRICE + PRICE / 2] {
        assert_eq!(
            channel::check(&voucher(amount), &requirements(), &view),
            Err(ErrorReason::ChannelVoucherNotIncreasing),
            "voucher of {amount}"
        );
    }
}

#[test]
fn a_voucher_beyond_the_deposit_is_refused_unless_a_deposit_comes_with_it() {
    assert_eq!(
        channel::check(&voucher(11 * PRICE), &requirements(), &open(10 * PRICE, 0)),
        Err(ErrorReason::ChannelInsufficientDeposit)
    );
    let deposit = channel::sign_deposit(
        &requirements(),
        &config(),
        U256::from(5 * PRICE),
        2_000_000_000,
        B256::ZERO,
        &key("payer"),
    )
    .expect("signs the deposit");
    let with_deposit =
        channel::pay(&requirements(), None, &config(), 11 * PRICE, &key("session"), Some(deposit)).expect("signs");
    let checked = channel::check(&with_deposit, &requirements(), &open(10 * PRICE, 0)).expect("covered");
    assert_eq!(checked.deposit.map(|(amount, _)| amount), Some(5 * PRICE));
}

#[test]
fn a_voucher_signed_by_anyone_but_the_authorizer_or_tampered_is_refused() {
    let by_payer = channel::pay(&requirements(), None, &config(), PRICE, &key("payer"), None).expect("signs");
    assert_eq!(
        channel::check(&by_payer, &requirements(), &open(10 * PRICE, 0)),
        Err(ErrorReason::ChannelVoucherSignature)
    );
    let mut tampered = voucher(PRICE);
    tampered.payload["maxClaimableAmount"] = json!((2 * PRICE).to_string());
    assert_eq!(
        channel::check(&tampered, &requirements(), &open(10 * PRICE, 0)),
        Err(ErrorReason::ChannelVoucherSignature)
    );
}

#[test]
fn a_closing_channel_takes_no_more_vouchers() {
    let view = ChannelView { closing: true, ..open(10 * PRICE, 0) };
    assert_eq!(channel::check(&voucher(PRICE), &requirements(), &view), Err(ErrorReason::ChannelClosing));
}

#[test]
fn a_channel_the_option_does_not_accept_is_refused() {
    let mut short = config();
    short.withdrawDelay = alloy::primitives::aliases::U40::from(3599);
    let mut other_receiver = config();
    other_receiver.receiver = Address::repeat_byte(9);
    let mut other_token = config();
    other_token.token = Address::repeat_byte(9);
    for bad in [short, other_receiver, other_token] {
        assert!(channel::pay(&requirements(), None, &bad, PRICE, &key("session"), None).is_err(), "the agent refuses");
        // A client that signs anyway is refused by the server.
        let mut payment = voucher(PRICE);
        payment.payload["config"] = serde_json::to_value(&bad).expect("serializes");
        assert_eq!(channel::check(&payment, &requirements(), &open(10 * PRICE, 0)), Err(ErrorReason::ChannelTerms));
    }
}

#[test]
fn malformed_payloads_are_refused() {
    let mut payment = voucher(PRICE);
    payment.payload["maxClaimableAmount"] = json!("lots");
    assert_eq!(channel::check(&payment, &requirements(), &open(10 * PRICE, 0)), Err(ErrorReason::InvalidPayload));
    payment.payload = json!({"type": "voucher"});
    assert_eq!(channel::check(&payment, &requirements(), &open(10 * PRICE, 0)), Err(ErrorReason::InvalidPayload));
    let mut refund = voucher(PRICE);
    refund.payload["type"] = json!("refund");
    assert_eq!(channel::check(&refund, &requirements(), &open(10 * PRICE, 0)), Err(ErrorReason::ChannelTerms));
}
