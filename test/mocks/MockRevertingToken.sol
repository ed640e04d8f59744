// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice A token whose transfers revert while its switch is on (a paused token). Mints still work.
/// 6 decimals, anyone may mint or flip the switch.
contract MockRevertingToken is ERC20 {
    error TransfersPaused();

    bool public reverting;

    constructor() ERC20("Reverting", "REV") {}

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function setReverting(bool reverting_) external {
        reverting = reverting_;
    }

    function _update(address from, address to, uint256 value) internal override {
        if (reverting && from != address(0)) revert TransfersPaused();
        super._update(from, to, value);
    }
}
