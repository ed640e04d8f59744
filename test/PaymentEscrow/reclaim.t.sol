// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IPaymentEscrow} from "../../contracts/interfaces/IPaymentEscrow.sol";
import {PaymentEscrowBase} from "../base/PaymentEscrowBase.sol";

contract ReclaimTest is PaymentEscrowBase {
    IPaymentEscrow.PaymentTerms internal terms;
    bytes32 internal id;

    function setUp() public override {
        super.setUp();
        terms = _terms();
        id = _authorize(terms, AMOUNT);
    }

    function _expectReclaimRevert(IPaymentEscrow.PaymentTerms memory t, address caller, bytes memory err) internal {
        Balances memory before = _balances();
        IPaymentEscrow.PaymentState memory state = escrow.paymentState(id);
        vm.expectRevert(err);
        vm.prank(caller);
        escrow.reclaim(t);
        _assertBalances(before);
        _assertState(id, state.capturable, state.refundable, state.authorizations, state.closed);
    }

    function test_reclaim_AtAuthorizationExpiry() public {
        vm.warp(AUTHORIZATION_EXPIRY);
        vm.expectEmit(address(escrow));
        emit IPaymentEscrow.PaymentReclaimed(id, AMOUNT);
        vm.prank(payer);
        escrow.reclaim(terms);

        assertEq(usdc.balanceOf(payer), INITIAL_BALANCE);
        assertEq(usdc.balanceOf(address(escrow)), 0);
        _assertState(id, 0, 0, 1, true);
    }

    function test_reclaim_ReturnsWhatWasNotCaptured() public {
        _capture(terms, 3e6, 3e4, feeReceiver);
        vm.warp(AUTHORIZATION_EXPIRY + 1);
        vm.expectEmit(address(escrow));
        emit IPaymentEscrow.PaymentReclaimed(id, AMOUNT - 3e6);
        vm.prank(payer);
        escrow.reclaim(terms);

        assertEq(usdc.balanceOf(payer), INITIAL_BALANCE - 3e6);
        assertEq(usdc.balanceOf(payee), 3e6 - 3e4);
        assertEq(usdc.balanceOf(address(escrow)), 0);
        _assertState(id, 0, 3e6, 1, true);
    }

    function test_reclaim_WithoutTheOperatorLongAfterExpiry() public {
        // The operator disappears: the payer gets the funds back alone, even years after every expiry.
        vm.warp(REFUND_EXPIRY + 3 * 365 days);
        vm.prank(payer);
        escrow.reclaim(terms);
        assertEq(usdc.balanceOf(payer), INITIAL_BALANCE);
        _assertState(id, 0, 0, 1, true);
    }

    function test_reclaim_RevertWhen_OneSecondBeforeAuthorizationExpiry() public {
        vm.warp(AUTHORIZATION_EXPIRY - 1);
        _expectReclaimRevert(
            terms,
            payer,
            abi.encodeWithSelector(
                IPaymentEscrow.AuthorizationNotExpired.selector, AUTHORIZATION_EXPIRY, AUTHORIZATION_EXPIRY - 1
            )
        );
    }

    function test_reclaim_RevertWhen_CallerIsNotPayer() public {
        vm.warp(AUTHORIZATION_EXPIRY);
        address[4] memory callers = [operator, payee, feeReceiver, stranger];
        for (uint256 i; i < callers.length; ++i) {
            _expectReclaimRevert(
                terms, callers[i], abi.encodeWithSelector(IPaymentEscrow.Unauthorized.selector, callers[i])
            );
        }
    }

    function test_reclaim_RevertWhen_NeverAuthorized() public {
        IPaymentEscrow.PaymentTerms memory other = _terms();
        other.salt = keccak256("never authorized");
        vm.warp(AUTHORIZATION_EXPIRY);
        _expectReclaimRevert(other, payer, abi.encodeWithSelector(IPaymentEscrow.NothingToReturn.selector));
        _assertState(_paymentId(other), 0, 0, 0, false);
    }

    function test_reclaim_RevertWhen_FullyCaptured() public {
        _capture(terms, AMOUNT, 0, address(0));
        vm.warp(AUTHORIZATION_EXPIRY);
        _expectReclaimRevert(terms, payer, abi.encodeWithSelector(IPaymentEscrow.NothingToReturn.selector));
    }

    function test_reclaim_RevertWhen_AlreadyReclaimed() public {
        vm.warp(AUTHORIZATION_EXPIRY);
        vm.prank(payer);
        escrow.reclaim(terms);
        _expectReclaimRevert(terms, payer, abi.encodeWithSelector(IPaymentEscrow.NothingToReturn.selector));
    }

    function test_reclaim_RevertWhen_Voided() public {
        vm.prank(operator);
        escrow.void(terms);
        vm.warp(AUTHORIZATION_EXPIRY);
        _expectReclaimRevert(terms, payer, abi.encodeWithSelector(IPaymentEscrow.NothingToReturn.selector));
    }

    function test_reclaim_ThenNothingCanBeCapturedOrToppedUp() public {
        vm.warp(AUTHORIZATION_EXPIRY);
        vm.prank(payer);
        escrow.reclaim(terms);

        vm.expectRevert(
            abi.encodeWithSelector(
                IPaymentEscrow.AuthorizationExpired.selector, AUTHORIZATION_EXPIRY, AUTHORIZATION_EXPIRY
            )
        );
        vm.prank(operator);
        escrow.capture(terms, 1, 0, address(0));

        bytes memory data = _authorizationData(terms, AMOUNT, 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                IPaymentEscrow.PreApprovalExpired.selector, PRE_APPROVAL_EXPIRY, AUTHORIZATION_EXPIRY
            )
        );
        vm.prank(relayer);
        escrow.authorize(terms, AMOUNT, IPaymentEscrow.Method.Authorization, data);

        assertEq(usdc.balanceOf(payer), INITIAL_BALANCE);
        assertEq(usdc.balanceOf(address(escrow)), 0);
        _assertState(id, 0, 0, 1, true);
    }

    function testFuzz_reclaim_OnlyFromAuthorizationExpiry(uint256 when) public {
        when = bound(when, START, REFUND_EXPIRY + 365 days);
        vm.warp(when);
        if (when < AUTHORIZATION_EXPIRY) {
            _expectReclaimRevert(
                terms,
                payer,
                abi.encodeWithSelector(IPaymentEscrow.AuthorizationNotExpired.selector, AUTHORIZATION_EXPIRY, when)
            );
        } else {
            vm.prank(payer);
            escrow.reclaim(terms);
            assertEq(usdc.balanceOf(payer), INITIAL_BALANCE);
            _assertState(id, 0, 0, 1, true);
        }
    }
}
