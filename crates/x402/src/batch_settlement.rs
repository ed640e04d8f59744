//! x402's `batch-settlement` scheme on EVM networks: cumulative vouchers over a deposit in the
//! `x402BatchSettlement` contract, claimed for many channels in one transaction and swept to the receiver in
//! one transfer.
//!
//! A channel is an immutable [`ChannelConfig`] (payer, payer authorizer, receiver, receiver authorizer,
//! token, withdrawal delay, salt); its id is the config's EIP-712 hash in the contract's domain
//! (`x402 Batch Settlement` version 1, the chain id, the contract at its canonical address
//! [`BATCH_SETTLEMENT_ADDRESS`]). The server advertises the receiver authorizer and the withdrawal delay in
//! the requirements' `extra` ([`BatchSettlementExtra`]). The client's first request carries a deposit (an
//! EIP-3009 `ReceiveWithAuthorization` to the ERC-3009 deposit collector whose nonce binds the channel) with
//! its first voucher; every later request carries a voucher only: `Voucher(channelId, maxClaimableAmount)`
//! signed by the payer authorizer, whose amount is everything charged on the channel so far, this request
//! included. The server keeps the latest voucher and later sends its facilitator a settle action
//! ([`SettleAction`]): a `claim` of many channels' vouchers (authorized by the receiver authorizer's
//! `ClaimBatch` signature), a `settle` that sweeps the receiver's claims, or a cooperative `refund` of what
//! is left (the receiver authorizer's `Refund` signature).
//!
//! This module holds the wire types, with the official SDK's (`@x402/evm` 2.27) field names, the EIP-712
//! messages and digests the contract checks, the client's builders, and every check that needs no chain,
//! with the SDK's reason codes; the facilitator adds the chain's (the channel's state, the payer's balance,
//! ERC-1271 and ERC-6492 signatures, simulations).

use crate::{
    ErrorReason, PaymentPayload, PaymentRequirements, ResourceInfo, X402_V2,
    exact::decimal,
    upto::{Permitted, permit2_domain},
};
use alloy::{
    primitives::{Address, B256, Bytes, U256, address, aliases::U40, keccak256},
    signers::SignerSync,
    sol_types::{Eip712Domain, SolStruct, SolValue},
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The binding's EIP-712 messages, as the contract and the SDK type them (the struct names are part of the
/// type hashes).
pub mod eip712 {
    alloy::sol! {
        /// A channel's immutable config: its hash in the contract's domain is the channel id.
        #[derive(Debug, PartialEq, Eq)]
        struct ChannelConfig {
            address payer;
            address payerAuthorizer;
            address receiver;
            address receiverAuthorizer;
            address token;
            uint40 withdrawDelay;
            bytes32 salt;
        }

        /// A cumulative voucher, signed by the payer authorizer.
        #[derive(Debug, PartialEq, Eq)]
        struct Voucher {
            bytes32 channelId;
            uint128 maxClaimableAmount;
        }

        /// A cooperative refund, signed by the receiver authorizer.
        #[derive(Debug, PartialEq, Eq)]
        struct Refund {
            bytes32 channelId;
            uint256 nonce;
            uint128 amount;
        }

        /// One channel of a claim batch.
        #[derive(Debug, PartialEq, Eq)]
        struct ClaimEntry {
            bytes32 channelId;
            uint128 maxClaimableAmount;
            uint128 totalClaimed;
        }

        /// A claim of many channels, signed by their receiver authorizer.
        #[derive(Debug, PartialEq, Eq)]
        struct ClaimBatch {
            ClaimEntry[] claims;
        }

        /// EIP-3009's `ReceiveWithAuthorization`, the deposit's message in the token's domain.
        #[derive(Debug, PartialEq, Eq)]
        struct ReceiveWithAuthorization {
            address from;
            address to;
            uint256 value;
            uint256 validAfter;
            uint256 validBefore;
            bytes32 nonce;
        }

        /// Permit2's token and amount.
        #[derive(Debug, PartialEq, Eq)]
        struct TokenPermissions {
            address token;
            uint256 amount;
        }

        /// The witness of a Permit2 deposit: the channel it funds.
        #[derive(Debug, PartialEq, Eq)]
        struct DepositWitness {
            bytes32 channelId;
        }

        /// A Permit2 deposit's message, in Permit2's domain.
        #[derive(Debug, PartialEq, Eq)]
        struct PermitWitnessTransferFrom {
            TokenPermissions permitted;
            address spender;
            uint256 nonce;
            uint256 deadline;
            DepositWitness witness;
        }
    }
}

/// The scheme's name on the wire.
pub const SCHEME: &str = "batch-settlement";

/// The `x402BatchSettlement` contract, at its canonical address on every chain (the SDK knows no other).
pub const BATCH_SETTLEMENT_ADDRESS: Address = address!("0x4020074e9dF2ce1deE5A9C1b5c3f541D02a10003");

/// The ERC-3009 deposit collector, at its canonical address: the `to` of a deposit's authorization.
pub const ERC3009_DEPOSIT_COLLECTOR_ADDRESS: Address = address!("0x4020806089470a89826cB9fB1f4059150b550004");

/// The Permit2 deposit collector, at its canonical address: the spender of a Permit2 deposit.
pub const PERMIT2_DEPOSIT_COLLECTOR_ADDRESS: Address = address!("0x4020425FAf3B746C082C2f942b4E5159887B0005");

/// The contract's EIP-712 domain name.
pub const DOMAIN_NAME: &str = "x402 Batch Settlement";

/// The contract's EIP-712 domain version.
pub const DOMAIN_VERSION: &str = "1";

/// The shortest withdrawal delay a channel may have (15 minutes), and the client's default.
pub const MIN_WITHDRAW_DELAY: u32 = 900;

/// The longest withdrawal delay a channel may have (30 days).
pub const MAX_WITHDRAW_DELAY: u32 = 2_592_000;

/// A deposit authorization must stay valid at least this many seconds past now (the official facilitator's
/// margin).
pub const VALID_BEFORE_MARGIN: u64 = 6;

/// The official server's minimum deposit, in prices, when the route sets none (`extra.minDeposit`).
pub const DEFAULT_MIN_DEPOSIT_MULTIPLIER: u128 = 10;

/// The official client's deposit, in prices, when the server announces no minimum.
pub const DEFAULT_DEPOSIT_MULTIPLIER: u128 = 5;

/// The contract's EIP-712 domain on `chain_id`, at [`BATCH_SETTLEMENT_ADDRESS`].
pub fn domain(chain_id: u64) -> Eip712Domain {
    crate::signature::contract_domain(DOMAIN_NAME, DOMAIN_VERSION, chain_id, BATCH_SETTLEMENT_ADDRESS)
}

/// The digest a payer authorizer signs for a voucher (the contract's `getVoucherDigest`).
pub fn voucher_digest(channel_id: B256, max_claimable_amount: u128, chain_id: u64) -> B256 {
    eip712::Voucher { channelId: channel_id, maxClaimableAmount: max_claimable_amount }
        .eip712_signing_hash(&domain(chain_id))
}

/// The digest a receiver authorizer signs for a cooperative refund (the contract's `getRefundDigest`).
pub fn refund_digest(channel_id: B256, nonce: U256, amount: u128, chain_id: u64) -> B256 {
    eip712::Refund { channelId: channel_id, nonce, amount }.eip712_signing_hash(&domain(chain_id))
}

/// The digest a receiver authorizer signs for a claim of `claims` (the contract's `getClaimBatchDigest`).
pub fn claim_batch_digest(claims: &[VoucherClaim], chain_id: u64) -> B256 {
    let claims = claims
        .iter()
        .map(|c| eip712::ClaimEntry {
            channelId: c.voucher.channel.id(chain_id),
            maxClaimableAmount: c.voucher.max_claimable_amount,
            totalClaimed: c.total_claimed,
        })
        .collect();
    eip712::ClaimBatch { claims }.eip712_signing_hash(&domain(chain_id))
}

/// The EIP-3009 nonce of a deposit into `channel_id` with `salt`: `keccak256(abi.encode(channelId,
/// uint256(salt)))`, as the ERC-3009 collector computes it.
pub fn deposit_nonce(channel_id: B256, salt: B256) -> B256 {
    keccak256((channel_id, U256::from_be_bytes(salt.0)).abi_encode())
}

/// The collector data of an ERC-3009 deposit, for the contract's `deposit(config, amount, collector,
/// collectorData)`: `abi.encode(validAfter, validBefore, salt, signature)`.
pub fn erc3009_collector_data(authorization: &Erc3009Authorization) -> Bytes {
    (
        authorization.valid_after,
        authorization.valid_before,
        U256::from_be_bytes(authorization.salt.0),
        authorization.signature.clone(),
    )
        .abi_encode_params()
        .into()
}

/// Decimal-string serde for `u128` amounts (the contract's `uint128`), as x402 writes amounts.
mod amount {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(value: &u128, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u128, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse(&text).ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not a uint128 decimal")))
    }

    pub(super) fn parse(text: &str) -> Option<u128> {
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        text.parse().ok()
    }

    /// The same for optional amounts (absent when `None`).
    pub(super) mod option {
        use serde::{Deserialize, Deserializer, Serializer};

        pub(in super::super) fn serialize<S: Serializer>(
            value: &Option<u128>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            match value {
                Some(value) => serializer.collect_str(value),
                None => serializer.serialize_none(),
            }
        }

        pub(in super::super) fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<u128>, D::Error> {
            match Option::<String>::deserialize(deserializer)? {
                None => Ok(None),
                Some(text) => super::parse(&text)
                    .map(Some)
                    .ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not a uint128 decimal"))),
            }
        }
    }
}

/// A channel's immutable config, as it travels (the SDK's `ChannelConfig`): the withdrawal delay is a JSON
/// number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelConfig {
    /// Who deposits and gets the rest back.
    #[serde(with = "crate::exact::checksummed")]
    pub payer: Address,
    /// Who signs the vouchers (the zero address: the payer, by ECDSA or ERC-1271).
    #[serde(with = "crate::exact::checksummed")]
    pub payer_authorizer: Address,
    /// Who is paid.
    #[serde(with = "crate::exact::checksummed")]
    pub receiver: Address,
    /// Who authorizes claims and refunds.
    #[serde(with = "crate::exact::checksummed")]
    pub receiver_authorizer: Address,
    /// The token.
    #[serde(with = "crate::exact::checksummed")]
    pub token: Address,
    /// Seconds between a withdrawal request and its end: the receiver's time to claim.
    pub withdraw_delay: u32,
    /// Distinguishes channels of the same parties.
    pub salt: B256,
}

