// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IERC3009} from "../interfaces/IERC3009.sol";
import {IVoucherChannels} from "../interfaces/IVoucherChannels.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";

/// @title VoucherChannels
/// @notice Deposit once, pay each request with an off-chain cumulative voucher, claim many channels in one
/// transaction, collect with one transfer per receiver and token.
/// @dev Immutable and ownerless. Every entry point is reentrancy-guarded; deposits are checked by the
/// contract's balance delta, so fee-on-transfer and lying tokens are refused. Invariant: for each token, the
/// contract holds at least the sum over open channels of `balance - totalClaimed` plus everything claimed and
/// not yet settled. Vouchers are checked by ECDSA alone: a claim calls no signer code, so a batch cannot be
/// gas-griefed by one of its signers and no signature accepted by a receiver can be revoked later.
contract VoucherChannels is IVoucherChannels, EIP712, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice EIP-712 type hash of `ChannelConfig`.
    bytes32 public constant CHANNEL_CONFIG_TYPEHASH = keccak256(
        "ChannelConfig(address payer,address payerAuthorizer,address receiver,address token,uint40 withdrawDelay,bytes32 salt)"
    );

    /// @notice EIP-712 type hash of a voucher.
    bytes32 public constant VOUCHER_TYPEHASH = keccak256("Voucher(bytes32 channelId,uint128 maxClaimableAmount)");

    /// @notice The shortest withdrawal delay a channel may have.
    uint40 public constant MIN_WITHDRAW_DELAY = 15 minutes;

    /// @notice The longest withdrawal delay a channel may have.
    uint40 public constant MAX_WITHDRAW_DELAY = 30 days;

    /// @dev An EIP-7702 delegated account's code: this prefix and the delegate's address, 23 bytes.
    bytes3 private constant DELEGATION_PREFIX = 0xef0100;

    mapping(bytes32 channelId => ChannelState state) private _channels;
    mapping(address receiver => mapping(address token => uint256 amount)) private _unsettled;

    constructor() EIP712("Quittance Voucher Channels", "1") {}

    /// @inheritdoc IVoucherChannels
    function deposit(ChannelConfig calldata config, uint128 amount, Method method, bytes calldata data)
        external
        nonReentrant
        returns (bytes32 id)
    {
        _validateConfig(config);
        if (amount == 0) revert ZeroAmount();
        id = _channelId(config);
        ChannelState storage state = _channels[id];
        if (state.closed) revert ChannelClosed(id);
        if (uint256(state.balance) + amount > type(uint128).max) revert BalanceOverflow();

        IERC20 token = IERC20(config.token);
        uint256 held = token.balanceOf(address(this));
        if (method == Method.Authorization) {
            _receiveWithAuthorization(config, id, amount, data);
        } else {
            if (msg.sender != config.payer) revert Unauthorized(msg.sender);
            if (method == Method.Permit) {
                _permit(config, amount, data);
            } else if (data.length != 0) {
                revert InvalidMethodData();
            }
            token.safeTransferFrom(config.payer, address(this), amount);
        }
        _requireDelta(token.balanceOf(address(this)) - held, amount);

        state.balance += amount;
        emit Deposited(id, config.payer, config.receiver, amount);
        if (state.withdrawableAt != 0) {
            state.withdrawableAt = 0;
            emit WithdrawalCancelled(id);
        }
    }

    /// @inheritdoc IVoucherChannels
    function claim(VoucherClaim[] calldata claims) external nonReentrant returns (uint256 claimed) {
        for (uint256 i; i < claims.length; ++i) {
            VoucherClaim calldata voucher = claims[i];
            bytes32 id = _channelId(voucher.config);
            ChannelState storage state = _channels[id];
            if (state.closed) {
                emit ClaimSkipped(id, ClaimSkip.ChannelClosed);
                continue;
            }
            (uint128 balance, uint128 totalClaimed) = (state.balance, state.totalClaimed);
            uint128 claimable = voucher.maxClaimableAmount < balance ? voucher.maxClaimableAmount : balance;
            if (claimable <= totalClaimed) {
                emit ClaimSkipped(id, ClaimSkip.NothingToClaim);
                continue;
            }
            (address signer, ECDSA.RecoverError err,) =
                ECDSA.tryRecoverCalldata(_voucherDigest(id, voucher.maxClaimableAmount), voucher.signature);
            if (err != ECDSA.RecoverError.NoError || signer != _authorizer(voucher.config)) {
                emit ClaimSkipped(id, ClaimSkip.InvalidSignature);
                continue;
            }
            uint128 amount = claimable - totalClaimed;
            state.totalClaimed = claimable;
            _unsettled[voucher.config.receiver][voucher.config.token] += amount;
            claimed += amount;
            emit Claimed(id, voucher.config.receiver, amount, claimable);
        }
    }

    /// @inheritdoc IVoucherChannels
    function settle(address receiver, address token) external nonReentrant returns (uint256 amount) {
        amount = _settle(receiver, token, receiver);
    }

    /// @inheritdoc IVoucherChannels
    function settleTo(address token, address to) external nonReentrant returns (uint256 amount) {
        if (to == address(0) || to == address(this)) revert InvalidRecipient(to);
        amount = _settle(msg.sender, token, to);
    }

    /// @inheritdoc IVoucherChannels
    function requestWithdrawal(ChannelConfig calldata config) external nonReentrant {
        if (msg.sender != config.payer) revert Unauthorized(msg.sender);
        bytes32 id = _channelId(config);
        ChannelState storage state = _channels[id];
        if (state.closed) revert ChannelClosed(id);
        // A second request keeps the first one's time: it cannot shorten nor lengthen the receiver's window.
        if (state.withdrawableAt != 0) return;
        uint256 readyAt = block.timestamp + config.withdrawDelay;
        if (readyAt > type(uint40).max) revert WithdrawalTimeOverflow(readyAt);
        // casting to 'uint40' is safe because `readyAt` was just checked to fit
        // forge-lint: disable-next-line(unsafe-typecast)
        uint40 withdrawableAt = uint40(readyAt);
        state.withdrawableAt = withdrawableAt;
        emit WithdrawalRequested(id, withdrawableAt);
    }

    /// @inheritdoc IVoucherChannels
    function withdraw(ChannelConfig calldata config) external nonReentrant returns (uint256 refunded) {
        if (msg.sender != config.payer) revert Unauthorized(msg.sender);
        bytes32 id = _channelId(config);
        uint40 withdrawableAt = _channels[id].withdrawableAt;
        if (withdrawableAt == 0 || block.timestamp < withdrawableAt) {
            revert WithdrawalNotReady(withdrawableAt, block.timestamp);
        }
        refunded = _close(config, id);
    }

    /// @inheritdoc IVoucherChannels
    function close(ChannelConfig calldata config) external nonReentrant returns (uint256 refunded) {
        if (msg.sender != config.receiver) revert Unauthorized(msg.sender);
        refunded = _close(config, _channelId(config));
    }

    /// @inheritdoc IVoucherChannels
    function channelId(ChannelConfig calldata config) external view returns (bytes32) {
        return _channelId(config);
    }

    /// @inheritdoc IVoucherChannels
    function voucherDigest(bytes32 id, uint128 maxClaimableAmount) external view returns (bytes32) {
        return _voucherDigest(id, maxClaimableAmount);
    }

    /// @inheritdoc IVoucherChannels
    function depositNonce(bytes32 id, bytes32 depositSalt) public pure returns (bytes32) {
        return keccak256(abi.encode(id, depositSalt));
    }

    /// @inheritdoc IVoucherChannels
    function channel(bytes32 id) external view returns (ChannelState memory) {
        return _channels[id];
    }

    /// @inheritdoc IVoucherChannels
    function claimedUnsettled(address receiver, address token) external view returns (uint256) {
        return _unsettled[receiver][token];
    }

    function _validateConfig(ChannelConfig calldata config) private view {
        if (
            config.payer == address(0) || config.receiver == address(0) || config.payer == config.receiver
                || config.token.code.length == 0
        ) revert InvalidConfig();
        if (config.withdrawDelay < MIN_WITHDRAW_DELAY || config.withdrawDelay > MAX_WITHDRAW_DELAY) {
            revert InvalidWithdrawDelay(config.withdrawDelay);
        }
        address authorizer = _authorizer(config);
        if (!_canSign(authorizer)) revert ContractAuthorizer(authorizer);
    }

    /// @dev Whether `account` can make ECDSA signatures, as far as the chain can tell: no code (an EOA, or a
    /// contract not deployed yet), or an EIP-7702 delegation (an EOA that keeps its key). Code starting with
    /// 0xef can only be a delegation (EIP-3541 forbids deploying it).
    function _canSign(address account) private view returns (bool) {
        uint256 size = account.code.length;
        if (size == 0) return true;
        if (size != 23) return false;
        bytes3 prefix;
        assembly ("memory-safe") {
            let word := mload(0x40)
            extcodecopy(account, word, 0, 3)
            prefix := mload(word)
        }
        return prefix == DELEGATION_PREFIX;
    }

    function _channelId(ChannelConfig calldata config) private view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(
                abi.encode(
                    CHANNEL_CONFIG_TYPEHASH,
                    config.payer,
                    config.payerAuthorizer,
                    config.receiver,
                    config.token,
                    config.withdrawDelay,
                    config.salt
                )
            )
        );
    }

    function _voucherDigest(bytes32 id, uint128 maxClaimableAmount) private view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(VOUCHER_TYPEHASH, id, maxClaimableAmount)));
    }

    function _authorizer(ChannelConfig calldata config) private pure returns (address) {
        return config.payerAuthorizer == address(0) ? config.payer : config.payerAuthorizer;
    }

    /// @dev Closes the channel and sends what is not claimed back to the payer.
    function _close(ChannelConfig calldata config, bytes32 id) private returns (uint256 refunded) {
        ChannelState storage state = _channels[id];
        if (state.closed) revert ChannelClosed(id);
        refunded = state.balance - state.totalClaimed;
        state.closed = true;
        if (refunded != 0) _send(config.token, config.payer, refunded);
        emit Closed(id, refunded);
    }

    function _receiveWithAuthorization(ChannelConfig calldata config, bytes32 id, uint128 amount, bytes calldata data)
        private
    {
        bytes calldata signature = _signature(data, 3);
        IERC3009(config.token)
            .receiveWithAuthorization(
                config.payer,
                address(this),
                amount,
                uint256(bytes32(data[:32])),
                uint256(bytes32(data[32:64])),
                depositNonce(id, bytes32(data[64:96])),
                signature
            );
    }

    function _permit(ChannelConfig calldata config, uint128 amount, bytes calldata data) private {
        bytes calldata signature = _signature(data, 1);
        if (signature.length != 65) revert InvalidMethodData();
        uint256 deadline = uint256(bytes32(data[:32]));
        (bytes32 r, bytes32 s, uint8 v) = (bytes32(signature[:32]), bytes32(signature[32:64]), uint8(signature[64]));
        // A front-run permit is tolerated: the transfer that follows still needs the allowance.
        try IERC20Permit(config.token).permit(config.payer, address(this), amount, deadline, v, r, s) {} catch {}
    }

    /// @dev The `bytes` signature that ends `data`, abi-encoded after `words` static words: its offset must be
    /// the head's end and its length must fit in `data`, else `InvalidMethodData` (never a bare revert).
    function _signature(bytes calldata data, uint256 words) private pure returns (bytes calldata) {
        uint256 head = (words + 1) * 32;
        if (data.length < head + 32 || uint256(bytes32(data[head - 32:head])) != head) revert InvalidMethodData();
        uint256 length = uint256(bytes32(data[head:head + 32]));
        if (length > data.length - head - 32) revert InvalidMethodData();
        return data[head + 32:head + 32 + length];
    }

    /// @dev Pays what is claimed for `receiver` in `token` to `to`.
    function _settle(address receiver, address token, address to) private returns (uint256 amount) {
        amount = _unsettled[receiver][token];
        if (amount == 0) return 0;
        _unsettled[receiver][token] = 0;
        _send(token, to, amount);
        emit Settled(receiver, token, to, amount);
    }

    function _send(address token, address to, uint256 amount) private {
        uint256 held = IERC20(token).balanceOf(address(this));
        IERC20(token).safeTransfer(to, amount);
        _requireDelta(held - IERC20(token).balanceOf(address(this)), amount);
    }

    function _requireDelta(uint256 actual, uint256 expected) private pure {
        if (actual != expected) revert AmountMismatch(expected, actual);
    }
}
