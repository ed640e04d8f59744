// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ISignatureTransfer} from "../../contracts/interfaces/ISignatureTransfer.sol";
import {IX402Permit2Proxy} from "../../contracts/interfaces/IX402Permit2Proxy.sol";
import {Permit2ProxyBase} from "../base/Permit2ProxyBase.sol";

/// @notice Gas of an x402 payment through the Permit2 proxies, recorded in snapshots/X402ExactPermit2Proxy.json
/// and snapshots/X402UptoPermit2Proxy.json: `settle` with the payer's standing Permit2 allowance, and
/// `settleWithPermit` with an EIP-2612 permit in the same transaction. The payee already holds a balance.
contract Permit2ProxiesGasTest is Permit2ProxyBase {
    ISignatureTransfer.PermitTransferFrom internal permit;

    function setUp() public override {
        super.setUp();
        permit = _permit(AMOUNT, NONCE);
    }

    function test_gas_exact_settle() public {
        _approvePermit2();
        bytes memory signature = _signExact(payerKey, permit, _exactWitness(payee, block.timestamp - 1));
        vm.prank(facilitator);
        exact.settle(permit, payer, _exactWitness(payee, block.timestamp - 1), signature);
        vm.snapshotGasLastCall("X402ExactPermit2Proxy", "settle");
    }

    function test_gas_exact_settleWithPermit() public {
        IX402Permit2Proxy.EIP2612Permit memory p = _permit2612(AMOUNT);
        bytes memory signature = _signExact(payerKey, permit, _exactWitness(payee, block.timestamp - 1));
        vm.prank(facilitator);
        exact.settleWithPermit(p, permit, payer, _exactWitness(payee, block.timestamp - 1), signature);
        vm.snapshotGasLastCall("X402ExactPermit2Proxy", "settleWithPermit");
    }

    function test_gas_upto_settle() public {
        _approvePermit2();
        bytes memory signature = _signUpto(payerKey, permit, _uptoWitness(payee, facilitator, block.timestamp - 1));
        vm.prank(facilitator);
        upto.settle(permit, AMOUNT, payer, _uptoWitness(payee, facilitator, block.timestamp - 1), signature);
        vm.snapshotGasLastCall("X402UptoPermit2Proxy", "settle");
    }

    function test_gas_upto_settleWithPermit() public {
        IX402Permit2Proxy.EIP2612Permit memory p = _permit2612(AMOUNT);
        bytes memory signature = _signUpto(payerKey, permit, _uptoWitness(payee, facilitator, block.timestamp - 1));
        vm.prank(facilitator);
        upto.settleWithPermit(
            p, permit, AMOUNT, payer, _uptoWitness(payee, facilitator, block.timestamp - 1), signature
        );
        vm.snapshotGasLastCall("X402UptoPermit2Proxy", "settleWithPermit");
    }
}
