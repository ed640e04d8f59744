// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IBatchSettlement} from "../../contracts/interfaces/IBatchSettlement.sol";
import {IDepositCollector} from "../../contracts/interfaces/IDepositCollector.sol";
import {BatchSettlementBase} from "../base/BatchSettlementBase.sol";

contract DepositTest is BatchSettlementBase {
    function test_deposit_movesExactlyTheAmountIntoTheChannel() public {
        bytes32 id = _channelId(_config());
        vm.expectEmit(SETTLEMENT);
        emit IBatchSettlement.ChannelCreated(id, _config());
        vm.expectEmit(SETTLEMENT);
        emit IBatchSettlement.Deposited(id, payer, COLLECTOR, DEPOSIT);
        _open(DEPOSIT);
        assertEq(_balance(id), DEPOSIT);
        assertEq(_claimed(id), 0);
        assertEq(usdc.balanceOf(SETTLEMENT), DEPOSIT);
        assertEq(usdc.balanceOf(COLLECTOR), 0);
        assertEq(usdc.balanceOf(payer), INITIAL_BALANCE - DEPOSIT);
    }

    function test_deposit_topUpAddsToTheBalance() public {
        bytes32 id = _open(DEPOSIT);
        _deposit(_config(), 3e6, 2);
        assertEq(_balance(id), DEPOSIT + 3e6);
    }

    function test_deposit_channelIdIsTheSpecsHash() public view {
        assertEq(settlement.getChannelId(_config()), _channelId(_config()));
        assertEq(settlement.CHANNEL_CONFIG_TYPEHASH(), CONFIG_TYPEHASH);
    }

    function test_deposit_authorizationForAnotherChannelIsRefused() public {
        // The payer authorized a deposit into channel 2; submitting it for channel 1 changes the EIP-3009 nonce.
        bytes memory data = _collectorData(_channelId(_config(keccak256("channel-2"))), DEPOSIT, 1);
        IBatchSettlement.ChannelConfig memory config = _config();
        vm.prank(relayer);
        vm.expectRevert();
        settlement.deposit(config, DEPOSIT, COLLECTOR, data);
        assertEq(usdc.balanceOf(payer), INITIAL_BALANCE);
    }

    function test_deposit_amountAboveTheAuthorizationIsRefused() public {
        bytes32 id = _channelId(_config());
        bytes memory data = _collectorData(id, DEPOSIT, 1);
        IBatchSettlement.ChannelConfig memory config = _config();
        vm.prank(relayer);
        vm.expectRevert();
        settlement.deposit(config, DEPOSIT + 1, COLLECTOR, data);
        assertEq(usdc.balanceOf(payer), INITIAL_BALANCE);
    }

    function test_deposit_replayedAuthorizationIsRefused() public {
        bytes32 id = _open(DEPOSIT);
        bytes memory data = _collectorData(id, DEPOSIT, 1);
        IBatchSettlement.ChannelConfig memory config = _config();
        vm.prank(relayer);
        vm.expectRevert();
        settlement.deposit(config, DEPOSIT, COLLECTOR, data);
        assertEq(_balance(id), DEPOSIT);
    }

    function test_deposit_zeroAmountIsRefused() public {
        IBatchSettlement.ChannelConfig memory config = _config();
        vm.expectRevert(IBatchSettlement.ZeroAmount.selector);
        settlement.deposit(config, 0, COLLECTOR, "");
    }

    function test_deposit_withdrawDelayOutsideTheRangeIsRefused() public {
        IBatchSettlement.ChannelConfig memory config = _config();
        config.withdrawDelay = 15 minutes - 1;
        vm.expectRevert(abi.encodeWithSelector(IBatchSettlement.WithdrawDelayOutOfRange.selector, config.withdrawDelay));
        settlement.deposit(config, DEPOSIT, COLLECTOR, "");
        config.withdrawDelay = 30 days + 1;
        vm.expectRevert(abi.encodeWithSelector(IBatchSettlement.WithdrawDelayOutOfRange.selector, config.withdrawDelay));
        settlement.deposit(config, DEPOSIT, COLLECTOR, "");
    }

    function test_deposit_zeroReceiverAuthorizerIsRefused() public {
        IBatchSettlement.ChannelConfig memory config = _config();
        config.receiverAuthorizer = address(0);
        vm.expectRevert(IBatchSettlement.InvalidChannelConfig.selector);
        settlement.deposit(config, DEPOSIT, COLLECTOR, "");
    }

    function test_deposit_collectorRefusesAnyCallerButTheContract() public {
        vm.expectRevert(abi.encodeWithSelector(IDepositCollector.NotBatchSettlement.selector, stranger));
        vm.prank(stranger);
        IDepositCollector(COLLECTOR).collect(payer, address(usdc), DEPOSIT, bytes32(0), "");
    }
}
