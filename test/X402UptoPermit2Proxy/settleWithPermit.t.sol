// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ISignatureTransfer} from "../../contracts/interfaces/ISignatureTransfer.sol";
import {IX402Permit2Proxy} from "../../contracts/interfaces/IX402Permit2Proxy.sol";
import {IX402UptoPermit2Proxy} from "../../contracts/interfaces/IX402UptoPermit2Proxy.sol";
import {Permit2ProxyBase} from "../base/Permit2ProxyBase.sol";

/// @notice The payer never approved Permit2: its EIP-2612 permit does, in the payment's transaction.
contract X402UptoPermit2ProxySettleWithPermitTest is Permit2ProxyBase {
    ISignatureTransfer.PermitTransferFrom internal permit;
    IX402UptoPermit2Proxy.Witness internal witness;

    function setUp() public override {
        super.setUp();
        permit = _permit(AMOUNT, NONCE);
        witness = _uptoWitness(payee, facilitator, block.timestamp - 1);
    }

    function test_approvesPermit2AndMovesPartOfTheCeiling() public {
        IX402Permit2Proxy.EIP2612Permit memory p = _permit2612(AMOUNT);
        bytes memory signature = _signUpto(payerKey, permit, witness);
        vm.expectEmit(address(upto));
        emit IX402Permit2Proxy.SettledWithPermit();
        vm.prank(facilitator);
        upto.settleWithPermit(p, permit, AMOUNT / 2, payer, witness, signature);
        assertEq(token.balanceOf(payee), 1 + AMOUNT / 2);
    }

    function test_revertsWhenThePermitValueDiffers() public {
        IX402Permit2Proxy.EIP2612Permit memory p = _permit2612(AMOUNT - 1);
        bytes memory signature = _signUpto(payerKey, permit, witness);
        vm.prank(facilitator);
        vm.expectRevert(IX402Permit2Proxy.Permit2612AmountMismatch.selector);
        upto.settleWithPermit(p, permit, AMOUNT, payer, witness, signature);
    }

    function test_revertsForAnotherCaller() public {
        IX402Permit2Proxy.EIP2612Permit memory p = _permit2612(AMOUNT);
        bytes memory signature = _signUpto(payerKey, permit, witness);
        vm.expectRevert(IX402UptoPermit2Proxy.UnauthorizedFacilitator.selector);
        upto.settleWithPermit(p, permit, AMOUNT, payer, witness, signature);
    }
}
