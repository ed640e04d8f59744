// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ISignatureTransfer} from "../interfaces/ISignatureTransfer.sol";
import {IX402Permit2Proxy} from "../interfaces/IX402Permit2Proxy.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

/// @title X402Permit2Proxy
/// @notice The shared half of x402's Permit2 proxies: the checks every payment passes, the Permit2 witness
/// transfer to the witness's `to`, and the EIP-2612 permit that approves Permit2 in the same transaction.
/// @dev Permit2's address is an immutable set once at deployment; local chains install the runtime code at
/// the canonical address with Permit2's canonical address baked in.
abstract contract X402Permit2Proxy is IX402Permit2Proxy, ReentrancyGuardTransient {
    /// @inheritdoc IX402Permit2Proxy
    ISignatureTransfer public immutable PERMIT2;

    /// @param permit2 Permit2's address on this chain.
    constructor(address permit2) {
        if (permit2 == address(0)) revert InvalidPermit2Address();
        PERMIT2 = ISignatureTransfer(permit2);
    }

    /// @dev The checks shared by both proxies, then the Permit2 transfer of `amount` to `to`, binding the
    /// witness hash `witness` of type `witnessTypeString`.
    function _transfer(
        ISignatureTransfer.PermitTransferFrom calldata permit,
        uint256 amount,
        address owner,
        address to,
        uint256 validAfter,
        bytes32 witness,
        string memory witnessTypeString,
        bytes calldata signature
    ) internal {
        if (owner == address(0)) revert InvalidOwner();
        if (to == address(0)) revert InvalidDestination();
        if (block.timestamp < validAfter) revert PaymentTooEarly();
        PERMIT2.permitWitnessTransferFrom(
            permit,
            ISignatureTransfer.SignatureTransferDetails({to: to, requestedAmount: amount}),
            owner,
            witness,
            witnessTypeString,
            signature
        );
    }

    /// @dev Submits `owner`'s EIP-2612 permit approving Permit2 for `permit2612.value` of `token`, which must
    /// be the Permit2 permit's amount. A permit that fails (used already, front-run) is skipped: the Permit2
    /// transfer that follows fails unless the allowance is there.
    function _permitPermit2(address token, address owner, EIP2612Permit calldata permit2612, uint256 permitted)
        internal
    {
        if (permit2612.value != permitted) revert Permit2612AmountMismatch();
        try IERC20Permit(token)
            .permit(
                owner, address(PERMIT2), permit2612.value, permit2612.deadline, permit2612.v, permit2612.r, permit2612.s
            ) {}
            catch {}
    }
}
