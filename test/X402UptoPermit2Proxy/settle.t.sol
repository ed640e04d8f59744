// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ISignatureTransfer} from "../../contracts/interfaces/ISignatureTransfer.sol";
import {IX402Permit2Proxy} from "../../contracts/interfaces/IX402Permit2Proxy.sol";
import {IX402UptoPermit2Proxy} from "../../contracts/interfaces/IX402UptoPermit2Proxy.sol";
import {X402UptoPermit2Proxy} from "../../contracts/permit2/X402UptoPermit2Proxy.sol";
import {Permit2ProxyBase} from "../base/Permit2ProxyBase.sol";

contract X402UptoPermit2ProxySettleTest is Permit2ProxyBase {
    ISignatureTransfer.PermitTransferFrom internal permit;
    IX402UptoPermit2Proxy.Witness internal witness;

    function setUp() public override {
        super.setUp();
        _approvePermit2();
        permit = _permit(AMOUNT, NONCE);
        witness = _uptoWitness(payee, facilitator, block.timestamp - 1);
    }

    function testFuzz_movesWhatTheFacilitatorChoosesUpToTheCeiling(uint256 amount) public {
        amount = bound(amount, 0, AMOUNT);
        bytes memory signature = _signUpto(payerKey, permit, witness);
        vm.expectEmit(address(upto));
        emit IX402Permit2Proxy.Settled();
        vm.prank(facilitator);
        upto.settle(permit, amount, payer, witness, signature);
        assertEq(token.balanceOf(payee), 1 + amount);
        // The nonce is used whatever the amount: the rest of the ceiling cannot be taken later.
        vm.prank(facilitator);
        vm.expectRevert(bytes4(keccak256("InvalidNonce()")));
        upto.settle(permit, AMOUNT - amount, payer, witness, signature);
    }

    function test_revertsAboveTheCeiling() public {
        bytes memory signature = _signUpto(payerKey, permit, witness);
        vm.prank(facilitator);
        vm.expectRevert(IX402UptoPermit2Proxy.AmountExceedsPermitted.selector);
        upto.settle(permit, AMOUNT + 1, payer, witness, signature);
    }

    function test_revertsForAnotherCaller() public {
        bytes memory signature = _signUpto(payerKey, permit, witness);
        vm.expectRevert(IX402UptoPermit2Proxy.UnauthorizedFacilitator.selector);
        upto.settle(permit, AMOUNT, payer, witness, signature);
    }

    function test_revertsWhenTheFacilitatorIsChanged() public {
        bytes memory signature = _signUpto(payerKey, permit, witness);
        witness.facilitator = address(this);
        vm.expectRevert(bytes4(keccak256("InvalidSigner()")));
        upto.settle(permit, AMOUNT, payer, witness, signature);
    }

    function test_revertsWhenTheRecipientIsChanged() public {
        bytes memory signature = _signUpto(payerKey, permit, witness);
        witness.to = facilitator;
        vm.prank(facilitator);
        vm.expectRevert(bytes4(keccak256("InvalidSigner()")));
        upto.settle(permit, AMOUNT, payer, witness, signature);
    }

    function test_revertsBeforeValidAfter() public {
        witness.validAfter = block.timestamp + 1;
        bytes memory signature = _signUpto(payerKey, permit, witness);
        vm.prank(facilitator);
        vm.expectRevert(IX402Permit2Proxy.PaymentTooEarly.selector);
        upto.settle(permit, AMOUNT, payer, witness, signature);
    }

    function test_revertsOnAZeroOwner() public {
        bytes memory signature = _signUpto(payerKey, permit, witness);
        vm.prank(facilitator);
        vm.expectRevert(IX402Permit2Proxy.InvalidOwner.selector);
        upto.settle(permit, AMOUNT, address(0), witness, signature);
    }

    function test_revertsOnAZeroRecipient() public {
        witness.to = address(0);
        bytes memory signature = _signUpto(payerKey, permit, witness);
        vm.prank(facilitator);
        vm.expectRevert(IX402Permit2Proxy.InvalidDestination.selector);
        upto.settle(permit, AMOUNT, payer, witness, signature);
    }

    function test_constructorRevertsOnAZeroPermit2() public {
        vm.expectRevert(IX402Permit2Proxy.InvalidPermit2Address.selector);
        new X402UptoPermit2Proxy(address(0));
    }
}
