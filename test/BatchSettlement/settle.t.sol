// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IBatchSettlement} from "../../contracts/interfaces/IBatchSettlement.sol";
import {BatchSettlementBase} from "../base/BatchSettlementBase.sol";

contract SettleTest is BatchSettlementBase {
    function test_settle_sendsWhatClaimsCreditedOnce() public {
        _open(DEPOSIT);
        _claim(_row(_config(), 4e6, 4e6, sessionKey));
        vm.expectEmit(SETTLEMENT);
        emit IBatchSettlement.Settled(receiver, address(usdc), stranger, 4e6);
        vm.prank(stranger);
        settlement.settle(receiver, address(usdc));
        assertEq(usdc.balanceOf(receiver), 4e6);
        assertEq(usdc.balanceOf(SETTLEMENT), DEPOSIT - 4e6);
        settlement.settle(receiver, address(usdc)); // nothing new: nothing moves
        assertEq(usdc.balanceOf(receiver), 4e6);
        (uint128 credited, uint128 settled) = settlement.receivers(receiver, address(usdc));
        assertEq(credited, 4e6);
        assertEq(settled, 4e6);
    }

    function test_settle_sweepsManyChannelsInOneTransfer() public {
        for (uint256 i; i < 3; ++i) {
            IBatchSettlement.ChannelConfig memory config = _config(bytes32(i));
            _deposit(config, DEPOSIT, 10 + i);
            _claim(_row(config, 2e6, 2e6, sessionKey));
        }
        settlement.settle(receiver, address(usdc));
        assertEq(usdc.balanceOf(receiver), 6e6);
    }

    function test_settle_withNothingClaimedMovesNothing() public {
        _open(DEPOSIT);
        settlement.settle(receiver, address(usdc));
        assertEq(usdc.balanceOf(receiver), 0);
        assertEq(usdc.balanceOf(SETTLEMENT), DEPOSIT);
    }
}
