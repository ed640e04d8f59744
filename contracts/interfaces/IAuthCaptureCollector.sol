// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IPaymentEscrow} from "./IPaymentEscrow.sol";

/// @title IAuthCaptureCollector
/// @notice Lands an x402 `auth-capture` payment (commerce-payments' `PaymentInfo`, signed by the payer as one
/// EIP-3009 `ReceiveWithAuthorization` to this collector) in a Quittance `PaymentEscrow`, under terms derived
/// from the `PaymentInfo` field by field. From then on the payment is an ordinary escrow payment: its operator
/// captures, voids and refunds it, and its payer reclaims it, on the escrow with `terms(info)`.
/// @dev The payer's consent is the authorization's nonce: `keccak256(abi.encode(chainId, authCaptureEscrow,
/// keccak256(abi.encode(PAYMENT_INFO_TYPEHASH, info with payer = 0))))`, the x402 `signatureNonce`, which binds
/// every field but the payer (the token binds the payer as the authorization's signer). The collector holds
/// nothing between calls.
interface IAuthCaptureCollector {
    /// @notice commerce-payments' `PaymentInfo`, as the x402 `auth-capture` client builds it.
    /// @param operator The only caller of `authorize`, and the escrow terms' operator.
    /// @param payer The payer, who signed the authorization.
    /// @param receiver Who receives captured funds (the terms' payee).
    /// @param token The EIP-3009 token.
    /// @param maxAmount The amount authorized, collected in full.
    /// @param preApprovalExpiry The authorization's `validBefore`; collection only before it.
    /// @param authorizationExpiry Captures only before it; from then on the payer may reclaim.
    /// @param refundExpiry Refunds only before it.
    /// @param minFeeBps The fee floor in basis points; only zero is supported (the escrow has no floor).
    /// @param maxFeeBps The fee ceiling in basis points.
    /// @param feeReceiver Who receives fees; zero lets the operator name one at capture.
    /// @param salt The client's random value (or its commitment), the terms' salt.
    struct PaymentInfo {
        address operator;
        address payer;
        address receiver;
        address token;
        uint120 maxAmount;
        uint48 preApprovalExpiry;
        uint48 authorizationExpiry;
        uint48 refundExpiry;
        uint16 minFeeBps;
        uint16 maxFeeBps;
        address feeReceiver;
        uint256 salt;
    }

    /// @notice Emitted when a payment's authorization was redeemed and its funds landed in the escrow.
    /// @param paymentId The escrow's payment id of `terms(info)`.
    /// @param signatureNonce The redeemed authorization's nonce.
    /// @param payer The payer.
    /// @param amount The amount collected (`info.maxAmount`).
    event PaymentCollected(
        bytes32 indexed paymentId, bytes32 indexed signatureNonce, address indexed payer, uint256 amount
    );

    /// @notice Thrown when the caller is not `info.operator`.
    /// @param caller The caller.
    error Unauthorized(address caller);

    /// @notice Thrown when `info.minFeeBps` is not zero: the escrow cannot enforce a fee floor.
    /// @param minFeeBps The refused value.
    error UnsupportedMinFee(uint16 minFeeBps);

    /// @notice Redeems the payer's EIP-3009 authorization of `info.maxAmount` to this collector (valid from 0
    /// until `info.preApprovalExpiry`, nonce `signatureNonce(info)`) and authorizes the whole amount in the
    /// escrow under `terms(info)`. Only `info.operator`; the escrow's checks of the terms and expiries apply.
    /// @param info The payment.
    /// @param signature The payer's signature of the authorization (ECDSA, or ERC-1271 if the token takes it).
    /// @return paymentId The escrow's payment id.
    function authorize(PaymentInfo calldata info, bytes calldata signature) external returns (bytes32 paymentId);

    /// @notice The escrow terms a payment lands under: operator, payer, payee (the receiver), token, amount cap,
    /// expiries, fee ceiling, fee receiver and salt copied; no invoice.
    /// @param info The payment.
    /// @return The terms.
    function terms(PaymentInfo calldata info) external pure returns (IPaymentEscrow.PaymentTerms memory);

    /// @notice The EIP-3009 nonce the payer signs for `info`.
    /// @param info The payment (its payer is ignored).
    /// @return The nonce.
    function signatureNonce(PaymentInfo calldata info) external view returns (bytes32);

    /// @notice The escrow payments land in.
    /// @return The escrow.
    function escrow() external view returns (IPaymentEscrow);

    /// @notice The `AuthCaptureEscrow` address the payer's nonce is bound to (the canonical one the client
    /// signs for); no code of it is called.
    /// @return The address.
    function authCaptureEscrow() external view returns (address);
}