impl ChannelConfig {
    /// The config the official client opens for `terms`: `payer`, its voucher signer `payer_authorizer`, the
    /// requirements' receiver, receiver authorizer and token, their withdrawal delay (or
    /// [`MIN_WITHDRAW_DELAY`]), and `salt` (the official client's default is zero).
    pub fn for_terms(terms: &BatchTerms, payer: Address, payer_authorizer: Address, salt: B256) -> Self {
        Self {
            payer,
            payer_authorizer,
            receiver: terms.pay_to,
            receiver_authorizer: terms.receiver_authorizer,
            token: terms.asset,
            withdraw_delay: terms.withdraw_delay.unwrap_or(MIN_WITHDRAW_DELAY),
            salt,
        }
    }

    /// The config as the contract types it.
    pub fn to_eip712(&self) -> eip712::ChannelConfig {
        eip712::ChannelConfig {
            payer: self.payer,
            payerAuthorizer: self.payer_authorizer,
            receiver: self.receiver,
            receiverAuthorizer: self.receiver_authorizer,
            token: self.token,
            withdrawDelay: U40::from(self.withdraw_delay),
            salt: self.salt,
        }
    }

    /// The channel id on `chain_id`, as the contract computes it (`getChannelId`).
    pub fn id(&self, chain_id: u64) -> B256 {
        self.to_eip712().eip712_signing_hash(&domain(chain_id))
    }

    /// Who must sign the channel's vouchers: the payer authorizer, or the payer when there is none.
    pub fn voucher_signer(&self) -> Address {
        if self.payer_authorizer.is_zero() { self.payer } else { self.payer_authorizer }
    }
}

/// A signed voucher (the SDK's `BatchSettlementVoucherFields`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedVoucher {
    /// The channel.
    pub channel_id: B256,
    /// Everything the receiver may claim on the channel, in the token's smallest unit.
    #[serde(with = "amount")]
    pub max_claimable_amount: u128,
    /// The voucher signer's signature.
    pub signature: Bytes,
}

impl SignedVoucher {
    /// The digest the voucher signer signed.
    pub fn digest(&self, chain_id: u64) -> B256 {
        voucher_digest(self.channel_id, self.max_claimable_amount, chain_id)
    }

    /// Checks the signature as the contract does for a payer authorizer: ECDSA (65 bytes, `v` 27 or 28, low
    /// `s`) recovering to `signer`.
    pub fn check_signature(&self, signer: Address, chain_id: u64) -> Result<(), ErrorReason> {
        crate::signature::recover_eoa(&self.signature, self.digest(chain_id), signer)
            .map_err(|_| ErrorReason::BatchInvalidVoucherSignature)
    }
}

