// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ISignatureTransfer} from "./ISignatureTransfer.sol";

/// @title IX402Permit2Proxy
/// @notice What x402's two Permit2 proxies share: the spender a payer names in a Permit2 witness transfer.
/// The proxy sends the tokens only to the witness's `to`, so the facilitator that submits the payment
/// cannot redirect it. Both are reentrancy-guarded and hold no funds.
interface IX402Permit2Proxy {
    /// @notice An EIP-2612 permit by which the payer approves Permit2 for the token (the `eip2612GasSponsoring`
    /// extension), submitted in the same transaction as the payment.
    /// @param value The allowance for Permit2; must equal the Permit2 permit's amount.
    /// @param deadline The permit's deadline.
    /// @param r The signature's r.
    /// @param s The signature's s.
    /// @param v The signature's v.
    struct EIP2612Permit {
        uint256 value;
        uint256 deadline;
        bytes32 r;
        bytes32 s;
        uint8 v;
    }

    /// @notice Emitted when `settle` moved a payment.
    event Settled();

    /// @notice Emitted when `settleWithPermit` moved a payment.
    event SettledWithPermit();

    /// @notice Thrown at deployment when Permit2's address is zero.
    error InvalidPermit2Address();

    /// @notice Thrown when the witness's destination is the zero address.
    error InvalidDestination();

    /// @notice Thrown when the owner (payer) is the zero address.
    error InvalidOwner();

    /// @notice Thrown before the witness's `validAfter` time.
    error PaymentTooEarly();

    /// @notice Thrown when the EIP-2612 permit's value differs from the Permit2 permit's amount.
    error Permit2612AmountMismatch();

    /// @notice Permit2, the contract the proxy moves tokens through.
    /// @return Permit2's address.
    function PERMIT2() external view returns (ISignatureTransfer);

    /// @notice The EIP-712 type hash of the proxy's witness struct.
    /// @return The type hash.
    function WITNESS_TYPEHASH() external view returns (bytes32);

    /// @notice The witness type string the proxy passes to Permit2 (from `"Witness witness)"` on, the
    /// referenced structs in alphabetical order).
    /// @return The type string.
    function WITNESS_TYPE_STRING() external view returns (string memory);
}
