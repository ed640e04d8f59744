// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {CrossChainInvoicePayer} from "../../contracts/crosschain/CrossChainInvoicePayer.sol";
import {LocalCcipRouter} from "../../contracts/crosschain/local/LocalCcipRouter.sol";
import {ICrossChainInvoice} from "../../contracts/interfaces/ICrossChainInvoice.sol";
import {ICrossChainInvoiceReceiver} from "../../contracts/interfaces/ICrossChainInvoiceReceiver.sol";
import {IInvoiceRegistry} from "../../contracts/interfaces/IInvoiceRegistry.sol";
import {CrossChainBase} from "../base/CrossChainBase.sol";
import {MockGasHungryWallet} from "../mocks/MockGasHungryWallet.sol";
import {CCIPReceiver} from "@chainlink/contracts-ccip/contracts/applications/CCIPReceiver.sol";
import {Client} from "@chainlink/contracts-ccip/contracts/libraries/Client.sol";
import {RateLimiter} from "@chainlink/contracts-ccip/contracts/libraries/RateLimiter.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @notice `ccipReceive`: an arriving payment settles its invoice, or is kept for its refund address; only a
/// sender that never was allowed, a replay, or a malformed message reverts; nor can too little gas turn a
/// payable invoice into a refund.
contract CcipReceiveTest is CrossChainBase {
    function test_ccipReceive_settlesTheInvoice() public {
        ICrossChainInvoice.CrossChainPayment memory p = _payment();
        LocalCcipRouter.Message memory message = _send(p);
        vm.expectEmit(true, true, true, true, address(receiver));
        emit ICrossChainInvoiceReceiver.PaidCrossChain(message.messageId, registry.invoiceId(p.invoice), payer, A);
        b.router.execute(message);
        _assertOutcome(message.messageId, ICrossChainInvoiceReceiver.Outcome.Paid);
        assertEq(receiver.received(message.messageId).amount, 0);
        assertEq(b.token.balanceOf(payee), AMOUNT);
        assertEq(b.token.balanceOf(address(receiver)), 0);
        assertEq(b.token.allowance(address(receiver), address(registry)), 0);
    }

    function test_ccipReceive_RevertWhen_TheMessageIsReplayed() public {
        ICrossChainInvoice.CrossChainPayment memory p = _payment();
        bytes32 messageId = _sendAndExecute(p);
        vm.prank(address(b.router));
        vm.expectRevert(abi.encodeWithSelector(ICrossChainInvoiceReceiver.AlreadyReceived.selector, messageId));
        receiver.ccipReceive(_raw(messageId, p, address(b.token), AMOUNT));
        assertEq(b.token.balanceOf(payee), AMOUNT, "paid once");
    }

    function test_ccipReceive_RevertWhen_NotTheRouter() public {
        Client.Any2EVMMessage memory m = _raw(keccak256("m"), _payment(), address(b.token), AMOUNT);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(CCIPReceiver.InvalidRouter.selector, stranger));
        receiver.ccipReceive(m);
    }

    function test_ccipReceive_RevertWhen_TheSenderNeverWasAllowed_andCanBeRetriedOnceAllowed() public {
        CrossChainInvoicePayer other = new CrossChainInvoicePayer(a.router, IERC20(address(a.token)));
        CrossChainInvoicePayer allowed = sender;
        sender = other;
        LocalCcipRouter.Message memory message = _send(_payment());
        sender = allowed;
        vm.expectRevert(
            abi.encodeWithSelector(
                LocalCcipRouter.ReceiverError.selector,
                abi.encodeWithSelector(ICrossChainInvoiceReceiver.SenderNotAllowed.selector, A, address(other))
            )
        );
        b.router.execute(message);
        assertEq(b.token.totalSupply(), 0, "nothing minted");
        vm.prank(owner);
        receiver.setAllowedSender(A, address(other), true);
        b.router.execute(message);
        assertEq(b.token.balanceOf(payee), AMOUNT);
    }

    function test_ccipReceive_RevertWhen_TheAllowedSenderComesFromAnotherChain() public {
        Client.Any2EVMMessage memory m = _raw(keccak256("other"), _payment(), address(b.token), AMOUNT);
        m.sourceChainSelector = A + 1;
        vm.prank(address(b.router));
        vm.expectRevert(
            abi.encodeWithSelector(ICrossChainInvoiceReceiver.SenderNotAllowed.selector, A + 1, address(sender))
        );
        receiver.ccipReceive(m);
    }

    function test_ccipReceive_RevertWhen_OtherThanOneToken() public {
        Client.Any2EVMMessage memory m = _raw(keccak256("none"), _payment(), address(b.token), AMOUNT);
        m.destTokenAmounts = new Client.EVMTokenAmount[](0);
        vm.prank(address(b.router));
        vm.expectRevert(abi.encodeWithSelector(ICrossChainInvoiceReceiver.InvalidTokenCount.selector, 0));
        receiver.ccipReceive(m);
    }

    function test_ccipReceive_anInvoiceExpiredInFlight_isRefundable() public {
        LocalCcipRouter.Message memory message = _send(_payment(AMOUNT, block.timestamp + 60));
        vm.warp(block.timestamp + 61);
        b.router.execute(message);
        ICrossChainInvoiceReceiver.Received memory r = receiver.received(message.messageId);
        assertEq(uint8(r.outcome), uint8(ICrossChainInvoiceReceiver.Outcome.Refundable));
        assertEq(r.token, address(b.token));
        assertEq(r.refundTo, refundTo);
        assertEq(r.amount, AMOUNT);
        assertEq(b.token.balanceOf(address(receiver)), AMOUNT);
        assertEq(b.token.allowance(address(receiver), address(registry)), 0, "no allowance left behind");
        assertEq(b.token.balanceOf(payee), 0);
    }

    function test_ccipReceive_anInvoicePaidMeanwhile_isRefundable() public {
        ICrossChainInvoice.CrossChainPayment memory p = _payment();
        _sendAndExecute(p);
        p.refundTo = makeAddr("secondRefund");
        vm.warp(block.timestamp + 10); // B's inbound bucket refills
        bytes32 second = _sendAndExecute(p);
        _assertOutcome(second, ICrossChainInvoiceReceiver.Outcome.Refundable);
        assertEq(b.token.balanceOf(payee), AMOUNT, "paid once");
    }

    function test_ccipReceive_theWrongAmount_isRefundable() public {
        ICrossChainInvoice.CrossChainPayment memory p = _payment();
        _deliver(_raw(keccak256("short"), p, address(b.token), AMOUNT - 1));
        _assertOutcome(keccak256("short"), ICrossChainInvoiceReceiver.Outcome.Refundable);
        assertEq(receiver.received(keccak256("short")).amount, AMOUNT - 1);
        assertFalse(registry.isPaid(registry.invoiceId(p.invoice)));
    }

    function test_ccipReceive_aSenderRetiredInFlight_isRefundable() public {
        LocalCcipRouter.Message memory message = _send(_payment());
        vm.prank(owner);
        receiver.setAllowedSender(A, address(sender), false);
        vm.expectEmit(true, false, false, true, address(receiver));
        emit ICrossChainInvoiceReceiver.SettlementFailed(
            message.messageId,
            refundTo,
            AMOUNT,
            abi.encodeWithSelector(ICrossChainInvoiceReceiver.SenderNotAllowed.selector, A, address(sender))
        );
        b.router.execute(message); // burned on A: it must not revert for ever on B
        _assertOutcome(message.messageId, ICrossChainInvoiceReceiver.Outcome.Refundable);
        assertEq(b.token.balanceOf(payee), 0, "a retired sender pays no invoice");
        receiver.refund(message.messageId);
        assertEq(b.token.balanceOf(refundTo), AMOUNT);
    }

    function test_ccipReceive_aReceiverRemovedAsSettlerInFlight_isRefundable() public {
        LocalCcipRouter.Message memory message = _send(_payment());
        vm.prank(owner);
        registry.setSettler(address(receiver), IInvoiceRegistry.Path.None);
        b.router.execute(message);
        _assertOutcome(message.messageId, ICrossChainInvoiceReceiver.Outcome.Refundable);
        receiver.refund(message.messageId);
        assertEq(b.token.balanceOf(refundTo), AMOUNT);
    }

    function test_ccipReceive_aZeroRefundAddress_fallsBackToThePayer() public {
        ICrossChainInvoice.CrossChainPayment memory p = _payment(AMOUNT, block.timestamp - 1);
        p.refundTo = address(0);
        _deliver(_raw(keccak256("zero"), p, address(b.token), AMOUNT));
        assertEq(receiver.received(keccak256("zero")).refundTo, payer);
        receiver.refund(keccak256("zero"));
        assertEq(b.token.balanceOf(payer), AMOUNT);
    }

    function test_ccipReceive_RevertWhen_TheSettlementIsStarved() public {
        // An issuer whose signature check costs some 6M gas (a contract wallet): the least gas with which the
        // delivery goes through must pay the invoice, never leave it refundable.
        MockGasHungryWallet wallet = new MockGasHungryWallet(issuer, 60_000);
        ICrossChainInvoice.CrossChainPayment memory p =
            _payment(AMOUNT, block.timestamp + 1 hours, address(wallet), issuerKey);
        vm.prank(owner);
        b.token.mint(address(receiver), AMOUNT);
        Client.Any2EVMMessage memory m = _raw(keccak256("starved"), p, address(b.token), AMOUNT);
        uint256 lo = 100_000;
        uint256 hi = 30_000_000;
        while (hi - lo > 1000) {
            uint256 mid = (lo + hi) / 2;
            uint256 snapshot = vm.snapshotState();
            vm.prank(address(b.router));
            (bool ok,) = address(receiver).call{gas: mid}(abi.encodeCall(receiver.ccipReceive, (m)));
            vm.revertToState(snapshot);
            if (ok) hi = mid;
            else lo = mid;
        }
        vm.prank(address(b.router));
        (bool delivered,) = address(receiver).call{gas: hi}(abi.encodeCall(receiver.ccipReceive, (m)));
        assertTrue(delivered);
        assertEq(
            uint8(_outcome(m.messageId)),
            uint8(ICrossChainInvoiceReceiver.Outcome.Paid),
            string.concat("starved into a refund with gas ", vm.toString(hi))
        );
        // Just below, the delivery reverts with SettlementOutOfGas (or out of gas): CCIP keeps the message.
        vm.prank(address(b.router));
        (bool starved,) = address(receiver).call{gas: lo}(abi.encodeCall(receiver.ccipReceive, (m)));
        assertFalse(starved);
    }

    function test_ccipReceive_RevertWith_SettlementOutOfGas() public {
        MockGasHungryWallet wallet = new MockGasHungryWallet(issuer, 60_000);
        ICrossChainInvoice.CrossChainPayment memory p =
            _payment(AMOUNT, block.timestamp + 1 hours, address(wallet), issuerKey);
        vm.prank(owner);
        b.token.mint(address(receiver), AMOUNT);
        Client.Any2EVMMessage memory m = _raw(keccak256("starved"), p, address(b.token), AMOUNT);
        vm.prank(address(b.router));
        vm.expectRevert(abi.encodeWithSelector(ICrossChainInvoiceReceiver.SettlementOutOfGas.selector, m.messageId));
        receiver.ccipReceive{gas: 2_000_000}(m);
    }

    function test_ccipReceive_waitsForTheInboundRateLimit() public {
        b.router.execute(_send(_payment(AMOUNT, block.timestamp + 1 hours)));
        LocalCcipRouter.Message memory second = _send(_payment(AMOUNT, block.timestamp + 2 hours));
        vm.expectRevert(abi.encodeWithSelector(RateLimiter.TokenRateLimitReached.selector, 5, 5e6, address(b.token)));
        b.router.execute(second);
        _assertOutcome(second.messageId, ICrossChainInvoiceReceiver.Outcome.None);
        vm.warp(block.timestamp + 5);
        b.router.execute(second);
        assertEq(b.token.balanceOf(payee), 2 * AMOUNT);
    }
}
