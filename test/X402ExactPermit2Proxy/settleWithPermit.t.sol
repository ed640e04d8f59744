// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ISignatureTransfer} from "../../contracts/interfaces/ISignatureTransfer.sol";
import {IX402ExactPermit2Proxy} from "../../contracts/interfaces/IX402ExactPermit2Proxy.sol";
import {IX402Permit2Proxy} from "../../contracts/interfaces/IX402Permit2Proxy.sol";
import {Permit2ProxyBase} from "../base/Permit2ProxyBase.sol";

/// @notice The payer never approved Permit2: its EIP-2612 permit does, in the payment's transaction.
contract X402ExactPermit2ProxySettleWithPermitTest is Permit2ProxyBase {
    ISignatureTransfer.PermitTransferFrom internal permit;
    IX402ExactPermit2Proxy.Witness internal witness;

    function setUp() public override {
        super.setUp();
        permit = _permit(AMOUNT, NONCE);
        witness = _exactWitness(payee, block.timestamp - 1);
    }

    function test_approvesPermit2AndMovesThePayment() public {
        IX402Permit2Proxy.EIP2612Permit memory p = _permit2612(AMOUNT);
        bytes memory signature = _signExact(payerKey, permit, witness);
        vm.expectEmit(address(exact));
        emit IX402Permit2Proxy.SettledWithPermit();
        vm.prank(facilitator);
        exact.settleWithPermit(p, permit, payer, witness, signature);
        assertEq(token.balanceOf(payee), 1 + AMOUNT);
        assertEq(token.allowance(payer, address(PERMIT2)), 0, "the permit's allowance is spent");
    }

    function test_aFrontRunPermitStillSettles() public {
        IX402Permit2Proxy.EIP2612Permit memory p = _permit2612(AMOUNT);
        bytes memory signature = _signExact(payerKey, permit, witness);
        token.permit(payer, address(PERMIT2), p.value, p.deadline, p.v, p.r, p.s);
        exact.settleWithPermit(p, permit, payer, witness, signature);
        assertEq(token.balanceOf(payee), 1 + AMOUNT);
    }

    function test_revertsWhenThePermitValueDiffers() public {
        IX402Permit2Proxy.EIP2612Permit memory p = _permit2612(AMOUNT + 1);
        bytes memory signature = _signExact(payerKey, permit, witness);
        vm.expectRevert(IX402Permit2Proxy.Permit2612AmountMismatch.selector);
        exact.settleWithPermit(p, permit, payer, witness, signature);
    }

    function test_revertsWithoutAValidPermitOrAllowance() public {
        IX402Permit2Proxy.EIP2612Permit memory p = _permit2612(AMOUNT);
        p.s = bytes32(uint256(p.s) ^ 1);
        bytes memory signature = _signExact(payerKey, permit, witness);
        vm.expectRevert();
        exact.settleWithPermit(p, permit, payer, witness, signature);
        assertEq(token.balanceOf(payee), 1, "nothing moved");
    }
}
