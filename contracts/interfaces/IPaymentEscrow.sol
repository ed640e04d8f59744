// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IInvoiceRegistry} from "./IInvoiceRegistry.sol";

/// @title IPaymentEscrow
/// @notice Holds a payer's funds under signed terms, then lets an operator capture them to the payee (in
/// parts, with a bounded fee), void what is left, or refund what was captured; the payer takes back what was
/// not captured once the authorization expires, without anyone's help.
/// @dev A payment is identified by the EIP-712 hash of its terms in this escrow's domain (bound to chain and
/// contract). Funds enter only with the payer's consent to exactly those terms: an EIP-3009 authorization
/// whose nonce derives from the payment id, or a call by the payer itself (permit or allowance). The operator
/// can delay or withhold a capture, never move funds elsewhere than the terms say.
interface IPaymentEscrow {
    /// @notice The terms of a payment, consented to by the payer.
    /// @param operator Who may capture, void and refund (e.g. a facilitator or the seller's service).
    /// @param payer Whose funds are held, and who gets back what is not captured.
    /// @param payee Who receives captured funds.
    /// @param token The ERC-20 token.
    /// @param maxAmount The most the escrow may hold for this payment at any time (top-ups included).
    /// @param preApprovalExpiry Funds may be authorized (or topped up) only before this time.
    /// @param authorizationExpiry Captures only before this time; from then on the payer may reclaim.
    /// @param refundExpiry Refunds only before this time.
    /// @param maxFeeBps The highest fee of a capture, as a share of that capture in basis points.
    /// @param feeReceiver Who receives fees; the zero address lets the operator name one at capture.
    /// @param salt Distinguishes payments with otherwise equal terms.
    /// @param invoiceId The one invoice (its id in `registry()`) these funds may pay through `captureInvoice`,
    /// or zero for none. By signing it the payer agrees that the operator may pay exactly this invoice from
    /// the held funds and have the registry record the payer as its payer; no other invoice, even to the same
    /// payee in the same token, can be paid with them or be recorded in the payer's name.
    struct PaymentTerms {
        address operator;
        address payer;
        address payee;
        address token;
        uint256 maxAmount;
        uint48 preApprovalExpiry;
        uint48 authorizationExpiry;
        uint48 refundExpiry;
        uint16 maxFeeBps;
        address feeReceiver;
        bytes32 salt;
        bytes32 invoiceId;
    }

    /// @notice How the payer's funds are brought into escrow.
    enum Method {
        /// EIP-3009 `receiveWithAuthorization`, signed by the payer; anyone may submit it.
        Authorization,
        /// EIP-2612 permit then transfer; the payer must be the caller.
        Permit,
        /// A prior ERC-20 allowance; the payer must be the caller.
        Allowance,
        /// A prior ERC-20 allowance of the caller, who pays in the payer's name (e.g. a collector that redeemed
        /// the payer's authorization of another form). Anyone may sponsor; what is held still goes only to the
        /// payee (captured) or back to the payer (void, reclaim, refund). Not counted as an authorization, so
        /// the payer's EIP-3009 nonces keep their index; refused for terms that name an invoice, which only
        /// the payer's own consent may pay.
        Sponsored
    }

    /// @notice The state of a payment, one storage slot.
    /// @param capturable What is held and may still be captured, voided or reclaimed.
    /// @param refundable What was captured and may still be refunded.
    /// @param authorizations How many of the payer's authorizations (the first and its top-ups) brought funds in;
    /// sponsored funds are not counted.
    /// @param closed True once voided or reclaimed: nothing more can be authorized or captured.
    struct PaymentState {
        uint120 capturable;
        uint120 refundable;
        uint8 authorizations;
        bool closed;
    }

