// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IERC3009} from "../../contracts/interfaces/IERC3009.sol";
import {IInvoiceRegistry} from "../../contracts/interfaces/IInvoiceRegistry.sol";
import {InvoiceRegistryBase} from "../base/InvoiceRegistryBase.sol";
import {ExecutorDelegate, RotatingKeyWallet, SwitchableSignerDelegate} from "../mocks/MockDelegates.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";

/// @notice Signer changes against the registry's two kinds of signature: the issuer's over an invoice (checked by
/// the registry, ECDSA first, then ERC-1271 when the issuer has code) and the payer's over a token transfer
/// (checked by the token, see TestStablecoin.signers.t.sol).
contract InvoiceRegistrySignersTest is InvoiceRegistryBase {
    ExecutorDelegate internal executor;
    SwitchableSignerDelegate internal switchable;

    function setUp() public override {
        super.setUp();
        executor = new ExecutorDelegate();
        switchable = new SwitchableSignerDelegate();
    }

    /// @dev `account` (whose key is `key`) delegates to `target` by a real EIP-7702 authorization.
    function _delegate(address account, uint256 key, address target) internal {
        vm.signAndAttachDelegation(target, key);
        // The authorization takes effect with the next call; any call will do.
        (bool ok,) = account.call("");
        ok;
        assertEq(account.code, abi.encodePacked(hex"ef0100", target), "delegated");
    }

    /// @dev The payer pays `invoice` from its allowance.
    function _pay(IInvoiceRegistry.Invoice memory invoice, bytes memory signature) internal returns (bytes32 id) {
        vm.startPrank(payer);
        assertTrue(token.approve(address(registry), invoice.amount));
        id = registry.pay(invoice, signature);
        vm.stopPrank();
    }

    function _expectRefused(IInvoiceRegistry.Invoice memory invoice, bytes memory signature) internal {
        vm.startPrank(payer);
        assertTrue(token.approve(address(registry), invoice.amount));
        vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.InvalidIssuerSignature.selector, invoice.issuer));
        registry.pay(invoice, signature);
        vm.stopPrank();
        _assertNothingMoved(_invoiceId(invoice));
    }

    function _assertPaidInFull(bytes32 id) internal view {
        _assertPaid(id, payer, IInvoiceRegistry.Path.Allowance);
        assertEq(token.balanceOf(payee), AMOUNT, "payee balance");
        assertEq(token.balanceOf(payer), INITIAL_BALANCE - AMOUNT, "payer balance");
    }

    // ---------------------------------------------------------------------------------------------------
    // Issuer: an EOA that delegates (EIP-7702) keeps its key
    // ---------------------------------------------------------------------------------------------------

    /// @dev Fails on a check that skips ECDSA for any signer with code (OpenZeppelin's SignatureChecker): the
    /// delegate has no `isValidSignature`, so every invoice its EOA ever signed became unpayable.
    function test_signers_issuerDelegatedToExecutor_invoiceSignedByItsKeyIsPaid() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory signature = _signInvoice(invoice);
        _delegate(issuer, issuerKey, address(executor));
        _assertPaidInFull(_pay(invoice, signature));
    }

    function test_signers_issuerDelegatedToExecutor_otherKeyIsRefused() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        _delegate(issuer, issuerKey, address(executor));
        _expectRefused(invoice, _signInvoiceWith(uint256(keccak256("another key")), invoice));
    }

    /// @dev A delegate that refuses every ERC-1271 signature does not revoke what the key signed: the key is
    /// still the account's, and ECDSA is checked first. An EOA issuer revokes an invoice with `cancel`.
    function test_signers_issuerDelegatedToRefusingDelegate_keySignatureStillPays() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory signature = _signInvoice(invoice);
        _delegate(issuer, issuerKey, address(switchable));
        SwitchableSignerDelegate(issuer).set(0, address(0));
        _expectRefusedThenPaidByKey(invoice, signature);
    }

    function _expectRefusedThenPaidByKey(IInvoiceRegistry.Invoice memory invoice, bytes memory signature) internal {
        _expectRefused(invoice, _signInvoiceWith(uint256(keccak256("another key")), invoice));
        _assertPaidInFull(_pay(invoice, signature));
    }

    /// @dev A delegate that approves every digest makes any bytes a valid issuer signature for that issuer: the
    /// issuer's own code vouches for it, which is the issuer's right (the invoice still pays its own payee the
    /// amount the payer agreed to; nothing is taken from anyone but the payer who chose to pay it).
    function test_signers_issuerDelegatedToApprovingDelegate_anySignatureIsTheIssuers() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        _delegate(issuer, issuerKey, address(switchable));
        SwitchableSignerDelegate(issuer).set(1, address(0));
        _assertPaidInFull(_pay(invoice, hex"00"));
    }

    /// @dev A cancelled invoice stays cancelled whatever the issuer's code says afterwards.
    function test_signers_issuerCancelsThenDelegatesToApprovingDelegate_invoiceStaysCancelled() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory signature = _signInvoice(invoice);
        vm.prank(issuer);
        bytes32 id = registry.cancel(invoice);
        _delegate(issuer, issuerKey, address(switchable));
        SwitchableSignerDelegate(issuer).set(1, address(0));
        vm.startPrank(payer);
        assertTrue(token.approve(address(registry), AMOUNT));
        vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.InvoiceIsCancelled.selector, id));
        registry.pay(invoice, signature);
        vm.stopPrank();
        _assertCancelled(id);
    }

    // ---------------------------------------------------------------------------------------------------
    // Issuer: an ERC-1271 wallet whose key rotates
    // ---------------------------------------------------------------------------------------------------

    /// @dev Rotating before payment revokes the unpaid invoice: the same as cancelling it, and no funds move.
    function test_signers_walletIssuerRotatesBeforePayment_invoiceIsRefused() public {
        (, uint256 oldKey) = makeAddrAndKey("wallet key 1");
        (address newSigner, uint256 newKey) = makeAddrAndKey("wallet key 2");
        RotatingKeyWallet wallet = new RotatingKeyWallet(vm.addr(oldKey));
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.issuer = address(wallet);
        bytes memory oldSignature = _signInvoiceWith(oldKey, invoice);
        wallet.rotate(newSigner);
        _expectRefused(invoice, oldSignature);
        // The new key's signature of the same invoice is the wallet's now.
        _assertPaidInFull(_pay(invoice, _signInvoiceWith(newKey, invoice)));
    }

    /// @dev Rotating after payment changes nothing: the record stands and the invoice cannot be paid again.
    function test_signers_walletIssuerRotatesAfterPayment_recordStands() public {
        (, uint256 oldKey) = makeAddrAndKey("wallet key 1");
        RotatingKeyWallet wallet = new RotatingKeyWallet(vm.addr(oldKey));
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.issuer = address(wallet);
        bytes memory signature = _signInvoiceWith(oldKey, invoice);
        bytes32 id = _pay(invoice, signature);
        IInvoiceRegistry.Record memory paid = registry.recordOf(id);
        wallet.rotate(makeAddr("wallet key 2"));
        vm.warp(block.timestamp + 1);
        IInvoiceRegistry.Record memory later = registry.recordOf(id);
        assertEq(abi.encode(later), abi.encode(paid), "record unchanged");
        assertTrue(registry.isPaid(id));
        assertEq(token.balanceOf(payee), AMOUNT);
        vm.startPrank(payer);
        assertTrue(token.approve(address(registry), AMOUNT));
        vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.InvoiceAlreadyPaid.selector, id));
        registry.pay(invoice, signature);
        vm.stopPrank();
    }

    /// @dev A wallet's signer key signing for itself is not the wallet: ECDSA recovers the key, not the
    /// wallet, so only the wallet's ERC-1271 answer counts.
    function test_signers_walletIssuer_keySignatureIsCheckedByTheWallet() public {
        (address signer, uint256 key) = makeAddrAndKey("wallet key 1");
        RotatingKeyWallet wallet = new RotatingKeyWallet(signer);
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.issuer = address(wallet);
        bytes memory signature = _signInvoiceWith(key, invoice);
        wallet.rotate(address(0));
        _expectRefused(invoice, signature);
    }

    // ---------------------------------------------------------------------------------------------------
    // Payer: an EOA that delegates (EIP-7702) to a contract without ERC-1271
    // ---------------------------------------------------------------------------------------------------

    /// @dev The token checks a signer with code by ERC-1271 only (as USDC FiatToken v2.2 does): the payer's
    /// EIP-3009 authorization no longer verifies; the registry stops there and nothing moves.
    function test_signers_payerDelegatedToExecutor_payWithAuthorizationIsRefused() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes32 id = _invoiceId(invoice);
        (uint256 validAfter, uint256 validBefore) = _window();
        bytes memory authorization =
            _signReceiveAuthorization(payerKey, payer, address(registry), AMOUNT, validAfter, validBefore, id);
        bytes memory issuerSignature = _signInvoice(invoice);
        _delegate(payer, payerKey, address(executor));
        vm.prank(relayer);
        vm.expectRevert(abi.encodeWithSelector(IERC3009.InvalidAuthorizationSignature.selector, payer));
        registry.payWithAuthorization(invoice, issuerSignature, payer, validAfter, validBefore, authorization);
        _assertNothingMoved(id);
        assertFalse(token.authorizationState(payer, id), "authorization unused");
    }

    /// @dev The permit fails inside the token and the registry then finds no allowance: nothing moves.
    function test_signers_payerDelegatedToExecutor_payWithPermitIsRefused() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory permit = _signPermit(payerKey, payer, AMOUNT, deadline);
        bytes memory issuerSignature = _signInvoice(invoice);
        _delegate(payer, payerKey, address(executor));
        vm.prank(payer);
        vm.expectRevert(
            abi.encodeWithSelector(
                IERC20Errors.ERC20InsufficientAllowance.selector, address(registry), uint256(0), AMOUNT
            )
        );
        registry.payWithPermit(invoice, issuerSignature, deadline, permit);
        _assertNothingMoved(_invoiceId(invoice));
        assertEq(token.nonces(payer), 0, "permit unused");
    }
}
