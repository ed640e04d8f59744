// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {PaymentEscrow} from "../../contracts/escrow/PaymentEscrow.sol";
import {IInvoiceRegistry} from "../../contracts/interfaces/IInvoiceRegistry.sol";
import {IPaymentEscrow} from "../../contracts/interfaces/IPaymentEscrow.sol";
import {TestStablecoin} from "../../contracts/tokens/TestStablecoin.sol";
import {PaymentEscrowBase} from "../base/PaymentEscrowBase.sol";
import {MockBlacklistToken} from "../mocks/MockBlacklistToken.sol";

contract CaptureInvoiceTest is PaymentEscrowBase {
    uint256 internal constant INVOICE_AMOUNT = 5e6;
    uint256 internal constant FEE = 5e4;

    IPaymentEscrow.PaymentTerms internal terms;
    bytes32 internal id;

    function setUp() public override {
        super.setUp();
        terms = _termsFor(_invoice(INVOICE_AMOUNT));
        id = _authorize(terms, AMOUNT);
    }

    /// @dev Authorizes `AMOUNT` under the default terms naming `invoice`; returns them.
    function _authorizeFor(IInvoiceRegistry.Invoice memory invoice)
        internal
        returns (IPaymentEscrow.PaymentTerms memory t)
    {
        t = _termsFor(invoice);
        _authorize(t, AMOUNT);
    }

    /// @dev Expects `captureInvoice` to revert with `err` and checks that nothing moved, the payment's state
    /// did not change and the invoice's record did not change.
    function _expectCaptureInvoiceRevert(
        IPaymentEscrow.PaymentTerms memory t,
        IInvoiceRegistry.Invoice memory invoice,
        bytes memory signature,
        uint256 fee,
        address receiver,
        address caller,
        bytes memory err
    ) internal {
        Balances memory before = _balances();
        bytes32 paymentId = _paymentId(t);
        IPaymentEscrow.PaymentState memory state = escrow.paymentState(paymentId);
        bytes32 invoiceId = _invoiceId(invoice);
        IInvoiceRegistry.Record memory record = registry.recordOf(invoiceId);
        vm.expectRevert(err);
        vm.prank(caller);
        escrow.captureInvoice(t, invoice, signature, fee, receiver);
        _assertBalances(before);
        _assertState(paymentId, state.capturable, state.refundable, state.authorizations, state.closed);
        IInvoiceRegistry.Record memory recordAfter = registry.recordOf(invoiceId);
        assertEq(uint8(recordAfter.status), uint8(record.status), "invoice status");
        assertEq(recordAfter.payer, record.payer, "invoice payer");
        assertEq(usdc.allowance(address(escrow), address(registry)), 0);
    }

    // ---------------------------------------------------------------------------------------------------
    // Paying invoices
    // ---------------------------------------------------------------------------------------------------

    function test_captureInvoice_PaysInvoiceThroughRegistry() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice(INVOICE_AMOUNT);
        bytes memory signature = _signInvoice(invoice);
        bytes32 expectedId = _invoiceId(invoice);

        vm.expectEmit(address(registry));
        emit IInvoiceRegistry.InvoicePaid(
            expectedId, payer, payee, address(usdc), INVOICE_AMOUNT, IInvoiceRegistry.Path.Escrow, address(escrow)
        );
        vm.expectEmit(address(escrow));
        emit IPaymentEscrow.PaymentCaptured(id, INVOICE_AMOUNT + FEE, FEE, feeReceiver, expectedId);
        vm.prank(operator);
        bytes32 invoiceId = escrow.captureInvoice(terms, invoice, signature, FEE, feeReceiver);

        assertEq(invoiceId, expectedId);
        assertEq(usdc.balanceOf(payee), INVOICE_AMOUNT);
        assertEq(usdc.balanceOf(feeReceiver), FEE);
        assertEq(usdc.balanceOf(address(escrow)), AMOUNT - INVOICE_AMOUNT - FEE);
        assertEq(usdc.balanceOf(address(registry)), 0);
        assertEq(usdc.balanceOf(payer), INITIAL_BALANCE - AMOUNT);
        assertEq(usdc.allowance(address(escrow), address(registry)), 0);
        _assertState(id, AMOUNT - INVOICE_AMOUNT - FEE, INVOICE_AMOUNT + FEE, 1, false);

        IInvoiceRegistry.Record memory record = registry.recordOf(invoiceId);
        assertEq(uint8(record.status), uint8(IInvoiceRegistry.Status.Paid));
        assertEq(uint8(record.path), uint8(IInvoiceRegistry.Path.Escrow));
        assertEq(record.payer, payer);
        assertEq(record.paidAt, block.timestamp);
        assertTrue(registry.isPaid(invoiceId));
    }

    function test_captureInvoice_WithoutFee() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice(AMOUNT);
        bytes memory signature = _signInvoice(invoice);
        IPaymentEscrow.PaymentTerms memory t = _authorizeFor(invoice);
        bytes32 paymentId = _paymentId(t);

        vm.expectEmit(address(escrow));
        emit IPaymentEscrow.PaymentCaptured(paymentId, AMOUNT, 0, address(0), _invoiceId(invoice));
        vm.prank(operator);
        escrow.captureInvoice(t, invoice, signature, 0, address(0));

        assertEq(usdc.balanceOf(payee), AMOUNT);
        assertEq(usdc.balanceOf(address(escrow)), AMOUNT);
        _assertState(paymentId, 0, AMOUNT, 1, false);
    }

    function test_captureInvoice_WithFixedFeeReceiver() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice(INVOICE_AMOUNT);
        IPaymentEscrow.PaymentTerms memory fixedTerms = _termsWithFeeReceiver();
        fixedTerms.invoiceId = _invoiceId(invoice);
        bytes32 fixedId = _authorize(fixedTerms, AMOUNT);
        bytes memory signature = _signInvoice(invoice);

        vm.prank(operator);
        escrow.captureInvoice(fixedTerms, invoice, signature, FEE, feeReceiver);

        assertEq(usdc.balanceOf(payee), INVOICE_AMOUNT);
        assertEq(usdc.balanceOf(feeReceiver), FEE);
        _assertState(fixedId, AMOUNT - INVOICE_AMOUNT - FEE, INVOICE_AMOUNT + FEE, 1, false);
    }

    function test_captureInvoice_FeeOnTopAtExactBound() public {
        // The fee bound applies to the whole capture (invoice + fee): 50_505 * 10_000 <= 5_050_505 * 100.
        IInvoiceRegistry.Invoice memory invoice = _invoice(INVOICE_AMOUNT);
        bytes memory signature = _signInvoice(invoice);
        vm.prank(operator);
        escrow.captureInvoice(terms, invoice, signature, 50_505, feeReceiver);
        assertEq(usdc.balanceOf(payee), INVOICE_AMOUNT);
        assertEq(usdc.balanceOf(feeReceiver), 50_505);
    }

    function test_captureInvoice_ThenCaptureAndVoidTheRest() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice(INVOICE_AMOUNT);
        bytes memory signature = _signInvoice(invoice);

        vm.startPrank(operator);
        bytes32 invoiceId = escrow.captureInvoice(terms, invoice, signature, FEE, feeReceiver);
        escrow.capture(terms, 1e6, 0, address(0));
        escrow.void(terms);
        vm.stopPrank();

        assertTrue(registry.isPaid(invoiceId));
        assertEq(usdc.balanceOf(payee), INVOICE_AMOUNT + 1e6);
        assertEq(usdc.balanceOf(feeReceiver), FEE);
        assertEq(usdc.balanceOf(payer), INITIAL_BALANCE - INVOICE_AMOUNT - FEE - 1e6);
        assertEq(usdc.balanceOf(address(escrow)), 0);
        _assertState(id, 0, INVOICE_AMOUNT + FEE + 1e6, 1, true);
    }

    // ---------------------------------------------------------------------------------------------------
    // Reverts in the escrow
    // ---------------------------------------------------------------------------------------------------

    /// @dev L-3: the operator spends the payer's escrow on an invoice the payer never agreed to (same payee,
    /// same token); before the terms named their invoice this paid it and recorded the payer as its payer.
    function test_captureInvoice_RevertWhen_InvoiceNotInTerms() public {
        IInvoiceRegistry.Invoice memory other = _invoice(INVOICE_AMOUNT);
        other.salt = keccak256("an invoice the payer never agreed to");
        bytes memory signature = _signInvoice(other);
        _expectCaptureInvoiceRevert(
            terms,
            other,
            signature,
            0,
            address(0),
            operator,
            abi.encodeWithSelector(IPaymentEscrow.InvoiceNotInTerms.selector, _invoiceId(other), terms.invoiceId)
        );
        assertFalse(registry.isPaid(_invoiceId(other)));
        assertEq(registry.recordOf(_invoiceId(other)).payer, address(0), "payer not recorded");
    }

    function test_captureInvoice_RevertWhen_SecondInvoiceOnTheSameTerms() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice(INVOICE_AMOUNT);
        vm.prank(operator);
        escrow.captureInvoice(terms, invoice, _signInvoice(invoice), 0, address(0));

        IInvoiceRegistry.Invoice memory second = _invoice(1e6);
        second.salt = keccak256("invoice-2");
        _expectCaptureInvoiceRevert(
            terms,
            second,
            _signInvoice(second),
            0,
            address(0),
            operator,
            abi.encodeWithSelector(IPaymentEscrow.InvoiceNotInTerms.selector, _invoiceId(second), terms.invoiceId)
        );
    }

    function test_captureInvoice_RevertWhen_TermsNameNoInvoice() public {
        IPaymentEscrow.PaymentTerms memory plain = _terms();
        _authorize(plain, AMOUNT);
        IInvoiceRegistry.Invoice memory invoice = _invoice(INVOICE_AMOUNT);
        _expectCaptureInvoiceRevert(
            plain,
            invoice,
            _signInvoice(invoice),
            0,
            address(0),
            operator,
            abi.encodeWithSelector(IPaymentEscrow.NoInvoiceInTerms.selector)
        );
        // The same funds still capture plainly.
        _capture(plain, AMOUNT, 0, address(0));
        assertEq(usdc.balanceOf(payee), AMOUNT);
    }

    function test_captureInvoice_RevertWhen_NoRegistry() public {
        PaymentEscrow bare = new PaymentEscrow(IInvoiceRegistry(address(0)));
        vm.startPrank(payer);
        assertTrue(usdc.approve(address(bare), AMOUNT));
        bare.authorize(terms, AMOUNT, IPaymentEscrow.Method.Allowance, "");
        vm.stopPrank();
        IInvoiceRegistry.Invoice memory invoice = _invoice(INVOICE_AMOUNT);
        bytes memory signature = _signInvoice(invoice);

        vm.expectRevert(abi.encodeWithSelector(IPaymentEscrow.NoRegistry.selector));
        vm.prank(operator);
        bare.captureInvoice(terms, invoice, signature, 0, address(0));

        assertEq(usdc.balanceOf(address(bare)), AMOUNT);
        assertEq(usdc.balanceOf(payee), 0);
        // Plain captures still work without a registry.
        vm.prank(operator);
        bare.capture(terms, AMOUNT, 0, address(0));
        assertEq(usdc.balanceOf(payee), AMOUNT);
    }

    function test_captureInvoice_RevertWhen_CallerIsNotOperator() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice(INVOICE_AMOUNT);
        bytes memory signature = _signInvoice(invoice);
        address[3] memory callers = [payer, payee, stranger];
        for (uint256 i; i < callers.length; ++i) {
            _expectCaptureInvoiceRevert(
                terms,
                invoice,
                signature,
                0,
                address(0),
                callers[i],
                abi.encodeWithSelector(IPaymentEscrow.Unauthorized.selector, callers[i])
            );
        }
    }

    function test_captureInvoice_RevertWhen_InvoicePayeeDiffers() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice(INVOICE_AMOUNT);
        invoice.payee = operator;
        bytes memory signature = _signInvoice(invoice);
        _expectCaptureInvoiceRevert(
            _authorizeFor(invoice),
            invoice,
            signature,
            0,
            address(0),
            operator,
            abi.encodeWithSelector(IPaymentEscrow.InvoiceMismatch.selector, _invoiceId(invoice))
        );
    }

    function test_captureInvoice_RevertWhen_InvoiceTokenDiffers() public {
        TestStablecoin otherToken = new TestStablecoin(TOKEN_NAME, TOKEN_SYMBOL, TOKEN_VERSION, owner);
        IInvoiceRegistry.Invoice memory invoice = _invoice(INVOICE_AMOUNT);
        invoice.token = address(otherToken);
        bytes memory signature = _signInvoice(invoice);
        _expectCaptureInvoiceRevert(
            _authorizeFor(invoice),
            invoice,
            signature,
            0,
            address(0),
            operator,
            abi.encodeWithSelector(IPaymentEscrow.InvoiceMismatch.selector, _invoiceId(invoice))
        );
    }

    function test_captureInvoice_RevertWhen_AtAuthorizationExpiry() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice(INVOICE_AMOUNT);
        bytes memory signature = _signInvoice(invoice);
        vm.warp(AUTHORIZATION_EXPIRY);
        _expectCaptureInvoiceRevert(
            terms,
            invoice,
            signature,
            0,
            address(0),
            operator,
            abi.encodeWithSelector(
                IPaymentEscrow.AuthorizationExpired.selector, AUTHORIZATION_EXPIRY, AUTHORIZATION_EXPIRY
            )
        );
    }

    function test_captureInvoice_RevertWhen_FeeAboveMaxFeeBps() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice(INVOICE_AMOUNT);
        bytes memory signature = _signInvoice(invoice);
        _expectCaptureInvoiceRevert(
            terms,
            invoice,
            signature,
            50_506,
            feeReceiver,
            operator,
            abi.encodeWithSelector(IPaymentEscrow.FeeTooHigh.selector, 50_506, INVOICE_AMOUNT + 50_506, MAX_FEE_BPS)
        );
    }

    function test_captureInvoice_RevertWhen_FeeWithZeroReceiver() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice(INVOICE_AMOUNT);
        bytes memory signature = _signInvoice(invoice);
        _expectCaptureInvoiceRevert(
            terms,
            invoice,
            signature,
            FEE,
            address(0),
            operator,
            abi.encodeWithSelector(IPaymentEscrow.InvalidFeeReceiver.selector, address(0))
        );
    }

    function test_captureInvoice_RevertWhen_FeeReceiverDiffersFromTerms() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice(INVOICE_AMOUNT);
        IPaymentEscrow.PaymentTerms memory fixedTerms = _termsWithFeeReceiver();
        fixedTerms.invoiceId = _invoiceId(invoice);
        _authorize(fixedTerms, AMOUNT);
        bytes memory signature = _signInvoice(invoice);
        _expectCaptureInvoiceRevert(
            fixedTerms,
            invoice,
            signature,
            FEE,
            operator,
            operator,
            abi.encodeWithSelector(IPaymentEscrow.InvalidFeeReceiver.selector, operator)
        );
    }

    function test_captureInvoice_RevertWhen_InvoiceAboveCapturable() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice(AMOUNT);
        bytes memory signature = _signInvoice(invoice);
        // The fee comes on top of the invoice, so together they exceed what is held.
        _expectCaptureInvoiceRevert(
            _authorizeFor(invoice),
            invoice,
            signature,
            1,
            feeReceiver,
            operator,
            abi.encodeWithSelector(IPaymentEscrow.InsufficientCapturable.selector, AMOUNT + 1, AMOUNT)
        );
    }

    function test_captureInvoice_RevertWhen_InvoiceAmountAndFeeAreZero() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice(0);
        bytes memory signature = _signInvoice(invoice);
        _expectCaptureInvoiceRevert(
            _authorizeFor(invoice),
            invoice,
            signature,
            0,
            address(0),
            operator,
            abi.encodeWithSelector(IPaymentEscrow.ZeroAmount.selector)
        );
    }

    // ---------------------------------------------------------------------------------------------------
    // Reverts in the registry
    // ---------------------------------------------------------------------------------------------------

    function test_captureInvoice_RevertWhen_InvoiceAlreadyPaid() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice(2e6);
        bytes memory signature = _signInvoice(invoice);
        IPaymentEscrow.PaymentTerms memory t = _authorizeFor(invoice);
        vm.prank(operator);
        escrow.captureInvoice(t, invoice, signature, 0, address(0));

        _expectCaptureInvoiceRevert(
            t,
            invoice,
            signature,
            0,
            address(0),
            operator,
            abi.encodeWithSelector(IInvoiceRegistry.InvoiceAlreadyPaid.selector, _invoiceId(invoice))
        );
        assertEq(usdc.balanceOf(payee), 2e6);
    }

    function test_captureInvoice_RevertWhen_IssuerSignatureInvalid() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice(INVOICE_AMOUNT);
        (, uint256 otherKey) = makeAddrAndKey("not the issuer");
        bytes memory signature = _signPacked(otherKey, _invoiceId(invoice));
        _expectCaptureInvoiceRevert(
            terms,
            invoice,
            signature,
            0,
            address(0),
            operator,
            abi.encodeWithSelector(IInvoiceRegistry.InvalidIssuerSignature.selector, issuer)
        );
    }

    function test_captureInvoice_RevertWhen_InvoiceExpired() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice(INVOICE_AMOUNT);
        invoice.deadline = block.timestamp + 10 minutes;
        bytes memory signature = _signInvoice(invoice);
        IPaymentEscrow.PaymentTerms memory t = _authorizeFor(invoice);
        vm.warp(invoice.deadline + 1);
        _expectCaptureInvoiceRevert(
            t,
            invoice,
            signature,
            0,
            address(0),
            operator,
            abi.encodeWithSelector(IInvoiceRegistry.InvoiceExpired.selector, invoice.deadline, invoice.deadline + 1)
        );
    }

    function test_captureInvoice_RevertWhen_InvoiceCancelled() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice(INVOICE_AMOUNT);
        bytes memory signature = _signInvoice(invoice);
        vm.prank(issuer);
        bytes32 invoiceId = registry.cancel(invoice);
        _expectCaptureInvoiceRevert(
            terms,
            invoice,
            signature,
            0,
            address(0),
            operator,
            abi.encodeWithSelector(IInvoiceRegistry.InvoiceIsCancelled.selector, invoiceId)
        );
    }

    function test_captureInvoice_RevertWhen_WrongNetwork() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice(INVOICE_AMOUNT);
        invoice.network = "eip155:1";
        bytes memory signature = _signInvoice(invoice);
        _expectCaptureInvoiceRevert(
            _authorizeFor(invoice),
            invoice,
            signature,
            0,
            address(0),
            operator,
            abi.encodeWithSelector(IInvoiceRegistry.WrongNetwork.selector, "eip155:1")
        );
    }

    function test_captureInvoice_RevertWhen_EscrowIsNotASettler() public {
        vm.prank(owner);
        registry.setSettler(address(escrow), IInvoiceRegistry.Path.None);
        IInvoiceRegistry.Invoice memory invoice = _invoice(INVOICE_AMOUNT);
        bytes memory signature = _signInvoice(invoice);
        _expectCaptureInvoiceRevert(
            terms,
            invoice,
            signature,
            0,
            address(0),
            operator,
            abi.encodeWithSelector(IInvoiceRegistry.Unauthorized.selector, address(escrow))
        );
    }

    function test_captureInvoice_RevertWhen_PayeeBlacklisted() public {
        // Unlike capture, an invoice capture is not deferred: the registry must pay the payee to record the
        // invoice, so it reverts as a whole and the funds stay capturable (and reclaimable).
        MockBlacklistToken token = new MockBlacklistToken(owner);
        token.mint(payer, AMOUNT);
        IInvoiceRegistry.Invoice memory invoice = _invoice(INVOICE_AMOUNT);
        invoice.token = address(token);
        IPaymentEscrow.PaymentTerms memory t = _terms();
        t.token = address(token);
        t.invoiceId = _invoiceId(invoice);
        vm.startPrank(payer);
        assertTrue(token.approve(address(escrow), AMOUNT));
        bytes32 tokenPaymentId = escrow.authorize(t, AMOUNT, IPaymentEscrow.Method.Allowance, "");
        vm.stopPrank();
        vm.prank(owner);
        token.setBlacklisted(payee, true);
        bytes memory signature = _signInvoice(invoice);

        vm.expectRevert(abi.encodeWithSelector(MockBlacklistToken.Blacklisted.selector, payee));
        vm.prank(operator);
        escrow.captureInvoice(t, invoice, signature, 0, address(0));

        assertEq(token.balanceOf(address(escrow)), AMOUNT);
        assertEq(token.allowance(address(escrow), address(registry)), 0);
        assertFalse(registry.isPaid(_invoiceId(invoice)));
        _assertState(tokenPaymentId, AMOUNT, 0, 1, false);
    }
}
