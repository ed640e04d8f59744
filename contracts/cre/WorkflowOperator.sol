// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IInvoiceRegistry} from "../interfaces/IInvoiceRegistry.sol";
import {IPaymentEscrow} from "../interfaces/IPaymentEscrow.sol";
import {IWorkflowOperator} from "../interfaces/IWorkflowOperator.sol";
import {IReceiver} from "@chainlink/contracts/src/v0.8/keystone/interfaces/IReceiver.sol";
import {IERC165} from "@openzeppelin/contracts@5.0.2/utils/introspection/IERC165.sol";

/// @title WorkflowOperator
/// @notice See {IWorkflowOperator}. Its configuration is immutable: the payer's terms name this contract,
/// so what it lets a workflow do cannot change under them.
contract WorkflowOperator is IWorkflowOperator, IReceiver {
    /// @notice The only report version understood.
    uint8 public constant VERSION = 1;

    IPaymentEscrow public immutable override escrow;
    address public immutable override forwarder;
    address internal immutable _workflowOwner;
    bytes10 internal immutable _workflowName;
    bytes32 internal immutable _workflowId;

    mapping(bytes32 paymentId => Action) public override acted;

    /// @dev Reverts with {ZeroEscrow}, {ZeroForwarder} or {ZeroWorkflowOwner}: an operator with any of them
    /// zero could never act, and payers naming it would only learn it when their funds sat until expiry.
    /// @param escrow_ The escrow.
    /// @param forwarder_ The network's KeystoneForwarder.
    /// @param workflowOwner The workflow owner's address.
    /// @param workflowName The workflow's 10-byte name as the forwarder reports it.
    /// @param workflowId The workflow id, or zero to accept any id of that owner and name.
    constructor(
        IPaymentEscrow escrow_,
        address forwarder_,
        address workflowOwner,
        bytes10 workflowName,
        bytes32 workflowId
    ) {
        if (address(escrow_) == address(0)) revert ZeroEscrow();
        if (forwarder_ == address(0)) revert ZeroForwarder();
        if (workflowOwner == address(0)) revert ZeroWorkflowOwner();
        escrow = escrow_;
        forwarder = forwarder_;
        _workflowOwner = workflowOwner;
        _workflowName = workflowName;
        _workflowId = workflowId;
    }

    /// @inheritdoc IWorkflowOperator
    function workflow() external view returns (address owner, bytes10 name, bytes32 id) {
        return (_workflowOwner, _workflowName, _workflowId);
    }

    /// @inheritdoc IERC165
    function supportsInterface(bytes4 interfaceId) external pure override returns (bool) {
        return interfaceId == type(IReceiver).interfaceId || interfaceId == type(IERC165).interfaceId;
    }

    /// @inheritdoc IWorkflowOperator
    function onReport(bytes calldata metadata, bytes calldata report) external override(IReceiver, IWorkflowOperator) {
        if (msg.sender != forwarder) revert NotForwarder(msg.sender);
        if (metadata.length != 64) revert InvalidMetadata();
        bytes32 workflowId = bytes32(metadata[0:32]);
        bytes10 name = bytes10(metadata[32:42]);
        address owner = address(bytes20(metadata[42:62]));
        bytes2 reportId = bytes2(metadata[62:64]);
        if (owner != _workflowOwner || name != _workflowName || (_workflowId != 0 && workflowId != _workflowId)) {
            revert WrongWorkflow(owner, name, workflowId);
        }

        // abi.encode(Instruction): the offset of the tuple (0x20), then the version.
        if (report.length < 64 || uint256(bytes32(report[0:32])) != 0x20 || uint256(bytes32(report[32:64])) != VERSION)
        {
            revert UnsupportedVersion(report.length < 64 ? 0 : uint8(report[63]));
        }
        Instruction memory instruction = abi.decode(report, (Instruction));
        if (instruction.chainId != block.chainid || instruction.operator != address(this)) {
            revert WrongTarget(instruction.chainId, instruction.operator);
        }
        if (block.timestamp > instruction.deadline) revert ReportExpired(instruction.deadline, block.timestamp);
        IPaymentEscrow.PaymentTerms memory terms = instruction.terms;
        if (terms.operator != address(this)) revert NotTheOperator(terms.operator);

        bytes32 paymentId = escrow.paymentId(terms);
        Action done = acted[paymentId];
        if (done != Action.None) revert AlreadyActed(paymentId, done);
        Action action = instruction.action;
        acted[paymentId] = action;
        emit Acted(paymentId, action, workflowId, reportId);

        if (action == Action.Capture) {
            uint256 held = escrow.paymentState(paymentId).capturable;
            escrow.capture(terms, held, 0, terms.feeReceiver);
        } else if (action == Action.Void) {
            escrow.void(terms);
        } else if (action == Action.PayInvoice) {
            (IInvoiceRegistry.Invoice memory invoice, bytes memory signature) =
                abi.decode(instruction.data, (IInvoiceRegistry.Invoice, bytes));
            escrow.captureInvoice(terms, invoice, signature, 0, terms.feeReceiver);
        } else {
            revert UnknownAction();
        }
    }

    /// @inheritdoc IWorkflowOperator
    function reportDelivery(IPaymentEscrow.PaymentTerms calldata terms, bool delivered) external {
        if (delivered ? msg.sender != terms.payer : msg.sender != terms.payee) revert NotAParty(msg.sender);
        emit DeliveryReported(escrow.paymentId(terms), msg.sender, delivered, terms);
    }
}