    /// @notice Emitted when funds enter escrow for a payment (first authorization or top-up).
    /// @param paymentId The payment's id.
    /// @param payer The payer.
    /// @param amount The amount brought in.
    /// @param method How it was brought in.
    /// @param index The authorization's index: 0 for the first, 1.. for top-ups; for sponsored funds, the
    /// number of the payer's authorizations so far.
    event PaymentAuthorized(
        bytes32 indexed paymentId, address indexed payer, uint256 amount, Method method, uint256 index
    );

    /// @notice Emitted when part of a payment is captured.
    /// @param paymentId The payment's id.
    /// @param amount The amount captured (what the payee gets plus the fee).
    /// @param fee The fee taken from it.
    /// @param feeReceiver Who received the fee.
    /// @param invoiceId The invoice recorded as paid by this capture, or zero.
    event PaymentCaptured(
        bytes32 indexed paymentId, uint256 amount, uint256 fee, address feeReceiver, bytes32 indexed invoiceId
    );

    /// @notice Emitted when the operator returns what was not captured.
    /// @param paymentId The payment's id.
    /// @param amount The amount returned to the payer.
    event PaymentVoided(bytes32 indexed paymentId, uint256 amount);

    /// @notice Emitted when the payer takes back what was not captured, after the authorization expiry.
    /// @param paymentId The payment's id.
    /// @param amount The amount returned to the payer.
    event PaymentReclaimed(bytes32 indexed paymentId, uint256 amount);

    /// @notice Emitted when captured funds are refunded to the payer.
    /// @param paymentId The payment's id.
    /// @param amount The amount refunded.
    /// @param refunder Who provided the refund (the operator or the payee).
    event PaymentRefunded(bytes32 indexed paymentId, uint256 amount, address refunder);

    /// @notice Emitted when a transfer out of escrow failed (e.g. a blacklisted recipient) and the amount was
    /// credited to the recipient instead, to be withdrawn with `withdraw`. A transfer that failed for lack of
    /// the caller's gas is not credited: the call reverts with `InsufficientGas`.
    /// @param token The token.
    /// @param recipient The recipient credited.
    /// @param amount The amount credited.
    event TransferDeferred(address indexed token, address indexed recipient, uint256 amount);

    /// @notice Emitted when a recipient withdraws its credited funds.
    /// @param token The token.
    /// @param recipient The recipient whose credit is withdrawn.
    /// @param to Where the funds went.
    /// @param amount The amount withdrawn.
    event Withdrawn(address indexed token, address indexed recipient, address to, uint256 amount);

    /// @notice Thrown when an amount is zero (no operation moves nothing).
    error ZeroAmount();

    /// @notice Thrown when terms name a zero operator, payer, payee or token, or a token without code.
    error InvalidTerms();

    /// @notice Thrown when the three expiries are not ordered preApproval <= authorization <= refund.
    /// @param preApprovalExpiry The pre-approval expiry.
    /// @param authorizationExpiry The authorization expiry.
    /// @param refundExpiry The refund expiry.
    error InvalidExpiries(uint48 preApprovalExpiry, uint48 authorizationExpiry, uint48 refundExpiry);

    /// @notice Thrown when `maxFeeBps` exceeds 10,000.
    /// @param maxFeeBps The refused value.
    error InvalidFeeBps(uint16 maxFeeBps);

    /// @notice Thrown when the caller may not perform the operation.
    /// @param caller The caller.
    error Unauthorized(address caller);

    /// @notice Thrown when funds are authorized at or after the pre-approval expiry.
    /// @param preApprovalExpiry The expiry.
    /// @param timestamp The current block time.
    error PreApprovalExpired(uint48 preApprovalExpiry, uint256 timestamp);

    /// @notice Thrown when a capture comes at or after the authorization expiry.
    /// @param authorizationExpiry The expiry.
    /// @param timestamp The current block time.
    error AuthorizationExpired(uint48 authorizationExpiry, uint256 timestamp);

    /// @notice Thrown when the payer reclaims before the authorization expiry.
    /// @param authorizationExpiry The expiry.
    /// @param timestamp The current block time.
    error AuthorizationNotExpired(uint48 authorizationExpiry, uint256 timestamp);

