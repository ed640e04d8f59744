// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IERC3009} from "../../contracts/interfaces/IERC3009.sol";
import {TestStablecoinBase} from "../base/TestStablecoinBase.sol";
import {MockERC1271Wallet} from "../mocks/MockERC1271Wallet.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";

contract TransferWithAuthorizationTest is TestStablecoinBase {
    uint256 internal validAfter;
    uint256 internal validBefore;

    function setUp() public override {
        super.setUp();
        (validAfter, validBefore) = _window();
    }

    function _digestFor(address from, uint256 value, bytes32 nonce) internal view returns (bytes32) {
        return _authorizationDigest("TransferWithAuthorization", from, payee, value, validAfter, validBefore, nonce);
    }

    function test_transferWithAuthorization_MovesFundsWhenSubmittedByAnyone() public {
        (uint8 v, bytes32 r, bytes32 s) = _sign(payerKey, _digestFor(payer, AMOUNT, NONCE));

        vm.expectEmit(address(token));
        emit IERC3009.AuthorizationUsed(payer, NONCE);
        vm.prank(relayer);
        token.transferWithAuthorization(payer, payee, AMOUNT, validAfter, validBefore, NONCE, v, r, s);

        assertEq(token.balanceOf(payer), INITIAL_BALANCE - AMOUNT);
        assertEq(token.balanceOf(payee), AMOUNT);
        assertEq(token.balanceOf(relayer), 0);
        assertTrue(token.authorizationState(payer, NONCE));
    }

    function test_transferWithAuthorization_AcceptsBytesSignature() public {
        bytes memory signature = _signPacked(payerKey, _digestFor(payer, AMOUNT, NONCE));

        vm.prank(relayer);
        token.transferWithAuthorization(payer, payee, AMOUNT, validAfter, validBefore, NONCE, signature);

        assertEq(token.balanceOf(payee), AMOUNT);
        assertTrue(token.authorizationState(payer, NONCE));
    }

    function test_transferWithAuthorization_AcceptsContractWalletSignature() public {
        MockERC1271Wallet wallet = new MockERC1271Wallet(payer);
        vm.prank(owner);
        token.mint(address(wallet), AMOUNT);
        bytes memory signature = _signPacked(payerKey, _digestFor(address(wallet), AMOUNT, NONCE));

        token.transferWithAuthorization(address(wallet), payee, AMOUNT, validAfter, validBefore, NONCE, signature);

        assertEq(token.balanceOf(address(wallet)), 0);
        assertEq(token.balanceOf(payee), AMOUNT);
    }

    function test_transferWithAuthorization_RevertWhen_Replayed() public {
        (uint8 v, bytes32 r, bytes32 s) = _sign(payerKey, _digestFor(payer, AMOUNT, NONCE));
        token.transferWithAuthorization(payer, payee, AMOUNT, validAfter, validBefore, NONCE, v, r, s);

        vm.expectRevert(abi.encodeWithSelector(IERC3009.AuthorizationAlreadyUsed.selector, payer, NONCE));
        token.transferWithAuthorization(payer, payee, AMOUNT, validAfter, validBefore, NONCE, v, r, s);
        assertEq(token.balanceOf(payee), AMOUNT);
    }

    function test_transferWithAuthorization_RevertWhen_ReplayedThroughOtherOverload() public {
        (uint8 v, bytes32 r, bytes32 s) = _sign(payerKey, _digestFor(payer, AMOUNT, NONCE));
        token.transferWithAuthorization(payer, payee, AMOUNT, validAfter, validBefore, NONCE, v, r, s);

        vm.expectRevert(abi.encodeWithSelector(IERC3009.AuthorizationAlreadyUsed.selector, payer, NONCE));
        token.transferWithAuthorization(payer, payee, AMOUNT, validAfter, validBefore, NONCE, abi.encodePacked(r, s, v));
    }

    function test_transferWithAuthorization_RevertWhen_Expired() public {
        (uint8 v, bytes32 r, bytes32 s) = _sign(payerKey, _digestFor(payer, AMOUNT, NONCE));
        vm.warp(validBefore); // validBefore is exclusive

        vm.expectRevert(abi.encodeWithSelector(IERC3009.AuthorizationExpired.selector, validBefore, validBefore));
        token.transferWithAuthorization(payer, payee, AMOUNT, validAfter, validBefore, NONCE, v, r, s);
        assertFalse(token.authorizationState(payer, NONCE));
    }

    function test_transferWithAuthorization_RevertWhen_NotYetValid() public {
        validAfter = block.timestamp; // validAfter is exclusive
        (uint8 v, bytes32 r, bytes32 s) = _sign(payerKey, _digestFor(payer, AMOUNT, NONCE));

        vm.expectRevert(abi.encodeWithSelector(IERC3009.AuthorizationNotYetValid.selector, validAfter, block.timestamp));
        token.transferWithAuthorization(payer, payee, AMOUNT, validAfter, validBefore, NONCE, v, r, s);

        vm.warp(validAfter + 1);
        token.transferWithAuthorization(payer, payee, AMOUNT, validAfter, validBefore, NONCE, v, r, s);
        assertEq(token.balanceOf(payee), AMOUNT);
    }

    function test_transferWithAuthorization_RevertWhen_WrongSigner() public {
        (, uint256 strangerKey) = makeAddrAndKey("stranger");
        (uint8 v, bytes32 r, bytes32 s) = _sign(strangerKey, _digestFor(payer, AMOUNT, NONCE));

        vm.expectRevert(abi.encodeWithSelector(IERC3009.InvalidAuthorizationSignature.selector, payer));
        token.transferWithAuthorization(payer, payee, AMOUNT, validAfter, validBefore, NONCE, v, r, s);
        assertEq(token.balanceOf(payer), INITIAL_BALANCE);
    }

    function test_transferWithAuthorization_RevertWhen_ValueTampered() public {
        (uint8 v, bytes32 r, bytes32 s) = _sign(payerKey, _digestFor(payer, AMOUNT, NONCE));

        vm.expectRevert(abi.encodeWithSelector(IERC3009.InvalidAuthorizationSignature.selector, payer));
        token.transferWithAuthorization(payer, payee, AMOUNT + 1, validAfter, validBefore, NONCE, v, r, s);
    }

    function test_transferWithAuthorization_RevertWhen_PayeeTampered() public {
        (uint8 v, bytes32 r, bytes32 s) = _sign(payerKey, _digestFor(payer, AMOUNT, NONCE));

        vm.expectRevert(abi.encodeWithSelector(IERC3009.InvalidAuthorizationSignature.selector, payer));
        token.transferWithAuthorization(payer, relayer, AMOUNT, validAfter, validBefore, NONCE, v, r, s);
    }

    function test_transferWithAuthorization_RevertWhen_SignedForAnotherChain() public {
        uint256 chainId = block.chainid;
        vm.chainId(chainId + 1);
        (uint8 v, bytes32 r, bytes32 s) = _sign(payerKey, _digestFor(payer, AMOUNT, NONCE));
        vm.chainId(chainId);

        vm.expectRevert(abi.encodeWithSelector(IERC3009.InvalidAuthorizationSignature.selector, payer));
        token.transferWithAuthorization(payer, payee, AMOUNT, validAfter, validBefore, NONCE, v, r, s);
    }

    function test_transferWithAuthorization_RevertWhen_ReceiveAuthorizationSubmitted() public {
        bytes32 digest =
            _authorizationDigest("ReceiveWithAuthorization", payer, payee, AMOUNT, validAfter, validBefore, NONCE);
        (uint8 v, bytes32 r, bytes32 s) = _sign(payerKey, digest);

        vm.expectRevert(abi.encodeWithSelector(IERC3009.InvalidAuthorizationSignature.selector, payer));
        token.transferWithAuthorization(payer, payee, AMOUNT, validAfter, validBefore, NONCE, v, r, s);
    }

    function test_transferWithAuthorization_RevertWhen_NonceCancelled() public {
        bytes32 cancelDigest = _digest(keccak256(abi.encode(token.CANCEL_AUTHORIZATION_TYPEHASH(), payer, NONCE)));
        (uint8 cv, bytes32 cr, bytes32 cs) = _sign(payerKey, cancelDigest);
        token.cancelAuthorization(payer, NONCE, cv, cr, cs);
        (uint8 v, bytes32 r, bytes32 s) = _sign(payerKey, _digestFor(payer, AMOUNT, NONCE));

        vm.expectRevert(abi.encodeWithSelector(IERC3009.AuthorizationAlreadyUsed.selector, payer, NONCE));
        token.transferWithAuthorization(payer, payee, AMOUNT, validAfter, validBefore, NONCE, v, r, s);
    }

    function test_transferWithAuthorization_RevertWhen_MalleableSignature() public {
        (uint8 v, bytes32 r, bytes32 s) = _sign(payerKey, _digestFor(payer, AMOUNT, NONCE));
        // The other valid (r, s', v') of the same signature: s' = n - s. OpenZeppelin's ECDSA refuses high s.
        uint256 n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;
        bytes32 highS = bytes32(n - uint256(s));
        uint8 flippedV = v == 27 ? 28 : 27;

        vm.expectRevert(abi.encodeWithSelector(IERC3009.InvalidAuthorizationSignature.selector, payer));
        token.transferWithAuthorization(payer, payee, AMOUNT, validAfter, validBefore, NONCE, flippedV, r, highS);
    }

    function test_transferWithAuthorization_RevertWhen_BalanceTooLow_NonceStaysUnused() public {
        uint256 value = INITIAL_BALANCE + 1;
        (uint8 v, bytes32 r, bytes32 s) = _sign(payerKey, _digestFor(payer, value, NONCE));

        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, payer, INITIAL_BALANCE, value)
        );
        token.transferWithAuthorization(payer, payee, value, validAfter, validBefore, NONCE, v, r, s);
        assertFalse(token.authorizationState(payer, NONCE));
    }

    function test_transferWithAuthorization_RevertWhen_FromIsZeroAddress() public {
        (uint8 v, bytes32 r, bytes32 s) = _sign(payerKey, _digestFor(address(0), AMOUNT, NONCE));

        vm.expectRevert(abi.encodeWithSelector(IERC3009.InvalidAuthorizationSignature.selector, address(0)));
        token.transferWithAuthorization(address(0), payee, AMOUNT, validAfter, validBefore, NONCE, v, r, s);
    }

    function testFuzz_transferWithAuthorization(uint256 value, bytes32 nonce, uint256 after_, uint256 before_) public {
        value = bound(value, 0, INITIAL_BALANCE);
        validAfter = bound(after_, 0, block.timestamp - 1);
        validBefore = bound(before_, block.timestamp + 1, type(uint256).max);
        (uint8 v, bytes32 r, bytes32 s) = _sign(payerKey, _digestFor(payer, value, nonce));

        token.transferWithAuthorization(payer, payee, value, validAfter, validBefore, nonce, v, r, s);

        assertEq(token.balanceOf(payer) + token.balanceOf(payee), INITIAL_BALANCE);
        assertEq(token.balanceOf(payee), value);
        assertTrue(token.authorizationState(payer, nonce));
    }
}
