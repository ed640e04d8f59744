// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {PaymentEscrow} from "../../contracts/escrow/PaymentEscrow.sol";
import {IInvoiceRegistry} from "../../contracts/interfaces/IInvoiceRegistry.sol";
import {IPaymentEscrow} from "../../contracts/interfaces/IPaymentEscrow.sol";
import {InvoiceRegistry} from "../../contracts/registry/InvoiceRegistry.sol";
import {TestStablecoin} from "../../contracts/tokens/TestStablecoin.sol";
import {Test} from "forge-std/Test.sol";

/// @notice Shared fixture for the PaymentEscrow tests: a USDC look-alike, an invoice registry that allows the
/// escrow as an Escrow settler, the escrow, and its actors. Payment ids, EIP-3009 authorizations, EIP-2612
/// permits and invoices are hashed and signed here from the EIP texts, not with the contracts' own hashing.
abstract contract PaymentEscrowBase is Test {
    string internal constant TOKEN_NAME = "USD Coin";
    string internal constant TOKEN_SYMBOL = "USDC";
    string internal constant TOKEN_VERSION = "2";

    string internal constant ESCROW_NAME = "Quittance Payment Escrow";
    string internal constant REGISTRY_NAME = "Quittance Invoice Registry";
    string internal constant DOMAIN_VERSION = "1";

    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 internal constant TERMS_TYPEHASH = keccak256(
        "PaymentTerms(address operator,address payer,address payee,address token,uint256 maxAmount,uint48 preApprovalExpiry,uint48 authorizationExpiry,uint48 refundExpiry,uint16 maxFeeBps,address feeReceiver,bytes32 salt,bytes32 invoiceId)"
    );
    bytes32 internal constant RECEIVE_TYPEHASH = keccak256(
        "ReceiveWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
    );
    bytes32 internal constant PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");
    bytes32 internal constant INVOICE_TYPEHASH = keccak256(
        "Invoice(address issuer,address payee,address token,uint256 amount,uint256 deadline,bytes32 resource,string network,bytes32 salt)"
    );

    uint48 internal constant START = 1_750_000_000;
    uint48 internal constant PRE_APPROVAL_EXPIRY = START + 1 hours;
    uint48 internal constant AUTHORIZATION_EXPIRY = START + 2 hours;
    uint48 internal constant REFUND_EXPIRY = START + 3 hours;
    uint256 internal constant INITIAL_BALANCE = 1000e6;
    uint256 internal constant MAX_AMOUNT = 100e6;
    uint256 internal constant AMOUNT = 10e6;
    uint16 internal constant MAX_FEE_BPS = 100;
    bytes32 internal constant SALT = keccak256("payment-1");

    TestStablecoin internal usdc;
    InvoiceRegistry internal registry;
    PaymentEscrow internal escrow;

    address internal owner = makeAddr("owner");
    address internal operator = makeAddr("operator");
    address internal payee = makeAddr("payee");
    address internal feeReceiver = makeAddr("feeReceiver");
    address internal relayer = makeAddr("relayer");
    address internal stranger = makeAddr("stranger");
    address internal payer;
    uint256 internal payerKey;
    address internal issuer;
    uint256 internal issuerKey;

    /// @dev Token balances of every actor and of the escrow, to check that a reverted call moved nothing.
    struct Balances {
        uint256 payer;
        uint256 payee;
        uint256 feeReceiver;
        uint256 operator;
        uint256 escrow;
    }

    function setUp() public virtual {
        vm.warp(START);
        (payer, payerKey) = makeAddrAndKey("payer");
        (issuer, issuerKey) = makeAddrAndKey("issuer");

        usdc = new TestStablecoin(TOKEN_NAME, TOKEN_SYMBOL, TOKEN_VERSION, owner);
        registry = new InvoiceRegistry(owner);
        escrow = new PaymentEscrow(registry);
        vm.prank(owner);
        registry.setSettler(address(escrow), IInvoiceRegistry.Path.Escrow);

        vm.prank(owner);
        usdc.mint(payer, INITIAL_BALANCE);
    }

    // ---------------------------------------------------------------------------------------------------
    // Terms and ids
    // ---------------------------------------------------------------------------------------------------

    /// @dev Default terms, the same whenever called (expiries an hour, two and three after the start): the
    /// operator names the fee receiver at capture; they name no invoice.
    function _terms() internal view returns (IPaymentEscrow.PaymentTerms memory) {
        return IPaymentEscrow.PaymentTerms({
            operator: operator,
            payer: payer,
            payee: payee,
            token: address(usdc),
            maxAmount: MAX_AMOUNT,
            preApprovalExpiry: PRE_APPROVAL_EXPIRY,
            authorizationExpiry: AUTHORIZATION_EXPIRY,
            refundExpiry: REFUND_EXPIRY,
            maxFeeBps: MAX_FEE_BPS,
            feeReceiver: address(0),
            salt: SALT,
            invoiceId: bytes32(0)
        });
    }

    /// @dev Default terms that may pay `invoice` (and no other) through captureInvoice.
    function _termsFor(IInvoiceRegistry.Invoice memory invoice)
        internal
        view
        returns (IPaymentEscrow.PaymentTerms memory terms)
    {
        terms = _terms();
        terms.invoiceId = _invoiceId(invoice);
    }

    /// @dev Default terms with the fee receiver fixed by the payer.
    function _termsWithFeeReceiver() internal view returns (IPaymentEscrow.PaymentTerms memory terms) {
        terms = _terms();
        terms.feeReceiver = feeReceiver;
    }

    function _escrowDomainSeparator() internal view returns (bytes32) {
        return keccak256(
            abi.encode(
                DOMAIN_TYPEHASH,
                keccak256(bytes(ESCROW_NAME)),
                keccak256(bytes(DOMAIN_VERSION)),
                block.chainid,
                address(escrow)
            )
        );
    }

    /// @dev The payment id per EIP-712: the typed-data digest of the terms in the escrow's domain.
    function _paymentId(IPaymentEscrow.PaymentTerms memory terms) internal view returns (bytes32) {
        bytes32 structHash = keccak256(
            abi.encode(
                TERMS_TYPEHASH,
                terms.operator,
                terms.payer,
                terms.payee,
                terms.token,
                terms.maxAmount,
                terms.preApprovalExpiry,
                terms.authorizationExpiry,
                terms.refundExpiry,
                terms.maxFeeBps,
                terms.feeReceiver,
                terms.salt,
                terms.invoiceId
            )
        );
        return keccak256(abi.encodePacked("\x19\x01", _escrowDomainSeparator(), structHash));
    }

    /// @dev The EIP-3009 nonce of authorization `index`: the id for the first, a hash of (id, index) after.
    function _nonce(bytes32 id, uint256 index) internal pure returns (bytes32) {
        return index == 0 ? id : keccak256(abi.encode(id, index));
    }

    // ---------------------------------------------------------------------------------------------------
    // EIP-3009 and EIP-2612 signatures of the payer
    // ---------------------------------------------------------------------------------------------------

    function _tokenDomainSeparator() internal view returns (bytes32) {
        return keccak256(
            abi.encode(
                DOMAIN_TYPEHASH,
                keccak256(bytes(TOKEN_NAME)),
                keccak256(bytes(TOKEN_VERSION)),
                block.chainid,
                address(usdc)
            )
        );
    }

    function _signPacked(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    /// @dev `data` for Method.Authorization: `key` signs a ReceiveWithAuthorization from the payer to the escrow.
    function _authorizationData(uint256 key, uint256 amount, bytes32 nonce, uint256 validAfter, uint256 validBefore)
        internal
        view
        returns (bytes memory)
    {
        bytes32 structHash =
            keccak256(abi.encode(RECEIVE_TYPEHASH, payer, address(escrow), amount, validAfter, validBefore, nonce));
        bytes32 digest = keccak256(abi.encodePacked("\x19\x01", _tokenDomainSeparator(), structHash));
        return abi.encode(validAfter, validBefore, _signPacked(key, digest));
    }

    /// @dev `data` for Method.Authorization of authorization `index` of `terms`, valid for the next hour.
    function _authorizationData(IPaymentEscrow.PaymentTerms memory terms, uint256 amount, uint256 index)
        internal
        view
        returns (bytes memory)
    {
        return _authorizationData(
            payerKey, amount, _nonce(_paymentId(terms), index), block.timestamp - 1, block.timestamp + 1 hours
        );
    }

    /// @dev `data` for Method.Permit: the payer's EIP-2612 permit of `amount` to the escrow.
    function _permitData(uint256 key, uint256 amount, uint256 deadline) internal view returns (bytes memory) {
        bytes32 structHash =
            keccak256(abi.encode(PERMIT_TYPEHASH, payer, address(escrow), amount, usdc.nonces(payer), deadline));
        bytes32 digest = keccak256(abi.encodePacked("\x19\x01", _tokenDomainSeparator(), structHash));
        return abi.encode(deadline, _signPacked(key, digest));
    }

    /// @dev Authorizes `amount` (the first authorization or the next top-up) with the payer's EIP-3009
    /// signature, submitted by a relayer.
    function _authorize(IPaymentEscrow.PaymentTerms memory terms, uint256 amount) internal returns (bytes32 id) {
        uint256 index = escrow.paymentState(_paymentId(terms)).authorizations;
        bytes memory data = _authorizationData(terms, amount, index);
        vm.prank(relayer);
        id = escrow.authorize(terms, amount, IPaymentEscrow.Method.Authorization, data);
    }

    /// @dev Authorizes `amount` with a prior allowance, called by the payer.
    function _authorizeWithAllowance(IPaymentEscrow.PaymentTerms memory terms, uint256 amount)
        internal
        returns (bytes32 id)
    {
        vm.startPrank(terms.payer);
        assertTrue(usdc.approve(address(escrow), amount));
        id = escrow.authorize(terms, amount, IPaymentEscrow.Method.Allowance, "");
        vm.stopPrank();
    }

    function _capture(IPaymentEscrow.PaymentTerms memory terms, uint256 amount, uint256 fee, address receiver)
        internal
    {
        vm.prank(terms.operator);
        escrow.capture(terms, amount, fee, receiver);
    }

    // ---------------------------------------------------------------------------------------------------
    // Invoices
    // ---------------------------------------------------------------------------------------------------

    /// @dev An invoice to the default payee in USDC, payable for a day.
    function _invoice(uint256 amount) internal view returns (IInvoiceRegistry.Invoice memory) {
        return IInvoiceRegistry.Invoice({
            issuer: issuer,
            payee: payee,
            token: address(usdc),
            amount: amount,
            deadline: block.timestamp + 1 days,
            resource: keccak256("https://api.example.com/report"),
            network: registry.network(),
            salt: keccak256("invoice-1")
        });
    }

    /// @dev The invoice id per EIP-712: the typed-data digest in the registry's domain (strings hashed).
    function _invoiceId(IInvoiceRegistry.Invoice memory invoice) internal view returns (bytes32) {
        bytes32 domainSeparator = keccak256(
            abi.encode(
                DOMAIN_TYPEHASH,
                keccak256(bytes(REGISTRY_NAME)),
                keccak256(bytes(DOMAIN_VERSION)),
                block.chainid,
                address(registry)
            )
        );
        bytes32 structHash = keccak256(
            abi.encode(
                INVOICE_TYPEHASH,
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

    function _signInvoice(IInvoiceRegistry.Invoice memory invoice) internal view returns (bytes memory) {
        return _signPacked(issuerKey, _invoiceId(invoice));
    }

    // ---------------------------------------------------------------------------------------------------
    // Assertions
    // ---------------------------------------------------------------------------------------------------

    function _balances() internal view returns (Balances memory) {
        return Balances({
            payer: usdc.balanceOf(payer),
            payee: usdc.balanceOf(payee),
            feeReceiver: usdc.balanceOf(feeReceiver),
            operator: usdc.balanceOf(operator),
            escrow: usdc.balanceOf(address(escrow))
        });
    }

    function _assertBalances(Balances memory expected) internal view {
        Balances memory actual = _balances();
        assertEq(actual.payer, expected.payer, "payer balance");
        assertEq(actual.payee, expected.payee, "payee balance");
        assertEq(actual.feeReceiver, expected.feeReceiver, "fee receiver balance");
        assertEq(actual.operator, expected.operator, "operator balance");
        assertEq(actual.escrow, expected.escrow, "escrow balance");
    }

    function _assertState(bytes32 id, uint256 capturable, uint256 refundable, uint256 authorizations, bool closed)
        internal
        view
    {
        IPaymentEscrow.PaymentState memory state = escrow.paymentState(id);
        assertEq(state.capturable, capturable, "capturable");
        assertEq(state.refundable, refundable, "refundable");
        assertEq(state.authorizations, authorizations, "authorizations");
        assertEq(state.closed, closed, "closed");
    }
}
