// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {VoucherChannels} from "../contracts/channel/VoucherChannels.sol";
import {PaymentEscrow} from "../contracts/escrow/PaymentEscrow.sol";
import {IInvoiceRegistry} from "../contracts/interfaces/IInvoiceRegistry.sol";
import {InvoiceRegistry} from "../contracts/registry/InvoiceRegistry.sol";
import {TestStablecoin} from "../contracts/tokens/TestStablecoin.sol";
import {QuittanceScript} from "./QuittanceScript.sol";
import {console2} from "forge-std/Script.sol";

/// @notice Deploys Quittance's contracts at the same CREATE2 addresses as `quittance deploy`: through the
/// deterministic deployment proxy (forge routes `new C{salt: s}(...)` through it when broadcasting), with the
/// salt `keccak256("quittance v1")` and the registry's owner as constructor argument. On local chains (31337,
/// 1337) the test stable-coin too, and the accounts listed in FUND get 1,000 test dollars each. What is deployed already is skipped; the escrow is allowed as the
/// registry's settler if it is not yet and the broadcaster is the owner. `quittance deploy --dry-run` or a
/// plain `quittance deploy` afterwards checks the code and writes the manifest.
///
///     forge script script/Deploy.s.sol --rpc-url $RPC --private-key $KEY --broadcast
///     (OWNER=0x... to name another owner than the broadcaster)
contract Deploy is QuittanceScript {
    uint256 internal constant FUNDING = 1000e6;

    function run() external {
        vm.startBroadcast();
        (, address broadcaster,) = vm.readCallers();
        address owner = vm.envOr("OWNER", broadcaster);

        address registry =
            _deploy("InvoiceRegistry", abi.encodePacked(type(InvoiceRegistry).creationCode, abi.encode(owner)));
        address escrow =
            _deploy("PaymentEscrow", abi.encodePacked(type(PaymentEscrow).creationCode, abi.encode(registry)));
        _deploy("VoucherChannels", type(VoucherChannels).creationCode);
        if (block.chainid == 31_337 || block.chainid == 1337) {
            address token = _deploy(
                "TestStablecoin",
                abi.encodePacked(type(TestStablecoin).creationCode, abi.encode("USD Coin", "USDC", "2", owner))
            );
            // FUND=0xa,0xb: accounts topped up to 1,000 test dollars each.
            address[] memory fund = vm.envOr("FUND", ",", new address[](0));
            for (uint256 i; i < fund.length && broadcaster == owner; ++i) {
                uint256 held = TestStablecoin(token).balanceOf(fund[i]);
                if (held < FUNDING) {
                    TestStablecoin(token).mint(fund[i], FUNDING - held);
                    console2.log("funded", fund[i]);
                }
            }
        }

        IInvoiceRegistry.Path kind = IInvoiceRegistry(registry).settlerKind(escrow);
        if (kind != IInvoiceRegistry.Path.Escrow && broadcaster == owner) {
            IInvoiceRegistry(registry).setSettler(escrow, IInvoiceRegistry.Path.Escrow);
            console2.log("the registry now allows the escrow as a settler", escrow);
        }
        vm.stopBroadcast();
    }
}