/// Signs the voucher for `max_claimable_amount` on `channel_id` (a payer authorizer's side).
pub fn sign_voucher(
    signer: &impl SignerSync,
    channel_id: B256,
    max_claimable_amount: u128,
    chain_id: u64,
) -> Result<SignedVoucher, alloy::signers::Error> {
    let signature = signer.sign_hash_sync(&voucher_digest(channel_id, max_claimable_amount, chain_id))?;
    Ok(SignedVoucher { channel_id, max_claimable_amount, signature: signature.as_bytes().into() })
}

/// A deposit's ERC-3009 authorization (the SDK's `BatchSettlementErc3009Authorization`): a
/// `ReceiveWithAuthorization` of the deposit to [`ERC3009_DEPOSIT_COLLECTOR_ADDRESS`] whose nonce is
/// [`deposit_nonce`]`(channelId, salt)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Erc3009Authorization {
    /// Valid strictly after this unix time.
    #[serde(with = "decimal")]
    pub valid_after: U256,
    /// Valid strictly before this unix time.
    #[serde(with = "decimal")]
    pub valid_before: U256,
    /// The nonce's salt (random, 32 bytes).
    pub salt: B256,
    /// The payer's signature (65 bytes for an EOA; ERC-1271 or ERC-6492 for a contract wallet).
    pub signature: Bytes,
}

/// A deposit's Permit2 authorization (the SDK's `BatchSettlementPermit2Authorization`): a
/// `PermitWitnessTransferFrom` of the deposit to [`PERMIT2_DEPOSIT_COLLECTOR_ADDRESS`] whose witness is the
/// channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Permit2Authorization {
    /// The payer.
    #[serde(with = "crate::exact::checksummed")]
    pub from: Address,
    /// The token and the deposit.
    pub permitted: Permitted,
    /// Who may spend it: [`PERMIT2_DEPOSIT_COLLECTOR_ADDRESS`].
    #[serde(with = "crate::exact::checksummed")]
    pub spender: Address,
    /// Permit2's unordered nonce.
    #[serde(with = "decimal")]
    pub nonce: U256,
    /// Valid until this unix time.
    #[serde(with = "decimal")]
    pub deadline: U256,
    /// The channel funded.
    pub witness: DepositWitness,
    /// The payer's signature.
    pub signature: Bytes,
}

/// The witness of a Permit2 deposit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DepositWitness {
    /// The channel funded.
    pub channel_id: B256,
}

impl From<&Permit2Authorization> for eip712::PermitWitnessTransferFrom {
    fn from(a: &Permit2Authorization) -> Self {
        Self {
            permitted: eip712::TokenPermissions { token: a.permitted.token, amount: a.permitted.amount },
            spender: a.spender,
            nonce: a.nonce,
            deadline: a.deadline,
            witness: eip712::DepositWitness { channelId: a.witness.channel_id },
        }
    }
}

/// How a deposit is authorized: one of the two, keyed by its name on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DepositAuthorization {
    /// `{"erc3009Authorization": …}`.
    Erc3009Authorization(Erc3009Authorization),
    /// `{"permit2Authorization": …}`.
    Permit2Authorization(Permit2Authorization),
}

/// A deposit into the channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deposit {
    /// The amount, in the token's smallest unit.
    #[serde(with = "amount")]
    pub amount: u128,
    /// The payer's authorization of it.
    pub authorization: DepositAuthorization,
}

/// `type: "deposit"`: a deposit and the first voucher it funds (or a top-up and the voucher that needs it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DepositPayload {
    /// The channel.
    pub channel_config: ChannelConfig,
    /// The voucher.
    pub voucher: SignedVoucher,
    /// The deposit.
    pub deposit: Deposit,
}

/// `type: "voucher"`: a voucher on a funded channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VoucherPayload {
    /// The channel.
    pub channel_config: ChannelConfig,
    /// The voucher.
    pub voucher: SignedVoucher,
}

/// `type: "refund"`: the client asks for the rest of its deposit back; its voucher is for what was charged
/// (no new charge).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundPayload {
    /// The channel.
    pub channel_config: ChannelConfig,
    /// The voucher for what was charged so far.
    pub voucher: SignedVoucher,
    /// How much to refund (everything unclaimed when absent).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "amount::option")]
    pub amount: Option<u128>,
}

/// What a client sends in `PaymentPayload.payload`, by its `type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
// One per request, parsed once: boxing the deposit would only complicate matching.
#[allow(clippy::large_enum_variant)]
pub enum BatchSettlementPayload {
    /// A deposit with its voucher.
    Deposit(DepositPayload),
    /// A voucher.
    Voucher(VoucherPayload),
    /// A refund request.
    Refund(RefundPayload),
}

impl BatchSettlementPayload {
    /// The channel.
    pub fn channel_config(&self) -> &ChannelConfig {
        match self {
            Self::Deposit(p) => &p.channel_config,
            Self::Voucher(p) => &p.channel_config,
            Self::Refund(p) => &p.channel_config,
        }
    }

    /// The voucher.
    pub fn voucher(&self) -> &SignedVoucher {
        match self {
            Self::Deposit(p) => &p.voucher,
            Self::Voucher(p) => &p.voucher,
            Self::Refund(p) => &p.voucher,
        }
    }

    /// The deposit, if any.
    pub fn deposit(&self) -> Option<&Deposit> {
        match self {
            Self::Deposit(p) => Some(&p.deposit),
            Self::Voucher(_) | Self::Refund(_) => None,
        }
    }
}

/// A voucher as a claim names it: the channel's config and the voucher's amount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimedVoucher {
    /// The channel.
    pub channel: ChannelConfig,
    /// The voucher's amount.
    #[serde(with = "amount")]
    pub max_claimable_amount: u128,
}

/// One channel of a claim (the SDK's `BatchSettlementVoucherClaim`, the contract's `VoucherClaim`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VoucherClaim {
    /// The voucher.
    pub voucher: ClaimedVoucher,
    /// The voucher signer's signature.
    pub signature: Bytes,
    /// The channel's claimed total after the claim (at most the voucher's amount).
    #[serde(with = "amount")]
    pub total_claimed: u128,
}

impl VoucherClaim {
    /// The claim of `voucher` on `channel` up to `total_claimed` (a server claims what it charged).
    pub fn new(channel: ChannelConfig, voucher: &SignedVoucher, total_claimed: u128) -> Self {
        Self {
            voucher: ClaimedVoucher { channel, max_claimable_amount: voucher.max_claimable_amount },
            signature: voucher.signature.clone(),
            total_claimed,
        }
    }

