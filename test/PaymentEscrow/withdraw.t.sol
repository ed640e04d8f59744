// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IPaymentEscrow} from "../../contracts/interfaces/IPaymentEscrow.sol";
import {PaymentEscrowBase} from "../base/PaymentEscrowBase.sol";
import {MockBlacklistToken} from "../mocks/MockBlacklistToken.sol";

/// @notice The pull-payment fallback: a transfer out of escrow that fails (here, to a blacklisted address) is
/// credited to its recipient, who withdraws it later, and never blocks the payment or any other.
contract WithdrawTest is PaymentEscrowBase {
    MockBlacklistToken internal token;
    IPaymentEscrow.PaymentTerms internal terms;
    bytes32 internal id;
    address internal payeeVault = makeAddr("payeeVault");
    address internal payerVault = makeAddr("payerVault");

    function setUp() public override {
        super.setUp();
        token = new MockBlacklistToken(owner);
        token.mint(payer, INITIAL_BALANCE);
        terms = _terms();
        terms.token = address(token);
        id = _authorizeToken(terms, AMOUNT);
    }

    function _authorizeToken(IPaymentEscrow.PaymentTerms memory t, uint256 amount) internal returns (bytes32) {
        vm.startPrank(t.payer);
        assertTrue(token.approve(address(escrow), amount));
        bytes32 paymentId = escrow.authorize(t, amount, IPaymentEscrow.Method.Allowance, "");
        vm.stopPrank();
        return paymentId;
    }

    function _blacklist(address account) internal {
        vm.prank(owner);
        token.setBlacklisted(account, true);
    }

    // ---------------------------------------------------------------------------------------------------
    // Deferred transfers
    // ---------------------------------------------------------------------------------------------------

    function test_capture_CreditsBlacklistedPayee() public {
        _blacklist(payee);

        vm.expectEmit(address(escrow));
        emit IPaymentEscrow.PaymentCaptured(id, 4e6, 4e4, feeReceiver, bytes32(0));
        vm.expectEmit(address(escrow));
        emit IPaymentEscrow.TransferDeferred(address(token), payee, 4e6 - 4e4);
        _capture(terms, 4e6, 4e4, feeReceiver);

        assertEq(escrow.owed(address(token), payee), 4e6 - 4e4);
        assertEq(token.balanceOf(payee), 0);
        assertEq(token.balanceOf(feeReceiver), 4e4);
        // The escrow keeps the credit next to what is still capturable.
        assertEq(token.balanceOf(address(escrow)), AMOUNT - 4e4);
        _assertState(id, AMOUNT - 4e6, 4e6, 1, false);
    }

    function test_capture_CreditsBlacklistedFeeReceiver() public {
        _blacklist(feeReceiver);

        vm.expectEmit(address(escrow));
        emit IPaymentEscrow.TransferDeferred(address(token), feeReceiver, 4e4);
        _capture(terms, 4e6, 4e4, feeReceiver);

        assertEq(token.balanceOf(payee), 4e6 - 4e4);
        assertEq(escrow.owed(address(token), feeReceiver), 4e4);
        assertEq(escrow.owed(address(token), payee), 0);
    }

    function test_void_CreditsBlacklistedPayer() public {
        _blacklist(payer);

        vm.expectEmit(address(escrow));
        emit IPaymentEscrow.TransferDeferred(address(token), payer, AMOUNT);
        vm.prank(operator);
        escrow.void(terms);

        assertEq(escrow.owed(address(token), payer), AMOUNT);
        assertEq(token.balanceOf(address(escrow)), AMOUNT);
        _assertState(id, 0, 0, 1, true);

        vm.expectEmit(address(escrow));
        emit IPaymentEscrow.Withdrawn(address(token), payer, payerVault, AMOUNT);
        vm.prank(payer);
        escrow.withdraw(address(token), payerVault);
        assertEq(token.balanceOf(payerVault), AMOUNT);
        assertEq(escrow.owed(address(token), payer), 0);
        assertEq(token.balanceOf(address(escrow)), 0);
    }

    function test_reclaim_CreditsBlacklistedPayer() public {
        _blacklist(payer);
        vm.warp(AUTHORIZATION_EXPIRY);

        vm.expectEmit(address(escrow));
        emit IPaymentEscrow.TransferDeferred(address(token), payer, AMOUNT);
        vm.prank(payer);
        escrow.reclaim(terms);

        assertEq(escrow.owed(address(token), payer), AMOUNT);
        _assertState(id, 0, 0, 1, true);
    }

    function test_capture_DeferredTransferLeavesOtherPaymentsUnaffected() public {
        IPaymentEscrow.PaymentTerms memory other = _terms();
        other.token = address(token);
        other.payee = makeAddr("otherPayee");
        other.salt = keccak256("payment-2");
        bytes32 otherId = _authorizeToken(other, 7e6);
        _blacklist(payee);

        _capture(terms, AMOUNT, 0, address(0));
        assertEq(escrow.owed(address(token), payee), AMOUNT);

        _capture(other, 3e6, 0, address(0));
        vm.prank(operator);
        escrow.void(other);

        assertEq(token.balanceOf(other.payee), 3e6);
        assertEq(token.balanceOf(payer), INITIAL_BALANCE - AMOUNT - 3e6);
        _assertState(otherId, 0, 3e6, 1, true);
        // What the escrow holds is exactly the credit.
        assertEq(token.balanceOf(address(escrow)), escrow.owed(address(token), payee));
    }

    // ---------------------------------------------------------------------------------------------------
    // Withdraw
    // ---------------------------------------------------------------------------------------------------

    function test_withdraw_SendsCreditToAnotherAddress() public {
        _blacklist(payee);
        _capture(terms, AMOUNT, 0, address(0));

        vm.expectEmit(address(escrow));
        emit IPaymentEscrow.Withdrawn(address(token), payee, payeeVault, AMOUNT);
        vm.prank(payee);
        escrow.withdraw(address(token), payeeVault);

        assertEq(token.balanceOf(payeeVault), AMOUNT);
        assertEq(escrow.owed(address(token), payee), 0);
        assertEq(token.balanceOf(address(escrow)), 0);
    }

    function test_withdraw_ToSelfOnceNoLongerBlacklisted() public {
        _blacklist(payee);
        _capture(terms, 4e6, 0, address(0));
        _capture(terms, 2e6, 0, address(0));
        assertEq(escrow.owed(address(token), payee), 6e6);
        vm.prank(owner);
        token.setBlacklisted(payee, false);

        vm.prank(payee);
        escrow.withdraw(address(token), payee);

        assertEq(token.balanceOf(payee), 6e6);
        assertEq(token.balanceOf(address(escrow)), AMOUNT - 6e6);
        _assertState(id, AMOUNT - 6e6, 6e6, 1, false);
    }

    function test_withdraw_RevertWhen_NoCredit() public {
        vm.expectRevert(abi.encodeWithSelector(IPaymentEscrow.NothingToReturn.selector));
        vm.prank(payee);
        escrow.withdraw(address(token), payee);
        assertEq(token.balanceOf(address(escrow)), AMOUNT);
    }

    function test_withdraw_RevertWhen_AlreadyWithdrawn() public {
        _blacklist(payee);
        _capture(terms, AMOUNT, 0, address(0));
        vm.prank(payee);
        escrow.withdraw(address(token), payeeVault);

        vm.expectRevert(abi.encodeWithSelector(IPaymentEscrow.NothingToReturn.selector));
        vm.prank(payee);
        escrow.withdraw(address(token), payeeVault);
        assertEq(token.balanceOf(payeeVault), AMOUNT);
    }

    function test_withdraw_RevertWhen_CallerIsNotTheCreditedRecipient() public {
        _blacklist(payee);
        _capture(terms, AMOUNT, 0, address(0));
        address[3] memory callers = [operator, payer, stranger];
        for (uint256 i; i < callers.length; ++i) {
            vm.expectRevert(abi.encodeWithSelector(IPaymentEscrow.NothingToReturn.selector));
            vm.prank(callers[i]);
            escrow.withdraw(address(token), callers[i]);
        }
        assertEq(escrow.owed(address(token), payee), AMOUNT);
        assertEq(token.balanceOf(address(escrow)), AMOUNT);
    }

    function test_withdraw_RevertWhen_OtherToken() public {
        _blacklist(payee);
        _capture(terms, AMOUNT, 0, address(0));
        vm.expectRevert(abi.encodeWithSelector(IPaymentEscrow.NothingToReturn.selector));
        vm.prank(payee);
        escrow.withdraw(address(usdc), payeeVault);
        assertEq(escrow.owed(address(token), payee), AMOUNT);
    }

    function test_withdraw_RevertWhen_DestinationBlacklisted() public {
        _blacklist(payee);
        _capture(terms, AMOUNT, 0, address(0));
        _blacklist(payeeVault);

        vm.expectRevert(abi.encodeWithSelector(MockBlacklistToken.Blacklisted.selector, payeeVault));
        vm.prank(payee);
        escrow.withdraw(address(token), payeeVault);

        // The credit survives the failed withdrawal.
        assertEq(escrow.owed(address(token), payee), AMOUNT);
        assertEq(token.balanceOf(address(escrow)), AMOUNT);
    }

    function testFuzz_withdraw_CreditMatchesDeferredCaptures(uint256 first, uint256 second) public {
        first = bound(first, 1, AMOUNT - 1);
        second = bound(second, 1, AMOUNT - first);
        _blacklist(payee);
        _capture(terms, first, 0, address(0));
        _capture(terms, second, 0, address(0));
        assertEq(escrow.owed(address(token), payee), first + second);

        vm.prank(payee);
        escrow.withdraw(address(token), payeeVault);
        assertEq(token.balanceOf(payeeVault), first + second);
        assertEq(token.balanceOf(address(escrow)), AMOUNT - first - second);
        _assertState(id, AMOUNT - first - second, first + second, 1, false);
    }
}
