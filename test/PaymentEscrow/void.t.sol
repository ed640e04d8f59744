// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IPaymentEscrow} from "../../contracts/interfaces/IPaymentEscrow.sol";
import {PaymentEscrowBase} from "../base/PaymentEscrowBase.sol";

contract VoidTest is PaymentEscrowBase {
    IPaymentEscrow.PaymentTerms internal terms;
    bytes32 internal id;

    function setUp() public override {
        super.setUp();
        terms = _terms();
        id = _authorize(terms, AMOUNT);
    }

    function _expectVoidRevert(IPaymentEscrow.PaymentTerms memory t, address caller, bytes memory err) internal {
        Balances memory before = _balances();
        IPaymentEscrow.PaymentState memory state = escrow.paymentState(id);
        vm.expectRevert(err);
        vm.prank(caller);
        escrow.void(t);
        _assertBalances(before);
        _assertState(id, state.capturable, state.refundable, state.authorizations, state.closed);
    }

    function test_void_ReturnsEverythingAndCloses() public {
        vm.expectEmit(address(escrow));
        emit IPaymentEscrow.PaymentVoided(id, AMOUNT);
        vm.prank(operator);
        escrow.void(terms);

        assertEq(usdc.balanceOf(payer), INITIAL_BALANCE);
        assertEq(usdc.balanceOf(address(escrow)), 0);
        _assertState(id, 0, 0, 1, true);
    }

    function test_void_ReturnsWhatWasNotCaptured() public {
        _capture(terms, 4e6, 4e4, feeReceiver);
        _authorize(terms, 2e6);

        vm.expectEmit(address(escrow));
        emit IPaymentEscrow.PaymentVoided(id, AMOUNT - 4e6 + 2e6);
        vm.prank(operator);
        escrow.void(terms);

        assertEq(usdc.balanceOf(payer), INITIAL_BALANCE - 4e6);
        assertEq(usdc.balanceOf(payee), 4e6 - 4e4);
        assertEq(usdc.balanceOf(feeReceiver), 4e4);
        assertEq(usdc.balanceOf(address(escrow)), 0);
        // What was captured stays refundable.
        _assertState(id, 0, 4e6, 2, true);
    }

    function test_void_AtAnyTime() public {
        vm.warp(REFUND_EXPIRY + 365 days);
        vm.prank(operator);
        escrow.void(terms);
        assertEq(usdc.balanceOf(payer), INITIAL_BALANCE);
        _assertState(id, 0, 0, 1, true);
    }

    function test_void_LeavesOtherPaymentsAlone() public {
        IPaymentEscrow.PaymentTerms memory other = _terms();
        other.salt = keccak256("payment-2");
        bytes32 otherId = _authorize(other, 3e6);
        vm.prank(operator);
        escrow.void(terms);
        assertEq(usdc.balanceOf(address(escrow)), 3e6);
        _assertState(otherId, 3e6, 0, 1, false);
        _capture(other, 3e6, 0, address(0));
        assertEq(usdc.balanceOf(payee), 3e6);
    }

    function test_void_RevertWhen_CallerIsNotOperator() public {
        address[4] memory callers = [payer, payee, feeReceiver, stranger];
        for (uint256 i; i < callers.length; ++i) {
            _expectVoidRevert(
                terms, callers[i], abi.encodeWithSelector(IPaymentEscrow.Unauthorized.selector, callers[i])
            );
        }
    }

    function test_void_RevertWhen_NeverAuthorized() public {
        IPaymentEscrow.PaymentTerms memory other = _terms();
        other.salt = keccak256("never authorized");
        _expectVoidRevert(other, operator, abi.encodeWithSelector(IPaymentEscrow.NothingToReturn.selector));
        _assertState(_paymentId(other), 0, 0, 0, false);
    }

    function test_void_RevertWhen_FullyCaptured() public {
        _capture(terms, AMOUNT, 0, address(0));
        _expectVoidRevert(terms, operator, abi.encodeWithSelector(IPaymentEscrow.NothingToReturn.selector));
        _assertState(id, 0, AMOUNT, 1, false);
    }

    function test_void_RevertWhen_AlreadyVoided() public {
        vm.prank(operator);
        escrow.void(terms);
        _expectVoidRevert(terms, operator, abi.encodeWithSelector(IPaymentEscrow.NothingToReturn.selector));
    }

    function test_void_RevertWhen_AlreadyReclaimed() public {
        vm.warp(AUTHORIZATION_EXPIRY);
        vm.prank(payer);
        escrow.reclaim(terms);
        _expectVoidRevert(terms, operator, abi.encodeWithSelector(IPaymentEscrow.NothingToReturn.selector));
    }

    function test_void_ThenNothingCanBeCapturedOrToppedUp() public {
        vm.prank(operator);
        escrow.void(terms);

        vm.expectRevert(abi.encodeWithSelector(IPaymentEscrow.InsufficientCapturable.selector, 1, 0));
        vm.prank(operator);
        escrow.capture(terms, 1, 0, address(0));

        bytes memory data = _authorizationData(terms, AMOUNT, 1);
        vm.expectRevert(abi.encodeWithSelector(IPaymentEscrow.PaymentClosed.selector, id));
        vm.prank(relayer);
        escrow.authorize(terms, AMOUNT, IPaymentEscrow.Method.Authorization, data);

        vm.warp(AUTHORIZATION_EXPIRY);
        vm.expectRevert(abi.encodeWithSelector(IPaymentEscrow.NothingToReturn.selector));
        vm.prank(payer);
        escrow.reclaim(terms);

        assertEq(usdc.balanceOf(payer), INITIAL_BALANCE);
        assertEq(usdc.balanceOf(payee), 0);
        _assertState(id, 0, 0, 1, true);
    }

    function testFuzz_void_ReturnsRemainder(uint256 authorized, uint256 captured) public {
        authorized = bound(authorized, 1, MAX_AMOUNT);
        captured = bound(captured, 0, authorized - 1);
        IPaymentEscrow.PaymentTerms memory fuzzed = _terms();
        fuzzed.salt = keccak256("fuzzed");
        bytes32 fuzzedId = _authorize(fuzzed, authorized);
        if (captured != 0) _capture(fuzzed, captured, 0, address(0));
        uint256 payerBefore = usdc.balanceOf(payer);

        vm.prank(operator);
        escrow.void(fuzzed);

        assertEq(usdc.balanceOf(payer) - payerBefore, authorized - captured);
        assertEq(usdc.balanceOf(address(escrow)), AMOUNT);
        _assertState(fuzzedId, 0, captured, 1, true);
    }
}
