// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IPaymentEscrow} from "../../contracts/interfaces/IPaymentEscrow.sol";
import {PaymentEscrowBase} from "../base/PaymentEscrowBase.sol";

contract AuthorizeSponsoredTest is PaymentEscrowBase {
    IPaymentEscrow.PaymentTerms internal terms;
    bytes32 internal id;
    address internal sponsor = makeAddr("sponsor");

    function setUp() public override {
        super.setUp();
        terms = _terms();
        id = _paymentId(terms);
        vm.prank(owner);
        usdc.mint(sponsor, INITIAL_BALANCE);
        vm.prank(sponsor);
        usdc.approve(address(escrow), type(uint256).max);
    }

    function _sponsor(IPaymentEscrow.PaymentTerms memory t, uint256 amount, bytes memory data) internal {
        vm.prank(sponsor);
        escrow.authorize(t, amount, IPaymentEscrow.Method.Sponsored, data);
    }

    function test_authorizeSponsored_PullsFromCallerInPayersName() public {
        vm.expectEmit(address(escrow));
        emit IPaymentEscrow.PaymentAuthorized(id, payer, AMOUNT, IPaymentEscrow.Method.Sponsored, 0);
        _sponsor(terms, AMOUNT, "");

        assertEq(usdc.balanceOf(sponsor), INITIAL_BALANCE - AMOUNT);
        assertEq(usdc.balanceOf(payer), INITIAL_BALANCE);
        assertEq(usdc.balanceOf(address(escrow)), AMOUNT);
        _assertState(id, AMOUNT, 0, 0, false);
    }

    function test_authorizeSponsored_KeepsPayersNonceIndex() public {
        _sponsor(terms, AMOUNT, "");
        // The payer's first authorization still signs nonce index 0.
        _authorize(terms, AMOUNT);
        _assertState(id, 2 * AMOUNT, 0, 1, false);
    }

    function test_authorizeSponsored_VoidReturnsToPayer() public {
        _sponsor(terms, AMOUNT, "");
        vm.prank(operator);
        escrow.void(terms);
        assertEq(usdc.balanceOf(payer), INITIAL_BALANCE + AMOUNT);
        assertEq(usdc.balanceOf(sponsor), INITIAL_BALANCE - AMOUNT);
    }

    function test_authorizeSponsored_RevertWhen_TermsNameInvoice() public {
        IPaymentEscrow.PaymentTerms memory t = _termsFor(_invoice(AMOUNT));
        Balances memory before = _balances();
        vm.expectRevert(abi.encodeWithSelector(IPaymentEscrow.SponsoredInvoice.selector, t.invoiceId));
        _sponsor(t, AMOUNT, "");
        _assertBalances(before);
        _assertState(_paymentId(t), 0, 0, 0, false);
    }

    function test_authorizeSponsored_RevertWhen_DataGiven() public {
        vm.expectRevert(IPaymentEscrow.InvalidMethodData.selector);
        _sponsor(terms, AMOUNT, hex"01");
        _assertState(id, 0, 0, 0, false);
    }

    function test_authorizeSponsored_RevertWhen_AboveMaxAmount() public {
        vm.expectRevert(abi.encodeWithSelector(IPaymentEscrow.ExceedsMaxAmount.selector, MAX_AMOUNT + 1, MAX_AMOUNT));
        _sponsor(terms, MAX_AMOUNT + 1, "");
        assertEq(usdc.balanceOf(sponsor), INITIAL_BALANCE);
    }
}
