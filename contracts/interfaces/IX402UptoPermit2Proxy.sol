// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ISignatureTransfer} from "./ISignatureTransfer.sol";
import {IX402Permit2Proxy} from "./IX402Permit2Proxy.sol";

/// @title IX402UptoPermit2Proxy
/// @notice x402's `upto` payments over Permit2: the payer signs a ceiling; the facilitator the payer named
/// settles any amount up to it (what the resource actually cost) to the witness's `to`, once `validAfter`
/// has passed and before the permit's deadline. Only that facilitator may settle, so nobody else can
/// choose the amount. Canonical address 0x4020A4f3b7b90ccA423B9fabCc0CE57C6C240002.
interface IX402UptoPermit2Proxy is IX402Permit2Proxy {
    /// @notice The witness the payer signs with the permit: EIP-712
    /// `Witness(address to,address facilitator,uint256 validAfter)`.
    /// @param to The recipient (the x402 `payTo`).
    /// @param facilitator The only account allowed to settle.
    /// @param validAfter The earliest second the payment may be settled.
    struct Witness {
        address to;
        address facilitator;
        uint256 validAfter;
    }

    /// @notice Thrown when the amount to settle exceeds the permitted amount.
    error AmountExceedsPermitted();

    /// @notice Thrown when the caller is not the witness's facilitator.
    error UnauthorizedFacilitator();

    /// @notice Moves `amount` (at most `permit.permitted.amount`) of `permit.permitted.token` from `owner` to
    /// `witness.to` through Permit2, using the permit's nonce whatever the amount. Only
    /// `witness.facilitator` may call. Needs `owner`'s allowance for Permit2.
    /// @param permit The Permit2 permit the payer signed, with this proxy as spender.
    /// @param amount What to move.
    /// @param owner The payer.
    /// @param witness The signed witness.
    /// @param signature The payer's Permit2 signature.
    function settle(
        ISignatureTransfer.PermitTransferFrom calldata permit,
        uint256 amount,
        address owner,
        Witness calldata witness,
        bytes calldata signature
    ) external;

    /// @notice As `settle`, after submitting the payer's EIP-2612 permit approving Permit2 (skipped if it
    /// fails, e.g. because it was already used).
    /// @param permit2612 The payer's EIP-2612 permit for Permit2, of value `permit.permitted.amount`.
    /// @param permit The Permit2 permit the payer signed, with this proxy as spender.
    /// @param amount What to move.
    /// @param owner The payer.
    /// @param witness The signed witness.
    /// @param signature The payer's Permit2 signature.
    function settleWithPermit(
        EIP2612Permit calldata permit2612,
        ISignatureTransfer.PermitTransferFrom calldata permit,
        uint256 amount,
        address owner,
        Witness calldata witness,
        bytes calldata signature
    ) external;
}
