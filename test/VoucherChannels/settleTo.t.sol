// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IVoucherChannels} from "../../contracts/interfaces/IVoucherChannels.sol";
import {VoucherChannelsBase} from "../base/VoucherChannelsBase.sol";
import {MockBlacklistToken} from "../mocks/MockBlacklistToken.sol";

/// @notice L-1: a receiver the token refuses to pay still gets what it claimed, to an address of its choice.
contract VoucherChannelsSettleToTest is VoucherChannelsBase {
    MockBlacklistToken internal busd;
    IVoucherChannels.ChannelConfig internal config;
    address internal treasury = makeAddr("treasury");

    function setUp() public override {
        super.setUp();
        busd = new MockBlacklistToken(owner);
        busd.mint(payer, INITIAL_BALANCE);
        config = _config();
        config.token = address(busd);
        vm.startPrank(payer);
        busd.approve(address(channels), DEPOSIT);
        channels.deposit(config, DEPOSIT, IVoucherChannels.Method.Allowance, "");
        vm.stopPrank();
        _claim(_voucher(config, 4e6, sessionKey));
    }

    function test_settleTo_blacklistedReceiver_getsItsClaimsElsewhere() public {
        vm.prank(owner);
        busd.setBlacklisted(receiver, true);
        vm.expectRevert(abi.encodeWithSelector(MockBlacklistToken.Blacklisted.selector, receiver));
        channels.settle(receiver, address(busd));

        vm.expectEmit(address(channels));
        emit IVoucherChannels.Settled(receiver, address(busd), treasury, 4e6);
        vm.prank(receiver);
        assertEq(channels.settleTo(address(busd), treasury), 4e6);
        assertEq(busd.balanceOf(treasury), 4e6);
        assertEq(channels.claimedUnsettled(receiver, address(busd)), 0);
        assertEq(busd.balanceOf(address(channels)), DEPOSIT - 4e6);
        // Paid once: nothing is left for settle nor settleTo.
        vm.prank(receiver);
        assertEq(channels.settleTo(address(busd), treasury), 0);
        vm.prank(owner);
        busd.setBlacklisted(receiver, false);
        assertEq(channels.settle(receiver, address(busd)), 0);
        assertEq(busd.balanceOf(receiver), 0);
    }

    function test_settleTo_paysOnlyTheCallersOwnClaims() public {
        vm.prank(stranger);
        assertEq(channels.settleTo(address(busd), stranger), 0);
        vm.prank(payer);
        assertEq(channels.settleTo(address(busd), payer), 0);
        assertEq(channels.claimedUnsettled(receiver, address(busd)), 4e6);
        assertEq(busd.balanceOf(stranger), 0);
    }

    function test_settleTo_itself_isSettle() public {
        vm.prank(receiver);
        assertEq(channels.settleTo(address(busd), receiver), 4e6);
        assertEq(busd.balanceOf(receiver), 4e6);
    }

    function test_settleTo_zeroOrThisContract_reverts() public {
        vm.startPrank(receiver);
        vm.expectRevert(abi.encodeWithSelector(IVoucherChannels.InvalidRecipient.selector, address(0)));
        channels.settleTo(address(busd), address(0));
        vm.expectRevert(abi.encodeWithSelector(IVoucherChannels.InvalidRecipient.selector, address(channels)));
        channels.settleTo(address(busd), address(channels));
        vm.stopPrank();
        assertEq(channels.claimedUnsettled(receiver, address(busd)), 4e6);
    }

    function test_settleTo_blacklistedDestination_revertsAndKeepsWhatIsOwed() public {
        vm.prank(owner);
        busd.setBlacklisted(treasury, true);
        vm.prank(receiver);
        vm.expectRevert(abi.encodeWithSelector(MockBlacklistToken.Blacklisted.selector, treasury));
        channels.settleTo(address(busd), treasury);
        assertEq(channels.claimedUnsettled(receiver, address(busd)), 4e6);
    }
}
