// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IInvoiceRegistry} from "../../contracts/interfaces/IInvoiceRegistry.sol";
import {InvoiceRegistryBase} from "../base/InvoiceRegistryBase.sol";
import {MockERC1271Wallet} from "../mocks/MockERC1271Wallet.sol";

contract CancelTest is InvoiceRegistryBase {
    function _cancel(IInvoiceRegistry.Invoice memory invoice) internal returns (bytes32) {
        vm.prank(invoice.issuer);
        return registry.cancel(invoice);
    }

    function test_cancel_RecordsCancellation() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes32 expectedId = _invoiceId(invoice);

        vm.expectEmit(address(registry));
        emit IInvoiceRegistry.InvoiceCancelled(expectedId, issuer);
        bytes32 id = _cancel(invoice);

        assertEq(id, expectedId, "returned id");
        IInvoiceRegistry.Record memory record = registry.recordOf(id);
        assertEq(uint8(record.status), uint8(IInvoiceRegistry.Status.Cancelled));
        assertEq(uint8(record.path), uint8(IInvoiceRegistry.Path.None));
        assertEq(uint256(record.paidAt), block.timestamp, "cancellation time");
        assertEq(record.payer, address(0));
        assertFalse(registry.isPaid(id));
        assertEq(token.balanceOf(payer), INITIAL_BALANCE);
    }

    function test_cancel_NeedsNoSignatureNorValidTerms() public {
        // Only the caller matters: an issuer may cancel an expired invoice, or one for another network.
        IInvoiceRegistry.Invoice memory expired = _invoice();
        expired.deadline = block.timestamp - 1;
        IInvoiceRegistry.Invoice memory elsewhere = _invoice();
        elsewhere.network = "eip155:1";

        _assertCancelled(_cancel(expired));
        _assertCancelled(_cancel(elsewhere));
    }

    function test_cancel_DoesNotAffectOtherInvoices() public {
        IInvoiceRegistry.Invoice memory cancelled = _invoice();
        IInvoiceRegistry.Invoice memory other = _invoice();
        other.salt = keccak256("other");
        _cancel(cancelled);
        vm.prank(payer);
        token.approve(address(registry), AMOUNT);

        vm.prank(payer);
        bytes32 id = registry.pay(other, _signInvoice(other));

        _assertPaid(id, payer, IInvoiceRegistry.Path.Allowance);
        _assertCancelled(_invoiceId(cancelled));
    }

    function test_cancel_ByContractWalletIssuer() public {
        MockERC1271Wallet wallet = new MockERC1271Wallet(issuer);
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.issuer = address(wallet);
        bytes memory issuerSignature = _signInvoice(invoice);

        vm.expectEmit(address(registry));
        emit IInvoiceRegistry.InvoiceCancelled(_invoiceId(invoice), address(wallet));
        vm.prank(address(wallet));
        bytes32 id = registry.cancel(invoice);
        _assertCancelled(id);

        // and it can no longer be paid, though the wallet's signature is valid
        vm.prank(payer);
        token.approve(address(registry), AMOUNT);
        vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.InvoiceIsCancelled.selector, id));
        vm.prank(payer);
        registry.pay(invoice, issuerSignature);
    }

    function test_cancel_RevertWhen_ContractWalletSignerCallsDirectly() public {
        // The wallet is the issuer, not its signing key.
        MockERC1271Wallet wallet = new MockERC1271Wallet(issuer);
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.issuer = address(wallet);

        vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.Unauthorized.selector, issuer));
        vm.prank(issuer);
        registry.cancel(invoice);
        _assertUnpaid(_invoiceId(invoice));
    }

    function test_cancel_RevertWhen_CallerIsNotIssuer() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        address[5] memory callers = [payer, payee, owner, relayer, address(settler)];
        for (uint256 i; i < callers.length; ++i) {
            vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.Unauthorized.selector, callers[i]));
            vm.prank(callers[i]);
            registry.cancel(invoice);
        }
        _assertUnpaid(_invoiceId(invoice));
    }

    function test_cancel_RevertWhen_AlreadyCancelled() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes32 id = _cancel(invoice);
        vm.warp(START + 1 hours);

        vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.InvoiceIsCancelled.selector, id));
        _cancel(invoice);

        assertEq(uint256(registry.recordOf(id).paidAt), START, "first cancellation time kept");
    }

    function test_cancel_RevertWhen_AlreadyPaid() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        vm.startPrank(payer);
        token.approve(address(registry), AMOUNT);
        bytes32 id = registry.pay(invoice, _signInvoice(invoice));
        vm.stopPrank();

        vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.InvoiceAlreadyPaid.selector, id));
        _cancel(invoice);

        _assertPaid(id, payer, IInvoiceRegistry.Path.Allowance);
        assertEq(token.balanceOf(payee), AMOUNT, "payment stays with the payee");
    }

    function test_cancel_RevertWhen_AlreadyPaidWithAuthorization() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes32 id = _invoiceId(invoice);
        (uint256 validAfter, uint256 validBefore) = _window();
        bytes memory authorization =
            _signReceiveAuthorization(payerKey, payer, address(registry), AMOUNT, validAfter, validBefore, id);
        registry.payWithAuthorization(invoice, _signInvoice(invoice), payer, validAfter, validBefore, authorization);

        vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.InvoiceAlreadyPaid.selector, id));
        _cancel(invoice);
        _assertPaid(id, payer, IInvoiceRegistry.Path.Authorization);
    }

    function test_cancel_BlocksEveryPaymentPath() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes32 id = _invoiceId(invoice);
        bytes memory issuerSignature = _signInvoice(invoice);
        (uint256 validAfter, uint256 validBefore) = _window();
        bytes memory authorization =
            _signReceiveAuthorization(payerKey, payer, address(registry), AMOUNT, validAfter, validBefore, id);
        bytes memory permit = _signPermit(payerKey, payer, AMOUNT, block.timestamp + 1 hours);
        _fundSettler(IInvoiceRegistry.Path.Escrow, AMOUNT);
        vm.prank(payer);
        token.approve(address(registry), AMOUNT);
        _cancel(invoice);
        bytes memory cancelled = abi.encodeWithSelector(IInvoiceRegistry.InvoiceIsCancelled.selector, id);

        vm.expectRevert(cancelled);
        registry.payWithAuthorization(invoice, issuerSignature, payer, validAfter, validBefore, authorization);
        vm.expectRevert(cancelled);
        vm.prank(payer);
        registry.payWithPermit(invoice, issuerSignature, block.timestamp + 1 hours, permit);
        vm.expectRevert(cancelled);
        vm.prank(payer);
        registry.pay(invoice, issuerSignature);
        vm.expectRevert(cancelled);
        settler.settle(invoice, issuerSignature, payer);

        assertEq(token.balanceOf(payer), INITIAL_BALANCE);
        assertEq(token.balanceOf(address(settler)), AMOUNT);
        assertEq(token.balanceOf(payee), 0);
        _assertCancelled(id);
    }

    function testFuzz_cancel_RevertWhen_CallerIsNotIssuer(address caller) public {
        vm.assume(caller != issuer);
        assumeNotForgeAddress(caller);
        IInvoiceRegistry.Invoice memory invoice = _invoice();

        vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.Unauthorized.selector, caller));
        vm.prank(caller);
        registry.cancel(invoice);
    }

    function testFuzz_cancel_AnyIssuerAndTerms(address anyIssuer, uint256 amount, uint256 deadline, bytes32 salt)
        public
    {
        assumeNotForgeAddress(anyIssuer);
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.issuer = anyIssuer;
        invoice.amount = amount;
        invoice.deadline = deadline;
        invoice.salt = salt;

        vm.prank(anyIssuer);
        bytes32 id = registry.cancel(invoice);

        assertEq(id, _invoiceId(invoice));
        _assertCancelled(id);
        assertEq(uint256(registry.recordOf(id).paidAt), block.timestamp);
    }
}
