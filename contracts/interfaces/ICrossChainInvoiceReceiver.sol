// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ICrossChainInvoice} from "./ICrossChainInvoice.sol";
import {IInvoiceRegistry} from "./IInvoiceRegistry.sol";

/// @title ICrossChainInvoiceReceiver
/// @notice The destination-chain end of a cross-chain invoice payment: receives the tokens and the invoice
/// through CCIP from allow-listed senders on allow-listed chains, checks the token and amount against the
/// invoice, and settles it in the registry (as a `CrossChain` settler). Whatever cannot be settled on
/// arrival (expired, paid meanwhile, cancelled, wrong amount, sender retired or receiver removed as settler
/// while the message was in flight) is kept for the payment's refund address; nothing is stranded.
interface ICrossChainInvoiceReceiver is ICrossChainInvoice {
    /// @notice What became of a message.
    enum Outcome {
        None,
        Paid,
        Refundable,
        Refunded
    }

    /// @notice A received message's outcome and, while refundable, what to return to whom.
    /// @param outcome What became of it.
    /// @param token The token that arrived.
    /// @param refundTo Who gets the tokens if the message is refundable.
    /// @param amount What remains to refund (zero once paid or refunded).
    struct Received {
        Outcome outcome;
        address token;
        address refundTo;
        uint256 amount;
    }

    /// @notice Emitted when a sender is allowed or disallowed.
    /// @param sourceChainSelector The sender's chain.
    /// @param sender The sender.
    /// @param allowed Whether its messages settle from now on (a disallowed one that was allowed before is
    /// retired: its messages still in flight become refundable).
    event SenderAllowed(uint64 indexed sourceChainSelector, address indexed sender, bool allowed);
    /// @notice Emitted when an arriving payment settled its invoice.
    /// @param messageId The CCIP message id.
    /// @param invoiceId The invoice's id.
    /// @param payer The payer.
    /// @param sourceChainSelector The chain it came from.
    event PaidCrossChain(
        bytes32 indexed messageId, bytes32 indexed invoiceId, address indexed payer, uint64 sourceChainSelector
    );
    /// @notice Emitted when an arriving payment could not settle; its tokens await `refund`.
    /// @param messageId The CCIP message id.
    /// @param refundTo Who the tokens are kept for.
    /// @param amount The amount kept.
    /// @param reason Why it did not settle (the revert data of the settlement, or `SenderNotAllowed`).
    event SettlementFailed(bytes32 indexed messageId, address refundTo, uint256 amount, bytes reason);
    /// @notice Emitted when a failed payment's tokens were paid out.
    /// @param messageId The CCIP message id.
    /// @param to Who received them (the refund address, or where it redirected them).
    /// @param amount The amount.
    event Refunded(bytes32 indexed messageId, address indexed to, uint256 amount);

    /// @notice The message's source chain or sender is not allowed (and never was).
    /// @param sourceChainSelector The source chain.
    /// @param sender The sender.
    error SenderNotAllowed(uint64 sourceChainSelector, address sender);
    /// @notice The message was received before.
    /// @param messageId The CCIP message id.
    error AlreadyReceived(bytes32 messageId);
    /// @notice The message carries other tokens than one.
    /// @param count How many it carries.
    error InvalidTokenCount(uint256 count);
    /// @notice The tokens do not match the invoice.
    /// @param token The token that arrived.
    /// @param amount The amount that arrived.
    /// @param invoiceToken The invoice's token.
    /// @param invoiceAmount The invoice's amount.
    error TokenMismatch(address token, uint256 amount, address invoiceToken, uint256 invoiceAmount);
    /// @notice `settle` is internal to the receiver.
    /// @param caller The caller.
    error OnlySelf(address caller);
    /// @notice The message is not awaiting a refund.
    /// @param messageId The CCIP message id.
    error NotRefundable(bytes32 messageId);
    /// @notice Only the refund address may redirect its refund.
    /// @param caller The caller.
    /// @param refundTo The refund address.
    error NotRefundRecipient(address caller, address refundTo);
    /// @notice The settlement ran out of the gas it was given: the delivery reverts so that it can be executed
    /// again with more gas, instead of turning a payable invoice into a refund.
    /// @param messageId The CCIP message id.
    error SettlementOutOfGas(bytes32 messageId);

    /// @notice The registry it settles in.
    function registry() external view returns (IInvoiceRegistry);

    /// @notice Whether `sender` on `sourceChainSelector` may pay invoices.
    /// @param sourceChainSelector The source chain.
    /// @param sender The sender.
    function allowedSender(uint64 sourceChainSelector, address sender) external view returns (bool);

    /// @notice Whether `sender` on `sourceChainSelector` was allowed and no longer is: its messages become
    /// refundable on arrival.
    /// @param sourceChainSelector The source chain.
    /// @param sender The sender.
    function retiredSender(uint64 sourceChainSelector, address sender) external view returns (bool);

    /// @notice Allows or disallows `sender` on `sourceChainSelector`. Only the owner. Disallowing a sender that
    /// was allowed retires it, so that its messages in flight (tokens already burned on the source) are
    /// refunded on arrival rather than refused for ever.
    /// @param sourceChainSelector The source chain.
    /// @param sender The sender.
    /// @param allowed Whether it may pay invoices.
    function setAllowedSender(uint64 sourceChainSelector, address sender, bool allowed) external;

    /// @notice What became of message `messageId`.
    /// @param messageId The CCIP message id.
    /// @return Its outcome, token, refund address and what remains to refund.
    function received(bytes32 messageId) external view returns (Received memory);

    /// @notice Pays out a failed payment's tokens to its refund address. Anyone may call it.
    /// @param messageId The CCIP message id.
    function refund(bytes32 messageId) external;

    /// @notice Pays out a failed payment's tokens to `to` instead of the refund address (blacklisted by the
    /// token, say). Only the refund address.
    /// @param messageId The CCIP message id.
    /// @param to Where the tokens go (nonzero).
    function refundTo(bytes32 messageId, address to) external;

    /// @notice Settles a payment with the tokens that came with it. Only this contract (so that a failure
    /// reverts the settlement alone).
    /// @param payment The payment.
    /// @param token The token that arrived.
    /// @param amount The amount that arrived.
    /// @return The invoice id.
    function settle(CrossChainPayment calldata payment, address token, uint256 amount) external returns (bytes32);
}
