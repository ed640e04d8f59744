// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title IDepositCollector
/// @notice Pulls a payer's tokens into a batch-settlement contract with the payer's off-chain authorization.
interface IDepositCollector {
    /// @notice The caller is not the batch-settlement contract.
    error NotBatchSettlement(address caller);

    /// @notice Moves `amount` of `token` from `payer` to the caller (the batch-settlement contract), authorized by
    /// `collectorData`, bound to `channelId` so the authorization funds that channel and no other.
    function collect(address payer, address token, uint128 amount, bytes32 channelId, bytes calldata collectorData)
        external;
}
