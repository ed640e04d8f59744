// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IPaymentEscrow} from "../../contracts/interfaces/IPaymentEscrow.sol";
import {IWorkflowOperator} from "../../contracts/interfaces/IWorkflowOperator.sol";
import {WorkflowOperatorBase} from "../base/WorkflowOperatorBase.sol";
import {IReceiver} from "@chainlink/contracts/src/v0.8/keystone/interfaces/IReceiver.sol";

contract WorkflowOperatorViewsTest is WorkflowOperatorBase {
    function test_supportsIReceiverAndERC165() public view {
        assertTrue(workflowOperator.supportsInterface(0x805f2132));
        assertEq(type(IReceiver).interfaceId, bytes4(0x805f2132));
        assertTrue(workflowOperator.supportsInterface(0x01ffc9a7));
        assertFalse(workflowOperator.supportsInterface(0xffffffff));
    }

    function test_configuration() public view {
        assertEq(address(workflowOperator.escrow()), address(escrow));
        assertEq(workflowOperator.forwarder(), address(forwarder));
        (address owner_, bytes10 name, bytes32 id) = workflowOperator.workflow();
        assertEq(owner_, workflowOwner);
        assertEq(name, WORKFLOW_NAME);
        assertEq(id, bytes32(0));
    }

    function test_reportDelivery_byThePayerOrGivingUpByThePayee() public {
        IPaymentEscrow.PaymentTerms memory terms = _operatedTerms();
        bytes32 id = _paymentId(terms);
        vm.expectEmit(address(workflowOperator));
        emit IWorkflowOperator.DeliveryReported(id, payer, true, terms);
        vm.prank(payer);
        workflowOperator.reportDelivery(terms, true);
        vm.expectEmit(address(workflowOperator));
        emit IWorkflowOperator.DeliveryReported(id, payee, false, terms);
        vm.prank(payee);
        workflowOperator.reportDelivery(terms, false);
    }

    function test_reportDelivery_byAnyoneElse_reverts() public {
        IPaymentEscrow.PaymentTerms memory terms = _operatedTerms();
        vm.prank(payee);
        vm.expectRevert(abi.encodeWithSelector(IWorkflowOperator.NotAParty.selector, payee));
        workflowOperator.reportDelivery(terms, true);
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(IWorkflowOperator.NotAParty.selector, payer));
        workflowOperator.reportDelivery(terms, false);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(IWorkflowOperator.NotAParty.selector, stranger));
        workflowOperator.reportDelivery(terms, true);
    }
}
