// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IPaymentEscrow} from "../../contracts/interfaces/IPaymentEscrow.sol";
import {PaymentEscrowBase} from "../base/PaymentEscrowBase.sol";
import {MockFeeOnTransferToken} from "../mocks/MockFeeOnTransferToken.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";

contract RefundTest is PaymentEscrowBase {
    uint256 internal constant CAPTURED = 6e6;
    uint256 internal constant CAPTURE_FEE = 6e4;
    uint256 internal constant OPERATOR_FUNDS = 20e6;

    IPaymentEscrow.PaymentTerms internal terms;
    bytes32 internal id;

    function setUp() public override {
        super.setUp();
        terms = _terms();
        id = _authorize(terms, AMOUNT);
        _capture(terms, CAPTURED, CAPTURE_FEE, feeReceiver);
        vm.prank(owner);
        usdc.mint(operator, OPERATOR_FUNDS);
    }

    function _approveEscrow(address refunder, uint256 amount) internal {
        vm.prank(refunder);
        assertTrue(usdc.approve(address(escrow), amount));
    }

    function _refund(address refunder, uint256 amount) internal {
        vm.prank(refunder);
        escrow.refund(terms, amount);
    }

    function _expectRefundRevert(IPaymentEscrow.PaymentTerms memory t, uint256 amount, address caller, bytes memory err)
        internal
    {
        Balances memory before = _balances();
        IPaymentEscrow.PaymentState memory state = escrow.paymentState(id);
        vm.expectRevert(err);
        vm.prank(caller);
        escrow.refund(t, amount);
        _assertBalances(before);
        _assertState(id, state.capturable, state.refundable, state.authorizations, state.closed);
    }

    function test_refund_ByOperatorFromOwnFunds() public {
        _approveEscrow(operator, 2e6);
        Balances memory before = _balances();

        vm.expectEmit(address(escrow));
        emit IPaymentEscrow.PaymentRefunded(id, 2e6, operator);
        _refund(operator, 2e6);

        assertEq(usdc.balanceOf(payer), before.payer + 2e6);
        assertEq(usdc.balanceOf(operator), before.operator - 2e6);
        // The escrow's held funds are not used for refunds.
        assertEq(usdc.balanceOf(address(escrow)), before.escrow);
        assertEq(usdc.balanceOf(payee), before.payee);
        _assertState(id, AMOUNT - CAPTURED, CAPTURED - 2e6, 1, false);
    }

    function test_refund_ByPayeeFromOwnFunds() public {
        uint256 received = CAPTURED - CAPTURE_FEE;
        _approveEscrow(payee, received);

        vm.expectEmit(address(escrow));
        emit IPaymentEscrow.PaymentRefunded(id, received, payee);
        _refund(payee, received);

        assertEq(usdc.balanceOf(payee), 0);
        assertEq(usdc.balanceOf(payer), INITIAL_BALANCE - AMOUNT + received);
        _assertState(id, AMOUNT - CAPTURED, CAPTURE_FEE, 1, false);
    }

    function test_refund_InPartsUpToRefundable() public {
        _approveEscrow(operator, OPERATOR_FUNDS);
        _approveEscrow(payee, CAPTURED);
        _refund(payee, 1e6);
        _refund(operator, 2e6);
        _refund(operator, CAPTURED - 3e6);

        assertEq(usdc.balanceOf(payer), INITIAL_BALANCE - AMOUNT + CAPTURED);
        _assertState(id, AMOUNT - CAPTURED, 0, 1, false);
        _expectRefundRevert(
            terms, 1, operator, abi.encodeWithSelector(IPaymentEscrow.InsufficientRefundable.selector, 1, 0)
        );
    }

    function test_refund_OneSecondBeforeRefundExpiry() public {
        _approveEscrow(operator, CAPTURED);
        vm.warp(REFUND_EXPIRY - 1);
        _refund(operator, CAPTURED);
        _assertState(id, AMOUNT - CAPTURED, 0, 1, false);
    }

    function test_refund_AfterVoidAndAfterReclaim() public {
        _approveEscrow(operator, CAPTURED);
        vm.prank(operator);
        escrow.void(terms);
        _refund(operator, 1e6);

        IPaymentEscrow.PaymentTerms memory other = _terms();
        other.salt = keccak256("payment-2");
        bytes32 otherId = _authorize(other, AMOUNT);
        _capture(other, 2e6, 0, address(0));
        vm.warp(AUTHORIZATION_EXPIRY);
        vm.prank(payer);
        escrow.reclaim(other);
        vm.prank(operator);
        escrow.refund(other, 2e6);

        _assertState(id, 0, CAPTURED - 1e6, 1, true);
        _assertState(otherId, 0, 0, 1, true);
        assertEq(usdc.balanceOf(payer), INITIAL_BALANCE - CAPTURED + 1e6);
    }

    function test_refund_RevertWhen_CallerIsNotOperatorOrPayee() public {
        address[3] memory callers = [payer, feeReceiver, stranger];
        for (uint256 i; i < callers.length; ++i) {
            _approveEscrow(callers[i], CAPTURED);
            _expectRefundRevert(
                terms, 1e6, callers[i], abi.encodeWithSelector(IPaymentEscrow.Unauthorized.selector, callers[i])
            );
        }
    }

    function test_refund_RevertWhen_AtRefundExpiry() public {
        _approveEscrow(operator, CAPTURED);
        vm.warp(REFUND_EXPIRY);
        _expectRefundRevert(
            terms,
            1e6,
            operator,
            abi.encodeWithSelector(IPaymentEscrow.RefundExpired.selector, REFUND_EXPIRY, REFUND_EXPIRY)
        );
    }

    function test_refund_RevertWhen_AmountIsZero() public {
        _approveEscrow(operator, CAPTURED);
        _expectRefundRevert(terms, 0, operator, abi.encodeWithSelector(IPaymentEscrow.ZeroAmount.selector));
    }

    function test_refund_RevertWhen_AboveRefundable() public {
        _approveEscrow(operator, OPERATOR_FUNDS);
        _expectRefundRevert(
            terms,
            CAPTURED + 1,
            operator,
            abi.encodeWithSelector(IPaymentEscrow.InsufficientRefundable.selector, CAPTURED + 1, CAPTURED)
        );
    }

    function test_refund_RevertWhen_NothingCaptured() public {
        IPaymentEscrow.PaymentTerms memory other = _terms();
        other.salt = keccak256("payment-2");
        _authorize(other, AMOUNT);
        _approveEscrow(operator, OPERATOR_FUNDS);
        _expectRefundRevert(
            other, 1, operator, abi.encodeWithSelector(IPaymentEscrow.InsufficientRefundable.selector, 1, 0)
        );
    }

    function test_refund_RevertWhen_RefunderDidNotApprove() public {
        _expectRefundRevert(
            terms,
            1e6,
            operator,
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(escrow), 0, 1e6)
        );
    }

    function test_refund_RevertWhen_RefunderLacksFunds() public {
        _approveEscrow(payee, CAPTURED);
        uint256 received = CAPTURED - CAPTURE_FEE;
        _expectRefundRevert(
            terms,
            CAPTURED,
            payee,
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, payee, received, CAPTURED)
        );
    }

    function test_refund_RevertWhen_OperatorUsesOtherTerms() public {
        // Other terms are another payment with nothing refundable: an operator cannot refund "more" by
        // changing the terms, nor pull from anyone but itself.
        IPaymentEscrow.PaymentTerms memory other = _terms();
        other.payer = stranger;
        _approveEscrow(operator, OPERATOR_FUNDS);
        _expectRefundRevert(
            other, 1e6, operator, abi.encodeWithSelector(IPaymentEscrow.InsufficientRefundable.selector, 1e6, 0)
        );
    }

    function test_refund_RevertWhen_LessReachesThePayer() public {
        // A token that starts taking a transfer fee after the capture: the payer would get less than refunded.
        MockFeeOnTransferToken fot = new MockFeeOnTransferToken();
        fot.setFeeBps(0);
        fot.mint(payer, AMOUNT);
        fot.mint(operator, AMOUNT);
        IPaymentEscrow.PaymentTerms memory t = _terms();
        t.token = address(fot);
        vm.startPrank(payer);
        assertTrue(fot.approve(address(escrow), AMOUNT));
        bytes32 fotId = escrow.authorize(t, AMOUNT, IPaymentEscrow.Method.Allowance, "");
        vm.stopPrank();
        _capture(t, AMOUNT, 0, address(0));
        fot.setFeeBps(100);
        vm.prank(operator);
        assertTrue(fot.approve(address(escrow), AMOUNT));

        vm.expectRevert(abi.encodeWithSelector(IPaymentEscrow.AmountMismatch.selector, 1e6, 1e6 - 1e4));
        vm.prank(operator);
        escrow.refund(t, 1e6);

        assertEq(fot.balanceOf(operator), AMOUNT);
        assertEq(fot.balanceOf(payer), 0);
        _assertState(fotId, 0, AMOUNT, 1, false);
    }

    function testFuzz_refund_NeverExceedsCaptured(uint256 first, uint256 second) public {
        _approveEscrow(operator, OPERATOR_FUNDS);
        first = bound(first, 1, CAPTURED);
        second = bound(second, 1, CAPTURED);
        _refund(operator, first);
        if (first + second <= CAPTURED) {
            _refund(operator, second);
            _assertState(id, AMOUNT - CAPTURED, CAPTURED - first - second, 1, false);
        } else {
            _expectRefundRevert(
                terms,
                second,
                operator,
                abi.encodeWithSelector(IPaymentEscrow.InsufficientRefundable.selector, second, CAPTURED - first)
            );
        }
        uint256 refunded = usdc.balanceOf(payer) - (INITIAL_BALANCE - AMOUNT);
        assertLe(refunded, CAPTURED);
        assertEq(refunded, OPERATOR_FUNDS - usdc.balanceOf(operator));
    }

    function testFuzz_refund_PayeeFeesAndRefundsAccountForWhatLeftThePayer(
        uint256 seed,
        uint256 captures,
        uint256 refundShare
    ) public {
        captures = bound(captures, 1, 6);
        refundShare = bound(refundShare, 0, 10_000);
        IPaymentEscrow.PaymentTerms memory fuzzed = _terms();
        fuzzed.salt = keccak256("fuzzed");
        fuzzed.feeReceiver = feeReceiver;
        uint256 payerStart = usdc.balanceOf(payer);
        uint256 payeeStart = usdc.balanceOf(payee);
        uint256 feesStart = usdc.balanceOf(feeReceiver);

        uint256 authorized = bound(uint256(keccak256(abi.encode(seed, "authorized"))), captures, MAX_AMOUNT);
        bytes32 fuzzedId = _authorize(fuzzed, authorized);
        uint256 captured;
        for (uint256 i; i < captures; ++i) {
            uint256 left = authorized - captured;
            if (left == 0) break;
            uint256 amount = bound(uint256(keccak256(abi.encode(seed, i))), 1, left);
            uint256 fee = bound(uint256(keccak256(abi.encode(seed, i, "fee"))), 0, amount * MAX_FEE_BPS / 10_000);
            _capture(fuzzed, amount, fee, feeReceiver);
            captured += amount;
        }
        uint256 fees = usdc.balanceOf(feeReceiver) - feesStart;
        uint256 refund = (captured - fees) * refundShare / 10_000;
        if (refund != 0) {
            _approveEscrow(payee, refund);
            vm.prank(payee);
            escrow.refund(fuzzed, refund);
        }
        if (captured < authorized) {
            vm.prank(operator);
            escrow.void(fuzzed);
        }

        uint256 leftPayer = payerStart - usdc.balanceOf(payer);
        assertEq(leftPayer, (usdc.balanceOf(payee) - payeeStart) + fees);
        assertEq(leftPayer, captured - refund);
        assertLe(captured, authorized);
        assertEq(usdc.balanceOf(address(escrow)), AMOUNT - CAPTURED);
        _assertState(fuzzedId, 0, captured - refund, 1, captured < authorized);
    }
}
