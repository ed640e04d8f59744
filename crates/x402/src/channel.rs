//! Quittance's `channel` scheme: micropayments with cumulative vouchers over a deposit in `VoucherChannels`.
//!
//! A paywall offers a `channel` option: the price per request, the receiver (`payTo`), the token, and in
//! `extra` the channels contract, the token's EIP-712 domain and the shortest withdrawal delay it accepts.
//! The agent opens a channel once, with an EIP-3009 deposit authorization the server submits (the agent pays
//! no gas), then pays each request with a voucher: the EIP-712 `Voucher(channelId, maxClaimableAmount)`
//! signed by the channel's payer authorizer, whose amount is everything it has paid on the channel so far.
//! The server checks a voucher without the chain (signature, the price on top of the last voucher it
//! accepted, the deposit covers it), keeps the latest one, and claims many channels in one transaction later.
//! Names follow x402's `batch-settlement` EVM binding (`ChannelConfig`, `payerAuthorizer`,
//! `maxClaimableAmount`, payload `type`).

use crate::{ErrorReason, PaymentPayload, PaymentRequirements, ResourceInfo, X402_V2, exact::ExactTerms};
use alloy::{
    primitives::{Address, B256, Bytes, U256, keccak256},
    signers::SignerSync,
    sol,
    sol_types::{Eip712Domain, SolStruct, SolValue},
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

sol! {
    /// A channel's immutable config (`IVoucherChannels.ChannelConfig`).
    #[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct ChannelConfig {
        address payer;
        address payerAuthorizer;
        address receiver;
        address token;
        uint40 withdrawDelay;
        bytes32 salt;
    }

    /// A cumulative voucher.
    #[derive(Debug, PartialEq, Eq)]
    struct Voucher {
        bytes32 channelId;
        uint128 maxClaimableAmount;
    }

    /// EIP-3009's `ReceiveWithAuthorization`, for deposits.
    #[derive(Debug, PartialEq, Eq)]
    struct ReceiveWithAuthorization {
        address from;
        address to;
        uint256 value;
        uint256 validAfter;
        uint256 validBefore;
        bytes32 nonce;
    }
}

/// The scheme's name on the wire.
pub const SCHEME: &str = "channel";
/// The EIP-712 domain name of the channels contract.
pub const DOMAIN_NAME: &str = "Quittance Voucher Channels";
/// The EIP-712 domain version of the channels contract.
pub const DOMAIN_VERSION: &str = "1";

/// The channels contract's EIP-712 domain on `chain_id` at `contract`.
pub fn domain(chain_id: u64, contract: Address) -> Eip712Domain {
    crate::signature::contract_domain(DOMAIN_NAME, DOMAIN_VERSION, chain_id, contract)
}

impl ChannelConfig {
    /// The channel id: the config's EIP-712 digest in the contract's domain (`VoucherChannels.channelId`).
    pub fn id(&self, chain_id: u64, contract: Address) -> B256 {
        self.eip712_signing_hash(&domain(chain_id, contract))
    }

    /// Who signs the channel's vouchers.
    pub fn authorizer(&self) -> Address {
        if self.payerAuthorizer.is_zero() { self.payer } else { self.payerAuthorizer }
    }
}

/// The digest a payer authorizer signs for a voucher (`VoucherChannels.voucherDigest`).
pub fn voucher_digest(channel_id: B256, max_claimable_amount: u128, chain_id: u64, contract: Address) -> B256 {
    Voucher { channelId: channel_id, maxClaimableAmount: max_claimable_amount }
        .eip712_signing_hash(&domain(chain_id, contract))
}

/// The EIP-3009 nonce of a deposit into `channel_id` (`VoucherChannels.depositNonce`).
pub fn deposit_nonce(channel_id: B256, deposit_salt: B256) -> B256 {
    keccak256((channel_id, deposit_salt).abi_encode())
}

/// What a `channel` option carries in `extra`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelExtra {
    /// The token's EIP-712 name (for deposits).
    pub name: String,
    /// The token's EIP-712 version.
    pub version: String,
    /// The `VoucherChannels` contract.
    #[serde(with = "crate::exact::checksummed")]
    pub contract: Address,
    /// The shortest withdrawal delay the server accepts, in seconds: its time to claim.
    pub min_withdraw_delay: u64,
}

