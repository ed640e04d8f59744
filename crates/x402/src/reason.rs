//! Reason codes, spelled exactly as the shipped x402 TypeScript SDK (`@x402/core`, `@x402/evm` 2.27) spells
//! them on the wire, so that official clients and servers understand ours.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

macro_rules! reasons {
    ($($(#[$doc:meta])* $variant:ident => $code:literal,)*) => {
        /// Why a payment was refused or a settlement failed (`invalidReason` / `errorReason`).
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorReason {
            $($(#[$doc])* $variant,)*
            /// A code this crate does not know, kept verbatim.
            Other(String),
        }

        impl ErrorReason {
            /// The code as it appears on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $code,)*
                    Self::Other(code) => code,
                }
            }

            /// Parses a wire code; unknown codes become [`ErrorReason::Other`].
            pub fn from_code(code: &str) -> Self {
                match code {
                    $($code => Self::$variant,)*
                    other => Self::Other(other.to_owned()),
                }
            }

            /// Every code this crate knows (for documentation and tests).
            pub const KNOWN: &'static [&'static str] = &[$($code,)*];
        }
    };
}

reasons! {
    /// The payer's balance is too small (generic form).
    InsufficientFunds => "insufficient_funds",
    /// The network is unknown, malformed or not served.
    InvalidNetwork => "invalid_network",
    /// The payment payload cannot be decoded or is malformed.
    InvalidPayload => "invalid_payload",
    /// The payment requirements are malformed.
    InvalidPaymentRequirements => "invalid_payment_requirements",
    /// The scheme is malformed.
    InvalidScheme => "invalid_scheme",
    /// The scheme is not supported.
    UnsupportedScheme => "unsupported_scheme",
    /// The `x402Version` is not supported.
    InvalidX402Version => "invalid_x402_version",
    /// The chain is in a state that makes the payment impossible.
    InvalidTransactionState => "invalid_transaction_state",
    /// Verification failed for an unexpected reason (e.g. the RPC node failed).
    UnexpectedVerifyError => "unexpected_verify_error",
    /// Settlement failed for an unexpected reason.
    UnexpectedSettleError => "unexpected_settle_error",
    /// The 402 answer's generic error.
    PaymentRequired => "payment_required",
    /// The settlement transaction was sent but its receipt is not known yet.
    SettlementPending => "settlement_pending",
    /// The payload's type is not one the scheme knows.
    UnsupportedPayloadType => "unsupported_payload_type",
    /// The asset has no contract code.
    AssetNotDeployedContract => "asset_not_deployed_contract",
    /// `exact`: the scheme of the payload or requirements is not `exact`.
    ExactEvmScheme => "invalid_exact_evm_scheme",
    /// `exact`: the payload's network differs from the requirements'.
    ExactEvmNetworkMismatch => "invalid_exact_evm_network_mismatch",
    /// `exact`: `extra.name` / `extra.version` (the token's EIP-712 domain) are missing.
    ExactEvmMissingEip712Domain => "invalid_exact_evm_missing_eip712_domain",
    /// `exact`: the authorization pays someone other than `payTo`.
    ExactEvmRecipientMismatch => "invalid_exact_evm_recipient_mismatch",
    /// `exact`: the signature is not the payer's.
    ExactEvmSignature => "invalid_exact_evm_signature",
    /// `exact`: the signature cannot be parsed.
    ExactEvmFailedToParseSignature => "invalid_exact_evm_failed_to_parse_signature",
    /// `exact`: the authorization expires too soon (or has expired).
    ExactEvmValidBefore => "invalid_exact_evm_payload_authorization_valid_before",
    /// `exact`: the authorization is not valid yet.
    ExactEvmValidAfter => "invalid_exact_evm_payload_authorization_valid_after",
    /// `exact`: the authorized value differs from the required amount.
    ExactEvmValueMismatch => "invalid_exact_evm_payload_authorization_value_mismatch",
    /// `exact`: the settlement transaction reverted.
    ExactEvmTransactionFailed => "invalid_exact_evm_transaction_failed",
    /// `exact`: the settlement emitted no matching `Transfer`.
    ExactEvmTransferEventMismatch => "invalid_exact_evm_transfer_event_mismatch",
    /// `exact`: the token's EIP-712 name differs from `extra.name`.
    ExactEvmTokenNameMismatch => "invalid_exact_evm_token_name_mismatch",
    /// `exact`: the token's EIP-712 version differs from `extra.version`.
    ExactEvmTokenVersionMismatch => "invalid_exact_evm_token_version_mismatch",
    /// `exact`: the token does not implement EIP-3009.
    ExactEvmEip3009NotSupported => "invalid_exact_evm_eip3009_not_supported",
    /// `exact`: the authorization's nonce was already used or cancelled.
    ExactEvmNonceAlreadyUsed => "invalid_exact_evm_nonce_already_used",
    /// `exact`: the payer's balance is below the amount.
    ExactEvmInsufficientBalance => "invalid_exact_evm_insufficient_balance",
    /// `exact`: simulating the transfer failed for another reason.
    ExactEvmSimulationFailed => "invalid_exact_evm_transaction_simulation_failed",
    /// Permit2: the permit's spender is not the x402 proxy the scheme settles through.
    Permit2InvalidSpender => "invalid_permit2_spender",
    /// Permit2: the witness pays someone other than `payTo`.
    Permit2RecipientMismatch => "invalid_permit2_recipient_mismatch",
    /// Permit2: the permit's deadline has passed (or is too close).
    Permit2DeadlineExpired => "permit2_deadline_expired",
    /// Permit2: the witness's `validAfter` is in the future.
    Permit2NotYetValid => "permit2_not_yet_valid",
    /// Permit2: the permitted amount differs from the required amount.
    Permit2AmountMismatch => "permit2_amount_mismatch",
    /// Permit2: the permitted token is not the required asset.
    Permit2TokenMismatch => "permit2_token_mismatch",
    /// Permit2: the permit is not signed by the payer.
    Permit2InvalidSignature => "invalid_permit2_signature",
    /// Permit2: the payer has not approved Permit2 for enough of the token.
    Permit2AllowanceRequired => "permit2_allowance_required",
    /// Permit2: simulating the settlement failed for another reason.
    Permit2SimulationFailed => "permit2_simulation_failed",
    /// Permit2: the payer's balance is below the amount.
    Permit2InsufficientBalance => "permit2_insufficient_balance",
    /// Permit2: the x402 proxy has no code on the chain.
    Permit2ProxyNotDeployed => "permit2_proxy_not_deployed",
    /// Permit2: the permit's nonce was used already.
    Permit2InvalidNonce => "permit2_invalid_nonce",
    /// Permit2: the proxy refused a zero amount.
    Permit2InvalidAmount => "permit2_invalid_amount",
    /// Permit2: the proxy refused a zero recipient.
    Permit2InvalidDestination => "permit2_invalid_destination",
    /// Permit2: the proxy refused a zero owner.
    Permit2InvalidOwner => "permit2_invalid_owner",
    /// Permit2: the proxy refused a payment before the witness's `validAfter`.
    Permit2PaymentTooEarly => "permit2_payment_too_early",
    /// `eip2612GasSponsoring`: the EIP-2612 permit approves another amount than the Permit2 permit moves.
    Permit2612AmountMismatch => "permit2_2612_amount_mismatch",
    /// `eip2612GasSponsoring`: the extension's info is malformed.
    InvalidEip2612ExtensionFormat => "invalid_eip2612_extension_format",
    /// `eip2612GasSponsoring`: the EIP-2612 permit's owner is not the payer.
    Eip2612FromMismatch => "eip2612_from_mismatch",
    /// `eip2612GasSponsoring`: the EIP-2612 permit is for another token than the payment's.
    Eip2612AssetMismatch => "eip2612_asset_mismatch",
    /// `eip2612GasSponsoring`: the EIP-2612 permit approves another spender than Permit2.
    Eip2612SpenderNotPermit2 => "eip2612_spender_not_permit2",
    /// `eip2612GasSponsoring`: the EIP-2612 permit's deadline has passed (or is too close).
    Eip2612DeadlineExpired => "eip2612_deadline_expired",
    /// `upto`: the scheme of the payload or requirements is not `upto`.
    UptoEvmScheme => "invalid_upto_evm_scheme",
    /// `upto`: the payload's network differs from the requirements'.
    UptoEvmNetworkMismatch => "invalid_upto_evm_network_mismatch",
    /// `upto`: the amount to settle is above the permitted maximum.
    UptoEvmSettlementExceedsAmount => "invalid_upto_evm_payload_settlement_exceeds_amount",
    /// `upto`: the settlement transaction reverted.
    UptoEvmTransactionFailed => "invalid_upto_evm_transaction_failed",
    /// `upto`: the proxy refused an amount above the permitted one.
    UptoAmountExceedsPermitted => "upto_amount_exceeds_permitted",
    /// `upto`: the proxy refused a sender other than the witness's facilitator.
    UptoUnauthorizedFacilitator => "upto_unauthorized_facilitator",
    /// `upto`: the witness names another facilitator than this one.
    UptoFacilitatorMismatch => "upto_facilitator_mismatch",
    /// `auth-capture`: the scheme of the payload or requirements is not `auth-capture`.
    AuthCaptureScheme => "invalid_auth_capture_evm_scheme",
    /// `auth-capture`: the payload's network differs from the requirements'.
    AuthCaptureNetworkMismatch => "invalid_auth_capture_evm_network_mismatch",
    /// `auth-capture`: the payload has neither shape, or its salt nonce does not fit the salt binding.
    AuthCapturePayloadFormat => "invalid_auth_capture_evm_payload_format",
    /// `auth-capture`: a lifecycle payload's `type` is missing, unknown or not allowed in its flow.
    AuthCapturePayloadType => "invalid_auth_capture_evm_payload_type",
    /// `auth-capture`: a `voidAuthorizerSignature` on a payload other than a capture, or not the receiver
    /// authorizer's.
    AuthCaptureVoidAuthorizerSignature => "invalid_auth_capture_evm_void_authorizer_signature",
    /// `auth-capture`: a capture-and-void that captures the whole hold, leaving nothing to void.
    AuthCaptureVoidRemainderFullCapture => "invalid_auth_capture_evm_void_remainder_full_capture",
    /// `auth-capture`: the payment flow is not one this facilitator settles.
    AuthCaptureUnsupportedPaymentFlow => "invalid_auth_capture_evm_unsupported_payment_flow",
    /// `auth-capture`: `extra` lacks a field, names another escrow, or its fee bounds are not allowed.
    AuthCaptureExtra => "invalid_auth_capture_evm_extra",
    /// `auth-capture`: no receiver authorizer for an operation that needs one.
    AuthCaptureMissingReceiverAuthorizer => "invalid_auth_capture_evm_missing_receiver_authorizer",
    /// `auth-capture`: the operator type is not `delegated`.
    AuthCaptureUnsupportedOperatorType => "invalid_auth_capture_evm_unsupported_operator_type",
    /// `auth-capture`: a non-zero policy for a delegated operator.
    AuthCapturePolicy => "invalid_auth_capture_evm_policy",
    /// `auth-capture`: a lifecycle operation for a payment without a receiver authorizer.
    AuthCaptureLifecycleNotRelayed => "invalid_auth_capture_evm_lifecycle_not_relayed",
    /// `auth-capture`: the capture authorizer is not this facilitator's account.
    AuthCaptureOperatorNotAdmitted => "invalid_auth_capture_evm_operator_not_admitted",
    /// `auth-capture`: the payment's operator is not the capture authorizer.
    AuthCaptureOperatorMismatch => "invalid_auth_capture_evm_operator_mismatch",
    /// `auth-capture`: the salt is not the one bound to the receiver authorizer, policy and salt nonce.
    AuthCaptureSaltBindingMismatch => "invalid_auth_capture_evm_salt_binding_mismatch",
    /// `auth-capture`: the authorizer signature is not the receiver authorizer's.
    AuthCaptureAuthorizerSignature => "invalid_auth_capture_evm_authorizer_signature",
    /// `auth-capture`: the escrow's capturable or refundable amount differs from the signed expectation.
    AuthCaptureUnexpectedPaymentState => "invalid_auth_capture_evm_unexpected_payment_state",
    /// `auth-capture`: the operator has no refund liquidity for this refund.
    AuthCaptureRefundFundingUnavailable => "invalid_auth_capture_evm_refund_funding_unavailable",
    /// `auth-capture`: the asset transfer method is not one this facilitator settles.
    AuthCaptureUnsupportedAssetTransferMethod => "invalid_auth_capture_evm_unsupported_asset_transfer_method",
    /// `auth-capture`: the capture deadline is too close or has passed.
    AuthCaptureCaptureDeadlineExpired => "invalid_auth_capture_evm_capture_deadline_expired",
    /// `auth-capture`: the refund deadline has passed.
    AuthCaptureRefundDeadlineExpired => "invalid_auth_capture_evm_refund_deadline_expired",
    /// `auth-capture`: the deadlines are out of order.
    AuthCaptureDeadlineOrdering => "invalid_auth_capture_evm_deadline_ordering",
    /// `auth-capture`: the authorization expires too soon.
    AuthCaptureAuthorizationExpired => "invalid_auth_capture_evm_authorization_expired",
    /// `auth-capture`: the authorization is not valid yet.
    AuthCaptureAuthorizationNotYetValid => "invalid_auth_capture_evm_authorization_not_yet_valid",
    /// `auth-capture`: the payer's signature is not valid.
    AuthCaptureSignature => "invalid_auth_capture_evm_signature",
    /// `auth-capture`: the authorized value or an operation's amount does not fit the requirements.
    AuthCaptureAmountMismatch => "invalid_auth_capture_evm_amount_mismatch",
    /// `auth-capture`: the authorization is not to the token collector.
    AuthCaptureTokenCollectorMismatch => "invalid_auth_capture_evm_token_collector_mismatch",
    /// `auth-capture`: the authorization's nonce is not the payment's.
    AuthCaptureNonceMismatch => "invalid_auth_capture_evm_nonce_mismatch",
    /// `auth-capture`: the payer holds less than the amount.
    AuthCaptureInsufficientBalance => "invalid_auth_capture_evm_insufficient_balance",
    /// `auth-capture`: the operation's simulation reverted.
    AuthCaptureSimulationFailed => "invalid_auth_capture_evm_simulation_failed",
    /// `auth-capture`: the payment was collected before.
    AuthCapturePaymentAlreadyCollected => "invalid_auth_capture_evm_payment_already_collected",
    /// `auth-capture`: the submitted fee is outside the signed bounds.
    AuthCaptureFeeBpsOutOfRange => "invalid_auth_capture_evm_fee_bps_out_of_range",
    /// `auth-capture`: a fee without a fee receiver.
    AuthCaptureZeroFeeReceiver => "invalid_auth_capture_evm_zero_fee_receiver",
    /// `auth-capture`: the fee receiver is not the payment's.
    AuthCaptureFeeReceiver => "invalid_auth_capture_evm_fee_receiver",
    /// `auth-capture`: a capture above what the escrow holds.
    AuthCaptureInsufficientAuthorization => "invalid_auth_capture_evm_insufficient_authorization",
    /// `auth-capture`: nothing is held to capture or void.
    AuthCaptureZeroAuthorization => "invalid_auth_capture_evm_zero_authorization",
    /// `auth-capture`: a refund above what was captured.
    AuthCaptureRefundExceedsCapture => "invalid_auth_capture_evm_refund_exceeds_capture",
    /// `auth-capture`: the operation's transaction reverted.
    AuthCaptureTransactionReverted => "invalid_auth_capture_evm_transaction_reverted",
    /// `invoice` (Quittance): the option's invoice disagrees with the option, or is malformed.
    InvoiceTerms => "invalid_invoice_terms",
    /// `invoice`: the invoice is not signed by its issuer.
    InvoiceIssuerSignature => "invalid_invoice_issuer_signature",
    /// `invoice`: the invoice is for another resource than the one requested.
    InvoiceResourceMismatch => "invalid_invoice_resource_mismatch",
    /// `invoice`: the invoice's deadline has passed (or is too close).
    InvoiceExpired => "invalid_invoice_expired",
    /// `invoice`: the authorization's nonce is not the invoice id.
    InvoiceNonceMismatch => "invalid_invoice_authorization_nonce",
    /// `invoice`: the invoice was already paid.
    InvoiceAlreadyPaid => "invalid_invoice_already_paid",
    /// `invoice`: the issuer cancelled the invoice.
    InvoiceCancelled => "invalid_invoice_cancelled",
    /// `cross-chain-invoice` (Quittance): the payment reached the destination but could not settle the
    /// invoice there (expired, paid meanwhile, cancelled); its tokens await a refund to the payer's refund
    /// address.
    CrossChainRefundable => "invalid_cross_chain_payment_refundable",
    /// `channel` (Quittance): the channel's config disagrees with the option (receiver, token, contract,
    /// withdrawal delay), or the payload is malformed.
    ChannelTerms => "invalid_channel_terms",
    /// `channel`: the voucher is not signed by the channel's payer authorizer.
    ChannelVoucherSignature => "invalid_channel_voucher_signature",
    /// `channel`: the voucher does not pay the price on top of the last one accepted (a reused or
    /// out-of-order voucher).
    ChannelVoucherNotIncreasing => "invalid_channel_voucher_not_increasing",
    /// `channel`: the voucher grants more than the channel holds.
    ChannelInsufficientDeposit => "invalid_channel_insufficient_deposit",
    /// `channel`: the channel is closed or its payer asked to withdraw.
    ChannelClosing => "invalid_channel_closing",
    /// `batch-settlement`: the channel holds nothing (never funded, or drained).
    BatchChannelNotFound => "invalid_batch_settlement_evm_channel_not_found",
    /// `batch-settlement`: the channel's token (or the permit's) is not the required asset.
    BatchTokenMismatch => "invalid_batch_settlement_evm_token_mismatch",
    /// `batch-settlement`: the voucher is not signed by the channel's payer authorizer (or, with none, the payer).
    BatchInvalidVoucherSignature => "invalid_batch_settlement_evm_voucher_signature",
    /// `batch-settlement`: the voucher's cumulative amount is above what the channel holds (with the deposit it carries).
    BatchCumulativeExceedsBalance => "invalid_batch_settlement_evm_cumulative_exceeds_balance",
    /// `batch-settlement`: the voucher's cumulative amount is not above what was claimed already.
    BatchCumulativeAmountBelowClaimed => "invalid_batch_settlement_evm_cumulative_below_claimed",
    /// `batch-settlement`: the payer holds less than the deposit.
    BatchInsufficientBalance => "invalid_batch_settlement_evm_insufficient_balance",
    /// `batch-settlement`: the deposit transaction reverted or could not be sent.
    BatchDepositTransactionFailed => "invalid_batch_settlement_evm_deposit_transaction_failed",
    /// `batch-settlement`: the claim transaction reverted or could not be sent.
    BatchClaimTransactionFailed => "invalid_batch_settlement_evm_claim_transaction_failed",
    /// `batch-settlement`: the settle transaction reverted or could not be sent.
    BatchSettleTransactionFailed => "invalid_batch_settlement_evm_settle_transaction_failed",
    /// `batch-settlement`: the scheme of the payload or requirements is not `batch-settlement`.
    BatchInvalidScheme => "invalid_batch_settlement_evm_scheme",
    /// `batch-settlement`: the payload's network differs from the requirements'.
    BatchNetworkMismatch => "invalid_batch_settlement_evm_network_mismatch",
    /// `batch-settlement`: `extra.name` / `extra.version` (the token's EIP-712 domain) are missing.
    BatchMissingEip712Domain => "invalid_batch_settlement_evm_missing_eip712_domain",
    /// `batch-settlement`: the deposit authorization expires too soon (or has expired).
    BatchValidBeforeExpired => "invalid_batch_settlement_evm_payload_authorization_valid_before",
    /// `batch-settlement`: the deposit authorization is not valid yet.
    BatchValidAfterInFuture => "invalid_batch_settlement_evm_payload_authorization_valid_after",
    /// `batch-settlement`: the deposit's `ReceiveWithAuthorization` is not signed by the payer.
    BatchInvalidReceiveAuthorizationSignature => "invalid_batch_settlement_evm_receive_authorization_signature",
    /// `batch-settlement`: an ERC-3009 deposit carries no `erc3009Authorization`.
    BatchErc3009AuthorizationRequired => "invalid_batch_settlement_evm_erc3009_authorization_required",
    /// `batch-settlement`: the refund transaction reverted or could not be sent.
    BatchRefundTransactionFailed => "invalid_batch_settlement_evm_refund_transaction_failed",
    /// `batch-settlement`: the payload is malformed or of a `type` this operation does not take.
    BatchInvalidPayloadType => "invalid_batch_settlement_evm_payload_type",
    /// `batch-settlement`: the channel's withdrawal delay is outside 15 minutes to 30 days.
    BatchWithdrawDelayOutOfRange => "invalid_batch_settlement_evm_withdraw_delay_out_of_range",
    /// `batch-settlement`: the voucher's channel id is not the id of the channel config it comes with.
    BatchChannelIdMismatch => "invalid_batch_settlement_evm_channel_id_mismatch",
    /// `batch-settlement`: the channel id is not 32 bytes of hex.
    BatchInvalidChannelId => "invalid_batch_settlement_evm_channel_id_invalid",
    /// `batch-settlement`: the channel pays someone other than `payTo`.
    BatchReceiverMismatch => "invalid_batch_settlement_evm_receiver_mismatch",
    /// `batch-settlement`: the channel's receiver authorizer is not the one the requirements name (or they name none).
    BatchReceiverAuthorizerMismatch => "invalid_batch_settlement_evm_receiver_authorizer_mismatch",
    /// `batch-settlement`: the channel's withdrawal delay differs from `extra.withdrawDelay`.
    BatchWithdrawDelayMismatch => "invalid_batch_settlement_evm_withdraw_delay_mismatch",
    /// `batch-settlement`: the facilitator's authorizer key is not the channel's receiver authorizer.
    BatchAuthorizerAddressMismatch => "invalid_batch_settlement_evm_authorizer_address_mismatch",
    /// `batch-settlement`: an authorizer signature is missing and the facilitator has no authorizer key.
    BatchAuthorizerNotConfigured => "invalid_batch_settlement_evm_authorizer_not_configured",
    /// `batch-settlement`: simulating the deposit failed.
    BatchDepositSimulationFailed => "invalid_batch_settlement_evm_deposit_simulation_failed",
    /// `batch-settlement`: the deposit is below the server's minimum (`extra.minDeposit`).
    BatchDepositBelowMinDeposit => "invalid_batch_settlement_evm_deposit_below_min_deposit",
    /// `batch-settlement`: the ERC-6492 signature deploys its wallet with a factory not allowed.
    BatchFactoryNotAllowed => "invalid_batch_settlement_evm_eip6492_factory_not_allowed",
    /// `batch-settlement`: deploying the payer's ERC-6492 wallet failed.
    BatchSmartWalletDeploymentFailed => "invalid_batch_settlement_evm_smart_wallet_deployment_failed",
    /// `batch-settlement`: simulating the claim failed.
    BatchClaimSimulationFailed => "invalid_batch_settlement_evm_claim_simulation_failed",
    /// `batch-settlement`: simulating the settle failed.
    BatchSettleSimulationFailed => "invalid_batch_settlement_evm_settle_simulation_failed",
    /// `batch-settlement`: the receiver has no claimed, unsettled amount of the token.
    BatchNothingToSettle => "invalid_batch_settlement_evm_nothing_to_settle",
    /// `batch-settlement`: the refund's settlement answer is malformed.
    BatchRefundPayload => "invalid_batch_settlement_evm_refund_payload",
    /// `batch-settlement`: simulating the refund failed.
    BatchRefundSimulationFailed => "invalid_batch_settlement_evm_refund_simulation_failed",
    /// `batch-settlement`: reading the channel's state from the chain failed.
    BatchRpcReadFailed => "invalid_batch_settlement_evm_rpc_read_failed",
    /// `batch-settlement`: a Permit2 deposit carries no `permit2Authorization`.
    BatchPermit2AuthorizationRequired => "invalid_batch_settlement_evm_permit2_authorization_required",
    /// `batch-settlement`: the deposit permit's spender is not the Permit2 deposit collector.
    BatchPermit2InvalidSpender => "invalid_batch_settlement_evm_permit2_invalid_spender",
    /// `batch-settlement`: the deposit permit's amount differs from the deposit's.
    BatchPermit2AmountMismatch => "invalid_batch_settlement_evm_permit2_amount_mismatch",
    /// `batch-settlement`: the deposit permit's deadline has passed (or is too close).
    BatchPermit2DeadlineExpired => "invalid_batch_settlement_evm_permit2_deadline_expired",
    /// `batch-settlement`: the deposit permit is not signed by the payer.
    BatchPermit2InvalidSignature => "invalid_batch_settlement_evm_permit2_invalid_signature",
    /// `batch-settlement`: the payer has not approved Permit2 for enough of the token.
    BatchPermit2AllowanceRequired => "invalid_batch_settlement_evm_permit2_allowance_required",
    /// `batch-settlement`: the EIP-2612 permit's amount differs from the deposit's.
    BatchEip2612AmountMismatch => "invalid_batch_settlement_evm_eip2612_amount_mismatch",
    /// `batch-settlement`: the ERC-20 approval extension is offered but the facilitator cannot use it.
    BatchErc20ApprovalUnavailable => "invalid_batch_settlement_evm_erc20_approval_unavailable",
    /// `batch-settlement`: the voucher is not the server's charged total plus this request's price (the client resyncs from the 402's `channelState`).
    BatchCumulativeAmountMismatch => "invalid_batch_settlement_evm_cumulative_amount_mismatch",
    /// `batch-settlement`: the channel is serving another request.
    BatchChannelBusy => "invalid_batch_settlement_evm_channel_busy",
    /// `batch-settlement`: the server could not read or reserve its record of the channel.
    BatchVerificationStateUnavailable => "invalid_batch_settlement_evm_verification_state_unavailable",
    /// `batch-settlement`: the charge would exceed the voucher's cumulative amount.
    BatchChargeExceedsSignedCumulative => "invalid_batch_settlement_evm_charge_exceeds_signed_cumulative",
    /// `batch-settlement`: the server has no record of the channel.
    BatchMissingChannel => "invalid_batch_settlement_evm_missing_channel",
    /// `batch-settlement`: the channel has nothing left to refund.
    BatchRefundNoBalance => "invalid_batch_settlement_evm_refund_no_balance",
    /// `batch-settlement`: the refund amount is not a positive integer.
    BatchRefundAmountInvalid => "invalid_batch_settlement_evm_refund_amount_invalid",
}

impl fmt::Display for ErrorReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for ErrorReason {}

impl Serialize for ErrorReason {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorReason {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self::from_code(&String::deserialize(deserializer)?))
    }
}
