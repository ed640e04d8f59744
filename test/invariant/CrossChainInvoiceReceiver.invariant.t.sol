// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ICrossChainInvoiceReceiver} from "../../contracts/interfaces/ICrossChainInvoiceReceiver.sol";
import {CrossChainInvoiceReceiverHandler} from "./handlers/CrossChainInvoiceReceiverHandler.sol";
import {Test} from "forge-std/Test.sol";
import {console2} from "forge-std/console2.sol";

/// @notice Invariants of the CrossChainInvoiceReceiver over random deliveries (in any order, late, replayed,
/// from retired or unknown senders, while the receiver is no settler), refunds and redirections: every
/// delivered message's tokens end up exactly once paying its invoice or refunded or awaiting refund.
contract CrossChainInvoiceReceiverInvariantTest is Test {
    CrossChainInvoiceReceiverHandler internal handler;

    function setUp() public {
        vm.warp(1_750_000_000);
        handler = new CrossChainInvoiceReceiverHandler();
        bytes4[] memory selectors = new bytes4[](9);
        selectors[0] = CrossChainInvoiceReceiverHandler.send.selector;
        selectors[1] = CrossChainInvoiceReceiverHandler.deliver.selector;
        selectors[2] = CrossChainInvoiceReceiverHandler.refund.selector;
        selectors[3] = CrossChainInvoiceReceiverHandler.redirect.selector;
        selectors[4] = CrossChainInvoiceReceiverHandler.warp.selector;
        selectors[5] = CrossChainInvoiceReceiverHandler.setSender.selector;
        selectors[6] = CrossChainInvoiceReceiverHandler.setSettler.selector;
        selectors[7] = CrossChainInvoiceReceiverHandler.send.selector;
        selectors[8] = CrossChainInvoiceReceiverHandler.deliver.selector;
        targetContract(address(handler));
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
    }

    /// forge-config: ci.invariant.runs = 256
    /// forge-config: ci.invariant.depth = 128
    function invariant_everyDeliveredTokenIsPaidRefundedOrRefundable() public view {
        assertEq(handler.minted(), handler.paid() + handler.refunded() + handler.pendingRefunds(), "ledger");
        assertEq(handler.token().balanceOf(address(handler.receiver())), handler.pendingRefunds(), "held");
        assertEq(handler.token().balanceOf(handler.payee()), handler.paid(), "paid");
        uint256 refundBalances;
        for (uint256 i = 0; i < 3; ++i) {
            refundBalances += handler.token().balanceOf(handler.refundTos(i));
        }
        refundBalances += handler.token().balanceOf(handler.payer()); // where a zero refund address falls back
        assertEq(refundBalances, handler.refunded(), "refunded");
        assertEq(handler.token().totalSupply(), handler.minted(), "minted only on delivery");
    }

    /// forge-config: ci.invariant.runs = 256
    /// forge-config: ci.invariant.depth = 128
    function invariant_eachMessageSettlesOnce_andEachInvoiceIsPaidOnce() public view {
        uint256 pending;
        for (uint256 i = 0; i < handler.messageCount(); ++i) {
            (bytes32 id,, bool delivered) = handler.messageAt(i);
            ICrossChainInvoiceReceiver.Received memory r = handler.receiver().received(id);
            if (!delivered) assertEq(uint8(r.outcome), uint8(ICrossChainInvoiceReceiver.Outcome.None));
            else assertTrue(r.outcome != ICrossChainInvoiceReceiver.Outcome.None);
            if (r.outcome == ICrossChainInvoiceReceiver.Outcome.Refundable) pending += r.amount;
            else assertEq(r.amount, 0, "nothing left once paid or refunded");
        }
        assertEq(pending, handler.pendingRefunds(), "refundable amounts");
        for (uint256 i = 0; i < 4; ++i) {
            assertLe(handler.paidCount(i), 1, "an invoice is paid at most once");
        }
        assertEq(handler.unexpected(), 0, "unexpected results");
    }

    function afterInvariant() external view {
        console2.log("messages", handler.messageCount());
        console2.log("delivered calls", handler.calls("deliver"), "refused", handler.calls("refused"));
        console2.log("refunds", handler.calls("refund"), "redirects", handler.calls("redirect"));
    }
}
