// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title IBatchSettlement
/// @notice x402's `batch-settlement` channels on EVM: a payer deposits once through a collector, pays each request
/// with an off-chain cumulative voucher; the receiver side claims the latest voucher of many channels in one
/// transaction and sweeps everything claimed to the receiver with one transfer per token. The ABI, the EIP-712
/// domain (`x402 Batch Settlement`, version `1`) and the signed types are those of the x402 specification and its
/// SDK, so official clients, servers and facilitators work against this contract at the canonical address.
interface IBatchSettlement {
    /// @notice A channel's immutable terms; its EIP-712 hash is the channel id.
    /// @param payer Whose deposit the channel holds and to whom refunds and withdrawals go.
    /// @param payerAuthorizer The EOA that signs vouchers (ECDSA only), or zero: vouchers are then checked against
    /// `payer` (ECDSA for an account without code, ERC-1271 for a contract).
    /// @param receiver Who is paid by claims.
    /// @param receiverAuthorizer Who authorizes claims and refunds (directly or by an EIP-712 signature).
    /// @param token The ERC-20 the channel holds.
    /// @param withdrawDelay Seconds between `initiateWithdraw` and `finalizeWithdraw`: the receiver's window to claim.
    /// @param salt Tells apart channels with otherwise equal terms.
    struct ChannelConfig {
        address payer;
        address payerAuthorizer;
        address receiver;
        address receiverAuthorizer;
        address token;
        uint40 withdrawDelay;
        bytes32 salt;
    }

    /// @notice A payer's promise: the receiver may claim up to `maxClaimableAmount` in total from `channel`.
    struct Voucher {
        ChannelConfig channel;
        uint128 maxClaimableAmount;
    }

    /// @notice One row of a claim: a signed voucher and the channel's new cumulative claimed total.
    struct VoucherClaim {
        Voucher voucher;
        bytes signature;
        uint128 totalClaimed;
    }

    /// @notice A channel's money: `balance` is deposited minus withdrawn and refunded; `totalClaimed` is what
    /// claims took of it (cumulative). The payer's unclaimed escrow is `balance - totalClaimed`.
    struct ChannelState {
        uint128 balance;
        uint128 totalClaimed;
    }

    /// @notice A timed withdrawal the payer started.
    struct PendingWithdrawal {
        uint128 amount;
        uint40 initiatedAt;
    }

    /// @notice What claims credited a receiver in one token, and how much of it `settle` already sent.
    struct ReceiverState {
        uint128 totalClaimed;
        uint128 totalSettled;
    }

    /// @notice A deposit arrived in a channel whose unclaimed escrow and claimed total were zero.
    event ChannelCreated(bytes32 indexed channelId, ChannelConfig config);
    /// @notice A refund or withdrawal drained a channel that nothing was ever claimed from.
    event ChannelClosed(bytes32 indexed channelId, ChannelConfig config);
    /// @notice `amount` of the payer's tokens arrived in the channel through `collector`.
    event Deposited(bytes32 indexed channelId, address indexed payer, address indexed collector, uint128 amount);
    /// @notice A claim raised the channel's claimed total by `amount` to `totalClaimed`.
    event Claimed(bytes32 indexed channelId, address indexed receiver, uint128 amount, uint128 totalClaimed);
    /// @notice `amount` of what claims credited `receiver` was sent to it; `sender` called `settle`.
    event Settled(address indexed receiver, address indexed token, address indexed sender, uint128 amount);
    /// @notice A cooperative refund returned `amount` to the payer and used refund nonce `nonce`.
    event Refunded(bytes32 indexed channelId, address indexed payer, uint256 nonce, uint128 amount);
    /// @notice The payer started a timed withdrawal of `amount`.
    event WithdrawInitiated(bytes32 indexed channelId, uint128 amount, uint40 initiatedAt);
    /// @notice A timed withdrawal returned `amount` (what was still unclaimed, at most the amount asked) to the payer.
    event WithdrawFinalized(bytes32 indexed channelId, address indexed payer, uint128 amount);

