// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {VoucherChannels} from "../../contracts/channel/VoucherChannels.sol";
import {IVoucherChannels} from "../../contracts/interfaces/IVoucherChannels.sol";
import {HalmosToken} from "./HalmosToken.sol";
import {Test} from "forge-std/Test.sol";

/// @notice Formal checks (halmos) of VoucherChannels: for a symbolic deposit and two claims of symbolic
/// cumulative vouchers (signed by the payer's key, submitted by anyone), the channel never owes more than was
/// deposited, what is owed to the receiver is exactly the channel's total claimed, a voucher claimed again adds
/// nothing, and receiver plus payer get exactly the deposit back out. `check_mustFail_*` are companions halmos
/// must refute, so the proofs are not vacuous.
contract VoucherChannelsHalmos is Test {
    uint256 private constant PAYER_KEY = 0xA11CE;
    address private constant RECEIVER = address(0xBEEF);
    uint256 private constant SECP256K1_HALF_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    VoucherChannels private channels;
    HalmosToken private token;
    address private payer;

    function setUp() public {
        channels = new VoucherChannels();
        token = new HalmosToken();
        payer = vm.addr(PAYER_KEY);
    }

    /// @notice Deposit, two claims, either voucher claimed again, settle and close: no more than the deposit out.
    function check_channelPaysAtMostTheDeposit(uint128 deposit, uint128 first, uint128 second, bool replayFirst)
        external
    {
        IVoucherChannels.ChannelConfig memory config = _config();
        bytes32 id = _deposit(config, deposit);
        uint256 paid = channels.claim(_claim(config, id, first));
        _checkOwed(id, deposit, paid);
        paid += channels.claim(_claim(config, id, second));
        _checkOwed(id, deposit, paid);

        // Any voucher already claimed, claimed again, adds nothing.
        assert(channels.claim(_claim(config, id, replayFirst ? first : second)) == 0);
        assert(channels.channel(id).totalClaimed == paid);

        channels.settle(RECEIVER, address(token));
        vm.prank(RECEIVER);
        channels.close(config);
        assert(token.balanceOf(RECEIVER) == paid);
        assert(token.balanceOf(RECEIVER) + token.balanceOf(payer) == deposit);
        assert(token.balanceOf(address(channels)) == 0);
    }

    /// @notice Companion (must be refuted): a fresh voucher for more than was claimed also adds nothing.
    function check_mustFail_freshVoucherAddsNothing(uint128 deposit, uint128 first, uint128 second) external {
        IVoucherChannels.ChannelConfig memory config = _config();
        bytes32 id = _deposit(config, deposit);
        channels.claim(_claim(config, id, first));
        assert(channels.claim(_claim(config, id, second)) == 0);
    }

    /// @notice Companion (must be refuted): the receiver is always owed strictly less than the deposit.
    function check_mustFail_claimsStayBelowTheDeposit(uint128 deposit, uint128 first, uint128 second) external {
        IVoucherChannels.ChannelConfig memory config = _config();
        bytes32 id = _deposit(config, deposit);
        channels.claim(_claim(config, id, first));
        channels.claim(_claim(config, id, second));
        assert(channels.channel(id).totalClaimed < deposit);
    }

    /// @dev What the channel has claimed is what is owed to the receiver, and never above the deposit.
    function _checkOwed(bytes32 id, uint128 deposit, uint256 paid) private view {
        IVoucherChannels.ChannelState memory state = channels.channel(id);
        assert(state.balance == deposit);
        assert(state.totalClaimed <= state.balance);
        assert(state.totalClaimed == paid);
        assert(channels.claimedUnsettled(RECEIVER, address(token)) == paid);
    }

    function _config() private view returns (IVoucherChannels.ChannelConfig memory) {
        return IVoucherChannels.ChannelConfig({
            payer: payer,
            payerAuthorizer: address(0),
            receiver: RECEIVER,
            token: address(token),
            withdrawDelay: 1 hours,
            salt: bytes32(0)
        });
    }

    function _deposit(IVoucherChannels.ChannelConfig memory config, uint128 amount) private returns (bytes32 id) {
        token.mint(payer, amount);
        vm.startPrank(payer);
        token.approve(address(channels), amount);
        id = channels.deposit(config, amount, IVoucherChannels.Method.Allowance, "");
        vm.stopPrank();
    }

    /// @dev A batch of one voucher for `amount`, signed by the payer.
    function _claim(IVoucherChannels.ChannelConfig memory config, bytes32 id, uint128 amount)
        private
        returns (IVoucherChannels.VoucherClaim[] memory claims)
    {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(PAYER_KEY, channels.voucherDigest(id, amount));
        // A real signer gives the low-s form (EIP-2); the high-s twin is refused by the contract anyway.
        vm.assume(uint256(s) <= SECP256K1_HALF_ORDER);
        claims = new IVoucherChannels.VoucherClaim[](1);
        claims[0] = IVoucherChannels.VoucherClaim({
            config: config, maxClaimableAmount: amount, signature: abi.encodePacked(r, s, v)
        });
    }
}
