// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IBatchSettlement} from "../../contracts/interfaces/IBatchSettlement.sol";
import {BatchSettlementBase} from "../base/BatchSettlementBase.sol";

contract RefundTest is BatchSettlementBase {
    bytes32 internal id;

    function setUp() public override {
        super.setUp();
        id = _open(DEPOSIT);
    }

    function test_refund_byTheReceiverReturnsAtMostTheUnclaimed() public {
        _claim(_row(_config(), 4e6, 4e6, sessionKey));
        vm.prank(receiver);
        settlement.refund(_config(), DEPOSIT);
        assertEq(usdc.balanceOf(payer), INITIAL_BALANCE - 4e6);
        assertEq(settlement.refundNonce(id), 1);
        settlement.settle(receiver, address(usdc));
        assertEq(usdc.balanceOf(receiver), 4e6, "claimed funds stay the receiver's");
    }

    function test_refundWithSignature_anyoneMaySubmitTheAuthorizersRefund() public {
        bytes memory signature = _refundSignature(id, 0, 2e6, authorizerKey);
        vm.expectEmit(SETTLEMENT);
        emit IBatchSettlement.Refunded(id, payer, 0, 2e6);
        vm.prank(relayer);
        settlement.refundWithSignature(_config(), 2e6, 0, signature);
        assertEq(usdc.balanceOf(payer), INITIAL_BALANCE - DEPOSIT + 2e6);
        assertEq(
            settlement.getRefundDigest(id, 0, 2e6),
            _digest(_domainSeparator(), keccak256(abi.encode(REFUND_TYPEHASH, id, 0, uint128(2e6))))
        );
    }

    function test_refundWithSignature_replayIsRefused() public {
        bytes memory signature = _refundSignature(id, 0, 2e6, authorizerKey);
        settlement.refundWithSignature(_config(), 2e6, 0, signature);
        vm.expectRevert(abi.encodeWithSelector(IBatchSettlement.InvalidRefundNonce.selector, 1, 0));
        settlement.refundWithSignature(_config(), 2e6, 0, signature);
        assertEq(usdc.balanceOf(payer), INITIAL_BALANCE - DEPOSIT + 2e6);
    }

    function test_refundWithSignature_otherSignerIsRefused() public {
        bytes memory signature = _refundSignature(id, 0, 2e6, payerKey);
        vm.expectRevert(IBatchSettlement.InvalidAuthorizerSignature.selector);
        settlement.refundWithSignature(_config(), 2e6, 0, signature);
        assertEq(_balance(id), DEPOSIT);
    }

    function test_refund_bySomeoneElseIsRefused() public {
        vm.expectRevert(abi.encodeWithSelector(IBatchSettlement.NotReceiverOrAuthorizer.selector, payer));
        vm.prank(payer);
        settlement.refund(_config(), DEPOSIT);
        assertEq(_balance(id), DEPOSIT);
    }

    function test_refund_shrinksAPendingWithdrawal() public {
        vm.prank(payer);
        settlement.initiateWithdraw(_config(), 5e6);
        vm.prank(receiver);
        settlement.refund(_config(), 2e6);
        (uint128 pending,) = settlement.pendingWithdrawals(id);
        assertEq(pending, 3e6);
    }
}
