// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IVoucherChannels} from "../../contracts/interfaces/IVoucherChannels.sol";
import {VoucherChannelsBase} from "../base/VoucherChannelsBase.sol";

contract VoucherChannelsWithdrawTest is VoucherChannelsBase {
    bytes32 internal id;

    function setUp() public override {
        super.setUp();
        id = _open(DEPOSIT);
    }

    function test_withdraw_afterTheDelay_returnsWhatIsNotClaimed_andCloses() public {
        _claim(_voucher(_config(), 3e6, sessionKey));
        vm.expectEmit(address(channels));
        emit IVoucherChannels.WithdrawalRequested(id, uint40(block.timestamp) + DELAY);
        vm.prank(payer);
        channels.requestWithdrawal(_config());
        vm.warp(block.timestamp + DELAY);
        vm.expectEmit(address(channels));
        emit IVoucherChannels.Closed(id, DEPOSIT - 3e6);
        vm.prank(payer);
        assertEq(channels.withdraw(_config()), DEPOSIT - 3e6);
        assertEq(usdc.balanceOf(payer), INITIAL_BALANCE - 3e6);
        assertTrue(channels.channel(id).closed);
        // What was claimed is still paid.
        channels.settle(receiver, address(usdc));
        assertEq(usdc.balanceOf(receiver), 3e6);
        assertEq(usdc.balanceOf(address(channels)), 0);
    }

    function test_withdraw_early_reverts() public {
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(IVoucherChannels.WithdrawalNotReady.selector, 0, block.timestamp));
        channels.withdraw(_config());

        vm.prank(payer);
        channels.requestWithdrawal(_config());
        uint40 ready = uint40(block.timestamp) + DELAY;
        vm.warp(ready - 1);
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(IVoucherChannels.WithdrawalNotReady.selector, ready, ready - 1));
        channels.withdraw(_config());
        assertEq(usdc.balanceOf(address(channels)), DEPOSIT);
    }

    function test_requestWithdrawal_again_keepsTheFirstTime() public {
        vm.prank(payer);
        channels.requestWithdrawal(_config());
        uint40 ready = channels.channel(id).withdrawableAt;
        vm.warp(block.timestamp + 10 minutes);
        vm.prank(payer);
        channels.requestWithdrawal(_config());
        assertEq(channels.channel(id).withdrawableAt, ready);
    }

    function test_withdraw_byAnotherCaller_reverts() public {
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(IVoucherChannels.Unauthorized.selector, stranger));
        channels.requestWithdrawal(_config());
        vm.prank(payer);
        channels.requestWithdrawal(_config());
        vm.warp(block.timestamp + DELAY);
        // Not even the session key or the receiver.
        vm.prank(session);
        vm.expectRevert(abi.encodeWithSelector(IVoucherChannels.Unauthorized.selector, session));
        channels.withdraw(_config());
        vm.prank(receiver);
        vm.expectRevert(abi.encodeWithSelector(IVoucherChannels.Unauthorized.selector, receiver));
        channels.withdraw(_config());
    }

    function test_withdraw_twice_reverts() public {
        vm.prank(payer);
        channels.requestWithdrawal(_config());
        vm.warp(block.timestamp + DELAY);
        vm.startPrank(payer);
        channels.withdraw(_config());
        vm.expectRevert(abi.encodeWithSelector(IVoucherChannels.ChannelClosed.selector, id));
        channels.withdraw(_config());
        vm.expectRevert(abi.encodeWithSelector(IVoucherChannels.ChannelClosed.selector, id));
        channels.requestWithdrawal(_config());
        vm.stopPrank();
    }

    /// @dev L-2: a request past its delay does not stay armed for later top-ups: the top-up cancels it, and the
    /// payer needs a fresh request and a full delay, during which the receiver claims the vouchers it holds.
    function test_withdraw_afterATopUp_needsAFreshRequestAndAFullDelay() public {
        vm.prank(payer);
        channels.requestWithdrawal(_config());
        vm.warp(block.timestamp + DELAY + 1 days);

        bytes memory data = _authorizationData(id, 5e6, keccak256("deposit-2"));
        vm.prank(relayer);
        channels.deposit(_config(), 5e6, IVoucherChannels.Method.Authorization, data);
        assertEq(channels.channel(id).withdrawableAt, 0, "the request is cancelled");

        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(IVoucherChannels.WithdrawalNotReady.selector, 0, block.timestamp));
        channels.withdraw(_config());

        vm.prank(payer);
        channels.requestWithdrawal(_config());
        uint40 ready = uint40(block.timestamp) + DELAY;
        assertEq(channels.channel(id).withdrawableAt, ready);
        vm.warp(ready - 1);
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(IVoucherChannels.WithdrawalNotReady.selector, ready, ready - 1));
        channels.withdraw(_config());
        assertEq(_claim(_voucher(_config(), DEPOSIT + 2e6, sessionKey)), DEPOSIT + 2e6);
        vm.warp(ready);
        vm.prank(payer);
        assertEq(channels.withdraw(_config()), 3e6);
    }

    /// @dev The latest request whose time fits in 40 bits, withdrawn at that very second.
    function test_requestWithdrawal_atTheUint40Limit_thenWithdraws() public {
        uint40 max = type(uint40).max;
        vm.warp(max - DELAY);
        vm.expectEmit(address(channels));
        emit IVoucherChannels.WithdrawalRequested(id, max);
        vm.prank(payer);
        channels.requestWithdrawal(_config());
        assertEq(channels.channel(id).withdrawableAt, max);
        vm.warp(max);
        vm.prank(payer);
        assertEq(channels.withdraw(_config()), DEPOSIT);
    }

    /// @dev One second later the time would not fit: a clear error, no panic and no wrap-around (which would
    /// make the withdrawal possible at once).
    function test_requestWithdrawal_pastTheUint40Limit_reverts() public {
        uint256 max = type(uint40).max;
        uint256[3] memory nows = [max - DELAY + 1, max, max + 1 + 10];
        for (uint256 i; i < nows.length; ++i) {
            vm.warp(nows[i]);
            vm.prank(payer);
            vm.expectRevert(abi.encodeWithSelector(IVoucherChannels.WithdrawalTimeOverflow.selector, nows[i] + DELAY));
            channels.requestWithdrawal(_config());
        }
        assertEq(channels.channel(id).withdrawableAt, 0);
    }

    function testFuzz_requestWithdrawal_anyTime_readyExactlyAfterTheDelay(uint256 now_) public {
        now_ = bound(now_, block.timestamp, type(uint40).max - DELAY);
        vm.warp(now_);
        vm.prank(payer);
        channels.requestWithdrawal(_config());
        assertEq(channels.channel(id).withdrawableAt, now_ + DELAY);
        vm.warp(now_ + DELAY - 1);
        vm.prank(payer);
        vm.expectRevert(
            abi.encodeWithSelector(IVoucherChannels.WithdrawalNotReady.selector, now_ + DELAY, now_ + DELAY - 1)
        );
        channels.withdraw(_config());
        vm.warp(now_ + DELAY);
        vm.prank(payer);
        assertEq(channels.withdraw(_config()), DEPOSIT);
    }
}
