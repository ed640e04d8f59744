// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {CrossChainInvoicePayer} from "../../contracts/crosschain/CrossChainInvoicePayer.sol";
import {CrossChainInvoiceReceiver} from "../../contracts/crosschain/CrossChainInvoiceReceiver.sol";
import {LocalCcipRouter} from "../../contracts/crosschain/local/LocalCcipRouter.sol";
import {LocalRmn} from "../../contracts/crosschain/local/LocalRmn.sol";
import {ICrossChainInvoice} from "../../contracts/interfaces/ICrossChainInvoice.sol";
import {ICrossChainInvoiceReceiver} from "../../contracts/interfaces/ICrossChainInvoiceReceiver.sol";
import {IInvoiceRegistry} from "../../contracts/interfaces/IInvoiceRegistry.sol";
import {InvoiceRegistry} from "../../contracts/registry/InvoiceRegistry.sol";
import {CrossChainStablecoin} from "../../contracts/tokens/CrossChainStablecoin.sol";
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

/// @notice Shared fixture of the cross-chain tests: two local "chains", A (the payer's) and B (the invoice's),
/// joined by the local CCIP stand-in (one router each, the relay being this test) with the real token pools,
/// token admin registries and rate limits; the registry on B allows the receiver as its CrossChain settler
/// and the receiver allows A's payer contract. EIP-3009 authorizations are hashed here from the EIP text.
abstract contract CrossChainBase is Test {
    uint64 internal constant A = 1111;
    uint64 internal constant B = 2222;
    uint256 internal constant AMOUNT = 10e6;
    uint256 internal constant INITIAL_BALANCE = 1000e6;
    uint256 internal constant GAS_LIMIT = 500_000;
    uint128 internal constant CAPACITY_A_TO_B = 50e6;
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
    address internal stranger = makeAddr("stranger");
    address internal refundTo = makeAddr("refundTo");
    address internal payer;
    uint256 internal payerKey;
    address internal issuer;
    uint256 internal issuerKey;

    function setUp() public virtual {
        vm.warp(1_750_000_000);
        (payer, payerKey) = makeAddrAndKey("payer");
        (issuer, issuerKey) = makeAddrAndKey("issuer");
        a = _chain(A);
        b = _chain(B);
        _lane(a, B, b, CAPACITY_A_TO_B);
        _lane(b, A, a, 15e6);
        registry = new InvoiceRegistry(owner);
        receiver = new CrossChainInvoiceReceiver(address(b.router), registry, owner);
        sender = new CrossChainInvoicePayer(a.router, IERC20(address(a.token)));
        vm.startPrank(owner);
        registry.setSettler(address(receiver), IInvoiceRegistry.Path.CrossChain);
        receiver.setAllowedSender(A, address(sender), true);
        a.token.mint(payer, INITIAL_BALANCE);
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

    /// @dev An invoice on B of `amount` of B's token until `deadline`, signed by `issuer_`'s key `key`.
    function _payment(uint256 amount, uint256 deadline, address issuer_, uint256 key)
        internal
        view
        returns (ICrossChainInvoice.CrossChainPayment memory p)
    {
        IInvoiceRegistry.Invoice memory invoice = IInvoiceRegistry.Invoice({
            issuer: issuer_,
            payee: payee,
            token: address(b.token),
            amount: amount,
            deadline: deadline,
            resource: keccak256("https://b.example/report"),
            network: registry.network(),
            salt: keccak256(abi.encode(amount, deadline))
        });
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, registry.invoiceId(invoice));
        p = ICrossChainInvoice.CrossChainPayment({
            invoice: invoice, issuerSignature: abi.encodePacked(r, s, v), payer: payer, refundTo: refundTo
        });
    }

    function _payment(uint256 amount, uint256 deadline)
        internal
        view
        returns (ICrossChainInvoice.CrossChainPayment memory)
    {
        return _payment(amount, deadline, issuer, issuerKey);
    }

    /// @dev An invoice of AMOUNT due in an hour.
    function _payment() internal view returns (ICrossChainInvoice.CrossChainPayment memory) {
        return _payment(AMOUNT, block.timestamp + 1 hours);
    }

    /// @dev The payer's EIP-3009 authorization on A of `p` to the payer contract, for `gasLimit` on B.
    function _authorization(ICrossChainInvoice.CrossChainPayment memory p, uint256 gasLimit)
        internal
        view
        returns (bytes memory)
    {
        bytes32 nonce = sender.paymentNonce(B, address(receiver), p, gasLimit);
        uint256 validBefore = block.timestamp + 600;
        bytes32 structHash =
            keccak256(abi.encode(RECEIVE_TYPEHASH, payer, address(sender), p.invoice.amount, 0, validBefore, nonce));
        bytes32 digest =
            keccak256(abi.encodePacked("\x19\x01", IERC20Permit(address(a.token)).DOMAIN_SEPARATOR(), structHash));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(payerKey, digest);
        return abi.encode(0, validBefore, abi.encodePacked(r, s, v));
    }

    function _authorization(ICrossChainInvoice.CrossChainPayment memory p) internal view returns (bytes memory) {
        return _authorization(p, GAS_LIMIT);
    }

    /// @dev The relayer submits `p` on A; returns the message for B.
    function _send(ICrossChainInvoice.CrossChainPayment memory p) internal returns (LocalCcipRouter.Message memory) {
        bytes memory authorization = _authorization(p);
        vm.recordLogs();
        vm.prank(relayer);
        sender.payWithAuthorization(B, address(receiver), p, authorization, GAS_LIMIT);
        return _sentMessage();
    }

    /// @dev The message A's router emitted in the recorded logs.
    function _sentMessage() internal returns (LocalCcipRouter.Message memory) {
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i = 0; i < logs.length; ++i) {
            if (logs[i].emitter == address(a.router) && logs[i].topics[0] == LocalCcipRouter.MessageSent.selector) {
                return abi.decode(logs[i].data, (LocalCcipRouter.Message));
            }
        }
        revert("no message");
    }

    /// @dev Sends `p` from A and executes it on B.
    function _sendAndExecute(ICrossChainInvoice.CrossChainPayment memory p) internal returns (bytes32) {
        LocalCcipRouter.Message memory message = _send(p);
        b.router.execute(message);
        return message.messageId;
    }

    /// @dev A message as B's router hands it to the receiver, from A's payer contract, with `amount` of `token`.
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

    /// @dev Mints what B's pool would have minted and hands `m` to the receiver as B's router.
    function _deliver(Client.Any2EVMMessage memory m) internal {
        for (uint256 i = 0; i < m.destTokenAmounts.length; ++i) {
            if (m.destTokenAmounts[i].token == address(b.token)) {
                vm.prank(owner);
                b.token.mint(address(receiver), m.destTokenAmounts[i].amount);
            }
        }
        vm.prank(address(b.router));
        receiver.ccipReceive(m);
    }

    function _outcome(bytes32 messageId) internal view returns (ICrossChainInvoiceReceiver.Outcome) {
        return receiver.received(messageId).outcome;
    }

    function _assertOutcome(bytes32 messageId, ICrossChainInvoiceReceiver.Outcome expected) internal view {
        assertEq(uint8(_outcome(messageId)), uint8(expected), "outcome");
    }
}
