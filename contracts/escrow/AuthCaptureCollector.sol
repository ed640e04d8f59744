// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IAuthCaptureCollector} from "../interfaces/IAuthCaptureCollector.sol";
import {IERC3009} from "../interfaces/IERC3009.sol";
import {IPaymentEscrow} from "../interfaces/IPaymentEscrow.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

/// @title AuthCaptureCollector
/// @notice Redeems x402 `auth-capture` EIP-3009 authorizations and sponsors their funds into a PaymentEscrow.
/// @dev Immutable and ownerless. On chains where the official client is used it sits at the canonical EIP-3009
/// token collector address (the client signs authorizations to no other), bound to the canonical escrow address.
contract AuthCaptureCollector is IAuthCaptureCollector, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice commerce-payments' EIP-712-style type hash of `PaymentInfo`.
    bytes32 public constant PAYMENT_INFO_TYPEHASH = keccak256(
        "PaymentInfo(address operator,address payer,address receiver,address token,uint120 maxAmount,uint48 preApprovalExpiry,uint48 authorizationExpiry,uint48 refundExpiry,uint16 minFeeBps,uint16 maxFeeBps,address feeReceiver,uint256 salt)"
    );

    /// @inheritdoc IAuthCaptureCollector
    IPaymentEscrow public immutable escrow;

    /// @inheritdoc IAuthCaptureCollector
    address public immutable authCaptureEscrow;

    /// @param escrow_ The escrow payments land in.
    /// @param authCaptureEscrow_ The escrow address the payers' nonces are bound to.
    constructor(IPaymentEscrow escrow_, address authCaptureEscrow_) {
        escrow = escrow_;
        authCaptureEscrow = authCaptureEscrow_;
    }

    /// @inheritdoc IAuthCaptureCollector
    function authorize(PaymentInfo calldata info, bytes calldata signature)
        external
        nonReentrant
        returns (bytes32 paymentId)
    {
        if (msg.sender != info.operator) revert Unauthorized(msg.sender);
        if (info.minFeeBps != 0) revert UnsupportedMinFee(info.minFeeBps);
        bytes32 nonce = signatureNonce(info);
        // Arrives here; a token moving less leaves too little for the escrow's pull, which then reverts.
        IERC3009(info.token)
            .receiveWithAuthorization(
                info.payer, address(this), info.maxAmount, 0, info.preApprovalExpiry, nonce, signature
            );
        IERC20(info.token).forceApprove(address(escrow), info.maxAmount);
        paymentId = escrow.authorize(_terms(info), info.maxAmount, IPaymentEscrow.Method.Sponsored, "");
        emit PaymentCollected(paymentId, nonce, info.payer, info.maxAmount);
    }

    /// @inheritdoc IAuthCaptureCollector
    function terms(PaymentInfo calldata info) external pure returns (IPaymentEscrow.PaymentTerms memory) {
        return _terms(info);
    }

    /// @inheritdoc IAuthCaptureCollector
    function signatureNonce(PaymentInfo calldata info) public view returns (bytes32) {
        bytes32 payerAgnostic = keccak256(
            abi.encode(
                PAYMENT_INFO_TYPEHASH,
                info.operator,
                address(0),
                info.receiver,
                info.token,
                info.maxAmount,
                info.preApprovalExpiry,
                info.authorizationExpiry,
                info.refundExpiry,
                info.minFeeBps,
                info.maxFeeBps,
                info.feeReceiver,
                info.salt
            )
        );
        return keccak256(abi.encode(block.chainid, authCaptureEscrow, payerAgnostic));
    }

    function _terms(PaymentInfo calldata info) private pure returns (IPaymentEscrow.PaymentTerms memory) {
        return IPaymentEscrow.PaymentTerms({
            operator: info.operator,
            payer: info.payer,
            payee: info.receiver,
            token: info.token,
            maxAmount: info.maxAmount,
            preApprovalExpiry: info.preApprovalExpiry,
            authorizationExpiry: info.authorizationExpiry,
            refundExpiry: info.refundExpiry,
            maxFeeBps: info.maxFeeBps,
            feeReceiver: info.feeReceiver,
            salt: bytes32(info.salt),
            invoiceId: bytes32(0)
        });
    }
}
