// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {TestStablecoinBase} from "../base/TestStablecoinBase.sol";

/// @notice Gas of the payment paths an x402 facilitator submits, recorded in snapshots/TestStablecoin.json.
/// The payee already holds a balance, as a seller does after its first sale, so the figures are those of a
/// steady-state payment rather than of a first transfer to an empty account.
contract TestStablecoinGasTest is TestStablecoinBase {
    uint256 internal validAfter;
    uint256 internal validBefore;

    function setUp() public override {
        super.setUp();
        (validAfter, validBefore) = _window();
        vm.prank(owner);
        token.mint(payee, 1);
    }

    function test_gas_transferWithAuthorization() public {
        bytes32 digest =
            _authorizationDigest("TransferWithAuthorization", payer, payee, AMOUNT, validAfter, validBefore, NONCE);
        (uint8 v, bytes32 r, bytes32 s) = _sign(payerKey, digest);
        vm.prank(relayer);
        token.transferWithAuthorization(payer, payee, AMOUNT, validAfter, validBefore, NONCE, v, r, s);
        vm.snapshotGasLastCall("TestStablecoin", "transferWithAuthorization (v, r, s)");
    }

    function test_gas_transferWithAuthorization_bytes() public {
        bytes32 digest =
            _authorizationDigest("TransferWithAuthorization", payer, payee, AMOUNT, validAfter, validBefore, NONCE);
        bytes memory signature = _signPacked(payerKey, digest);
        vm.prank(relayer);
        token.transferWithAuthorization(payer, payee, AMOUNT, validAfter, validBefore, NONCE, signature);
        vm.snapshotGasLastCall("TestStablecoin", "transferWithAuthorization (bytes signature)");
    }

    function test_gas_receiveWithAuthorization() public {
        bytes32 digest =
            _authorizationDigest("ReceiveWithAuthorization", payer, payee, AMOUNT, validAfter, validBefore, NONCE);
        (uint8 v, bytes32 r, bytes32 s) = _sign(payerKey, digest);
        vm.prank(payee);
        token.receiveWithAuthorization(payer, payee, AMOUNT, validAfter, validBefore, NONCE, v, r, s);
        vm.snapshotGasLastCall("TestStablecoin", "receiveWithAuthorization (v, r, s)");
    }

    function test_gas_cancelAuthorization() public {
        bytes32 digest = _digest(keccak256(abi.encode(token.CANCEL_AUTHORIZATION_TYPEHASH(), payer, NONCE)));
        (uint8 v, bytes32 r, bytes32 s) = _sign(payerKey, digest);
        token.cancelAuthorization(payer, NONCE, v, r, s);
        vm.snapshotGasLastCall("TestStablecoin", "cancelAuthorization");
    }
}
