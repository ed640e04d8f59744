// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IBatchSettlement} from "../../contracts/interfaces/IBatchSettlement.sol";
import {BatchSettlementBase} from "../base/BatchSettlementBase.sol";

contract ClaimWithSignatureTest is BatchSettlementBase {
    bytes32 internal id;

    function setUp() public override {
        super.setUp();
        id = _open(DEPOSIT);
    }

    function test_claimWithSignature_anyoneMaySubmitTheAuthorizersBatch() public {
        IBatchSettlement.VoucherClaim[] memory rows = _rows(_row(_config(), 3e6, 3e6, sessionKey));
        bytes memory signature = _batchSignature(rows, authorizerKey);
        vm.prank(relayer);
        settlement.claimWithSignature(rows, signature);
        assertEq(_claimed(id), 3e6);
        assertEq(settlement.getClaimBatchDigest(rows), settlement.getClaimBatchDigest(rows));
    }

    function test_claimWithSignature_signatureByAnotherKeyIsRefused() public {
        IBatchSettlement.VoucherClaim[] memory rows = _rows(_row(_config(), 3e6, 3e6, sessionKey));
        bytes memory signature = _batchSignature(rows, payerKey);
        vm.expectRevert(IBatchSettlement.InvalidAuthorizerSignature.selector);
        vm.prank(relayer);
        settlement.claimWithSignature(rows, signature);
        assertEq(_claimed(id), 0);
    }

    function test_claimWithSignature_alteredTotalIsRefused() public {
        IBatchSettlement.VoucherClaim[] memory rows = _rows(_row(_config(), 5e6, 3e6, sessionKey));
        bytes memory signature = _batchSignature(rows, authorizerKey);
        rows[0].totalClaimed = 5e6;
        vm.expectRevert(IBatchSettlement.InvalidAuthorizerSignature.selector);
        vm.prank(relayer);
        settlement.claimWithSignature(rows, signature);
        assertEq(_claimed(id), 0);
    }

    function test_claimWithSignature_rowsOfAnotherAuthorizerAreRefused() public {
        IBatchSettlement.ChannelConfig memory other = _config(keccak256("channel-2"));
        other.receiverAuthorizer = stranger;
        _deposit(other, DEPOSIT, 2);
        IBatchSettlement.VoucherClaim[] memory rows = new IBatchSettlement.VoucherClaim[](2);
        rows[0] = _row(_config(), 3e6, 3e6, sessionKey);
        rows[1] = _row(other, 3e6, 3e6, sessionKey);
        bytes memory signature = _batchSignature(rows, authorizerKey);
        vm.expectRevert(abi.encodeWithSelector(IBatchSettlement.ReceiverAuthorizerMismatch.selector, _channelId(other)));
        vm.prank(relayer);
        settlement.claimWithSignature(rows, signature);
        assertEq(_claimed(id), 0);
    }

    function test_claimWithSignature_emptyIsRefused() public {
        vm.expectRevert(IBatchSettlement.EmptyClaims.selector);
        settlement.claimWithSignature(new IBatchSettlement.VoucherClaim[](0), "");
    }
}