    /// Checks what the contract checks of the row without the chain: the total within the voucher, and the
    /// voucher signed by the channel's payer authorizer (ECDSA; with no authorizer, the payer as an EOA).
    pub fn check(&self, chain_id: u64) -> Result<(), ErrorReason> {
        if self.total_claimed > self.voucher.max_claimable_amount {
            return Err(ErrorReason::BatchChargeExceedsSignedCumulative);
        }
        let channel = &self.voucher.channel;
        let digest = voucher_digest(channel.id(chain_id), self.voucher.max_claimable_amount, chain_id);
        crate::signature::recover_eoa(&self.signature, digest, channel.voucher_signer())
            .map_err(|_| ErrorReason::BatchInvalidVoucherSignature)
    }
}

/// `type: "claim"`: claim many channels' vouchers in one `claimWithSignature`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimPayload {
    /// The rows.
    pub claims: Vec<VoucherClaim>,
    /// The receiver authorizer's `ClaimBatch` signature (the facilitator signs when absent and it holds
    /// the authorizer's key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_authorizer_signature: Option<Bytes>,
}

/// `type: "settle"`: move a receiver's claimed, unsettled total of a token to it (`settle(receiver, token)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlePayload {
    /// The receiver.
    #[serde(with = "crate::exact::checksummed")]
    pub receiver: Address,
    /// The token.
    #[serde(with = "crate::exact::checksummed")]
    pub token: Address,
}

/// `type: "refund"` as a server sends it to its facilitator: the client's refund, with the amount, the
/// channel's refund nonce, the claims to make first and the receiver authorizer's signatures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnrichedRefundPayload {
    /// The channel.
    pub channel_config: ChannelConfig,
    /// The client's voucher for what was charged.
    pub voucher: SignedVoucher,
    /// How much to refund (the contract refunds at most what is unclaimed).
    #[serde(with = "amount")]
    pub amount: u128,
    /// The channel's refund nonce.
    #[serde(with = "decimal")]
    pub refund_nonce: U256,
    /// Claims to make in the same transaction, first.
    pub claims: Vec<VoucherClaim>,
    /// The receiver authorizer's `Refund` signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_authorizer_signature: Option<Bytes>,
    /// The receiver authorizer's `ClaimBatch` signature of `claims`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_authorizer_signature: Option<Bytes>,
}

/// What a server sends its facilitator's `/settle` in `PaymentPayload.payload`, by its `type` (the SDK's
/// `BatchSettlementFacilitatorSettlePayload`). A `voucher` is never settled on its own: the server keeps it
/// and claims it later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
// One per request, parsed once: boxing the deposit would only complicate matching.
#[allow(clippy::large_enum_variant)]
pub enum SettleAction {
    /// Submit a client's deposit (`deposit`).
    Deposit(DepositPayload),
    /// Claim vouchers (`claimWithSignature`).
    Claim(ClaimPayload),
    /// Sweep a receiver's claims (`settle`).
    Settle(SettlePayload),
    /// Refund what is left, after optional claims (`refundWithSignature`, in a `multicall` with the claims).
    Refund(EnrichedRefundPayload),
}

impl SettleAction {
    /// The action of a `/settle` request, or `invalid_batch_settlement_evm_payload_type`.
    pub fn of(payment: &PaymentPayload) -> Result<Self, ErrorReason> {
        serde_json::from_value(payment.payload.clone()).map_err(|_| ErrorReason::BatchInvalidPayloadType)
    }
}

/// The token transfer method a server asks deposits to use (`extra.assetTransferMethod`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AssetTransferMethod {
    /// EIP-3009 `ReceiveWithAuthorization` through the ERC-3009 collector.
    Eip3009,
    /// Permit2 through the Permit2 collector.
    Permit2,
}

/// A channel's state in the contract (`channels`, `pendingWithdrawals`, `refundNonce`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelState {
    /// What the channel holds.
    #[serde(with = "amount")]
    pub balance: u128,
    /// What the receiver has claimed of it.
    #[serde(with = "amount")]
    pub total_claimed: u128,
    /// When the payer asked to withdraw (unix seconds; 0: it did not).
    pub withdraw_requested_at: u64,
    /// The next cooperative refund's nonce.
    #[serde(with = "decimal")]
    pub refund_nonce: U256,
}

/// A channel's state as answers carry it (the SDK's `BatchSettlementChannelStateExtra`): flat in a
/// `/verify` answer's `extra`, under `channelState` in a settlement's `extra` and in a 402's option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelStateExtra {
    /// The channel.
    pub channel_id: B256,
    /// Its state on chain.
    #[serde(flatten)]
    pub state: ChannelState,
    /// What the server has charged on it so far (servers only).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "amount::option")]
    pub charged_cumulative_amount: Option<u128>,
}

impl ChannelStateExtra {
    /// As a JSON object (a `/verify` answer's `extra`).
    pub fn to_map(&self) -> Map<String, Value> {
        to_map(self)
    }
}

/// The latest voucher a server holds, as a corrective 402 carries it (the SDK's
/// `BatchSettlementVoucherStateExtra`), so that a client that lost its state can resume.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VoucherStateExtra {
    /// The voucher's amount.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "amount::option")]
    pub signed_max_claimable: Option<u128>,
    /// Its signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<Bytes>,
}

/// What a `batch-settlement` option carries in `extra` (the SDK's `BatchSettlementPaymentRequirementsExtra`,
/// with the official server's `minDeposit`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchSettlementExtra {
    /// Who authorizes claims and refunds (non-zero): the server's key, or its facilitator's from
    /// `/supported`.
    #[serde(with = "crate::exact::checksummed")]
    pub receiver_authorizer: Address,
    /// The withdrawal delay channels must have, in seconds (the client uses [`MIN_WITHDRAW_DELAY`] when
    /// absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withdraw_delay: Option<u32>,
    /// The token's EIP-712 name (for ERC-3009 deposits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The token's EIP-712 version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// How deposits move the token (ERC-3009 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset_transfer_method: Option<AssetTransferMethod>,
    /// The smallest deposit the server accepts (the official server announces one on every 402).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "amount::option")]
    pub min_deposit: Option<u128>,
    /// The server's view of the payer's channel (in a corrective 402).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_state: Option<ChannelStateExtra>,
    /// The server's latest voucher of the channel (in a corrective 402).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voucher_state: Option<VoucherStateExtra>,
}

impl BatchSettlementExtra {
    /// The `extra` of an ERC-3009 token's option: the receiver authorizer, the withdrawal delay, the token's
    /// EIP-712 domain and the minimum deposit.
    pub fn new(
        receiver_authorizer: Address,
        withdraw_delay: u32,
        name: &str,
        version: &str,
        min_deposit: u128,
    ) -> Self {
        Self {
            receiver_authorizer,
            withdraw_delay: Some(withdraw_delay),
            name: Some(name.to_owned()),
            version: Some(version.to_owned()),
            asset_transfer_method: None,
            min_deposit: Some(min_deposit),
            channel_state: None,
            voucher_state: None,
        }
    }

