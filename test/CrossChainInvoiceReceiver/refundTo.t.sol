// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ICrossChainInvoice} from "../../contracts/interfaces/ICrossChainInvoice.sol";
import {ICrossChainInvoiceReceiver} from "../../contracts/interfaces/ICrossChainInvoiceReceiver.sol";
import {CrossChainBase} from "../base/CrossChainBase.sol";
import {MockBlacklistToken} from "../mocks/MockBlacklistToken.sol";

/// @notice `refundTo`: the refund address (and only it) has its refund paid elsewhere, so a refund address
/// the token refuses (blacklisted) does not lock the tokens.
contract RefundToTest is CrossChainBase {
    bytes32 internal constant ID = keccak256("failed");
    address internal elsewhere = makeAddr("elsewhere");
    MockBlacklistToken internal bad;

    function setUp() public override {
        super.setUp();
        bad = new MockBlacklistToken(owner);
        bad.mint(address(receiver), AMOUNT);
        _deliver(_raw(ID, _payment(), address(bad), AMOUNT)); // not the invoice's token: refundable
        vm.prank(owner);
        bad.setBlacklisted(refundTo, true);
    }

    function test_refundTo_aBlacklistedRefundAddress_redirectsItsRefund() public {
        vm.expectRevert(abi.encodeWithSelector(MockBlacklistToken.Blacklisted.selector, refundTo));
        receiver.refund(ID);
        vm.expectEmit(true, true, false, true, address(receiver));
        emit ICrossChainInvoiceReceiver.Refunded(ID, elsewhere, AMOUNT);
        vm.prank(refundTo);
        receiver.refundTo(ID, elsewhere);
        assertEq(bad.balanceOf(elsewhere), AMOUNT);
        _assertOutcome(ID, ICrossChainInvoiceReceiver.Outcome.Refunded);
        vm.expectRevert(abi.encodeWithSelector(ICrossChainInvoiceReceiver.NotRefundable.selector, ID));
        receiver.refund(ID);
    }

    function test_refundTo_RevertWhen_NotTheRefundAddress() public {
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(ICrossChainInvoiceReceiver.NotRefundRecipient.selector, payer, refundTo));
        receiver.refundTo(ID, payer);
        assertEq(bad.balanceOf(address(receiver)), AMOUNT);
    }

    function test_refundTo_RevertWhen_TheNewAddressIsZero() public {
        vm.prank(refundTo);
        vm.expectRevert(abi.encodeWithSelector(ICrossChainInvoice.InvalidRefundTo.selector, address(0)));
        receiver.refundTo(ID, address(0));
    }

    function test_refundTo_RevertWhen_NotRefundable() public {
        bytes32 unknown = keccak256("unknown");
        vm.expectRevert(abi.encodeWithSelector(ICrossChainInvoiceReceiver.NotRefundable.selector, unknown));
        vm.prank(address(0));
        receiver.refundTo(unknown, elsewhere);
    }
}
