// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {LocalCcipRouter} from "../../contracts/crosschain/local/LocalCcipRouter.sol";
import {ICrossChainInvoice} from "../../contracts/interfaces/ICrossChainInvoice.sol";
import {ICrossChainInvoicePayer} from "../../contracts/interfaces/ICrossChainInvoicePayer.sol";
import {IERC3009} from "../../contracts/interfaces/IERC3009.sol";
import {IInvoiceRegistry} from "../../contracts/interfaces/IInvoiceRegistry.sol";
import {CrossChainBase} from "../base/CrossChainBase.sol";
import {RateLimiter} from "@chainlink/contracts-ccip/contracts/libraries/RateLimiter.sol";

/// @notice A caller that cannot take ether back.
contract EtherRefuser {
    function submit(
        ICrossChainInvoicePayer payer,
        uint64 selector,
        address receiver,
        ICrossChainInvoice.CrossChainPayment calldata p,
        bytes calldata authorization,
        uint256 gasLimit
    ) external payable {
        payer.payWithAuthorization{value: msg.value}(selector, receiver, p, authorization, gasLimit);
    }
}

/// @notice `payWithAuthorization`: the payer's EIP-3009 authorization, submitted by anyone, sends exactly the
/// signed payment through the signed lane with the signed gas limit; every refusal moves nothing.
contract PayWithAuthorizationTest is CrossChainBase {
    function test_payWithAuthorization_burnsOnA_andPaysTheInvoiceOnB() public {
        ICrossChainInvoice.CrossChainPayment memory p = _payment();
        uint256 supplyA = a.token.totalSupply();
        LocalCcipRouter.Message memory message = _send(p);
        assertEq(a.token.totalSupply(), supplyA - AMOUNT, "burned on A");
        assertEq(a.token.balanceOf(payer), INITIAL_BALANCE - AMOUNT);
        assertEq(a.token.balanceOf(address(sender)), 0);
        assertEq(message.gasLimit, GAS_LIMIT, "the signed gas limit travels");
        b.router.execute(message);
        assertEq(b.token.balanceOf(payee), AMOUNT, "minted on B and paid to the payee");
        IInvoiceRegistry.Record memory record = registry.recordOf(registry.invoiceId(p.invoice));
        assertEq(record.payer, payer);
        assertEq(uint8(record.path), uint8(IInvoiceRegistry.Path.CrossChain));
    }

    function test_payWithAuthorization_emitsPaymentSent() public {
        ICrossChainInvoice.CrossChainPayment memory p = _payment();
        bytes memory authorization = _authorization(p);
        vm.expectEmit(false, true, true, true, address(sender));
        emit ICrossChainInvoicePayer.PaymentSent(bytes32(0), B, payer, AMOUNT, 0);
        vm.prank(relayer);
        sender.payWithAuthorization(B, address(receiver), p, authorization, GAS_LIMIT);
    }

    function test_payWithAuthorization_RevertWhen_TheGasLimitIsNotTheSignedOne() public {
        ICrossChainInvoice.CrossChainPayment memory p = _payment();
        bytes memory authorization = _authorization(p); // signed for GAS_LIMIT on B
        vm.prank(relayer);
        vm.expectRevert(abi.encodeWithSelector(IERC3009.InvalidAuthorizationSignature.selector, payer));
        sender.payWithAuthorization(B, address(receiver), p, authorization, 50_000);
        assertEq(a.token.balanceOf(payer), INITIAL_BALANCE, "nothing moved");
    }

    function test_payWithAuthorization_RevertWhen_TheRefundAddressIsNotTheSignedOne() public {
        ICrossChainInvoice.CrossChainPayment memory p = _payment();
        bytes memory authorization = _authorization(p);
        p.refundTo = relayer;
        vm.prank(relayer);
        vm.expectRevert(abi.encodeWithSelector(IERC3009.InvalidAuthorizationSignature.selector, payer));
        sender.payWithAuthorization(B, address(receiver), p, authorization, GAS_LIMIT);
        assertEq(a.token.balanceOf(payer), INITIAL_BALANCE);
    }

    function test_payWithAuthorization_RevertWhen_TheReceiverIsNotTheSignedOne() public {
        ICrossChainInvoice.CrossChainPayment memory p = _payment();
        bytes memory authorization = _authorization(p);
        vm.prank(relayer);
        vm.expectRevert(abi.encodeWithSelector(IERC3009.InvalidAuthorizationSignature.selector, payer));
        sender.payWithAuthorization(B, stranger, p, authorization, GAS_LIMIT);
    }

    function test_payWithAuthorization_RevertWhen_ThePayerIsZero() public {
        ICrossChainInvoice.CrossChainPayment memory p = _payment();
        p.payer = address(0);
        vm.prank(relayer);
        vm.expectRevert(abi.encodeWithSelector(ICrossChainInvoicePayer.InvalidPayer.selector, address(0)));
        sender.payWithAuthorization(B, address(receiver), p, "", GAS_LIMIT);
    }

    function test_payWithAuthorization_RevertWhen_TheRefundAddressIsZero() public {
        ICrossChainInvoice.CrossChainPayment memory p = _payment();
        p.refundTo = address(0);
        bytes memory authorization = _authorization(p);
        vm.prank(relayer);
        vm.expectRevert(abi.encodeWithSelector(ICrossChainInvoice.InvalidRefundTo.selector, address(0)));
        sender.payWithAuthorization(B, address(receiver), p, authorization, GAS_LIMIT);
        assertEq(a.token.balanceOf(payer), INITIAL_BALANCE);
    }

    function test_payWithAuthorization_RevertWhen_TheAuthorizationExpired() public {
        ICrossChainInvoice.CrossChainPayment memory p = _payment();
        bytes memory authorization = _authorization(p);
        uint256 validBefore = block.timestamp + 600;
        vm.warp(validBefore);
        vm.prank(relayer);
        vm.expectRevert(abi.encodeWithSelector(IERC3009.AuthorizationExpired.selector, validBefore, validBefore));
        sender.payWithAuthorization(B, address(receiver), p, authorization, GAS_LIMIT);
        assertEq(a.token.balanceOf(payer), INITIAL_BALANCE);
    }

    function test_payWithAuthorization_RevertWhen_TheAuthorizationIsSpent() public {
        ICrossChainInvoice.CrossChainPayment memory p = _payment();
        bytes memory authorization = _authorization(p);
        vm.prank(relayer);
        sender.payWithAuthorization(B, address(receiver), p, authorization, GAS_LIMIT);
        vm.prank(relayer);
        vm.expectRevert();
        sender.payWithAuthorization(B, address(receiver), p, authorization, GAS_LIMIT);
        assertEq(a.token.balanceOf(payer), INITIAL_BALANCE - AMOUNT, "paid once");
    }

    function test_payWithAuthorization_keepsTheFee_andReturnsTheRest() public {
        a.router.setFee(0.01 ether);
        ICrossChainInvoice.CrossChainPayment memory p = _payment();
        bytes memory authorization = _authorization(p);
        assertEq(sender.quote(B, address(receiver), p, GAS_LIMIT), 0.01 ether);
        vm.deal(relayer, 1 ether);
        vm.prank(relayer);
        sender.payWithAuthorization{value: 0.05 ether}(B, address(receiver), p, authorization, GAS_LIMIT);
        assertEq(relayer.balance, 1 ether - 0.01 ether, "the fee kept, the rest returned");
        assertEq(address(a.router).balance, 0.01 ether);
        assertEq(address(sender).balance, 0);
    }

    function test_payWithAuthorization_RevertWhen_TheFeeIsShort() public {
        a.router.setFee(0.01 ether);
        ICrossChainInvoice.CrossChainPayment memory p = _payment();
        bytes memory authorization = _authorization(p);
        vm.deal(relayer, 1 ether);
        vm.prank(relayer);
        vm.expectRevert(
            abi.encodeWithSelector(ICrossChainInvoicePayer.InsufficientFee.selector, 0.01 ether, 0.01 ether - 1)
        );
        sender.payWithAuthorization{value: 0.01 ether - 1}(B, address(receiver), p, authorization, GAS_LIMIT);
        assertEq(a.token.balanceOf(payer), INITIAL_BALANCE, "nothing moved");
    }

    function test_payWithAuthorization_RevertWhen_TheExcessFeeCannotBeReturned() public {
        EtherRefuser refuser = new EtherRefuser();
        ICrossChainInvoice.CrossChainPayment memory p = _payment();
        bytes memory authorization = _authorization(p);
        vm.deal(address(this), 1 ether);
        vm.expectRevert(
            abi.encodeWithSelector(ICrossChainInvoicePayer.FeeRefundFailed.selector, address(refuser), 1 ether)
        );
        refuser.submit{value: 1 ether}(sender, B, address(receiver), p, authorization, GAS_LIMIT);
        assertEq(a.token.balanceOf(payer), INITIAL_BALANCE, "nothing moved");
    }

    function test_payWithAuthorization_RevertWhen_TheChainHasNoLane() public {
        ICrossChainInvoice.CrossChainPayment memory p = _payment();
        bytes memory authorization = _authorization(p);
        a.router.setLane(B, false);
        vm.prank(relayer);
        vm.expectRevert(abi.encodeWithSelector(ICrossChainInvoicePayer.UnsupportedChain.selector, B));
        sender.payWithAuthorization(B, address(receiver), p, authorization, GAS_LIMIT);
        assertEq(a.token.balanceOf(payer), INITIAL_BALANCE);
    }

    function test_payWithAuthorization_RevertWhen_TheOutboundRateLimitIsReached() public {
        _send(_payment(45e6, block.timestamp + 1 hours));
        ICrossChainInvoice.CrossChainPayment memory p = _payment();
        bytes memory authorization = _authorization(p);
        // The lane's bucket holds 5 tokens and refills one a second.
        vm.prank(relayer);
        vm.expectRevert(abi.encodeWithSelector(RateLimiter.TokenRateLimitReached.selector, 5, 5e6, address(a.token)));
        sender.payWithAuthorization(B, address(receiver), p, authorization, GAS_LIMIT);
        assertEq(a.token.balanceOf(payer), INITIAL_BALANCE - 45e6);
    }
}
