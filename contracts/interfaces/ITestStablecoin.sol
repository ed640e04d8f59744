// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC3009} from "./IERC3009.sol";

/// @title ITestStablecoin
/// @notice A stable-coin look-alike for local chains (anvil, the in-process revm chain): an ERC-20 with
/// 6 decimals, EIP-2612 permit and EIP-3009 transfer with authorization, whose EIP-712 domain name and
/// version are set at deployment so it can stand in for USDC ("USD Coin", "2"). The owner mints.
/// @dev Not for real money: minting is unrestricted for its owner.
interface ITestStablecoin is IERC3009 {
    /// @notice Thrown when a permit is submitted after its deadline.
    /// @param deadline The permit's deadline.
    /// @param timestamp The current block time.
    error PermitExpired(uint256 deadline, uint256 timestamp);

    /// @notice Thrown when a permit signature is not the owner's.
    /// @param owner The address the signature had to come from.
    error InvalidPermitSignature(address owner);

    /// @notice Approves `spender` for `value` on behalf of `owner`, by the owner's EIP-2612 signature. The
    /// signature may be a 65-byte ECDSA signature or an ERC-1271 contract-wallet signature.
    /// @param owner The holder granting the allowance.
    /// @param spender The address allowed to spend.
    /// @param value The allowance.
    /// @param deadline The last second at which the permit may be used.
    /// @param signature The owner's signature.
    function permit(address owner, address spender, uint256 value, uint256 deadline, bytes memory signature) external;

    /// @notice Mints `amount` to `to`. Only the owner may mint.
    /// @param to The recipient.
    /// @param amount The amount, in the token's smallest unit.
    function mint(address to, uint256 amount) external;

    /// @notice The version of the token's EIP-712 domain (as USDC's `version()`).
    /// @return The domain version string.
    function version() external view returns (string memory);
}
