// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ICrossChainInvoice} from "../../contracts/interfaces/ICrossChainInvoice.sol";
import {CrossChainBase} from "../base/CrossChainBase.sol";
import {IRouterClient} from "@chainlink/contracts-ccip/contracts/interfaces/IRouterClient.sol";

/// @notice `quote`: the router's fee of the very message `payWithAuthorization` would send.
contract QuoteTest is CrossChainBase {
    function test_quote_isTheRoutersFee() public {
        a.router.setFee(0.02 ether);
        assertEq(sender.quote(B, address(receiver), _payment(), GAS_LIMIT), 0.02 ether);
    }

    function test_quote_RevertWhen_TheChainHasNoLane() public {
        ICrossChainInvoice.CrossChainPayment memory p = _payment();
        vm.expectRevert(abi.encodeWithSelector(IRouterClient.UnsupportedDestinationChain.selector, uint64(3333)));
        sender.quote(3333, address(receiver), p, GAS_LIMIT);
    }
}
