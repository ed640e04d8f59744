// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice A token that, while its switch is on, answers `false` to `transfer` and `transferFrom` without
/// moving anything (the pre-OpenZeppelin style of failure some tokens still use). 6 decimals, anyone may
/// mint or flip the switch.
contract MockFalseReturnToken is ERC20 {
    bool public failing;

    constructor() ERC20("False Return", "FALSE") {}

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function setFailing(bool failing_) external {
        failing = failing_;
    }

    function transfer(address to, uint256 value) public override returns (bool) {
        if (failing) return false;
        return super.transfer(to, value);
    }

    function transferFrom(address from, address to, uint256 value) public override returns (bool) {
        if (failing) return false;
        return super.transferFrom(from, to, value);
    }
}
