// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IBatchSettlement} from "../../contracts/interfaces/IBatchSettlement.sol";
import {BatchSettlementBase} from "../base/BatchSettlementBase.sol";

contract ClaimTest is BatchSettlementBase {
    bytes32 internal id;

    function setUp() public override {
        super.setUp();
        id = _open(DEPOSIT);
    }

    function test_claim_raisesTheClaimedTotalAndCreditsTheReceiver() public {
        vm.expectEmit(SETTLEMENT);
        emit IBatchSettlement.Claimed(id, receiver, 3e6, 3e6);
        _claim(_row(_config(), 3e6, 3e6, sessionKey));
        assertEq(_claimed(id), 3e6);
        (uint128 credited, uint128 settled) = settlement.receivers(receiver, address(usdc));
        assertEq(credited, 3e6);
        assertEq(settled, 0);
        assertEq(usdc.balanceOf(SETTLEMENT), DEPOSIT, "claims move no tokens");
    }

    function test_claim_cumulativeVouchersPayTheDifferenceOnce() public {
        _claim(_row(_config(), 3e6, 3e6, sessionKey));
        _claim(_row(_config(), 5e6, 5e6, sessionKey));
        _claim(_row(_config(), 5e6, 5e6, sessionKey)); // replay: nothing changes
        assertEq(_claimed(id), 5e6);
        (uint128 credited,) = settlement.receivers(receiver, address(usdc));
        assertEq(credited, 5e6);
    }

    function test_claim_partOfAVoucher() public {
        _claim(_row(_config(), 5e6, 2e6, sessionKey));
        _claim(_row(_config(), 5e6, 5e6, sessionKey));
        assertEq(_claimed(id), 5e6);
    }

    function test_claim_manyChannelsInOneTransaction() public {
        IBatchSettlement.VoucherClaim[] memory rows = new IBatchSettlement.VoucherClaim[](3);
        for (uint256 i; i < 3; ++i) {
            IBatchSettlement.ChannelConfig memory config = _config(bytes32(i));
            _deposit(config, DEPOSIT, 10 + i);
            rows[i] = _row(config, uint128(1e6 * (i + 1)), uint128(1e6 * (i + 1)), sessionKey);
        }
        vm.prank(receiver);
        settlement.claim(rows);
        for (uint256 i; i < 3; ++i) {
            assertEq(_claimed(_channelId(_config(bytes32(i)))), 1e6 * (i + 1));
        }
        (uint128 credited,) = settlement.receivers(receiver, address(usdc));
        assertEq(credited, 6e6);
    }

    function test_claim_voucherOverTheDepositIsRefused() public {
        IBatchSettlement.VoucherClaim memory row = _row(_config(), DEPOSIT + 1, DEPOSIT + 1, sessionKey);
        vm.expectRevert(abi.encodeWithSelector(IBatchSettlement.ClaimExceedsBalance.selector, id, DEPOSIT + 1, DEPOSIT));
        _claim(row);
        assertEq(_claimed(id), 0);
    }

    function test_claim_totalAboveTheVoucherIsRefused() public {
        IBatchSettlement.VoucherClaim memory row = _row(_config(), 2e6, 3e6, sessionKey);
        vm.expectRevert(abi.encodeWithSelector(IBatchSettlement.ClaimExceedsVoucher.selector, id, 3e6, 2e6));
        _claim(row);
        assertEq(_claimed(id), 0);
    }

    function test_claim_cumulativeBelowClaimedIsRefused() public {
        _claim(_row(_config(), 5e6, 5e6, sessionKey));
        IBatchSettlement.VoucherClaim memory row = _row(_config(), 3e6, 3e6, sessionKey);
        vm.expectRevert(abi.encodeWithSelector(IBatchSettlement.ClaimBelowClaimed.selector, id, 3e6, 5e6));
        _claim(row);
        assertEq(_claimed(id), 5e6);
    }

    function test_claim_voucherForAnotherChannelIsRefused() public {
        IBatchSettlement.ChannelConfig memory other = _config(keccak256("channel-2"));
        _deposit(other, DEPOSIT, 2);
        // Signed for `other`, presented with the default channel's config.
        IBatchSettlement.VoucherClaim memory row = _row(other, 3e6, 3e6, sessionKey);
        row.voucher.channel = _config();
        vm.expectRevert(abi.encodeWithSelector(IBatchSettlement.InvalidVoucherSignature.selector, id));
        _claim(row);
        assertEq(_claimed(id), 0);
        assertEq(_claimed(_channelId(other)), 0);
    }

    function test_claim_voucherSignedByThePayerInsteadOfItsAuthorizerIsRefused() public {
        IBatchSettlement.VoucherClaim memory row = _row(_config(), 3e6, 3e6, payerKey);
        vm.expectRevert(abi.encodeWithSelector(IBatchSettlement.InvalidVoucherSignature.selector, id));
        _claim(row);
    }

    function test_claim_bySomeoneElseIsRefused() public {
        IBatchSettlement.VoucherClaim[] memory rows = _rows(_row(_config(), 3e6, 3e6, sessionKey));
        vm.expectRevert(abi.encodeWithSelector(IBatchSettlement.NotReceiverOrAuthorizer.selector, stranger));
        vm.prank(stranger);
        settlement.claim(rows);
        assertEq(_claimed(id), 0);
    }

    function test_claim_emptyIsRefused() public {
        vm.expectRevert(IBatchSettlement.EmptyClaims.selector);
        settlement.claim(new IBatchSettlement.VoucherClaim[](0));
    }

    function test_claim_oneBadRowRevertsTheBatch() public {
        IBatchSettlement.ChannelConfig memory other = _config(keccak256("channel-2"));
        _deposit(other, DEPOSIT, 2);
        IBatchSettlement.VoucherClaim[] memory rows = new IBatchSettlement.VoucherClaim[](2);
        rows[0] = _row(_config(), 3e6, 3e6, sessionKey);
        rows[1] = _row(other, DEPOSIT + 1, DEPOSIT + 1, sessionKey);
        vm.prank(authorizer);
        vm.expectRevert();
        settlement.claim(rows);
        assertEq(_claimed(id), 0);
    }

    function testFuzz_claim_neverBeyondTheDeposit(uint128 ceiling, uint128 total) public {
        ceiling = uint128(bound(ceiling, 1, type(uint128).max));
        total = uint128(bound(total, 1, ceiling));
        IBatchSettlement.VoucherClaim memory row = _row(_config(), ceiling, total, sessionKey);
        vm.prank(authorizer);
        try settlement.claim(_rows(row)) {} catch {}
        assertLe(_claimed(id), DEPOSIT);
        assertEq(_claimed(id), total <= DEPOSIT ? total : 0);
    }
}
