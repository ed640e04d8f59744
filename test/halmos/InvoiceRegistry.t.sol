// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IInvoiceRegistry} from "../../contracts/interfaces/IInvoiceRegistry.sol";
import {InvoiceRegistry} from "../../contracts/registry/InvoiceRegistry.sol";
import {HalmosToken} from "./HalmosToken.sol";
import {Test} from "forge-std/Test.sol";

/// @notice Formal checks (halmos) of InvoiceRegistry: an invoice is paid at most once, by any pair of paths
/// (allowance, permit, EIP-3009 authorization, settler), and its payee receives exactly its amount. The
/// invoice's amount, deadline, resource and salt are symbolic; the issuer signs with a fixed key.
/// `check_mustFail_*` are companions that halmos must refute: they show the model can pay a second invoice,
/// so the proof is not vacuous.
contract InvoiceRegistryHalmos is Test {
    uint256 private constant ISSUER_KEY = 0x155E5;
    address private constant PAYEE = address(0xBEEF);
    uint256 private constant FUNDS = type(uint128).max;

    InvoiceRegistry private registry;
    HalmosToken private token;

    function setUp() public {
        registry = new InvoiceRegistry(address(this));
        token = new HalmosToken();
        // This contract pays on every path: as the caller, as the EIP-3009 payer and as an Escrow settler.
        registry.setSettler(address(this), IInvoiceRegistry.Path.Escrow);
        token.mint(address(this), FUNDS);
        token.approve(address(registry), type(uint256).max);
    }

    /// @notice Any two payments of one invoice: the first pays the payee exactly the amount, the second reverts.
    function check_invoicePaidOnceForItsAmount(
        uint256 amount,
        uint256 deadline,
        bytes32 resource,
        bytes32 salt,
        uint8 firstPath,
        uint8 secondPath
    ) external {
        vm.assume(amount <= FUNDS / 2);
        IInvoiceRegistry.Invoice memory invoice = _invoice(amount, deadline, resource, salt);
        bytes memory signature = _sign(invoice);
        uint256 payeeBefore = token.balanceOf(PAYEE);
        uint256 payerBefore = token.balanceOf(address(this));

        vm.assume(_pay(firstPath, invoice, signature));
        assert(token.balanceOf(PAYEE) == payeeBefore + amount);
        assert(token.balanceOf(address(this)) == payerBefore - amount);
        assert(token.balanceOf(address(registry)) == 0);
        assert(registry.isPaid(registry.invoiceId(invoice)));

        assert(!_pay(secondPath, invoice, signature));
        assert(token.balanceOf(PAYEE) == payeeBefore + amount);
    }

    /// @notice Companion (must be refuted): a second, different invoice (another salt) can be paid after the first.
    function check_mustFail_secondInvoiceAlsoRefused(
        uint256 amount,
        uint256 deadline,
        bytes32 resource,
        bytes32 salt,
        bytes32 otherSalt,
        uint8 firstPath,
        uint8 secondPath
    ) external {
        vm.assume(amount <= FUNDS / 2);
        vm.assume(salt != otherSalt);
        IInvoiceRegistry.Invoice memory invoice = _invoice(amount, deadline, resource, salt);
        IInvoiceRegistry.Invoice memory other = _invoice(amount, deadline, resource, otherSalt);
        vm.assume(_pay(firstPath, invoice, _sign(invoice)));
        assert(!_pay(secondPath, other, _sign(other)));
    }

    function _invoice(uint256 amount, uint256 deadline, bytes32 resource, bytes32 salt)
        private
        view
        returns (IInvoiceRegistry.Invoice memory)
    {
        return IInvoiceRegistry.Invoice({
            issuer: vm.addr(ISSUER_KEY),
            payee: PAYEE,
            token: address(token),
            amount: amount,
            deadline: deadline,
            resource: resource,
            network: registry.network(),
            salt: salt
        });
    }

    function _sign(IInvoiceRegistry.Invoice memory invoice) private view returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(ISSUER_KEY, registry.invoiceId(invoice));
        return abi.encodePacked(r, s, v);
    }

    /// @dev Pays `invoice` by one of the four paths; true when the call succeeded.
    function _pay(uint8 path, IInvoiceRegistry.Invoice memory invoice, bytes memory signature)
        private
        returns (bool ok)
    {
        bytes memory call;
        if (path % 4 == 0) {
            call = abi.encodeCall(InvoiceRegistry.pay, (invoice, signature));
        } else if (path % 4 == 1) {
            // The token refuses every permit: the registry goes on with the allowance already there.
            call = abi.encodeCall(InvoiceRegistry.payWithPermit, (invoice, signature, block.timestamp, new bytes(65)));
        } else if (path % 4 == 2) {
            call = abi.encodeCall(
                InvoiceRegistry.payWithAuthorization, (invoice, signature, address(this), 0, type(uint256).max, "")
            );
        } else {
            call = abi.encodeCall(InvoiceRegistry.settle, (invoice, signature, address(this)));
        }
        (ok,) = address(registry).call(call);
    }
}
