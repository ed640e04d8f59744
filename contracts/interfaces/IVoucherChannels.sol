// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title IVoucherChannels
/// @notice Payment channels for micropayments: a payer deposits once for a receiver, then pays each request
/// off-chain with a cumulative voucher; the receiver claims the latest voucher of many channels in one
/// transaction and collects everything claimed with one transfer per token. The chain is touched to open,
/// top up, claim in batches and close.
/// @dev A channel is identified by the EIP-712 hash of its immutable config in this contract's domain (bound
/// to chain and contract). A voucher `Voucher(channelId, maxClaimableAmount)` is cumulative: each one
/// supersedes the previous, so vouchers need no nonces and an old one is worth nothing once a newer one is
/// claimed. Nothing can be claimed beyond the deposit, nor twice. The payer gets back what is not claimed:
/// at once if the receiver closes the channel, or after `withdrawDelay` (time the receiver has to claim the
/// latest voucher) if the payer asks. The field names follow x402's `batch-settlement` EVM binding.
///
/// Vouchers are ECDSA signatures of the channel's authorizer (`payerAuthorizer`, or the payer when it is zero),
/// never ERC-1271: a signature the receiver accepted cannot be revoked by a later change of the signer's code
/// (an EIP-7702 delegation keeps the key, so a delegated EOA's vouchers keep working) or of a wallet's key, and
/// claims never call signer code. A smart-contract payer names an EOA session key as `payerAuthorizer`.
interface IVoucherChannels {
    /// @notice A channel's immutable config.
    /// @param payer Whose funds are deposited, and who gets back what is not claimed.
    /// @param payerAuthorizer Who signs vouchers by ECDSA (an agent's session key, say); the zero address for the
    /// payer. It must be an EOA (possibly EIP-7702 delegated): a contract cannot sign vouchers.
    /// @param receiver Who is paid.
    /// @param token The ERC-20 token.
    /// @param withdrawDelay Seconds between the payer's withdrawal request and the withdrawal: the receiver's
    /// time to claim. Between `MIN_WITHDRAW_DELAY` and `MAX_WITHDRAW_DELAY`.
    /// @param salt Distinguishes channels with otherwise equal configs.
    struct ChannelConfig {
        address payer;
        address payerAuthorizer;
        address receiver;
        address token;
        uint40 withdrawDelay;
        bytes32 salt;
    }

    /// @notice The state of a channel, two storage slots.
    /// @param balance What was deposited.
    /// @param totalClaimed What the receiver has claimed (never above `balance`).
    /// @param withdrawableAt When the payer may withdraw the rest (zero: no withdrawal requested, or the request
    /// was cancelled by a deposit).
    /// @param closed True once the rest went back to the payer: nothing more can be deposited or claimed.
    struct ChannelState {
        uint128 balance;
        uint128 totalClaimed;
        uint40 withdrawableAt;
        bool closed;
    }

    /// @notice How the payer's deposit is brought in.
    enum Method {
        /// EIP-3009 `receiveWithAuthorization` signed by the payer, nonce `depositNonce(channelId, depositSalt)`;
        /// anyone may submit it. `data` = abi.encode(validAfter, validBefore, depositSalt, signature).
        Authorization,
        /// EIP-2612 permit then transfer; the payer must be the caller. `data` = abi.encode(deadline, signature).
        Permit,
        /// A prior ERC-20 allowance; the payer must be the caller. `data` is empty.
        Allowance
    }

    /// @notice A voucher to claim: the channel's config, the cumulative amount, and the voucher's 65-byte ECDSA
    /// signature (r, s, v; low s, v 27 or 28) by the channel's authorizer.
    struct VoucherClaim {
        ChannelConfig config;
        uint128 maxClaimableAmount;
        bytes signature;
    }

    /// @notice Emitted when funds enter a channel (its first deposit opens it).
    event Deposited(bytes32 indexed channelId, address indexed payer, address indexed receiver, uint256 amount);

    /// @notice Emitted when a voucher is claimed: `amount` more is owed to the receiver, `totalClaimed` in all.
    event Claimed(bytes32 indexed channelId, address indexed receiver, uint256 amount, uint256 totalClaimed);

    /// @notice Emitted for a voucher of a batch that is not claimed (bad signature, closed channel, or
    /// nothing new to claim); the rest of the batch goes on.
    event ClaimSkipped(bytes32 indexed channelId, ClaimSkip reason);

    /// @notice Emitted when what is claimed for `receiver` in `token` is paid, to `to` (the receiver itself, or
    /// the address the receiver chose with `settleTo`).
    event Settled(address indexed receiver, address indexed token, address to, uint256 amount);

    /// @notice Emitted when the payer asks to withdraw what is not claimed.
    event WithdrawalRequested(bytes32 indexed channelId, uint256 withdrawableAt);

    /// @notice Emitted when a deposit cancels the channel's pending withdrawal request.
    event WithdrawalCancelled(bytes32 indexed channelId);

    /// @notice Emitted when a channel closes and the rest goes back to the payer.
    event Closed(bytes32 indexed channelId, uint256 refunded);

    /// @notice Why a voucher of a batch was skipped.
    enum ClaimSkip {
        /// The signature is not the payer authorizer's.
        InvalidSignature,
        /// The channel is closed.
        ChannelClosed,
        /// A voucher as high (or the whole deposit) is already claimed.
        NothingToClaim
    }

