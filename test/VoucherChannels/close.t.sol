// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IVoucherChannels} from "../../contracts/interfaces/IVoucherChannels.sol";
import {VoucherChannelsBase} from "../base/VoucherChannelsBase.sol";

contract VoucherChannelsCloseTest is VoucherChannelsBase {
    bytes32 internal id;

    function setUp() public override {
        super.setUp();
        id = _open(DEPOSIT);
    }

    function test_close_byTheReceiver_returnsTheRestAtOnce() public {
        _claim(_voucher(_config(), 4e6, sessionKey));
        vm.prank(receiver);
        assertEq(channels.close(_config()), DEPOSIT - 4e6);
        assertEq(usdc.balanceOf(payer), INITIAL_BALANCE - 4e6);
        assertTrue(channels.channel(id).closed);
        // A later voucher is worth nothing.
        assertEq(_claim(_voucher(_config(), 9e6, sessionKey)), 0);
        channels.settle(receiver, address(usdc));
        assertEq(usdc.balanceOf(receiver), 4e6);
    }

    function test_close_byAnyoneElse_reverts() public {
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(IVoucherChannels.Unauthorized.selector, payer));
        channels.close(_config());
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(IVoucherChannels.Unauthorized.selector, stranger));
        channels.close(_config());
    }

    function test_close_fullyClaimedChannel_refundsNothing() public {
        _claim(_voucher(_config(), DEPOSIT, sessionKey));
        vm.prank(receiver);
        assertEq(channels.close(_config()), 0);
        assertEq(usdc.balanceOf(payer), INITIAL_BALANCE - DEPOSIT);
    }

    function test_close_twice_reverts() public {
        vm.startPrank(receiver);
        channels.close(_config());
        vm.expectRevert(abi.encodeWithSelector(IVoucherChannels.ChannelClosed.selector, id));
        channels.close(_config());
        vm.stopPrank();
    }
}