    /// As a JSON object, for `PaymentRequirements::extra`.
    pub fn to_map(&self) -> Map<String, Value> {
        to_map(self)
    }
}

/// What a settlement answer carries in `extra` for this scheme (the SDK's
/// `BatchSettlementPaymentResponseExtra`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentResponseExtra {
    /// What this request was charged.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "amount::option")]
    pub charged_amount: Option<u128>,
    /// The channel after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_state: Option<ChannelStateExtra>,
    /// The server's latest voucher.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voucher_state: Option<VoucherStateExtra>,
}

impl PaymentResponseExtra {
    /// As a JSON object, for `SettleResponse::extra`.
    pub fn to_map(&self) -> Map<String, Value> {
        to_map(self)
    }
}

fn to_map(value: &impl Serialize) -> Map<String, Value> {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// The official server's minimum deposit hint for a route of `price`: the route's own minimum, at least the
/// price, or [`DEFAULT_MIN_DEPOSIT_MULTIPLIER`] prices.
pub fn min_deposit_hint(price: u128, configured: Option<u128>) -> u128 {
    match configured {
        Some(minimum) => minimum.max(price),
        None => price.saturating_mul(DEFAULT_MIN_DEPOSIT_MULTIPLIER),
    }
}

/// What the official client deposits when it must: the server's announced minimum (when it is at least the
/// price), else `multiplier` prices, but never less than `needed` (what the voucher lacks). `None` when
/// `needed` is above `cap` (the payer's spending limit); otherwise capped by it.
pub fn deposit_for_request(
    announced_minimum: Option<u128>,
    price: u128,
    needed: u128,
    multiplier: u128,
    cap: Option<u128>,
) -> Option<u128> {
    let target = announced_minimum.filter(|m| *m > 0 && *m >= price).unwrap_or(price.saturating_mul(multiplier));
    let deposit = target.max(needed);
    match cap {
        Some(cap) if needed > cap => None,
        Some(cap) => Some(deposit.min(cap)),
        None => Some(deposit),
    }
}

/// What `batch-settlement` requirements say, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchTerms {
    /// The chain id.
    pub chain_id: u64,
    /// The token.
    pub asset: Address,
    /// The receiver.
    pub pay_to: Address,
    /// The price of a request.
    pub price: u128,
    /// The receiver authorizer channels must name.
    pub receiver_authorizer: Address,
    /// The withdrawal delay channels must have, if the server names one.
    pub withdraw_delay: Option<u32>,
    /// The token's EIP-712 domain, when `extra` names it (ERC-3009 deposits need it).
    pub token_domain: Option<Eip712Domain>,
    /// The transfer method deposits must use, if the server names one.
    pub asset_transfer_method: Option<AssetTransferMethod>,
    /// The minimum deposit the server announces.
    pub min_deposit: Option<u128>,
}

impl BatchTerms {
    /// Parses `batch-settlement` requirements; every problem maps to the reason code the official SDK uses
    /// (`extra` without a non-zero `receiverAuthorizer`: `invalid_batch_settlement_evm_receiver_authorizer_mismatch`).
    pub fn from_requirements(requirements: &PaymentRequirements) -> Result<Self, ErrorReason> {
        if requirements.scheme != SCHEME {
            return Err(ErrorReason::BatchInvalidScheme);
        }
        let chain_id = requirements.network().and_then(|n| n.chain_id()).map_err(|_| ErrorReason::InvalidNetwork)?;
        let asset: Address = requirements.asset.parse().map_err(|_| ErrorReason::InvalidPaymentRequirements)?;
        let pay_to: Address = requirements.pay_to.parse().map_err(|_| ErrorReason::InvalidPaymentRequirements)?;
        let price = amount::parse(&requirements.amount).ok_or(ErrorReason::InvalidPaymentRequirements)?;
        let authorizer = requirements.extra_str("receiverAuthorizer").and_then(|a| a.parse::<Address>().ok());
        if authorizer.is_none_or(|a| a.is_zero()) {
            return Err(ErrorReason::BatchReceiverAuthorizerMismatch);
        }
        let extra: BatchSettlementExtra = serde_json::from_value(Value::Object(requirements.extra.clone()))
            .map_err(|_| ErrorReason::InvalidPaymentRequirements)?;
        let token_domain = match (&extra.name, &extra.version) {
            (Some(name), Some(version)) => Some(crate::signature::contract_domain(name, version, chain_id, asset)),
            _ => None,
        };
        Ok(Self {
            chain_id,
            asset,
            pay_to,
            price,
            receiver_authorizer: extra.receiver_authorizer,
            withdraw_delay: extra.withdraw_delay,
            token_domain,
            asset_transfer_method: extra.asset_transfer_method,
            min_deposit: extra.min_deposit,
        })
    }

    /// Checks that `config` is a channel these requirements can be paid through and that `channel_id` is its
    /// id, in the official facilitator's order: the id, the receiver, the receiver authorizer, the token, the
    /// withdrawal delay asked for, the delay's range.
    pub fn check_config(&self, config: &ChannelConfig, channel_id: B256) -> Result<(), ErrorReason> {
        if config.id(self.chain_id) != channel_id {
            return Err(ErrorReason::BatchChannelIdMismatch);
        }
        if config.receiver != self.pay_to {
            return Err(ErrorReason::BatchReceiverMismatch);
        }
        if config.receiver_authorizer != self.receiver_authorizer {
            return Err(ErrorReason::BatchReceiverAuthorizerMismatch);
        }
        if config.token != self.asset {
            return Err(ErrorReason::BatchTokenMismatch);
        }
        if self.withdraw_delay.is_some_and(|delay| delay != config.withdraw_delay) {
            return Err(ErrorReason::BatchWithdrawDelayMismatch);
        }
        if !(MIN_WITHDRAW_DELAY..=MAX_WITHDRAW_DELAY).contains(&config.withdraw_delay) {
            return Err(ErrorReason::BatchWithdrawDelayOutOfRange);
        }
        Ok(())
    }

    /// The transfer method of `deposit`: the server's, else Permit2 when the deposit carries a permit, else
    /// ERC-3009 (the official facilitator's rule).
    pub fn transfer_method(&self, deposit: &Deposit) -> AssetTransferMethod {
        self.asset_transfer_method.unwrap_or(match deposit.authorization {
            DepositAuthorization::Permit2Authorization(_) => AssetTransferMethod::Permit2,
            DepositAuthorization::Erc3009Authorization(_) => AssetTransferMethod::Eip3009,
        })
    }
}

