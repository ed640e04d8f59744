// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IPaymentEscrow} from "../../contracts/interfaces/IPaymentEscrow.sol";
import {IWorkflowOperator} from "../../contracts/interfaces/IWorkflowOperator.sol";
import {WorkflowOperatorBase} from "../base/WorkflowOperatorBase.sol";

/// @notice Gas of a CRE report forwarded by Chainlink's KeystoneForwarder to the workflow operator, which
/// captures an escrowed payment to the payee: with a DON of 4 signers (f = 1, 2 signatures) and of 31
/// (f = 10, 11 signatures). Recorded in snapshots/WorkflowOperator.json; the payee already holds tokens.
contract WorkflowOperatorGasTest is WorkflowOperatorBase {
    IPaymentEscrow.PaymentTerms internal terms;

    function setUp() public override {
        super.setUp();
        vm.prank(owner);
        usdc.mint(payee, 1);
        terms = _operatedTerms();
        _authorize(terms, AMOUNT);
    }

    function _capture(string memory name) internal {
        bytes memory raw = _rawReport(abi.encode(_instruction(IWorkflowOperator.Action.Capture, terms)));
        bytes memory context = _context();
        bytes[] memory sigs = _sign(raw, context, (donKeys.length - 1) / 3 + 1);
        forwarder.report(address(workflowOperator), raw, context, sigs);
        vm.snapshotGasLastCall("WorkflowOperator", name);
        assertEq(usdc.balanceOf(payee), AMOUNT + 1);
    }

    function test_gas_report_capture_f1() public {
        _capture("report_capture_f1");
    }

    function test_gas_report_capture_f10() public {
        _configure(10);
        _capture("report_capture_f10");
    }
}
