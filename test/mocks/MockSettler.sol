// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IInvoiceRegistry} from "../../contracts/interfaces/IInvoiceRegistry.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

/// @notice A minimal settler (as the escrow or a cross-chain receiver would be): it holds tokens, approves the
/// registry and records invoices as paid on a payer's behalf.
contract MockSettler {
    using SafeERC20 for IERC20;

    IInvoiceRegistry public immutable registry;

    constructor(IInvoiceRegistry registry_) {
        registry = registry_;
    }

    function approveRegistry(IERC20 token, uint256 amount) external {
        token.forceApprove(address(registry), amount);
    }

    function settle(IInvoiceRegistry.Invoice calldata invoice, bytes calldata issuerSignature, address payer)
        external
        returns (bytes32)
    {
        return registry.settle(invoice, issuerSignature, payer);
    }
}
