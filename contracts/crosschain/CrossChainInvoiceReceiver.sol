// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ICrossChainInvoiceReceiver} from "../interfaces/ICrossChainInvoiceReceiver.sol";
import {IInvoiceRegistry} from "../interfaces/IInvoiceRegistry.sol";
import {CCIPReceiver} from "@chainlink/contracts-ccip/contracts/applications/CCIPReceiver.sol";
import {Client} from "@chainlink/contracts-ccip/contracts/libraries/Client.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

/// @title CrossChainInvoiceReceiver
/// @notice The destination-chain end of a cross-chain invoice payment (see `ICrossChainInvoiceReceiver`).
/// @dev Idempotent per message id; the message is recorded (as refundable) before any external call. A
/// message from a sender that never was allowed reverts, so CCIP does not deliver its tokens either; one from
/// a retired sender is kept for its refund address. A settlement that runs out of gas reverts the delivery
/// (CCIP keeps it for execution with more gas) rather than turning a payable invoice into a refund.
/// Ownership (the allow-list) moves in two steps.
contract CrossChainInvoiceReceiver is ICrossChainInvoiceReceiver, CCIPReceiver, Ownable2Step {
    using SafeERC20 for IERC20;

    /// @notice A failed settlement that leaves less than `1 / OUT_OF_GAS_FRACTION` of the gas it started with
    /// is taken as out of gas.
    uint256 public constant OUT_OF_GAS_FRACTION = 8;

    /// @inheritdoc ICrossChainInvoiceReceiver
    IInvoiceRegistry public immutable registry;

    /// @inheritdoc ICrossChainInvoiceReceiver
    mapping(uint64 sourceChainSelector => mapping(address sender => bool)) public allowedSender;
    /// @inheritdoc ICrossChainInvoiceReceiver
    mapping(uint64 sourceChainSelector => mapping(address sender => bool)) public retiredSender;
    /// @notice What became of each message.
    mapping(bytes32 messageId => Received) internal _received;

    /// @param router_ This chain's CCIP router.
    /// @param registry_ The invoice registry (which must allow this contract as a CrossChain settler).
    /// @param owner_ Who manages the allow-list.
    constructor(address router_, IInvoiceRegistry registry_, address owner_) CCIPReceiver(router_) Ownable(owner_) {
        registry = registry_;
    }

    /// @inheritdoc ICrossChainInvoiceReceiver
    function setAllowedSender(uint64 sourceChainSelector, address sender, bool allowed) external onlyOwner {
        bool wasAllowed = allowedSender[sourceChainSelector][sender];
        allowedSender[sourceChainSelector][sender] = allowed;
        if (allowed) retiredSender[sourceChainSelector][sender] = false;
        else if (wasAllowed) retiredSender[sourceChainSelector][sender] = true;
        emit SenderAllowed(sourceChainSelector, sender, allowed);
    }

    /// @inheritdoc ICrossChainInvoiceReceiver
    function received(bytes32 messageId) external view returns (Received memory) {
        return _received[messageId];
    }

    /// @inheritdoc ICrossChainInvoiceReceiver
    function refund(bytes32 messageId) external {
        _refund(messageId, _received[messageId].refundTo);
    }

    /// @inheritdoc ICrossChainInvoiceReceiver
    function refundTo(bytes32 messageId, address to) external {
        address recipient = _received[messageId].refundTo;
        if (msg.sender != recipient) revert NotRefundRecipient(msg.sender, recipient);
        if (to == address(0)) revert InvalidRefundTo(to);
        _refund(messageId, to);
    }

    /// @inheritdoc ICrossChainInvoiceReceiver
    function settle(CrossChainPayment calldata payment, address token, uint256 amount) external returns (bytes32) {
        if (msg.sender != address(this)) revert OnlySelf(msg.sender);
        IInvoiceRegistry.Invoice calldata invoice = payment.invoice;
        if (token != invoice.token || amount != invoice.amount) {
            revert TokenMismatch(token, amount, invoice.token, invoice.amount);
        }
        IERC20(token).forceApprove(address(registry), amount);
        return registry.settle(invoice, payment.issuerSignature, payment.payer);
    }

    function _refund(bytes32 messageId, address to) private {
        Received storage r = _received[messageId];
        if (r.outcome != Outcome.Refundable) revert NotRefundable(messageId);
        uint256 amount = r.amount;
        r.outcome = Outcome.Refunded;
        r.amount = 0;
        IERC20(r.token).safeTransfer(to, amount);
        emit Refunded(messageId, to, amount);
    }

    function _ccipReceive(Client.Any2EVMMessage memory message) internal override {
        bytes32 messageId = message.messageId;
        uint64 source = message.sourceChainSelector;
        address sender = abi.decode(message.sender, (address));
        bool allowed = allowedSender[source][sender];
        if (!allowed && !retiredSender[source][sender]) revert SenderNotAllowed(source, sender);
        Received storage r = _received[messageId];
        if (r.outcome != Outcome.None) revert AlreadyReceived(messageId);
        if (message.destTokenAmounts.length != 1) revert InvalidTokenCount(message.destTokenAmounts.length);
        CrossChainPayment memory payment = abi.decode(message.data, (CrossChainPayment));
        Client.EVMTokenAmount memory delivered = message.destTokenAmounts[0];
        address refundAddress = payment.refundTo == address(0) ? payment.payer : payment.refundTo;
        // Recorded before any external call: until settled, the tokens are the refund address's.
        r.outcome = Outcome.Refundable;
        r.token = delivered.token;
        r.refundTo = refundAddress;
        r.amount = delivered.amount;

        if (!allowed) {
            emit SettlementFailed(
                messageId,
                refundAddress,
                delivered.amount,
                abi.encodeWithSelector(SenderNotAllowed.selector, source, sender)
            );
            return;
        }
        uint256 gasBefore = gasleft();
        try this.settle(payment, delivered.token, delivered.amount) returns (bytes32 invoiceId) {
            r.outcome = Outcome.Paid;
            r.amount = 0;
            emit PaidCrossChain(messageId, invoiceId, payment.payer, source);
        } catch (bytes memory reason) {
            // A failure that left less than an eighth of the gas ran out of gas somewhere: each call keeps
            // back a 64th of its gas (EIP-150), so an exhaustion nested up to seven calls deep in the
            // registry, token or issuer still ends here below `gasBefore / 8`, while a real refusal (expired,
            // paid, cancelled, mismatch) costs a few thousand gas.
            if (gasleft() < gasBefore / OUT_OF_GAS_FRACTION) revert SettlementOutOfGas(messageId);
            IERC20(delivered.token).forceApprove(address(registry), 0);
            emit SettlementFailed(messageId, refundAddress, delivered.amount, reason);
        }
    }
}
