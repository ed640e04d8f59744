// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {WorkflowOperator} from "../../contracts/cre/WorkflowOperator.sol";
import {IInvoiceRegistry} from "../../contracts/interfaces/IInvoiceRegistry.sol";
import {IPaymentEscrow} from "../../contracts/interfaces/IPaymentEscrow.sol";
import {IWorkflowOperator} from "../../contracts/interfaces/IWorkflowOperator.sol";
import {WorkflowOperatorHandler} from "./handlers/WorkflowOperatorHandler.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Test} from "forge-std/Test.sol";
import {console2} from "forge-std/console2.sol";

/// @notice Invariants of the WorkflowOperator over random sequences of payments, top-ups, reports for any
/// payment in any order, replays, conflicting decisions, refused reports (wrong workflow, expired, wrong chain or
/// operator, not the forwarder), reclaims, refunds and time warps, against a real escrow, registry and token.
contract WorkflowOperatorInvariantTest is Test {
    WorkflowOperatorHandler internal handler;

    function setUp() public {
        vm.warp(1_750_000_000);
        handler = new WorkflowOperatorHandler();

        bytes4[] memory selectors = new bytes4[](14);
        selectors[0] = WorkflowOperatorHandler.open.selector;
        selectors[1] = WorkflowOperatorHandler.topUp.selector;
        selectors[2] = WorkflowOperatorHandler.reclaim.selector;
        selectors[3] = WorkflowOperatorHandler.refund.selector;
        selectors[4] = WorkflowOperatorHandler.warp.selector;
        selectors[5] = WorkflowOperatorHandler.report.selector;
        selectors[6] = WorkflowOperatorHandler.replay.selector;
        selectors[7] = WorkflowOperatorHandler.wrongWorkflow.selector;
        selectors[8] = WorkflowOperatorHandler.expired.selector;
        selectors[9] = WorkflowOperatorHandler.wrongTarget.selector;
        selectors[10] = WorkflowOperatorHandler.notForwarder.selector;
        // Opening payments and valid reports are weighted more, so that runs have payments to decide.
        selectors[11] = WorkflowOperatorHandler.open.selector;
        selectors[12] = WorkflowOperatorHandler.report.selector;
        selectors[13] = WorkflowOperatorHandler.report.selector;
        targetContract(address(handler));
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
    }

    /// @notice Every report was accepted or refused exactly as predicted, refusals with the predicted error.
    function invariant_outcomesAsPredicted() public view {
        assertEq(handler.mispredictions(), 0, vm.toString(handler.lastMisprediction()));
    }

    /// @notice (1) At most one action per payment, ever: the operator's record is the one action the ghost saw
    /// accepted, and the second operator, which no payment names, never acted.
    function invariant_atMostOneActionPerPayment() public view {
        WorkflowOperator operator = handler.operator();
        WorkflowOperator other = handler.other();
        WorkflowOperatorHandler.Payment[] memory payments = handler.payments();
        for (uint256 i; i < payments.length; ++i) {
            WorkflowOperatorHandler.Ghost memory ghost = payments[i].ghost;
            assertLe(ghost.actions, 1, "at most one action");
            assertEq(uint8(operator.acted(payments[i].id)), uint8(ghost.action), "recorded action");
            assertEq(uint8(other.acted(payments[i].id)), uint8(IWorkflowOperator.Action.None), "other never acts");
        }
    }

    /// @notice (2) A payment the operator captured was never voided or paid an invoice from, and the other way
    /// round; a payment it paid an invoice from is recorded in the registry with its payer, every other invoice
    /// is unpaid.
    function invariant_oneDecisionPerPayment() public view {
        IInvoiceRegistry registry = handler.registry();
        IPaymentEscrow escrow = handler.escrow();
        WorkflowOperatorHandler.Payment[] memory payments = handler.payments();
        for (uint256 i; i < payments.length; ++i) {
            WorkflowOperatorHandler.Ghost memory ghost = payments[i].ghost;
            IWorkflowOperator.Action action = ghost.action;
            IPaymentEscrow.PaymentState memory state = escrow.paymentState(payments[i].id);
            if (action != IWorkflowOperator.Action.Capture) assertEq(ghost.captured, 0, "captured only by Capture");
            if (action != IWorkflowOperator.Action.Void) assertEq(ghost.voided, 0, "voided only by Void");
            if (action != IWorkflowOperator.Action.PayInvoice) {
                assertEq(ghost.invoicePaid, 0, "invoice paid only by PayInvoice");
                assertFalse(registry.isPaid(payments[i].invoiceId), "invoice unpaid");
            } else {
                IInvoiceRegistry.Record memory record = registry.recordOf(payments[i].invoiceId);
                assertEq(uint8(record.status), uint8(IInvoiceRegistry.Status.Paid), "invoice paid");
                assertEq(uint8(record.path), uint8(IInvoiceRegistry.Path.Escrow), "paid from escrow");
                assertEq(record.payer, payments[i].terms.payer, "paid by the payment's payer");
            }
            if (action == IWorkflowOperator.Action.Void) assertTrue(state.closed, "void closes");
            if (action == IWorkflowOperator.Action.None || action == IWorkflowOperator.Action.Void) {
                assertEq(state.refundable + ghost.refunded, 0, "nothing captured");
            } else {
                assertEq(state.refundable + ghost.refunded, ghost.captured + ghost.invoicePaid, "refundable = captured");
            }
        }
    }

    /// @notice (3) Funds are conserved per payment (what the payer put in = captured + paid as an invoice +
    /// voided + reclaimed + still capturable), per party (payer debits and payee credits against balances), and
    /// in total (the escrow holds exactly what is capturable, and owes nobody; registry and operators hold
    /// nothing).
    function invariant_fundsConserved() public view {
        IPaymentEscrow escrow = handler.escrow();
        IERC20 usdc = IERC20(address(handler.usdc()));
        WorkflowOperatorHandler.Payment[] memory payments = handler.payments();
        address[] memory payers = handler.payers();
        address[] memory payees = handler.payees();
        uint256[] memory payerExpected = new uint256[](payers.length);
        uint256[] memory payeeExpected = new uint256[](payees.length);
        for (uint256 k; k < payers.length; ++k) {
            payerExpected[k] = handler.minted(payers[k]);
        }
        uint256 capturable;
        for (uint256 i; i < payments.length; ++i) {
            WorkflowOperatorHandler.Ghost memory ghost = payments[i].ghost;
            uint256 held = escrow.paymentState(payments[i].id).capturable;
            assertEq(
                ghost.authorized,
                ghost.captured + ghost.invoicePaid + ghost.voided + ghost.reclaimed + held,
                "payment conserved"
            );
            capturable += held;
            for (uint256 k; k < payers.length; ++k) {
                if (payers[k] == payments[i].terms.payer) {
                    payerExpected[k] =
                        payerExpected[k] + ghost.voided + ghost.reclaimed + ghost.refunded - ghost.authorized;
                }
            }
            for (uint256 k; k < payees.length; ++k) {
                if (payees[k] == payments[i].terms.payee) {
                    payeeExpected[k] += ghost.captured + ghost.invoicePaid - ghost.refunded;
                }
            }
        }
        uint256 sum = usdc.balanceOf(address(escrow));
        for (uint256 k; k < payers.length; ++k) {
            assertEq(usdc.balanceOf(payers[k]), payerExpected[k], "payer balance");
            assertEq(escrow.owed(address(usdc), payers[k]), 0, "payer owed nothing");
            sum += payerExpected[k];
        }
        for (uint256 k; k < payees.length; ++k) {
            assertEq(usdc.balanceOf(payees[k]), payeeExpected[k], "payee balance");
            assertEq(escrow.owed(address(usdc), payees[k]), 0, "payee owed nothing");
            sum += payeeExpected[k];
        }
        assertEq(usdc.balanceOf(address(escrow)), capturable, "escrow holds what is capturable");
        assertEq(usdc.balanceOf(address(handler.registry())), 0, "registry holds nothing");
        assertEq(usdc.balanceOf(address(handler.operator())), 0, "operator holds nothing");
        assertEq(usdc.balanceOf(address(handler.other())), 0, "other operator holds nothing");
        assertEq(sum, handler.totalMinted(), "everything minted is accounted for");
        assertEq(usdc.totalSupply(), handler.totalMinted(), "supply");
    }

    /// @notice Logs what the run did (forge prints it with -vv), so a reader can see every path was exercised.
    function invariant_callSummary() public view {
        bytes32[17] memory ops = [
            // casting is safe: the literal fits in 32 bytes
            // forge-lint: disable-next-line(unsafe-typecast)
            bytes32("open"),
            "topUp",
            "reclaim",
            "refund",
            "warp",
            "report",
            "report: capture",
            "report: void",
            "report: payInvoice",
            "report: same again",
            "report: conflicting",
            "replay",
            "wrongWorkflow",
            "expired",
            "wrongTarget",
            "notForwarder",
            "report: after acting"
        ];
        console2.log("payments", handler.payments().length);
        for (uint256 i; i < ops.length; ++i) {
            console2.log(string(abi.encodePacked(ops[i])), handler.calls(ops[i]), handler.successes(ops[i]));
        }
    }
}

