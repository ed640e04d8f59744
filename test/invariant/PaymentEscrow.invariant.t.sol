// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {PaymentEscrow} from "../../contracts/escrow/PaymentEscrow.sol";
import {IInvoiceRegistry} from "../../contracts/interfaces/IInvoiceRegistry.sol";
import {IPaymentEscrow} from "../../contracts/interfaces/IPaymentEscrow.sol";
import {InvoiceRegistry} from "../../contracts/registry/InvoiceRegistry.sol";
import {PaymentEscrowHandler} from "./handlers/PaymentEscrowHandler.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Test} from "forge-std/Test.sol";
import {console2} from "forge-std/console2.sol";

/// @notice Invariants of the escrow's accounting over random sequences of authorizations, top-ups, captures,
/// voids, reclaims, refunds, withdrawals, blacklistings and time warps, and invoice captures through a real
/// registry (of the invoice the terms name, and of invoices they do not).
contract PaymentEscrowInvariantTest is Test {
    PaymentEscrow internal escrow;
    InvoiceRegistry internal registry;
    PaymentEscrowHandler internal handler;

    function setUp() public {
        vm.warp(1_750_000_000);
        registry = new InvoiceRegistry(address(this));
        escrow = new PaymentEscrow(registry);
        registry.setSettler(address(escrow), IInvoiceRegistry.Path.Escrow);
        handler = new PaymentEscrowHandler(escrow);

        bytes4[] memory selectors = new bytes4[](13);
        selectors[0] = PaymentEscrowHandler.authorizeNew.selector;
        selectors[1] = PaymentEscrowHandler.topUp.selector;
        selectors[2] = PaymentEscrowHandler.capture.selector;
        selectors[3] = PaymentEscrowHandler.captureInvalid.selector;
        selectors[4] = PaymentEscrowHandler.voidPayment.selector;
        selectors[5] = PaymentEscrowHandler.reclaim.selector;
        selectors[6] = PaymentEscrowHandler.refund.selector;
        selectors[7] = PaymentEscrowHandler.withdraw.selector;
        selectors[8] = PaymentEscrowHandler.setBlacklisted.selector;
        selectors[9] = PaymentEscrowHandler.warp.selector;
        // Opening payments and capturing are weighted twice, so that runs have several payments to work on.
        selectors[10] = PaymentEscrowHandler.authorizeNew.selector;
        selectors[11] = PaymentEscrowHandler.capture.selector;
        selectors[12] = PaymentEscrowHandler.captureInvoice.selector;
        targetContract(address(handler));
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
    }

    /// @notice (a) For each token the escrow holds exactly what is capturable plus what is owed, and every
    /// credit is what the ghost ledger of deferred payouts and withdrawals says.
    function invariant_balanceEqualsCapturablePlusOwed() public view {
        address[] memory tokens = handler.tokens();
        address[] memory actors = handler.actors();
        PaymentEscrowHandler.PaymentView[] memory payments = handler.payments();
        for (uint256 t; t < tokens.length; ++t) {
            uint256[] memory ghostOwed = handler.ghostOwedOf(tokens[t]);
            uint256 expected;
            for (uint256 i; i < payments.length; ++i) {
                if (payments[i].token == tokens[t]) expected += escrow.paymentState(payments[i].id).capturable;
            }
            for (uint256 k; k < actors.length; ++k) {
                uint256 owed = escrow.owed(tokens[t], actors[k]);
                assertEq(owed, ghostOwed[k], "owed");
                expected += owed;
            }
            assertEq(IERC20(tokens[t]).balanceOf(address(escrow)), expected, "escrow balance");
        }
    }

    /// @notice (b) Per payment: captured <= authorized, refunded <= captured, and capturable is what was
    /// authorized minus what was captured and what was returned (voided or reclaimed); at most maxAmount.
    function invariant_paymentAccounting() public view {
        PaymentEscrowHandler.PaymentView[] memory payments = handler.payments();
        for (uint256 i; i < payments.length; ++i) {
            PaymentEscrowHandler.Ghost memory ghost = payments[i].ghost;
            IPaymentEscrow.PaymentState memory state = escrow.paymentState(payments[i].id);
            assertLe(ghost.captured, ghost.authorized, "captured <= authorized");
            assertLe(ghost.refunded, ghost.captured, "refunded <= captured");
            assertLe(ghost.fees, ghost.captured, "fees <= captured");
            assertLe(ghost.fees * 10_000, ghost.captured * payments[i].maxFeeBps, "fees within the signed bound");
            assertEq(state.capturable, ghost.authorized - ghost.captured - ghost.returned, "capturable");
            assertLe(state.capturable, payments[i].maxAmount, "capturable <= maxAmount");
            assertEq(state.authorizations, ghost.authorizations, "authorizations");
            assertEq(state.closed, ghost.closed, "closed");
        }
    }

    /// @notice (c) A closed (voided or reclaimed) payment holds nothing and was never captured from after
    /// closing (that the escrow's closed flag is the ghost's is checked in (b)).
    function invariant_closedPaymentsStayClosed() public view {
        PaymentEscrowHandler.PaymentView[] memory payments = handler.payments();
        for (uint256 i; i < payments.length; ++i) {
            assertEq(payments[i].ghost.capturesAfterClose, 0, "captured after close");
            if (!payments[i].ghost.closed) continue;
            IPaymentEscrow.PaymentState memory state = escrow.paymentState(payments[i].id);
            assertTrue(state.closed, "closed");
            assertEq(state.capturable, 0, "closed but capturable");
        }
    }

    /// @notice (d) Nobody receives more than was authorized: what payees and fee receivers got (or are owed)
    /// is exactly what was captured, and every token that entered is either still held or went out to its
    /// rightful recipient.
    function invariant_payoutsMatchCaptures() public view {
        address[] memory tokens = handler.tokens();
        PaymentEscrowHandler.PaymentView[] memory payments = handler.payments();
        for (uint256 t; t < tokens.length; ++t) {
            PaymentEscrowHandler.TokenGhost memory g = handler.tokenGhostOf(tokens[t]);
            uint256 captured;
            uint256 authorized;
            for (uint256 i; i < payments.length; ++i) {
                if (payments[i].token != tokens[t]) continue;
                captured += payments[i].ghost.captured;
                authorized += payments[i].ghost.authorized;
            }
            assertEq(g.captured, captured, "token captured");
            assertEq(g.authorized, authorized, "token authorized");
            assertEq(g.paidToPayees + g.paidToFeeReceivers + g.deferredAtCapture, captured, "payouts == captured");
            assertLe(captured, authorized, "captured <= authorized");
            assertEq(
                g.authorized,
                IERC20(tokens[t]).balanceOf(address(escrow)) + g.paidToPayees + g.paidToFeeReceivers
                    + g.returnedToPayers + g.withdrawn,
                "conservation"
            );
        }
    }

    /// @notice (e) Per payment, refundable is what was captured minus what was refunded.
    function invariant_refundableIsCapturedMinusRefunded() public view {
        PaymentEscrowHandler.PaymentView[] memory payments = handler.payments();
        for (uint256 i; i < payments.length; ++i) {
            PaymentEscrowHandler.Ghost memory ghost = payments[i].ghost;
            assertEq(escrow.paymentState(payments[i].id).refundable, ghost.captured - ghost.refunded, "refundable");
        }
    }

    /// @notice (f) An invoice is paid from escrow only if its payment's terms name it, at most once, and the
    /// registry records that payment's payer as its payer; no invoice the payer did not name is ever paid,
    /// and the registry keeps no tokens.
    function invariant_invoicesPaidOnlyAsTheTermsName() public view {
        PaymentEscrowHandler.PaymentView[] memory payments = handler.payments();
        for (uint256 i; i < payments.length; ++i) {
            uint256 paid = payments[i].ghost.invoicePayments;
            if (payments[i].invoiceId == bytes32(0)) {
                assertEq(paid, 0, "no invoice named, none paid");
                continue;
            }
            assertLe(paid, 1, "an invoice is paid at most once");
            assertEq(registry.isPaid(payments[i].invoiceId), paid == 1, "registry agrees with the ghost");
            if (paid == 1) {
                IInvoiceRegistry.Record memory record = registry.recordOf(payments[i].invoiceId);
                assertEq(record.payer, payments[i].payer, "recorded payer");
                assertEq(uint8(record.path), uint8(IInvoiceRegistry.Path.Escrow), "paid through the escrow");
            }
        }
        uint256 strays = handler.strayInvoiceCount();
        for (uint256 k; k < strays; ++k) {
            assertFalse(registry.isPaid(handler.strayInvoices(k)), "stray invoice paid");
        }
        address[] memory tokens = handler.tokens();
        for (uint256 t; t < tokens.length; ++t) {
            assertEq(IERC20(tokens[t]).balanceOf(address(registry)), 0, "registry holds nothing");
        }
    }

    /// @notice Every operation the handler expected to succeed did, every one it expected to fail did, and
    /// every recipient's balance moved by exactly what the escrow said.
    function invariant_noUnexpectedOutcome() public view {
        assertEq(handler.unexpectedFailures(), 0, vm.toString(handler.lastUnexpected()));
        assertEq(handler.unexpectedSuccesses(), 0, vm.toString(handler.lastUnexpected()));
        assertEq(handler.balanceMismatches(), 0, "balance mismatches");
    }

    /// @notice Logs how many calls of each kind were made and how many did what they meant to, so that a run
    /// that does nothing but revert shows.
    function afterInvariant() public view {
        bytes32[14] memory ops = [
            // casting to 'bytes32' is safe: a short string literal, left-aligned and zero-padded
            // forge-lint: disable-next-line(unsafe-typecast)
            bytes32("authorize3009"),
            "authorizePermit",
            "authorizeAllowance",
            "replay3009",
            "capture",
            "captureInvalid",
            "captureInvoice",
            "captureStrayInvoice",
            "void",
            "reclaim",
            "refund",
            "withdraw",
            "setBlacklisted",
            "warp"
        ];
        console2.log("payments", handler.paymentCount());
        address[] memory tokens = handler.tokens();
        PaymentEscrowHandler.TokenGhost memory g = handler.tokenGhostOf(tokens[1]);
        console2.log("blacklist token: deferred at capture, at return, withdrawn");
        console2.log(g.deferredAtCapture, g.deferredAtReturn, g.withdrawn);
        for (uint256 i; i < ops.length; ++i) {
            console2.log(_name(ops[i]), handler.calls(ops[i]), handler.successes(ops[i]));
        }
    }

    function _name(bytes32 op) internal pure returns (string memory) {
        uint256 length;
        while (length < 32 && op[length] != 0) ++length;
        bytes memory name = new bytes(length);
        for (uint256 i; i < length; ++i) {
            name[i] = op[i];
        }
        return string(name);
    }
}
