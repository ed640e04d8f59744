// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {CrossChainInvoicePayer} from "../../contracts/crosschain/CrossChainInvoicePayer.sol";
import {CrossChainInvoiceReceiver} from "../../contracts/crosschain/CrossChainInvoiceReceiver.sol";
import {ICrossChainInvoice} from "../../contracts/interfaces/ICrossChainInvoice.sol";
import {ICrossChainInvoicePayer} from "../../contracts/interfaces/ICrossChainInvoicePayer.sol";
import {ICrossChainInvoiceReceiver} from "../../contracts/interfaces/ICrossChainInvoiceReceiver.sol";
import {IERC3009} from "../../contracts/interfaces/IERC3009.sol";
import {IInvoiceRegistry} from "../../contracts/interfaces/IInvoiceRegistry.sol";
import {PaymentEscrowBase} from "../base/PaymentEscrowBase.sol";
import {CCIPReceiver} from "@chainlink/contracts-ccip/contracts/applications/CCIPReceiver.sol";
import {IRouterClient} from "@chainlink/contracts-ccip/contracts/interfaces/IRouterClient.sol";
import {Client} from "@chainlink/contracts-ccip/contracts/libraries/Client.sol";
import {CCIPLocalSimulator} from "@chainlink/local/src/ccip/CCIPLocalSimulator.sol";
import {MockCCIPRouter} from "@chainlink/local/src/vendor/chainlink-ccip/test/mocks/MockRouter.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @notice An invoice paid from "another chain" through chainlink-local's CCIPLocalSimulator (its router
/// delivers at once, to the same chain): the sender takes the payer's EIP-3009 authorization, the receiver
/// settles the invoice in the registry, and every failure either reverts (nothing moves) or leaves the
/// tokens refundable to the payer's refund address.
contract CrossChainInvoicePaymentTest is PaymentEscrowBase {
    uint256 internal constant GAS_LIMIT = 400_000;

    uint64 internal selector;
    IRouterClient internal router;
    CrossChainInvoicePayer internal sender;
    CrossChainInvoiceReceiver internal receiver;
    address internal refundTo = makeAddr("refundTo");

    function setUp() public override {
        super.setUp();
        CCIPLocalSimulator simulator = new CCIPLocalSimulator();
        // The simulator's router type comes from its own CCIP version: read the address.
        (bool ok, bytes memory out) = address(simulator).staticcall(abi.encodeCall(simulator.configuration, ()));
        assertTrue(ok);
        address routerAddress;
        (selector, routerAddress) = abi.decode(out, (uint64, address));
        router = IRouterClient(routerAddress);
        sender = new CrossChainInvoicePayer(router, IERC20(address(usdc)));
        receiver = new CrossChainInvoiceReceiver(address(router), registry, owner);
        vm.startPrank(owner);
        registry.setSettler(address(receiver), IInvoiceRegistry.Path.CrossChain);
        receiver.setAllowedSender(selector, address(sender), true);
        vm.stopPrank();
    }

    function _payment(IInvoiceRegistry.Invoice memory invoice)
        internal
        view
        returns (ICrossChainInvoice.CrossChainPayment memory)
    {
        return ICrossChainInvoice.CrossChainPayment({
            invoice: invoice, issuerSignature: _signInvoice(invoice), payer: payer, refundTo: refundTo
        });
    }

    /// @dev The payer's EIP-3009 authorization of `payment` to the sender.
    function _authorization(ICrossChainInvoice.CrossChainPayment memory payment) internal view returns (bytes memory) {
        bytes32 nonce = sender.paymentNonce(selector, address(receiver), payment, GAS_LIMIT);
        uint256 validBefore = block.timestamp + 1 hours;
        bytes32 structHash = keccak256(
            abi.encode(RECEIVE_TYPEHASH, payer, address(sender), payment.invoice.amount, 0, validBefore, nonce)
        );
        bytes32 digest = keccak256(abi.encodePacked("\x19\x01", _tokenDomainSeparator(), structHash));
        return abi.encode(0, validBefore, _signPacked(payerKey, digest));
    }

    function _send(ICrossChainInvoice.CrossChainPayment memory payment) internal returns (bytes32 messageId) {
        bytes memory authorization = _authorization(payment);
        vm.prank(relayer);
        messageId = sender.payWithAuthorization(selector, address(receiver), payment, authorization, GAS_LIMIT);
    }

    /// @dev A message as the router delivers it, from `from`.
    function _delivered(bytes32 id, address from, ICrossChainInvoice.CrossChainPayment memory payment, uint256 amount)
        internal
        view
        returns (Client.Any2EVMMessage memory message)
    {
        Client.EVMTokenAmount[] memory tokens = new Client.EVMTokenAmount[](1);
        tokens[0] = Client.EVMTokenAmount({token: address(usdc), amount: amount});
        message = Client.Any2EVMMessage({
            messageId: id,
            sourceChainSelector: selector,
            sender: abi.encode(from),
            data: abi.encode(payment),
            destTokenAmounts: tokens
        });
    }

    function test_payWithAuthorization_settlesTheInvoiceOnTheDestination() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice(AMOUNT);
        bytes32 messageId = _send(_payment(invoice));
        assertEq(usdc.balanceOf(payee), AMOUNT);
        assertEq(usdc.balanceOf(payer), INITIAL_BALANCE - AMOUNT);
        assertEq(usdc.balanceOf(address(receiver)), 0);
        assertEq(usdc.balanceOf(address(sender)), 0);
        IInvoiceRegistry.Record memory record = registry.recordOf(_invoiceId(invoice));
        assertEq(record.payer, payer);
        assertEq(uint8(record.path), uint8(IInvoiceRegistry.Path.CrossChain));
        assertEq(uint8(receiver.received(messageId).outcome), uint8(ICrossChainInvoiceReceiver.Outcome.Paid));
    }

    function test_pay_fromThePayersAllowance() public {
        ICrossChainInvoice.CrossChainPayment memory payment = _payment(_invoice(AMOUNT));
        vm.startPrank(payer);
        assertTrue(usdc.approve(address(sender), AMOUNT));
        sender.pay(selector, address(receiver), payment, GAS_LIMIT);
        vm.stopPrank();
        assertTrue(registry.isPaid(_invoiceId(payment.invoice)));
    }

    function test_pay_forAnotherPayer_reverts() public {
        ICrossChainInvoice.CrossChainPayment memory payment = _payment(_invoice(AMOUNT));
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(ICrossChainInvoicePayer.InvalidPayer.selector, payer));
        sender.pay(selector, address(receiver), payment, GAS_LIMIT);
    }

    function test_theExcessFee_isReturned() public {
        ICrossChainInvoice.CrossChainPayment memory payment = _payment(_invoice(AMOUNT));
        bytes memory authorization = _authorization(payment);
        uint256 fee = sender.quote(selector, address(receiver), payment, GAS_LIMIT);
        vm.deal(relayer, 1 ether);
        vm.prank(relayer);
        sender.payWithAuthorization{value: 1 ether}(selector, address(receiver), payment, authorization, GAS_LIMIT);
        assertEq(relayer.balance, 1 ether - fee);
    }

    function test_aRelayerCannotRedirectThePayment() public {
        ICrossChainInvoice.CrossChainPayment memory payment = _payment(_invoice(AMOUNT));
        bytes memory authorization = _authorization(payment);
        payment.refundTo = relayer; // not what the payer signed
        vm.prank(relayer);
        vm.expectRevert(abi.encodeWithSelector(IERC3009.InvalidAuthorizationSignature.selector, payer));
        sender.payWithAuthorization(selector, address(receiver), payment, authorization, GAS_LIMIT);
        assertEq(usdc.balanceOf(payer), INITIAL_BALANCE);
    }

    function test_anUnknownSender_isRefusedAndNothingMoves() public {
        CrossChainInvoicePayer impostor = new CrossChainInvoicePayer(router, IERC20(address(usdc)));
        ICrossChainInvoice.CrossChainPayment memory payment = _payment(_invoice(AMOUNT));
        vm.startPrank(payer);
        assertTrue(usdc.approve(address(impostor), AMOUNT));
        vm.expectRevert(
            abi.encodeWithSelector(
                MockCCIPRouter.ReceiverError.selector,
                abi.encodeWithSelector(
                    ICrossChainInvoiceReceiver.SenderNotAllowed.selector, selector, address(impostor)
                )
            )
        );
        impostor.pay(selector, address(receiver), payment, GAS_LIMIT);
        vm.stopPrank();
        assertEq(usdc.balanceOf(payer), INITIAL_BALANCE);
    }

    function test_aReplayedMessage_isRefused() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice(AMOUNT);
        ICrossChainInvoice.CrossChainPayment memory payment = _payment(invoice);
        bytes32 messageId = _send(payment);
        vm.prank(address(router));
        vm.expectRevert(abi.encodeWithSelector(ICrossChainInvoiceReceiver.AlreadyReceived.selector, messageId));
        receiver.ccipReceive(_delivered(messageId, address(sender), payment, AMOUNT));
        assertEq(usdc.balanceOf(payee), AMOUNT, "paid once");
    }

    function test_onlyTheRouter_delivers() public {
        ICrossChainInvoice.CrossChainPayment memory payment = _payment(_invoice(AMOUNT));
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(CCIPReceiver.InvalidRouter.selector, stranger));
        receiver.ccipReceive(_delivered(keccak256("m"), address(sender), payment, AMOUNT));
    }

    function test_anExpiredInvoice_leavesTheTokensRefundable() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice(AMOUNT);
        invoice.deadline = block.timestamp - 1;
        bytes32 messageId = _send(_payment(invoice));
        ICrossChainInvoiceReceiver.Received memory r = receiver.received(messageId);
        assertEq(uint8(r.outcome), uint8(ICrossChainInvoiceReceiver.Outcome.Refundable));
        assertEq(usdc.balanceOf(address(receiver)), AMOUNT);
        assertFalse(registry.isPaid(_invoiceId(invoice)));
        vm.prank(stranger);
        receiver.refund(messageId);
        assertEq(usdc.balanceOf(refundTo), AMOUNT);
        assertEq(usdc.balanceOf(payee), 0);
        vm.expectRevert(abi.encodeWithSelector(ICrossChainInvoiceReceiver.NotRefundable.selector, messageId));
        receiver.refund(messageId);
    }

    function test_anInvoicePaidMeanwhile_leavesTheTokensRefundable() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice(AMOUNT);
        _send(_payment(invoice));
        // The same payment cannot be sent twice (its authorization is spent) ...
        ICrossChainInvoice.CrossChainPayment memory again = _payment(invoice);
        bytes memory authorization = _authorization(again);
        vm.prank(relayer);
        vm.expectRevert();
        sender.payWithAuthorization(selector, address(receiver), again, authorization, GAS_LIMIT);
        // ... but another payment of the same invoice (another refund address) arrives to a paid invoice.
        again.refundTo = makeAddr("secondRefund");
        bytes32 second = _send(again);
        assertEq(uint8(receiver.received(second).outcome), uint8(ICrossChainInvoiceReceiver.Outcome.Refundable));
        receiver.refund(second);
        assertEq(usdc.balanceOf(payee), AMOUNT, "paid once");
        assertEq(usdc.balanceOf(again.refundTo), AMOUNT);
    }

    function test_theWrongAmount_leavesTheTokensRefundable() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice(AMOUNT);
        ICrossChainInvoice.CrossChainPayment memory payment = _payment(invoice);
        // What a pool would mint on arrival.
        vm.prank(owner);
        usdc.mint(address(receiver), AMOUNT - 1);
        bytes32 messageId = keccak256("short");
        vm.prank(address(router));
        receiver.ccipReceive(_delivered(messageId, address(sender), payment, AMOUNT - 1));
        assertEq(uint8(receiver.received(messageId).outcome), uint8(ICrossChainInvoiceReceiver.Outcome.Refundable));
        receiver.refund(messageId);
        assertEq(usdc.balanceOf(refundTo), AMOUNT - 1);
        assertFalse(registry.isPaid(_invoiceId(invoice)));
    }

    function test_otherThanOneToken_isRefused() public {
        ICrossChainInvoice.CrossChainPayment memory payment = _payment(_invoice(AMOUNT));
        Client.Any2EVMMessage memory message = _delivered(keccak256("none"), address(sender), payment, AMOUNT);
        message.destTokenAmounts = new Client.EVMTokenAmount[](0);
        vm.prank(address(router));
        vm.expectRevert(abi.encodeWithSelector(ICrossChainInvoiceReceiver.InvalidTokenCount.selector, 0));
        receiver.ccipReceive(message);
    }

    function test_settle_isInternalToTheReceiver() public {
        ICrossChainInvoice.CrossChainPayment memory payment = _payment(_invoice(AMOUNT));
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(ICrossChainInvoiceReceiver.OnlySelf.selector, stranger));
        receiver.settle(payment, address(usdc), AMOUNT);
    }

    function test_theAllowList_isTheOwners() public {
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, stranger));
        receiver.setAllowedSender(selector, stranger, true);
    }

    function test_aRetiredSendersPayment_isRefundable() public {
        vm.prank(owner);
        receiver.setAllowedSender(selector, address(sender), false);
        assertTrue(receiver.retiredSender(selector, address(sender)));
        IInvoiceRegistry.Invoice memory invoice = _invoice(AMOUNT);
        bytes32 messageId = _send(_payment(invoice));
        assertEq(uint8(receiver.received(messageId).outcome), uint8(ICrossChainInvoiceReceiver.Outcome.Refundable));
        assertFalse(registry.isPaid(_invoiceId(invoice)));
        receiver.refund(messageId);
        assertEq(usdc.balanceOf(refundTo), AMOUNT);
        // Allowed again, it is no longer retired.
        vm.prank(owner);
        receiver.setAllowedSender(selector, address(sender), true);
        assertFalse(receiver.retiredSender(selector, address(sender)));
    }

    function test_theAllowedSenderOnAnotherChain_isRefused() public {
        ICrossChainInvoice.CrossChainPayment memory payment = _payment(_invoice(AMOUNT));
        Client.Any2EVMMessage memory message = _delivered(keccak256("other"), address(sender), payment, AMOUNT);
        message.sourceChainSelector = selector + 1;
        vm.prank(address(router));
        vm.expectRevert(
            abi.encodeWithSelector(ICrossChainInvoiceReceiver.SenderNotAllowed.selector, selector + 1, address(sender))
        );
        receiver.ccipReceive(message);
    }

    function test_anExpiredAuthorization_isRefusedAndNothingMoves() public {
        ICrossChainInvoice.CrossChainPayment memory payment = _payment(_invoice(AMOUNT));
        bytes memory authorization = _authorization(payment);
        uint256 validBefore = block.timestamp + 1 hours;
        vm.warp(validBefore);
        vm.prank(relayer);
        vm.expectRevert(abi.encodeWithSelector(IERC3009.AuthorizationExpired.selector, validBefore, validBefore));
        sender.payWithAuthorization(selector, address(receiver), payment, authorization, GAS_LIMIT);
        assertEq(usdc.balanceOf(payer), INITIAL_BALANCE);
    }
}
