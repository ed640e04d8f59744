// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ISignatureTransfer} from "../../contracts/interfaces/ISignatureTransfer.sol";
import {IX402ExactPermit2Proxy} from "../../contracts/interfaces/IX402ExactPermit2Proxy.sol";
import {IX402Permit2Proxy} from "../../contracts/interfaces/IX402Permit2Proxy.sol";
import {X402ExactPermit2Proxy} from "../../contracts/permit2/X402ExactPermit2Proxy.sol";
import {Permit2ProxyBase} from "../base/Permit2ProxyBase.sol";

contract X402ExactPermit2ProxySettleTest is Permit2ProxyBase {
    ISignatureTransfer.PermitTransferFrom internal permit;
    IX402ExactPermit2Proxy.Witness internal witness;

    function setUp() public override {
        super.setUp();
        _approvePermit2();
        permit = _permit(AMOUNT, NONCE);
        witness = _exactWitness(payee, block.timestamp - 1);
    }

    function test_permit2DomainIsTheSdks() public view {
        assertEq(PERMIT2.DOMAIN_SEPARATOR(), _permit2Domain());
        assertEq(address(exact.PERMIT2()), address(PERMIT2));
    }

    function test_movesTheExactAmountToTheWitnessRecipient() public {
        bytes memory signature = _signExact(payerKey, permit, witness);
        uint256 before = token.balanceOf(payer);
        vm.expectEmit(address(exact));
        emit IX402Permit2Proxy.Settled();
        vm.prank(facilitator);
        exact.settle(permit, payer, witness, signature);
        assertEq(token.balanceOf(payer), before - AMOUNT);
        assertEq(token.balanceOf(payee), 1 + AMOUNT);
        assertEq(PERMIT2.nonceBitmap(payer, NONCE >> 8) >> (NONCE & 0xff) & 1, 1, "nonce used");
    }

    function test_revertsOnReplay() public {
        bytes memory signature = _signExact(payerKey, permit, witness);
        exact.settle(permit, payer, witness, signature);
        vm.expectRevert(bytes4(keccak256("InvalidNonce()")));
        exact.settle(permit, payer, witness, signature);
    }

    function test_revertsWhenTheRecipientIsChanged() public {
        bytes memory signature = _signExact(payerKey, permit, witness);
        vm.expectRevert(bytes4(keccak256("InvalidSigner()")));
        exact.settle(permit, payer, _exactWitness(facilitator, witness.validAfter), signature);
    }

    function test_revertsWhenTheAmountIsChanged() public {
        bytes memory signature = _signExact(payerKey, permit, witness);
        permit.permitted.amount = AMOUNT * 2;
        vm.expectRevert(bytes4(keccak256("InvalidSigner()")));
        exact.settle(permit, payer, witness, signature);
    }

    function test_revertsBeforeValidAfter() public {
        witness.validAfter = block.timestamp + 1;
        bytes memory signature = _signExact(payerKey, permit, witness);
        vm.expectRevert(IX402Permit2Proxy.PaymentTooEarly.selector);
        exact.settle(permit, payer, witness, signature);
    }

    function test_revertsAfterTheDeadline() public {
        bytes memory signature = _signExact(payerKey, permit, witness);
        vm.warp(permit.deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(bytes4(keccak256("SignatureExpired(uint256)")), permit.deadline));
        exact.settle(permit, payer, witness, signature);
    }

    function test_revertsOnAZeroAmount() public {
        permit.permitted.amount = 0;
        bytes memory signature = _signExact(payerKey, permit, witness);
        vm.expectRevert(IX402ExactPermit2Proxy.InvalidAmount.selector);
        exact.settle(permit, payer, witness, signature);
    }

    function test_revertsOnAZeroOwner() public {
        bytes memory signature = _signExact(payerKey, permit, witness);
        vm.expectRevert(IX402Permit2Proxy.InvalidOwner.selector);
        exact.settle(permit, address(0), witness, signature);
    }

    function test_revertsOnAZeroRecipient() public {
        witness.to = address(0);
        bytes memory signature = _signExact(payerKey, permit, witness);
        vm.expectRevert(IX402Permit2Proxy.InvalidDestination.selector);
        exact.settle(permit, payer, witness, signature);
    }

    function test_revertsForASignatureMadeForTheOtherProxy() public {
        // Signed with the upto proxy as spender: Permit2 recomputes the digest with the caller.
        bytes32 hash =
            keccak256(abi.encode(keccak256("Witness(address to,uint256 validAfter)"), witness.to, witness.validAfter));
        bytes memory signature = _signWitness(
            payerKey,
            permit,
            address(upto),
            hash,
            "Witness witness)TokenPermissions(address token,uint256 amount)Witness(address to,uint256 validAfter)"
        );
        vm.expectRevert(bytes4(keccak256("InvalidSigner()")));
        exact.settle(permit, payer, witness, signature);
    }

    function test_constructorRevertsOnAZeroPermit2() public {
        vm.expectRevert(IX402Permit2Proxy.InvalidPermit2Address.selector);
        new X402ExactPermit2Proxy(address(0));
    }
}
