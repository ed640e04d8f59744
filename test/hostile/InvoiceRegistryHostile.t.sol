// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {PaymentEscrow} from "../../contracts/escrow/PaymentEscrow.sol";
import {IInvoiceRegistry} from "../../contracts/interfaces/IInvoiceRegistry.sol";
import {IPaymentEscrow} from "../../contracts/interfaces/IPaymentEscrow.sol";
import {InvoiceRegistry} from "../../contracts/registry/InvoiceRegistry.sol";
import {MockBlacklistToken} from "../mocks/MockBlacklistToken.sol";
import {MockFalseReturnToken} from "../mocks/MockFalseReturnToken.sol";
import {MockFeeOnTransferToken} from "../mocks/MockFeeOnTransferToken.sol";
import {MockReentrantToken} from "../mocks/MockReentrantToken.sol";
import {MockRevertingToken} from "../mocks/MockRevertingToken.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {Test} from "forge-std/Test.sol";

interface IMintable {
    function mint(address to, uint256 amount) external;
}

/// @notice The registry against tokens that misbehave: an invoice is recorded as paid only when the payee got
/// exactly its amount, a failed payment leaves the invoice payable and the payer's funds where they were, and
/// a token that calls back cannot pay an invoice twice. Tokens without EIP-3009 are paid with `pay` (the payer
/// approves the registry).
contract InvoiceRegistryHostileTest is Test {
    InvoiceRegistry internal registry;
    PaymentEscrow internal escrow;

    address internal owner = makeAddr("owner");
    address internal issuer;
    uint256 internal issuerKey;
    address internal payer = makeAddr("payer");
    address internal payee = makeAddr("payee");
    address internal operator = makeAddr("operator");

    uint256 internal constant AMOUNT = 25e6;

    function setUp() public {
        vm.warp(1_750_000_000);
        (issuer, issuerKey) = makeAddrAndKey("issuer");
        registry = new InvoiceRegistry(owner);
        escrow = new PaymentEscrow(registry);
        vm.prank(owner);
        registry.setSettler(address(escrow), IInvoiceRegistry.Path.Escrow);
    }

    // ---------------------------------------------------------------------------------------------------
    // Helpers: invoices signed from the EIP-712 text
    // ---------------------------------------------------------------------------------------------------

    function _invoice(address token, bytes32 salt) internal view returns (IInvoiceRegistry.Invoice memory) {
        return IInvoiceRegistry.Invoice({
            issuer: issuer,
            payee: payee,
            token: token,
            amount: AMOUNT,
            deadline: block.timestamp + 1 days,
            resource: keccak256("https://example.com/resource"),
            network: string.concat("eip155:", vm.toString(block.chainid)),
            salt: salt
        });
    }

    function _invoiceId(IInvoiceRegistry.Invoice memory invoice) internal view returns (bytes32) {
        bytes32 domainSeparator = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("Quittance Invoice Registry"),
                keccak256("1"),
                block.chainid,
                address(registry)
            )
        );
        bytes32 typeHash = keccak256(
            "Invoice(address issuer,address payee,address token,uint256 amount,uint256 deadline,bytes32 resource,string network,bytes32 salt)"
        );
        bytes32 structHash = keccak256(
            abi.encode(
                typeHash,
                invoice.issuer,
                invoice.payee,
                invoice.token,
                invoice.amount,
                invoice.deadline,
                invoice.resource,
                keccak256(bytes(invoice.network)),
                invoice.salt
            )
        );
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator, structHash));
    }

    function _sign(IInvoiceRegistry.Invoice memory invoice) internal view returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(issuerKey, _invoiceId(invoice));
        return abi.encodePacked(r, s, v);
    }

    function _fundAndApprove(address token, address account, uint256 amount) internal {
        IMintable(token).mint(account, amount);
        vm.prank(account);
        IERC20(token).approve(address(registry), amount);
    }

    function _assertUnpaid(bytes32 id) internal view {
        IInvoiceRegistry.Record memory record = registry.recordOf(id);
        assertEq(uint8(record.status), uint8(IInvoiceRegistry.Status.Unpaid), "status");
        assertEq(uint8(record.path), uint8(IInvoiceRegistry.Path.None), "path");
        assertEq(record.payer, address(0), "payer");
        assertEq(record.paidAt, 0, "paidAt");
        assertFalse(registry.isPaid(id));
    }

    function _assertPaid(bytes32 id, address payer_, IInvoiceRegistry.Path path) internal view {
        IInvoiceRegistry.Record memory record = registry.recordOf(id);
        assertEq(uint8(record.status), uint8(IInvoiceRegistry.Status.Paid), "status");
        assertEq(uint8(record.path), uint8(path), "path");
        assertEq(record.payer, payer_, "payer");
        assertEq(record.paidAt, block.timestamp, "paidAt");
    }

    function _assertReentryBlocked(MockReentrantToken token) internal view {
        assertTrue(token.reentered(), "hook fired");
        assertFalse(token.reentrySucceeded(), "re-entrant call failed");
        assertEq(
            token.reentryErrorSelector(),
            ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector,
            "stopped by the reentrancy guard"
        );
    }

    function _escrowTerms(address token, address operator_) internal view returns (IPaymentEscrow.PaymentTerms memory) {
        return IPaymentEscrow.PaymentTerms({
            operator: operator_,
            payer: payer,
            payee: payee,
            token: token,
            maxAmount: 1000e6,
            preApprovalExpiry: uint48(block.timestamp + 1 days),
            authorizationExpiry: uint48(block.timestamp + 2 days),
            refundExpiry: uint48(block.timestamp + 3 days),
            maxFeeBps: 0,
            feeReceiver: address(0),
            salt: bytes32(0),
            invoiceId: bytes32(0)
        });
    }

    function _escrowAuthorize(IPaymentEscrow.PaymentTerms memory terms, uint256 amount) internal returns (bytes32) {
        IMintable(terms.token).mint(payer, amount);
        vm.startPrank(payer);
        IERC20(terms.token).approve(address(escrow), amount);
        bytes32 id = escrow.authorize(terms, amount, IPaymentEscrow.Method.Allowance, "");
        vm.stopPrank();
        return id;
    }

    // ---------------------------------------------------------------------------------------------------
    // Fee on transfer, false return, reverting token
    // ---------------------------------------------------------------------------------------------------

    function test_invoiceId_MatchesEip712Text() public {
        MockFalseReturnToken token = new MockFalseReturnToken();
        IInvoiceRegistry.Invoice memory invoice = _invoice(address(token), "salt");
        assertEq(registry.invoiceId(invoice), _invoiceId(invoice));
    }

    function test_feeOnTransfer_PayRevertsWithAmountMismatch() public {
        MockFeeOnTransferToken token = new MockFeeOnTransferToken();
        IInvoiceRegistry.Invoice memory invoice = _invoice(address(token), bytes32(0));
        bytes memory signature = _sign(invoice);
        bytes32 id = _invoiceId(invoice);
        _fundAndApprove(address(token), payer, AMOUNT);

        vm.startPrank(payer);
        vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.AmountMismatch.selector, AMOUNT, AMOUNT * 99 / 100));
        registry.pay(invoice, signature);
        // The permit path (the token has no permit) falls back to the allowance and is refused the same way.
        vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.AmountMismatch.selector, AMOUNT, AMOUNT * 99 / 100));
        registry.payWithPermit(invoice, signature, block.timestamp, new bytes(65));
        vm.stopPrank();

        _assertUnpaid(id);
        assertEq(token.balanceOf(payer), AMOUNT);
        assertEq(token.balanceOf(payee), 0);
        assertEq(token.balanceOf(address(registry)), 0);
    }

    function test_falseReturn_PayRevertsAndRecordsNothing() public {
        MockFalseReturnToken token = new MockFalseReturnToken();
        IInvoiceRegistry.Invoice memory invoice = _invoice(address(token), bytes32(0));
        bytes memory signature = _sign(invoice);
        bytes32 id = _invoiceId(invoice);
        _fundAndApprove(address(token), payer, AMOUNT);
        token.setFailing(true);

        vm.expectRevert(abi.encodeWithSelector(SafeERC20.SafeERC20FailedOperation.selector, address(token)));
        vm.prank(payer);
        registry.pay(invoice, signature);

        _assertUnpaid(id);
        assertEq(token.balanceOf(payer), AMOUNT);
        assertEq(token.balanceOf(payee), 0);
    }

    function test_reverting_PayRevertsThenPaysOnceUnpaused() public {
        MockRevertingToken token = new MockRevertingToken();
        IInvoiceRegistry.Invoice memory invoice = _invoice(address(token), bytes32(0));
        bytes memory signature = _sign(invoice);
        bytes32 id = _invoiceId(invoice);
        _fundAndApprove(address(token), payer, 2 * AMOUNT);
        token.setReverting(true);

        vm.expectRevert(MockRevertingToken.TransfersPaused.selector);
        vm.prank(payer);
        registry.pay(invoice, signature);
        _assertUnpaid(id);
        assertEq(token.balanceOf(payer), 2 * AMOUNT);

        token.setReverting(false);
        vm.prank(payer);
        registry.pay(invoice, signature);
        _assertPaid(id, payer, IInvoiceRegistry.Path.Allowance);
        assertEq(token.balanceOf(payee), AMOUNT);

        vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.InvoiceAlreadyPaid.selector, id));
        vm.prank(payer);
        registry.pay(invoice, signature);
        assertEq(token.balanceOf(payer), AMOUNT);
    }

    // ---------------------------------------------------------------------------------------------------
    // Blacklisting token
    // ---------------------------------------------------------------------------------------------------

    function test_blacklist_PayeeBlacklistedPayRevertsPayerKeepsFunds() public {
        MockBlacklistToken token = new MockBlacklistToken(address(this));
        IInvoiceRegistry.Invoice memory invoice = _invoice(address(token), bytes32(0));
        bytes memory signature = _sign(invoice);
        bytes32 id = _invoiceId(invoice);
        _fundAndApprove(address(token), payer, AMOUNT);
        token.setBlacklisted(payee, true);

        vm.expectRevert(abi.encodeWithSelector(MockBlacklistToken.Blacklisted.selector, payee));
        vm.prank(payer);
        registry.pay(invoice, signature);

        _assertUnpaid(id);
        assertEq(token.balanceOf(payer), AMOUNT);
        assertEq(token.balanceOf(payee), 0);
        assertEq(token.allowance(payer, address(registry)), AMOUNT);

        // Still payable once the payee is delisted.
        token.setBlacklisted(payee, false);
        vm.prank(payer);
        registry.pay(invoice, signature);
        _assertPaid(id, payer, IInvoiceRegistry.Path.Allowance);
        assertEq(token.balanceOf(payee), AMOUNT);
    }

    function test_blacklist_PayerBlacklistedPayReverts() public {
        MockBlacklistToken token = new MockBlacklistToken(address(this));
        IInvoiceRegistry.Invoice memory invoice = _invoice(address(token), bytes32(0));
        bytes memory signature = _sign(invoice);
        _fundAndApprove(address(token), payer, AMOUNT);
        token.setBlacklisted(payer, true);

        vm.expectRevert(abi.encodeWithSelector(MockBlacklistToken.Blacklisted.selector, payer));
        vm.prank(payer);
        registry.pay(invoice, signature);

        _assertUnpaid(_invoiceId(invoice));
        assertEq(token.balanceOf(payer), AMOUNT);
    }

    function test_blacklist_CaptureInvoiceToBlacklistedPayeeRevertsPayerReclaims() public {
        MockBlacklistToken token = new MockBlacklistToken(address(this));
        IPaymentEscrow.PaymentTerms memory terms = _escrowTerms(address(token), operator);
        IInvoiceRegistry.Invoice memory invoice = _invoice(address(token), bytes32(0));
        terms.invoiceId = _invoiceId(invoice);
        bytes32 paymentId = _escrowAuthorize(terms, AMOUNT);
        bytes memory signature = _sign(invoice);
        token.setBlacklisted(payee, true);

        vm.expectRevert(abi.encodeWithSelector(MockBlacklistToken.Blacklisted.selector, payee));
        vm.prank(operator);
        escrow.captureInvoice(terms, invoice, signature, 0, address(0));

        _assertUnpaid(_invoiceId(invoice));
        IPaymentEscrow.PaymentState memory state = escrow.paymentState(paymentId);
        assertEq(state.capturable, AMOUNT);
        assertEq(state.refundable, 0);
        assertEq(token.allowance(address(escrow), address(registry)), 0);

        vm.warp(terms.authorizationExpiry);
        vm.prank(payer);
        escrow.reclaim(terms);
        assertEq(token.balanceOf(payer), AMOUNT);
        assertEq(token.balanceOf(address(escrow)), 0);
    }

    // ---------------------------------------------------------------------------------------------------
    // Re-entrant token
    // ---------------------------------------------------------------------------------------------------

    function test_reentrant_PayCannotPayTwice() public {
        MockReentrantToken token = new MockReentrantToken();
        IInvoiceRegistry.Invoice memory invoice = _invoice(address(token), bytes32(0));
        bytes memory signature = _sign(invoice);
        bytes32 id = _invoiceId(invoice);
        _fundAndApprove(address(token), payer, AMOUNT);
        // The token can pay on its own account too, so only the guard stops its re-entrant payment.
        token.mint(address(token), AMOUNT);
        token.approveFromSelf(address(registry), AMOUNT);

        token.arm(address(registry), abi.encodeCall(registry.pay, (invoice, signature)));
        vm.prank(payer);
        registry.pay(invoice, signature);

        _assertReentryBlocked(token);
        _assertPaid(id, payer, IInvoiceRegistry.Path.Allowance);
        assertEq(token.balanceOf(payee), AMOUNT);
        assertEq(token.balanceOf(payer), 0);
        assertEq(token.balanceOf(address(token)), AMOUNT);
        assertEq(token.balanceOf(address(registry)), 0);
    }

    function test_reentrant_PayOfAnotherInvoiceIsBlocked() public {
        MockReentrantToken token = new MockReentrantToken();
        IInvoiceRegistry.Invoice memory invoice = _invoice(address(token), "outer");
        IInvoiceRegistry.Invoice memory other = _invoice(address(token), "inner");
        bytes memory signature = _sign(invoice);
        bytes memory otherSignature = _sign(other);
        _fundAndApprove(address(token), payer, AMOUNT);
        token.mint(address(token), AMOUNT);
        token.approveFromSelf(address(registry), AMOUNT);

        token.arm(address(registry), abi.encodeCall(registry.pay, (other, otherSignature)));
        vm.prank(payer);
        registry.pay(invoice, signature);

        _assertReentryBlocked(token);
        _assertPaid(_invoiceId(invoice), payer, IInvoiceRegistry.Path.Allowance);
        _assertUnpaid(_invoiceId(other));
        assertEq(token.balanceOf(payee), AMOUNT);

        // Outside a re-entrant call the same payment is valid.
        vm.prank(address(token));
        registry.pay(other, otherSignature);
        _assertPaid(_invoiceId(other), address(token), IInvoiceRegistry.Path.Allowance);
        assertEq(token.balanceOf(payee), 2 * AMOUNT);
    }

    function test_reentrant_CaptureInvoiceLocksTheRegistry() public {
        MockReentrantToken token = new MockReentrantToken();
        IPaymentEscrow.PaymentTerms memory terms = _escrowTerms(address(token), operator);
        IInvoiceRegistry.Invoice memory invoice = _invoice(address(token), "outer");
        terms.invoiceId = _invoiceId(invoice);
        bytes32 paymentId = _escrowAuthorize(terms, 2 * AMOUNT);
        IInvoiceRegistry.Invoice memory other = _invoice(address(token), "inner");
        bytes memory signature = _sign(invoice);
        bytes memory otherSignature = _sign(other);
        token.mint(address(token), AMOUNT);
        token.approveFromSelf(address(registry), AMOUNT);

        // The registry's transferFrom (escrow -> payee) calls back into the registry.
        token.arm(address(registry), abi.encodeCall(registry.pay, (other, otherSignature)));
        vm.prank(operator);
        escrow.captureInvoice(terms, invoice, signature, 0, address(0));

        _assertReentryBlocked(token);
        _assertPaid(_invoiceId(invoice), payer, IInvoiceRegistry.Path.Escrow);
        _assertUnpaid(_invoiceId(other));
        IPaymentEscrow.PaymentState memory state = escrow.paymentState(paymentId);
        assertEq(state.capturable, AMOUNT);
        assertEq(state.refundable, AMOUNT);
        assertEq(token.balanceOf(payee), AMOUNT);
        assertEq(token.balanceOf(address(escrow)), AMOUNT);
        assertEq(token.allowance(address(escrow), address(registry)), 0);
    }

    function test_reentrant_CaptureInvoiceLocksTheEscrow() public {
        MockReentrantToken token = new MockReentrantToken();
        // The token is the operator, so its re-entrant capture would otherwise be authorized.
        IPaymentEscrow.PaymentTerms memory terms = _escrowTerms(address(token), address(token));
        IInvoiceRegistry.Invoice memory invoice = _invoice(address(token), bytes32(0));
        terms.invoiceId = _invoiceId(invoice);
        bytes32 paymentId = _escrowAuthorize(terms, 2 * AMOUNT);
        bytes memory signature = _sign(invoice);

        token.arm(address(escrow), abi.encodeCall(escrow.capture, (terms, AMOUNT, 0, address(0))));
        vm.prank(address(token));
        escrow.captureInvoice(terms, invoice, signature, 0, address(0));

        _assertReentryBlocked(token);
        _assertPaid(_invoiceId(invoice), payer, IInvoiceRegistry.Path.Escrow);
        IPaymentEscrow.PaymentState memory state = escrow.paymentState(paymentId);
        assertEq(state.capturable, AMOUNT);
        assertEq(state.refundable, AMOUNT);
        assertEq(token.balanceOf(payee), AMOUNT);
        assertEq(token.balanceOf(address(escrow)), AMOUNT);
    }

    /// @dev The guards are per contract: a token that calls the registry while the escrow pays out is not
    /// stopped, and need not be, since the escrow's state is final before it transfers anything.
    function test_reentrant_RegistryPaymentDuringEscrowPayoutIsConsistent() public {
        MockReentrantToken token = new MockReentrantToken();
        IPaymentEscrow.PaymentTerms memory terms = _escrowTerms(address(token), operator);
        IInvoiceRegistry.Invoice memory invoice = _invoice(address(token), bytes32(0));
        terms.invoiceId = _invoiceId(invoice);
        bytes32 paymentId = _escrowAuthorize(terms, AMOUNT);
        bytes memory signature = _sign(invoice);
        token.mint(address(token), AMOUNT);
        token.approveFromSelf(address(registry), AMOUNT);

        token.arm(address(registry), abi.encodeCall(registry.pay, (invoice, signature)));
        vm.prank(operator);
        escrow.capture(terms, AMOUNT, 0, address(0));

        assertTrue(token.reentrySucceeded(), "a call into the other contract goes through");
        _assertPaid(_invoiceId(invoice), address(token), IInvoiceRegistry.Path.Allowance);
        IPaymentEscrow.PaymentState memory state = escrow.paymentState(paymentId);
        assertEq(state.capturable, 0);
        assertEq(state.refundable, AMOUNT);
        assertEq(token.balanceOf(payee), 2 * AMOUNT);
        assertEq(token.balanceOf(address(escrow)), 0);
        assertEq(escrow.owed(address(token), payee), 0);
    }
}
