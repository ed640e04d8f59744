// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IInvoiceRegistry} from "../../contracts/interfaces/IInvoiceRegistry.sol";
import {InvoiceRegistry} from "../../contracts/registry/InvoiceRegistry.sol";
import {InvoiceRegistryHandler} from "./handlers/InvoiceRegistryHandler.sol";
import {Test} from "forge-std/Test.sol";
import {console2} from "forge-std/console2.sol";

/// @notice Invariants of the registry over random sequences of invoices issued, paid through every path,
/// cancelled, paid again, paid with bad data, and expired by time warps.
contract InvoiceRegistryInvariantTest is Test {
    InvoiceRegistry internal registry;
    InvoiceRegistryHandler internal handler;
    address internal owner = makeAddr("owner");

    function setUp() public {
        vm.warp(1_750_000_000);
        registry = new InvoiceRegistry(owner);
        handler = new InvoiceRegistryHandler(registry);
        vm.startPrank(owner);
        registry.setSettler(address(handler.escrowSettler()), IInvoiceRegistry.Path.Escrow);
        registry.setSettler(address(handler.crossChainSettler()), IInvoiceRegistry.Path.CrossChain);
        vm.stopPrank();

        bytes4[] memory selectors = new bytes4[](11);
        selectors[0] = InvoiceRegistryHandler.issue.selector;
        selectors[1] = InvoiceRegistryHandler.payWithAuthorization.selector;
        selectors[2] = InvoiceRegistryHandler.pay.selector;
        selectors[3] = InvoiceRegistryHandler.payWithPermit.selector;
        selectors[4] = InvoiceRegistryHandler.settle.selector;
        selectors[5] = InvoiceRegistryHandler.cancel.selector;
        selectors[6] = InvoiceRegistryHandler.payAgain.selector;
        selectors[7] = InvoiceRegistryHandler.payInvalid.selector;
        selectors[8] = InvoiceRegistryHandler.warp.selector;
        selectors[9] = InvoiceRegistryHandler.payAgain.selector;
        selectors[10] = InvoiceRegistryHandler.payExpired.selector;
        targetContract(address(handler));
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
    }

    /// @notice (a) An invoice is paid at most once.
    function invariant_paidAtMostOnce() public view {
        InvoiceRegistryHandler.InvoiceView[] memory invoices = handler.invoices();
        for (uint256 i; i < invoices.length; ++i) {
            assertLe(invoices[i].ghost.successfulPayments, 1, "paid twice");
        }
    }

    /// @notice (b) What the registry records as paid is exactly what moved to the payees, and each payee's
    /// balance is the sum of its paid invoices.
    function invariant_recordedPaymentsMatchTransfers() public view {
        InvoiceRegistryHandler.InvoiceView[] memory invoices = handler.invoices();
        address[] memory payees = handler.payees();
        uint256[] memory recordedPerPayee = new uint256[](payees.length);
        uint256 recorded;
        for (uint256 i; i < invoices.length; ++i) {
            if (!registry.isPaid(invoices[i].id)) continue;
            recorded += invoices[i].amount;
            for (uint256 k; k < payees.length; ++k) {
                if (payees[k] == invoices[i].payee) recordedPerPayee[k] += invoices[i].amount;
            }
        }
        assertEq(recorded, handler.ghostPaidTotal(), "recorded == ghost payments");
        assertEq(recorded, handler.ghostMovedToPayees(), "recorded == moved to payees");
        uint256 balances;
        for (uint256 k; k < payees.length; ++k) {
            uint256 balance = handler.usdc().balanceOf(payees[k]);
            assertEq(balance, recordedPerPayee[k], "payee balance");
            assertEq(balance, handler.ghostPayeeReceived(payees[k]), "payee ghost");
            balances += balance;
        }
        assertEq(balances, recorded, "sum of payee balances");
    }

    /// @notice (c) The registry never holds funds.
    function invariant_registryHoldsNothing() public view {
        assertEq(handler.usdc().balanceOf(address(registry)), 0, "registry balance");
        assertEq(handler.usdc().allowance(address(handler.escrowSettler()), address(registry)), 0, "allowance");
    }

    /// @notice (d) A cancelled invoice is never paid, and a paid invoice never becomes cancelled: no invoice
    /// saw both a successful payment and a successful cancellation (the registry's own record of each invoice
    /// is checked against the ghost in (e)).
    function invariant_cancelledAndPaidExclusive() public view {
        InvoiceRegistryHandler.InvoiceView[] memory invoices = handler.invoices();
        for (uint256 i; i < invoices.length; ++i) {
            InvoiceRegistryHandler.Ghost memory ghost = invoices[i].ghost;
            assertFalse(ghost.successfulPayments != 0 && ghost.successfulCancels != 0, "paid and cancelled");
            assertLe(ghost.successfulCancels, 1, "cancelled twice");
        }
    }

    /// @notice (e) The registry's record of every invoice (status, path, payer, time) is the ghost record.
    function invariant_recordMatchesGhost() public view {
        InvoiceRegistryHandler.InvoiceView[] memory invoices = handler.invoices();
        for (uint256 i; i < invoices.length; ++i) {
            InvoiceRegistryHandler.Ghost memory ghost = invoices[i].ghost;
            IInvoiceRegistry.Record memory record = registry.recordOf(invoices[i].id);
            assertEq(uint8(record.status), uint8(ghost.status), "status");
            assertEq(uint8(record.path), uint8(ghost.path), "path");
            assertEq(record.payer, ghost.payer, "payer");
            assertEq(record.paidAt, ghost.recordedAt, "paidAt");
        }
    }

    /// @notice Every operation the handler expected to succeed did, every one it expected to fail did, the
    /// handler's EIP-712 invoice ids are the registry's, and every payee got exactly the invoice amount.
    function invariant_noUnexpectedOutcome() public view {
        assertEq(handler.unexpectedFailures(), 0, vm.toString(handler.lastUnexpected()));
        assertEq(handler.unexpectedSuccesses(), 0, vm.toString(handler.lastUnexpected()));
        assertEq(handler.mismatches(), 0, "mismatches");
    }

    /// @notice Logs how many calls of each kind were made and how many did what they meant to, so that a run
    /// that does nothing but revert shows.
    function afterInvariant() public view {
        bytes32[11] memory ops = [
            // casting to 'bytes32' is safe: a short string literal, left-aligned and zero-padded
            // forge-lint: disable-next-line(unsafe-typecast)
            bytes32("issue"),
            "payWithAuthorization",
            "pay",
            "payWithPermit",
            "settle",
            "cancel",
            "payAgain",
            "payInvalid",
            "payExpired",
            "rogueSettle",
            "warp"
        ];
        console2.log("invoices", handler.invoiceCount());
        for (uint256 i; i < ops.length; ++i) {
            console2.log(_name(ops[i]), handler.calls(ops[i]), handler.successes(ops[i]));
        }
    }

    function _name(bytes32 op) internal pure returns (string memory) {
        uint256 length;
        while (length < 32 && op[length] != 0) ++length;
        bytes memory name = new bytes(length);
        for (uint256 i; i < length; ++i) {
            name[i] = op[i];
        }
        return string(name);
    }
}
