// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Script, console2} from "forge-std/Script.sol";

/// @notice What Quittance's deployment scripts share: deployment through the deterministic deployment proxy
/// with Quittance's salt, skipping what is there already.
abstract contract QuittanceScript is Script {
    address internal constant CREATE2_DEPLOYER = 0x4e59b44847b379578588920cA78FbF26c0B4956C;
    bytes32 internal constant SALT = keccak256("quittance v1");

    /// @dev Deploys `initCode` through the CREATE2 deployer unless its address has code already.
    function _deploy(string memory name, bytes memory initCode) internal returns (address deployed) {
        deployed = vm.computeCreate2Address(SALT, keccak256(initCode), CREATE2_DEPLOYER);
        if (deployed.code.length != 0) {
            console2.log(name, "already deployed", deployed);
            return deployed;
        }
        (bool ok,) = CREATE2_DEPLOYER.call(abi.encodePacked(SALT, initCode));
        require(ok && deployed.code.length != 0, string.concat(name, ": deployment failed"));
        console2.log(name, "deployed", deployed);
    }
}
