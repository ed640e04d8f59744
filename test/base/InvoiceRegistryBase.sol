// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IInvoiceRegistry} from "../../contracts/interfaces/IInvoiceRegistry.sol";
import {InvoiceRegistry} from "../../contracts/registry/InvoiceRegistry.sol";
import {TestStablecoin} from "../../contracts/tokens/TestStablecoin.sol";
import {MockSettler} from "../mocks/MockSettler.sol";
import {Test} from "forge-std/Test.sol";

/// @notice Shared fixture for the InvoiceRegistry tests: a USDC look-alike, the registry, a funded payer, an issuer
/// key, an allowed-to-be settler, and EIP-712 helpers written from the EIP texts (EIP-712, EIP-3009, EIP-2612),
/// not from the registry's own hashing: the invoice id is computed here independently and compared with the
/// contract's.
abstract contract InvoiceRegistryBase is Test {
    // ----- Token -----
    string internal constant TOKEN_NAME = "USD Coin";
    string internal constant TOKEN_SYMBOL = "USDC";
    string internal constant TOKEN_VERSION = "2";

    // ----- Registry EIP-712 domain and type -----
    string internal constant REGISTRY_NAME = "Quittance Invoice Registry";
    string internal constant REGISTRY_VERSION = "1";
    string internal constant INVOICE_TYPE =
        "Invoice(address issuer,address payee,address token,uint256 amount,uint256 deadline,bytes32 resource,string network,bytes32 salt)";
    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");

    // ----- Amounts and terms -----
    uint256 internal constant START = 1_750_000_000;
    uint256 internal constant INITIAL_BALANCE = 1000e6;
    uint256 internal constant AMOUNT = 25e6;
    uint256 internal constant TERM = 1 days;
    bytes32 internal constant RESOURCE = keccak256("https://api.example.com/weather|Today's weather report");
    bytes32 internal constant SALT = keccak256("invoice-salt-1");
    uint256 internal constant SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;

    TestStablecoin internal token;
    InvoiceRegistry internal registry;
    MockSettler internal settler;

    address internal owner = makeAddr("owner");
    address internal payee = makeAddr("payee");
    address internal relayer = makeAddr("relayer");
    address internal stranger = makeAddr("stranger");
    address internal payer;
    uint256 internal payerKey;
    address internal issuer;
    uint256 internal issuerKey;

    function setUp() public virtual {
        vm.warp(START);
        (payer, payerKey) = makeAddrAndKey("payer");
        (issuer, issuerKey) = makeAddrAndKey("issuer");
        token = new TestStablecoin(TOKEN_NAME, TOKEN_SYMBOL, TOKEN_VERSION, owner);
        registry = new InvoiceRegistry(owner);
        settler = new MockSettler(registry);
        _mint(payer, INITIAL_BALANCE);
    }

    function _mint(address to, uint256 amount) internal {
        vm.prank(owner);
        token.mint(to, amount);
    }

    // ---------------------------------------------------------------------------------------------------
    // Invoices
    // ---------------------------------------------------------------------------------------------------

    /// @dev The CAIP-2 id of an EVM chain, written independently of the registry's `network()`.
    function _caip2(uint256 chainId) internal pure returns (string memory) {
        return string.concat("eip155:", vm.toString(chainId));
    }

    /// @dev The default invoice: issuer -> payee, AMOUNT of the token, payable for a day on this chain.
    function _invoice() internal view returns (IInvoiceRegistry.Invoice memory) {
        return IInvoiceRegistry.Invoice({
            issuer: issuer,
            payee: payee,
            token: address(token),
            amount: AMOUNT,
            deadline: block.timestamp + TERM,
            resource: RESOURCE,
            network: registry.network(),
            salt: SALT
        });
    }

    function _registryDomainSeparator(uint256 chainId, address verifyingContract) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(
                DOMAIN_TYPEHASH,
                keccak256(bytes(REGISTRY_NAME)),
                keccak256(bytes(REGISTRY_VERSION)),
                chainId,
                verifyingContract
            )
        );
    }

    /// @dev EIP-712 `hashStruct(invoice)`: the dynamic `string network` is encoded as its keccak256.
    function _invoiceStructHash(IInvoiceRegistry.Invoice memory invoice) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(
                keccak256(bytes(INVOICE_TYPE)),
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
    }

    /// @dev The invoice id as a registry at `verifyingContract` on chain `chainId` would compute it.
    function _invoiceIdIn(IInvoiceRegistry.Invoice memory invoice, uint256 chainId, address verifyingContract)
        internal
        pure
        returns (bytes32)
    {
        return keccak256(
            abi.encodePacked(
                "\x19\x01", _registryDomainSeparator(chainId, verifyingContract), _invoiceStructHash(invoice)
            )
        );
    }

    /// @dev The invoice id in the fixture registry's domain on the current chain.
    function _invoiceId(IInvoiceRegistry.Invoice memory invoice) internal view returns (bytes32) {
        return _invoiceIdIn(invoice, block.chainid, address(registry));
    }

    /// @dev The issuer's signature of the invoice.
    function _signInvoice(IInvoiceRegistry.Invoice memory invoice) internal view returns (bytes memory) {
        return _signPacked(issuerKey, _invoiceId(invoice));
    }

    function _signInvoiceWith(uint256 key, IInvoiceRegistry.Invoice memory invoice)
        internal
        view
        returns (bytes memory)
    {
        return _signPacked(key, _invoiceId(invoice));
    }

    function _signPacked(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    // ---------------------------------------------------------------------------------------------------
    // Token signatures (EIP-3009, EIP-2612)
    // ---------------------------------------------------------------------------------------------------

    function _tokenDomainSeparator() internal view returns (bytes32) {
        return keccak256(
            abi.encode(
                DOMAIN_TYPEHASH,
                keccak256(bytes(TOKEN_NAME)),
                keccak256(bytes(TOKEN_VERSION)),
                block.chainid,
                address(token)
            )
        );
    }

    function _tokenDigest(bytes32 structHash) internal view returns (bytes32) {
        return keccak256(abi.encodePacked("\x19\x01", _tokenDomainSeparator(), structHash));
    }

    function _authorizationDigest(
        string memory primaryType,
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce
    ) internal view returns (bytes32) {
        bytes32 typeHash = keccak256(
            abi.encodePacked(
                primaryType,
                "(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
            )
        );
        return _tokenDigest(keccak256(abi.encode(typeHash, from, to, value, validAfter, validBefore, nonce)));
    }

    /// @dev `key`'s signature of a `ReceiveWithAuthorization` from `from` to `to`.
    function _signReceiveAuthorization(
        uint256 key,
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce
    ) internal view returns (bytes memory) {
        return _signPacked(
            key, _authorizationDigest("ReceiveWithAuthorization", from, to, value, validAfter, validBefore, nonce)
        );
    }

    /// @dev A window that is open now: valid after an hour ago, before an hour from now.
    function _window() internal view returns (uint256 validAfter, uint256 validBefore) {
        return (block.timestamp - 1 hours, block.timestamp + 1 hours);
    }

    function _permitDigest(address holder, address spender, uint256 value, uint256 nonce, uint256 deadline)
        internal
        view
        returns (bytes32)
    {
        bytes32 typeHash =
            keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");
        return _tokenDigest(keccak256(abi.encode(typeHash, holder, spender, value, nonce, deadline)));
    }

    /// @dev `key`'s 65-byte permit for the registry to spend `value` of `holder`, at `holder`'s current nonce.
    function _signPermit(uint256 key, address holder, uint256 value, uint256 deadline)
        internal
        view
        returns (bytes memory)
    {
        return _signPacked(key, _permitDigest(holder, address(registry), value, token.nonces(holder), deadline));
    }

    // ---------------------------------------------------------------------------------------------------
    // Settlers
    // ---------------------------------------------------------------------------------------------------

    /// @dev Allows the fixture settler as `kind`, funds it with `amount` and has it approve the registry.
    function _fundSettler(IInvoiceRegistry.Path kind, uint256 amount) internal {
        vm.prank(owner);
        registry.setSettler(address(settler), kind);
        _mint(address(settler), amount);
        settler.approveRegistry(token, amount);
    }

    // ---------------------------------------------------------------------------------------------------
    // Assertions
    // ---------------------------------------------------------------------------------------------------

    function _assertPaid(bytes32 id, address expectedPayer, IInvoiceRegistry.Path path) internal view {
        IInvoiceRegistry.Record memory record = registry.recordOf(id);
        assertEq(uint8(record.status), uint8(IInvoiceRegistry.Status.Paid), "status");
        assertEq(uint8(record.path), uint8(path), "path");
        assertEq(uint256(record.paidAt), block.timestamp, "paidAt");
        assertEq(record.payer, expectedPayer, "payer");
        assertTrue(registry.isPaid(id), "isPaid");
    }

    function _assertUnpaid(bytes32 id) internal view {
        IInvoiceRegistry.Record memory record = registry.recordOf(id);
        assertEq(uint8(record.status), uint8(IInvoiceRegistry.Status.Unpaid), "status");
        assertEq(uint8(record.path), uint8(IInvoiceRegistry.Path.None), "path");
        assertEq(uint256(record.paidAt), 0, "paidAt");
        assertEq(record.payer, address(0), "payer");
        assertFalse(registry.isPaid(id), "isPaid");
    }

    function _assertCancelled(bytes32 id) internal view {
        IInvoiceRegistry.Record memory record = registry.recordOf(id);
        assertEq(uint8(record.status), uint8(IInvoiceRegistry.Status.Cancelled), "status");
        assertEq(uint8(record.path), uint8(IInvoiceRegistry.Path.None), "path");
        assertEq(record.payer, address(0), "payer");
        assertFalse(registry.isPaid(id), "isPaid");
    }

    /// @dev The fixture's balances are untouched and the invoice is still unpaid.
    function _assertNothingMoved(bytes32 id) internal view {
        assertEq(token.balanceOf(payer), INITIAL_BALANCE, "payer balance");
        assertEq(token.balanceOf(payee), 0, "payee balance");
        assertEq(token.balanceOf(address(registry)), 0, "registry balance");
        _assertUnpaid(id);
    }
}