    /// @notice The amount is zero.
    error ZeroAmount();

    /// @notice The config has a zero payer, receiver or token, the payer is the receiver, or the token has no
    /// code.
    error InvalidConfig();

    /// @notice `withdrawDelay` is outside [`MIN_WITHDRAW_DELAY`, `MAX_WITHDRAW_DELAY`].
    error InvalidWithdrawDelay(uint40 withdrawDelay);

    /// @notice The caller may not do this.
    error Unauthorized(address caller);

    /// @notice The channel is closed.
    error ChannelClosed(bytes32 channelId);

    /// @notice The channel's balance would not fit in 128 bits.
    error BalanceOverflow();

    /// @notice The channel's authorizer (`payerAuthorizer`, or the payer when it is zero) has contract code that
    /// is not an EIP-7702 delegation: it cannot make the ECDSA signatures vouchers need, so no voucher of the
    /// channel could ever be claimed.
    error ContractAuthorizer(address authorizer);

    /// @notice The withdrawal time, now plus the withdrawal delay, would not fit in 40 bits.
    error WithdrawalTimeOverflow(uint256 withdrawableAt);

    /// @notice Claimed funds cannot be paid to this address (zero, or this contract).
    error InvalidRecipient(address to);

    /// @notice No withdrawal was requested, or its delay has not passed.
    error WithdrawalNotReady(uint40 withdrawableAt, uint256 timestamp);

    /// @notice The token moved a different amount than asked (fee-on-transfer or lying token).
    error AmountMismatch(uint256 expected, uint256 actual);

    /// @notice `data` does not decode for the method.
    error InvalidMethodData();

    /// @notice Deposits `amount` into the channel of `config`, opening it on the first deposit. Anyone may
    /// submit an EIP-3009 deposit; the other methods need the payer as caller. A deposit into a channel with a
    /// withdrawal requested cancels the request (`WithdrawalCancelled`): funds added after it can only be
    /// withdrawn after a fresh request and a full delay. Refused (`ContractAuthorizer`) when the channel's
    /// authorizer has contract code other than an EIP-7702 delegation. A wallet not yet deployed (counterfactual)
    /// has no code and cannot be told from an EOA: its channel opens, and its vouchers are never claimable
    /// (the payer gets everything back by `withdraw`).
    /// @return channelId The channel's id.
    function deposit(ChannelConfig calldata config, uint128 amount, Method method, bytes calldata data)
        external
        returns (bytes32 channelId);

    /// @notice Claims each voucher for its receiver, up to the channel's balance; vouchers that cannot be
    /// claimed are skipped with `ClaimSkipped`. Anyone may submit claims: they only ever raise what the
    /// payer's own vouchers grant the receiver. Claimed funds are paid by `settle`.
    /// @return claimed The total newly claimed (across tokens).
    function claim(VoucherClaim[] calldata claims) external returns (uint256 claimed);

    /// @notice Pays `receiver` everything claimed for it in `token`, in one transfer. Anyone may call it.
    /// Pays nothing (and returns zero) when nothing is owed.
    /// @return amount What was paid.
    function settle(address receiver, address token) external returns (uint256 amount);

    /// @notice The caller, as receiver, takes everything claimed for it in `token` to `to`, in one transfer: the
    /// way out for a receiver the token refuses to pay (a blacklisted address). Pays nothing (and returns zero)
    /// when nothing is owed.
    /// @param token The token.
    /// @param to Where the funds go; not zero nor this contract.
    /// @return amount What was paid.
    function settleTo(address token, address to) external returns (uint256 amount);

    /// @notice The payer asks to withdraw what is not claimed; possible `withdrawDelay` seconds from now. A
    /// second request while one is pending keeps the first one's time; a deposit cancels the request.
    function requestWithdrawal(ChannelConfig calldata config) external;

    /// @notice The payer withdraws what is not claimed, once the withdrawal delay has passed; closes the
    /// channel.
    /// @return refunded What went back to the payer.
    function withdraw(ChannelConfig calldata config) external returns (uint256 refunded);

    /// @notice The receiver (after claiming what it is owed) closes the channel and the rest goes back to the
    /// payer at once.
    /// @return refunded What went back to the payer.
    function close(ChannelConfig calldata config) external returns (uint256 refunded);

    /// @notice The id of the channel with `config`: its EIP-712 hash in this contract's domain.
    function channelId(ChannelConfig calldata config) external view returns (bytes32);

    /// @notice The EIP-712 digest a payer authorizer signs for a voucher.
    function voucherDigest(bytes32 channelId_, uint128 maxClaimableAmount) external view returns (bytes32);

    /// @notice The EIP-3009 nonce of an `Authorization` deposit into `channelId_` with `depositSalt`: it binds
    /// the payer's signature to that channel.
    function depositNonce(bytes32 channelId_, bytes32 depositSalt) external pure returns (bytes32);

    /// @notice The state of a channel.
    function channel(bytes32 channelId_) external view returns (ChannelState memory);

    /// @notice What is claimed for `receiver` in `token` and not yet paid.
    function claimedUnsettled(address receiver, address token) external view returns (uint256);
}