/// Why a client could not build a payment.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The requirements cannot be paid this way, or the channel is not one they accept.
    #[error("the batch-settlement requirements cannot be paid: {0}")]
    Requirements(ErrorReason),
    /// The server asks for Permit2 deposits; this client deposits with ERC-3009 only.
    #[error("the server asks for Permit2 deposits; only ERC-3009 deposits are built here")]
    Permit2Deposit,
    /// The signer failed.
    #[error("signing failed: {0}")]
    Signer(#[from] alloy::signers::Error),
}

/// A client's side: the deposit of `amount` into `config`'s channel with the voucher for
/// `max_claimable_amount` (everything charged on the channel so far, this request included), as the official
/// client builds it: an ERC-3009 `ReceiveWithAuthorization` from the payer to the ERC-3009 collector, valid
/// from 0 until `now + maxTimeoutSeconds`, whose nonce binds the channel and the random `salt`, signed by
/// `payer` (the config's payer), and the voucher signed by `voucher_signer` (the config's voucher signer).
/// The config must be one the requirements accept (see [`ChannelConfig::for_terms`]).
#[allow(clippy::too_many_arguments)]
pub fn pay_deposit(
    requirements: &PaymentRequirements,
    resource: Option<ResourceInfo>,
    config: &ChannelConfig,
    amount: u128,
    max_claimable_amount: u128,
    payer: &impl SignerSync,
    voucher_signer: &impl SignerSync,
    now: u64,
    salt: B256,
) -> Result<PaymentPayload, SignError> {
    let terms = BatchTerms::from_requirements(requirements).map_err(SignError::Requirements)?;
    let channel_id = config.id(terms.chain_id);
    terms.check_config(config, channel_id).map_err(SignError::Requirements)?;
    if terms.asset_transfer_method == Some(AssetTransferMethod::Permit2) {
        return Err(SignError::Permit2Deposit);
    }
    let token_domain =
        terms.token_domain.as_ref().ok_or(SignError::Requirements(ErrorReason::BatchMissingEip712Domain))?;
    if requirements.max_timeout_seconds == 0 || amount == 0 {
        return Err(SignError::Requirements(ErrorReason::InvalidPaymentRequirements));
    }
    let valid_before = U256::from(now.saturating_add(requirements.max_timeout_seconds));
    let message = eip712::ReceiveWithAuthorization {
        from: config.payer,
        to: ERC3009_DEPOSIT_COLLECTOR_ADDRESS,
        value: U256::from(amount),
        validAfter: U256::ZERO,
        validBefore: valid_before,
        nonce: deposit_nonce(channel_id, salt),
    };
    let signature = payer.sign_typed_data_sync(&message, token_domain)?;
    let authorization =
        Erc3009Authorization { valid_after: U256::ZERO, valid_before, salt, signature: signature.as_bytes().into() };
    let payload = BatchSettlementPayload::Deposit(DepositPayload {
        channel_config: *config,
        voucher: sign_voucher(voucher_signer, channel_id, max_claimable_amount, terms.chain_id)?,
        deposit: Deposit { amount, authorization: DepositAuthorization::Erc3009Authorization(authorization) },
    });
    Ok(envelope(requirements, resource, &payload))
}

/// A client's side: the voucher for `max_claimable_amount` on `config`'s funded channel (everything charged
/// so far, this request included), signed by `voucher_signer`.
pub fn pay_voucher(
    requirements: &PaymentRequirements,
    resource: Option<ResourceInfo>,
    config: &ChannelConfig,
    max_claimable_amount: u128,
    voucher_signer: &impl SignerSync,
) -> Result<PaymentPayload, SignError> {
    let terms = BatchTerms::from_requirements(requirements).map_err(SignError::Requirements)?;
    let channel_id = config.id(terms.chain_id);
    terms.check_config(config, channel_id).map_err(SignError::Requirements)?;
    let payload = BatchSettlementPayload::Voucher(VoucherPayload {
        channel_config: *config,
        voucher: sign_voucher(voucher_signer, channel_id, max_claimable_amount, terms.chain_id)?,
    });
    Ok(envelope(requirements, resource, &payload))
}

/// A client's side: asks for `amount` (everything unclaimed when `None`) of `config`'s channel back, with
/// the voucher for `charged` (what the server charged so far: a refund charges nothing).
pub fn pay_refund(
    requirements: &PaymentRequirements,
    resource: Option<ResourceInfo>,
    config: &ChannelConfig,
    charged: u128,
    voucher_signer: &impl SignerSync,
    amount: Option<u128>,
) -> Result<PaymentPayload, SignError> {
    let terms = BatchTerms::from_requirements(requirements).map_err(SignError::Requirements)?;
    let channel_id = config.id(terms.chain_id);
    terms.check_config(config, channel_id).map_err(SignError::Requirements)?;
    if amount == Some(0) {
        return Err(SignError::Requirements(ErrorReason::BatchRefundAmountInvalid));
    }
    let payload = BatchSettlementPayload::Refund(RefundPayload {
        channel_config: *config,
        voucher: sign_voucher(voucher_signer, channel_id, charged, terms.chain_id)?,
        amount,
    });
    Ok(envelope(requirements, resource, &payload))
}

fn envelope(
    requirements: &PaymentRequirements,
    resource: Option<ResourceInfo>,
    payload: &BatchSettlementPayload,
) -> PaymentPayload {
    PaymentPayload {
        x402_version: X402_V2,
        resource,
        accepted: requirements.clone(),
        payload: serde_json::to_value(payload).expect("the batch-settlement payload always serializes"),
        extensions: None,
    }
}

/// A receiver authorizer's side: signs the `ClaimBatch` of `claims` (a claim payload's
/// `claimAuthorizerSignature`).
pub fn sign_claim_batch(
    signer: &impl SignerSync,
    claims: &[VoucherClaim],
    chain_id: u64,
) -> Result<Bytes, alloy::signers::Error> {
    Ok(signer.sign_hash_sync(&claim_batch_digest(claims, chain_id))?.as_bytes().into())
}

/// A receiver authorizer's side: signs the refund of `amount` of `channel_id` at its refund `nonce` (a refund
/// payload's `refundAuthorizerSignature`).
pub fn sign_refund(
    signer: &impl SignerSync,
    channel_id: B256,
    amount: u128,
    nonce: U256,
    chain_id: u64,
) -> Result<Bytes, alloy::signers::Error> {
    Ok(signer.sign_hash_sync(&refund_digest(channel_id, nonce, amount, chain_id))?.as_bytes().into())
}

