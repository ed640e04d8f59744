// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {PaymentEscrow} from "../../contracts/escrow/PaymentEscrow.sol";
import {IInvoiceRegistry} from "../../contracts/interfaces/IInvoiceRegistry.sol";
import {IPaymentEscrow} from "../../contracts/interfaces/IPaymentEscrow.sol";
import {InvoiceRegistry} from "../../contracts/registry/InvoiceRegistry.sol";
import {TestStablecoin} from "../../contracts/tokens/TestStablecoin.sol";
import {Test} from "forge-std/Test.sol";

/// @notice Gas of the registry's and the escrow's operations, recorded in snapshots/InvoiceRegistry.json and
/// snapshots/PaymentEscrow.json (execution gas of the call, as `vm.snapshotGasLastCall` measures it). Like the
/// commerce-payments benchmark: 100 USDC, 1% fee, and a warm-up payment in setUp so that one-time costs
/// (first balance of the escrow, payee and fee receiver) are not counted.
contract PaymentsGasTest is Test {
    uint256 internal constant AMOUNT = 100e6;
    uint256 internal constant FEE = 1e6;

    TestStablecoin internal token;
    InvoiceRegistry internal registry;
    PaymentEscrow internal escrow;

    address internal owner = makeAddr("owner");
    address internal operator = makeAddr("operator");
    address internal payee = makeAddr("payee");
    address internal feeReceiver = makeAddr("feeReceiver");
    address internal payer;
    uint256 internal payerKey;
    address internal issuer;
    uint256 internal issuerKey;

    function setUp() public {
        vm.warp(1_750_000_000);
        (payer, payerKey) = makeAddrAndKey("payer");
        (issuer, issuerKey) = makeAddrAndKey("issuer");
        token = new TestStablecoin("USD Coin", "USDC", "2", owner);
        registry = new InvoiceRegistry(owner);
        escrow = new PaymentEscrow(registry);
        vm.startPrank(owner);
        registry.setSettler(address(escrow), IInvoiceRegistry.Path.Escrow);
        token.mint(payer, 10_000e6);
        token.mint(payee, 1);
        token.mint(feeReceiver, 1);
        token.mint(operator, 1000e6);
        vm.stopPrank();
        vm.prank(operator);
        token.approve(address(escrow), type(uint256).max);
        // Warm-up: the escrow already holds funds of another payment.
        _authorize(_terms(keccak256("warm-up")));
    }

    // ---------------------------------------------------------------------------------------------------
    // Registry
    // ---------------------------------------------------------------------------------------------------

    function test_gas_registry_payWithAuthorization() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice(keccak256("a"));
        bytes32 id = registry.invoiceId(invoice);
        bytes memory issuerSignature = _sign(issuerKey, id);
        bytes memory authorization = _receiveAuthorization(address(registry), AMOUNT, id);
        registry.payWithAuthorization(invoice, issuerSignature, payer, 0, block.timestamp + 1 hours, authorization);
        vm.snapshotGasLastCall("InvoiceRegistry", "payWithAuthorization");
    }

    function test_gas_registry_pay() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice(keccak256("b"));
        bytes memory issuerSignature = _sign(issuerKey, registry.invoiceId(invoice));
        vm.prank(payer);
        token.approve(address(registry), AMOUNT);
        vm.prank(payer);
        registry.pay(invoice, issuerSignature);
        vm.snapshotGasLastCall("InvoiceRegistry", "pay (allowance)");
    }

    // ---------------------------------------------------------------------------------------------------
    // Escrow
    // ---------------------------------------------------------------------------------------------------

    function test_gas_escrow_authorize() public {
        _authorize(_terms(keccak256("c")));
        vm.snapshotGasLastCall("PaymentEscrow", "authorize (EIP-3009)");
    }

    function test_gas_escrow_capture() public {
        IPaymentEscrow.PaymentTerms memory terms = _terms(keccak256("d"));
        _authorize(terms);
        vm.prank(operator);
        escrow.capture(terms, AMOUNT, FEE, feeReceiver);
        vm.snapshotGasLastCall("PaymentEscrow", "capture");
    }

    function test_gas_escrow_captureInvoice() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice(keccak256("e"));
        invoice.amount = AMOUNT - FEE;
        IPaymentEscrow.PaymentTerms memory terms = _terms(keccak256("e"));
        terms.invoiceId = registry.invoiceId(invoice);
        _authorize(terms);
        bytes memory issuerSignature = _sign(issuerKey, registry.invoiceId(invoice));
        vm.prank(operator);
        escrow.captureInvoice(terms, invoice, issuerSignature, FEE, feeReceiver);
        vm.snapshotGasLastCall("PaymentEscrow", "captureInvoice");
    }

    function test_gas_escrow_void() public {
        IPaymentEscrow.PaymentTerms memory terms = _terms(keccak256("f"));
        _authorize(terms);
        vm.prank(operator);
        escrow.void(terms);
        vm.snapshotGasLastCall("PaymentEscrow", "void");
    }

    function test_gas_escrow_reclaim() public {
        IPaymentEscrow.PaymentTerms memory terms = _terms(keccak256("g"));
        _authorize(terms);
        vm.warp(terms.authorizationExpiry);
        vm.prank(payer);
        escrow.reclaim(terms);
        vm.snapshotGasLastCall("PaymentEscrow", "reclaim");
    }

    function test_gas_escrow_refund() public {
        IPaymentEscrow.PaymentTerms memory terms = _terms(keccak256("h"));
        _authorize(terms);
        vm.prank(operator);
        escrow.capture(terms, AMOUNT, FEE, feeReceiver);
        vm.prank(operator);
        escrow.refund(terms, AMOUNT);
        vm.snapshotGasLastCall("PaymentEscrow", "refund");
    }

    // ---------------------------------------------------------------------------------------------------
    // Helpers
    // ---------------------------------------------------------------------------------------------------

    function _terms(bytes32 salt) internal view returns (IPaymentEscrow.PaymentTerms memory) {
        return IPaymentEscrow.PaymentTerms({
            operator: operator,
            payer: payer,
            payee: payee,
            token: address(token),
            maxAmount: AMOUNT,
            preApprovalExpiry: uint48(block.timestamp + 1 hours),
            authorizationExpiry: uint48(block.timestamp + 2 hours),
            refundExpiry: uint48(block.timestamp + 3 hours),
            maxFeeBps: 100,
            feeReceiver: address(0),
            salt: salt,
            invoiceId: bytes32(0)
        });
    }

    function _authorize(IPaymentEscrow.PaymentTerms memory terms) internal {
        bytes32 nonce = escrow.authorizationNonce(escrow.paymentId(terms), 0);
        bytes memory signature = _receiveAuthorization(address(escrow), AMOUNT, nonce);
        escrow.authorize(
            terms, AMOUNT, IPaymentEscrow.Method.Authorization, abi.encode(0, block.timestamp + 1 hours, signature)
        );
    }

    function _invoice(bytes32 salt) internal view returns (IInvoiceRegistry.Invoice memory) {
        return IInvoiceRegistry.Invoice({
            issuer: issuer,
            payee: payee,
            token: address(token),
            amount: AMOUNT,
            deadline: block.timestamp + 1 hours,
            resource: keccak256("https://api.example/report"),
            network: registry.network(),
            salt: salt
        });
    }

    function _receiveAuthorization(address to, uint256 value, bytes32 nonce) internal view returns (bytes memory) {
        bytes32 structHash = keccak256(
            abi.encode(
                token.RECEIVE_WITH_AUTHORIZATION_TYPEHASH(), payer, to, value, 0, block.timestamp + 1 hours, nonce
            )
        );
        return _sign(payerKey, keccak256(abi.encodePacked("\x19\x01", token.DOMAIN_SEPARATOR(), structHash)));
    }

    function _sign(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }
}