    /// @notice Thrown when a refund comes at or after the refund expiry.
    /// @param refundExpiry The expiry.
    /// @param timestamp The current block time.
    error RefundExpired(uint48 refundExpiry, uint256 timestamp);

    /// @notice Thrown when an authorization would hold more than `maxAmount` for the payment.
    /// @param held What would be held.
    /// @param maxAmount The cap.
    error ExceedsMaxAmount(uint256 held, uint256 maxAmount);

    /// @notice Thrown when a payment was voided or reclaimed.
    /// @param paymentId The payment's id.
    error PaymentClosed(bytes32 paymentId);

    /// @notice Thrown when a payment has had the maximum number of authorizations (255).
    /// @param paymentId The payment's id.
    error TooManyAuthorizations(bytes32 paymentId);

    /// @notice Thrown when a capture exceeds what is capturable.
    /// @param requested The amount requested.
    /// @param capturable What is capturable.
    error InsufficientCapturable(uint256 requested, uint256 capturable);

    /// @notice Thrown when a refund exceeds what is refundable.
    /// @param requested The amount requested.
    /// @param refundable What is refundable.
    error InsufficientRefundable(uint256 requested, uint256 refundable);

    /// @notice Thrown when a fee exceeds the signed bound (`fee * 10_000 > amount * maxFeeBps`).
    /// @param fee The fee.
    /// @param amount The captured amount.
    /// @param maxFeeBps The bound.
    error FeeTooHigh(uint256 fee, uint256 amount, uint16 maxFeeBps);

    /// @notice Thrown when the fee receiver is zero with a fee, or differs from the one fixed in the terms.
    /// @param feeReceiver The refused fee receiver.
    error InvalidFeeReceiver(address feeReceiver);

    /// @notice Thrown when a token transfer did not move exactly the expected amount.
    /// @param expected The expected amount.
    /// @param actual The amount that moved.
    error AmountMismatch(uint256 expected, uint256 actual);

    /// @notice Thrown when the data for a method is too short to hold its fields, or given where the method
    /// takes none.
    error InvalidMethodData();

    /// @notice Thrown when funds are sponsored for terms that name an invoice.
    /// @param invoiceId The invoice id in the terms.
    error SponsoredInvoice(bytes32 invoiceId);

    /// @notice Thrown when an invoice does not match the payment's payee or token.
    /// @param invoiceId The invoice's id.
    error InvoiceMismatch(bytes32 invoiceId);

    /// @notice Thrown when `captureInvoice` is called for terms whose `invoiceId` is zero: the payer agreed to
    /// pay no invoice with them.
    error NoInvoiceInTerms();

    /// @notice Thrown when the invoice presented to `captureInvoice` is not the one the terms name.
    /// @param invoiceId The presented invoice's id.
    /// @param termsInvoiceId The invoice id in the terms.
    error InvoiceNotInTerms(bytes32 invoiceId, bytes32 termsInvoiceId);

    /// @notice Thrown when a transfer out of escrow failed for lack of gas (the caller passed too little for it
    /// to complete), so that no caller can turn a payment into a credit by starving the transfer.
    error InsufficientGas();

    /// @notice Thrown when invoices are captured but the escrow has no registry.
    error NoRegistry();

    /// @notice Thrown when there is nothing to void, reclaim or withdraw.
    error NothingToReturn();

    /// @notice Brings funds into escrow for the payment `terms` describe: the first authorization, or a top-up.
    /// @dev For `Method.Authorization`, `data` is `abi.encode(uint256 validAfter, uint256 validBefore, bytes
    /// signature)` of the payer's EIP-3009 `ReceiveWithAuthorization` to this escrow for `amount`, with nonce
    /// `authorizationNonce(paymentId, index)` where `index` is the payment's number of authorizations so far.
    /// For `Method.Permit`, `data` is `abi.encode(uint256 deadline, bytes signature)` of an EIP-2612 permit for
    /// this escrow. For `Method.Allowance` and `Method.Sponsored`, `data` is empty.
    /// @param terms The payment's terms.
    /// @param amount The amount to bring in.
    /// @param method How.
    /// @param data The method's data.
    /// @return paymentId The payment's id.
    function authorize(PaymentTerms calldata terms, uint256 amount, Method method, bytes calldata data)
        external
        returns (bytes32 paymentId);

