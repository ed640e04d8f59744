// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {WorkflowOperator} from "../../contracts/cre/WorkflowOperator.sol";
import {IPaymentEscrow} from "../../contracts/interfaces/IPaymentEscrow.sol";
import {IWorkflowOperator} from "../../contracts/interfaces/IWorkflowOperator.sol";
import {WorkflowOperatorBase} from "../base/WorkflowOperatorBase.sol";

contract WorkflowOperatorConstructorTest is WorkflowOperatorBase {
    function test_constructor_zeroEscrow_reverts() public {
        vm.expectRevert(IWorkflowOperator.ZeroEscrow.selector);
        new WorkflowOperator(IPaymentEscrow(address(0)), address(forwarder), workflowOwner, WORKFLOW_NAME, 0);
    }

    function test_constructor_zeroForwarder_reverts() public {
        vm.expectRevert(IWorkflowOperator.ZeroForwarder.selector);
        new WorkflowOperator(escrow, address(0), workflowOwner, WORKFLOW_NAME, 0);
    }

    function test_constructor_zeroWorkflowOwner_reverts() public {
        vm.expectRevert(IWorkflowOperator.ZeroWorkflowOwner.selector);
        new WorkflowOperator(escrow, address(forwarder), address(0), WORKFLOW_NAME, 0);
    }

    /// @dev A zero name or id stays allowed: the id zero means "any id", and the name is whatever the
    /// forwarder reports for the owner's workflow.
    function test_constructor_zeroNameAndId_areAccepted() public {
        WorkflowOperator created = new WorkflowOperator(escrow, address(forwarder), workflowOwner, bytes10(0), 0);
        (address owner_, bytes10 name, bytes32 id) = created.workflow();
        assertEq(owner_, workflowOwner);
        assertEq(name, bytes10(0));
        assertEq(id, bytes32(0));
    }
}
