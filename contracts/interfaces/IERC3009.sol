// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title IERC3009
/// @notice Transfer with authorization (EIP-3009): a holder signs an EIP-712 message off chain and anyone
/// submits it, so the holder pays no gas. Each authorization carries a random 32-byte nonce chosen by the
/// signer; a nonce is used once, whether the authorization was executed or cancelled.
/// @dev Quittance's contracts receive EIP-3009 funds with `receiveWithAuthorization` only: it can be
/// submitted by the payee alone, so a signed authorization cannot be front-run into a plain transfer that
/// bypasses the receiving contract's bookkeeping.
/// As in USDC FiatToken v2.2, a signature is checked by ECDSA when the authorizer has no code and by ERC-1271
/// only when it has code: an authorizer that delegates by EIP-7702 to a contract without `isValidSignature`
/// can no longer authorize with its key, and a contract wallet that rotates its key revokes its unused
/// authorizations. A signed authorization is therefore not a guarantee of funds until it is executed.
interface IERC3009 {
    /// @notice Emitted when an authorization is executed.
    /// @param authorizer The holder who signed the authorization.
    /// @param nonce The authorization's nonce, now used.
    event AuthorizationUsed(address indexed authorizer, bytes32 indexed nonce);

    /// @notice Emitted when an authorization is cancelled before use.
    /// @param authorizer The holder who signed the cancellation.
    /// @param nonce The cancelled nonce, now used.
    event AuthorizationCanceled(address indexed authorizer, bytes32 indexed nonce);

    /// @notice Thrown when an authorization is submitted at or before its `validAfter` time.
    /// @param validAfter The time after which the authorization becomes valid.
    /// @param timestamp The current block time.
    error AuthorizationNotYetValid(uint256 validAfter, uint256 timestamp);

    /// @notice Thrown when an authorization is submitted at or after its `validBefore` time.
    /// @param validBefore The time before which the authorization had to be used.
    /// @param timestamp The current block time.
    error AuthorizationExpired(uint256 validBefore, uint256 timestamp);

    /// @notice Thrown when a nonce was already used or cancelled.
    /// @param authorizer The holder the nonce belongs to.
    /// @param nonce The nonce.
    error AuthorizationAlreadyUsed(address authorizer, bytes32 nonce);

    /// @notice Thrown when a signature is not the authorizer's: by ECDSA for an authorizer without code, by
    /// ERC-1271 for one with code (a contract wallet, or an EOA delegated by EIP-7702).
    /// @param authorizer The address the signature had to come from.
    error InvalidAuthorizationSignature(address authorizer);

    /// @notice Thrown when `receiveWithAuthorization` is called by someone other than the payee.
    /// @param caller The caller.
    /// @param payee The payee named in the authorization.
    error CallerMustBePayee(address caller, address payee);

    /// @notice Executes a transfer signed by `from`, submitted by anyone.
    /// @param from The payer, who signed the authorization.
    /// @param to The payee.
    /// @param value The amount.
    /// @param validAfter The authorization is valid only strictly after this time.
    /// @param validBefore The authorization is valid only strictly before this time.
    /// @param nonce The authorization's unique nonce.
    /// @param v The signature's recovery byte.
    /// @param r The signature's r.
    /// @param s The signature's s.
    function transferWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external;

    /// @notice Executes a transfer signed by `from`, submitted by anyone; the signature may be a 65-byte
    /// ECDSA signature or an ERC-1271 contract-wallet signature.
    /// @param from The payer, who signed the authorization.
    /// @param to The payee.
    /// @param value The amount.
    /// @param validAfter The authorization is valid only strictly after this time.
    /// @param validBefore The authorization is valid only strictly before this time.
    /// @param nonce The authorization's unique nonce.
    /// @param signature The payer's signature.
    function transferWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        bytes memory signature
    ) external;

    /// @notice Executes a transfer signed by `from`; only the payee `to` may submit it.
    /// @param from The payer, who signed the authorization.
    /// @param to The payee, who must be the caller.
    /// @param value The amount.
    /// @param validAfter The authorization is valid only strictly after this time.
    /// @param validBefore The authorization is valid only strictly before this time.
    /// @param nonce The authorization's unique nonce.
    /// @param v The signature's recovery byte.
    /// @param r The signature's r.
    /// @param s The signature's s.
    function receiveWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external;

    /// @notice Executes a transfer signed by `from`; only the payee `to` may submit it. The signature may be
    /// a 65-byte ECDSA signature or an ERC-1271 contract-wallet signature.
    /// @param from The payer, who signed the authorization.
    /// @param to The payee, who must be the caller.
    /// @param value The amount.
    /// @param validAfter The authorization is valid only strictly after this time.
    /// @param validBefore The authorization is valid only strictly before this time.
    /// @param nonce The authorization's unique nonce.
    /// @param signature The payer's signature.
    function receiveWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        bytes memory signature
    ) external;

    /// @notice Cancels an unused authorization, so it can never be executed.
    /// @param authorizer The holder who signed the authorization and the cancellation.
    /// @param nonce The nonce to cancel.
    /// @param v The signature's recovery byte.
    /// @param r The signature's r.
    /// @param s The signature's s.
    function cancelAuthorization(address authorizer, bytes32 nonce, uint8 v, bytes32 r, bytes32 s) external;

    /// @notice Cancels an unused authorization, so it can never be executed.
    /// @param authorizer The holder who signed the authorization and the cancellation.
    /// @param nonce The nonce to cancel.
    /// @param signature The authorizer's signature (ECDSA or ERC-1271).
    function cancelAuthorization(address authorizer, bytes32 nonce, bytes memory signature) external;

    /// @notice Whether a nonce of `authorizer` was used or cancelled.
    /// @param authorizer The holder.
    /// @param nonce The nonce.
    /// @return True once the nonce is used or cancelled.
    function authorizationState(address authorizer, bytes32 nonce) external view returns (bool);
}
