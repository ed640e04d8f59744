// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @notice An ERC-1271 issuer whose signature check is expensive (a wide multisig, say): it spends about
/// `rounds` rounds of hashing (some 100 gas each) before checking its signer's ECDSA signature. Lets a test
/// give a settlement too little gas.
contract MockGasHungryWallet is IERC1271 {
    address public immutable signer;
    uint256 public immutable rounds;

    constructor(address signer_, uint256 rounds_) {
        signer = signer_;
        rounds = rounds_;
    }

    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        bytes32 work = hash;
        uint256 n = rounds;
        assembly ("memory-safe") {
            for { let i := 0 } lt(i, n) { i := add(i, 1) } {
                mstore(0, work)
                work := keccak256(0, 32)
            }
        }
        if (work == bytes32(0)) return bytes4(0);
        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecover(hash, signature);
        return err == ECDSA.RecoverError.NoError && recovered == signer ? IERC1271.isValidSignature.selector : bytes4(0);
    }
}