/// A payment that passed every check that needs no chain (see [`check`]). What remains for a facilitator:
/// the signatures (ECDSA with [`Checked::check_eoa_signatures`]; ERC-1271 or ERC-6492 for a payer with
/// code), the channel's state ([`Checked::check_channel`]) and the payer's balance
/// ([`Checked::check_payer_balance`]), and a simulation of the deposit. What remains for a server: its
/// record of what it charged ([`Checked::check_charge`]) and its minimum deposit
/// ([`Checked::check_min_deposit`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The requirements, parsed.
    pub terms: BatchTerms,
    /// The client's payload.
    pub payload: BatchSettlementPayload,
}

impl Checked {
    /// The channel.
    pub fn config(&self) -> &ChannelConfig {
        self.payload.channel_config()
    }

    /// The channel id (checked to be the config's).
    pub fn channel_id(&self) -> B256 {
        self.payload.voucher().channel_id
    }

    /// The payer.
    pub fn payer(&self) -> Address {
        self.config().payer
    }

    /// The voucher.
    pub fn voucher(&self) -> &SignedVoucher {
        self.payload.voucher()
    }

    /// The deposit, if any.
    pub fn deposit(&self) -> Option<&Deposit> {
        self.payload.deposit()
    }

    /// The digest the payer signed for the deposit, if any: the `ReceiveWithAuthorization` in the token's
    /// domain, or the `PermitWitnessTransferFrom` in Permit2's.
    pub fn deposit_signing_hash(&self) -> Option<B256> {
        let deposit = self.deposit()?;
        match &deposit.authorization {
            DepositAuthorization::Erc3009Authorization(a) => {
                let message = eip712::ReceiveWithAuthorization {
                    from: self.payer(),
                    to: ERC3009_DEPOSIT_COLLECTOR_ADDRESS,
                    value: U256::from(deposit.amount),
                    validAfter: a.valid_after,
                    validBefore: a.valid_before,
                    nonce: deposit_nonce(self.channel_id(), a.salt),
                };
                Some(message.eip712_signing_hash(self.terms.token_domain.as_ref()?))
            }
            DepositAuthorization::Permit2Authorization(a) => Some(
                eip712::PermitWitnessTransferFrom::from(a).eip712_signing_hash(&permit2_domain(self.terms.chain_id)),
            ),
        }
    }

    /// Checks the deposit's time window at `now`: valid after `validAfter` (ERC-3009), and still valid
    /// [`VALID_BEFORE_MARGIN`] seconds from now.
    pub fn check_time(&self, now: u64) -> Result<(), ErrorReason> {
        let Some(deposit) = self.deposit() else { return Ok(()) };
        let soon = U256::from(now.saturating_add(VALID_BEFORE_MARGIN));
        match &deposit.authorization {
            DepositAuthorization::Erc3009Authorization(a) => {
                if a.valid_before < soon {
                    return Err(ErrorReason::BatchValidBeforeExpired);
                }
                if a.valid_after > U256::from(now) {
                    return Err(ErrorReason::BatchValidAfterInFuture);
                }
            }
            DepositAuthorization::Permit2Authorization(a) if a.deadline < soon => {
                return Err(ErrorReason::BatchPermit2DeadlineExpired);
            }
            DepositAuthorization::Permit2Authorization(_) => {}
        }
        Ok(())
    }

    /// Checks the deposit's signature, if any, as an EOA's (65 bytes, `v` 27 or 28, low `s`) recovering to
    /// the payer.
    pub fn check_deposit_signature(&self) -> Result<(), ErrorReason> {
        let Some(deposit) = self.deposit() else { return Ok(()) };
        let (signature, reason) = match &deposit.authorization {
            DepositAuthorization::Erc3009Authorization(a) => {
                (&a.signature, ErrorReason::BatchInvalidReceiveAuthorizationSignature)
            }
            DepositAuthorization::Permit2Authorization(a) => (&a.signature, ErrorReason::BatchPermit2InvalidSignature),
        };
        let digest = self.deposit_signing_hash().ok_or_else(|| reason.clone())?;
        crate::signature::recover_eoa(signature, digest, self.payer()).map_err(|_| reason)
    }

    /// Checks the voucher's signature as the contract does when the channel has a payer authorizer (ECDSA by
    /// it); with none, as an EOA payer's (a payer with code is checked by ERC-1271 instead).
    pub fn check_voucher_signature(&self) -> Result<(), ErrorReason> {
        self.voucher().check_signature(self.config().voucher_signer(), self.terms.chain_id)
    }

    /// Checks the deposit's and the voucher's signatures as EOA signatures, in the official facilitator's
    /// order.
    pub fn check_eoa_signatures(&self) -> Result<(), ErrorReason> {
        self.check_deposit_signature()?;
        self.check_voucher_signature()
    }

    /// Checks the payer can fund the deposit, if any, from `balance` (its token balance).
    pub fn check_payer_balance(&self, balance: U256) -> Result<(), ErrorReason> {
        match self.deposit() {
            Some(deposit) if balance < U256::from(deposit.amount) => Err(ErrorReason::BatchInsufficientBalance),
            _ => Ok(()),
        }
    }

    /// Checks the voucher against the channel's `state` on chain, as the official facilitator does: the
    /// channel (with the deposit, if any) covers the voucher, and the voucher is above what was claimed
    /// (a refund's may equal it); a voucher on an empty channel is for a channel that does not exist.
    pub fn check_channel(&self, state: &ChannelState) -> Result<(), ErrorReason> {
        let voucher = self.voucher().max_claimable_amount;
        let (covered, at_least) = match &self.payload {
            BatchSettlementPayload::Deposit(p) => (state.balance.saturating_add(p.deposit.amount), true),
            BatchSettlementPayload::Voucher(_) | BatchSettlementPayload::Refund(_) if state.balance == 0 => {
                return Err(ErrorReason::BatchChannelNotFound);
            }
            BatchSettlementPayload::Voucher(_) => (state.balance, true),
            BatchSettlementPayload::Refund(_) => (state.balance, false),
        };
        if voucher > covered {
            return Err(ErrorReason::BatchCumulativeExceedsBalance);
        }
        if voucher < state.total_claimed || (at_least && voucher == state.total_claimed) {
            return Err(ErrorReason::BatchCumulativeAmountBelowClaimed);
        }
        Ok(())
    }

    /// What the voucher should be for a server that has charged `charged` on the channel: that plus the
    /// price, or `charged` for a refund (which charges nothing).
    pub fn expected_cumulative(&self, charged: u128) -> Option<u128> {
        match self.payload {
            BatchSettlementPayload::Refund(_) => Some(charged),
            _ => charged.checked_add(self.terms.price),
        }
    }

