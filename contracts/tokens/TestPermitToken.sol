// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";

/// @title TestPermitToken
/// @notice A plain ERC-20 for local chains: 18 decimals, EIP-2612 permit (EIP-712 domain `{name, "1"}`), no
/// EIP-3009. It stands for "any ERC-20" in the Permit2 payment paths. The owner mints; not for real money.
contract TestPermitToken is ERC20Permit, Ownable {
    /// @param name_ The ERC-20 name, also the EIP-712 domain name.
    /// @param symbol_ The ERC-20 symbol.
    /// @param owner_ The account allowed to mint.
    constructor(string memory name_, string memory symbol_, address owner_)
        ERC20(name_, symbol_)
        ERC20Permit(name_)
        Ownable(owner_)
    {}

    /// @notice Mints `amount` to `to`. Only the owner may mint.
    /// @param to The recipient.
    /// @param amount The amount.
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }
}
