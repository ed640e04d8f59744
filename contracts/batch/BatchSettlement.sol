// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IBatchSettlement} from "../interfaces/IBatchSettlement.sol";
import {IDepositCollector} from "../interfaces/IDepositCollector.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Address} from "@openzeppelin/contracts/utils/Address.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";

/// @title BatchSettlement
/// @notice Quittance's implementation of x402's `batch-settlement` channel contract, installed at the canonical
/// address on local chains so official clients, servers and facilitators run against it unchanged.
/// @dev Immutable, ownerless and without immutables or constructor state: its runtime code placed at any address
/// works there (the EIP-712 domain is computed from `address(this)` and `block.chainid` on every use). Every state
/// changing entry point is reentrancy-guarded and deposits are checked by the balance delta. Invariant: for each
/// token the contract holds at least the sum over channels of `balance - totalClaimed` plus the sum over receivers
/// of `totalClaimed - totalSettled`. Claims never exceed a channel's balance nor its voucher, and a claimed total
/// only grows, so a cumulative voucher pays at most once and never beyond the deposit.
contract BatchSettlement is IBatchSettlement, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @inheritdoc IBatchSettlement
    bytes32 public constant CHANNEL_CONFIG_TYPEHASH = keccak256(
        "ChannelConfig(address payer,address payerAuthorizer,address receiver,address receiverAuthorizer,address token,uint40 withdrawDelay,bytes32 salt)"
    );
    bytes32 private constant VOUCHER_TYPEHASH = keccak256("Voucher(bytes32 channelId,uint128 maxClaimableAmount)");
    bytes32 private constant REFUND_TYPEHASH = keccak256("Refund(bytes32 channelId,uint256 nonce,uint128 amount)");
    bytes32 private constant CLAIM_ENTRY_TYPEHASH =
        keccak256("ClaimEntry(bytes32 channelId,uint128 maxClaimableAmount,uint128 totalClaimed)");
    bytes32 private constant CLAIM_BATCH_TYPEHASH = keccak256(
        "ClaimBatch(ClaimEntry[] claims)ClaimEntry(bytes32 channelId,uint128 maxClaimableAmount,uint128 totalClaimed)"
    );
    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 private constant NAME_HASH = keccak256("x402 Batch Settlement");
    bytes32 private constant VERSION_HASH = keccak256("1");

    /// @notice The shortest withdrawal delay a channel may have.
    uint40 public constant MIN_WITHDRAW_DELAY = 15 minutes;
    /// @notice The longest withdrawal delay a channel may have.
    uint40 public constant MAX_WITHDRAW_DELAY = 30 days;

    mapping(bytes32 channelId => ChannelState state) private _channels;
    mapping(bytes32 channelId => PendingWithdrawal withdrawal) private _pending;
    mapping(bytes32 channelId => uint256 nonce) private _refundNonces;
    mapping(address receiver => mapping(address token => ReceiverState state)) private _receivers;

    /// @inheritdoc IBatchSettlement
    function deposit(ChannelConfig calldata config, uint128 amount, address collector, bytes calldata collectorData)
        external
        nonReentrant
    {
        _validateConfig(config);
        if (amount == 0) revert ZeroAmount();
        bytes32 id = _channelId(config);
        ChannelState storage state = _channels[id];
        (uint128 balance, uint128 claimed) = (state.balance, state.totalClaimed);
        if (uint256(balance) + amount > type(uint128).max) revert BalanceOverflow();
        IERC20 token = IERC20(config.token);
        state.balance = balance + amount;
        uint256 held = token.balanceOf(address(this));
        IDepositCollector(collector).collect(config.payer, config.token, amount, id, collectorData);
        uint256 received = token.balanceOf(address(this)) - held;
        if (received != amount) revert DepositMismatch(amount, received);
        if (balance == claimed && claimed == 0) emit ChannelCreated(id, config);
        emit Deposited(id, config.payer, collector, amount);
    }

    /// @inheritdoc IBatchSettlement
    function claim(VoucherClaim[] calldata voucherClaims) external nonReentrant {
        if (voucherClaims.length == 0) revert EmptyClaims();
        for (uint256 i; i < voucherClaims.length; ++i) {
            ChannelConfig calldata config = voucherClaims[i].voucher.channel;
            if (msg.sender != config.receiver && msg.sender != config.receiverAuthorizer) {
                revert NotReceiverOrAuthorizer(msg.sender);
            }
            _claim(voucherClaims[i], _channelId(config));
        }
    }

    /// @inheritdoc IBatchSettlement
    function claimWithSignature(VoucherClaim[] calldata voucherClaims, bytes calldata authorizerSignature)
        external
        nonReentrant
    {
        if (voucherClaims.length == 0) revert EmptyClaims();
        address authorizer = voucherClaims[0].voucher.channel.receiverAuthorizer;
        bytes32[] memory ids = new bytes32[](voucherClaims.length);
        for (uint256 i; i < voucherClaims.length; ++i) {
            ids[i] = _channelId(voucherClaims[i].voucher.channel);
            if (voucherClaims[i].voucher.channel.receiverAuthorizer != authorizer) {
                revert ReceiverAuthorizerMismatch(ids[i]);
            }
        }
        bytes32 digest = _claimBatchDigest(voucherClaims, ids);
        if (!SignatureChecker.isValidSignatureNowCalldata(authorizer, digest, authorizerSignature)) {
            revert InvalidAuthorizerSignature();
        }
        for (uint256 i; i < voucherClaims.length; ++i) {
            _claim(voucherClaims[i], ids[i]);
        }
    }

    /// @inheritdoc IBatchSettlement
    function settle(address receiver, address token) external nonReentrant {
        ReceiverState storage state = _receivers[receiver][token];
        (uint128 claimed, uint128 settled) = (state.totalClaimed, state.totalSettled);
        uint128 amount = claimed - settled;
        if (amount == 0) return;
        state.totalSettled = claimed;
        IERC20(token).safeTransfer(receiver, amount);
        emit Settled(receiver, token, msg.sender, amount);
    }

    /// @inheritdoc IBatchSettlement
    function initiateWithdraw(ChannelConfig calldata config, uint128 amount) external nonReentrant {
        _requirePayerSide(config);
        if (amount == 0) revert ZeroAmount();
        bytes32 id = _channelId(config);
        PendingWithdrawal storage pending = _pending[id];
        if (pending.initiatedAt != 0) revert WithdrawPending(id);
        ChannelState storage state = _channels[id];
        uint128 unclaimed = state.balance - state.totalClaimed;
        if (amount > unclaimed) revert WithdrawExceedsUnclaimed(amount, unclaimed);
        // casting to 'uint40' is safe: block timestamps fit 40 bits for another 34,000 years
        // forge-lint: disable-next-line(unsafe-typecast)
        uint40 now_ = uint40(block.timestamp);
        (pending.amount, pending.initiatedAt) = (amount, now_);
        emit WithdrawInitiated(id, amount, now_);
    }

    /// @inheritdoc IBatchSettlement
    function finalizeWithdraw(ChannelConfig calldata config) external nonReentrant {
        _requirePayerSide(config);
        bytes32 id = _channelId(config);
        PendingWithdrawal memory pending = _pending[id];
        if (pending.initiatedAt == 0) revert NoPendingWithdrawal(id);
        uint256 readyAt = uint256(pending.initiatedAt) + config.withdrawDelay;
        if (block.timestamp < readyAt) revert WithdrawNotReady(readyAt, block.timestamp);
        delete _pending[id];
        ChannelState storage state = _channels[id];
        uint128 unclaimed = state.balance - state.totalClaimed;
        uint128 amount = pending.amount < unclaimed ? pending.amount : unclaimed;
        state.balance -= amount;
        emit WithdrawFinalized(id, config.payer, amount);
        _closedIfDrained(config, id, state);
        if (amount != 0) IERC20(config.token).safeTransfer(config.payer, amount);
    }

    /// @inheritdoc IBatchSettlement
    function refund(ChannelConfig calldata config, uint128 amount) external nonReentrant {
        if (msg.sender != config.receiver && msg.sender != config.receiverAuthorizer) {
            revert NotReceiverOrAuthorizer(msg.sender);
        }
        bytes32 id = _channelId(config);
        _refund(config, id, amount, _refundNonces[id]);
    }

    /// @inheritdoc IBatchSettlement
    function refundWithSignature(
        ChannelConfig calldata config,
        uint128 amount,
        uint256 nonce,
        bytes calldata receiverAuthorizerSignature
    ) external nonReentrant {
        bytes32 id = _channelId(config);
        uint256 expected = _refundNonces[id];
        if (nonce != expected) revert InvalidRefundNonce(expected, nonce);
        if (!SignatureChecker.isValidSignatureNowCalldata(
                config.receiverAuthorizer, _refundDigest(id, nonce, amount), receiverAuthorizerSignature
            )) revert InvalidAuthorizerSignature();
        _refund(config, id, amount, nonce);
    }

    /// @inheritdoc IBatchSettlement
    function multicall(bytes[] calldata data) external returns (bytes[] memory results) {
        results = new bytes[](data.length);
        for (uint256 i; i < data.length; ++i) {
            results[i] = Address.functionDelegateCall(address(this), data[i]);
        }
    }

    /// @inheritdoc IBatchSettlement
    function getChannelId(ChannelConfig calldata config) external view returns (bytes32) {
        return _channelId(config);
    }

    /// @inheritdoc IBatchSettlement
    function channels(bytes32 channelId) external view returns (uint128 balance, uint128 totalClaimed) {
        ChannelState storage state = _channels[channelId];
        return (state.balance, state.totalClaimed);
    }

    /// @inheritdoc IBatchSettlement
    function pendingWithdrawals(bytes32 channelId) external view returns (uint128 amount, uint40 initiatedAt) {
        PendingWithdrawal storage pending = _pending[channelId];
        return (pending.amount, pending.initiatedAt);
    }

    /// @inheritdoc IBatchSettlement
    function receivers(address receiver, address token)
        external
        view
        returns (uint128 totalClaimed, uint128 totalSettled)
    {
        ReceiverState storage state = _receivers[receiver][token];
        return (state.totalClaimed, state.totalSettled);
    }

    /// @inheritdoc IBatchSettlement
    function getVoucherDigest(bytes32 channelId, uint128 maxClaimableAmount) external view returns (bytes32) {
        return _voucherDigest(channelId, maxClaimableAmount);
    }

    /// @inheritdoc IBatchSettlement
    function getRefundDigest(bytes32 channelId, uint256 nonce, uint128 amount) external view returns (bytes32) {
        return _refundDigest(channelId, nonce, amount);
    }

    /// @inheritdoc IBatchSettlement
    function refundNonce(bytes32 channelId) external view returns (uint256) {
        return _refundNonces[channelId];
    }

    /// @inheritdoc IBatchSettlement
    function getClaimBatchDigest(VoucherClaim[] calldata voucherClaims) external view returns (bytes32) {
        bytes32[] memory ids = new bytes32[](voucherClaims.length);
        for (uint256 i; i < voucherClaims.length; ++i) {
            ids[i] = _channelId(voucherClaims[i].voucher.channel);
        }
        return _claimBatchDigest(voucherClaims, ids);
    }

    /// @dev Raises a channel's claimed total to the row's, checked against the voucher and the balance.
    function _claim(VoucherClaim calldata row, bytes32 id) private {
        ChannelState storage state = _channels[id];
        (uint128 balance, uint128 claimed) = (state.balance, state.totalClaimed);
        uint128 total = row.totalClaimed;
        uint128 ceiling = row.voucher.maxClaimableAmount;
        if (total < claimed) revert ClaimBelowClaimed(id, total, claimed);
        if (total > ceiling) revert ClaimExceedsVoucher(id, total, ceiling);
        if (total > balance) revert ClaimExceedsBalance(id, total, balance);
        if (total == claimed) return;
        ChannelConfig calldata config = row.voucher.channel;
        if (!_validVoucher(config, _voucherDigest(id, ceiling), row.signature)) revert InvalidVoucherSignature(id);
        uint128 amount = total - claimed;
        state.totalClaimed = total;
        _receivers[config.receiver][config.token].totalClaimed += amount;
        emit Claimed(id, config.receiver, amount, total);
    }

    /// @dev Advances the refund nonce, then returns up to `amount` of the unclaimed escrow to the payer. A pending
    /// withdrawal shrinks by what was refunded, and ends when the refund covers it.
    function _refund(ChannelConfig calldata config, bytes32 id, uint128 amount, uint256 nonce) private {
        _refundNonces[id] = nonce + 1;
        ChannelState storage state = _channels[id];
        uint128 unclaimed = state.balance - state.totalClaimed;
        uint128 refunded = amount < unclaimed ? amount : unclaimed;
        if (refunded == 0) return;
        state.balance -= refunded;
        PendingWithdrawal storage pending = _pending[id];
        if (pending.initiatedAt != 0) {
            if (refunded >= pending.amount) delete _pending[id];
            else pending.amount -= refunded;
        }
        emit Refunded(id, config.payer, nonce, refunded);
        _closedIfDrained(config, id, state);
        IERC20(config.token).safeTransfer(config.payer, refunded);
    }

    function _closedIfDrained(ChannelConfig calldata config, bytes32 id, ChannelState storage state) private {
        if (state.balance == 0 && state.totalClaimed == 0) emit ChannelClosed(id, config);
    }

    /// @dev A voucher signed by the payer authorizer is checked by ECDSA alone (no code is called, so no signer
    /// can revoke or gas-grief a claim); with no payer authorizer the payer is checked as the spec defines, by
    /// ECDSA for an account without code and by ERC-1271 otherwise.
    function _validVoucher(ChannelConfig calldata config, bytes32 digest, bytes calldata signature)
        private
        view
        returns (bool)
    {
        if (config.payerAuthorizer != address(0)) {
            (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(digest, signature);
            return err == ECDSA.RecoverError.NoError && signer == config.payerAuthorizer;
        }
        return SignatureChecker.isValidSignatureNowCalldata(config.payer, digest, signature);
    }

    function _requirePayerSide(ChannelConfig calldata config) private view {
        if (
            msg.sender != config.payer && (config.payerAuthorizer == address(0) || msg.sender != config.payerAuthorizer)
        ) {
            revert NotPayerOrAuthorizer(msg.sender);
        }
    }

    function _validateConfig(ChannelConfig calldata config) private view {
        if (
            config.payer == address(0) || config.receiver == address(0) || config.receiverAuthorizer == address(0)
                || config.token.code.length == 0
        ) revert InvalidChannelConfig();
        if (config.withdrawDelay < MIN_WITHDRAW_DELAY || config.withdrawDelay > MAX_WITHDRAW_DELAY) {
            revert WithdrawDelayOutOfRange(config.withdrawDelay);
        }
    }

    function _domainSeparator() private view returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, block.chainid, address(this)));
    }

    function _typedDigest(bytes32 structHash) private view returns (bytes32) {
        return keccak256(abi.encodePacked("\x19\x01", _domainSeparator(), structHash));
    }

    function _channelId(ChannelConfig calldata config) private view returns (bytes32) {
        return _typedDigest(keccak256(abi.encode(CHANNEL_CONFIG_TYPEHASH, config)));
    }

    function _voucherDigest(bytes32 id, uint128 maxClaimableAmount) private view returns (bytes32) {
        return _typedDigest(keccak256(abi.encode(VOUCHER_TYPEHASH, id, maxClaimableAmount)));
    }

    function _refundDigest(bytes32 id, uint256 nonce, uint128 amount) private view returns (bytes32) {
        return _typedDigest(keccak256(abi.encode(REFUND_TYPEHASH, id, nonce, amount)));
    }

    function _claimBatchDigest(VoucherClaim[] calldata voucherClaims, bytes32[] memory ids)
        private
        view
        returns (bytes32)
    {
        bytes32[] memory entries = new bytes32[](voucherClaims.length);
        for (uint256 i; i < voucherClaims.length; ++i) {
            entries[i] = keccak256(
                abi.encode(
                    CLAIM_ENTRY_TYPEHASH,
                    ids[i],
                    voucherClaims[i].voucher.maxClaimableAmount,
                    voucherClaims[i].totalClaimed
                )
            );
        }
        return _typedDigest(keccak256(abi.encode(CLAIM_BATCH_TYPEHASH, keccak256(abi.encodePacked(entries)))));
    }
}
