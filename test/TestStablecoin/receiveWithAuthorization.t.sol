// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IERC3009} from "../../contracts/interfaces/IERC3009.sol";
import {TestStablecoinBase} from "../base/TestStablecoinBase.sol";

contract ReceiveWithAuthorizationTest is TestStablecoinBase {
    uint256 internal validAfter;
    uint256 internal validBefore;

    function setUp() public override {
        super.setUp();
        (validAfter, validBefore) = _window();
    }

    function _digestFor(uint256 value, bytes32 nonce) internal view returns (bytes32) {
        return _authorizationDigest("ReceiveWithAuthorization", payer, payee, value, validAfter, validBefore, nonce);
    }

    function test_receiveWithAuthorization_MovesFundsWhenPayeeSubmits() public {
        (uint8 v, bytes32 r, bytes32 s) = _sign(payerKey, _digestFor(AMOUNT, NONCE));

        vm.expectEmit(address(token));
        emit IERC3009.AuthorizationUsed(payer, NONCE);
        vm.prank(payee);
        token.receiveWithAuthorization(payer, payee, AMOUNT, validAfter, validBefore, NONCE, v, r, s);

        assertEq(token.balanceOf(payee), AMOUNT);
        assertEq(token.balanceOf(payer), INITIAL_BALANCE - AMOUNT);
        assertTrue(token.authorizationState(payer, NONCE));
    }

    function test_receiveWithAuthorization_AcceptsBytesSignature() public {
        bytes memory signature = _signPacked(payerKey, _digestFor(AMOUNT, NONCE));

        vm.prank(payee);
        token.receiveWithAuthorization(payer, payee, AMOUNT, validAfter, validBefore, NONCE, signature);

        assertEq(token.balanceOf(payee), AMOUNT);
    }

    function test_receiveWithAuthorization_RevertWhen_CallerIsNotPayee() public {
        (uint8 v, bytes32 r, bytes32 s) = _sign(payerKey, _digestFor(AMOUNT, NONCE));

        vm.expectRevert(abi.encodeWithSelector(IERC3009.CallerMustBePayee.selector, relayer, payee));
        vm.prank(relayer);
        token.receiveWithAuthorization(payer, payee, AMOUNT, validAfter, validBefore, NONCE, v, r, s);

        bytes memory signature = abi.encodePacked(r, s, v);
        vm.expectRevert(abi.encodeWithSelector(IERC3009.CallerMustBePayee.selector, relayer, payee));
        vm.prank(relayer);
        token.receiveWithAuthorization(payer, payee, AMOUNT, validAfter, validBefore, NONCE, signature);
        assertFalse(token.authorizationState(payer, NONCE));
    }

    function test_receiveWithAuthorization_RevertWhen_FrontRunAsTransfer() public {
        // A receive authorization seen in the mempool cannot be replayed as a plain transfer.
        (uint8 v, bytes32 r, bytes32 s) = _sign(payerKey, _digestFor(AMOUNT, NONCE));

        vm.expectRevert(abi.encodeWithSelector(IERC3009.InvalidAuthorizationSignature.selector, payer));
        vm.prank(relayer);
        token.transferWithAuthorization(payer, payee, AMOUNT, validAfter, validBefore, NONCE, v, r, s);
    }

    function test_receiveWithAuthorization_RevertWhen_TransferAuthorizationSubmitted() public {
        bytes32 digest =
            _authorizationDigest("TransferWithAuthorization", payer, payee, AMOUNT, validAfter, validBefore, NONCE);
        (uint8 v, bytes32 r, bytes32 s) = _sign(payerKey, digest);

        vm.expectRevert(abi.encodeWithSelector(IERC3009.InvalidAuthorizationSignature.selector, payer));
        vm.prank(payee);
        token.receiveWithAuthorization(payer, payee, AMOUNT, validAfter, validBefore, NONCE, v, r, s);
    }

    function test_receiveWithAuthorization_RevertWhen_Replayed() public {
        (uint8 v, bytes32 r, bytes32 s) = _sign(payerKey, _digestFor(AMOUNT, NONCE));
        vm.startPrank(payee);
        token.receiveWithAuthorization(payer, payee, AMOUNT, validAfter, validBefore, NONCE, v, r, s);

        vm.expectRevert(abi.encodeWithSelector(IERC3009.AuthorizationAlreadyUsed.selector, payer, NONCE));
        token.receiveWithAuthorization(payer, payee, AMOUNT, validAfter, validBefore, NONCE, v, r, s);
        vm.stopPrank();
        assertEq(token.balanceOf(payee), AMOUNT);
    }

    function test_receiveWithAuthorization_RevertWhen_Expired() public {
        (uint8 v, bytes32 r, bytes32 s) = _sign(payerKey, _digestFor(AMOUNT, NONCE));
        vm.warp(validBefore + 1);

        vm.expectRevert(abi.encodeWithSelector(IERC3009.AuthorizationExpired.selector, validBefore, validBefore + 1));
        vm.prank(payee);
        token.receiveWithAuthorization(payer, payee, AMOUNT, validAfter, validBefore, NONCE, v, r, s);
    }

    function test_receiveWithAuthorization_RevertWhen_NotYetValid() public {
        validAfter = block.timestamp + 10;
        (uint8 v, bytes32 r, bytes32 s) = _sign(payerKey, _digestFor(AMOUNT, NONCE));

        vm.expectRevert(abi.encodeWithSelector(IERC3009.AuthorizationNotYetValid.selector, validAfter, block.timestamp));
        vm.prank(payee);
        token.receiveWithAuthorization(payer, payee, AMOUNT, validAfter, validBefore, NONCE, v, r, s);
    }

    function test_receiveWithAuthorization_RevertWhen_WrongSigner() public {
        (, uint256 strangerKey) = makeAddrAndKey("stranger");
        (uint8 v, bytes32 r, bytes32 s) = _sign(strangerKey, _digestFor(AMOUNT, NONCE));

        vm.expectRevert(abi.encodeWithSelector(IERC3009.InvalidAuthorizationSignature.selector, payer));
        vm.prank(payee);
        token.receiveWithAuthorization(payer, payee, AMOUNT, validAfter, validBefore, NONCE, v, r, s);
    }

    function test_receiveWithAuthorization_RevertWhen_NonceCancelled() public {
        bytes32 cancelDigest = _digest(keccak256(abi.encode(token.CANCEL_AUTHORIZATION_TYPEHASH(), payer, NONCE)));
        token.cancelAuthorization(payer, NONCE, _signPacked(payerKey, cancelDigest));
        (uint8 v, bytes32 r, bytes32 s) = _sign(payerKey, _digestFor(AMOUNT, NONCE));

        vm.expectRevert(abi.encodeWithSelector(IERC3009.AuthorizationAlreadyUsed.selector, payer, NONCE));
        vm.prank(payee);
        token.receiveWithAuthorization(payer, payee, AMOUNT, validAfter, validBefore, NONCE, v, r, s);
    }
}
