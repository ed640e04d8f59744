// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ICrossChainInvoicePayer} from "../interfaces/ICrossChainInvoicePayer.sol";
import {IERC3009} from "../interfaces/IERC3009.sol";
import {IRouterClient} from "@chainlink/contracts-ccip/contracts/interfaces/IRouterClient.sol";
import {Client} from "@chainlink/contracts-ccip/contracts/libraries/Client.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

/// @title CrossChainInvoicePayer
/// @notice The source-chain entry of a cross-chain invoice payment (see `ICrossChainInvoicePayer`).
/// @dev The payer's consent is an EIP-3009 `ReceiveWithAuthorization` to this contract whose nonce binds the
/// destination chain, the receiver, the gas limit of its execution there and the whole payment (invoice,
/// signature, payer, refund address), so whoever submits it (a facilitator paying the fee) can neither
/// redirect anything nor starve the destination's execution; or the payer calls `pay` itself with an
/// allowance. A zero payer or refund address is refused before any token moves.
contract CrossChainInvoicePayer is ICrossChainInvoicePayer, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @inheritdoc ICrossChainInvoicePayer
    IRouterClient public immutable router;
    /// @inheritdoc ICrossChainInvoicePayer
    IERC20 public immutable token;

    /// @param router_ The CCIP router.
    /// @param token_ This chain's Cross-Chain Token.
    constructor(IRouterClient router_, IERC20 token_) {
        router = router_;
        token = token_;
    }

    /// @inheritdoc ICrossChainInvoicePayer
    function paymentNonce(
        uint64 destinationChainSelector,
        address receiver,
        CrossChainPayment calldata payment,
        uint256 gasLimit
    ) public pure returns (bytes32) {
        return keccak256(abi.encode(destinationChainSelector, receiver, gasLimit, payment));
    }

    /// @inheritdoc ICrossChainInvoicePayer
    function quote(
        uint64 destinationChainSelector,
        address receiver,
        CrossChainPayment calldata payment,
        uint256 gasLimit
    ) external view returns (uint256) {
        return router.getFee(destinationChainSelector, _message(receiver, payment, gasLimit));
    }

    /// @inheritdoc ICrossChainInvoicePayer
    function payWithAuthorization(
        uint64 destinationChainSelector,
        address receiver,
        CrossChainPayment calldata payment,
        bytes calldata authorization,
        uint256 gasLimit
    ) external payable nonReentrant returns (bytes32 messageId) {
        if (payment.payer == address(0)) revert InvalidPayer(payment.payer);
        if (payment.refundTo == address(0)) revert InvalidRefundTo(payment.refundTo);
        _collect(payment, paymentNonce(destinationChainSelector, receiver, payment, gasLimit), authorization);
        messageId = _send(destinationChainSelector, receiver, payment, gasLimit);
    }

    /// @inheritdoc ICrossChainInvoicePayer
    function pay(
        uint64 destinationChainSelector,
        address receiver,
        CrossChainPayment calldata payment,
        uint256 gasLimit
    ) external payable nonReentrant returns (bytes32 messageId) {
        if (payment.payer != msg.sender) revert InvalidPayer(payment.payer);
        if (payment.refundTo == address(0)) revert InvalidRefundTo(payment.refundTo);
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
