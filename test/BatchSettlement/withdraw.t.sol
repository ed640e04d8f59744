// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IBatchSettlement} from "../../contracts/interfaces/IBatchSettlement.sol";
import {BatchSettlementBase} from "../base/BatchSettlementBase.sol";

contract WithdrawTest is BatchSettlementBase {
    bytes32 internal id;

    function setUp() public override {
        super.setUp();
        id = _open(DEPOSIT);
    }

    function test_withdraw_afterTheDelayReturnsTheUnclaimedEscrow() public {
        vm.prank(payer);
        settlement.initiateWithdraw(_config(), DEPOSIT);
        vm.warp(START + DELAY);
        vm.expectEmit(SETTLEMENT);
        emit IBatchSettlement.WithdrawFinalized(id, payer, DEPOSIT);
        vm.prank(payer);
        settlement.finalizeWithdraw(_config());
        assertEq(usdc.balanceOf(payer), INITIAL_BALANCE);
        assertEq(_balance(id), 0);
    }

    function test_withdraw_aClaimBeforeFinalizingAlwaysWins() public {
        vm.prank(payer);
        settlement.initiateWithdraw(_config(), DEPOSIT);
        vm.warp(START + DELAY - 1);
        _claim(_row(_config(), 7e6, 7e6, sessionKey));
        vm.warp(START + DELAY);
        vm.prank(payer);
        settlement.finalizeWithdraw(_config());
        assertEq(usdc.balanceOf(payer), INITIAL_BALANCE - 7e6, "only the unclaimed 3 USDC come back");
        settlement.settle(receiver, address(usdc));
        assertEq(usdc.balanceOf(receiver), 7e6);
        assertEq(usdc.balanceOf(SETTLEMENT), 0);
    }

    function test_withdraw_beforeTheDelayIsRefused() public {
        vm.prank(payer);
        settlement.initiateWithdraw(_config(), DEPOSIT);
        vm.warp(START + DELAY - 1);
        vm.expectRevert(
            abi.encodeWithSelector(IBatchSettlement.WithdrawNotReady.selector, START + DELAY, START + DELAY - 1)
        );
        vm.prank(payer);
        settlement.finalizeWithdraw(_config());
        assertEq(_balance(id), DEPOSIT);
    }

    function test_withdraw_bySomeoneElseIsRefused() public {
        vm.expectRevert(abi.encodeWithSelector(IBatchSettlement.NotPayerOrAuthorizer.selector, receiver));
        vm.prank(receiver);
        settlement.initiateWithdraw(_config(), DEPOSIT);
        vm.prank(payer);
        settlement.initiateWithdraw(_config(), DEPOSIT);
        vm.warp(START + DELAY);
        vm.expectRevert(abi.encodeWithSelector(IBatchSettlement.NotPayerOrAuthorizer.selector, stranger));
        vm.prank(stranger);
        settlement.finalizeWithdraw(_config());
        assertEq(_balance(id), DEPOSIT);
    }

    function test_withdraw_moreThanTheUnclaimedIsRefused() public {
        _claim(_row(_config(), 4e6, 4e6, sessionKey));
        vm.expectRevert(abi.encodeWithSelector(IBatchSettlement.WithdrawExceedsUnclaimed.selector, 7e6, 6e6));
        vm.prank(payer);
        settlement.initiateWithdraw(_config(), 7e6);
    }

    function test_withdraw_twicePendingIsRefused() public {
        vm.prank(payer);
        settlement.initiateWithdraw(_config(), 1e6);
        vm.expectRevert(abi.encodeWithSelector(IBatchSettlement.WithdrawPending.selector, id));
        vm.prank(payer);
        settlement.initiateWithdraw(_config(), 1e6);
    }

    function test_withdraw_finalizeWithoutInitiateIsRefused() public {
        vm.expectRevert(abi.encodeWithSelector(IBatchSettlement.NoPendingWithdrawal.selector, id));
        vm.prank(payer);
        settlement.finalizeWithdraw(_config());
    }
}
