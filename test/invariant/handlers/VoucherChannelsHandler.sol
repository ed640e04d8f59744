// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {VoucherChannels} from "../../../contracts/channel/VoucherChannels.sol";
import {IVoucherChannels} from "../../../contracts/interfaces/IVoucherChannels.sol";
import {TestStablecoin} from "../../../contracts/tokens/TestStablecoin.sol";
import {CommonBase} from "forge-std/Base.sol";
import {StdCheats} from "forge-std/StdCheats.sol";
import {StdUtils} from "forge-std/StdUtils.sol";

/// @notice Drives a few channels between two payers and two receivers through deposits, vouchers signed
/// off-chain, claims of old and new vouchers, settlements, withdrawal requests, withdrawals, closes and time
/// warps, keeping a ghost record of every channel's highest signed voucher.
/// @dev Operations whose outcome is known (the receiver claiming the highest voucher before the delay ends, a
/// withdrawal before it) count unexpected outcomes, which the invariant suite checks to be zero.
contract VoucherChannelsHandler is CommonBase, StdCheats, StdUtils {
    uint256 internal constant CHANNELS = 6;
    uint128 internal constant MAX_DEPOSIT = 1_000_000e6;

    VoucherChannels public immutable channels;
    TestStablecoin public immutable usdc;

    IVoucherChannels.ChannelConfig[] internal _configs;
    bytes32[] internal _ids;
    mapping(address payer => uint256 key) internal _keys;
    mapping(bytes32 id => uint128 amount) public highestSigned;
    mapping(bytes32 id => uint128[] amounts) internal _signed;
    address[] internal _receivers;

    uint256 public unexpectedFailures;
    uint256 public unexpectedSuccesses;

    constructor(VoucherChannels channels_, TestStablecoin usdc_) {
        channels = channels_;
        usdc = usdc_;
        for (uint256 i; i < 2; ++i) {
            (address payer, uint256 key) = makeAddrAndKey(string.concat("payer", vm.toString(i)));
            _keys[payer] = key;
            _receivers.push(makeAddr(string.concat("receiver", vm.toString(i))));
            vm.prank(payer);
            usdc.approve(address(channels), type(uint256).max);
        }
        for (uint256 c; c < CHANNELS; ++c) {
            (address payer,) = makeAddrAndKey(string.concat("payer", vm.toString(c % 2)));
            // casting to 'uint40' is safe because c < CHANNELS: the delay is under two hours
            // forge-lint: disable-next-line(unsafe-typecast)
            uint40 delay = uint40(15 minutes + c * 10 minutes);
            IVoucherChannels.ChannelConfig memory config = IVoucherChannels.ChannelConfig({
                payer: payer,
                payerAuthorizer: address(0),
                receiver: _receivers[(c / 2) % 2],
                token: address(usdc),
                withdrawDelay: delay,
                salt: bytes32(c)
            });
            _configs.push(config);
            _ids.push(channels.channelId(config));
        }
    }

    function deposit(uint256 seed, uint128 amount) external {
        (IVoucherChannels.ChannelConfig memory config, bytes32 id) = _pick(seed);
        amount = uint128(bound(amount, 1, MAX_DEPOSIT));
        vm.prank(address(0xdead));
        usdc.mint(config.payer, amount);
        bool closed = channels.channel(id).closed;
        vm.prank(config.payer);
        try channels.deposit(config, amount, IVoucherChannels.Method.Allowance, "") {
            if (closed) ++unexpectedSuccesses;
        } catch {
            if (!closed) ++unexpectedFailures;
        }
    }

    /// @notice The payer signs a new voucher off-chain: the next cumulative amount.
    function signVoucher(uint256 seed, uint128 increment) external {
        (, bytes32 id) = _pick(seed);
        uint128 next = highestSigned[id] + uint128(bound(increment, 1, MAX_DEPOSIT));
        highestSigned[id] = next;
        _signed[id].push(next);
    }

    /// @notice Anyone claims some voucher the payer signed, maybe an old one.
    function claimAny(uint256 seed, uint256 which) external {
        (IVoucherChannels.ChannelConfig memory config, bytes32 id) = _pick(seed);
        uint128[] storage signed = _signed[id];
        if (signed.length == 0) return;
        _claim(config, signed[bound(which, 0, signed.length - 1)]);
    }

    /// @notice The receiver claims the highest voucher; while the channel is open this must leave it with
    /// everything the voucher grants, up to the deposit, whatever the payer did (withdrawal requested or not,
    /// as long as the payer has not withdrawn).
    function claimHighest(uint256 seed) external {
        (IVoucherChannels.ChannelConfig memory config, bytes32 id) = _pick(seed);
        uint128 highest = highestSigned[id];
        if (highest == 0) return;
        IVoucherChannels.ChannelState memory before = channels.channel(id);
        _claim(config, highest);
        if (!before.closed) {
            uint128 expected = highest < before.balance ? highest : before.balance;
            if (channels.channel(id).totalClaimed != expected) ++unexpectedFailures;
        }
    }

    function settle(uint256 which) external {
        channels.settle(_receivers[bound(which, 0, _receivers.length - 1)], address(usdc));
    }

    function requestWithdrawal(uint256 seed) external {
        (IVoucherChannels.ChannelConfig memory config,) = _pick(seed);
        vm.prank(config.payer);
        try channels.requestWithdrawal(config) {} catch {}
    }

    function withdraw(uint256 seed) external {
        (IVoucherChannels.ChannelConfig memory config, bytes32 id) = _pick(seed);
        IVoucherChannels.ChannelState memory state = channels.channel(id);
        bool ready = !state.closed && state.withdrawableAt != 0 && block.timestamp >= state.withdrawableAt;
        vm.prank(config.payer);
        try channels.withdraw(config) {
            if (!ready) ++unexpectedSuccesses;
        } catch {
            if (ready) ++unexpectedFailures;
        }
    }

    function close(uint256 seed) external {
        (IVoucherChannels.ChannelConfig memory config, bytes32 id) = _pick(seed);
        bool open = !channels.channel(id).closed;
        vm.prank(config.receiver);
        try channels.close(config) {
            if (!open) ++unexpectedSuccesses;
        } catch {
            if (open) ++unexpectedFailures;
        }
    }

    function warp(uint256 seconds_) external {
        vm.warp(block.timestamp + bound(seconds_, 1, 2 hours));
    }

    function ids() external view returns (bytes32[] memory) {
        return _ids;
    }

    function receivers() external view returns (address[] memory) {
        return _receivers;
    }

    function _pick(uint256 seed) internal view returns (IVoucherChannels.ChannelConfig memory, bytes32) {
        uint256 c = seed % CHANNELS;
        return (_configs[c], _ids[c]);
    }

    function _claim(IVoucherChannels.ChannelConfig memory config, uint128 amount) internal {
        bytes32 digest = channels.voucherDigest(channels.channelId(config), amount);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(_keys[config.payer], digest);
        IVoucherChannels.VoucherClaim[] memory claims = new IVoucherChannels.VoucherClaim[](1);
        claims[0] = IVoucherChannels.VoucherClaim({
            config: config, maxClaimableAmount: amount, signature: abi.encodePacked(r, s, v)
        });
        channels.claim(claims);
    }
}
