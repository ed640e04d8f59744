// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IVoucherChannels} from "../../contracts/interfaces/IVoucherChannels.sol";
import {VoucherChannelsBase} from "../base/VoucherChannelsBase.sol";

contract VoucherChannelsSettleTest is VoucherChannelsBase {
    function test_settle_paysEverythingClaimedInOneTransfer_anyoneMayCall() public {
        _open(DEPOSIT);
        IVoucherChannels.ChannelConfig memory second = _config();
        second.salt = keccak256("channel-2");
        vm.startPrank(payer);
        usdc.approve(address(channels), DEPOSIT);
        channels.deposit(second, DEPOSIT, IVoucherChannels.Method.Allowance, "");
        vm.stopPrank();
        _claim(_voucher(_config(), 2e6, sessionKey));
        _claim(_voucher(second, 3e6, sessionKey));

        vm.expectEmit(address(channels));
        emit IVoucherChannels.Settled(receiver, address(usdc), receiver, 5e6);
        vm.prank(stranger);
        assertEq(channels.settle(receiver, address(usdc)), 5e6);
        assertEq(usdc.balanceOf(receiver), 5e6);
        assertEq(channels.claimedUnsettled(receiver, address(usdc)), 0);
        assertEq(usdc.balanceOf(address(channels)), 2 * DEPOSIT - 5e6);
    }

    function test_settle_twice_paysOnce() public {
        _open(DEPOSIT);
        _claim(_voucher(_config(), 2e6, sessionKey));
        channels.settle(receiver, address(usdc));
        assertEq(channels.settle(receiver, address(usdc)), 0);
        assertEq(usdc.balanceOf(receiver), 2e6);
    }

    function test_settle_nothingClaimed_paysNothing() public {
        _open(DEPOSIT);
        assertEq(channels.settle(receiver, address(usdc)), 0);
        assertEq(usdc.balanceOf(address(channels)), DEPOSIT);
    }

    function test_settle_blacklistedReceiver_revertsAndKeepsWhatIsOwed() public {
        _open(DEPOSIT);
        _claim(_voucher(_config(), 2e6, sessionKey));
        vm.mockCallRevert(
            address(usdc), abi.encodeWithSelector(usdc.transfer.selector, receiver, uint256(2e6)), "blacklisted"
        );
        vm.expectRevert();
        channels.settle(receiver, address(usdc));
        assertEq(channels.claimedUnsettled(receiver, address(usdc)), 2e6);
    }
}
