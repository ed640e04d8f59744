// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {TestStablecoin} from "../../contracts/tokens/TestStablecoin.sol";
import {Test} from "forge-std/Test.sol";

/// @notice Shared fixture for the TestStablecoin tests: a USDC look-alike, funded signers, and EIP-712
/// signing helpers written from the EIP texts (not from the contract's own hashing).
abstract contract TestStablecoinBase is Test {
    string internal constant NAME = "USD Coin";
    string internal constant SYMBOL = "USDC";
    string internal constant VERSION = "2";

    TestStablecoin internal token;

    address internal owner = makeAddr("owner");
    uint256 internal payerKey;
    address internal payer;
    address internal payee = makeAddr("payee");
    address internal relayer = makeAddr("relayer");

    uint256 internal constant INITIAL_BALANCE = 1000e6;
    uint256 internal constant AMOUNT = 10_000; // one cent
    bytes32 internal constant NONCE = keccak256("nonce-1");

    function setUp() public virtual {
        (payer, payerKey) = makeAddrAndKey("payer");
        token = new TestStablecoin(NAME, SYMBOL, VERSION, owner);
        vm.prank(owner);
        token.mint(payer, INITIAL_BALANCE);
        vm.warp(1_750_000_000);
    }

    function _domainSeparator() internal view returns (bytes32) {
        return keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256(bytes(NAME)),
                keccak256(bytes(VERSION)),
                block.chainid,
                address(token)
            )
        );
    }

    function _digest(bytes32 structHash) internal view returns (bytes32) {
        return keccak256(abi.encodePacked("\x19\x01", _domainSeparator(), structHash));
    }

    function _authorizationDigest(
        string memory primaryType,
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce
    ) internal view returns (bytes32) {
        bytes32 typeHash = keccak256(
            abi.encodePacked(
                primaryType,
                "(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
            )
        );
        return _digest(keccak256(abi.encode(typeHash, from, to, value, validAfter, validBefore, nonce)));
    }

    function _sign(uint256 key, bytes32 digest) internal pure returns (uint8 v, bytes32 r, bytes32 s) {
        (v, r, s) = vm.sign(key, digest);
    }

    function _signPacked(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    /// @dev A window that is open now: valid after an hour ago, before an hour from now.
    function _window() internal view returns (uint256 validAfter, uint256 validBefore) {
        return (block.timestamp - 1 hours, block.timestamp + 1 hours);
    }
}
