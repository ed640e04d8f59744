// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ICrossChainInvoiceReceiver} from "../../contracts/interfaces/ICrossChainInvoiceReceiver.sol";
import {CrossChainBase} from "../base/CrossChainBase.sol";
import {MockBlacklistToken} from "../mocks/MockBlacklistToken.sol";
import {MockRevertingToken} from "../mocks/MockRevertingToken.sol";

/// @notice `refund`: anyone pays a failed payment's tokens out to its refund address, once; a transfer that
/// fails leaves the refund pending (to retry, or to redirect with `refundTo`).
contract RefundTest is CrossChainBase {
    bytes32 internal constant ID = keccak256("failed");

    /// @dev A payment that paid its invoice.
    function _paid() internal returns (bytes32) {
        return _sendAndExecute(_payment());
    }

    /// @dev A payment of an expired invoice, kept for `refundTo`.
    function _expired() internal returns (bytes32) {
        _deliver(_raw(ID, _payment(AMOUNT, block.timestamp - 1), address(b.token), AMOUNT));
        return ID;
    }

    function test_refund_paysTheRefundAddress() public {
        bytes32 id = _expired();
        vm.expectEmit(true, true, false, true, address(receiver));
        emit ICrossChainInvoiceReceiver.Refunded(id, refundTo, AMOUNT);
        vm.prank(stranger);
        receiver.refund(id);
        assertEq(b.token.balanceOf(refundTo), AMOUNT);
        assertEq(b.token.balanceOf(address(receiver)), 0);
        _assertOutcome(id, ICrossChainInvoiceReceiver.Outcome.Refunded);
        assertEq(receiver.received(id).amount, 0);
    }

    function test_refund_RevertWhen_AlreadyRefunded() public {
        bytes32 id = _expired();
        receiver.refund(id);
        vm.expectRevert(abi.encodeWithSelector(ICrossChainInvoiceReceiver.NotRefundable.selector, id));
        receiver.refund(id);
    }

    function test_refund_RevertWhen_Paid() public {
        bytes32 id = _paid();
        _assertOutcome(id, ICrossChainInvoiceReceiver.Outcome.Paid);
        vm.expectRevert(abi.encodeWithSelector(ICrossChainInvoiceReceiver.NotRefundable.selector, id));
        receiver.refund(id);
    }

    function test_refund_RevertWhen_Unknown() public {
        vm.expectRevert(abi.encodeWithSelector(ICrossChainInvoiceReceiver.NotRefundable.selector, ID));
        receiver.refund(ID);
    }

    function test_refund_toABlacklistedAddress_staysPending() public {
        MockBlacklistToken bad = new MockBlacklistToken(owner);
        bad.mint(address(receiver), AMOUNT);
        _deliver(_raw(ID, _payment(), address(bad), AMOUNT)); // not the invoice's token: refundable
        vm.prank(owner);
        bad.setBlacklisted(refundTo, true);
        vm.expectRevert(abi.encodeWithSelector(MockBlacklistToken.Blacklisted.selector, refundTo));
        receiver.refund(ID);
        _assertOutcome(ID, ICrossChainInvoiceReceiver.Outcome.Refundable);
        assertEq(bad.balanceOf(address(receiver)), AMOUNT, "kept, not lost");
    }

    function test_refund_ofAPausedToken_succeedsOnceUnpaused() public {
        MockRevertingToken paused = new MockRevertingToken();
        paused.mint(address(receiver), AMOUNT);
        _deliver(_raw(ID, _payment(), address(paused), AMOUNT));
        paused.setReverting(true);
        vm.expectRevert(MockRevertingToken.TransfersPaused.selector);
        receiver.refund(ID);
        paused.setReverting(false);
        receiver.refund(ID);
        assertEq(paused.balanceOf(refundTo), AMOUNT);
    }
}