/// A deposit the server submits for the payer: an EIP-3009 `ReceiveWithAuthorization` to the contract whose
/// nonce binds it to the channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deposit {
    /// The amount, in the token's smallest unit (decimal string).
    pub amount: String,
    /// Valid after (unix seconds, decimal string).
    pub valid_after: String,
    /// Valid before (unix seconds, decimal string).
    pub valid_before: String,
    /// The salt of the nonce (`deposit_nonce(channelId, depositSalt)`).
    pub deposit_salt: B256,
    /// The payer's signature.
    pub signature: Bytes,
}

/// The client's payload for a `channel` option.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelPayload {
    /// Always `"voucher"`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The channel.
    pub config: ChannelConfig,
    /// Everything paid on the channel so far, this request included (decimal string).
    pub max_claimable_amount: String,
    /// The payer authorizer's signature of the voucher.
    pub signature: Bytes,
    /// A deposit to submit first (the channel's opening, or a top-up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deposit: Option<Deposit>,
}

/// The `channel` option's terms, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelTerms {
    /// Price per request, token, receiver and token domain, as for `exact`.
    pub token: ExactTerms,
    /// The channels contract.
    pub contract: Address,
    /// The shortest withdrawal delay accepted.
    pub min_withdraw_delay: u64,
}

impl ChannelTerms {
    /// Parses a `channel` option.
    pub fn from_requirements(requirements: &PaymentRequirements) -> Result<Self, ErrorReason> {
        if requirements.scheme != SCHEME {
            return Err(ErrorReason::UnsupportedScheme);
        }
        let extra: ChannelExtra =
            serde_json::from_value(Value::Object(requirements.extra.clone())).map_err(|_| ErrorReason::ChannelTerms)?;
        let token = ExactTerms::of_token(requirements)?;
        Ok(Self { token, contract: extra.contract, min_withdraw_delay: extra.min_withdraw_delay })
    }

    /// Whether `config` is a channel this option can be paid through.
    pub fn accepts(&self, config: &ChannelConfig) -> bool {
        config.receiver == self.token.pay_to
            && config.token == self.token.asset
            && config.withdrawDelay.to::<u64>() >= self.min_withdraw_delay
            && config.payer != config.receiver
    }
}

/// Why an agent could not sign.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The option is malformed or does not accept the channel.
    #[error("the channel option is not acceptable: {0}")]
    Refused(ErrorReason),
    /// The signer failed.
    #[error("signing failed: {0}")]
    Signer(#[from] alloy::signers::Error),
}

/// An agent's side: the voucher for everything paid on `config` so far (`max_claimable_amount`, this request
/// included), signed by `authorizer` (the channel's payer authorizer), with a deposit to submit first if any.
pub fn pay(
    requirements: &PaymentRequirements,
    resource: Option<ResourceInfo>,
    config: &ChannelConfig,
    max_claimable_amount: u128,
    authorizer: &impl SignerSync,
    deposit: Option<Deposit>,
) -> Result<PaymentPayload, SignError> {
    let terms = ChannelTerms::from_requirements(requirements).map_err(SignError::Refused)?;
    if !terms.accepts(config) {
        return Err(SignError::Refused(ErrorReason::ChannelTerms));
    }
    let id = config.id(terms.token.chain_id, terms.contract);
    let digest = voucher_digest(id, max_claimable_amount, terms.token.chain_id, terms.contract);
    let signature = authorizer.sign_hash_sync(&digest)?;
    let payload = ChannelPayload {
        kind: "voucher".into(),
        config: config.clone(),
        max_claimable_amount: max_claimable_amount.to_string(),
        signature: signature.as_bytes().into(),
        deposit,
    };
    Ok(PaymentPayload {
        x402_version: X402_V2,
        resource,
        accepted: requirements.clone(),
        payload: serde_json::to_value(payload).expect("the channel payload always serializes"),
        extensions: None,
    })
}

