// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {VoucherChannels} from "../../contracts/channel/VoucherChannels.sol";
import {IVoucherChannels} from "../../contracts/interfaces/IVoucherChannels.sol";
import {TestStablecoin} from "../../contracts/tokens/TestStablecoin.sol";
import {VoucherChannelsHandler} from "./handlers/VoucherChannelsHandler.sol";
import {Test} from "forge-std/Test.sol";

/// @notice Invariants of the voucher channels over random deposits, vouchers, claims, settlements, withdrawal
/// requests, withdrawals, closes and time warps.
contract VoucherChannelsInvariantTest is Test {
    VoucherChannels internal channels;
    TestStablecoin internal usdc;
    VoucherChannelsHandler internal handler;

    function setUp() public {
        vm.warp(1_750_000_000);
        usdc = new TestStablecoin("USD Coin", "USDC", "2", address(0xdead));
        channels = new VoucherChannels();
        handler = new VoucherChannelsHandler(channels, usdc);
        targetContract(address(handler));
    }

    /// @notice The contract holds exactly what open channels can still be claimed for (or returned) plus what
    /// is claimed and not yet paid.
    function invariant_holdsWhatOpenChannelsOwePlusUnsettledClaims() public view {
        bytes32[] memory ids = handler.ids();
        uint256 expected;
        for (uint256 i; i < ids.length; ++i) {
            IVoucherChannels.ChannelState memory state = channels.channel(ids[i]);
            if (!state.closed) expected += state.balance - state.totalClaimed;
        }
        address[] memory receivers = handler.receivers();
        for (uint256 i; i < receivers.length; ++i) {
            expected += channels.claimedUnsettled(receivers[i], address(usdc));
        }
        assertEq(usdc.balanceOf(address(channels)), expected);
    }

    /// @notice A payer never loses more than the highest voucher it signed, nor more than it deposited.
    function invariant_claimsNeverExceedTheHighestVoucherOrTheDeposit() public view {
        bytes32[] memory ids = handler.ids();
        for (uint256 i; i < ids.length; ++i) {
            IVoucherChannels.ChannelState memory state = channels.channel(ids[i]);
            assertLe(state.totalClaimed, handler.highestSigned(ids[i]));
            assertLe(state.totalClaimed, state.balance);
        }
    }

    /// @notice The receiver could always claim the highest voucher while the channel was open, a withdrawal
    /// never happened before its delay, and every other operation did what it should.
    function invariant_noUnexpectedOutcome() public view {
        assertEq(handler.unexpectedFailures(), 0, "unexpected failures");
        assertEq(handler.unexpectedSuccesses(), 0, "unexpected successes");
    }
}
