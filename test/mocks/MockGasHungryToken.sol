// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice A token whose transfers burn `appetite` gas first (a token with heavy hooks): a caller who passes
/// too little gas makes the transfer run out of gas while the calling frame keeps 1/64 of its gas (EIP-150).
/// 6 decimals, anyone may mint or set the appetite.
contract MockGasHungryToken is ERC20 {
    uint256 public appetite;

    constructor() ERC20("Hungry", "HGY") {}

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function setAppetite(uint256 appetite_) external {
        appetite = appetite_;
    }

    function _update(address from, address to, uint256 value) internal override {
        if (from != address(0)) {
            uint256 left = gasleft();
            uint256 until = left > appetite ? left - appetite : 0;
            while (gasleft() > until) {} // runs out of gas when given less than the appetite
        }
        super._update(from, to, value);
    }
}
