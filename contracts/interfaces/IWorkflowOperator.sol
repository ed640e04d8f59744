// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IPaymentEscrow} from "./IPaymentEscrow.sol";

/// @title IWorkflowOperator
/// @notice The escrow operator a Chainlink CRE workflow drives: a payer who names this contract as the
/// operator of a payment lets one pinned workflow (owner, name, and optionally id) capture, void or pay an
/// invoice from that payment, through reports the DON signs and Chainlink's KeystoneForwarder delivers.
/// @dev Money can move only as the payer's signed terms allow: a capture pays the terms' payee with no fee,
/// a void returns what is held to the payer, an invoice is paid from the held funds to the terms' payee.
/// Failed reports can be replayed by anyone through the forwarder, so this contract, not the forwarder,
/// guarantees that each payment is acted on at most once.
interface IWorkflowOperator {
    /// @notice What a report asks for.
    enum Action {
        /// Not an action (rejected).
        None,
        /// Capture everything still held for the payment to its payee.
        Capture,
        /// Return everything held to the payer and close the payment.
        Void,
        /// Pay an invoice (`data` = `abi.encode(IInvoiceRegistry.Invoice, bytes issuerSignature)`) from the
        /// held funds, recording it as paid in the registry. What else is held stays until the payer reclaims
        /// it after the authorization expiry: the operator acts once per payment.
        PayInvoice
    }

    /// @notice A report's body, version 1: `abi.encode(Instruction)`.
    /// @param version 1.
    /// @param chainId The chain it is meant for.
    /// @param operator The operator contract it is meant for.
    /// @param action What to do.
    /// @param terms The payment's terms (their operator must be this contract).
    /// @param deadline The last second at which it may be acted on.
    /// @param data The action's data (empty but for `PayInvoice`).
    struct Instruction {
        uint8 version;
        uint256 chainId;
        address operator;
        Action action;
        IPaymentEscrow.PaymentTerms terms;
        uint64 deadline;
        bytes data;
    }

    /// @notice Emitted when a report was acted on.
    /// @param paymentId The payment.
    /// @param action What was done.
    /// @param workflowId The workflow that asked.
    /// @param reportId The report's id within the workflow.
    event Acted(bytes32 indexed paymentId, Action action, bytes32 workflowId, bytes2 reportId);

    /// @notice Emitted when a party of a payment reports on its delivery (the event a workflow may watch).
    /// @param paymentId The payment.
    /// @param reporter Who reported: the payer confirming delivery, or the payee giving up.
    /// @param delivered True when the payer confirms delivery, false when the payee gives up.
    /// @param terms The payment's terms.
    event DeliveryReported(
        bytes32 indexed paymentId, address indexed reporter, bool delivered, IPaymentEscrow.PaymentTerms terms
    );

    /// @notice The constructor was given no escrow.
    error ZeroEscrow();
    /// @notice The constructor was given no forwarder: no report could ever be delivered.
    error ZeroForwarder();
    /// @notice The constructor was given no workflow owner: no workflow could ever be pinned.
    error ZeroWorkflowOwner();
    /// @notice The caller is not the forwarder.
    error NotForwarder(address caller);
    /// @notice The metadata is not the forwarder's 64 bytes.
    error InvalidMetadata();
    /// @notice The report comes from another workflow than the pinned one.
    error WrongWorkflow(address owner, bytes10 name, bytes32 id);
    /// @notice The report body is not a version-1 instruction.
    error UnsupportedVersion(uint8 version);
    /// @notice The report is meant for another chain or another operator.
    error WrongTarget(uint256 chainId, address operator);
    /// @notice The report's deadline has passed.
    error ReportExpired(uint64 deadline, uint256 timestamp);
    /// @notice The report asks for no known action.
    error UnknownAction();
    /// @notice The payment's operator is not this contract.
    error NotTheOperator(address operator);
    /// @notice The payment was acted on already.
    error AlreadyActed(bytes32 paymentId, Action action);
    /// @notice Only the payer may confirm delivery, and only the payee may give up.
    error NotAParty(address caller);

    /// @notice Handles a report delivered by the forwarder (CRE's `IReceiver`).
    /// @param metadata `workflowId (32) | workflowName (10) | workflowOwner (20) | reportId (2)`, packed.
    /// @param report `abi.encode(Instruction)`.
    function onReport(bytes calldata metadata, bytes calldata report) external;

    /// @notice Reports on a payment's delivery: the payer confirms it (`delivered`), or the payee gives up
    /// (`!delivered`). Only emits {DeliveryReported}, for a workflow to act on.
    /// @param terms The payment's terms.
    /// @param delivered Whether the job was delivered.
    function reportDelivery(IPaymentEscrow.PaymentTerms calldata terms, bool delivered) external;

    /// @notice The escrow it operates on.
    function escrow() external view returns (IPaymentEscrow);

    /// @notice The only caller of {onReport}.
    function forwarder() external view returns (address);

    /// @notice The pinned workflow: owner, name, and id (zero: any id of that owner and name).
    function workflow() external view returns (address owner, bytes10 name, bytes32 id);

    /// @notice What was done for a payment (`None`: nothing yet).
    function acted(bytes32 paymentId) external view returns (Action);
}
