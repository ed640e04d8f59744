// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IERC3009} from "../../contracts/interfaces/IERC3009.sol";
import {TestStablecoinBase} from "../base/TestStablecoinBase.sol";

contract CancelAuthorizationTest is TestStablecoinBase {
    function _cancelDigest(address authorizer, bytes32 nonce) internal view returns (bytes32) {
        return _digest(
            keccak256(abi.encode(keccak256("CancelAuthorization(address authorizer,bytes32 nonce)"), authorizer, nonce))
        );
    }

    function test_cancelAuthorization_MarksNonceUsed() public {
        (uint8 v, bytes32 r, bytes32 s) = _sign(payerKey, _cancelDigest(payer, NONCE));

        vm.expectEmit(address(token));
        emit IERC3009.AuthorizationCanceled(payer, NONCE);
        vm.prank(relayer);
        token.cancelAuthorization(payer, NONCE, v, r, s);

        assertTrue(token.authorizationState(payer, NONCE));
        assertEq(token.balanceOf(payer), INITIAL_BALANCE);
    }

    function test_cancelAuthorization_AcceptsBytesSignature() public {
        token.cancelAuthorization(payer, NONCE, _signPacked(payerKey, _cancelDigest(payer, NONCE)));
        assertTrue(token.authorizationState(payer, NONCE));
    }

    function test_cancelAuthorization_RevertWhen_AlreadyCancelled() public {
        (uint8 v, bytes32 r, bytes32 s) = _sign(payerKey, _cancelDigest(payer, NONCE));
        token.cancelAuthorization(payer, NONCE, v, r, s);

        vm.expectRevert(abi.encodeWithSelector(IERC3009.AuthorizationAlreadyUsed.selector, payer, NONCE));
        token.cancelAuthorization(payer, NONCE, v, r, s);
    }

    function test_cancelAuthorization_RevertWhen_AlreadyExecuted() public {
        (uint256 validAfter, uint256 validBefore) = _window();
        bytes32 digest =
            _authorizationDigest("TransferWithAuthorization", payer, payee, AMOUNT, validAfter, validBefore, NONCE);
        token.transferWithAuthorization(
            payer, payee, AMOUNT, validAfter, validBefore, NONCE, _signPacked(payerKey, digest)
        );
        (uint8 v, bytes32 r, bytes32 s) = _sign(payerKey, _cancelDigest(payer, NONCE));

        vm.expectRevert(abi.encodeWithSelector(IERC3009.AuthorizationAlreadyUsed.selector, payer, NONCE));
        token.cancelAuthorization(payer, NONCE, v, r, s);
    }

    function test_cancelAuthorization_RevertWhen_WrongSigner() public {
        (, uint256 strangerKey) = makeAddrAndKey("stranger");
        (uint8 v, bytes32 r, bytes32 s) = _sign(strangerKey, _cancelDigest(payer, NONCE));

        vm.expectRevert(abi.encodeWithSelector(IERC3009.InvalidAuthorizationSignature.selector, payer));
        token.cancelAuthorization(payer, NONCE, v, r, s);
        assertFalse(token.authorizationState(payer, NONCE));
    }

    function test_cancelAuthorization_RevertWhen_SignedForOtherNonce() public {
        (uint8 v, bytes32 r, bytes32 s) = _sign(payerKey, _cancelDigest(payer, keccak256("other")));

        vm.expectRevert(abi.encodeWithSelector(IERC3009.InvalidAuthorizationSignature.selector, payer));
        token.cancelAuthorization(payer, NONCE, v, r, s);
    }

    function test_cancelAuthorization_OnlyAffectsItsAuthorizer() public {
        (address other, uint256 otherKey) = makeAddrAndKey("other");
        token.cancelAuthorization(other, NONCE, _signPacked(otherKey, _cancelDigest(other, NONCE)));

        assertTrue(token.authorizationState(other, NONCE));
        assertFalse(token.authorizationState(payer, NONCE));
    }
}