    /// A server's side: checks the voucher is exactly what it charged on the channel so far plus this
    /// request's price (a refund's: what it charged), as the official server does; anything else is
    /// refused with `invalid_batch_settlement_evm_cumulative_amount_mismatch`, from which the official
    /// client resyncs (send the server's [`ChannelStateExtra`] and [`VoucherStateExtra`] in the 402).
    pub fn check_charge(&self, charged: u128) -> Result<(), ErrorReason> {
        if self.expected_cumulative(charged) == Some(self.voucher().max_claimable_amount) {
            Ok(())
        } else {
            Err(ErrorReason::BatchCumulativeAmountMismatch)
        }
    }

    /// A server's side: checks a deposit is at least `minimum` (the official server does when it enforces
    /// its announced minimum).
    pub fn check_min_deposit(&self, minimum: u128) -> Result<(), ErrorReason> {
        match self.deposit() {
            Some(deposit) if deposit.amount < minimum => Err(ErrorReason::BatchDepositBelowMinDeposit),
            _ => Ok(()),
        }
    }
}

/// Runs every check of a `batch-settlement` payment at `/verify` that needs no chain: [`check_terms`], then
/// the deposit's time window against `now`. `requirements` are the server's own, not the client's echo.
pub fn check(payment: &PaymentPayload, requirements: &PaymentRequirements, now: u64) -> Result<Checked, ErrorReason> {
    let checked = check_terms(payment, requirements)?;
    checked.check_time(now)?;
    Ok(checked)
}

/// The checks of a `batch-settlement` payment that depend neither on the chain nor on the time, in the
/// official facilitator's order: scheme, network, payload shape, the channel (its id, receiver, receiver
/// authorizer, token, withdrawal delay), then the deposit's authorization (the one the transfer method
/// needs, the token's EIP-712 domain for ERC-3009; a permit's payer, spender, token, amount and channel).
pub fn check_terms(payment: &PaymentPayload, requirements: &PaymentRequirements) -> Result<Checked, ErrorReason> {
    if payment.accepted.scheme != SCHEME || requirements.scheme != SCHEME {
        return Err(ErrorReason::BatchInvalidScheme);
    }
    if payment.accepted.network != requirements.network {
        return Err(ErrorReason::BatchNetworkMismatch);
    }
    let terms = BatchTerms::from_requirements(requirements)?;
    let payload: BatchSettlementPayload =
        serde_json::from_value(payment.payload.clone()).map_err(|_| ErrorReason::BatchInvalidPayloadType)?;
    let config = payload.channel_config();
    terms.check_config(config, payload.voucher().channel_id)?;
    if let Some(deposit) = payload.deposit() {
        match (terms.transfer_method(deposit), &deposit.authorization) {
            (AssetTransferMethod::Eip3009, DepositAuthorization::Erc3009Authorization(_)) => {
                if terms.token_domain.is_none() {
                    return Err(ErrorReason::BatchMissingEip712Domain);
                }
            }
            (AssetTransferMethod::Eip3009, DepositAuthorization::Permit2Authorization(_)) => {
                return Err(ErrorReason::BatchErc3009AuthorizationRequired);
            }
            (AssetTransferMethod::Permit2, DepositAuthorization::Erc3009Authorization(_)) => {
                return Err(ErrorReason::BatchInvalidPayloadType);
            }
            (AssetTransferMethod::Permit2, DepositAuthorization::Permit2Authorization(a)) => {
                if a.from != config.payer {
                    return Err(ErrorReason::BatchPermit2InvalidSignature);
                }
                if a.spender != PERMIT2_DEPOSIT_COLLECTOR_ADDRESS {
                    return Err(ErrorReason::BatchPermit2InvalidSpender);
                }
                if a.permitted.token != terms.asset {
                    return Err(ErrorReason::BatchTokenMismatch);
                }
                if a.permitted.amount != U256::from(deposit.amount) {
                    return Err(ErrorReason::BatchPermit2AmountMismatch);
                }
                if a.witness.channel_id != payload.voucher().channel_id {
                    return Err(ErrorReason::BatchChannelIdMismatch);
                }
            }
        }
    }
    Ok(Checked { terms, payload })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_type_hashes_are_the_contracts() {
        use alloy::sol_types::SolStruct;
        assert_eq!(
            eip712::ChannelConfig::eip712_encode_type(),
            "ChannelConfig(address payer,address payerAuthorizer,address receiver,address receiverAuthorizer,\
             address token,uint40 withdrawDelay,bytes32 salt)"
        );
        assert_eq!(
            eip712::ClaimBatch::eip712_encode_type(),
            "ClaimBatch(ClaimEntry[] claims)ClaimEntry(bytes32 channelId,uint128 maxClaimableAmount,uint128 totalClaimed)"
        );
        assert_eq!(eip712::Refund::eip712_encode_type(), "Refund(bytes32 channelId,uint256 nonce,uint128 amount)");
        assert_eq!(
            eip712::PermitWitnessTransferFrom::eip712_encode_type(),
            "PermitWitnessTransferFrom(TokenPermissions permitted,address spender,uint256 nonce,uint256 deadline,\
             DepositWitness witness)DepositWitness(bytes32 channelId)TokenPermissions(address token,uint256 amount)"
        );
    }

    #[test]
    fn amounts_are_uint128_decimals() {
        assert_eq!(amount::parse("0"), Some(0));
        assert_eq!(amount::parse(&u128::MAX.to_string()), Some(u128::MAX));
        assert_eq!(amount::parse("340282366920938463463374607431768211456"), None, "2^128");
        for bad in ["", "-1", "+1", "1.0", "0x10", " 1"] {
            assert_eq!(amount::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn deposits_follow_the_official_clients_policy() {
        assert_eq!(min_deposit_hint(100, None), 1000);
        assert_eq!(min_deposit_hint(100, Some(50)), 100);
        assert_eq!(min_deposit_hint(100, Some(5000)), 5000);
        assert_eq!(deposit_for_request(None, 100, 100, DEFAULT_DEPOSIT_MULTIPLIER, None), Some(500));
        assert_eq!(deposit_for_request(Some(1000), 100, 100, 5, None), Some(1000));
        assert_eq!(deposit_for_request(Some(50), 100, 100, 5, None), Some(500), "a minimum below the price is ignored");
        assert_eq!(deposit_for_request(Some(1000), 100, 1200, 5, None), Some(1200), "never less than needed");
        assert_eq!(deposit_for_request(None, 100, 100, 5, Some(300)), Some(300));
        assert_eq!(deposit_for_request(None, 100, 400, 5, Some(300)), None);
    }
}
