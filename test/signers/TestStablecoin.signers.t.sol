// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IERC3009} from "../../contracts/interfaces/IERC3009.sol";
import {ITestStablecoin} from "../../contracts/interfaces/ITestStablecoin.sol";
import {TestStablecoinBase} from "../base/TestStablecoinBase.sol";
import {ExecutorDelegate, RotatingKeyWallet, SwitchableSignerDelegate} from "../mocks/MockDelegates.sol";

/// @notice Signer changes against the token's signature checks (EIP-3009 and EIP-2612). The modelled behaviour
/// is USDC FiatToken v2.2's: a signer with code is checked by ERC-1271 only, so an EOA that delegates
/// (EIP-7702) to a contract without `isValidSignature` can no longer authorize anything with its key, and a
/// contract wallet's old-key signatures die when its key rotates. Quittance's contracts must not depend on the
/// opposite: a payer's signature may stop working between signing and submission, and then nothing moves.
contract TestStablecoinSignersTest is TestStablecoinBase {
    bytes32 internal constant CANCEL_TYPEHASH = keccak256("CancelAuthorization(address authorizer,bytes32 nonce)");
    bytes32 internal constant PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");

    ExecutorDelegate internal executor;
    SwitchableSignerDelegate internal switchable;

    function setUp() public override {
        super.setUp();
        executor = new ExecutorDelegate();
        switchable = new SwitchableSignerDelegate();
    }

    /// @dev `account` (whose key is `key`) delegates to `target` (zero: clears the delegation) by a real
    /// EIP-7702 authorization.
    function _delegate(address account, uint256 key, address target) internal {
        vm.signAndAttachDelegation(target, key);
        // The authorization takes effect with the next call; any call will do.
        (bool ok,) = account.call("");
        ok;
        if (target == address(0)) assertEq(account.code.length, 0, "delegation cleared");
        else assertEq(account.code, abi.encodePacked(hex"ef0100", target), "delegated");
    }

    function _transferSignature(uint256 key, address from, bytes32 nonce) internal view returns (bytes memory) {
        (uint256 validAfter, uint256 validBefore) = _window();
        return _signPacked(
            key, _authorizationDigest("TransferWithAuthorization", from, payee, AMOUNT, validAfter, validBefore, nonce)
        );
    }

    function _receiveSignature(uint256 key, address from, bytes32 nonce) internal view returns (bytes memory) {
        (uint256 validAfter, uint256 validBefore) = _window();
        return _signPacked(
            key, _authorizationDigest("ReceiveWithAuthorization", from, payee, AMOUNT, validAfter, validBefore, nonce)
        );
    }

    function _cancelSignature(uint256 key, address authorizer, bytes32 nonce) internal view returns (bytes memory) {
        return _signPacked(key, _digest(keccak256(abi.encode(CANCEL_TYPEHASH, authorizer, nonce))));
    }

    function _permitSignature(uint256 key, address holder) internal view returns (bytes memory) {
        return _signPacked(
            key,
            _digest(
                keccak256(abi.encode(PERMIT_TYPEHASH, holder, relayer, AMOUNT, token.nonces(holder), block.timestamp))
            )
        );
    }

    function _transfer(address from, bytes memory signature) internal {
        (uint256 validAfter, uint256 validBefore) = _window();
        vm.prank(relayer);
        token.transferWithAuthorization(from, payee, AMOUNT, validAfter, validBefore, NONCE, signature);
    }

    function _receive(address from, bytes memory signature) internal {
        (uint256 validAfter, uint256 validBefore) = _window();
        vm.prank(payee);
        token.receiveWithAuthorization(from, payee, AMOUNT, validAfter, validBefore, NONCE, signature);
    }

    /// @dev Every signed operation of `holder` with `key` is refused and leaves balances, nonces and allowances
    /// as they were.
    function _assertEverySignatureRefused(address holder, uint256 key) internal {
        uint256 held = token.balanceOf(holder);
        bytes memory refused = abi.encodeWithSelector(IERC3009.InvalidAuthorizationSignature.selector, holder);

        bytes memory signature = _transferSignature(key, holder, NONCE);
        vm.expectRevert(refused);
        this.transferAs(holder, signature);

        signature = _receiveSignature(key, holder, NONCE);
        vm.expectRevert(refused);
        this.receiveAs(holder, signature);

        signature = _cancelSignature(key, holder, NONCE);
        vm.expectRevert(refused);
        token.cancelAuthorization(holder, NONCE, signature);

        signature = _permitSignature(key, holder);
        vm.expectRevert(abi.encodeWithSelector(ITestStablecoin.InvalidPermitSignature.selector, holder));
        token.permit(holder, relayer, AMOUNT, block.timestamp, signature);

        assertEq(token.balanceOf(holder), held, "holder balance");
        assertEq(token.balanceOf(payee), 0, "payee balance");
        assertFalse(token.authorizationState(holder, NONCE), "nonce unused");
        assertEq(token.nonces(holder), 0, "permit nonce");
        assertEq(token.allowance(holder, relayer), 0, "allowance");
    }

    /// @dev External wrappers so that `expectRevert` sees the token call and not the prank.
    function transferAs(address from, bytes memory signature) external {
        _transfer(from, signature);
    }

    function receiveAs(address from, bytes memory signature) external {
        _receive(from, signature);
    }

    // ---------------------------------------------------------------------------------------------------
    // An EOA holder that delegates (EIP-7702)
    // ---------------------------------------------------------------------------------------------------

    function test_signers_holderDelegatedToExecutor_everyKeySignatureIsRefused() public {
        _delegate(payer, payerKey, address(executor));
        _assertEverySignatureRefused(payer, payerKey);
    }

    /// @dev A signature made before the delegation is refused after it, too: the check is made when it is used.
    function test_signers_holderSignsThenDelegatesToExecutor_transferIsRefused() public {
        bytes memory signature = _transferSignature(payerKey, payer, NONCE);
        _delegate(payer, payerKey, address(executor));
        vm.expectRevert(abi.encodeWithSelector(IERC3009.InvalidAuthorizationSignature.selector, payer));
        this.transferAs(payer, signature);
        assertEq(token.balanceOf(payer), INITIAL_BALANCE);
    }

    /// @dev Clearing the delegation gives the key its signatures back.
    function test_signers_holderClearsDelegation_keySignatureWorksAgain() public {
        bytes memory signature = _transferSignature(payerKey, payer, NONCE);
        _delegate(payer, payerKey, address(executor));
        _delegate(payer, payerKey, address(0));
        _transfer(payer, signature);
        assertEq(token.balanceOf(payee), AMOUNT);
        assertTrue(token.authorizationState(payer, NONCE));
    }

    /// @dev With a delegate that answers ERC-1271, its answer is the holder's: checking the key again works,
    /// refusing all revokes, approving all lets any bytes authorize (the holder's own code vouching for it).
    function test_signers_holderDelegatedToSwitchable_theDelegatesAnswerCounts() public {
        _delegate(payer, payerKey, address(switchable));
        SwitchableSignerDelegate(payer).set(0, address(0));
        _assertEverySignatureRefused(payer, payerKey);

        SwitchableSignerDelegate(payer).set(2, payer);
        _receive(payer, _receiveSignature(payerKey, payer, NONCE));
        assertEq(token.balanceOf(payee), AMOUNT);

        SwitchableSignerDelegate(payer).set(1, address(0));
        token.permit(payer, relayer, AMOUNT, block.timestamp, hex"00");
        assertEq(token.allowance(payer, relayer), AMOUNT);
    }

    // ---------------------------------------------------------------------------------------------------
    // A contract wallet whose key rotates
    // ---------------------------------------------------------------------------------------------------

    function test_signers_walletRotatesKey_oldKeySignaturesAreRefused() public {
        (address oldSigner, uint256 oldKey) = makeAddrAndKey("wallet key 1");
        (address newSigner, uint256 newKey) = makeAddrAndKey("wallet key 2");
        RotatingKeyWallet wallet = new RotatingKeyWallet(oldSigner);
        vm.prank(owner);
        token.mint(address(wallet), INITIAL_BALANCE);

        bytes memory transferSignature = _transferSignature(oldKey, address(wallet), NONCE);
        wallet.rotate(newSigner);
        _assertEverySignatureRefused(address(wallet), oldKey);
        vm.expectRevert(abi.encodeWithSelector(IERC3009.InvalidAuthorizationSignature.selector, address(wallet)));
        this.transferAs(address(wallet), transferSignature);

        // The new key speaks for the wallet.
        _transfer(address(wallet), _transferSignature(newKey, address(wallet), NONCE));
        assertEq(token.balanceOf(payee), AMOUNT);
        assertEq(token.balanceOf(address(wallet)), INITIAL_BALANCE - AMOUNT);
    }

    /// @dev An authorization executed before the rotation stays executed: its nonce is used for ever.
    function test_signers_walletRotatesAfterUse_nonceStaysUsed() public {
        (address oldSigner, uint256 oldKey) = makeAddrAndKey("wallet key 1");
        (address newSigner, uint256 newKey) = makeAddrAndKey("wallet key 2");
        RotatingKeyWallet wallet = new RotatingKeyWallet(oldSigner);
        vm.prank(owner);
        token.mint(address(wallet), INITIAL_BALANCE);
        _transfer(address(wallet), _transferSignature(oldKey, address(wallet), NONCE));
        wallet.rotate(newSigner);
        assertTrue(token.authorizationState(address(wallet), NONCE));
        bytes memory again = _transferSignature(newKey, address(wallet), NONCE);
        vm.expectRevert(abi.encodeWithSelector(IERC3009.AuthorizationAlreadyUsed.selector, address(wallet), NONCE));
        this.transferAs(address(wallet), again);
        assertEq(token.balanceOf(payee), AMOUNT);
    }
}
