// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {PaymentEscrow} from "../../contracts/escrow/PaymentEscrow.sol";
import {IInvoiceRegistry} from "../../contracts/interfaces/IInvoiceRegistry.sol";
import {IPaymentEscrow} from "../../contracts/interfaces/IPaymentEscrow.sol";
import {HalmosToken} from "./HalmosToken.sol";
import {Test} from "forge-std/Test.sol";

/// @notice Formal checks (halmos) of PaymentEscrow conservation: after a symbolic authorization and any two
/// operations (capture with a fee, void, reclaim, refund, top-up, or nothing) with symbolic amounts and fees,
/// what left the escrow (captured + voided + reclaimed) never exceeds what was authorized, refunds never exceed
/// captures, and the escrow holds exactly the rest. The fee rate is the constant FEE_BPS = 0: with a rate in
/// the terms, solc's overflow check of `amount * maxFeeBps` divides by a symbolic amount, and the solver does
/// not finish in minutes; the fee split is covered by the forge fuzz and invariant suites. `check_mustFail_*` are companions halmos must refute, so the proofs are not vacuous.
contract PaymentEscrowHalmos is Test {
    address private constant PAYER = address(0xA11CE);
    address private constant PAYEE = address(0xBEEF);
    address private constant FEE_RECEIVER = address(0xFEE);
    uint16 private constant FEE_BPS = 0;
    uint256 private constant PAYEE_FUNDS = type(uint128).max;

    PaymentEscrow private escrow;
    HalmosToken private token;

    uint256 private authorized;
    uint256 private captured;
    uint256 private refunded;
    uint256 private returned;

    function setUp() public {
        escrow = new PaymentEscrow(IInvoiceRegistry(address(0)));
        token = new HalmosToken();
        // The payee refunds from its own funds.
        token.mint(PAYEE, PAYEE_FUNDS);
        vm.prank(PAYEE);
        token.approve(address(escrow), type(uint256).max);
        vm.prank(PAYER);
        token.approve(address(escrow), type(uint256).max);
    }

    /// @notice Authorize, then two operations: captured + voided + reclaimed <= authorized, and the rest is held.
    function check_escrowConservation(
        uint96 amount,
        uint8[2] calldata ops,
        uint96[2] calldata amounts,
        uint96[2] calldata fees
    ) external {
        IPaymentEscrow.PaymentTerms memory terms = _terms();
        bytes32 id = _authorize(terms, amount);
        _steps(terms, ops, amounts, fees);
        assert(captured + returned <= authorized);
        assert(refunded <= captured);
        IPaymentEscrow.PaymentState memory state = escrow.paymentState(id);
        assert(state.capturable == authorized - captured - returned);
        assert(state.refundable == captured - refunded);
        assert(token.balanceOf(address(escrow)) == state.capturable);
        // The payer got back exactly what was voided, reclaimed or refunded, never more than it put in.
        assert(token.balanceOf(PAYER) == refunded + returned);
        assert(token.balanceOf(PAYEE) + token.balanceOf(FEE_RECEIVER) == PAYEE_FUNDS + captured - refunded);
    }

    /// @notice Companion (must be refuted): the issue's literal bound, captured + refunded + reclaimed <= authorized,
    /// is false: refunds come from the payee's own funds, so a captured payment can be refunded in full.
    function check_mustFail_refundsCountAgainstTheAuthorization(
        uint96 amount,
        uint8[2] calldata ops,
        uint96[2] calldata amounts,
        uint96[2] calldata fees
    ) external {
        IPaymentEscrow.PaymentTerms memory terms = _terms();
        _authorize(terms, amount);
        _steps(terms, ops, amounts, fees);
        assert(captured + refunded + returned <= authorized);
    }

    /// @dev The payment terms of every check, built in one place.
    function _terms() private view returns (IPaymentEscrow.PaymentTerms memory) {
        return IPaymentEscrow.PaymentTerms({
            operator: address(this),
            payer: PAYER,
            payee: PAYEE,
            token: address(token),
            maxAmount: type(uint120).max,
            preApprovalExpiry: uint48(block.timestamp + 100),
            authorizationExpiry: uint48(block.timestamp + 200),
            refundExpiry: uint48(block.timestamp + 300),
            maxFeeBps: FEE_BPS,
            feeReceiver: address(0),
            salt: bytes32(0),
            invoiceId: bytes32(0)
        });
    }

    function _authorize(IPaymentEscrow.PaymentTerms memory terms, uint256 amount) private returns (bytes32 id) {
        token.mint(PAYER, amount);
        vm.prank(PAYER);
        id = escrow.authorize(terms, amount, IPaymentEscrow.Method.Allowance, "");
        authorized += amount;
    }

    /// @dev Two operations, unrolled (no loop bound to reach).
    function _steps(
        IPaymentEscrow.PaymentTerms memory terms,
        uint8[2] calldata ops,
        uint96[2] calldata amounts,
        uint96[2] calldata fees
    ) private {
        _step(terms, ops[0], amounts[0], fees[0]);
        _step(terms, ops[1], amounts[1], fees[1]);
    }

    /// @dev One operation; a reverting one ends the path (a reverted transaction changes nothing, and "nothing"
    /// is one of the operations).
    function _step(IPaymentEscrow.PaymentTerms memory terms, uint8 op, uint256 amount, uint256 fee) private {
        op %= 6;
        if (op == 0) {
            escrow.capture(terms, amount, fee, FEE_RECEIVER);
            captured += amount;
        } else if (op == 1) {
            uint256 held = escrow.paymentState(escrow.paymentId(terms)).capturable;
            escrow.void(terms);
            returned += held;
        } else if (op == 2) {
            vm.warp(terms.authorizationExpiry);
            uint256 held = escrow.paymentState(escrow.paymentId(terms)).capturable;
            vm.prank(PAYER);
            escrow.reclaim(terms);
            returned += held;
        } else if (op == 3) {
            vm.prank(PAYEE);
            escrow.refund(terms, amount);
            refunded += amount;
        } else if (op == 4) {
            token.mint(PAYER, amount);
            vm.prank(PAYER);
            escrow.authorize(terms, amount, IPaymentEscrow.Method.Allowance, "");
            authorized += amount;
        }
    }
}
