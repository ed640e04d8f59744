// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ISignatureTransfer} from "../interfaces/ISignatureTransfer.sol";
import {IX402ExactPermit2Proxy} from "../interfaces/IX402ExactPermit2Proxy.sol";
import {IX402Permit2Proxy} from "../interfaces/IX402Permit2Proxy.sol";
import {X402Permit2Proxy} from "./X402Permit2Proxy.sol";

/// @title X402ExactPermit2Proxy
/// @notice x402's `exact` Permit2 proxy: moves exactly the permitted amount to the signed recipient.
contract X402ExactPermit2Proxy is IX402ExactPermit2Proxy, X402Permit2Proxy {
    /// @inheritdoc IX402Permit2Proxy
    // forge-lint: disable-next-line(mixed-case-variable)
    string public constant WITNESS_TYPE_STRING =
        "Witness witness)TokenPermissions(address token,uint256 amount)Witness(address to,uint256 validAfter)";

    /// @inheritdoc IX402Permit2Proxy
    bytes32 public constant WITNESS_TYPEHASH = keccak256("Witness(address to,uint256 validAfter)");

    /// @param permit2 Permit2's address on this chain.
    constructor(address permit2) X402Permit2Proxy(permit2) {}

    /// @inheritdoc IX402ExactPermit2Proxy
    function settle(
        ISignatureTransfer.PermitTransferFrom calldata permit,
        address owner,
        Witness calldata witness,
        bytes calldata signature
    ) external nonReentrant {
        _settle(permit, owner, witness, signature);
        emit Settled();
    }

    /// @inheritdoc IX402ExactPermit2Proxy
    function settleWithPermit(
        EIP2612Permit calldata permit2612,
        ISignatureTransfer.PermitTransferFrom calldata permit,
        address owner,
        Witness calldata witness,
        bytes calldata signature
    ) external nonReentrant {
        _permitPermit2(permit.permitted.token, owner, permit2612, permit.permitted.amount);
        _settle(permit, owner, witness, signature);
        emit SettledWithPermit();
    }

    function _settle(
        ISignatureTransfer.PermitTransferFrom calldata permit,
        address owner,
        Witness calldata witness,
        bytes calldata signature
    ) private {
        uint256 amount = permit.permitted.amount;
        if (amount == 0) revert InvalidAmount();
        bytes32 witnessHash = keccak256(abi.encode(WITNESS_TYPEHASH, witness.to, witness.validAfter));
        _transfer(permit, amount, owner, witness.to, witness.validAfter, witnessHash, WITNESS_TYPE_STRING, signature);
    }
}
