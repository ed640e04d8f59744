// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IERC3009} from "../interfaces/IERC3009.sol";
import {IInvoiceRegistry} from "../interfaces/IInvoiceRegistry.sol";
import {IPaymentEscrow} from "../interfaces/IPaymentEscrow.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";

/// @title PaymentEscrow
/// @notice Authorize, capture, void, refund and reclaim payments under payer-signed terms.
/// @dev Immutable and ownerless. Every entry point is reentrancy-guarded; funds entering are checked by the
/// escrow's balance delta, so fee-on-transfer and lying tokens are refused. Transfers out that fail (a
/// blacklisted or reverting recipient) are credited to the recipient instead of reverting, so one bad
/// recipient never locks a payer's or anyone else's funds. Invariant: for each token, the escrow holds at
/// least the sum of all capturable amounts plus all credits.
contract PaymentEscrow is IPaymentEscrow, EIP712, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice EIP-712 type hash of `PaymentTerms`.
    bytes32 public constant PAYMENT_TERMS_TYPEHASH = keccak256(
        "PaymentTerms(address operator,address payer,address payee,address token,uint256 maxAmount,uint48 preApprovalExpiry,uint48 authorizationExpiry,uint48 refundExpiry,uint16 maxFeeBps,address feeReceiver,bytes32 salt,bytes32 invoiceId)"
    );

    uint256 private constant MAX_BPS = 10_000;

    /// @inheritdoc IPaymentEscrow
    IInvoiceRegistry public immutable registry;

    mapping(bytes32 paymentId => PaymentState state) private _states;
    mapping(address token => mapping(address recipient => uint256 amount)) private _owed;

    /// @param registry_ The invoice registry `captureInvoice` pays in (zero for none). The registry's owner
    /// must allow this escrow as an Escrow settler.
    constructor(IInvoiceRegistry registry_) EIP712("Quittance Payment Escrow", "1") {
        registry = registry_;
    }

    // ---------------------------------------------------------------------------------------------------
    // Authorize
    // ---------------------------------------------------------------------------------------------------

    /// @inheritdoc IPaymentEscrow
    function authorize(PaymentTerms calldata terms, uint256 amount, Method method, bytes calldata data)
        external
        nonReentrant
        returns (bytes32 id)
    {
        _validateTerms(terms);
        if (amount == 0) revert ZeroAmount();
        if (block.timestamp >= terms.preApprovalExpiry) {
            revert PreApprovalExpired(terms.preApprovalExpiry, block.timestamp);
        }
        id = _paymentId(terms);
        PaymentState memory state = _states[id];
        if (state.closed) revert PaymentClosed(id);
        if (state.authorizations == type(uint8).max) revert TooManyAuthorizations(id);
        uint256 held = state.capturable + amount;
        if (held > terms.maxAmount) revert ExceedsMaxAmount(held, terms.maxAmount);

        uint256 index = state.authorizations;
        // casting is safe: held <= maxAmount < 2**120 (checked in _validateTerms), index < type(uint8).max
        // forge-lint: disable-next-line(unsafe-typecast)
        state.capturable = uint120(held);
        // forge-lint: disable-next-line(unsafe-typecast)
        if (method != Method.Sponsored) state.authorizations = uint8(index + 1);
        _states[id] = state;

        _collect(terms, authorizationNonce(id, index), amount, method, data);
        emit PaymentAuthorized(id, terms.payer, amount, method, index);
    }

    // ---------------------------------------------------------------------------------------------------
    // Capture
    // ---------------------------------------------------------------------------------------------------

    /// @inheritdoc IPaymentEscrow
    function capture(PaymentTerms calldata terms, uint256 amount, uint256 fee, address feeReceiver)
        external
        nonReentrant
    {
        bytes32 id = _beginCapture(terms, amount, fee, feeReceiver);
        emit PaymentCaptured(id, amount, fee, feeReceiver, bytes32(0));
        _send(terms.token, terms.payee, amount - fee);
        if (fee != 0) _send(terms.token, feeReceiver, fee);
    }

    /// @inheritdoc IPaymentEscrow
    function captureInvoice(
        PaymentTerms calldata terms,
        IInvoiceRegistry.Invoice calldata invoice,
        bytes calldata issuerSignature,
        uint256 fee,
        address feeReceiver
    ) external nonReentrant returns (bytes32 invoiceId) {
        _checkInvoice(terms, invoice);
        uint256 amount = invoice.amount + fee;
        bytes32 id = _beginCapture(terms, amount, fee, feeReceiver);

        // The registry pulls exactly the invoice amount from here to the payee and records the invoice.
        IERC20 token = IERC20(terms.token);
        uint256 held = token.balanceOf(address(this));
        token.forceApprove(address(registry), invoice.amount);
        invoiceId = registry.settle(invoice, issuerSignature, terms.payer);
        token.forceApprove(address(registry), 0);
        _requireDelta(held - token.balanceOf(address(this)), invoice.amount);

        emit PaymentCaptured(id, amount, fee, feeReceiver, invoiceId);
        if (fee != 0) _send(terms.token, feeReceiver, fee);
    }

    // ---------------------------------------------------------------------------------------------------
    // Void, reclaim, refund, withdraw
    // ---------------------------------------------------------------------------------------------------

    /// @inheritdoc IPaymentEscrow
    function void(PaymentTerms calldata terms) external nonReentrant {
        if (msg.sender != terms.operator) revert Unauthorized(msg.sender);
        (bytes32 id, uint256 amount) = _close(terms);
        emit PaymentVoided(id, amount);
        _send(terms.token, terms.payer, amount);
    }

    /// @inheritdoc IPaymentEscrow
    function reclaim(PaymentTerms calldata terms) external nonReentrant {
        if (msg.sender != terms.payer) revert Unauthorized(msg.sender);
        if (block.timestamp < terms.authorizationExpiry) {
            revert AuthorizationNotExpired(terms.authorizationExpiry, block.timestamp);
        }
        (bytes32 id, uint256 amount) = _close(terms);
        emit PaymentReclaimed(id, amount);
        _send(terms.token, terms.payer, amount);
    }

    /// @inheritdoc IPaymentEscrow
    function refund(PaymentTerms calldata terms, uint256 amount) external nonReentrant {
        if (msg.sender != terms.operator && msg.sender != terms.payee) revert Unauthorized(msg.sender);
        if (block.timestamp >= terms.refundExpiry) revert RefundExpired(terms.refundExpiry, block.timestamp);
        if (amount == 0) revert ZeroAmount();
        bytes32 id = _paymentId(terms);
        PaymentState storage state = _states[id];
        uint256 refundable = state.refundable;
        if (amount > refundable) revert InsufficientRefundable(amount, refundable);
        // casting is safe: the result is below the uint120 it was read from
        // forge-lint: disable-next-line(unsafe-typecast)
        state.refundable = uint120(refundable - amount);
        emit PaymentRefunded(id, amount, msg.sender);

        // Straight from the refunder to the payer: the escrow never holds refund liquidity.
        IERC20 token = IERC20(terms.token);
        uint256 payerHeld = token.balanceOf(terms.payer);
        token.safeTransferFrom(msg.sender, terms.payer, amount);
        _requireDelta(token.balanceOf(terms.payer) - payerHeld, amount);
    }

    /// @inheritdoc IPaymentEscrow
    function withdraw(address token, address to) external nonReentrant {
        uint256 amount = _owed[token][msg.sender];
        if (amount == 0) revert NothingToReturn();
        _owed[token][msg.sender] = 0;
        emit Withdrawn(token, msg.sender, to, amount);
        uint256 held = IERC20(token).balanceOf(address(this));
        IERC20(token).safeTransfer(to, amount);
        _requireDelta(held - IERC20(token).balanceOf(address(this)), amount);
    }

    // ---------------------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------------------

    /// @inheritdoc IPaymentEscrow
    function paymentId(PaymentTerms calldata terms) external view returns (bytes32) {
        return _paymentId(terms);
    }

    /// @inheritdoc IPaymentEscrow
    function authorizationNonce(bytes32 id, uint256 index) public pure returns (bytes32) {
        return index == 0 ? id : keccak256(abi.encode(id, index));
    }

    /// @inheritdoc IPaymentEscrow
    function paymentState(bytes32 id) external view returns (PaymentState memory) {
        return _states[id];
    }

    /// @inheritdoc IPaymentEscrow
    function owed(address token, address recipient) external view returns (uint256) {
        return _owed[token][recipient];
    }

    // ---------------------------------------------------------------------------------------------------
    // Internals
    // ---------------------------------------------------------------------------------------------------

    function _validateTerms(PaymentTerms calldata terms) private view {
        if (
            terms.operator == address(0) || terms.payer == address(0) || terms.payee == address(0)
                || terms.token.code.length == 0 || terms.maxAmount > type(uint120).max
        ) revert InvalidTerms();
        if (terms.preApprovalExpiry > terms.authorizationExpiry || terms.authorizationExpiry > terms.refundExpiry) {
            revert InvalidExpiries(terms.preApprovalExpiry, terms.authorizationExpiry, terms.refundExpiry);
        }
        if (terms.maxFeeBps > MAX_BPS) revert InvalidFeeBps(terms.maxFeeBps);
    }

    function _paymentId(PaymentTerms calldata terms) private view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(PAYMENT_TERMS_TYPEHASH, terms)));
    }

    /// @dev Brings `amount` from the payer into the escrow by `method`, checking the balance delta. `nonce` is
    /// the EIP-3009 nonce the payer must have signed for this authorization.
    function _collect(PaymentTerms calldata terms, bytes32 nonce, uint256 amount, Method method, bytes calldata data)
        private
    {
        IERC20 token = IERC20(terms.token);
        uint256 held = token.balanceOf(address(this));
        if (method == Method.Authorization) {
            _receiveWithAuthorization(terms, nonce, amount, data);
        } else if (method == Method.Sponsored) {
            if (terms.invoiceId != bytes32(0)) revert SponsoredInvoice(terms.invoiceId);
            if (data.length != 0) revert InvalidMethodData();
            token.safeTransferFrom(msg.sender, address(this), amount);
        } else {
            if (msg.sender != terms.payer) revert Unauthorized(msg.sender);
            if (method == Method.Permit) {
                _permit(terms, amount, data);
            } else if (data.length != 0) {
                revert InvalidMethodData();
            }
            token.safeTransferFrom(terms.payer, address(this), amount);
        }
        _requireDelta(token.balanceOf(address(this)) - held, amount);
    }

    function _receiveWithAuthorization(PaymentTerms calldata terms, bytes32 nonce, uint256 amount, bytes calldata data)
        private
    {
        // Three head words and the signature's length word at least.
        if (data.length < 128) revert InvalidMethodData();
        (uint256 validAfter, uint256 validBefore, bytes memory signature) = abi.decode(data, (uint256, uint256, bytes));
        IERC3009(terms.token)
            .receiveWithAuthorization(terms.payer, address(this), amount, validAfter, validBefore, nonce, signature);
    }

    function _permit(PaymentTerms calldata terms, uint256 amount, bytes calldata data) private {
        // Two head words and the signature's length word at least.
        if (data.length < 96) revert InvalidMethodData();
        (uint256 deadline, bytes memory signature) = abi.decode(data, (uint256, bytes));
        if (signature.length != 65) revert InvalidMethodData();
        (bytes32 r, bytes32 s, uint8 v) = _split(signature);
        // A front-run permit is tolerated: the transfer that follows still needs the allowance.
        try IERC20Permit(terms.token).permit(terms.payer, address(this), amount, deadline, v, r, s) {} catch {}
    }

    /// @dev Requires a registry and `invoice` to be the one invoice `terms` name, to their payee in their token.
    function _checkInvoice(PaymentTerms calldata terms, IInvoiceRegistry.Invoice calldata invoice) private view {
        if (address(registry) == address(0)) revert NoRegistry();
        if (terms.invoiceId == bytes32(0)) revert NoInvoiceInTerms();
        bytes32 presented = registry.invoiceId(invoice);
        if (presented != terms.invoiceId) revert InvoiceNotInTerms(presented, terms.invoiceId);
        if (invoice.payee != terms.payee || invoice.token != terms.token) revert InvoiceMismatch(presented);
    }

    /// @dev The checks and state change shared by both captures; returns the payment id.
    function _beginCapture(PaymentTerms calldata terms, uint256 amount, uint256 fee, address feeReceiver)
        private
        returns (bytes32 id)
    {
        if (msg.sender != terms.operator) revert Unauthorized(msg.sender);
        if (block.timestamp >= terms.authorizationExpiry) {
            revert AuthorizationExpired(terms.authorizationExpiry, block.timestamp);
        }
        if (amount == 0) revert ZeroAmount();
        if (fee > amount || fee * MAX_BPS > amount * terms.maxFeeBps) revert FeeTooHigh(fee, amount, terms.maxFeeBps);
        if (
            (terms.feeReceiver != address(0) && feeReceiver != terms.feeReceiver)
                || (fee != 0 && feeReceiver == address(0))
        ) revert InvalidFeeReceiver(feeReceiver);

        id = _paymentId(terms);
        PaymentState storage state = _states[id];
        uint256 capturable = state.capturable;
        if (amount > capturable) revert InsufficientCapturable(amount, capturable);
        // casting is safe: amount <= capturable < 2**120; the uint120 sum below is overflow-checked
        // forge-lint: disable-next-line(unsafe-typecast)
        state.capturable = uint120(capturable - amount);
        // forge-lint: disable-next-line(unsafe-typecast)
        state.refundable += uint120(amount);
    }

    /// @dev Empties and closes a payment; returns its id and what was capturable.
    function _close(PaymentTerms calldata terms) private returns (bytes32 id, uint256 amount) {
        id = _paymentId(terms);
        PaymentState storage state = _states[id];
        amount = state.capturable;
        if (amount == 0) revert NothingToReturn();
        state.capturable = 0;
        state.closed = true;
    }

    /// @dev Pays `amount` out; if the transfer fails (blacklisted or reverting recipient, paused token), credits
    /// the recipient instead, so the operation that pays never gets stuck. A transfer that failed leaving at
    /// most 1/8 of the gas it started with ran out of gas: EIP-150 keeps 1/64 back in each frame, so a token
    /// behind proxies returns a few 64ths; the caller passed too little gas, and the whole call reverts rather
    /// than turn a payment into a credit. A real refusal (blacklist, pause) costs far less than 7/8.
    function _send(address token, address to, uint256 amount) private {
        uint256 held = IERC20(token).balanceOf(address(this));
        uint256 gasBefore = gasleft();
        if (IERC20(token).trySafeTransfer(to, amount)) {
            _requireDelta(held - IERC20(token).balanceOf(address(this)), amount);
        } else {
            if (gasleft() <= gasBefore / 8) revert InsufficientGas();
            _owed[token][to] += amount;
            emit TransferDeferred(token, to, amount);
        }
    }

    function _requireDelta(uint256 actual, uint256 expected) private pure {
        if (actual != expected) revert AmountMismatch(expected, actual);
    }

    function _split(bytes memory signature) private pure returns (bytes32 r, bytes32 s, uint8 v) {
        assembly ("memory-safe") {
            r := mload(add(signature, 0x20))
            s := mload(add(signature, 0x40))
            v := byte(0, mload(add(signature, 0x60)))
        }
    }
}
