// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {WorkflowOperator} from "../../contracts/cre/WorkflowOperator.sol";
import {IPaymentEscrow} from "../../contracts/interfaces/IPaymentEscrow.sol";
import {IWorkflowOperator} from "../../contracts/interfaces/IWorkflowOperator.sol";
import {PaymentEscrowBase} from "./PaymentEscrowBase.sol";
import {KeystoneForwarder} from "@chainlink/contracts/src/v0.8/keystone/KeystoneForwarder.sol";

/// @dev Payment terms naming `operator` and the one invoice they may pay (`invoiceId`), opened at `start`
/// (pre-approval an hour later, authorization two, refunds three), with no fee. The one place where the WorkflowOperator tests and their invariant handler
/// build terms from scratch.
function operatedTerms(
    address operator,
    address payer,
    address payee,
    address token,
    uint256 maxAmount,
    uint48 start,
    bytes32 salt,
    bytes32 invoiceId
) pure returns (IPaymentEscrow.PaymentTerms memory) {
    return IPaymentEscrow.PaymentTerms({
        operator: operator,
        payer: payer,
        payee: payee,
        token: token,
        maxAmount: maxAmount,
        preApprovalExpiry: start + 1 hours,
        authorizationExpiry: start + 2 hours,
        refundExpiry: start + 3 hours,
        maxFeeBps: 0,
        feeReceiver: address(0),
        salt: salt,
        invoiceId: invoiceId
    });
}

/// @dev Chainlink's real KeystoneForwarder configured with test signers (a local DON: 3f + 1 keys), and an
/// operator pinned to one workflow; reports are built and signed here exactly as a DON does.
abstract contract WorkflowOperatorBase is PaymentEscrowBase {
    uint32 internal constant DON_ID = 1;
    uint32 internal constant CONFIG_VERSION = 1;
    bytes10 internal constant WORKFLOW_NAME = "a1b2c3d4e5";
    bytes32 internal constant WORKFLOW_ID = keccak256("workflow v1");
    bytes2 internal constant REPORT_ID = 0x0001;

    KeystoneForwarder internal forwarder;
    WorkflowOperator internal workflowOperator;
    address internal workflowOwner = makeAddr("workflowOwner");
    uint256[] internal donKeys;
    uint256 internal executions;

    function setUp() public virtual override {
        super.setUp();
        forwarder = new KeystoneForwarder();
        _configure(1);
        workflowOperator = new WorkflowOperator(escrow, address(forwarder), workflowOwner, WORKFLOW_NAME, bytes32(0));
    }

    /// @dev Configures the forwarder with 3f + 1 signers.
    function _configure(uint8 f) internal {
        delete donKeys;
        address[] memory signers = new address[](3 * uint256(f) + 1);
        for (uint256 i = 0; i < signers.length; ++i) {
            (signers[i], donKeys.push()) = makeAddrAndKey(string.concat("don signer ", vm.toString(i)));
        }
        forwarder.setConfig(DON_ID, CONFIG_VERSION, f, signers);
    }

    /// @dev Default terms with the workflow operator as operator, which may pay the default invoice
    /// (`_invoice(AMOUNT)`).
    function _operatedTerms() internal view returns (IPaymentEscrow.PaymentTerms memory terms) {
        terms = _termsFor(_invoice(AMOUNT));
        terms.operator = address(workflowOperator);
    }

    function _instruction(IWorkflowOperator.Action action, IPaymentEscrow.PaymentTerms memory terms)
        internal
        view
        returns (IWorkflowOperator.Instruction memory)
    {
        return IWorkflowOperator.Instruction({
            version: 1,
            chainId: block.chainid,
            operator: address(workflowOperator),
            action: action,
            terms: terms,
            deadline: uint64(block.timestamp + 1 hours),
            data: ""
        });
    }

    /// @dev The raw report a DON produces: 109 bytes of metadata, then the body.
    function _rawReport(bytes32 executionId, address owner, bytes10 name, bytes32 workflowId, bytes memory body)
        internal
        view
        returns (bytes memory)
    {
        return abi.encodePacked(
            uint8(1),
            executionId,
            uint32(block.timestamp),
            DON_ID,
            CONFIG_VERSION,
            workflowId,
            name,
            owner,
            REPORT_ID,
            body
        );
    }

    function _rawReport(bytes memory body) internal returns (bytes memory) {
        return
            _rawReport(
                keccak256(abi.encode("execution", ++executions)), workflowOwner, WORKFLOW_NAME, WORKFLOW_ID, body
            );
    }

    /// @dev Signatures by the first `count` DON keys: `r | s | v` with v 0 or 1, over
    /// keccak256(keccak256(raw) | context).
    function _sign(bytes memory raw, bytes memory context, uint256 count) internal view returns (bytes[] memory sigs) {
        bytes32 digest = keccak256(abi.encodePacked(keccak256(raw), context));
        sigs = new bytes[](count);
        for (uint256 i = 0; i < count; ++i) {
            (uint8 v, bytes32 r, bytes32 s) = vm.sign(donKeys[i], digest);
            sigs[i] = abi.encodePacked(r, s, v - 27);
        }
    }

    function _context() internal pure returns (bytes memory) {
        return abi.encodePacked(keccak256("config digest"), uint64(1), bytes24(0));
    }

    /// @dev Forwards `raw` signed by f + 1 keys; returns whether the operator accepted it.
    function _forward(bytes memory raw) internal returns (bool) {
        bytes memory context = _context();
        uint8 f = uint8((donKeys.length - 1) / 3);
        forwarder.report(address(workflowOperator), raw, context, _sign(raw, context, f + 1));
        bytes32 executionId;
        assembly {
            executionId := mload(add(raw, 33))
        }
        return forwarder.getTransmissionInfo(address(workflowOperator), executionId, REPORT_ID).success;
    }
}
