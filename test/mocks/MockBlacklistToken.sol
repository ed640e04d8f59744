// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice A USDC-like token with a blacklist: 6 decimals, public mint, and transfers to or from a blacklisted
/// address revert (as USDC's do).
contract MockBlacklistToken is ERC20, Ownable {
    mapping(address account => bool blacklisted) public isBlacklisted;

    /// @notice Thrown when a transfer involves a blacklisted address.
    /// @param account The blacklisted address.
    error Blacklisted(address account);

    constructor(address owner_) ERC20("Blacklist USD", "BUSD") Ownable(owner_) {}

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function setBlacklisted(address account, bool blacklisted) external onlyOwner {
        isBlacklisted[account] = blacklisted;
    }

    function _update(address from, address to, uint256 value) internal override {
        if (isBlacklisted[from]) revert Blacklisted(from);
        if (isBlacklisted[to]) revert Blacklisted(to);
        super._update(from, to, value);
    }
}
