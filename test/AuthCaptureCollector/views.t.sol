// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IAuthCaptureCollector} from "../../contracts/interfaces/IAuthCaptureCollector.sol";
import {IPaymentEscrow} from "../../contracts/interfaces/IPaymentEscrow.sol";
import {AuthCaptureCollectorBase} from "../base/AuthCaptureCollectorBase.sol";

contract ViewsTest is AuthCaptureCollectorBase {
    function test_signatureNonce_IgnoresPayerAndBindsChain() public {
        IAuthCaptureCollector.PaymentInfo memory info = _info();
        bytes32 nonce = collector.signatureNonce(info);
        assertEq(nonce, _signatureNonce(info));
        info.payer = stranger;
        assertEq(collector.signatureNonce(info), nonce);
        vm.chainId(8453);
        assertTrue(collector.signatureNonce(info) != nonce);
    }

    function test_terms_CopyPaymentInfo() public view {
        IAuthCaptureCollector.PaymentInfo memory info = _info();
        IPaymentEscrow.PaymentTerms memory t = collector.terms(info);
        assertEq(escrow.paymentId(t), _paymentId(_infoTerms(info)));
    }

    function test_immutables() public view {
        assertEq(address(collector.escrow()), address(escrow));
        assertEq(collector.authCaptureEscrow(), AUTH_CAPTURE_ESCROW);
    }
}
