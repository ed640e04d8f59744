// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ICrossChainInvoice} from "../../contracts/interfaces/ICrossChainInvoice.sol";
import {ICrossChainInvoicePayer} from "../../contracts/interfaces/ICrossChainInvoicePayer.sol";
import {CrossChainBase} from "../base/CrossChainBase.sol";

/// @notice `pay`: the payer sends from its own allowance, for itself only.
contract PayTest is CrossChainBase {
    function test_pay_fromThePayersAllowance() public {
        ICrossChainInvoice.CrossChainPayment memory p = _payment();
        vm.recordLogs();
        vm.startPrank(payer);
        assertTrue(a.token.approve(address(sender), AMOUNT));
        sender.pay(B, address(receiver), p, GAS_LIMIT);
        vm.stopPrank();
        b.router.execute(_sentMessage());
        assertTrue(registry.isPaid(registry.invoiceId(p.invoice)));
        assertEq(a.token.balanceOf(payer), INITIAL_BALANCE - AMOUNT);
    }

    function test_pay_RevertWhen_ThePayerIsSomeoneElse() public {
        ICrossChainInvoice.CrossChainPayment memory p = _payment();
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(ICrossChainInvoicePayer.InvalidPayer.selector, payer));
        sender.pay(B, address(receiver), p, GAS_LIMIT);
    }

    function test_pay_RevertWhen_TheRefundAddressIsZero() public {
        ICrossChainInvoice.CrossChainPayment memory p = _payment();
        p.refundTo = address(0);
        vm.startPrank(payer);
        assertTrue(a.token.approve(address(sender), AMOUNT));
        vm.expectRevert(abi.encodeWithSelector(ICrossChainInvoice.InvalidRefundTo.selector, address(0)));
        sender.pay(B, address(receiver), p, GAS_LIMIT);
        vm.stopPrank();
        assertEq(a.token.balanceOf(payer), INITIAL_BALANCE, "nothing moved");
    }

    function test_pay_RevertWhen_TheAllowanceIsShort() public {
        ICrossChainInvoice.CrossChainPayment memory p = _payment();
        vm.startPrank(payer);
        assertTrue(a.token.approve(address(sender), AMOUNT - 1));
        vm.expectRevert();
        sender.pay(B, address(receiver), p, GAS_LIMIT);
        vm.stopPrank();
        assertEq(a.token.balanceOf(payer), INITIAL_BALANCE);
    }
}
