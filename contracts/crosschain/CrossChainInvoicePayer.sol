// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ICrossChainInvoice} from "../interfaces/ICrossChainInvoice.sol";
import {IERC3009} from "../interfaces/IERC3009.sol";
import {IRouterClient} from "@chainlink/contracts-ccip/contracts/interfaces/IRouterClient.sol";
import {Client} from "@chainlink/contracts-ccip/contracts/libraries/Client.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

/// @title CrossChainInvoicePayer
/// @notice The source-chain entry of a cross-chain invoice payment: takes the invoice amount of this chain's
/// Cross-Chain Token from the payer and sends it with the invoice through the CCIP router to a
/// `CrossChainInvoiceReceiver` on the invoice's chain, paying the CCIP fee in native currency.
/// @dev The payer's consent is an EIP-3009 `ReceiveWithAuthorization` to this contract whose nonce binds the
/// destination chain, the receiver and the whole payment (invoice, signature, payer, refund address), so
/// whoever submits it (a facilitator paying the fee) cannot redirect anything; or the payer calls `pay`
/// itself with an allowance.
contract CrossChainInvoicePayer is ICrossChainInvoice, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice The CCIP router of this chain.
    IRouterClient public immutable router;
    /// @notice This chain's Cross-Chain Token (EIP-3009), the one its token pool moves.
    IERC20 public immutable token;

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
    error InsufficientFee(uint256 fee, uint256 value);
    /// @notice The router does not serve that chain.
    error UnsupportedChain(uint64 destinationChainSelector);
    /// @notice Returning the excess fee failed.
    error FeeRefundFailed(address to, uint256 amount);
    /// @notice The payment's payer is not the caller (for `pay`) or is zero.
    error InvalidPayer(address payer);

    /// @param router_ The CCIP router.
    /// @param token_ This chain's Cross-Chain Token.
    constructor(IRouterClient router_, IERC20 token_) {
        router = router_;
        token = token_;
    }

    /// @notice The EIP-3009 nonce the payer signs to consent to exactly this payment.
    function paymentNonce(uint64 destinationChainSelector, address receiver, CrossChainPayment calldata payment)
        public
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(destinationChainSelector, receiver, payment));
    }

    /// @notice The CCIP fee of sending `payment` (native currency).
    function quote(
        uint64 destinationChainSelector,
        address receiver,
        CrossChainPayment calldata payment,
        uint256 gasLimit
    ) external view returns (uint256) {
        return router.getFee(destinationChainSelector, _message(receiver, payment, gasLimit));
    }

    /// @notice Sends `payment` with the payer's EIP-3009 authorization of the invoice amount to this contract
    /// (nonce `paymentNonce(...)`). Anyone may submit it; `msg.value` pays the CCIP fee, the rest is returned.
    /// @param authorization `abi.encode(uint256 validAfter, uint256 validBefore, bytes signature)`.
    /// @return messageId The CCIP message id.
    function payWithAuthorization(
        uint64 destinationChainSelector,
        address receiver,
        CrossChainPayment calldata payment,
        bytes calldata authorization,
        uint256 gasLimit
    ) external payable nonReentrant returns (bytes32 messageId) {
        if (payment.payer == address(0)) revert InvalidPayer(payment.payer);
        _collect(payment, paymentNonce(destinationChainSelector, receiver, payment), authorization);
        messageId = _send(destinationChainSelector, receiver, payment, gasLimit);
    }

    /// @notice Sends `payment` from the caller's own tokens (approved to this contract); `msg.value` pays the
    /// CCIP fee, the rest is returned.
    /// @return messageId The CCIP message id.
    function pay(
        uint64 destinationChainSelector,
        address receiver,
        CrossChainPayment calldata payment,
        uint256 gasLimit
    ) external payable nonReentrant returns (bytes32 messageId) {
        if (payment.payer != msg.sender) revert InvalidPayer(payment.payer);
        token.safeTransferFrom(msg.sender, address(this), payment.invoice.amount);
        messageId = _send(destinationChainSelector, receiver, payment, gasLimit);
    }

    function _collect(CrossChainPayment calldata payment, bytes32 nonce, bytes calldata authorization) private {
        (uint256 validAfter, uint256 validBefore, bytes memory signature) =
            abi.decode(authorization, (uint256, uint256, bytes));
        IERC3009(address(token))
            .receiveWithAuthorization(
                payment.payer, address(this), payment.invoice.amount, validAfter, validBefore, nonce, signature
            );
    }

    function _send(
        uint64 destinationChainSelector,
        address receiver,
        CrossChainPayment calldata payment,
        uint256 gasLimit
    ) private returns (bytes32 messageId) {
        if (!router.isChainSupported(destinationChainSelector)) {
            revert UnsupportedChain(destinationChainSelector);
        }
        Client.EVM2AnyMessage memory message = _message(receiver, payment, gasLimit);
        uint256 fee = router.getFee(destinationChainSelector, message);
        if (msg.value < fee) revert InsufficientFee(fee, msg.value);
        uint256 amount = payment.invoice.amount;
        token.forceApprove(address(router), amount);
        messageId = router.ccipSend{value: fee}(destinationChainSelector, message);
        emit PaymentSent(messageId, destinationChainSelector, payment.payer, amount, fee);
        if (msg.value > fee) {
            (bool sent,) = msg.sender.call{value: msg.value - fee}("");
            if (!sent) revert FeeRefundFailed(msg.sender, msg.value - fee);
        }
    }

    function _message(address receiver, CrossChainPayment calldata payment, uint256 gasLimit)
        private
        view
        returns (Client.EVM2AnyMessage memory message)
    {
        Client.EVMTokenAmount[] memory tokens = new Client.EVMTokenAmount[](1);
        tokens[0] = Client.EVMTokenAmount({token: address(token), amount: payment.invoice.amount});
        message = Client.EVM2AnyMessage({
            receiver: abi.encode(receiver),
            data: abi.encode(payment),
            tokenAmounts: tokens,
            feeToken: address(0),
            extraArgs: Client._argsToBytes(
                Client.GenericExtraArgsV2({gasLimit: gasLimit, allowOutOfOrderExecution: true})
            )
        });
    }
}
