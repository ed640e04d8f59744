// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IVoucherChannels} from "../../contracts/interfaces/IVoucherChannels.sol";
import {VoucherChannelsBase} from "../base/VoucherChannelsBase.sol";
import {MockERC1271Wallet} from "../mocks/MockERC1271Wallet.sol";

contract VoucherChannelsClaimTest is VoucherChannelsBase {
    bytes32 internal id;

    function setUp() public override {
        super.setUp();
        id = _open(DEPOSIT);
    }

    function test_claim_latestVoucher_owesTheReceiverExactlyThatMuch() public {
        vm.expectEmit(address(channels));
        emit IVoucherChannels.Claimed(id, receiver, 3e6, 3e6);
        assertEq(_claim(_voucher(_config(), 3e6, sessionKey)), 3e6);
        assertEq(channels.channel(id).totalClaimed, 3e6);
        assertEq(channels.claimedUnsettled(receiver, address(usdc)), 3e6);
        // Nothing moves until settle.
        assertEq(usdc.balanceOf(receiver), 0);
    }

    function test_claim_isCumulative_onlyTheDifferenceIsOwed() public {
        _claim(_voucher(_config(), 3e6, sessionKey));
        assertEq(_claim(_voucher(_config(), 5e6, sessionKey)), 2e6);
        assertEq(channels.claimedUnsettled(receiver, address(usdc)), 5e6);
    }

    function test_claim_sameOrOlderVoucher_isSkipped() public {
        _claim(_voucher(_config(), 5e6, sessionKey));
        vm.expectEmit(address(channels));
        emit IVoucherChannels.ClaimSkipped(id, IVoucherChannels.ClaimSkip.NothingToClaim);
        assertEq(_claim(_voucher(_config(), 5e6, sessionKey)), 0);
        assertEq(_claim(_voucher(_config(), 4e6, sessionKey)), 0);
        assertEq(channels.channel(id).totalClaimed, 5e6);
    }

    function test_claim_neverBeyondTheDeposit_theRestAfterATopUp() public {
        assertEq(_claim(_voucher(_config(), DEPOSIT + 7e6, sessionKey)), DEPOSIT);
        assertEq(channels.channel(id).totalClaimed, DEPOSIT);
        vm.startPrank(payer);
        usdc.approve(address(channels), 5e6);
        channels.deposit(_config(), 5e6, IVoucherChannels.Method.Allowance, "");
        vm.stopPrank();
        assertEq(_claim(_voucher(_config(), DEPOSIT + 7e6, sessionKey)), 5e6);
    }

    function test_claim_voucherAtTheUint128Limit_claimsTheBalance() public {
        assertEq(_claim(_voucher(_config(), type(uint128).max, sessionKey)), DEPOSIT);
        assertEq(channels.channel(id).totalClaimed, DEPOSIT);
        assertEq(_claim(_voucher(_config(), type(uint128).max, sessionKey)), 0);
    }

    function test_claim_wrongSigner_isSkipped() public {
        vm.expectEmit(address(channels));
        emit IVoucherChannels.ClaimSkipped(id, IVoucherChannels.ClaimSkip.InvalidSignature);
        // The payer's own key is not the channel's authorizer.
        assertEq(_claim(_voucher(_config(), 3e6, payerKey)), 0);
        assertEq(channels.channel(id).totalClaimed, 0);
    }

    function test_claim_tamperedAmount_isSkipped() public {
        IVoucherChannels.VoucherClaim memory voucher = _voucher(_config(), 3e6, sessionKey);
        voucher.maxClaimableAmount = 4e6;
        assertEq(_claim(voucher), 0);
    }

    function test_claim_voucherOfAnotherChannel_isSkipped() public {
        IVoucherChannels.ChannelConfig memory other = _config();
        other.salt = keccak256("channel-2");
        IVoucherChannels.VoucherClaim memory voucher = _voucher(other, 3e6, sessionKey);
        voucher.config = _config();
        assertEq(_claim(voucher), 0);
    }

    function test_claim_withoutAuthorizer_thePayerSigns() public {
        IVoucherChannels.ChannelConfig memory config = _config();
        config.payerAuthorizer = address(0);
        vm.startPrank(payer);
        usdc.approve(address(channels), DEPOSIT);
        channels.deposit(config, DEPOSIT, IVoucherChannels.Method.Allowance, "");
        vm.stopPrank();
        assertEq(_claim(_voucher(config, 1e6, sessionKey)), 0);
        assertEq(_claim(_voucher(config, 1e6, payerKey)), 1e6);
    }

    /// @dev M-1: a contract cannot be a channel's authorizer (its ERC-1271 answer could revoke vouchers).
    function test_claim_contractWalletAuthorizer_isRefusedAtDeposit() public {
        MockERC1271Wallet wallet = new MockERC1271Wallet(session);
        IVoucherChannels.ChannelConfig memory config = _config();
        config.payerAuthorizer = address(wallet);
        vm.startPrank(payer);
        usdc.approve(address(channels), DEPOSIT);
        vm.expectRevert(abi.encodeWithSelector(IVoucherChannels.ContractAuthorizer.selector, address(wallet)));
        channels.deposit(config, DEPOSIT, IVoucherChannels.Method.Allowance, "");
        vm.stopPrank();
    }

    function test_claim_malformedSignatures_areSkipped() public {
        IVoucherChannels.VoucherClaim memory voucher = _voucher(_config(), 3e6, sessionKey);
        bytes memory good = voucher.signature;
        (bytes32 r, bytes32 s) = abi.decode(good, (bytes32, bytes32));
        uint8 v = uint8(good[64]);
        // Too short, too long, EIP-2098 compact, v out of range, high s (the malleable twin).
        bytes[] memory bad = new bytes[](5);
        bad[0] = abi.encodePacked(r, s);
        bad[1] = abi.encodePacked(good, uint8(0));
        bad[2] = abi.encodePacked(r, bytes32(uint256(s) | (v == 28 ? 1 << 255 : 0)));
        bad[3] = abi.encodePacked(r, s, v - 27);
        bad[4] = abi.encodePacked(
            r,
            bytes32(0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141 - uint256(s)),
            v == 27 ? uint8(28) : uint8(27)
        );
        for (uint256 i; i < bad.length; ++i) {
            voucher.signature = bad[i];
            vm.expectEmit(address(channels));
            emit IVoucherChannels.ClaimSkipped(id, IVoucherChannels.ClaimSkip.InvalidSignature);
            assertEq(_claim(voucher), 0);
        }
        voucher.signature = good;
        assertEq(_claim(voucher), 3e6);
    }

    function test_claim_batchOfManyChannels_skipsTheBadOnesAndClaimsTheRest() public {
        IVoucherChannels.ChannelConfig memory second = _config();
        second.salt = keccak256("channel-2");
        vm.startPrank(payer);
        usdc.approve(address(channels), DEPOSIT);
        channels.deposit(second, DEPOSIT, IVoucherChannels.Method.Allowance, "");
        vm.stopPrank();

        IVoucherChannels.VoucherClaim[] memory claims = new IVoucherChannels.VoucherClaim[](3);
        claims[0] = _voucher(_config(), 2e6, sessionKey);
        claims[1] = _voucher(second, 3e6, payerKey); // wrong signer
        claims[2] = _voucher(second, 4e6, sessionKey);
        vm.prank(relayer);
        assertEq(channels.claim(claims), 6e6);
        assertEq(channels.claimedUnsettled(receiver, address(usdc)), 6e6);
    }

    function test_claim_closedChannel_isSkipped() public {
        vm.prank(receiver);
        channels.close(_config());
        vm.expectEmit(address(channels));
        emit IVoucherChannels.ClaimSkipped(id, IVoucherChannels.ClaimSkip.ChannelClosed);
        assertEq(_claim(_voucher(_config(), 3e6, sessionKey)), 0);
    }

    function test_claim_unopenedChannel_isSkipped() public {
        IVoucherChannels.ChannelConfig memory config = _config();
        config.salt = keccak256("never-opened");
        assertEq(_claim(_voucher(config, 3e6, sessionKey)), 0);
    }

    function test_claim_duringTheWithdrawalDelay_succeeds() public {
        vm.prank(payer);
        channels.requestWithdrawal(_config());
        vm.warp(block.timestamp + DELAY - 1);
        assertEq(_claim(_voucher(_config(), 3e6, sessionKey)), 3e6);
    }

    function testFuzz_claim_totalClaimedIsTheHighestVoucherCappedByTheDeposit(uint128[4] memory amounts) public {
        uint128 highest;
        for (uint256 i; i < amounts.length; ++i) {
            amounts[i] = uint128(bound(amounts[i], 1, 2 * DEPOSIT));
            _claim(_voucher(_config(), amounts[i], sessionKey));
            if (amounts[i] > highest) highest = amounts[i];
            uint128 expected = highest < DEPOSIT ? highest : DEPOSIT;
            assertEq(channels.channel(id).totalClaimed, expected);
            assertEq(channels.claimedUnsettled(receiver, address(usdc)), expected);
        }
    }
}
