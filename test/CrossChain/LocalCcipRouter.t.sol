// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {LocalCcipRouter} from "../../contracts/crosschain/local/LocalCcipRouter.sol";
import {CrossChainBase} from "../base/CrossChainBase.sol";

/// @notice The local CCIP stand-in between the two test chains: a message executes once, by the relay, on
/// the chain it is for.
contract LocalCcipRouterTest is CrossChainBase {
    function test_execute_once() public {
        LocalCcipRouter.Message memory message = _send(_payment());
        b.router.execute(message);
        vm.expectRevert(abi.encodeWithSelector(LocalCcipRouter.AlreadyExecuted.selector, message.messageId));
        b.router.execute(message);
        assertEq(b.token.balanceOf(payee), AMOUNT);
    }

    function test_execute_onlyByTheRelay_onTheRightLane() public {
        LocalCcipRouter.Message memory message = _send(_payment());
        vm.prank(relayer);
        vm.expectRevert();
        b.router.execute(message);
        vm.expectRevert(abi.encodeWithSelector(LocalCcipRouter.WrongLane.selector, A, B));
        a.router.execute(message);
    }
}
