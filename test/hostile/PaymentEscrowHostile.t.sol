// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {PaymentEscrow} from "../../contracts/escrow/PaymentEscrow.sol";
import {IInvoiceRegistry} from "../../contracts/interfaces/IInvoiceRegistry.sol";
import {IPaymentEscrow} from "../../contracts/interfaces/IPaymentEscrow.sol";
import {MockBlacklistToken} from "../mocks/MockBlacklistToken.sol";
import {MockFalseReturnToken} from "../mocks/MockFalseReturnToken.sol";
import {MockFeeOnTransferToken} from "../mocks/MockFeeOnTransferToken.sol";
import {MockGasHungryToken} from "../mocks/MockGasHungryToken.sol";
import {MockReentrantToken} from "../mocks/MockReentrantToken.sol";
import {MockRevertingToken} from "../mocks/MockRevertingToken.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {Test} from "forge-std/Test.sol";

interface IMintable {
    function mint(address to, uint256 amount) external;
}

/// @notice The escrow against tokens that misbehave: funds only enter when exactly the amount arrives, and a
/// payout that fails is credited to its recipient (withdrawn later) instead of blocking anyone else's funds.
/// Tokens without EIP-3009 are brought in with `Method.Allowance` (the payer approves and calls itself).
contract PaymentEscrowHostileTest is Test {
    PaymentEscrow internal escrow;

    address internal payer = makeAddr("payer");
    address internal operator = makeAddr("operator");
    address internal payee = makeAddr("payee");
    address internal otherPayer = makeAddr("otherPayer");
    address internal otherPayee = makeAddr("otherPayee");
    address internal feeReceiver = makeAddr("feeReceiver");
    address internal sink = makeAddr("sink");

    uint256 internal constant AMOUNT = 100e6;
    uint16 internal constant MAX_FEE_BPS = 500;

    function setUp() public {
        vm.warp(1_750_000_000);
        escrow = new PaymentEscrow(IInvoiceRegistry(address(0)));
    }

    // ---------------------------------------------------------------------------------------------------
    // Helpers
    // ---------------------------------------------------------------------------------------------------

    function _terms(address token, address operator_, address payer_, address payee_, bytes32 salt)
        internal
        view
        returns (IPaymentEscrow.PaymentTerms memory)
    {
        return IPaymentEscrow.PaymentTerms({
            operator: operator_,
            payer: payer_,
            payee: payee_,
            token: token,
            maxAmount: 1000e6,
            preApprovalExpiry: uint48(block.timestamp + 1 days),
            authorizationExpiry: uint48(block.timestamp + 2 days),
            refundExpiry: uint48(block.timestamp + 3 days),
            maxFeeBps: MAX_FEE_BPS,
            feeReceiver: address(0),
            salt: salt,
            invoiceId: bytes32(0)
        });
    }

    function _terms(address token) internal view returns (IPaymentEscrow.PaymentTerms memory) {
        return _terms(token, operator, payer, payee, bytes32(0));
    }

    /// @dev Funds the payer and authorizes `amount` by allowance, as the payer.
    function _authorize(IPaymentEscrow.PaymentTerms memory terms, uint256 amount) internal returns (bytes32 id) {
        IMintable(terms.token).mint(terms.payer, amount);
        vm.startPrank(terms.payer);
        IERC20(terms.token).approve(address(escrow), amount);
        id = escrow.authorize(terms, amount, IPaymentEscrow.Method.Allowance, "");
        vm.stopPrank();
    }

    function _assertUntouched(bytes32 id) internal view {
        IPaymentEscrow.PaymentState memory state = escrow.paymentState(id);
        assertEq(state.capturable, 0, "capturable");
        assertEq(state.refundable, 0, "refundable");
        assertEq(state.authorizations, 0, "authorizations");
        assertFalse(state.closed, "closed");
    }

    function _assertState(bytes32 id, uint256 capturable, uint256 refundable, bool closed) internal view {
        IPaymentEscrow.PaymentState memory state = escrow.paymentState(id);
        assertEq(state.capturable, capturable, "capturable");
        assertEq(state.refundable, refundable, "refundable");
        assertEq(state.closed, closed, "closed");
    }

    // ---------------------------------------------------------------------------------------------------
    // Fee on transfer: refused on the way in
    // ---------------------------------------------------------------------------------------------------

    function test_feeOnTransfer_AuthorizeRevertsWithAmountMismatch() public {
        MockFeeOnTransferToken token = new MockFeeOnTransferToken();
        IPaymentEscrow.PaymentTerms memory terms = _terms(address(token));
        bytes32 id = escrow.paymentId(terms);
        token.mint(payer, AMOUNT);

        vm.startPrank(payer);
        token.approve(address(escrow), AMOUNT);
        vm.expectRevert(abi.encodeWithSelector(IPaymentEscrow.AmountMismatch.selector, AMOUNT, AMOUNT * 99 / 100));
        escrow.authorize(terms, AMOUNT, IPaymentEscrow.Method.Allowance, "");

        // A permit attempt (the token has none) falls back to the allowance and is refused just the same.
        vm.expectRevert(abi.encodeWithSelector(IPaymentEscrow.AmountMismatch.selector, AMOUNT, AMOUNT * 99 / 100));
        escrow.authorize(terms, AMOUNT, IPaymentEscrow.Method.Permit, abi.encode(block.timestamp, new bytes(65)));
        vm.stopPrank();

        _assertUntouched(id);
        assertEq(token.balanceOf(payer), AMOUNT);
        assertEq(token.balanceOf(address(escrow)), 0);
    }

    // ---------------------------------------------------------------------------------------------------
    // False-returning token
    // ---------------------------------------------------------------------------------------------------

    function test_falseReturn_AuthorizeRevertsAndRecordsNothing() public {
        MockFalseReturnToken token = new MockFalseReturnToken();
        IPaymentEscrow.PaymentTerms memory terms = _terms(address(token));
        bytes32 id = escrow.paymentId(terms);
        token.mint(payer, AMOUNT);
        token.setFailing(true);

        vm.startPrank(payer);
        token.approve(address(escrow), AMOUNT);
        vm.expectRevert(abi.encodeWithSelector(SafeERC20.SafeERC20FailedOperation.selector, address(token)));
        escrow.authorize(terms, AMOUNT, IPaymentEscrow.Method.Allowance, "");
        vm.stopPrank();

        _assertUntouched(id);
        assertEq(token.balanceOf(payer), AMOUNT);
        assertEq(token.balanceOf(address(escrow)), 0);
    }

    function test_falseReturn_CaptureIsCreditedThenWithdrawn() public {
        MockFalseReturnToken token = new MockFalseReturnToken();
        IPaymentEscrow.PaymentTerms memory terms = _terms(address(token));
        bytes32 id = _authorize(terms, AMOUNT);
        token.setFailing(true);

        uint256 captured = 60e6;
        uint256 fee = 1e6;
        vm.expectEmit(address(escrow));
        emit IPaymentEscrow.TransferDeferred(address(token), payee, captured - fee);
        vm.expectEmit(address(escrow));
        emit IPaymentEscrow.TransferDeferred(address(token), feeReceiver, fee);
        vm.prank(operator);
        escrow.capture(terms, captured, fee, feeReceiver);

        _assertState(id, AMOUNT - captured, captured, false);
        assertEq(escrow.owed(address(token), payee), captured - fee);
        assertEq(escrow.owed(address(token), feeReceiver), fee);
        assertEq(token.balanceOf(address(escrow)), AMOUNT, "nothing left the escrow");

        // While the token still fails, a withdrawal reverts and the credit stays.
        vm.expectRevert(abi.encodeWithSelector(SafeERC20.SafeERC20FailedOperation.selector, address(token)));
        vm.prank(payee);
        escrow.withdraw(address(token), payee);
        assertEq(escrow.owed(address(token), payee), captured - fee);

        token.setFailing(false);
        vm.expectEmit(address(escrow));
        emit IPaymentEscrow.Withdrawn(address(token), payee, payee, captured - fee);
        vm.prank(payee);
        escrow.withdraw(address(token), payee);
        vm.prank(feeReceiver);
        escrow.withdraw(address(token), sink);

        assertEq(token.balanceOf(payee), captured - fee);
        assertEq(token.balanceOf(sink), fee);
        assertEq(escrow.owed(address(token), payee), 0);
        assertEq(escrow.owed(address(token), feeReceiver), 0);
        assertEq(token.balanceOf(address(escrow)), AMOUNT - captured, "escrow holds exactly the capturable");

        // A credit is withdrawn once.
        vm.expectRevert(IPaymentEscrow.NothingToReturn.selector);
        vm.prank(payee);
        escrow.withdraw(address(token), payee);
    }

    function test_falseReturn_VoidIsCreditedToPayer() public {
        MockFalseReturnToken token = new MockFalseReturnToken();
        IPaymentEscrow.PaymentTerms memory terms = _terms(address(token));
        bytes32 id = _authorize(terms, AMOUNT);
        token.setFailing(true);

        vm.expectEmit(address(escrow));
        emit IPaymentEscrow.PaymentVoided(id, AMOUNT);
        vm.expectEmit(address(escrow));
        emit IPaymentEscrow.TransferDeferred(address(token), payer, AMOUNT);
        vm.prank(operator);
        escrow.void(terms);

        _assertState(id, 0, 0, true);
        assertEq(escrow.owed(address(token), payer), AMOUNT);

        // Closed: no capture, no top-up.
        vm.expectRevert(abi.encodeWithSelector(IPaymentEscrow.InsufficientCapturable.selector, 1, 0));
        vm.prank(operator);
        escrow.capture(terms, 1, 0, address(0));
        token.setFailing(false);
        token.mint(payer, 1);
        vm.startPrank(payer);
        token.approve(address(escrow), 1);
        vm.expectRevert(abi.encodeWithSelector(IPaymentEscrow.PaymentClosed.selector, id));
        escrow.authorize(terms, 1, IPaymentEscrow.Method.Allowance, "");

        escrow.withdraw(address(token), payer);
        vm.stopPrank();
        assertEq(token.balanceOf(payer), AMOUNT + 1);
        assertEq(token.balanceOf(address(escrow)), 0);
    }

    // ---------------------------------------------------------------------------------------------------
    // Reverting (paused) token
    // ---------------------------------------------------------------------------------------------------

    function test_reverting_AuthorizeRevertsAndRecordsNothing() public {
        MockRevertingToken token = new MockRevertingToken();
        IPaymentEscrow.PaymentTerms memory terms = _terms(address(token));
        bytes32 id = escrow.paymentId(terms);
        token.mint(payer, AMOUNT);
        token.setReverting(true);

        vm.startPrank(payer);
        token.approve(address(escrow), AMOUNT);
        vm.expectRevert(MockRevertingToken.TransfersPaused.selector);
        escrow.authorize(terms, AMOUNT, IPaymentEscrow.Method.Allowance, "");
        vm.stopPrank();

        _assertUntouched(id);
        assertEq(token.balanceOf(payer), AMOUNT);
    }

    function test_reverting_CaptureAndReclaimAreCreditedRefundReverts() public {
        MockRevertingToken token = new MockRevertingToken();
        IPaymentEscrow.PaymentTerms memory terms = _terms(address(token));
        bytes32 id = _authorize(terms, AMOUNT);
        token.setReverting(true);

        vm.expectEmit(address(escrow));
        emit IPaymentEscrow.TransferDeferred(address(token), payee, 30e6);
        vm.prank(operator);
        escrow.capture(terms, 30e6, 0, address(0));
        _assertState(id, 70e6, 30e6, false);

        // A refund comes from the refunder's own funds: with the token paused it reverts, and nothing changes.
        token.mint(operator, 10e6);
        vm.startPrank(operator);
        token.approve(address(escrow), 10e6);
        vm.expectRevert(MockRevertingToken.TransfersPaused.selector);
        escrow.refund(terms, 10e6);
        vm.stopPrank();
        _assertState(id, 70e6, 30e6, false);

        vm.warp(terms.authorizationExpiry);
        vm.expectEmit(address(escrow));
        emit IPaymentEscrow.TransferDeferred(address(token), payer, 70e6);
        vm.prank(payer);
        escrow.reclaim(terms);
        _assertState(id, 0, 30e6, true);
        assertEq(escrow.owed(address(token), payer), 70e6);
        assertEq(escrow.owed(address(token), payee), 30e6);
        assertEq(token.balanceOf(address(escrow)), AMOUNT);

        token.setReverting(false);
        vm.prank(payer);
        escrow.withdraw(address(token), payer);
        vm.prank(payee);
        escrow.withdraw(address(token), payee);
        assertEq(token.balanceOf(payer), 70e6);
        assertEq(token.balanceOf(payee), 30e6);
        assertEq(token.balanceOf(address(escrow)), 0);
    }

    // ---------------------------------------------------------------------------------------------------
    // Gas griefing (EIP-150 keeps 1/64 of the gas in the caller)
    // ---------------------------------------------------------------------------------------------------

    /// @dev A caller passing just too little gas makes the payout run out of gas while the escrow keeps 1/64,
    /// enough to credit the payee instead: the payment would be turned into a credit the payee must withdraw.
    /// Over every gas limit around that edge the capture either reverts or pays the payee directly.
    function test_gasGriefing_CaptureNeverTurnsAPayoutIntoACredit() public {
        MockGasHungryToken token = new MockGasHungryToken();
        IPaymentEscrow.PaymentTerms memory terms = _terms(address(token));
        bytes32 id = _authorize(terms, AMOUNT);
        token.setAppetite(3_000_000);
        bytes memory call = abi.encodeCall(escrow.capture, (terms, 30e6, 0, address(0)));

        uint256 paid;
        uint256 reverted;
        for (uint256 gas = 2_950_000; gas < 3_250_000; gas += 3000) {
            uint256 snapshot = vm.snapshotState();
            vm.prank(operator);
            (bool ok,) = address(escrow).call{gas: gas}(call);
            if (ok) {
                paid++;
                assertEq(escrow.owed(address(token), payee), 0, "no credit");
                assertEq(token.balanceOf(payee), 30e6, "paid directly");
                _assertState(id, 70e6, 30e6, false);
            } else {
                reverted++;
                _assertState(id, AMOUNT, 0, false);
            }
            vm.revertToState(snapshot);
        }
        assertGt(paid, 0, "some limits suffice");
        assertGt(reverted, 0, "some limits are too low");
    }

    // ---------------------------------------------------------------------------------------------------
    // Blacklisting token
    // ---------------------------------------------------------------------------------------------------

    function test_blacklist_PayeeCreditedOtherPaymentsUnaffected() public {
        MockBlacklistToken token = new MockBlacklistToken(address(this));
        IPaymentEscrow.PaymentTerms memory termsA = _terms(address(token), operator, payer, payee, "A");
        IPaymentEscrow.PaymentTerms memory termsB = _terms(address(token), operator, otherPayer, otherPayee, "B");
        bytes32 idA = _authorize(termsA, AMOUNT);
        bytes32 idB = _authorize(termsB, AMOUNT);
        token.setBlacklisted(payee, true);

        vm.expectEmit(address(escrow));
        emit IPaymentEscrow.TransferDeferred(address(token), payee, AMOUNT);
        vm.prank(operator);
        escrow.capture(termsA, AMOUNT, 0, address(0));

        vm.prank(operator);
        escrow.capture(termsB, 40e6, 0, address(0));

        _assertState(idA, 0, AMOUNT, false);
        _assertState(idB, 60e6, 40e6, false);
        assertEq(token.balanceOf(otherPayee), 40e6, "the other payee is paid directly");
        assertEq(escrow.owed(address(token), otherPayee), 0);
        assertEq(escrow.owed(address(token), payee), AMOUNT);

        // The other payer can still void its remainder.
        vm.prank(operator);
        escrow.void(termsB);
        assertEq(token.balanceOf(otherPayer), 60e6);

        // The blacklisted payee cannot withdraw to itself, but its credit stays.
        vm.expectRevert(abi.encodeWithSelector(MockBlacklistToken.Blacklisted.selector, payee));
        vm.prank(payee);
        escrow.withdraw(address(token), payee);
        assertEq(escrow.owed(address(token), payee), AMOUNT);

        // Once delisted it withdraws.
        token.setBlacklisted(payee, false);
        vm.prank(payee);
        escrow.withdraw(address(token), payee);
        assertEq(token.balanceOf(payee), AMOUNT);
        assertEq(token.balanceOf(address(escrow)), 0);
    }

    /// @dev Questionable by design: a blacklisted recipient may withdraw its credit to any address it names.
    /// The token only checks the escrow and `to`, so the credit leaves the escrow although the recipient is
    /// still blacklisted. Recorded here so that a change of that behaviour is a deliberate one.
    function test_blacklist_BlacklistedRecipientCanWithdrawToAnotherAddress() public {
        MockBlacklistToken token = new MockBlacklistToken(address(this));
        IPaymentEscrow.PaymentTerms memory terms = _terms(address(token));
        _authorize(terms, AMOUNT);
        token.setBlacklisted(payee, true);
        vm.prank(operator);
        escrow.capture(terms, AMOUNT, 0, address(0));

        vm.prank(payee);
        escrow.withdraw(address(token), sink);
        assertEq(token.balanceOf(sink), AMOUNT);
        assertEq(escrow.owed(address(token), payee), 0);
    }

    function test_blacklist_PayerCreditedOnVoidAndBlockedOnAuthorize() public {
        MockBlacklistToken token = new MockBlacklistToken(address(this));
        IPaymentEscrow.PaymentTerms memory terms = _terms(address(token));
        bytes32 id = _authorize(terms, AMOUNT);
        token.mint(payer, 1e6);
        vm.prank(payer);
        token.approve(address(escrow), 1e6);
        token.setBlacklisted(payer, true);

        // A blacklisted payer cannot top up: nothing is recorded.
        vm.expectRevert(abi.encodeWithSelector(MockBlacklistToken.Blacklisted.selector, payer));
        vm.prank(payer);
        escrow.authorize(terms, 1e6, IPaymentEscrow.Method.Allowance, "");
        IPaymentEscrow.PaymentState memory state = escrow.paymentState(id);
        assertEq(state.capturable, AMOUNT);
        assertEq(state.authorizations, 1);

        vm.expectEmit(address(escrow));
        emit IPaymentEscrow.TransferDeferred(address(token), payer, AMOUNT);
        vm.prank(operator);
        escrow.void(terms);
        _assertState(id, 0, 0, true);
        assertEq(escrow.owed(address(token), payer), AMOUNT);

        vm.prank(payer);
        escrow.withdraw(address(token), sink);
        assertEq(token.balanceOf(sink), AMOUNT);
        assertEq(token.balanceOf(address(escrow)), 0);
    }

    function test_blacklist_FeeReceiverCreditedPayeePaid() public {
        MockBlacklistToken token = new MockBlacklistToken(address(this));
        IPaymentEscrow.PaymentTerms memory terms = _terms(address(token));
        bytes32 id = _authorize(terms, AMOUNT);
        token.setBlacklisted(feeReceiver, true);

        uint256 fee = AMOUNT * MAX_FEE_BPS / 10_000;
        vm.expectEmit(address(escrow));
        emit IPaymentEscrow.TransferDeferred(address(token), feeReceiver, fee);
        vm.prank(operator);
        escrow.capture(terms, AMOUNT, fee, feeReceiver);

        _assertState(id, 0, AMOUNT, false);
        assertEq(token.balanceOf(payee), AMOUNT - fee);
        assertEq(escrow.owed(address(token), feeReceiver), fee);
        assertEq(escrow.owed(address(token), payee), 0);
        assertEq(token.balanceOf(address(escrow)), fee);
    }

    function test_blacklist_RefundToBlacklistedPayerReverts() public {
        MockBlacklistToken token = new MockBlacklistToken(address(this));
        IPaymentEscrow.PaymentTerms memory terms = _terms(address(token));
        bytes32 id = _authorize(terms, AMOUNT);
        vm.prank(operator);
        escrow.capture(terms, AMOUNT, 0, address(0));
        token.setBlacklisted(payer, true);

        vm.startPrank(payee);
        token.approve(address(escrow), AMOUNT);
        vm.expectRevert(abi.encodeWithSelector(MockBlacklistToken.Blacklisted.selector, payer));
        escrow.refund(terms, AMOUNT);
        vm.stopPrank();
        _assertState(id, 0, AMOUNT, false);
        assertEq(token.balanceOf(payee), AMOUNT);
    }

    // ---------------------------------------------------------------------------------------------------
    // Re-entrant token
    // ---------------------------------------------------------------------------------------------------

    function _assertReentryBlocked(MockReentrantToken token) internal view {
        assertTrue(token.reentered(), "hook fired");
        assertFalse(token.reentrySucceeded(), "re-entrant call failed");
        assertEq(
            token.reentryErrorSelector(),
            ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector,
            "stopped by the reentrancy guard"
        );
    }

    function test_reentrant_AuthorizeCannotAuthorizeTwice() public {
        MockReentrantToken token = new MockReentrantToken();
        IPaymentEscrow.PaymentTerms memory terms = _terms(address(token));
        bytes32 id = escrow.paymentId(terms);
        token.mint(payer, 2 * AMOUNT);
        vm.prank(payer);
        token.approve(address(escrow), 2 * AMOUNT);

        token.arm(
            address(escrow), abi.encodeCall(escrow.authorize, (terms, AMOUNT, IPaymentEscrow.Method.Allowance, ""))
        );
        vm.prank(payer);
        escrow.authorize(terms, AMOUNT, IPaymentEscrow.Method.Allowance, "");

        _assertReentryBlocked(token);
        IPaymentEscrow.PaymentState memory state = escrow.paymentState(id);
        assertEq(state.capturable, AMOUNT);
        assertEq(state.authorizations, 1);
        assertEq(token.balanceOf(address(escrow)), AMOUNT);
        assertEq(token.balanceOf(payer), AMOUNT);
    }

    function test_reentrant_AuthorizeOfAnotherPaymentIsBlocked() public {
        MockReentrantToken token = new MockReentrantToken();
        IPaymentEscrow.PaymentTerms memory terms = _terms(address(token));
        // A second payment whose payer is the token itself, so that only the guard can stop the inner call.
        IPaymentEscrow.PaymentTerms memory inner = _terms(address(token), operator, address(token), payee, "inner");
        token.mint(address(token), AMOUNT);
        token.approveFromSelf(address(escrow), AMOUNT);
        token.mint(payer, AMOUNT);
        vm.prank(payer);
        token.approve(address(escrow), AMOUNT);

        token.arm(
            address(escrow), abi.encodeCall(escrow.authorize, (inner, AMOUNT, IPaymentEscrow.Method.Allowance, ""))
        );
        vm.prank(payer);
        bytes32 id = escrow.authorize(terms, AMOUNT, IPaymentEscrow.Method.Allowance, "");

        _assertReentryBlocked(token);
        _assertState(id, AMOUNT, 0, false);
        _assertUntouched(escrow.paymentId(inner));
        assertEq(token.balanceOf(address(escrow)), AMOUNT);

        // Outside a re-entrant call the same inner authorization is valid.
        vm.prank(address(token));
        escrow.authorize(inner, AMOUNT, IPaymentEscrow.Method.Allowance, "");
        _assertState(escrow.paymentId(inner), AMOUNT, 0, false);
        assertEq(token.balanceOf(address(escrow)), 2 * AMOUNT);
    }

    function test_reentrant_CaptureCannotReenter() public {
        MockReentrantToken token = new MockReentrantToken();
        // The token is the operator: without the guard its re-entrant capture would be authorized.
        IPaymentEscrow.PaymentTerms memory terms = _terms(address(token), address(token), payer, payee, bytes32(0));
        bytes32 id = _authorize(terms, AMOUNT);

        token.arm(address(escrow), abi.encodeCall(escrow.capture, (terms, 40e6, 0, address(0))));
        vm.prank(address(token));
        escrow.capture(terms, 50e6, 0, address(0));

        _assertReentryBlocked(token);
        _assertState(id, 50e6, 50e6, false);
        assertEq(token.balanceOf(payee), 50e6);
        assertEq(token.balanceOf(address(escrow)), 50e6);
        assertEq(escrow.owed(address(token), payee), 0, "the payout itself went through");

        // The same capture outside a re-entrant call is valid.
        vm.prank(address(token));
        escrow.capture(terms, 40e6, 0, address(0));
        _assertState(id, 10e6, 90e6, false);
    }

    function test_reentrant_VoidDuringCaptureIsBlocked() public {
        MockReentrantToken token = new MockReentrantToken();
        IPaymentEscrow.PaymentTerms memory terms = _terms(address(token), address(token), payer, payee, bytes32(0));
        bytes32 id = _authorize(terms, AMOUNT);

        token.arm(address(escrow), abi.encodeCall(escrow.void, (terms)));
        vm.prank(address(token));
        escrow.capture(terms, 50e6, 0, address(0));

        _assertReentryBlocked(token);
        _assertState(id, 50e6, 50e6, false);
        assertEq(token.balanceOf(payer), 0);
        assertEq(token.balanceOf(address(escrow)), 50e6);
    }

    function test_reentrant_RefundCannotReenter() public {
        MockReentrantToken token = new MockReentrantToken();
        IPaymentEscrow.PaymentTerms memory terms = _terms(address(token), address(token), payer, payee, bytes32(0));
        bytes32 id = _authorize(terms, AMOUNT);
        vm.prank(address(token));
        escrow.capture(terms, AMOUNT, 0, address(0));

        // The token (operator) has funds and has approved the escrow, so its refund would otherwise be valid.
        token.mint(address(token), AMOUNT);
        token.approveFromSelf(address(escrow), AMOUNT);
        vm.prank(payee);
        token.approve(address(escrow), 30e6);

        token.arm(address(escrow), abi.encodeCall(escrow.refund, (terms, 70e6)));
        vm.prank(payee);
        escrow.refund(terms, 30e6);

        _assertReentryBlocked(token);
        _assertState(id, 0, 70e6, false);
        assertEq(token.balanceOf(payer), 30e6);
        assertEq(token.balanceOf(payee), 70e6);
        assertEq(token.balanceOf(address(token)), AMOUNT);
    }

    function test_reentrant_ReclaimCannotReenter() public {
        MockReentrantToken token = new MockReentrantToken();
        IPaymentEscrow.PaymentTerms memory terms = _terms(address(token), operator, payer, payee, bytes32(0));
        bytes32 id = _authorize(terms, AMOUNT);
        vm.warp(terms.authorizationExpiry);

        token.arm(address(escrow), abi.encodeCall(escrow.reclaim, (terms)));
        vm.prank(payer);
        escrow.reclaim(terms);

        _assertReentryBlocked(token);
        _assertState(id, 0, 0, true);
        assertEq(token.balanceOf(payer), AMOUNT);
        assertEq(token.balanceOf(address(escrow)), 0);
    }
}
