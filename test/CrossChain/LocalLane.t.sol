// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {CrossChainInvoicePayer} from "../../contracts/crosschain/CrossChainInvoicePayer.sol";
import {CrossChainInvoiceReceiver} from "../../contracts/crosschain/CrossChainInvoiceReceiver.sol";
import {LocalCcipRouter} from "../../contracts/crosschain/local/LocalCcipRouter.sol";
import {LocalRmn} from "../../contracts/crosschain/local/LocalRmn.sol";
import {ICrossChainInvoice} from "../../contracts/interfaces/ICrossChainInvoice.sol";
import {ICrossChainInvoicePayer} from "../../contracts/interfaces/ICrossChainInvoicePayer.sol";
import {ICrossChainInvoiceReceiver} from "../../contracts/interfaces/ICrossChainInvoiceReceiver.sol";
import {IERC3009} from "../../contracts/interfaces/IERC3009.sol";
import {IInvoiceRegistry} from "../../contracts/interfaces/IInvoiceRegistry.sol";
import {InvoiceRegistry} from "../../contracts/registry/InvoiceRegistry.sol";
import {CrossChainStablecoin} from "../../contracts/tokens/CrossChainStablecoin.sol";
import {MockBlacklistToken} from "../mocks/MockBlacklistToken.sol";
import {MockGasHungryWallet} from "../mocks/MockGasHungryWallet.sol";
import {IBurnMintERC20} from "@chainlink/contracts-ccip/contracts/interfaces/IBurnMintERC20.sol";
import {ITokenAdminRegistry} from "@chainlink/contracts-ccip/contracts/interfaces/ITokenAdminRegistry.sol";
import {Client} from "@chainlink/contracts-ccip/contracts/libraries/Client.sol";
import {RateLimiter} from "@chainlink/contracts-ccip/contracts/libraries/RateLimiter.sol";
import {BurnMintTokenPool} from "@chainlink/contracts-ccip/contracts/pools/BurnMintTokenPool.sol";
import {TokenPool} from "@chainlink/contracts-ccip/contracts/pools/TokenPool.sol";
import {
    RegistryModuleOwnerCustom
} from "@chainlink/contracts-ccip/contracts/tokenAdminRegistry/RegistryModuleOwnerCustom.sol";
import {TokenAdminRegistry} from "@chainlink/contracts-ccip/contracts/tokenAdminRegistry/TokenAdminRegistry.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {Test} from "forge-std/Test.sol";
import {Vm} from "forge-std/Vm.sol";