    /// @notice A zero payer, receiver or receiver authorizer, or a token without code.
    error InvalidChannelConfig();
    /// @notice The withdrawal delay is outside 15 minutes to 30 days.
    error WithdrawDelayOutOfRange(uint40 withdrawDelay);
    /// @notice An amount of zero where something must move.
    error ZeroAmount();
    /// @notice The collector delivered a different amount than the deposit's (fee-on-transfer or lying token).
    error DepositMismatch(uint256 expected, uint256 received);
    /// @notice The deposit would take the channel's balance beyond uint128.
    error BalanceOverflow();
    /// @notice No claims were given.
    error EmptyClaims();
    /// @notice The caller is neither the channel's receiver nor its receiver authorizer.
    error NotReceiverOrAuthorizer(address caller);
    /// @notice The caller is neither the channel's payer nor its payer authorizer.
    error NotPayerOrAuthorizer(address caller);
    /// @notice A voucher's signature is not the payer's (or its authorizer's) for that channel and amount.
    error InvalidVoucherSignature(bytes32 channelId);
    /// @notice A claim's total is above what its voucher allows.
    error ClaimExceedsVoucher(bytes32 channelId, uint128 totalClaimed, uint128 maxClaimableAmount);
    /// @notice A claim's total is above the channel's balance.
    error ClaimExceedsBalance(bytes32 channelId, uint128 totalClaimed, uint128 balance);
    /// @notice A claim's total is below what was already claimed from the channel.
    error ClaimBelowClaimed(bytes32 channelId, uint128 totalClaimed, uint128 alreadyClaimed);
    /// @notice The rows of a signed claim batch do not share one receiver authorizer.
    error ReceiverAuthorizerMismatch(bytes32 channelId);
    /// @notice The receiver authorizer's signature does not cover this claim batch or refund.
    error InvalidAuthorizerSignature();
    /// @notice A signed refund's nonce is not the channel's next one.
    error InvalidRefundNonce(uint256 expected, uint256 given);
    /// @notice A withdrawal asks more than the channel's unclaimed escrow.
    error WithdrawExceedsUnclaimed(uint128 amount, uint128 unclaimed);
    /// @notice A withdrawal is already pending on the channel.
    error WithdrawPending(bytes32 channelId);
    /// @notice No withdrawal is pending on the channel.
    error NoPendingWithdrawal(bytes32 channelId);
    /// @notice The withdrawal delay has not elapsed yet.
    error WithdrawNotReady(uint256 readyAt, uint256 now);

    /// @notice Moves `amount` of the payer's tokens into the channel through `collector`, which pulls them with
    /// the payer's authorization in `collectorData`. Anyone may call it (a facilitator sponsors the gas); the
    /// channel is credited with exactly what arrived, and only if it is `amount`.
    function deposit(ChannelConfig calldata config, uint128 amount, address collector, bytes calldata collectorData)
        external;

    /// @notice Claims each row's voucher up to its `totalClaimed`; the caller must be the receiver or the receiver
    /// authorizer of every row. A row at the channel's current claimed total changes nothing. No tokens move.
    function claim(VoucherClaim[] calldata voucherClaims) external;

    /// @notice `claim` for anyone holding the receiver authorizer's EIP-712 `ClaimBatch` signature over all rows
    /// (which must share that authorizer).
    function claimWithSignature(VoucherClaim[] calldata voucherClaims, bytes calldata authorizerSignature) external;

    /// @notice Sends `receiver` everything claims credited it in `token` and not sent yet. Permissionless.
    function settle(address receiver, address token) external;

    /// @notice Starts a timed withdrawal of `amount` (at most the unclaimed escrow); payer or payer authorizer.
    function initiateWithdraw(ChannelConfig calldata config, uint128 amount) external;

    /// @notice After the delay, sends the payer the pending amount capped to what is still unclaimed (a claim
    /// made before this call always wins); payer or payer authorizer.
    function finalizeWithdraw(ChannelConfig calldata config) external;

    /// @notice Returns up to `amount` of the unclaimed escrow to the payer; receiver or receiver authorizer. The
    /// refund nonce advances first, even when nothing is left to refund.
    function refund(ChannelConfig calldata config, uint128 amount) external;

    /// @notice `refund` for anyone holding the receiver authorizer's EIP-712 `Refund` signature for the channel's
    /// next nonce and this amount.
    function refundWithSignature(
        ChannelConfig calldata config,
        uint128 amount,
        uint256 nonce,
        bytes calldata receiverAuthorizerSignature
    ) external;

    /// @notice Runs each call on this contract in order, reverting all if one reverts.
    function multicall(bytes[] calldata data) external returns (bytes[] memory results);

    /// @notice The channel id of `config`: its EIP-712 hash under this contract's domain.
    function getChannelId(ChannelConfig calldata config) external view returns (bytes32);

    /// @notice EIP-712 type hash of `ChannelConfig`.
    // forge-lint: disable-next-line(mixed-case-function)
    function CHANNEL_CONFIG_TYPEHASH() external view returns (bytes32);

    /// @notice A channel's balance and claimed total.
    function channels(bytes32 channelId) external view returns (uint128 balance, uint128 totalClaimed);

    /// @notice A channel's pending withdrawal (zero if none).
    function pendingWithdrawals(bytes32 channelId) external view returns (uint128 amount, uint40 initiatedAt);

    /// @notice What claims credited `receiver` in `token`, and what was settled of it.
    function receivers(address receiver, address token)
        external
        view
        returns (uint128 totalClaimed, uint128 totalSettled);

    /// @notice The EIP-712 digest a payer signs for a voucher.
    function getVoucherDigest(bytes32 channelId, uint128 maxClaimableAmount) external view returns (bytes32);

    /// @notice The EIP-712 digest a receiver authorizer signs for a refund.
    function getRefundDigest(bytes32 channelId, uint256 nonce, uint128 amount) external view returns (bytes32);

    /// @notice The nonce the next signed refund of a channel must carry.
    function refundNonce(bytes32 channelId) external view returns (uint256);

    /// @notice The EIP-712 digest a receiver authorizer signs for a claim batch.
    function getClaimBatchDigest(VoucherClaim[] calldata voucherClaims) external view returns (bytes32);
}