    /// @notice Captures `amount` of what is held: `amount - fee` to the payee and `fee` to the fee receiver.
    /// Only the operator, before the authorization expiry.
    /// @param terms The payment's terms.
    /// @param amount The amount to capture.
    /// @param fee The fee, in token units, at most `amount * maxFeeBps / 10_000`.
    /// @param feeReceiver Who gets the fee (must equal the terms' fee receiver when that is set).
    function capture(PaymentTerms calldata terms, uint256 amount, uint256 fee, address feeReceiver) external;

    /// @notice Captures `invoice.amount + fee` of what is held and pays `invoice` with it in the registry: the
    /// payee receives exactly the invoice amount and the registry records the invoice as paid by the payer.
    /// Only the operator, before the authorization expiry, and only for the invoice the terms name
    /// (`terms.invoiceId`); since the registry pays an invoice once, a payment pays at most one invoice.
    /// @param terms The payment's terms.
    /// @param invoice The invoice: its registry id is `terms.invoiceId`, its payee and token are the terms'.
    /// @param issuerSignature The issuer's signature of the invoice.
    /// @param fee The fee on top of the invoice amount.
    /// @param feeReceiver Who gets the fee.
    /// @return invoiceId The invoice's id.
    function captureInvoice(
        PaymentTerms calldata terms,
        IInvoiceRegistry.Invoice calldata invoice,
        bytes calldata issuerSignature,
        uint256 fee,
        address feeReceiver
    ) external returns (bytes32 invoiceId);

    /// @notice Returns everything still capturable to the payer and closes the payment. Only the operator,
    /// at any time.
    /// @param terms The payment's terms.
    function void(PaymentTerms calldata terms) external;

    /// @notice Returns everything still capturable to the payer and closes the payment. Only the payer, from
    /// the authorization expiry on.
    /// @param terms The payment's terms.
    function reclaim(PaymentTerms calldata terms) external;

    /// @notice Refunds up to what was captured to the payer, from the caller's own funds (the caller must have
    /// approved this escrow). Only the operator or the payee, before the refund expiry.
    /// @param terms The payment's terms.
    /// @param amount The amount to refund.
    function refund(PaymentTerms calldata terms, uint256 amount) external;

    /// @notice Withdraws the caller's credit (funds whose transfer to the caller failed) to `to`.
    /// @param token The token.
    /// @param to Where to send it.
    function withdraw(address token, address to) external;

    /// @notice The id of the payment `terms` describe.
    /// @param terms The terms.
    /// @return The payment id.
    function paymentId(PaymentTerms calldata terms) external view returns (bytes32);

    /// @notice The EIP-3009 nonce the payer signs for authorization number `index` of a payment: the payment
    /// id itself for the first, `keccak256(abi.encode(paymentId, index))` for top-ups.
    /// @param paymentId The payment's id.
    /// @param index The authorization's index.
    /// @return The nonce.
    function authorizationNonce(bytes32 paymentId, uint256 index) external pure returns (bytes32);

    /// @notice The state of a payment.
    /// @param paymentId The payment's id.
    /// @return The state.
    function paymentState(bytes32 paymentId) external view returns (PaymentState memory);

    /// @notice What `recipient` is owed in `token` from failed transfers.
    /// @param token The token.
    /// @param recipient The recipient.
    /// @return The credit.
    function owed(address token, address recipient) external view returns (uint256);

    /// @notice The invoice registry captures pay invoices in (zero if none).
    /// @return The registry.
    function registry() external view returns (IInvoiceRegistry);
}
