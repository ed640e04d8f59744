// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice A token with a transfer hook (ERC-777 style): once armed, the next `transfer` or `transferFrom`
/// first calls a configured target with configured calldata (as the token itself), records whether that
/// call succeeded and what it returned, then moves the funds. The hook fires once per arming, and a failing
/// re-entrant call never makes the transfer itself fail. 6 decimals, anyone may mint or arm.
contract MockReentrantToken is ERC20 {
    address public target;
    bytes public callData;
    bool public armed;

    /// @notice Whether the hook fired, whether the re-entrant call succeeded, and its return or revert data.
    bool public reentered;
    bool public reentrySucceeded;
    bytes public reentryReturnData;

    constructor() ERC20("Reentrant", "REENT") {}

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice Arms the hook: the next transfer calls `target_` with `callData_`.
    function arm(address target_, bytes calldata callData_) external {
        target = target_;
        callData = callData_;
        armed = true;
        reentered = false;
        reentrySucceeded = false;
        delete reentryReturnData;
    }

    /// @notice Lets the token itself approve a spender, so a re-entrant call can spend the token's own balance.
    function approveFromSelf(address spender, uint256 amount) external {
        _approve(address(this), spender, amount);
    }

    /// @notice The selector of the re-entrant call's revert data (zero if it did not revert with one).
    function reentryErrorSelector() external view returns (bytes4) {
        bytes memory data = reentryReturnData;
        if (reentrySucceeded || data.length < 4) return bytes4(0);
        // casting to 'bytes4' is meant to truncate: the first four bytes are the error selector
        // forge-lint: disable-next-line(unsafe-typecast)
        return bytes4(data);
    }

    function transfer(address to, uint256 value) public override returns (bool) {
        _hook();
        return super.transfer(to, value);
    }

    function transferFrom(address from, address to, uint256 value) public override returns (bool) {
        _hook();
        return super.transferFrom(from, to, value);
    }

    function _hook() private {
        if (!armed) return;
        armed = false;
        reentered = true;
        (bool ok, bytes memory data) = target.call(callData);
        reentrySucceeded = ok;
        reentryReturnData = data;
    }
}