/// An agent's side: signs the EIP-3009 deposit of `amount` into `config`'s channel, valid until
/// `valid_before`. `signer` must be the channel's payer.
pub fn sign_deposit(
    requirements: &PaymentRequirements,
    config: &ChannelConfig,
    amount: U256,
    valid_before: u64,
    deposit_salt: B256,
    signer: &impl SignerSync,
) -> Result<Deposit, SignError> {
    let terms = ChannelTerms::from_requirements(requirements).map_err(SignError::Refused)?;
    let id = config.id(terms.token.chain_id, terms.contract);
    let message = ReceiveWithAuthorization {
        from: config.payer,
        to: terms.contract,
        value: amount,
        validAfter: U256::ZERO,
        validBefore: U256::from(valid_before),
        nonce: deposit_nonce(id, deposit_salt),
    };
    let signature = signer.sign_typed_data_sync(&message, &terms.token.domain)?;
    Ok(Deposit {
        amount: amount.to_string(),
        valid_after: "0".into(),
        valid_before: valid_before.to_string(),
        deposit_salt,
        signature: signature.as_bytes().into(),
    })
}

/// What a server knows of a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChannelView {
    /// What the channel holds (confirmed deposits).
    pub balance: u128,
    /// The highest voucher accepted so far.
    pub accepted: u128,
    /// True once the channel is closed or its payer asked to withdraw: no more vouchers are accepted.
    pub closing: bool,
}

/// A voucher that passed every check that needs no chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The option's terms.
    pub terms: ChannelTerms,
    /// The channel id.
    pub channel_id: B256,
    /// The channel.
    pub config: ChannelConfig,
    /// The voucher's cumulative amount.
    pub max_claimable_amount: u128,
    /// The voucher's signature.
    pub signature: Bytes,
    /// The deposit to submit first, with its amount.
    pub deposit: Option<(u128, Deposit)>,
}

impl Checked {
    /// What this request pays: the voucher's amount above the last accepted one.
    pub fn increment(&self, view: &ChannelView) -> u128 {
        self.max_claimable_amount.saturating_sub(view.accepted)
    }
}

/// A server's side: checks a voucher against its option and what the server knows of the channel (`view`;
/// the payload's deposit, if any, counts as if it were confirmed): the channel is one the option accepts, the
/// voucher is signed by the channel's payer authorizer (an EOA), pays at least the price on top of the last
/// accepted voucher, and is covered by the deposit.
pub fn check(
    payment: &PaymentPayload,
    requirements: &PaymentRequirements,
    view: &ChannelView,
) -> Result<Checked, ErrorReason> {
    if payment.accepted.scheme != SCHEME {
        return Err(ErrorReason::UnsupportedScheme);
    }
    if payment.accepted.network != requirements.network {
        return Err(ErrorReason::ExactEvmNetworkMismatch);
    }
    let terms = ChannelTerms::from_requirements(requirements)?;
    let payload: ChannelPayload =
        serde_json::from_value(payment.payload.clone()).map_err(|_| ErrorReason::InvalidPayload)?;
    if payload.kind != "voucher" || !terms.accepts(&payload.config) {
        return Err(ErrorReason::ChannelTerms);
    }
    let amount: u128 = payload.max_claimable_amount.parse().map_err(|_| ErrorReason::InvalidPayload)?;
    let channel_id = payload.config.id(terms.token.chain_id, terms.contract);
    let digest = voucher_digest(channel_id, amount, terms.token.chain_id, terms.contract);
    crate::signature::recover_eoa(&payload.signature, digest, payload.config.authorizer())
        .map_err(|_| ErrorReason::ChannelVoucherSignature)?;
    if view.closing {
        return Err(ErrorReason::ChannelClosing);
    }
    let price: u128 = terms.token.amount.try_into().map_err(|_| ErrorReason::ChannelTerms)?;
    if amount < view.accepted.saturating_add(price) {
        return Err(ErrorReason::ChannelVoucherNotIncreasing);
    }
    let deposit = match payload.deposit {
        Some(deposit) => {
            let value: u128 = deposit.amount.parse().map_err(|_| ErrorReason::InvalidPayload)?;
            Some((value, deposit))
        }
        None => None,
    };
    let covered = view.balance.saturating_add(deposit.as_ref().map_or(0, |(value, _)| *value));
    if amount > covered {
        return Err(ErrorReason::ChannelInsufficientDeposit);
    }
    Ok(Checked {
        terms,
        channel_id,
        config: payload.config,
        max_claimable_amount: amount,
        signature: payload.signature,
        deposit,
    })
}