/// @notice Two local "chains" joined by the local CCIP stand-in (one router each, the relay being this test),
/// with the real token pools, token admin registries and rate limits: an invoice on B paid from A's funds,
/// rate limits exhausted both ways, replays, a receiver that refuses, and a settlement that fails on arrival.
contract LocalLaneTest is Test {
    uint64 internal constant A = 1111;
    uint64 internal constant B = 2222;
    uint256 internal constant AMOUNT = 10e6;
    bytes32 internal constant RECEIVE_TYPEHASH = keccak256(
        "ReceiveWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
    );

    struct Side {
        LocalCcipRouter router;
        CrossChainStablecoin token;
        BurnMintTokenPool pool;
    }

    Side internal a;
    Side internal b;
    InvoiceRegistry internal registry;
    CrossChainInvoicePayer internal sender;
    CrossChainInvoiceReceiver internal receiver;

    address internal owner = makeAddr("owner");
    address internal payee = makeAddr("payee");
    address internal relayer = makeAddr("relayer");
    address internal refundTo = makeAddr("refundTo");
    address internal payer;
    uint256 internal payerKey;
    address internal issuer;
    uint256 internal issuerKey;

    function setUp() public {
        vm.warp(1_750_000_000);
        (payer, payerKey) = makeAddrAndKey("payer");
        (issuer, issuerKey) = makeAddrAndKey("issuer");
        a = _chain(A);
        b = _chain(B);
        _lane(a, B, b, 50e6);
        _lane(b, A, a, 15e6);
        registry = new InvoiceRegistry(owner);
        receiver = new CrossChainInvoiceReceiver(address(b.router), registry, owner);
        sender = new CrossChainInvoicePayer(a.router, IERC20(address(a.token)));
        vm.startPrank(owner);
        registry.setSettler(address(receiver), IInvoiceRegistry.Path.CrossChain);
        receiver.setAllowedSender(A, address(sender), true);
        a.token.mint(payer, 1000e6);
        vm.stopPrank();
    }

    /// @dev A chain's CCIP side: registry and module, the router stand-in, the token registered the CCT way
    /// with its BurnMintTokenPool.
    function _chain(uint64 selector) internal returns (Side memory c) {
        TokenAdminRegistry tokens = new TokenAdminRegistry();
        RegistryModuleOwnerCustom module = new RegistryModuleOwnerCustom(address(tokens));
        tokens.addRegistryModule(address(module));
        c.router = new LocalCcipRouter(selector, ITokenAdminRegistry(address(tokens)), address(this));
        c.token = new CrossChainStablecoin("Quittance USD", "QUSD", "2", owner);
        c.pool = new BurnMintTokenPool(
            IBurnMintERC20(address(c.token)), 6, address(0), address(new LocalRmn()), address(c.router)
        );
        vm.startPrank(owner);
        module.registerAdminViaOwner(address(c.token));
        tokens.acceptAdminRole(address(c.token));
        tokens.setPool(address(c.token), address(c.pool));
        c.token.setMintAndBurnRoles(address(c.pool), true);
        vm.stopPrank();
    }

    /// @dev Opens `from`'s lane to `remote`, with `capacity` (refilling a token a second) both ways.
    function _lane(Side memory from, uint64 remote, Side memory to, uint128 capacity) internal {
        bytes[] memory pools = new bytes[](1);
        pools[0] = abi.encode(address(to.pool));
        TokenPool.ChainUpdate[] memory lanes = new TokenPool.ChainUpdate[](1);
        RateLimiter.Config memory limit = RateLimiter.Config({isEnabled: true, capacity: capacity, rate: 1e6});
        lanes[0] = TokenPool.ChainUpdate({
            remoteChainSelector: remote,
            remotePoolAddresses: pools,
            remoteTokenAddress: abi.encode(address(to.token)),
            outboundRateLimiterConfig: limit,
            inboundRateLimiterConfig: limit
        });
        from.pool.applyChainUpdates(new uint64[](0), lanes);
        from.router.setLane(remote, true);
    }

    function _payment(uint256 amount, uint256 deadline)
        internal
        view
        returns (ICrossChainInvoice.CrossChainPayment memory p)
    {
        IInvoiceRegistry.Invoice memory invoice = IInvoiceRegistry.Invoice({
            issuer: issuer,
            payee: payee,
            token: address(b.token),
            amount: amount,
            deadline: deadline,
            resource: keccak256("https://b.example/report"),
            network: registry.network(),
            salt: keccak256(abi.encode(amount, deadline))
        });
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(issuerKey, registry.invoiceId(invoice));
        p = ICrossChainInvoice.CrossChainPayment({
            invoice: invoice, issuerSignature: abi.encodePacked(r, s, v), payer: payer, refundTo: refundTo
        });
    }

    /// @dev The payer's EIP-3009 authorization on A of `p` to the sender.
    function _authorization(ICrossChainInvoice.CrossChainPayment memory p) internal view returns (bytes memory) {
        bytes32 nonce = sender.paymentNonce(B, address(receiver), p, 500_000);
        uint256 validBefore = block.timestamp + 600;
        bytes32 structHash =
            keccak256(abi.encode(RECEIVE_TYPEHASH, payer, address(sender), p.invoice.amount, 0, validBefore, nonce));
        bytes32 digest =
            keccak256(abi.encodePacked("\x19\x01", IERC20Permit(address(a.token)).DOMAIN_SEPARATOR(), structHash));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(payerKey, digest);
        return abi.encode(0, validBefore, abi.encodePacked(r, s, v));
    }

    /// @dev The relayer submits `p` on A; returns the message for B.
    function _send(ICrossChainInvoice.CrossChainPayment memory p) internal returns (LocalCcipRouter.Message memory) {
        bytes memory authorization = _authorization(p);
        vm.recordLogs();
        vm.prank(relayer);
        sender.payWithAuthorization(B, address(receiver), p, authorization, 500_000);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i = 0; i < logs.length; ++i) {
            if (logs[i].emitter == address(a.router) && logs[i].topics[0] == LocalCcipRouter.MessageSent.selector) {
                return abi.decode(logs[i].data, (LocalCcipRouter.Message));
            }
        }
        revert("no message");
    }

    function test_anInvoiceOnB_isPaidFromFundsOnA() public {
        ICrossChainInvoice.CrossChainPayment memory p = _payment(AMOUNT, block.timestamp + 1 hours);
        uint256 supplyA = a.token.totalSupply();
        LocalCcipRouter.Message memory message = _send(p);
        assertEq(a.token.totalSupply(), supplyA - AMOUNT, "burned on A");
        assertEq(a.token.balanceOf(payer), 1000e6 - AMOUNT);
        b.router.execute(message);
        assertEq(b.token.balanceOf(payee), AMOUNT, "minted on B and paid to the payee");
        IInvoiceRegistry.Record memory record = registry.recordOf(registry.invoiceId(p.invoice));
        assertEq(record.payer, payer);
        assertEq(uint8(record.path), uint8(IInvoiceRegistry.Path.CrossChain));
    }

    function test_theOutboundRateLimit_stopsASendAndNothingMoves() public {
        _send(_payment(45e6, block.timestamp + 1 hours));
        ICrossChainInvoice.CrossChainPayment memory p = _payment(AMOUNT, block.timestamp + 1 hours);
        bytes memory authorization = _authorization(p);
        // The lane's bucket holds 5 tokens and refills one a second.
        vm.prank(relayer);
        vm.expectRevert(abi.encodeWithSelector(RateLimiter.TokenRateLimitReached.selector, 5, 5e6, address(a.token)));
        sender.payWithAuthorization(B, address(receiver), p, authorization, 500_000);
        assertEq(a.token.balanceOf(payer), 1000e6 - 45e6);
    }

    function test_theInboundRateLimit_delaysExecutionUntilRefilled() public {
        b.router.execute(_send(_payment(AMOUNT, block.timestamp + 1 hours)));
        LocalCcipRouter.Message memory second = _send(_payment(AMOUNT, block.timestamp + 2 hours));
        vm.expectRevert(abi.encodeWithSelector(RateLimiter.TokenRateLimitReached.selector, 5, 5e6, address(b.token)));
        b.router.execute(second);
        assertFalse(b.router.executed(second.messageId));
        vm.warp(block.timestamp + 5);
        b.router.execute(second);
        assertEq(b.token.balanceOf(payee), 2 * AMOUNT);
    }

    function test_aMessage_executesOnce() public {
        LocalCcipRouter.Message memory message = _send(_payment(AMOUNT, block.timestamp + 1 hours));
        b.router.execute(message);
        vm.expectRevert(abi.encodeWithSelector(LocalCcipRouter.AlreadyExecuted.selector, message.messageId));
        b.router.execute(message);
        assertEq(b.token.balanceOf(payee), AMOUNT);
    }

    function test_onlyTheRelay_executes_onTheRightLane() public {
        LocalCcipRouter.Message memory message = _send(_payment(AMOUNT, block.timestamp + 1 hours));
        vm.prank(relayer);
        vm.expectRevert();
        b.router.execute(message);
        vm.expectRevert(abi.encodeWithSelector(LocalCcipRouter.WrongLane.selector, A, B));
        a.router.execute(message);
    }

    function test_aReceiverThatRefuses_undoesTheExecution_whichCanBeRetried() public {
        // A sender that never was allowed is refused: nothing is minted on B, and CCIP can execute it again.
        CrossChainInvoicePayer other = new CrossChainInvoicePayer(a.router, IERC20(address(a.token)));
        CrossChainInvoicePayer allowed = sender;
        sender = other;
        LocalCcipRouter.Message memory message = _send(_payment(AMOUNT, block.timestamp + 1 hours));
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

    function test_aSettlementThatFailsOnArrival_isRefundedOnB() public {
        LocalCcipRouter.Message memory message = _send(_payment(AMOUNT, block.timestamp + 60));
        vm.warp(block.timestamp + 61); // the invoice expires while the message is in flight
        b.router.execute(message);
        assertEq(b.token.balanceOf(payee), 0);
        receiver.refund(message.messageId);
        assertEq(b.token.balanceOf(refundTo), AMOUNT);
    }

    function test_theFee_isPaidFromTheValue_andTooLittleIsRefused() public {
        a.router.setFee(0.01 ether);
        ICrossChainInvoice.CrossChainPayment memory p = _payment(AMOUNT, block.timestamp + 1 hours);
        bytes memory authorization = _authorization(p);
        vm.deal(relayer, 1 ether);
        vm.prank(relayer);
        vm.expectRevert(
            abi.encodeWithSelector(ICrossChainInvoicePayer.InsufficientFee.selector, 0.01 ether, 0.01 ether - 1)
        );
        sender.payWithAuthorization{value: 0.01 ether - 1}(B, address(receiver), p, authorization, 500_000);
        assertEq(a.token.balanceOf(payer), 1000e6, "nothing moved");
        vm.prank(relayer);
        sender.payWithAuthorization{value: 0.05 ether}(B, address(receiver), p, authorization, 500_000);
        assertEq(relayer.balance, 1 ether - 0.01 ether, "the fee kept, the rest returned");
        assertEq(address(a.router).balance, 0.01 ether);
    }

    function test_aSubmitterCannotChooseAnotherGasLimit() public {
        ICrossChainInvoice.CrossChainPayment memory p = _payment(AMOUNT, block.timestamp + 1 hours);
        bytes memory authorization = _authorization(p); // signed for 500,000 gas on B
        // Too little gas for the receiver: the settlement would fail on B and the tokens become a refund.
        vm.prank(relayer);
        vm.expectRevert(abi.encodeWithSelector(IERC3009.InvalidAuthorizationSignature.selector, payer));
        sender.payWithAuthorization(B, address(receiver), p, authorization, 50_000);
        assertEq(a.token.balanceOf(payer), 1000e6, "nothing moved");
    }

    // ---- old-code demonstrations (issue 16, L-5 / L-6) ----

    function _raw(bytes32 id, ICrossChainInvoice.CrossChainPayment memory p, address token, uint256 amount)
        internal
        view
        returns (Client.Any2EVMMessage memory m)
    {
        Client.EVMTokenAmount[] memory tokens = new Client.EVMTokenAmount[](1);
        tokens[0] = Client.EVMTokenAmount({token: token, amount: amount});
        m = Client.Any2EVMMessage({
            messageId: id,
            sourceChainSelector: A,
            sender: abi.encode(address(sender)),
            data: abi.encode(p),
            destTokenAmounts: tokens
        });
    }

    function test_L5_aZeroRefundAddress_isRefusedAtThePayer() public {
        ICrossChainInvoice.CrossChainPayment memory p = _payment(AMOUNT, block.timestamp + 1 hours);
        p.refundTo = address(0);
        vm.startPrank(payer);
        a.token.approve(address(sender), AMOUNT);
        vm.expectRevert(abi.encodeWithSelector(ICrossChainInvoice.InvalidRefundTo.selector, address(0)));
        sender.pay(B, address(receiver), p, 500_000);
        vm.stopPrank();
    }

    function test_L5_aZeroRefundAddressInAMessage_fallsBackToThePayer() public {
        ICrossChainInvoice.CrossChainPayment memory p = _payment(AMOUNT, block.timestamp - 1);
        p.refundTo = address(0);
        vm.prank(owner);
        b.token.mint(address(receiver), AMOUNT);
        vm.prank(address(b.router));
        receiver.ccipReceive(_raw(keccak256("zero"), p, address(b.token), AMOUNT));
        receiver.refund(keccak256("zero"));
        assertEq(b.token.balanceOf(payer), AMOUNT);
    }

    function test_L5_aBlacklistedRefundAddress_canRedirectItsRefund() public {
        MockBlacklistToken bad = new MockBlacklistToken(owner);
        ICrossChainInvoice.CrossChainPayment memory p = _payment(AMOUNT, block.timestamp + 1 hours);
        bad.mint(address(receiver), AMOUNT);
        vm.prank(address(b.router));
        receiver.ccipReceive(_raw(keccak256("bl"), p, address(bad), AMOUNT)); // wrong token: refundable
        vm.prank(owner);
        bad.setBlacklisted(refundTo, true);
        vm.expectRevert(abi.encodeWithSelector(MockBlacklistToken.Blacklisted.selector, refundTo));
        receiver.refund(keccak256("bl"));
        address elsewhere = makeAddr("elsewhere");
        vm.prank(refundTo);
        (bool ok,) =
            address(receiver).call(abi.encodeWithSignature("refundTo(bytes32,address)", keccak256("bl"), elsewhere));
        assertTrue(ok, "the refund recipient redirects its refund");
        assertEq(bad.balanceOf(elsewhere), AMOUNT);
    }

    function test_L6_aSenderRemovedWhileInFlight_leavesTheTokensRefundable() public {
        LocalCcipRouter.Message memory message = _send(_payment(AMOUNT, block.timestamp + 1 hours));
        vm.prank(owner);
        receiver.setAllowedSender(A, address(sender), false);
        b.router.execute(message); // burned on A: must not revert for ever on B
        receiver.refund(message.messageId);
        assertEq(b.token.balanceOf(refundTo), AMOUNT);
    }

    function test_L6_aReceiverRemovedAsSettler_leavesTheTokensRefundable() public {
        LocalCcipRouter.Message memory message = _send(_payment(AMOUNT, block.timestamp + 1 hours));
        vm.prank(owner);
        registry.setSettler(address(receiver), IInvoiceRegistry.Path.None);
        b.router.execute(message);
        receiver.refund(message.messageId);
        assertEq(b.token.balanceOf(refundTo), AMOUNT);
    }

    function test_L6_ownership_isTwoStep() public {
        address next = makeAddr("next");
        vm.prank(owner);
        receiver.transferOwnership(next);
        assertEq(receiver.owner(), owner, "still the owner until accepted");
    }

    function test_L6_starvingSettle_cannotTurnAPayableInvoiceIntoARefund() public {
        MockGasHungryWallet wallet = new MockGasHungryWallet(issuer, 60_000);
        ICrossChainInvoice.CrossChainPayment memory p = _payment(AMOUNT, block.timestamp + 1 hours);
        p.invoice.issuer = address(wallet);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(issuerKey, registry.invoiceId(p.invoice));
        p.issuerSignature = abi.encodePacked(r, s, v);
        vm.prank(owner);
        b.token.mint(address(receiver), AMOUNT);
        Client.Any2EVMMessage memory m = _raw(keccak256("starved"), p, address(b.token), AMOUNT);
        // The least gas with which the delivery goes through.
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
            uint8(receiver.received(m.messageId).outcome),
            uint8(ICrossChainInvoiceReceiver.Outcome.Paid),
            string.concat("starved into a refund with gas ", vm.toString(hi))
        );
    }

    function test_aChainWithoutALane_isRefused() public {
        ICrossChainInvoice.CrossChainPayment memory p = _payment(AMOUNT, block.timestamp + 1 hours);
        bytes memory authorization = _authorization(p);
        a.router.setLane(B, false);
        vm.prank(relayer);
        vm.expectRevert(abi.encodeWithSelector(ICrossChainInvoicePayer.UnsupportedChain.selector, B));
        sender.payWithAuthorization(B, address(receiver), p, authorization, 500_000);
        assertEq(a.token.balanceOf(payer), 1000e6);
    }
}
