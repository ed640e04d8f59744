// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ISignatureTransfer} from "./ISignatureTransfer.sol";
import {IX402Permit2Proxy} from "./IX402Permit2Proxy.sol";

/// @title IX402ExactPermit2Proxy
/// @notice x402's `exact` payments over Permit2 (`extra.assetTransferMethod: "permit2"`): moves exactly the
/// permitted amount from the payer to the witness's `to`, once `validAfter` has passed and before the
/// permit's deadline. Anyone may submit a payment; the payer's signature fixes token, amount, recipient and
/// time window, and Permit2's nonce makes it single-use. Canonical address
/// 0x402085c248EeA27D92E8b30b2C58ed07f9E20001.
interface IX402ExactPermit2Proxy is IX402Permit2Proxy {
    /// @notice The witness the payer signs with the permit: EIP-712 `Witness(address to,uint256 validAfter)`.
    /// @param to The recipient (the x402 `payTo`).
    /// @param validAfter The earliest second the payment may be settled.
    struct Witness {
        address to;
        uint256 validAfter;
    }

    /// @notice Thrown when the permitted amount is zero (a transfer that would only use the nonce).
    error InvalidAmount();

    /// @notice Moves `permit.permitted.amount` of `permit.permitted.token` from `owner` to `witness.to`
    /// through Permit2. Needs `owner`'s allowance for Permit2.
    /// @param permit The Permit2 permit the payer signed, with this proxy as spender.
    /// @param owner The payer.
    /// @param witness The signed witness.
    /// @param signature The payer's Permit2 signature.
    function settle(
        ISignatureTransfer.PermitTransferFrom calldata permit,
        address owner,
        Witness calldata witness,
        bytes calldata signature
    ) external;

    /// @notice As `settle`, after submitting the payer's EIP-2612 permit approving Permit2. A permit that
    /// fails (already used, e.g. submitted by someone else first) is skipped: the transfer then needs the
    /// allowance to be there anyway.
    /// @param permit2612 The payer's EIP-2612 permit for Permit2, of value `permit.permitted.amount`.
    /// @param permit The Permit2 permit the payer signed, with this proxy as spender.
    /// @param owner The payer.
    /// @param witness The signed witness.
    /// @param signature The payer's Permit2 signature.
    function settleWithPermit(
        EIP2612Permit calldata permit2612,
        ISignatureTransfer.PermitTransferFrom calldata permit,
        address owner,
        Witness calldata witness,
        bytes calldata signature
    ) external;
}
