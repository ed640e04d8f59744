// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ICrossChainInvoice} from "../interfaces/ICrossChainInvoice.sol";
import {IInvoiceRegistry} from "../interfaces/IInvoiceRegistry.sol";
import {CCIPReceiver} from "@chainlink/contracts-ccip/contracts/applications/CCIPReceiver.sol";
import {Client} from "@chainlink/contracts-ccip/contracts/libraries/Client.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

/// @title CrossChainInvoiceReceiver
/// @notice The destination-chain end of a cross-chain invoice payment: receives the tokens and the invoice
/// through CCIP from allow-listed senders on allow-listed chains, checks the token and amount against the
/// invoice, and settles it in the registry (as a `CrossChain` settler: the same record as a local payment).
/// If settlement fails (expired, already paid, cancelled, wrong amount…), the tokens are kept for the
/// payer's refund address, which anyone may then pay out; nothing is stranded.
/// @dev Idempotent per message id. A message from an unknown sender or chain reverts, so CCIP does not
/// deliver its tokens either.
contract CrossChainInvoiceReceiver is ICrossChainInvoice, CCIPReceiver, Ownable {
    using SafeERC20 for IERC20;

    /// @notice What became of a message.
    enum Outcome {
        None,
        Paid,
        Refundable,
        Refunded
    }

    /// @notice A received message's outcome and, when refundable, what to return to whom.
    struct Received {
        Outcome outcome;
        address token;
        address refundTo;
        uint256 amount;
    }

    /// @notice The registry it settles in.
    IInvoiceRegistry public immutable registry;

    /// @notice Senders allowed per source chain.
    mapping(uint64 sourceChainSelector => mapping(address sender => bool)) public allowedSender;
    /// @notice What became of each message.
    mapping(bytes32 messageId => Received) internal _received;

    /// @notice Emitted when a sender is allowed or disallowed.
    event SenderAllowed(uint64 indexed sourceChainSelector, address indexed sender, bool allowed);
    /// @notice Emitted when an arriving payment settled its invoice.
    event PaidCrossChain(
        bytes32 indexed messageId, bytes32 indexed invoiceId, address indexed payer, uint64 sourceChainSelector
    );
    /// @notice Emitted when an arriving payment could not settle; its tokens await `refund`.
    event SettlementFailed(bytes32 indexed messageId, address refundTo, uint256 amount, bytes reason);
    /// @notice Emitted when a failed payment's tokens went to its refund address.
    event Refunded(bytes32 indexed messageId, address indexed refundTo, uint256 amount);

    /// @notice The message's source chain or sender is not allowed.
    error SenderNotAllowed(uint64 sourceChainSelector, address sender);
    /// @notice The message was received before.
    error AlreadyReceived(bytes32 messageId);
    /// @notice The message carries other tokens than one.
    error InvalidTokenCount(uint256 count);
    /// @notice The tokens do not match the invoice.
    error TokenMismatch(address token, uint256 amount, address invoiceToken, uint256 invoiceAmount);
    /// @notice `settle` is internal to the receiver.
    error OnlySelf(address caller);
    /// @notice The message is not awaiting a refund.
    error NotRefundable(bytes32 messageId);

    /// @param router_ This chain's CCIP router.
    /// @param registry_ The invoice registry (which must allow this contract as a CrossChain settler).
    /// @param owner_ Who manages the allow-list.
    constructor(address router_, IInvoiceRegistry registry_, address owner_) CCIPReceiver(router_) Ownable(owner_) {
        registry = registry_;
    }

    /// @notice Allows or disallows `sender` on `sourceChainSelector`. Only the owner.
    function setAllowedSender(uint64 sourceChainSelector, address sender, bool allowed) external onlyOwner {
        allowedSender[sourceChainSelector][sender] = allowed;
        emit SenderAllowed(sourceChainSelector, sender, allowed);
    }

    /// @notice What became of message `messageId`.
    function received(bytes32 messageId) external view returns (Received memory) {
        return _received[messageId];
    }

    /// @notice Pays out a failed payment's tokens to its refund address. Anyone may call it.
    function refund(bytes32 messageId) external {
        Received storage r = _received[messageId];
        if (r.outcome != Outcome.Refundable) revert NotRefundable(messageId);
        r.outcome = Outcome.Refunded;
        IERC20(r.token).safeTransfer(r.refundTo, r.amount);
        emit Refunded(messageId, r.refundTo, r.amount);
    }

    /// @notice Settles a payment with the tokens that came with it. Only this contract (so that a failure
    /// reverts the settlement alone).
    function settle(CrossChainPayment calldata payment, address token, uint256 amount) external returns (bytes32) {
        if (msg.sender != address(this)) revert OnlySelf(msg.sender);
        IInvoiceRegistry.Invoice calldata invoice = payment.invoice;
        if (token != invoice.token || amount != invoice.amount) {
            revert TokenMismatch(token, amount, invoice.token, invoice.amount);
        }
        IERC20(token).forceApprove(address(registry), amount);
        return registry.settle(invoice, payment.issuerSignature, payment.payer);
    }

    function _ccipReceive(Client.Any2EVMMessage memory message) internal override {
        address sender = abi.decode(message.sender, (address));
        if (!allowedSender[message.sourceChainSelector][sender]) {
            revert SenderNotAllowed(message.sourceChainSelector, sender);
        }
        if (_received[message.messageId].outcome != Outcome.None) revert AlreadyReceived(message.messageId);
        if (message.destTokenAmounts.length != 1) revert InvalidTokenCount(message.destTokenAmounts.length);
        CrossChainPayment memory payment = abi.decode(message.data, (CrossChainPayment));
        Client.EVMTokenAmount memory delivered = message.destTokenAmounts[0];

        try this.settle(payment, delivered.token, delivered.amount) returns (bytes32 invoiceId) {
            _received[message.messageId] = Received(Outcome.Paid, delivered.token, payment.refundTo, 0);
            emit PaidCrossChain(message.messageId, invoiceId, payment.payer, message.sourceChainSelector);
        } catch (bytes memory reason) {
            IERC20(delivered.token).forceApprove(address(registry), 0);
            _received[message.messageId] =
                Received(Outcome.Refundable, delivered.token, payment.refundTo, delivered.amount);
            emit SettlementFailed(message.messageId, payment.refundTo, delivered.amount, reason);
        }
    }
}
