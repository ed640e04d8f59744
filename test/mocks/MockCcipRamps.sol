// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @dev The two questions a CCIP token pool asks its router: which onRamp may burn or lock for a lane, and
/// whether a caller is an offRamp. Stands in for the router in pool unit tests.
contract MockRampRouter {
    address public immutable onRamp;
    address public immutable offRamp;

    constructor(address onRamp_, address offRamp_) {
        onRamp = onRamp_;
        offRamp = offRamp_;
    }

    function getOnRamp(uint64) external view returns (address) {
        return onRamp;
    }

    function isOffRamp(uint64, address caller) external view returns (bool) {
        return caller == offRamp;
    }
}

/// @dev The Risk Management Network's curse check, settable.
contract MockRMN {
    bool public cursed;

    function setCursed(bool cursed_) external {
        cursed = cursed_;
    }

    function isCursed(bytes16) external view returns (bool) {
        return cursed;
    }

    function isCursed() external view returns (bool) {
        return cursed;
    }
}
