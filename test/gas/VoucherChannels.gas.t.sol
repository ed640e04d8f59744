// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {VoucherChannels} from "../../contracts/channel/VoucherChannels.sol";
import {IVoucherChannels} from "../../contracts/interfaces/IVoucherChannels.sol";
import {TestStablecoin} from "../../contracts/tokens/TestStablecoin.sol";
import {Test} from "forge-std/Test.sol";

/// @notice Gas of the voucher channels, recorded in snapshots/VoucherChannels.json: each operation as a
/// transaction, and the amortized gas per paid request of a channel's whole life (deposit by EIP-3009, one claim
/// of the last voucher, the settlement, the close) at 10 to 10,000 requests. A warm-up channel in setUp
/// holds funds and has paid the receiver, so one-time costs are not counted.
contract VoucherChannelsGasTest is Test {
    uint128 internal constant DEPOSIT = 10e6;
    uint128 internal constant PRICE = 1000; // a tenth of a cent per request

    TestStablecoin internal token;
    VoucherChannels internal channels;
    address internal receiver = makeAddr("receiver");
    address internal relayer = makeAddr("relayer");
    address internal payer;
    uint256 internal payerKey;

    function setUp() public {
        vm.warp(1_750_000_000);
        (payer, payerKey) = makeAddrAndKey("payer");
        token = new TestStablecoin("USD Coin", "USDC", "2", address(this));
        channels = new VoucherChannels();
        token.mint(payer, 1000e6);
        token.mint(receiver, 1);
        IVoucherChannels.ChannelConfig memory warm = _config(keccak256("warm-up"));
        _deposit(warm, DEPOSIT);
        channels.claim(_claims(warm, 1));
        channels.settle(receiver, address(token));
    }

    function test_gas_channels_deposit() public {
        _deposit(_config(keccak256("a")), DEPOSIT);
        vm.snapshotGasLastCall("VoucherChannels", "deposit (EIP-3009, opens the channel)");
    }

    function test_gas_channels_claimOne() public {
        IVoucherChannels.ChannelConfig memory config = _config(keccak256("a"));
        _deposit(config, DEPOSIT);
        IVoucherChannels.VoucherClaim[] memory claims = _claims(config, 500 * PRICE);
        vm.prank(relayer);
        channels.claim(claims);
        vm.snapshotGasLastCall("VoucherChannels", "claim (1 channel)");
    }

    function test_gas_channels_claimBatchOfTen() public {
        IVoucherChannels.VoucherClaim[] memory claims = new IVoucherChannels.VoucherClaim[](10);
        for (uint256 i; i < claims.length; ++i) {
            IVoucherChannels.ChannelConfig memory config = _config(bytes32(i));
            _deposit(config, DEPOSIT);
            claims[i] = _claims(config, 500 * PRICE)[0];
        }
        vm.prank(relayer);
        channels.claim(claims);
        uint256 gas = vm.snapshotGasLastCall("VoucherChannels", "claim (10 channels in one transaction)");
        vm.snapshotValue("VoucherChannels", "claim per channel in a batch of 10", gas / 10);
    }

    function test_gas_channels_settleTo() public {
        IVoucherChannels.ChannelConfig memory config = _config(keccak256("a"));
        _deposit(config, DEPOSIT);
        channels.claim(_claims(config, 500 * PRICE));
        vm.prank(receiver);
        channels.settleTo(address(token), relayer);
        vm.snapshotGasLastCall("VoucherChannels", "settleTo (the receiver's claims to another address)");
    }

    function test_gas_channels_amortizedPerRequest() public {
        uint256[4] memory requests = [uint256(10), 100, 1000, 10_000];
        for (uint256 r; r < requests.length; ++r) {
            uint128 spent = uint128(requests[r]) * PRICE;
            IVoucherChannels.ChannelConfig memory config = _config(bytes32(r));
            _deposit(config, spent);
            uint256 life = vm.lastCallGas().gasTotalUsed;
            IVoucherChannels.VoucherClaim[] memory claims = _claims(config, spent);
            vm.prank(relayer);
            channels.claim(claims);
            life += vm.lastCallGas().gasTotalUsed;
            channels.settle(receiver, address(token));
            life += vm.lastCallGas().gasTotalUsed;
            vm.prank(receiver);
            channels.close(config);
            life += vm.lastCallGas().gasTotalUsed;
            vm.snapshotValue(
                "VoucherChannels",
                string.concat("per request at ", vm.toString(requests[r]), " requests"),
                life / requests[r]
            );
        }
    }

    function _config(bytes32 salt) internal view returns (IVoucherChannels.ChannelConfig memory) {
        return IVoucherChannels.ChannelConfig({
            payer: payer,
            payerAuthorizer: address(0),
            receiver: receiver,
            token: address(token),
            withdrawDelay: 1 hours,
            salt: salt
        });
    }

    function _deposit(IVoucherChannels.ChannelConfig memory config, uint128 amount) internal {
        bytes32 id = channels.channelId(config);
        bytes32 nonce = channels.depositNonce(id, keccak256("deposit"));
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256(
                    "ReceiveWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
                ),
                payer,
                address(channels),
                amount,
                0,
                type(uint256).max,
                nonce
            )
        );
        (uint8 v, bytes32 r, bytes32 s) =
            vm.sign(payerKey, keccak256(abi.encodePacked("\x19\x01", token.DOMAIN_SEPARATOR(), structHash)));
        bytes memory data = abi.encode(0, type(uint256).max, keccak256("deposit"), abi.encodePacked(r, s, v));
        vm.prank(relayer);
        channels.deposit(config, amount, IVoucherChannels.Method.Authorization, data);
    }

    function _claims(IVoucherChannels.ChannelConfig memory config, uint128 amount)
        internal
        view
        returns (IVoucherChannels.VoucherClaim[] memory claims)
    {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(payerKey, channels.voucherDigest(channels.channelId(config), amount));
        claims = new IVoucherChannels.VoucherClaim[](1);
        claims[0] = IVoucherChannels.VoucherClaim({
            config: config, maxClaimableAmount: amount, signature: abi.encodePacked(r, s, v)
        });
    }
}
