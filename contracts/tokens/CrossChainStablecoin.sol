// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {TestStablecoin} from "./TestStablecoin.sol";

/// @title CrossChainStablecoin
/// @notice The test stable-coin (6 decimals, EIP-3009, EIP-2612) made a Chainlink Cross-Chain Token: CCIP's
/// own `BurnMintTokenPool` burns it on the source chain and mints it on the destination. It has the
/// functions that pool calls (`mint`, `burn`, `burnFrom`) for the accounts its owner grants, and names
/// its owner as CCIP admin, so it registers through the token admin registry's owner module.
contract CrossChainStablecoin is TestStablecoin {
    /// @notice Accounts allowed to mint (the token's pools).
    mapping(address account => bool) public isMinter;
    /// @notice Accounts allowed to burn what they hold or were approved for (the token's pools).
    mapping(address account => bool) public isBurner;

    /// @notice Emitted when `account`'s right to mint and burn is granted or revoked.
    event MintAndBurnRoles(address indexed account, bool granted);

    /// @notice The caller may not mint.
    error NotMinter(address caller);
    /// @notice The caller may not burn.
    error NotBurner(address caller);

    /// @param name_ The ERC-20 name and EIP-712 domain name.
    /// @param symbol_ The ERC-20 symbol.
    /// @param version_ The EIP-712 domain version.
    /// @param owner_ The owner: CCIP admin, grants the mint and burn roles, may mint.
    constructor(string memory name_, string memory symbol_, string memory version_, address owner_)
        TestStablecoin(name_, symbol_, version_, owner_)
    {}

    /// @notice The token's CCIP admin (its owner), for `RegistryModuleOwnerCustom.registerAdminViaGetCCIPAdmin`.
    function getCCIPAdmin() external view returns (address) {
        return owner();
    }

    /// @notice Grants or revokes `account`'s right to mint and burn (a token pool's). Only the owner.
    function setMintAndBurnRoles(address account, bool granted) external onlyOwner {
        isMinter[account] = granted;
        isBurner[account] = granted;
        emit MintAndBurnRoles(account, granted);
    }

    /// @notice Mints `amount` to `to`. The owner or a minter.
    function mint(address to, uint256 amount) external override {
        if (!isMinter[msg.sender] && msg.sender != owner()) revert NotMinter(msg.sender);
        _mint(to, amount);
    }

    /// @notice Burns `amount` of the caller's tokens. A burner.
    function burn(uint256 amount) external {
        if (!isBurner[msg.sender]) revert NotBurner(msg.sender);
        _burn(msg.sender, amount);
    }

    /// @notice Burns `amount` of `account`'s tokens within the caller's allowance. A burner.
    function burn(address account, uint256 amount) external {
        _burnFrom(account, amount);
    }

    /// @notice Burns `amount` of `account`'s tokens within the caller's allowance. A burner.
    function burnFrom(address account, uint256 amount) external {
        _burnFrom(account, amount);
    }

    function _burnFrom(address account, uint256 amount) private {
        if (!isBurner[msg.sender]) revert NotBurner(msg.sender);
        _spendAllowance(account, msg.sender, amount);
        _burn(account, amount);
    }
}
