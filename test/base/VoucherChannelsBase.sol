// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {VoucherChannels} from "../../contracts/channel/VoucherChannels.sol";
import {IVoucherChannels} from "../../contracts/interfaces/IVoucherChannels.sol";
import {TestStablecoin} from "../../contracts/tokens/TestStablecoin.sol";
import {Test} from "forge-std/Test.sol";

/// @notice Shared fixture for the VoucherChannels tests: a USDC look-alike, the channels contract, a payer with a
/// session key that signs vouchers, and a receiver. Channel ids, vouchers and EIP-3009 deposits are hashed and
/// signed here from the EIP texts, not with the contract's own hashing.
abstract contract VoucherChannelsBase is Test {
    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 internal constant CONFIG_TYPEHASH = keccak256(
        "ChannelConfig(address payer,address payerAuthorizer,address receiver,address token,uint40 withdrawDelay,bytes32 salt)"
    );
    bytes32 internal constant VOUCHER_TYPEHASH = keccak256("Voucher(bytes32 channelId,uint128 maxClaimableAmount)");
    bytes32 internal constant RECEIVE_TYPEHASH = keccak256(
        "ReceiveWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
    );
    bytes32 internal constant PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");

    uint256 internal constant START = 1_750_000_000;
    uint40 internal constant DELAY = 1 hours;
    uint128 internal constant DEPOSIT = 10e6;
    uint256 internal constant INITIAL_BALANCE = 1000e6;

    TestStablecoin internal usdc;
    VoucherChannels internal channels;

    address internal owner = makeAddr("owner");
    address internal receiver = makeAddr("receiver");
    address internal relayer = makeAddr("relayer");
    address internal stranger = makeAddr("stranger");
    address internal payer;
    uint256 internal payerKey;
    address internal session;
    uint256 internal sessionKey;

    function setUp() public virtual {
        vm.warp(START);
        (payer, payerKey) = makeAddrAndKey("payer");
        (session, sessionKey) = makeAddrAndKey("session");
        usdc = new TestStablecoin("USD Coin", "USDC", "2", owner);
        channels = new VoucherChannels();
        vm.prank(owner);
        usdc.mint(payer, INITIAL_BALANCE);
    }

    /// @dev The default channel: vouchers signed by the payer's session key, one hour to claim.
    function _config() internal view returns (IVoucherChannels.ChannelConfig memory) {
        return IVoucherChannels.ChannelConfig({
            payer: payer,
            payerAuthorizer: session,
            receiver: receiver,
            token: address(usdc),
            withdrawDelay: DELAY,
            salt: keccak256("channel-1")
        });
    }

    function _domainSeparator() internal view returns (bytes32) {
        return keccak256(
            abi.encode(
                DOMAIN_TYPEHASH,
                keccak256("Quittance Voucher Channels"),
                keccak256("1"),
                block.chainid,
                address(channels)
            )
        );
    }

    function _channelId(IVoucherChannels.ChannelConfig memory config) internal view returns (bytes32) {
        bytes32 structHash = keccak256(
            abi.encode(
                CONFIG_TYPEHASH,
                config.payer,
                config.payerAuthorizer,
                config.receiver,
                config.token,
                config.withdrawDelay,
                config.salt
            )
        );
        return keccak256(abi.encodePacked("\x19\x01", _domainSeparator(), structHash));
    }

    function _sign(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    /// @dev A voucher for `amount` in all, signed by `key`.
    function _voucher(IVoucherChannels.ChannelConfig memory config, uint128 amount, uint256 key)
        internal
        view
        returns (IVoucherChannels.VoucherClaim memory)
    {
        bytes32 structHash = keccak256(abi.encode(VOUCHER_TYPEHASH, _channelId(config), amount));
        bytes32 digest = keccak256(abi.encodePacked("\x19\x01", _domainSeparator(), structHash));
        return
            IVoucherChannels.VoucherClaim({config: config, maxClaimableAmount: amount, signature: _sign(key, digest)});
    }

    function _claims(IVoucherChannels.VoucherClaim memory one)
        internal
        pure
        returns (IVoucherChannels.VoucherClaim[] memory claims)
    {
        claims = new IVoucherChannels.VoucherClaim[](1);
        claims[0] = one;
    }

    function _tokenDomainSeparator() internal view returns (bytes32) {
        return
            keccak256(abi.encode(DOMAIN_TYPEHASH, keccak256("USD Coin"), keccak256("2"), block.chainid, address(usdc)));
    }

    /// @dev `data` for Method.Authorization: the payer's ReceiveWithAuthorization of `amount` to the channels
    /// contract, with the nonce of `depositSalt` in `channelId`, valid for the next hour.
    function _authorizationData(bytes32 channelId, uint256 amount, bytes32 depositSalt)
        internal
        view
        returns (bytes memory)
    {
        bytes32 nonce = keccak256(abi.encode(channelId, depositSalt));
        uint256 validAfter = block.timestamp - 1;
        uint256 validBefore = block.timestamp + 1 hours;
        bytes32 structHash =
            keccak256(abi.encode(RECEIVE_TYPEHASH, payer, address(channels), amount, validAfter, validBefore, nonce));
        bytes32 digest = keccak256(abi.encodePacked("\x19\x01", _tokenDomainSeparator(), structHash));
        return abi.encode(validAfter, validBefore, depositSalt, _sign(payerKey, digest));
    }

    /// @dev `data` for Method.Permit: the payer's EIP-2612 permit of `amount` to the channels contract.
    function _permitData(uint256 amount) internal view returns (bytes memory) {
        uint256 deadline = block.timestamp + 1 hours;
        bytes32 structHash =
            keccak256(abi.encode(PERMIT_TYPEHASH, payer, address(channels), amount, usdc.nonces(payer), deadline));
        bytes32 digest = keccak256(abi.encodePacked("\x19\x01", _tokenDomainSeparator(), structHash));
        return abi.encode(deadline, _sign(payerKey, digest));
    }

    /// @dev Opens the default channel with `amount`, by EIP-3009 authorization submitted by a relayer.
    function _open(uint128 amount) internal returns (bytes32 id) {
        IVoucherChannels.ChannelConfig memory config = _config();
        bytes memory data = _authorizationData(_channelId(config), amount, keccak256("deposit-1"));
        vm.prank(relayer);
        id = channels.deposit(config, amount, IVoucherChannels.Method.Authorization, data);
    }

    function _claim(IVoucherChannels.VoucherClaim memory voucher) internal returns (uint256) {
        vm.prank(relayer);
        return channels.claim(_claims(voucher));
    }
}
