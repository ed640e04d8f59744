// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IBatchSettlement} from "../../contracts/interfaces/IBatchSettlement.sol";
import {BatchSettlementBase} from "../base/BatchSettlementBase.sol";

/// @notice Gas of x402 batch-settlement, recorded in snapshots/BatchSettlement.json: each operation as a
/// transaction, as the x402 facilitator sends it (deposit through the ERC-3009 collector, `claimWithSignature`
/// by the receiver authorizer's signature, `settle`), and the amortized gas per paid request of a channel's life
/// (deposit, one claim of the last voucher, the settlement) at 10 to 10,000 requests. A warm-up channel in setUp
/// has paid the receiver, so one-time costs are not counted.
contract BatchSettlementGasTest is BatchSettlementBase {
    uint128 internal constant PRICE = 1000; // a tenth of a cent per request

    function setUp() public override {
        super.setUp();
        usdc.mint(receiver, 1);
        IBatchSettlement.ChannelConfig memory warm = _config(keccak256("warm-up"));
        _deposit(warm, DEPOSIT, 1);
        _claimSigned(_rows(_row(warm, 1, 1, sessionKey)));
        settlement.settle(receiver, address(usdc));
    }

    function test_gas_batch_deposit() public {
        _deposit(_config(keccak256("a")), DEPOSIT, 2);
        vm.snapshotGasLastCall("BatchSettlement", "deposit (ERC-3009 collector, opens the channel)");
    }

    function test_gas_batch_claimOne() public {
        IBatchSettlement.ChannelConfig memory config = _config(keccak256("a"));
        _deposit(config, DEPOSIT, 2);
        _claimSigned(_rows(_row(config, 500 * PRICE, 500 * PRICE, sessionKey)));
        vm.snapshotGasLastCall("BatchSettlement", "claimWithSignature (1 channel)");
    }

    function test_gas_batch_claimBatchOfTen() public {
        IBatchSettlement.VoucherClaim[] memory rows = new IBatchSettlement.VoucherClaim[](10);
        for (uint256 i; i < rows.length; ++i) {
            IBatchSettlement.ChannelConfig memory config = _config(bytes32(i));
            _deposit(config, DEPOSIT, 10 + i);
            rows[i] = _row(config, 500 * PRICE, 500 * PRICE, sessionKey);
        }
        _claimSigned(rows);
        uint256 gas = vm.snapshotGasLastCall("BatchSettlement", "claimWithSignature (10 channels in one transaction)");
        vm.snapshotValue("BatchSettlement", "claim per channel in a batch of 10", gas / 10);
    }

    function test_gas_batch_settle() public {
        IBatchSettlement.ChannelConfig memory config = _config(keccak256("a"));
        _deposit(config, DEPOSIT, 2);
        _claimSigned(_rows(_row(config, 500 * PRICE, 500 * PRICE, sessionKey)));
        settlement.settle(receiver, address(usdc));
        vm.snapshotGasLastCall("BatchSettlement", "settle (the receiver's claims in one token)");
    }

    function test_gas_batch_amortizedPerRequest() public {
        uint256[4] memory requests = [uint256(10), 100, 1000, 10_000];
        for (uint256 r; r < requests.length; ++r) {
            uint128 spent = uint128(requests[r]) * PRICE;
            IBatchSettlement.ChannelConfig memory config = _config(bytes32(r));
            _deposit(config, spent, 100 + r);
            uint256 life = vm.lastCallGas().gasTotalUsed;
            _claimSigned(_rows(_row(config, spent, spent, sessionKey)));
            life += vm.lastCallGas().gasTotalUsed;
            settlement.settle(receiver, address(usdc));
            life += vm.lastCallGas().gasTotalUsed;
            vm.snapshotValue(
                "BatchSettlement",
                string.concat("per request at ", vm.toString(requests[r]), " requests"),
                life / requests[r]
            );
        }
    }

    function _claimSigned(IBatchSettlement.VoucherClaim[] memory rows) internal {
        bytes memory signature = _batchSignature(rows, authorizerKey);
        vm.prank(relayer);
        settlement.claimWithSignature(rows, signature);
    }
}
