// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title LocalRmn
/// @notice LOCAL CHAINS ONLY. The Risk Management Network's curse check that CCIP token pools ask, for local
/// chains: nothing is ever cursed. Never deploy it on a network that has CCIP.
contract LocalRmn {
    /// @notice Whether `subject` is cursed: never, locally.
    function isCursed(bytes16) external pure returns (bool) {
        return false;
    }

    /// @notice Whether there is a global curse: never, locally.
    function isCursed() external pure returns (bool) {
        return false;
    }
}
