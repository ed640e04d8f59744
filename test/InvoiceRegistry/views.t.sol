// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IInvoiceRegistry} from "../../contracts/interfaces/IInvoiceRegistry.sol";
import {InvoiceRegistry} from "../../contracts/registry/InvoiceRegistry.sol";
import {InvoiceRegistryBase} from "../base/InvoiceRegistryBase.sol";

contract ViewsTest is InvoiceRegistryBase {
    // ---------------------------------------------------------------------------------------------------
    // invoiceId
    // ---------------------------------------------------------------------------------------------------

    function test_invoiceId_MatchesIndependentEip712Digest() public view {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        assertEq(registry.invoiceId(invoice), _invoiceId(invoice));
    }

    function test_invoiceId_MatchesForgeEip712Hashing() public view {
        // A third, independent computation: forge's own EIP-712 encoder from the typed-data JSON.
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        string memory json = string.concat(
            '{"types":{"EIP712Domain":[{"name":"name","type":"string"},{"name":"version","type":"string"},',
            '{"name":"chainId","type":"uint256"},{"name":"verifyingContract","type":"address"}],',
            '"Invoice":[{"name":"issuer","type":"address"},{"name":"payee","type":"address"},',
            '{"name":"token","type":"address"},{"name":"amount","type":"uint256"},',
            '{"name":"deadline","type":"uint256"},{"name":"resource","type":"bytes32"},',
            '{"name":"network","type":"string"},{"name":"salt","type":"bytes32"}]},',
            '"primaryType":"Invoice","domain":{"name":"Quittance Invoice Registry","version":"1","chainId":',
            vm.toString(block.chainid),
            ',"verifyingContract":"',
            vm.toString(address(registry))
        );
        json = string.concat(
            json,
            '"},"message":{"issuer":"',
            vm.toString(invoice.issuer),
            '","payee":"',
            vm.toString(invoice.payee),
            '","token":"',
            vm.toString(invoice.token),
            '","amount":"',
            vm.toString(invoice.amount),
            '","deadline":"',
            vm.toString(invoice.deadline),
            '","resource":"',
            vm.toString(invoice.resource),
            '","network":"',
            invoice.network,
            '","salt":"',
            vm.toString(invoice.salt),
            '"}}'
        );
        assertEq(registry.invoiceId(invoice), vm.eip712HashTypedData(json));
    }

    function test_invoiceId_TypeHashMatchesSpec() public view {
        assertEq(registry.INVOICE_TYPEHASH(), keccak256(bytes(INVOICE_TYPE)));
    }

    function test_invoiceId_DomainMatchesSpec() public view {
        (
            bytes1 fields,
            string memory name,
            string memory version,
            uint256 chainId,
            address verifyingContract,
            bytes32 salt,
            uint256[] memory extensions
        ) = registry.eip712Domain();
        assertEq(fields, hex"0f");
        assertEq(name, REGISTRY_NAME);
        assertEq(version, REGISTRY_VERSION);
        assertEq(chainId, block.chainid);
        assertEq(verifyingContract, address(registry));
        assertEq(salt, bytes32(0));
        assertEq(extensions.length, 0);
    }

    function test_invoiceId_HashesNetworkString() public view {
        // The network is a string member: changing it changes the id, whether or not it is this chain's.
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        IInvoiceRegistry.Invoice memory base = _invoice();
        base.network = "eip155:8453";
        assertEq(registry.invoiceId(base), _invoiceId(base));
        assertTrue(registry.invoiceId(base) != registry.invoiceId(invoice));
    }

    function test_invoiceId_DependsOnRegistryAddress() public {
        InvoiceRegistry otherRegistry = new InvoiceRegistry(owner);
        IInvoiceRegistry.Invoice memory invoice = _invoice();

        assertEq(otherRegistry.invoiceId(invoice), _invoiceIdIn(invoice, block.chainid, address(otherRegistry)));
        assertTrue(otherRegistry.invoiceId(invoice) != registry.invoiceId(invoice));
    }

    function test_invoiceId_DependsOnChainId() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes32 before = registry.invoiceId(invoice);

        vm.chainId(8453);

        assertEq(registry.invoiceId(invoice), _invoiceIdIn(invoice, 8453, address(registry)));
        assertTrue(registry.invoiceId(invoice) != before);
    }

    function test_invoiceId_DoesNotDependOnIssuerSignatureOrState() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes32 before = registry.invoiceId(invoice);
        vm.prank(issuer);
        registry.cancel(invoice);
        vm.warp(START + 365 days);
        assertEq(registry.invoiceId(invoice), before);
    }

    function testFuzz_invoiceId_MatchesIndependentComputation(
        address anyIssuer,
        address anyPayee,
        address anyToken,
        uint256 amount,
        uint256 deadline,
        bytes32 resource,
        string memory network,
        bytes32 salt
    ) public view {
        IInvoiceRegistry.Invoice memory invoice = IInvoiceRegistry.Invoice({
            issuer: anyIssuer,
            payee: anyPayee,
            token: anyToken,
            amount: amount,
            deadline: deadline,
            resource: resource,
            network: network,
            salt: salt
        });
        assertEq(registry.invoiceId(invoice), _invoiceId(invoice));
    }

    function testFuzz_invoiceId_EveryFieldMatters(uint256 field, uint128 delta) public view {
        vm.assume(delta != 0);
        IInvoiceRegistry.Invoice memory base = _invoice();
        IInvoiceRegistry.Invoice memory changed = _invoice();
        field = bound(field, 0, 7);
        if (field == 0) changed.issuer = address(uint160(base.issuer) ^ uint160(delta));
        if (field == 1) changed.payee = address(uint160(base.payee) ^ uint160(delta));
        if (field == 2) changed.token = address(uint160(base.token) ^ uint160(delta));
        if (field == 3) changed.amount = base.amount + uint256(delta);
        if (field == 4) changed.deadline = base.deadline + uint256(delta);
        if (field == 5) changed.resource = base.resource ^ bytes32(uint256(delta));
        if (field == 6) changed.network = string.concat(base.network, vm.toString(delta));
        if (field == 7) changed.salt = base.salt ^ bytes32(uint256(delta));
        assertTrue(registry.invoiceId(changed) != registry.invoiceId(base));
        assertEq(registry.invoiceId(changed), _invoiceId(changed));
    }

    // ---------------------------------------------------------------------------------------------------
    // recordOf / isPaid
    // ---------------------------------------------------------------------------------------------------

    function test_recordOf_ZeroForUnknownInvoice() public view {
        _assertUnpaid(_invoiceId(_invoice()));
        _assertUnpaid(bytes32(0));
    }

    function test_recordOf_ReflectsEachPath() public {
        // Allowance
        IInvoiceRegistry.Invoice memory viaAllowance = _invoice();
        viaAllowance.salt = "allowance";
        vm.startPrank(payer);
        token.approve(address(registry), AMOUNT);
        registry.pay(viaAllowance, _signInvoice(viaAllowance));
        vm.stopPrank();
        _assertPaid(_invoiceId(viaAllowance), payer, IInvoiceRegistry.Path.Allowance);

        // Permit, a bit later
        vm.warp(START + 10);
        IInvoiceRegistry.Invoice memory viaPermit = _invoice();
        viaPermit.salt = "permit";
        bytes memory permit = _signPermit(payerKey, payer, AMOUNT, START + 10);
        bytes memory permitInvoiceSignature = _signInvoice(viaPermit);
        vm.prank(payer);
        registry.payWithPermit(viaPermit, permitInvoiceSignature, START + 10, permit);
        _assertPaid(_invoiceId(viaPermit), payer, IInvoiceRegistry.Path.Permit);

        // Authorization
        vm.warp(START + 20);
        IInvoiceRegistry.Invoice memory viaAuthorization = _invoice();
        viaAuthorization.salt = "authorization";
        (uint256 validAfter, uint256 validBefore) = _window();
        bytes memory authorization = _signReceiveAuthorization(
            payerKey, payer, address(registry), AMOUNT, validAfter, validBefore, _invoiceId(viaAuthorization)
        );
        registry.payWithAuthorization(
            viaAuthorization, _signInvoice(viaAuthorization), payer, validAfter, validBefore, authorization
        );
        _assertPaid(_invoiceId(viaAuthorization), payer, IInvoiceRegistry.Path.Authorization);

        // Escrow settler
        vm.warp(START + 30);
        _fundSettler(IInvoiceRegistry.Path.Escrow, AMOUNT);
        IInvoiceRegistry.Invoice memory viaEscrow = _invoice();
        viaEscrow.salt = "escrow";
        settler.settle(viaEscrow, _signInvoice(viaEscrow), stranger);
        _assertPaid(_invoiceId(viaEscrow), stranger, IInvoiceRegistry.Path.Escrow);

        // Earlier records keep their time.
        assertEq(uint256(registry.recordOf(_invoiceId(viaAllowance)).paidAt), START);
        assertEq(uint256(registry.recordOf(_invoiceId(viaPermit)).paidAt), START + 10);
        assertEq(token.balanceOf(payee), 4 * AMOUNT);
    }

    function test_isPaid_FalseForUnpaidAndCancelled() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes32 id = _invoiceId(invoice);
        assertFalse(registry.isPaid(id));
        vm.prank(issuer);
        registry.cancel(invoice);
        assertFalse(registry.isPaid(id));
    }

    function testFuzz_isPaid_FalseForAnyUnknownId(bytes32 id) public view {
        assertFalse(registry.isPaid(id));
        _assertUnpaid(id);
    }

    // ---------------------------------------------------------------------------------------------------
    // network
    // ---------------------------------------------------------------------------------------------------

    function test_network_IsCaip2OfThisChain() public view {
        assertEq(block.chainid, 31_337);
        assertEq(registry.network(), "eip155:31337");
    }

    function test_network_FollowsChainId() public {
        vm.chainId(8453);
        assertEq(registry.network(), "eip155:8453");
        vm.chainId(1);
        assertEq(registry.network(), "eip155:1");
    }

    function testFuzz_network_AnyChainId(uint64 chainId) public {
        vm.assume(chainId != 0);
        vm.chainId(chainId);
        assertEq(registry.network(), _caip2(chainId));
    }

    // ---------------------------------------------------------------------------------------------------
    // settlerKind / owner
    // ---------------------------------------------------------------------------------------------------

    function test_settlerKind_NoneByDefault() public view {
        assertEq(uint8(registry.settlerKind(address(settler))), uint8(IInvoiceRegistry.Path.None));
        assertEq(uint8(registry.settlerKind(owner)), uint8(IInvoiceRegistry.Path.None));
        assertEq(uint8(registry.settlerKind(address(0))), uint8(IInvoiceRegistry.Path.None));
    }

    function test_settlerKind_ReflectsSetSettler() public {
        vm.startPrank(owner);
        registry.setSettler(address(settler), IInvoiceRegistry.Path.Escrow);
        assertEq(uint8(registry.settlerKind(address(settler))), uint8(IInvoiceRegistry.Path.Escrow));
        registry.setSettler(address(settler), IInvoiceRegistry.Path.CrossChain);
        assertEq(uint8(registry.settlerKind(address(settler))), uint8(IInvoiceRegistry.Path.CrossChain));
        registry.setSettler(address(settler), IInvoiceRegistry.Path.None);
        assertEq(uint8(registry.settlerKind(address(settler))), uint8(IInvoiceRegistry.Path.None));
        vm.stopPrank();
    }

    function testFuzz_settlerKind_NoneForAnyAddress(address anyone) public view {
        assertEq(uint8(registry.settlerKind(anyone)), uint8(IInvoiceRegistry.Path.None));
    }

    function test_owner_IsConstructorArgument() public view {
        assertEq(registry.owner(), owner);
        assertEq(registry.pendingOwner(), address(0));
    }
}
