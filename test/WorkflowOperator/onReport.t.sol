// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {WorkflowOperator} from "../../contracts/cre/WorkflowOperator.sol";
import {IInvoiceRegistry} from "../../contracts/interfaces/IInvoiceRegistry.sol";
import {IPaymentEscrow} from "../../contracts/interfaces/IPaymentEscrow.sol";
import {IWorkflowOperator} from "../../contracts/interfaces/IWorkflowOperator.sol";
import {WorkflowOperatorBase} from "../base/WorkflowOperatorBase.sol";
import {ExecutorDelegate} from "../mocks/MockDelegates.sol";
import {KeystoneForwarder} from "@chainlink/contracts/src/v0.8/keystone/KeystoneForwarder.sol";
import {IRouter} from "@chainlink/contracts/src/v0.8/keystone/interfaces/IRouter.sol";

contract WorkflowOperatorOnReportTest is WorkflowOperatorBase {
    IPaymentEscrow.PaymentTerms internal terms;
    bytes32 internal id;

    function setUp() public override {
        super.setUp();
        terms = _operatedTerms();
        id = _authorize(terms, AMOUNT);
    }

    function _body(IWorkflowOperator.Action action) internal view returns (bytes memory) {
        return abi.encode(_instruction(action, terms));
    }

    /// @dev The report reaches the operator through the real forwarder and is refused there with
    /// `expected`: the forwarder records a failed transmission and no money moves.
    function _refused(bytes memory raw, bytes memory expected) internal {
        Balances memory before = _balances();
        assertFalse(_forward(raw), "refused by the operator");
        _assertBalances(before);
        // The same report handed over by the forwarder directly shows why.
        bytes memory metadata = new bytes(64);
        bytes memory body = new bytes(raw.length - 109);
        for (uint256 i = 0; i < 64; ++i) {
            metadata[i] = raw[45 + i];
        }
        for (uint256 i = 0; i < body.length; ++i) {
            body[i] = raw[109 + i];
        }
        vm.prank(address(forwarder));
        vm.expectRevert(expected);
        workflowOperator.onReport(metadata, body);
    }

    // ---------------------------------------------------------------------------------------------------
    // Actions
    // ---------------------------------------------------------------------------------------------------

    function test_capture_paysThePayeeEverythingHeld() public {
        vm.expectEmit(address(workflowOperator));
        emit IWorkflowOperator.Acted(id, IWorkflowOperator.Action.Capture, WORKFLOW_ID, REPORT_ID);
        assertTrue(_forward(_rawReport(_body(IWorkflowOperator.Action.Capture))));
        assertEq(usdc.balanceOf(payee), AMOUNT);
        assertEq(usdc.balanceOf(address(escrow)), 0);
        assertEq(uint8(workflowOperator.acted(id)), uint8(IWorkflowOperator.Action.Capture));
        assertEq(escrow.paymentState(id).refundable, AMOUNT);
    }

    function test_void_returnsEverythingToThePayer() public {
        uint256 before = usdc.balanceOf(payer);
        assertTrue(_forward(_rawReport(_body(IWorkflowOperator.Action.Void))));
        assertEq(usdc.balanceOf(payer), before + AMOUNT);
        assertEq(usdc.balanceOf(payee), 0);
        assertTrue(escrow.paymentState(id).closed);
    }

    function test_payInvoice_paysTheInvoiceFromTheEscrow() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice(AMOUNT);
        IWorkflowOperator.Instruction memory instruction = _instruction(IWorkflowOperator.Action.PayInvoice, terms);
        instruction.data = abi.encode(invoice, _signInvoice(invoice));
        assertTrue(_forward(_rawReport(abi.encode(instruction))));
        assertEq(usdc.balanceOf(payee), AMOUNT);
        assertTrue(registry.isPaid(_invoiceId(invoice)));
        assertEq(registry.recordOf(_invoiceId(invoice)).payer, payer);
    }

    /// @dev The issuer delegated (EIP-7702) to a contract without `isValidSignature` after signing: its key's
    /// signature still pays the invoice through the workflow, since the registry checks ECDSA first.
    function test_payInvoice_issuerDelegatedToAContractWithoutERC1271_stillPays() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice(AMOUNT);
        IWorkflowOperator.Instruction memory instruction = _instruction(IWorkflowOperator.Action.PayInvoice, terms);
        instruction.data = abi.encode(invoice, _signInvoice(invoice));
        ExecutorDelegate executor = new ExecutorDelegate();
        vm.signAndAttachDelegation(address(executor), issuerKey);
        (bool ok,) = issuer.call("");
        ok;
        assertEq(issuer.code, abi.encodePacked(hex"ef0100", address(executor)), "delegated");
        assertTrue(_forward(_rawReport(abi.encode(instruction))));
        assertEq(usdc.balanceOf(payee), AMOUNT);
        assertTrue(registry.isPaid(_invoiceId(invoice)));
    }

    // ---------------------------------------------------------------------------------------------------
    // At most once
    // ---------------------------------------------------------------------------------------------------

    function test_aSecondReportForThePayment_movesNothing() public {
        assertTrue(_forward(_rawReport(_body(IWorkflowOperator.Action.Capture))));
        bytes memory again = _rawReport(_body(IWorkflowOperator.Action.Void));
        _refused(
            again, abi.encodeWithSelector(IWorkflowOperator.AlreadyActed.selector, id, IWorkflowOperator.Action.Capture)
        );
    }

    function test_aDeliveredReport_cannotBeSentAgain() public {
        bytes memory raw = _rawReport(_body(IWorkflowOperator.Action.Capture));
        assertTrue(_forward(raw));
        bytes memory context = _context();
        bytes[] memory sigs = _sign(raw, context, 2);
        bytes32 transmission = forwarder.getTransmissionId(address(workflowOperator), _executionId(raw), REPORT_ID);
        vm.expectRevert(abi.encodeWithSelector(IRouter.AlreadyAttempted.selector, transmission));
        forwarder.report(address(workflowOperator), raw, context, sigs);
    }

    function test_aFailedReport_canBeRetriedByAnyoneAndActsOnce() public {
        // A capture for a payment whose funds are not in yet fails (nothing to capture) ...
        IPaymentEscrow.PaymentTerms memory later = _operatedTerms();
        later.salt = keccak256("later");
        terms = later;
        bytes memory raw = _rawReport(_body(IWorkflowOperator.Action.Capture));
        assertFalse(_forward(raw));
        assertEq(uint8(workflowOperator.acted(_paymentId(later))), 0, "nothing recorded");
        // ... and succeeds once they are, sent again by a stranger.
        _authorize(later, AMOUNT);
        bytes memory context = _context();
        vm.prank(stranger);
        forwarder.report(address(workflowOperator), raw, context, _sign(raw, context, 2));
        assertEq(usdc.balanceOf(payee), AMOUNT);
        vm.expectRevert();
        forwarder.report(address(workflowOperator), raw, context, _sign(raw, context, 2));
    }

    // ---------------------------------------------------------------------------------------------------
    // Rejections by the forwarder
    // ---------------------------------------------------------------------------------------------------

    function test_aSignerOutsideTheDon_isRejected() public {
        bytes memory raw = _rawReport(_body(IWorkflowOperator.Action.Capture));
        bytes memory context = _context();
        bytes[] memory sigs = _sign(raw, context, 2);
        (address outsider, uint256 outsiderKey) = makeAddrAndKey("outsider");
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(outsiderKey, keccak256(abi.encodePacked(keccak256(raw), context)));
        sigs[1] = abi.encodePacked(r, s, v - 27);
        vm.expectRevert(abi.encodeWithSelector(KeystoneForwarder.InvalidSigner.selector, outsider));
        forwarder.report(address(workflowOperator), raw, context, sigs);
        assertEq(usdc.balanceOf(payee), 0);
    }

    function test_tooFewSignatures_areRejected() public {
        bytes memory raw = _rawReport(_body(IWorkflowOperator.Action.Capture));
        bytes memory context = _context();
        vm.expectRevert(abi.encodeWithSelector(KeystoneForwarder.InvalidSignatureCount.selector, 2, 1));
        forwarder.report(address(workflowOperator), raw, context, _sign(raw, context, 1));
        assertEq(usdc.balanceOf(payee), 0);
    }

    // ---------------------------------------------------------------------------------------------------
    // Rejections by the operator
    // ---------------------------------------------------------------------------------------------------

    function test_onlyTheForwarder_mayCall() public {
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(IWorkflowOperator.NotForwarder.selector, stranger));
        workflowOperator.onReport(new bytes(64), _body(IWorkflowOperator.Action.Capture));
    }

    function test_aReportForAnotherChain_isRefused() public {
        IWorkflowOperator.Instruction memory instruction = _instruction(IWorkflowOperator.Action.Capture, terms);
        instruction.chainId = block.chainid + 1;
        _refused(
            _rawReport(abi.encode(instruction)),
            abi.encodeWithSelector(IWorkflowOperator.WrongTarget.selector, block.chainid + 1, address(workflowOperator))
        );
    }

    function test_aReportForAnotherOperator_isRefused() public {
        IWorkflowOperator.Instruction memory instruction = _instruction(IWorkflowOperator.Action.Capture, terms);
        instruction.operator = stranger;
        _refused(
            _rawReport(abi.encode(instruction)),
            abi.encodeWithSelector(IWorkflowOperator.WrongTarget.selector, block.chainid, stranger)
        );
    }

    function test_anExpiredReport_isRefused() public {
        bytes memory raw = _rawReport(_body(IWorkflowOperator.Action.Capture));
        uint64 deadline = uint64(block.timestamp + 1 hours);
        vm.warp(deadline + 1);
        _refused(raw, abi.encodeWithSelector(IWorkflowOperator.ReportExpired.selector, deadline, deadline + 1));
    }

    function test_anotherWorkflowOwner_isRefused() public {
        bytes memory raw =
            _rawReport(keccak256("x"), stranger, WORKFLOW_NAME, WORKFLOW_ID, _body(IWorkflowOperator.Action.Capture));
        _refused(
            raw, abi.encodeWithSelector(IWorkflowOperator.WrongWorkflow.selector, stranger, WORKFLOW_NAME, WORKFLOW_ID)
        );
    }

    function test_anotherWorkflowName_isRefused() public {
        bytes10 other = "ffffffffff";
        bytes memory raw =
            _rawReport(keccak256("x"), workflowOwner, other, WORKFLOW_ID, _body(IWorkflowOperator.Action.Capture));
        _refused(
            raw, abi.encodeWithSelector(IWorkflowOperator.WrongWorkflow.selector, workflowOwner, other, WORKFLOW_ID)
        );
    }

    function test_aPinnedWorkflowId_refusesOthers() public {
        workflowOperator = new WorkflowOperator(escrow, address(forwarder), workflowOwner, WORKFLOW_NAME, WORKFLOW_ID);
        terms = _operatedTerms();
        bytes32 pinnedPayment = _authorize(terms, AMOUNT);
        bytes32 other = keccak256("workflow v2");
        bytes memory raw =
            _rawReport(keccak256("x"), workflowOwner, WORKFLOW_NAME, other, _body(IWorkflowOperator.Action.Capture));
        _refused(
            raw, abi.encodeWithSelector(IWorkflowOperator.WrongWorkflow.selector, workflowOwner, WORKFLOW_NAME, other)
        );
        assertTrue(_forward(_rawReport(_body(IWorkflowOperator.Action.Capture))), "the pinned id is accepted");
        assertEq(escrow.paymentState(pinnedPayment).refundable, AMOUNT);
    }

    function test_anotherVersion_isRefused() public {
        IWorkflowOperator.Instruction memory instruction = _instruction(IWorkflowOperator.Action.Capture, terms);
        instruction.version = 2;
        _refused(
            _rawReport(abi.encode(instruction)),
            abi.encodeWithSelector(IWorkflowOperator.UnsupportedVersion.selector, 2)
        );
        _refused(_rawReport(hex"01"), abi.encodeWithSelector(IWorkflowOperator.UnsupportedVersion.selector, 0));
    }

    function test_noAction_isRefused() public {
        _refused(
            _rawReport(_body(IWorkflowOperator.Action.None)),
            abi.encodeWithSelector(IWorkflowOperator.UnknownAction.selector)
        );
    }

    function test_termsOperatedByAnother_areRefused() public {
        terms = _terms();
        _refused(
            _rawReport(_body(IWorkflowOperator.Action.Capture)),
            abi.encodeWithSelector(IWorkflowOperator.NotTheOperator.selector, operator)
        );
    }

    function test_badMetadata_isRefused() public {
        vm.prank(address(forwarder));
        vm.expectRevert(IWorkflowOperator.InvalidMetadata.selector);
        workflowOperator.onReport(new bytes(63), _body(IWorkflowOperator.Action.Capture));
    }

    /// @dev Whatever a workflow reports for a payment, money moves only between the payer, the escrow and the
    /// payee, and the payee never gets more than the payer authorized.
    function testFuzz_anyReport_movesMoneyOnlyAsTheTermsAllow(uint8 action, bytes memory data, uint96 amount) public {
        IWorkflowOperator.Instruction memory instruction =
            _instruction(IWorkflowOperator.Action(bound(action, 0, 3)), terms);
        instruction.data = data;
        Balances memory before = _balances();
        _forward(_rawReport(abi.encode(instruction)));
        Balances memory afterwards = _balances();
        assertEq(afterwards.operator, before.operator);
        assertEq(afterwards.feeReceiver, before.feeReceiver);
        assertEq(usdc.balanceOf(address(workflowOperator)), 0);
        assertEq(usdc.balanceOf(address(forwarder)), 0);
        assertLe(afterwards.payee, before.payee + AMOUNT);
        assertEq(afterwards.payer + afterwards.payee + afterwards.escrow, before.payer + before.payee + before.escrow);
        // A second report, whatever it asks, changes nothing once the payment was acted on.
        if (workflowOperator.acted(id) != IWorkflowOperator.Action.None) {
            instruction.action = IWorkflowOperator.Action(bound(uint256(amount), 1, 3));
            assertFalse(_forward(_rawReport(abi.encode(instruction))));
            _assertBalances(afterwards);
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // Helpers
    // ---------------------------------------------------------------------------------------------------

    function _executionId(bytes memory raw) internal pure returns (bytes32 executionId) {
        assembly {
            executionId := mload(add(raw, 33))
        }
    }
}
