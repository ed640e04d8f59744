// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IAuthCaptureCollector} from "../../contracts/interfaces/IAuthCaptureCollector.sol";
import {IERC3009} from "../../contracts/interfaces/IERC3009.sol";
import {IPaymentEscrow} from "../../contracts/interfaces/IPaymentEscrow.sol";
import {AuthCaptureCollectorBase} from "../base/AuthCaptureCollectorBase.sol";

contract AuthorizeTest is AuthCaptureCollectorBase {
    IAuthCaptureCollector.PaymentInfo internal info;
    bytes32 internal id;

    function setUp() public override {
        super.setUp();
        info = _info();
        id = _paymentId(_infoTerms(info));
    }

    /// @dev A 4-byte `err` is matched as a selector (the token's error names the signer it recovered).
    function _expectRevert(
        IAuthCaptureCollector.PaymentInfo memory i,
        bytes memory sig,
        address caller,
        bytes memory err
    ) internal {
        Balances memory before = _balances();
        // casting to 'bytes4' is safe because the length is 4
        // forge-lint: disable-next-line(unsafe-typecast)
        if (err.length == 4) vm.expectPartialRevert(bytes4(err));
        else vm.expectRevert(err);
        vm.prank(caller);
        collector.authorize(i, sig);
        _assertBalances(before);
        assertEq(usdc.balanceOf(address(collector)), 0);
        _assertState(_paymentId(_infoTerms(i)), 0, 0, 0, false);
    }

    function test_authorize_LandsFullAmountInEscrow() public {
        vm.expectEmit(address(usdc));
        emit IERC3009.AuthorizationUsed(payer, _signatureNonce(info));
        vm.expectEmit(address(collector));
        emit IAuthCaptureCollector.PaymentCollected(id, _signatureNonce(info), payer, AMOUNT);
        bytes32 returned = _collect(info);

        assertEq(returned, id);
        assertEq(usdc.balanceOf(payer), INITIAL_BALANCE - AMOUNT);
        assertEq(usdc.balanceOf(address(escrow)), AMOUNT);
        assertEq(usdc.balanceOf(address(collector)), 0);
        assertEq(usdc.allowance(address(collector), address(escrow)), 0);
        _assertState(id, AMOUNT, 0, 0, false);
    }

    function test_authorize_ThenOperatorCapturesAndRefundsOnEscrow() public {
        _collect(info);
        IPaymentEscrow.PaymentTerms memory t = collector.terms(info);
        vm.prank(operator);
        escrow.capture(t, 6e6, 6e4, feeReceiver);
        vm.prank(operator);
        escrow.void(t);
        assertEq(usdc.balanceOf(payee), 6e6 - 6e4);
        assertEq(usdc.balanceOf(feeReceiver), 6e4);
        assertEq(usdc.balanceOf(payer), INITIAL_BALANCE - 6e6);

        vm.startPrank(payee);
        usdc.approve(address(escrow), 1e6);
        escrow.refund(t, 1e6);
        vm.stopPrank();
        assertEq(usdc.balanceOf(payer), INITIAL_BALANCE - 5e6);
        _assertState(id, 0, 5e6, 0, true);
    }

    function test_authorize_RevertWhen_ReplayedAuthorization() public {
        bytes memory sig = _clientSignature(info);
        vm.prank(operator);
        collector.authorize(info, sig);
        Balances memory before = _balances();
        vm.expectRevert(
            abi.encodeWithSelector(IERC3009.AuthorizationAlreadyUsed.selector, payer, _signatureNonce(info))
        );
        vm.prank(operator);
        collector.authorize(info, sig);
        _assertBalances(before);
        _assertState(id, AMOUNT, 0, 0, false);
    }

    function test_authorize_RevertWhen_CallerNotOperator() public {
        _expectRevert(
            info,
            _clientSignature(info),
            stranger,
            abi.encodeWithSelector(IAuthCaptureCollector.Unauthorized.selector, stranger)
        );
    }

    function test_authorize_RevertWhen_MinFeeSet() public {
        IAuthCaptureCollector.PaymentInfo memory i = _info();
        i.minFeeBps = 1;
        _expectRevert(
            i,
            _clientSignature(i),
            operator,
            abi.encodeWithSelector(IAuthCaptureCollector.UnsupportedMinFee.selector, 1)
        );
    }

    function test_authorize_RevertWhen_InfoDiffersFromSigned() public {
        bytes memory sig = _clientSignature(info);
        IAuthCaptureCollector.PaymentInfo memory i = _info();
        i.receiver = stranger;
        _expectRevert(i, sig, operator, abi.encodePacked(IERC3009.InvalidAuthorizationSignature.selector));
        i = _info();
        i.maxFeeBps = MAX_FEE_BPS + 1;
        _expectRevert(i, sig, operator, abi.encodePacked(IERC3009.InvalidAuthorizationSignature.selector));
    }

    function test_authorize_RevertWhen_OtherPayerClaimed() public {
        bytes memory sig = _clientSignature(info);
        IAuthCaptureCollector.PaymentInfo memory i = _info();
        i.payer = stranger;
        _expectRevert(i, sig, operator, abi.encodePacked(IERC3009.InvalidAuthorizationSignature.selector));
    }

    function test_authorize_RevertWhen_PreApprovalExpired() public {
        bytes memory sig = _clientSignature(info);
        vm.warp(PRE_APPROVAL_EXPIRY);
        _expectRevert(
            info,
            sig,
            operator,
            abi.encodeWithSelector(IERC3009.AuthorizationExpired.selector, PRE_APPROVAL_EXPIRY, PRE_APPROVAL_EXPIRY)
        );
    }

    function test_authorize_RevertWhen_ExpiriesMisordered() public {
        IAuthCaptureCollector.PaymentInfo memory i = _info();
        i.refundExpiry = i.authorizationExpiry - 1;
        _expectRevert(
            i,
            _clientSignature(i),
            operator,
            abi.encodeWithSelector(
                IPaymentEscrow.InvalidExpiries.selector, i.preApprovalExpiry, i.authorizationExpiry, i.refundExpiry
            )
        );
    }
}
