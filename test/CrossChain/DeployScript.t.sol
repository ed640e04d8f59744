// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {CrossChainInvoicePayer} from "../../contracts/crosschain/CrossChainInvoicePayer.sol";
import {CrossChainInvoiceReceiver} from "../../contracts/crosschain/CrossChainInvoiceReceiver.sol";
import {IInvoiceRegistry} from "../../contracts/interfaces/IInvoiceRegistry.sol";
import {InvoiceRegistry} from "../../contracts/registry/InvoiceRegistry.sol";
import {TestStablecoin} from "../../contracts/tokens/TestStablecoin.sol";
import {DeployCrossChain} from "../../script/DeployCrossChain.s.sol";
import {CCIPLocalSimulator} from "@chainlink/local/src/ccip/CCIPLocalSimulator.sol";
import {Test} from "forge-std/Test.sol";

/// @notice The cross-chain deployment script on a CCIP router (chainlink-local's): it deploys the sender and
/// the receiver, makes the receiver the registry's CrossChain settler, allows the listed senders, and running
/// it again changes nothing.
contract DeployCrossChainScriptTest is Test {
    address internal router;
    TestStablecoin internal token;
    InvoiceRegistry internal registry;
    address internal remoteSender = makeAddr("remote sender");
    uint64 internal constant REMOTE = 5_009_297_550_715_157_269;

    function setUp() public {
        CCIPLocalSimulator simulator = new CCIPLocalSimulator();
        (bool ok, bytes memory out) = address(simulator).staticcall(abi.encodeCall(simulator.configuration, ()));
        assertTrue(ok);
        (, router) = abi.decode(out, (uint64, address));
        token = new TestStablecoin("USD Coin", "USDC", "2", address(this));
        // The script broadcasts as forge's default sender: it owns the registry here.
        registry = new InvoiceRegistry(DEFAULT_SENDER);
    }

    /// @dev The configuration `run()` reads from ROUTER, TOKEN, REGISTRY, ALLOW_SELECTORS and ALLOW_SENDERS.
    function _config(address registry_) internal view returns (DeployCrossChain.Config memory config) {
        config.router = router;
        config.token = address(token);
        config.registry = registry_;
        config.allowSelectors = new uint64[](1);
        config.allowSelectors[0] = REMOTE;
        config.allowSenders = new address[](1);
        config.allowSenders[0] = remoteSender;
    }

    function test_deploy_DeploysAndConfiguresBothContracts() public {
        (address sender, address receiver) = new DeployCrossChain().deploy(_config(address(registry)));
        assertEq(address(CrossChainInvoicePayer(sender).router()), router);
        assertEq(address(CrossChainInvoicePayer(sender).token()), address(token));
        assertEq(CrossChainInvoiceReceiver(receiver).getRouter(), router);
        assertEq(address(CrossChainInvoiceReceiver(receiver).registry()), address(registry));
        assertEq(CrossChainInvoiceReceiver(receiver).owner(), DEFAULT_SENDER);
        assertTrue(registry.settlerKind(receiver) == IInvoiceRegistry.Path.CrossChain);
        assertTrue(CrossChainInvoiceReceiver(receiver).allowedSender(REMOTE, remoteSender));
        assertFalse(CrossChainInvoiceReceiver(receiver).allowedSender(REMOTE + 1, remoteSender));

        // Again: the same addresses, nothing deployed or configured twice.
        (address again, address receiverAgain) = new DeployCrossChain().deploy(_config(address(registry)));
        assertEq(again, sender);
        assertEq(receiverAgain, receiver);
    }

    function test_deploy_DeploysOnlyTheSenderWithoutARegistry() public {
        (address sender, address receiver) = new DeployCrossChain().deploy(_config(address(0)));
        assertGt(sender.code.length, 0);
        assertEq(receiver, address(0));
    }

    function test_deploy_LeavesTheSettlerToTheRegistryOwner() public {
        InvoiceRegistry foreign = new InvoiceRegistry(makeAddr("someone else"));
        (, address receiver) = new DeployCrossChain().deploy(_config(address(foreign)));
        assertTrue(foreign.settlerKind(receiver) == IInvoiceRegistry.Path.None);
        assertTrue(CrossChainInvoiceReceiver(receiver).allowedSender(REMOTE, remoteSender), "the receiver is ours");
    }

    function test_deploy_RevertWhen_TheAllowListIsUneven() public {
        DeployCrossChain.Config memory config = _config(address(registry));
        config.allowSenders = new address[](2);
        DeployCrossChain script = new DeployCrossChain();
        vm.expectRevert(abi.encodeWithSelector(DeployCrossChain.AllowListMismatch.selector, 1, 2));
        script.deploy(config);
    }
}
