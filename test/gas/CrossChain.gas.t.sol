// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {LocalCcipRouter} from "../../contracts/crosschain/local/LocalCcipRouter.sol";
import {ICrossChainInvoice} from "../../contracts/interfaces/ICrossChainInvoice.sol";
import {CrossChainBase} from "../base/CrossChainBase.sol";
import {Client} from "@chainlink/contracts-ccip/contracts/libraries/Client.sol";

/// @notice Gas of a cross-chain invoice payment, recorded in snapshots/CrossChain.json: the send on the source
/// (the payer's authorization, the burn in the pool, the local router's message) and, on the destination,
/// the receiver's own execution (what the signed CCIP gas limit must cover) and its refunds. The payee already
/// holds a balance, as a seller does after its first sale.
contract CrossChainGasTest is CrossChainBase {
    bytes32 internal constant ID = keccak256("gas");

    function setUp() public override {
        super.setUp();
        vm.prank(owner);
        b.token.mint(payee, 1);
    }

    function test_gas_payWithAuthorization() public {
        ICrossChainInvoice.CrossChainPayment memory p = _payment();
        bytes memory authorization = _authorization(p);
        vm.prank(relayer);
        sender.payWithAuthorization(B, address(receiver), p, authorization, GAS_LIMIT);
        vm.snapshotGasLastCall("CrossChain", "CrossChainInvoicePayer.payWithAuthorization");
    }

    function test_gas_pay() public {
        ICrossChainInvoice.CrossChainPayment memory p = _payment();
        vm.prank(payer);
        a.token.approve(address(sender), AMOUNT);
        vm.prank(payer);
        sender.pay(B, address(receiver), p, GAS_LIMIT);
        vm.snapshotGasLastCall("CrossChain", "CrossChainInvoicePayer.pay (allowance)");
    }

    function test_gas_ccipReceive_paid() public {
        Client.Any2EVMMessage memory m = _raw(ID, _payment(), address(b.token), AMOUNT);
        vm.prank(owner);
        b.token.mint(address(receiver), AMOUNT);
        vm.prank(address(b.router));
        receiver.ccipReceive(m);
        vm.snapshotGasLastCall("CrossChain", "CrossChainInvoiceReceiver.ccipReceive (paid)");
    }

    function test_gas_ccipReceive_refundable() public {
        Client.Any2EVMMessage memory m = _raw(ID, _payment(AMOUNT, block.timestamp - 1), address(b.token), AMOUNT);
        vm.prank(owner);
        b.token.mint(address(receiver), AMOUNT);
        vm.prank(address(b.router));
        receiver.ccipReceive(m);
        vm.snapshotGasLastCall("CrossChain", "CrossChainInvoiceReceiver.ccipReceive (expired: refundable)");
    }

    function test_gas_execute_paid() public {
        LocalCcipRouter.Message memory message = _send(_payment());
        b.router.execute(message);
        vm.snapshotGasLastCall("CrossChain", "LocalCcipRouter.execute (mint and pay)");
    }

    function test_gas_refund() public {
        _deliver(_raw(ID, _payment(AMOUNT, block.timestamp - 1), address(b.token), AMOUNT));
        receiver.refund(ID);
        vm.snapshotGasLastCall("CrossChain", "CrossChainInvoiceReceiver.refund");
    }

    function test_gas_refundTo() public {
        _deliver(_raw(ID, _payment(AMOUNT, block.timestamp - 1), address(b.token), AMOUNT));
        vm.prank(refundTo);
        receiver.refundTo(ID, stranger);
        vm.snapshotGasLastCall("CrossChain", "CrossChainInvoiceReceiver.refundTo");
    }
}
