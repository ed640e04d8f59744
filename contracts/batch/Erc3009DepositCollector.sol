// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IDepositCollector} from "../interfaces/IDepositCollector.sol";
import {IERC3009} from "../interfaces/IERC3009.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

/// @title Erc3009DepositCollector
/// @notice Pulls a batch-settlement deposit with the payer's EIP-3009 `ReceiveWithAuthorization` to this
/// collector, whose nonce is `keccak256(abi.encode(channelId, salt))`: the authorization funds one channel only.
/// @dev `collectorData` is `abi.encode(uint256 validAfter, uint256 validBefore, uint256 salt, bytes signature)`,
/// as the x402 SDK builds it. Only the canonical batch-settlement contract may call `collect` (it names the
/// channel); the contract has no constructor state, so its runtime code can be installed at the canonical address.
contract Erc3009DepositCollector is IDepositCollector {
    using SafeERC20 for IERC20;

    /// @notice The canonical x402 batch-settlement contract.
    address public constant BATCH_SETTLEMENT = 0x4020074e9dF2ce1deE5A9C1b5c3f541D02a10003;

    /// @inheritdoc IDepositCollector
    function collect(address payer, address token, uint128 amount, bytes32 channelId, bytes calldata collectorData)
        external
    {
        if (msg.sender != BATCH_SETTLEMENT) revert NotBatchSettlement(msg.sender);
        (uint256 validAfter, uint256 validBefore, uint256 salt, bytes memory signature) =
            abi.decode(collectorData, (uint256, uint256, uint256, bytes));
        IERC3009(token)
            .receiveWithAuthorization(
                payer, address(this), amount, validAfter, validBefore, keccak256(abi.encode(channelId, salt)), signature
            );
        IERC20(token).safeTransfer(msg.sender, amount);
    }
}
