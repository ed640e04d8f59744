// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IPaymentEscrow} from "../../contracts/interfaces/IPaymentEscrow.sol";
import {PaymentEscrowBase} from "../base/PaymentEscrowBase.sol";

contract CaptureTest is PaymentEscrowBase {
    IPaymentEscrow.PaymentTerms internal terms;
    bytes32 internal id;

    function setUp() public override {
        super.setUp();
        terms = _terms();
        id = _authorize(terms, AMOUNT);
    }

    /// @dev Expects `capture` to revert with `err` and checks that nothing moved and the state did not change.
    function _expectCaptureRevert(
        IPaymentEscrow.PaymentTerms memory t,
        uint256 amount,
        uint256 fee,
        address receiver,
        address caller,
        bytes memory err
    ) internal {
        Balances memory before = _balances();
        IPaymentEscrow.PaymentState memory state = escrow.paymentState(id);
        vm.expectRevert(err);
        vm.prank(caller);
        escrow.capture(t, amount, fee, receiver);
        _assertBalances(before);
        _assertState(id, state.capturable, state.refundable, state.authorizations, state.closed);
    }

    // ---------------------------------------------------------------------------------------------------
    // Captures
    // ---------------------------------------------------------------------------------------------------

    function test_capture_PaysPayeeAndFeeReceiver() public {
        vm.expectEmit(address(escrow));
        emit IPaymentEscrow.PaymentCaptured(id, 4e6, 4e4, feeReceiver, bytes32(0));
        _capture(terms, 4e6, 4e4, feeReceiver);

        assertEq(usdc.balanceOf(payee), 4e6 - 4e4);
        assertEq(usdc.balanceOf(feeReceiver), 4e4);
        assertEq(usdc.balanceOf(address(escrow)), AMOUNT - 4e6);
        assertEq(usdc.balanceOf(operator), 0);
        _assertState(id, AMOUNT - 4e6, 4e6, 1, false);
    }

    function test_capture_PartiallySeveralTimes() public {
        _capture(terms, 2e6, 0, address(0));
        _capture(terms, 3e6, 3e4, feeReceiver);
        _assertState(id, 5e6, 5e6, 1, false);
        _capture(terms, 5e6, 5e4, operator);

        assertEq(usdc.balanceOf(payee), 2e6 + 3e6 - 3e4 + 5e6 - 5e4);
        assertEq(usdc.balanceOf(feeReceiver), 3e4);
        assertEq(usdc.balanceOf(operator), 5e4);
        assertEq(usdc.balanceOf(address(escrow)), 0);
        assertEq(usdc.balanceOf(payer), INITIAL_BALANCE - AMOUNT);
        _assertState(id, 0, AMOUNT, 1, false);
    }

    function test_capture_AfterTopUp() public {
        _capture(terms, AMOUNT, 0, address(0));
        _authorize(terms, 5e6);
        _capture(terms, 5e6, 0, address(0));
        assertEq(usdc.balanceOf(payee), AMOUNT + 5e6);
        _assertState(id, 0, AMOUNT + 5e6, 2, false);
    }

    function test_capture_WithoutFeeAcceptsAnyReceiver() public {
        vm.expectEmit(address(escrow));
        emit IPaymentEscrow.PaymentCaptured(id, 1e6, 0, address(0), bytes32(0));
        _capture(terms, 1e6, 0, address(0));
        _capture(terms, 1e6, 0, stranger);
        assertEq(usdc.balanceOf(payee), 2e6);
        assertEq(usdc.balanceOf(stranger), 0);
    }

    function test_capture_WithFixedFeeReceiver() public {
        IPaymentEscrow.PaymentTerms memory fixedTerms = _termsWithFeeReceiver();
        bytes32 fixedId = _authorize(fixedTerms, AMOUNT);
        _capture(fixedTerms, 4e6, 4e4, feeReceiver);
        _capture(fixedTerms, 1e6, 0, feeReceiver);
        assertEq(usdc.balanceOf(feeReceiver), 4e4);
        assertEq(usdc.balanceOf(payee), 5e6 - 4e4);
        _assertState(fixedId, AMOUNT - 5e6, 5e6, 1, false);
    }

    function test_capture_FeeAtExactBound() public {
        // fee * 10_000 == amount * maxFeeBps: 3 * 10_000 == 300 * 100.
        _capture(terms, 300, 3, feeReceiver);
        assertEq(usdc.balanceOf(feeReceiver), 3);
        assertEq(usdc.balanceOf(payee), 297);
        // Rounding down: 1% of 399 is 3.99, so 3 passes.
        _capture(terms, 399, 3, feeReceiver);
        assertEq(usdc.balanceOf(feeReceiver), 6);
    }

    function test_capture_WholeAmountAsFeeWhenMaxFeeBpsIs10000() public {
        IPaymentEscrow.PaymentTerms memory fullFee = _terms();
        fullFee.maxFeeBps = 10_000;
        bytes32 fullFeeId = _authorize(fullFee, AMOUNT);
        _capture(fullFee, AMOUNT, AMOUNT, feeReceiver);
        assertEq(usdc.balanceOf(feeReceiver), AMOUNT);
        assertEq(usdc.balanceOf(payee), 0);
        _assertState(fullFeeId, 0, AMOUNT, 1, false);
    }

    function test_capture_OneSecondBeforeAuthorizationExpiry() public {
        vm.warp(AUTHORIZATION_EXPIRY - 1);
        _capture(terms, AMOUNT, 0, address(0));
        assertEq(usdc.balanceOf(payee), AMOUNT);
    }

    function test_capture_AfterPreApprovalExpiry() public {
        vm.warp(PRE_APPROVAL_EXPIRY);
        _capture(terms, AMOUNT, 0, address(0));
        assertEq(usdc.balanceOf(payee), AMOUNT);
    }

    // ---------------------------------------------------------------------------------------------------
    // Reverts
    // ---------------------------------------------------------------------------------------------------

    function test_capture_RevertWhen_CallerIsNotOperator() public {
        address[4] memory callers = [payer, payee, feeReceiver, stranger];
        for (uint256 i; i < callers.length; ++i) {
            _expectCaptureRevert(
                terms,
                1e6,
                0,
                address(0),
                callers[i],
                abi.encodeWithSelector(IPaymentEscrow.Unauthorized.selector, callers[i])
            );
        }
    }

    function test_capture_RevertWhen_AtAuthorizationExpiry() public {
        vm.warp(AUTHORIZATION_EXPIRY);
        _expectCaptureRevert(
            terms,
            1e6,
            0,
            address(0),
            operator,
            abi.encodeWithSelector(
                IPaymentEscrow.AuthorizationExpired.selector, AUTHORIZATION_EXPIRY, AUTHORIZATION_EXPIRY
            )
        );
        vm.warp(REFUND_EXPIRY + 1 days);
        _expectCaptureRevert(
            terms,
            1e6,
            0,
            address(0),
            operator,
            abi.encodeWithSelector(
                IPaymentEscrow.AuthorizationExpired.selector, AUTHORIZATION_EXPIRY, REFUND_EXPIRY + 1 days
            )
        );
    }

    function test_capture_RevertWhen_AmountIsZero() public {
        _expectCaptureRevert(
            terms, 0, 0, address(0), operator, abi.encodeWithSelector(IPaymentEscrow.ZeroAmount.selector)
        );
    }

    function test_capture_RevertWhen_FeeExceedsAmount() public {
        IPaymentEscrow.PaymentTerms memory fullFee = _terms();
        fullFee.maxFeeBps = 10_000;
        _authorize(fullFee, AMOUNT);
        _expectCaptureRevert(
            fullFee,
            1e6,
            1e6 + 1,
            feeReceiver,
            operator,
            abi.encodeWithSelector(IPaymentEscrow.FeeTooHigh.selector, 1e6 + 1, 1e6, uint16(10_000))
        );
    }

    function test_capture_RevertWhen_FeeAboveMaxFeeBps() public {
        // 1% of 30_000 is 300: a fee of 301 is one unit above the bound.
        _expectCaptureRevert(
            terms,
            30_000,
            301,
            feeReceiver,
            operator,
            abi.encodeWithSelector(IPaymentEscrow.FeeTooHigh.selector, 301, 30_000, MAX_FEE_BPS)
        );
        // 1% of 399 is 3.99: a fee of 4 is above it.
        _expectCaptureRevert(
            terms,
            399,
            4,
            feeReceiver,
            operator,
            abi.encodeWithSelector(IPaymentEscrow.FeeTooHigh.selector, 4, 399, MAX_FEE_BPS)
        );
    }

    function test_capture_RevertWhen_AnyFeeWithZeroMaxFeeBps() public {
        IPaymentEscrow.PaymentTerms memory noFee = _terms();
        noFee.maxFeeBps = 0;
        _authorize(noFee, AMOUNT);
        _expectCaptureRevert(
            noFee,
            AMOUNT,
            1,
            feeReceiver,
            operator,
            abi.encodeWithSelector(IPaymentEscrow.FeeTooHigh.selector, 1, AMOUNT, uint16(0))
        );
    }

    function test_capture_RevertWhen_FeeWithZeroReceiver() public {
        _expectCaptureRevert(
            terms,
            1e6,
            1e4,
            address(0),
            operator,
            abi.encodeWithSelector(IPaymentEscrow.InvalidFeeReceiver.selector, address(0))
        );
    }

    function test_capture_RevertWhen_FeeReceiverDiffersFromTerms() public {
        IPaymentEscrow.PaymentTerms memory fixedTerms = _termsWithFeeReceiver();
        _authorize(fixedTerms, AMOUNT);
        _expectCaptureRevert(
            fixedTerms,
            1e6,
            1e4,
            operator,
            operator,
            abi.encodeWithSelector(IPaymentEscrow.InvalidFeeReceiver.selector, operator)
        );
        // Even without a fee, the receiver named must be the fixed one.
        _expectCaptureRevert(
            fixedTerms,
            1e6,
            0,
            address(0),
            operator,
            abi.encodeWithSelector(IPaymentEscrow.InvalidFeeReceiver.selector, address(0))
        );
    }

    function test_capture_RevertWhen_AboveCapturable() public {
        _expectCaptureRevert(
            terms,
            AMOUNT + 1,
            0,
            address(0),
            operator,
            abi.encodeWithSelector(IPaymentEscrow.InsufficientCapturable.selector, AMOUNT + 1, AMOUNT)
        );
        _capture(terms, 6e6, 0, address(0));
        _expectCaptureRevert(
            terms,
            4e6 + 1,
            0,
            address(0),
            operator,
            abi.encodeWithSelector(IPaymentEscrow.InsufficientCapturable.selector, 4e6 + 1, 4e6)
        );
    }

    function test_capture_RevertWhen_NothingAuthorized() public {
        IPaymentEscrow.PaymentTerms memory other = _terms();
        other.salt = keccak256("never authorized");
        _expectCaptureRevert(
            other,
            1,
            0,
            address(0),
            operator,
            abi.encodeWithSelector(IPaymentEscrow.InsufficientCapturable.selector, 1, 0)
        );
    }

    // ---------------------------------------------------------------------------------------------------
    // Security
    // ---------------------------------------------------------------------------------------------------

    function test_capture_RevertWhen_OperatorChangesPayee() public {
        // Another payee makes other terms, hence another payment id, with nothing capturable.
        IPaymentEscrow.PaymentTerms memory redirected = _terms();
        redirected.payee = operator;
        _expectCaptureRevert(
            redirected,
            AMOUNT,
            0,
            address(0),
            operator,
            abi.encodeWithSelector(IPaymentEscrow.InsufficientCapturable.selector, AMOUNT, 0)
        );
    }

    function test_capture_RevertWhen_OperatorChangesAnyTerm() public {
        IPaymentEscrow.PaymentTerms[4] memory variants;
        for (uint256 i; i < variants.length; ++i) {
            variants[i] = _terms();
        }
        variants[0].maxFeeBps = 10_000; // a higher fee bound
        variants[1].authorizationExpiry = REFUND_EXPIRY; // a later capture deadline
        variants[2].feeReceiver = operator; // a fixed receiver of the operator's choice
        variants[3].operator = stranger; // another operator
        address[4] memory callers = [operator, operator, operator, stranger];
        for (uint256 i; i < variants.length; ++i) {
            _expectCaptureRevert(
                variants[i],
                1e6,
                0,
                variants[i].feeReceiver,
                callers[i],
                abi.encodeWithSelector(IPaymentEscrow.InsufficientCapturable.selector, 1e6, 0)
            );
        }
    }

    function test_capture_RevertWhen_Voided() public {
        vm.prank(operator);
        escrow.void(terms);
        _expectCaptureRevert(
            terms,
            1,
            0,
            address(0),
            operator,
            abi.encodeWithSelector(IPaymentEscrow.InsufficientCapturable.selector, 1, 0)
        );
    }

    function test_capture_RevertWhen_Reclaimed() public {
        vm.warp(AUTHORIZATION_EXPIRY);
        vm.prank(payer);
        escrow.reclaim(terms);
        _expectCaptureRevert(
            terms,
            1,
            0,
            address(0),
            operator,
            abi.encodeWithSelector(
                IPaymentEscrow.AuthorizationExpired.selector, AUTHORIZATION_EXPIRY, AUTHORIZATION_EXPIRY
            )
        );
    }

    function test_capture_DoesNotTouchOtherPayments() public {
        IPaymentEscrow.PaymentTerms memory other = _terms();
        other.salt = keccak256("payment-2");
        bytes32 otherId = _authorize(other, 3e6);
        _capture(terms, AMOUNT, 0, address(0));
        _expectCaptureRevert(
            terms,
            1,
            0,
            address(0),
            operator,
            abi.encodeWithSelector(IPaymentEscrow.InsufficientCapturable.selector, 1, 0)
        );
        _assertState(otherId, 3e6, 0, 1, false);
        assertEq(usdc.balanceOf(address(escrow)), 3e6);
    }

    // ---------------------------------------------------------------------------------------------------
    // Fuzz
    // ---------------------------------------------------------------------------------------------------

    function testFuzz_capture_FeeBound(uint256 amount, uint256 fee, uint16 maxFeeBps) public {
        amount = bound(amount, 1, MAX_AMOUNT);
        fee = bound(fee, 0, amount + 1e6);
        maxFeeBps = uint16(bound(maxFeeBps, 0, 10_000));
        IPaymentEscrow.PaymentTerms memory fuzzed = _terms();
        fuzzed.maxFeeBps = maxFeeBps;
        fuzzed.salt = keccak256("fuzzed");
        bytes32 fuzzedId = _authorizeWithAllowance(fuzzed, amount);

        if (fee <= amount && fee * 10_000 <= amount * maxFeeBps) {
            _capture(fuzzed, amount, fee, feeReceiver);
            assertEq(usdc.balanceOf(payee), amount - fee);
            assertEq(usdc.balanceOf(feeReceiver), fee);
            _assertState(fuzzedId, 0, amount, 1, false);
        } else {
            vm.expectRevert(abi.encodeWithSelector(IPaymentEscrow.FeeTooHigh.selector, fee, amount, maxFeeBps));
            vm.prank(operator);
            escrow.capture(fuzzed, amount, fee, feeReceiver);
            assertEq(usdc.balanceOf(payee), 0);
            assertEq(usdc.balanceOf(feeReceiver), 0);
            _assertState(fuzzedId, amount, 0, 1, false);
        }
    }

    function testFuzz_capture_PartialCapturesNeverExceedAuthorized(uint256 seed, uint256 count, uint16 maxFeeBps)
        public
    {
        count = bound(count, 1, 12);
        maxFeeBps = uint16(bound(maxFeeBps, 0, 10_000));
        IPaymentEscrow.PaymentTerms memory fuzzed = _terms();
        fuzzed.maxFeeBps = maxFeeBps;
        fuzzed.salt = keccak256("fuzzed");
        uint256 payerBefore = usdc.balanceOf(payer);
        uint256 payeeBefore = usdc.balanceOf(payee);
        uint256 authorized = bound(uint256(keccak256(abi.encode(seed, "authorized"))), 1, MAX_AMOUNT);
        bytes32 fuzzedId = _authorize(fuzzed, authorized);

        uint256 captured;
        uint256 fees;
        for (uint256 i; i < count; ++i) {
            uint256 amount = bound(uint256(keccak256(abi.encode(seed, i))), 1, authorized);
            uint256 fee = amount * maxFeeBps / 10_000;
            if (captured + amount > authorized) {
                vm.expectRevert(
                    abi.encodeWithSelector(
                        IPaymentEscrow.InsufficientCapturable.selector, amount, authorized - captured
                    )
                );
                vm.prank(operator);
                escrow.capture(fuzzed, amount, fee, feeReceiver);
            } else {
                _capture(fuzzed, amount, fee, feeReceiver);
                captured += amount;
                fees += fee;
            }
            _assertState(fuzzedId, authorized - captured, captured, 1, false);
        }

        uint256 returned;
        if (captured < authorized) {
            vm.prank(operator);
            escrow.void(fuzzed);
            returned = authorized - captured;
        }

        assertLe(captured, authorized);
        // Only the payment of setUp is left in escrow.
        assertEq(usdc.balanceOf(address(escrow)), AMOUNT);
        assertEq(usdc.balanceOf(feeReceiver), fees);
        assertEq(usdc.balanceOf(payee) - payeeBefore, captured - fees);
        // What left the payer is exactly what the payee and the fee receiver got.
        assertEq(payerBefore - usdc.balanceOf(payer), (usdc.balanceOf(payee) - payeeBefore) + fees);
        assertEq(payerBefore - usdc.balanceOf(payer), authorized - returned);
    }
}
