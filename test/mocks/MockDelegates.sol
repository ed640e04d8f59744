// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @notice EIP-7702 delegation target with no `isValidSignature`: a batch executor an account may delegate to.
/// A signer that delegates to it has code, and every ERC-1271 check against it fails.
contract ExecutorDelegate {
    /// @notice Runs `data` against `target` as the delegating account.
    function execute(address target, uint256 value, bytes calldata data) external returns (bytes memory) {
        require(msg.sender == address(this), "only self");
        (bool ok, bytes memory result) = target.call{value: value}(data);
        require(ok, "call failed");
        return result;
    }

    receive() external payable {}
}

/// @notice EIP-7702 delegation target (or plain contract) whose ERC-1271 answer is whatever was last set: the
/// signer that controls it can approve any digest, or revoke every signature it ever made.
contract SwitchableSignerDelegate is IERC1271 {
    /// @notice Answer to give: 0 refuses everything, 1 approves everything, 2 checks ECDSA by `key`.
    uint8 public mode;
    /// @notice The key checked in mode 2.
    address public key;

    function set(uint8 mode_, address key_) external {
        mode = mode_;
        key = key_;
    }

    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        if (mode == 1) return IERC1271.isValidSignature.selector;
        if (mode == 2) {
            (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecover(hash, signature);
            if (err == ECDSA.RecoverError.NoError && recovered == key) return IERC1271.isValidSignature.selector;
        }
        return bytes4(0);
    }
}

/// @notice A smart-contract wallet whose owner key can be rotated: signatures made by an old key stop being
/// valid the moment the key changes (ERC-1271 signatures are revocable).
contract RotatingKeyWallet is IERC1271 {
    /// @notice The key whose signatures are valid now.
    address public signer;

    constructor(address signer_) {
        signer = signer_;
    }

    /// @notice Replaces the key. Anyone may call it: tests play the wallet's owner.
    function rotate(address signer_) external {
        signer = signer_;
    }

    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecover(hash, signature);
        return err == ECDSA.RecoverError.NoError && recovered == signer ? IERC1271.isValidSignature.selector : bytes4(0);
    }
}
