// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IAuthCaptureCollector} from "../../contracts/interfaces/IAuthCaptureCollector.sol";
import {IPaymentEscrow} from "../../contracts/interfaces/IPaymentEscrow.sol";
import {AuthCaptureCollectorBase} from "../base/AuthCaptureCollectorBase.sol";

/// @notice Gas of an x402 `auth-capture` payment landing in the escrow and its capture, recorded in
/// snapshots/AuthCaptureCollector.json; a warm-up payment in setUp so first balances are not counted.
contract AuthCaptureCollectorGasTest is AuthCaptureCollectorBase {
    function setUp() public override {
        super.setUp();
        vm.startPrank(owner);
        usdc.mint(payee, 1);
        usdc.mint(feeReceiver, 1);
        vm.stopPrank();
        IAuthCaptureCollector.PaymentInfo memory warmUp = _info();
        warmUp.salt = 1;
        _collect(warmUp);
    }

    function test_gas_authCapture_authorize() public {
        IAuthCaptureCollector.PaymentInfo memory info = _info();
        bytes memory signature = _clientSignature(info);
        vm.prank(operator);
        collector.authorize(info, signature);
        vm.snapshotGasLastCall("AuthCaptureCollector", "authorize (EIP-3009 via collector)");
    }

    function test_gas_authCapture_capture() public {
        IAuthCaptureCollector.PaymentInfo memory info = _info();
        _collect(info);
        IPaymentEscrow.PaymentTerms memory t = collector.terms(info);
        vm.prank(operator);
        escrow.capture(t, AMOUNT, AMOUNT / 100, feeReceiver);
        vm.snapshotGasLastCall("AuthCaptureCollector", "capture (escrow, 1% fee)");
    }
}
