// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {CrossChainInvoicePayer} from "../contracts/crosschain/CrossChainInvoicePayer.sol";
import {CrossChainInvoiceReceiver} from "../contracts/crosschain/CrossChainInvoiceReceiver.sol";
import {IInvoiceRegistry} from "../contracts/interfaces/IInvoiceRegistry.sol";
import {QuittanceScript} from "./QuittanceScript.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {console2} from "forge-std/Script.sol";

/// @notice Deploys Quittance's cross-chain invoice contracts on a network that has CCIP, on the network's own
/// router and a Cross-Chain Token whose pool its CCIP admin registered and configured (see the README):
/// the sender (`CrossChainInvoicePayer`) always, the receiver (`CrossChainInvoiceReceiver`) when the
/// network has Quittance's registry. It makes the receiver the registry's `CrossChain` settler when the
/// broadcaster owns the registry, and allows the senders of other networks when it owns the receiver. What
/// is there already is skipped, so running it again (with the other networks' senders) only configures.
///
///     ROUTER=0x… TOKEN=0x… REGISTRY=0x… forge script script/DeployCrossChain.s.sol --rpc-url $RPC \
///         --private-key $KEY --broadcast
///     (OWNER=0x… for the receiver's allow-list owner; ALLOW_SELECTORS=<selector>,… ALLOW_SENDERS=0x…,…: the
///     senders allowed, one per source chain selector)
contract DeployCrossChain is QuittanceScript {
    /// @notice What to deploy on, and whom to allow.
    struct Config {
        /// @dev The network's CCIP router.
        address router;
        /// @dev The Cross-Chain Token payments move in.
        address token;
        /// @dev Quittance's registry (zero: deploy the sender only).
        address registry;
        /// @dev The receiver's owner (zero: the broadcaster).
        address owner;
        /// @dev The senders to allow, one per source chain selector.
        uint64[] allowSelectors;
        address[] allowSenders;
    }

    /// @notice The selectors and senders to allow have different lengths.
    error AllowListMismatch(uint256 selectors, uint256 senders);

    /// @notice Reads the configuration from the environment (see above) and deploys.
    function run() external returns (address sender, address receiver) {
        uint256[] memory selectors = vm.envOr("ALLOW_SELECTORS", ",", new uint256[](0));
        uint64[] memory allowSelectors = new uint64[](selectors.length);
        for (uint256 i; i < selectors.length; ++i) {
            allowSelectors[i] = uint64(selectors[i]);
        }
        return deploy(
            Config({
                router: vm.envAddress("ROUTER"),
                token: vm.envAddress("TOKEN"),
                registry: vm.envOr("REGISTRY", address(0)),
                owner: vm.envOr("OWNER", address(0)),
                allowSelectors: allowSelectors,
                allowSenders: vm.envOr("ALLOW_SENDERS", ",", new address[](0))
            })
        );
    }

    /// @notice Deploys and configures what `config` says, skipping what is done already.
    function deploy(Config memory config) public returns (address sender, address receiver) {
        if (config.allowSelectors.length != config.allowSenders.length) {
            revert AllowListMismatch(config.allowSelectors.length, config.allowSenders.length);
        }
        vm.startBroadcast();
        (, address broadcaster,) = vm.readCallers();
        sender = _deploy(
            "CrossChainInvoicePayer",
            abi.encodePacked(type(CrossChainInvoicePayer).creationCode, abi.encode(config.router, config.token))
        );
        if (config.registry != address(0)) {
            address owner = config.owner == address(0) ? broadcaster : config.owner;
            receiver = _deploy(
                "CrossChainInvoiceReceiver",
                abi.encodePacked(
                    type(CrossChainInvoiceReceiver).creationCode, abi.encode(config.router, config.registry, owner)
                )
            );
            _configure(CrossChainInvoiceReceiver(receiver), IInvoiceRegistry(config.registry), broadcaster, config);
        }
        vm.stopBroadcast();
    }

    function _configure(
        CrossChainInvoiceReceiver receiver,
        IInvoiceRegistry registry,
        address broadcaster,
        Config memory config
    ) internal {
        if (
            registry.settlerKind(address(receiver)) != IInvoiceRegistry.Path.CrossChain
                && Ownable(address(registry)).owner() == broadcaster
        ) {
            registry.setSettler(address(receiver), IInvoiceRegistry.Path.CrossChain);
            console2.log("the registry now allows the receiver as its CrossChain settler");
        }
        for (uint256 i; i < config.allowSelectors.length && receiver.owner() == broadcaster; ++i) {
            if (!receiver.allowedSender(config.allowSelectors[i], config.allowSenders[i])) {
                receiver.setAllowedSender(config.allowSelectors[i], config.allowSenders[i], true);
                console2.log("allowed sender", config.allowSenders[i]);
            }
        }
    }
}
