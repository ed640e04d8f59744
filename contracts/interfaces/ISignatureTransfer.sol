// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title ISignatureTransfer
/// @notice The part of Uniswap's Permit2 (canonical address 0x000000000022D473030F116dDEE9F6B43aC78BA3 on
/// every chain) that x402's Permit2 proxies use: one-time signature transfers with a witness. A holder
/// approves Permit2 once per token, then signs, per payment, an EIP-712 `PermitWitnessTransferFrom` naming
/// the spender (the proxy), the token and amount, an unordered nonce, a deadline and a witness struct;
/// Permit2 moves the tokens when the spender submits it.
/// @dev Permit2 checks signatures by ECDSA for signers without code and by ERC-1271 for signers with code,
/// so a signer that delegates by EIP-7702, or a contract wallet that rotates its key, changes which
/// signatures are valid until a transfer executes. Nonces are bits of a bitmap: word `nonce >> 8`, bit
/// `nonce & 0xff`.
interface ISignatureTransfer {
    /// @notice A token and an amount of it.
    /// @param token The ERC-20 token.
    /// @param amount The most the spender may transfer.
    struct TokenPermissions {
        address token;
        uint256 amount;
    }

    /// @notice What the holder signs (besides the spender, which is the caller, and the witness).
    /// @param permitted The token and the most that may move.
    /// @param nonce The unordered nonce, used once.
    /// @param deadline The last second the signature may be used.
    struct PermitTransferFrom {
        TokenPermissions permitted;
        uint256 nonce;
        uint256 deadline;
    }

    /// @notice Where the spender sends the tokens.
    /// @param to The recipient.
    /// @param requestedAmount How much to move, at most `permitted.amount`.
    struct SignatureTransferDetails {
        address to;
        uint256 requestedAmount;
    }

    /// @notice Transfers `transferDetails.requestedAmount` of `permit.permitted.token` from `owner` to
    /// `transferDetails.to`, if `signature` is `owner`'s over the permit, the caller as spender, and the
    /// witness `witness` of type `witnessTypeString`; uses the nonce.
    /// @param permit The signed permit.
    /// @param transferDetails The recipient and amount.
    /// @param owner The holder who signed.
    /// @param witness The EIP-712 hash of the witness struct.
    /// @param witnessTypeString The witness part of the type string, from `"<Type> witness)"` on.
    /// @param signature The holder's signature (65 or 64 bytes, or an ERC-1271 signature).
    function permitWitnessTransferFrom(
        PermitTransferFrom memory permit,
        SignatureTransferDetails calldata transferDetails,
        address owner,
        bytes32 witness,
        string calldata witnessTypeString,
        bytes calldata signature
    ) external;

    /// @notice The nonce bitmap word `wordPosition` of `owner`: bit `i` set means nonce
    /// `wordPosition << 8 | i` is used.
    /// @param owner The holder.
    /// @param wordPosition The word index (`nonce >> 8`).
    /// @return The word.
    function nonceBitmap(address owner, uint256 wordPosition) external view returns (uint256);

    /// @notice The EIP-712 domain separator: `{name: "Permit2", chainId, verifyingContract}`.
    /// @return The separator.
    function DOMAIN_SEPARATOR() external view returns (bytes32);
}
