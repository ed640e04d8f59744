// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IInvoiceRegistry} from "../../contracts/interfaces/IInvoiceRegistry.sol";
import {InvoiceRegistryBase} from "../base/InvoiceRegistryBase.sol";
import {MockSettler} from "../mocks/MockSettler.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

contract SetSettlerTest is InvoiceRegistryBase {
    function _setSettler(address target, IInvoiceRegistry.Path kind) internal {
        vm.prank(owner);
        registry.setSettler(target, kind);
    }

    function test_setSettler_AllowsEscrow() public {
        vm.expectEmit(address(registry));
        emit IInvoiceRegistry.SettlerSet(address(settler), IInvoiceRegistry.Path.Escrow);
        _setSettler(address(settler), IInvoiceRegistry.Path.Escrow);

        assertEq(uint8(registry.settlerKind(address(settler))), uint8(IInvoiceRegistry.Path.Escrow));
    }

    function test_setSettler_AllowsCrossChain() public {
        vm.expectEmit(address(registry));
        emit IInvoiceRegistry.SettlerSet(address(settler), IInvoiceRegistry.Path.CrossChain);
        _setSettler(address(settler), IInvoiceRegistry.Path.CrossChain);

        assertEq(uint8(registry.settlerKind(address(settler))), uint8(IInvoiceRegistry.Path.CrossChain));
    }

    function test_setSettler_ChangesKind() public {
        _setSettler(address(settler), IInvoiceRegistry.Path.Escrow);
        _setSettler(address(settler), IInvoiceRegistry.Path.CrossChain);
        assertEq(uint8(registry.settlerKind(address(settler))), uint8(IInvoiceRegistry.Path.CrossChain));
    }

    function test_setSettler_Revokes() public {
        _setSettler(address(settler), IInvoiceRegistry.Path.Escrow);

        vm.expectEmit(address(registry));
        emit IInvoiceRegistry.SettlerSet(address(settler), IInvoiceRegistry.Path.None);
        _setSettler(address(settler), IInvoiceRegistry.Path.None);

        assertEq(uint8(registry.settlerKind(address(settler))), uint8(IInvoiceRegistry.Path.None));
    }

    function test_setSettler_RevokedSettlerCanNoLongerSettle() public {
        _fundSettler(IInvoiceRegistry.Path.Escrow, 2 * AMOUNT);
        IInvoiceRegistry.Invoice memory first = _invoice();
        settler.settle(first, _signInvoice(first), payer);
        _setSettler(address(settler), IInvoiceRegistry.Path.None);
        IInvoiceRegistry.Invoice memory second = _invoice();
        second.salt = keccak256("second");
        bytes memory issuerSignature = _signInvoice(second);

        vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.Unauthorized.selector, address(settler)));
        settler.settle(second, issuerSignature, payer);

        assertEq(token.balanceOf(address(settler)), AMOUNT);
        _assertUnpaid(_invoiceId(second));
        // A past settlement stays recorded.
        assertTrue(registry.isPaid(_invoiceId(first)));
    }

    function test_setSettler_RevokesAnEoaOrUnknownAddress() public {
        // Revoking needs no code: it only clears the mapping.
        vm.expectEmit(address(registry));
        emit IInvoiceRegistry.SettlerSet(stranger, IInvoiceRegistry.Path.None);
        _setSettler(stranger, IInvoiceRegistry.Path.None);
        assertEq(uint8(registry.settlerKind(stranger)), uint8(IInvoiceRegistry.Path.None));
    }

    function test_setSettler_RevertWhen_CallerIsNotOwner() public {
        address[4] memory callers = [stranger, issuer, payer, address(settler)];
        for (uint256 i; i < callers.length; ++i) {
            vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, callers[i]));
            vm.prank(callers[i]);
            registry.setSettler(address(settler), IInvoiceRegistry.Path.Escrow);
        }
        assertEq(uint8(registry.settlerKind(address(settler))), uint8(IInvoiceRegistry.Path.None));
    }

    function test_setSettler_RevertWhen_NonOwnerRevokes() public {
        _setSettler(address(settler), IInvoiceRegistry.Path.Escrow);

        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, address(settler)));
        vm.prank(address(settler));
        registry.setSettler(address(settler), IInvoiceRegistry.Path.None);

        assertEq(uint8(registry.settlerKind(address(settler))), uint8(IInvoiceRegistry.Path.Escrow));
    }

    function test_setSettler_OwnershipTransferIsTwoStep() public {
        address newOwner = makeAddr("new-owner");
        vm.prank(owner);
        registry.transferOwnership(newOwner);

        // Pending owner has no power yet; the current owner still has.
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, newOwner));
        vm.prank(newOwner);
        registry.setSettler(address(settler), IInvoiceRegistry.Path.Escrow);
        _setSettler(address(settler), IInvoiceRegistry.Path.Escrow);

        vm.prank(newOwner);
        registry.acceptOwnership();

        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, owner));
        vm.prank(owner);
        registry.setSettler(address(settler), IInvoiceRegistry.Path.None);
        vm.prank(newOwner);
        registry.setSettler(address(settler), IInvoiceRegistry.Path.None);
        assertEq(uint8(registry.settlerKind(address(settler))), uint8(IInvoiceRegistry.Path.None));
    }

    function test_setSettler_RevertWhen_SettlerIsEoa() public {
        IInvoiceRegistry.Path[2] memory kinds = [IInvoiceRegistry.Path.Escrow, IInvoiceRegistry.Path.CrossChain];
        for (uint256 i; i < kinds.length; ++i) {
            vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.InvalidSettler.selector, stranger));
            _setSettler(stranger, kinds[i]);
        }
        assertEq(uint8(registry.settlerKind(stranger)), uint8(IInvoiceRegistry.Path.None));
    }

    function test_setSettler_RevertWhen_SettlerIsZero() public {
        vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.InvalidSettler.selector, address(0)));
        _setSettler(address(0), IInvoiceRegistry.Path.Escrow);
    }

    function test_setSettler_RevertWhen_KindIsADirectPath() public {
        IInvoiceRegistry.Path[3] memory kinds =
            [IInvoiceRegistry.Path.Authorization, IInvoiceRegistry.Path.Permit, IInvoiceRegistry.Path.Allowance];
        for (uint256 i; i < kinds.length; ++i) {
            vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.InvalidSettlerKind.selector, kinds[i]));
            _setSettler(address(settler), kinds[i]);
            // The kind is refused before the address is looked at.
            vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.InvalidSettlerKind.selector, kinds[i]));
            _setSettler(stranger, kinds[i]);
        }
        assertEq(uint8(registry.settlerKind(address(settler))), uint8(IInvoiceRegistry.Path.None));
    }

    function test_setSettler_RevertWhen_KindOutOfRange() public {
        // Not a Path at all: the ABI decoder refuses it.
        vm.prank(owner);
        (bool ok,) =
            address(registry).call(abi.encodeWithSelector(registry.setSettler.selector, address(settler), uint256(6)));
        assertFalse(ok);
        assertEq(uint8(registry.settlerKind(address(settler))), uint8(IInvoiceRegistry.Path.None));
    }

    function test_setSettler_OwnerCannotMarkInvoicesPaid() public {
        // The owner's only power is to allow settlers; it cannot settle itself.
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory issuerSignature = _signInvoice(invoice);

        vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.Unauthorized.selector, owner));
        vm.prank(owner);
        registry.settle(invoice, issuerSignature, payer);
    }

    function testFuzz_setSettler_RevertWhen_CallerIsNotOwner(address caller, uint8 rawKind) public {
        vm.assume(caller != owner);
        assumeNotForgeAddress(caller);
        IInvoiceRegistry.Path kind = IInvoiceRegistry.Path(bound(rawKind, 0, 5));

        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, caller));
        vm.prank(caller);
        registry.setSettler(address(settler), kind);
    }

    function testFuzz_setSettler_AnyContractAsEscrowOrCrossChain(bool crossChain) public {
        MockSettler another = new MockSettler(registry);
        IInvoiceRegistry.Path kind = crossChain ? IInvoiceRegistry.Path.CrossChain : IInvoiceRegistry.Path.Escrow;
        _setSettler(address(another), kind);
        assertEq(uint8(registry.settlerKind(address(another))), uint8(kind));
        assertEq(uint8(registry.settlerKind(address(settler))), uint8(IInvoiceRegistry.Path.None));
    }
}
