// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IVoucherChannels} from "../../contracts/interfaces/IVoucherChannels.sol";
import {VoucherChannelsBase} from "../base/VoucherChannelsBase.sol";
import {MockFeeOnTransferToken} from "../mocks/MockFeeOnTransferToken.sol";

contract VoucherChannelsDepositTest is VoucherChannelsBase {
    function test_deposit_byAuthorization_opensTheChannelForAnySubmitter() public {
        bytes32 id = _channelId(_config());
        vm.expectEmit(address(channels));
        emit IVoucherChannels.Deposited(id, payer, receiver, DEPOSIT);
        assertEq(_open(DEPOSIT), id);
        assertEq(channels.channelId(_config()), id);
        IVoucherChannels.ChannelState memory state = channels.channel(id);
        assertEq(state.balance, DEPOSIT);
        assertEq(state.totalClaimed, 0);
        assertEq(usdc.balanceOf(address(channels)), DEPOSIT);
        assertEq(usdc.balanceOf(payer), INITIAL_BALANCE - DEPOSIT);
    }

    function test_deposit_topUp_addsToTheBalance() public {
        bytes32 id = _open(DEPOSIT);
        bytes memory data = _authorizationData(id, 5e6, keccak256("deposit-2"));
        channels.deposit(_config(), 5e6, IVoucherChannels.Method.Authorization, data);
        assertEq(channels.channel(id).balance, DEPOSIT + 5e6);
    }

    function test_deposit_byPermit_andByAllowance() public {
        bytes memory permit = _permitData(DEPOSIT);
        vm.prank(payer);
        bytes32 id = channels.deposit(_config(), DEPOSIT, IVoucherChannels.Method.Permit, permit);
        vm.startPrank(payer);
        usdc.approve(address(channels), DEPOSIT);
        channels.deposit(_config(), DEPOSIT, IVoucherChannels.Method.Allowance, "");
        vm.stopPrank();
        assertEq(channels.channel(id).balance, 2 * DEPOSIT);
    }

    function test_deposit_authorizationIsBoundToItsChannel() public {
        // The payer signed a deposit into channel 1; a front-runner cannot redirect it into a channel of its own.
        bytes memory data = _authorizationData(_channelId(_config()), DEPOSIT, keccak256("deposit-1"));
        IVoucherChannels.ChannelConfig memory other = _config();
        other.receiver = stranger;
        vm.prank(stranger);
        vm.expectRevert();
        channels.deposit(other, DEPOSIT, IVoucherChannels.Method.Authorization, data);
        assertEq(usdc.balanceOf(payer), INITIAL_BALANCE);
    }

    function test_deposit_sameAuthorizationTwice_reverts() public {
        bytes32 id = _channelId(_config());
        bytes memory data = _authorizationData(id, DEPOSIT, keccak256("deposit-1"));
        channels.deposit(_config(), DEPOSIT, IVoucherChannels.Method.Authorization, data);
        vm.expectRevert();
        channels.deposit(_config(), DEPOSIT, IVoucherChannels.Method.Authorization, data);
        assertEq(channels.channel(id).balance, DEPOSIT);
    }

    function test_deposit_permitOrAllowanceFromAnotherCaller_reverts() public {
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(IVoucherChannels.Unauthorized.selector, stranger));
        channels.deposit(_config(), DEPOSIT, IVoucherChannels.Method.Allowance, "");
    }

    function test_deposit_invalidConfigs_revert() public {
        IVoucherChannels.ChannelConfig memory config = _config();
        config.receiver = payer;
        vm.prank(payer);
        vm.expectRevert(IVoucherChannels.InvalidConfig.selector);
        channels.deposit(config, DEPOSIT, IVoucherChannels.Method.Allowance, "");

        config = _config();
        config.token = stranger;
        vm.prank(payer);
        vm.expectRevert(IVoucherChannels.InvalidConfig.selector);
        channels.deposit(config, DEPOSIT, IVoucherChannels.Method.Allowance, "");

        config = _config();
        config.withdrawDelay = 15 minutes - 1;
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(IVoucherChannels.InvalidWithdrawDelay.selector, config.withdrawDelay));
        channels.deposit(config, DEPOSIT, IVoucherChannels.Method.Allowance, "");

        config.withdrawDelay = 30 days + 1;
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(IVoucherChannels.InvalidWithdrawDelay.selector, config.withdrawDelay));
        channels.deposit(config, DEPOSIT, IVoucherChannels.Method.Allowance, "");
    }

    function test_deposit_zeroAmount_reverts() public {
        vm.prank(payer);
        vm.expectRevert(IVoucherChannels.ZeroAmount.selector);
        channels.deposit(_config(), 0, IVoucherChannels.Method.Allowance, "");
    }

    function test_deposit_malformedData_reverts() public {
        vm.expectRevert(IVoucherChannels.InvalidMethodData.selector);
        channels.deposit(_config(), DEPOSIT, IVoucherChannels.Method.Authorization, hex"01");
        vm.prank(payer);
        vm.expectRevert(IVoucherChannels.InvalidMethodData.selector);
        channels.deposit(_config(), DEPOSIT, IVoucherChannels.Method.Allowance, hex"01");
        vm.prank(payer);
        vm.expectRevert(IVoucherChannels.InvalidMethodData.selector);
        channels.deposit(_config(), DEPOSIT, IVoucherChannels.Method.Permit, abi.encode(uint256(1), hex"01"));
    }

    /// @dev Authorization data: four head words, then the signature's length and bytes. Every truncation and
    /// every wrong offset or length is refused with `InvalidMethodData`, never a bare decoding revert.
    function test_deposit_malformedAuthorizationData_reverts() public {
        bytes memory good = _authorizationData(_channelId(_config()), DEPOSIT, keccak256("deposit-1"));
        assertEq(good.length, 160 + 96);
        uint256[4] memory cuts = [uint256(0), 159, 160 + 64, good.length - 32];
        for (uint256 i; i < cuts.length; ++i) {
            _expectInvalidData(IVoucherChannels.Method.Authorization, _truncate(good, cuts[i]));
        }
        _expectInvalidData(IVoucherChannels.Method.Authorization, _setWord(good, 3, 0x60)); // offset inside the head
        _expectInvalidData(IVoucherChannels.Method.Authorization, _setWord(good, 3, 1 << 200)); // offset far out
        _expectInvalidData(IVoucherChannels.Method.Authorization, _setWord(good, 4, 97)); // length beyond the data
        _expectInvalidData(IVoucherChannels.Method.Authorization, _setWord(good, 4, type(uint256).max));
        // The intact data still deposits.
        vm.prank(relayer);
        channels.deposit(_config(), DEPOSIT, IVoucherChannels.Method.Authorization, good);
        assertEq(usdc.balanceOf(address(channels)), DEPOSIT);
    }

    /// @dev Permit data: two head words, then the signature (exactly 65 bytes).
    function test_deposit_malformedPermitData_reverts() public {
        bytes memory good = _permitData(DEPOSIT);
        assertEq(good.length, 96 + 96);
        uint256[4] memory cuts = [uint256(0), 95, 96 + 64, good.length - 32];
        for (uint256 i; i < cuts.length; ++i) {
            _expectInvalidData(IVoucherChannels.Method.Permit, _truncate(good, cuts[i]));
        }
        _expectInvalidData(IVoucherChannels.Method.Permit, _setWord(good, 1, 0x20));
        _expectInvalidData(IVoucherChannels.Method.Permit, _setWord(good, 2, 64));
        _expectInvalidData(IVoucherChannels.Method.Permit, _setWord(good, 2, 66));
        _expectInvalidData(IVoucherChannels.Method.Permit, _setWord(good, 2, type(uint256).max));
        vm.prank(payer);
        channels.deposit(_config(), DEPOSIT, IVoucherChannels.Method.Permit, good);
        assertEq(usdc.balanceOf(address(channels)), DEPOSIT);
    }

    function test_deposit_balanceAtTheUint128Limit_thenOverflowReverts() public {
        uint128 max = type(uint128).max;
        vm.prank(owner);
        usdc.mint(payer, uint256(max) - INITIAL_BALANCE);
        bytes32 id = _open(max - 1);
        bytes memory data = _authorizationData(id, 1, keccak256("deposit-2"));
        channels.deposit(_config(), 1, IVoucherChannels.Method.Authorization, data);
        assertEq(channels.channel(id).balance, max);

        vm.prank(owner);
        usdc.mint(payer, 1);
        data = _authorizationData(id, 1, keccak256("deposit-3"));
        vm.expectRevert(IVoucherChannels.BalanceOverflow.selector);
        channels.deposit(_config(), 1, IVoucherChannels.Method.Authorization, data);
        assertEq(usdc.balanceOf(payer), 1);

        // The whole balance can be claimed, paid and the channel closed.
        assertEq(_claim(_voucher(_config(), max, sessionKey)), max);
        assertEq(channels.settle(receiver, address(usdc)), max);
        vm.prank(receiver);
        assertEq(channels.close(_config()), 0);
        assertEq(usdc.balanceOf(receiver), max);
    }

    function test_depositNonce_isTheHashOfChannelAndSalt() public view {
        bytes32 id = _channelId(_config());
        bytes32 salt = keccak256("deposit-1");
        assertEq(channels.depositNonce(id, salt), keccak256(abi.encode(id, salt)));
        assertTrue(channels.depositNonce(id, salt) != channels.depositNonce(id, keccak256("deposit-2")));
    }

    function _expectInvalidData(IVoucherChannels.Method method, bytes memory data) internal {
        vm.prank(payer);
        vm.expectRevert(IVoucherChannels.InvalidMethodData.selector);
        channels.deposit(_config(), DEPOSIT, method, data);
    }

    function _truncate(bytes memory data, uint256 length) internal pure returns (bytes memory out) {
        out = new bytes(length);
        for (uint256 i; i < length; ++i) {
            out[i] = data[i];
        }
    }

    function _setWord(bytes memory data, uint256 index, uint256 value) internal pure returns (bytes memory out) {
        out = bytes.concat(data);
        assembly ("memory-safe") {
            mstore(add(add(out, 0x20), mul(index, 0x20)), value)
        }
    }

    function test_deposit_intoAClosedChannel_reverts() public {
        bytes32 id = _open(DEPOSIT);
        vm.prank(receiver);
        channels.close(_config());
        vm.startPrank(payer);
        usdc.approve(address(channels), DEPOSIT);
        vm.expectRevert(abi.encodeWithSelector(IVoucherChannels.ChannelClosed.selector, id));
        channels.deposit(_config(), DEPOSIT, IVoucherChannels.Method.Allowance, "");
        vm.stopPrank();
    }

    function test_deposit_feeOnTransferToken_reverts() public {
        MockFeeOnTransferToken fee = new MockFeeOnTransferToken();
        fee.mint(payer, DEPOSIT);
        fee.setFeeBps(100);
        IVoucherChannels.ChannelConfig memory config = _config();
        config.token = address(fee);
        vm.startPrank(payer);
        fee.approve(address(channels), DEPOSIT);
        vm.expectRevert(abi.encodeWithSelector(IVoucherChannels.AmountMismatch.selector, DEPOSIT, DEPOSIT * 99 / 100));
        channels.deposit(config, DEPOSIT, IVoucherChannels.Method.Allowance, "");
        vm.stopPrank();
    }

    /// @dev L-2: any deposit into a channel with a withdrawal requested cancels the request.
    function test_deposit_topUp_cancelsAPendingWithdrawal() public {
        bytes32 id = _open(DEPOSIT);
        vm.prank(payer);
        channels.requestWithdrawal(_config());
        vm.startPrank(payer);
        usdc.approve(address(channels), 1e6);
        vm.expectEmit(address(channels));
        emit IVoucherChannels.WithdrawalCancelled(id);
        channels.deposit(_config(), 1e6, IVoucherChannels.Method.Allowance, "");
        vm.stopPrank();
        assertEq(channels.channel(id).withdrawableAt, 0);
    }
}
