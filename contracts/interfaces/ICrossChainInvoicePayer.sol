// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ICrossChainInvoice} from "./ICrossChainInvoice.sol";
import {IRouterClient} from "@chainlink/contracts-ccip/contracts/interfaces/IRouterClient.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @title ICrossChainInvoicePayer
/// @notice The source-chain entry of a cross-chain invoice payment: takes the invoice amount of this chain's
/// Cross-Chain Token from the payer and sends it with the invoice through the CCIP router to a
/// `CrossChainInvoiceReceiver` on the invoice's chain, paying the CCIP fee in native currency.
/// @dev The payer's consent is an EIP-3009 `ReceiveWithAuthorization` to this contract whose nonce
/// (`paymentNonce`) binds the destination chain, the receiver, the gas limit of the destination's execution
/// and the whole payment, so whoever submits it can neither redirect it nor starve its execution.
interface ICrossChainInvoicePayer is ICrossChainInvoice {
    /// @notice Emitted when a payment leaves this chain.
    /// @param messageId The CCIP message id.
    /// @param destinationChainSelector The invoice's chain.
    /// @param payer The payer.
    /// @param amount The amount sent.
    /// @param fee The CCIP fee paid, in native currency.
    event PaymentSent(
        bytes32 indexed messageId,
        uint64 indexed destinationChainSelector,
        address indexed payer,
        uint256 amount,
        uint256 fee
    );

    /// @notice The CCIP fee is more than what came with the call.
    /// @param fee The fee the router asks.
    /// @param value What came with the call.
    error InsufficientFee(uint256 fee, uint256 value);
    /// @notice The router does not serve that chain.
    /// @param destinationChainSelector The chain asked for.
    error UnsupportedChain(uint64 destinationChainSelector);
    /// @notice Returning the excess fee to the caller failed.
    /// @param to The caller.
    /// @param amount The excess.
    error FeeRefundFailed(address to, uint256 amount);
    /// @notice The payment's payer is not the caller (for `pay`) or is zero.
    /// @param payer The payment's payer.
    error InvalidPayer(address payer);

    /// @notice The CCIP router of this chain.
    function router() external view returns (IRouterClient);

    /// @notice This chain's Cross-Chain Token (EIP-3009), the one its token pool moves.
    function token() external view returns (IERC20);

    /// @notice The EIP-3009 nonce the payer signs to consent to exactly this payment, executed on the
    /// destination with exactly `gasLimit` gas: `keccak256(abi.encode(destinationChainSelector, receiver,
    /// gasLimit, payment))`.
    /// @param destinationChainSelector The invoice's chain.
    /// @param receiver The `CrossChainInvoiceReceiver` there.
    /// @param payment The payment.
    /// @param gasLimit The gas of the receiver's execution on the destination.
    /// @return The nonce.
    function paymentNonce(
        uint64 destinationChainSelector,
        address receiver,
        CrossChainPayment calldata payment,
        uint256 gasLimit
    ) external pure returns (bytes32);

    /// @notice The CCIP fee of sending `payment` (native currency).
    /// @param destinationChainSelector The invoice's chain.
    /// @param receiver The `CrossChainInvoiceReceiver` there.
    /// @param payment The payment.
    /// @param gasLimit The gas of the receiver's execution on the destination.
    /// @return The fee.
    function quote(
        uint64 destinationChainSelector,
        address receiver,
        CrossChainPayment calldata payment,
        uint256 gasLimit
    ) external view returns (uint256);

    /// @notice Sends `payment` with the payer's EIP-3009 authorization of the invoice amount to this contract
    /// (nonce `paymentNonce(destinationChainSelector, receiver, payment, gasLimit)`). Anyone may submit it;
    /// `msg.value` pays the CCIP fee, the rest is returned to the caller.
    /// @param destinationChainSelector The invoice's chain.
    /// @param receiver The `CrossChainInvoiceReceiver` there.
    /// @param payment The payment (its payer and refund address nonzero).
    /// @param authorization `abi.encode(uint256 validAfter, uint256 validBefore, bytes signature)`.
    /// @param gasLimit The gas of the receiver's execution on the destination, as signed.
    /// @return messageId The CCIP message id.
    function payWithAuthorization(
        uint64 destinationChainSelector,
        address receiver,
        CrossChainPayment calldata payment,
        bytes calldata authorization,
        uint256 gasLimit
    ) external payable returns (bytes32 messageId);

    /// @notice Sends `payment` from the caller's own tokens (approved to this contract); `msg.value` pays the
    /// CCIP fee, the rest is returned.
    /// @param destinationChainSelector The invoice's chain.
    /// @param receiver The `CrossChainInvoiceReceiver` there.
    /// @param payment The payment (its payer the caller, its refund address nonzero).
    /// @param gasLimit The gas of the receiver's execution on the destination.
    /// @return messageId The CCIP message id.
    function pay(
        uint64 destinationChainSelector,
        address receiver,
        CrossChainPayment calldata payment,
        uint256 gasLimit
    ) external payable returns (bytes32 messageId);
}
