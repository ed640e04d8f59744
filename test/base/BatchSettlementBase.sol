// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {BatchSettlement} from "../../contracts/batch/BatchSettlement.sol";
import {Erc3009DepositCollector} from "../../contracts/batch/Erc3009DepositCollector.sol";
import {IBatchSettlement} from "../../contracts/interfaces/IBatchSettlement.sol";
import {TestStablecoin} from "../../contracts/tokens/TestStablecoin.sol";
import {Test} from "forge-std/Test.sol";

/// @notice Shared fixture for the BatchSettlement tests: the contract and its ERC-3009 deposit collector at their
/// canonical x402 addresses (as on local chains), a USDC look-alike, a payer whose session key signs vouchers, a
/// receiver and its authorizer. Channel ids, vouchers, claim batches, refunds and EIP-3009 deposits are hashed
/// and signed here from the x402 specification's types, not with the contract's own hashing.
abstract contract BatchSettlementBase is Test {
    address internal constant SETTLEMENT = 0x4020074e9dF2ce1deE5A9C1b5c3f541D02a10003;
    address internal constant COLLECTOR = 0x4020806089470a89826cB9fB1f4059150b550004;

    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 internal constant CONFIG_TYPEHASH = keccak256(
        "ChannelConfig(address payer,address payerAuthorizer,address receiver,address receiverAuthorizer,address token,uint40 withdrawDelay,bytes32 salt)"
    );
    bytes32 internal constant VOUCHER_TYPEHASH = keccak256("Voucher(bytes32 channelId,uint128 maxClaimableAmount)");
    bytes32 internal constant REFUND_TYPEHASH = keccak256("Refund(bytes32 channelId,uint256 nonce,uint128 amount)");
    bytes32 internal constant ENTRY_TYPEHASH =
        keccak256("ClaimEntry(bytes32 channelId,uint128 maxClaimableAmount,uint128 totalClaimed)");
    bytes32 internal constant BATCH_TYPEHASH = keccak256(
        "ClaimBatch(ClaimEntry[] claims)ClaimEntry(bytes32 channelId,uint128 maxClaimableAmount,uint128 totalClaimed)"
    );
    bytes32 internal constant RECEIVE_TYPEHASH = keccak256(
        "ReceiveWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
    );

    uint256 internal constant START = 1_750_000_000;
    uint40 internal constant DELAY = 1 hours;
    uint128 internal constant DEPOSIT = 10e6;
    uint256 internal constant INITIAL_BALANCE = 1000e6;

    TestStablecoin internal usdc;
    IBatchSettlement internal settlement = IBatchSettlement(SETTLEMENT);

    address internal receiver = makeAddr("receiver");
    address internal relayer = makeAddr("relayer");
    address internal stranger = makeAddr("stranger");
    address internal payer;
    uint256 internal payerKey;
    address internal session;
    uint256 internal sessionKey;
    address internal authorizer;
    uint256 internal authorizerKey;

    function setUp() public virtual {
        vm.warp(START);
        (payer, payerKey) = makeAddrAndKey("payer");
        (session, sessionKey) = makeAddrAndKey("session");
        (authorizer, authorizerKey) = makeAddrAndKey("authorizer");
        usdc = new TestStablecoin("USD Coin", "USDC", "2", address(this));
        // Neither contract has constructor state: their runtime code works at the canonical addresses.
        vm.etch(SETTLEMENT, address(new BatchSettlement()).code);
        vm.etch(COLLECTOR, address(new Erc3009DepositCollector()).code);
        usdc.mint(payer, INITIAL_BALANCE);
    }

    /// @dev A channel with vouchers signed by the payer's session key, one hour to claim.
    function _config(bytes32 salt) internal view returns (IBatchSettlement.ChannelConfig memory) {
        return IBatchSettlement.ChannelConfig({
            payer: payer,
            payerAuthorizer: session,
            receiver: receiver,
            receiverAuthorizer: authorizer,
            token: address(usdc),
            withdrawDelay: DELAY,
            salt: salt
        });
    }

    function _config() internal view returns (IBatchSettlement.ChannelConfig memory) {
        return _config(keccak256("channel-1"));
    }

    function _digest(bytes32 domainSeparator, bytes32 structHash) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator, structHash));
    }

    function _domainSeparator() internal view returns (bytes32) {
        return keccak256(
            abi.encode(DOMAIN_TYPEHASH, keccak256("x402 Batch Settlement"), keccak256("1"), block.chainid, SETTLEMENT)
        );
    }

    function _channelId(IBatchSettlement.ChannelConfig memory c) internal view returns (bytes32) {
        return _digest(
            _domainSeparator(),
            keccak256(
                abi.encode(
                    CONFIG_TYPEHASH,
                    c.payer,
                    c.payerAuthorizer,
                    c.receiver,
                    c.receiverAuthorizer,
                    c.token,
                    c.withdrawDelay,
                    c.salt
                )
            )
        );
    }

    function _sign(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    /// @dev A claim row: a voucher for `ceiling` in all signed by `key`, claiming `total`.
    function _row(IBatchSettlement.ChannelConfig memory config, uint128 ceiling, uint128 total, uint256 key)
        internal
        view
        returns (IBatchSettlement.VoucherClaim memory)
    {
        bytes32 digest =
            _digest(_domainSeparator(), keccak256(abi.encode(VOUCHER_TYPEHASH, _channelId(config), ceiling)));
        return IBatchSettlement.VoucherClaim({
            voucher: IBatchSettlement.Voucher({channel: config, maxClaimableAmount: ceiling}),
            signature: _sign(key, digest),
            totalClaimed: total
        });
    }

    function _rows(IBatchSettlement.VoucherClaim memory one)
        internal
        pure
        returns (IBatchSettlement.VoucherClaim[] memory rows)
    {
        rows = new IBatchSettlement.VoucherClaim[](1);
        rows[0] = one;
    }

    /// @dev The receiver authorizer's ClaimBatch signature over `rows`.
    function _batchSignature(IBatchSettlement.VoucherClaim[] memory rows, uint256 key)
        internal
        view
        returns (bytes memory)
    {
        bytes32[] memory entries = new bytes32[](rows.length);
        for (uint256 i; i < rows.length; ++i) {
            entries[i] = keccak256(
                abi.encode(
                    ENTRY_TYPEHASH,
                    _channelId(rows[i].voucher.channel),
                    rows[i].voucher.maxClaimableAmount,
                    rows[i].totalClaimed
                )
            );
        }
        bytes32 structHash = keccak256(abi.encode(BATCH_TYPEHASH, keccak256(abi.encodePacked(entries))));
        return _sign(key, _digest(_domainSeparator(), structHash));
    }

    function _refundSignature(bytes32 id, uint256 nonce, uint128 amount, uint256 key)
        internal
        view
        returns (bytes memory)
    {
        return _sign(key, _digest(_domainSeparator(), keccak256(abi.encode(REFUND_TYPEHASH, id, nonce, amount))));
    }

    function _tokenDomainSeparator() internal view returns (bytes32) {
        return
            keccak256(abi.encode(DOMAIN_TYPEHASH, keccak256("USD Coin"), keccak256("2"), block.chainid, address(usdc)));
    }

    /// @dev The collector data the x402 client builds: the payer's ReceiveWithAuthorization of `amount` to the
    /// collector, nonce `keccak256(abi.encode(channelId, salt))`.
    function _collectorData(bytes32 channelId, uint256 amount, uint256 salt) internal view returns (bytes memory) {
        uint256 validBefore = block.timestamp + 1 hours;
        bytes32 nonce = keccak256(abi.encode(channelId, salt));
        bytes32 structHash = keccak256(abi.encode(RECEIVE_TYPEHASH, payer, COLLECTOR, amount, 0, validBefore, nonce));
        return abi.encode(uint256(0), validBefore, salt, _sign(payerKey, _digest(_tokenDomainSeparator(), structHash)));
    }

    /// @dev Deposits `amount` into `config` through the ERC-3009 collector, submitted by a relayer.
    function _deposit(IBatchSettlement.ChannelConfig memory config, uint128 amount, uint256 salt)
        internal
        returns (bytes32 id)
    {
        id = _channelId(config);
        bytes memory data = _collectorData(id, amount, salt);
        vm.prank(relayer);
        settlement.deposit(config, amount, COLLECTOR, data);
    }

    function _open(uint128 amount) internal returns (bytes32) {
        return _deposit(_config(), amount, 1);
    }

    function _claim(IBatchSettlement.VoucherClaim memory row) internal {
        vm.prank(authorizer);
        settlement.claim(_rows(row));
    }

    function _claimed(bytes32 id) internal view returns (uint128 claimed) {
        (, claimed) = settlement.channels(id);
    }

    function _balance(bytes32 id) internal view returns (uint128 balance) {
        (balance,) = settlement.channels(id);
    }
}
