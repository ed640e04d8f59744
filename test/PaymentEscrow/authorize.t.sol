// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IERC3009} from "../../contracts/interfaces/IERC3009.sol";
import {IPaymentEscrow} from "../../contracts/interfaces/IPaymentEscrow.sol";
import {PaymentEscrowBase} from "../base/PaymentEscrowBase.sol";
import {MockERC1271Wallet} from "../mocks/MockERC1271Wallet.sol";
import {MockFeeOnTransferToken} from "../mocks/MockFeeOnTransferToken.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";

contract AuthorizeTest is PaymentEscrowBase {
    IPaymentEscrow.PaymentTerms internal terms;
    bytes32 internal id;

    function setUp() public override {
        super.setUp();
        terms = _terms();
        id = _paymentId(terms);
    }

    /// @dev Expects `authorize` to revert with `err` and checks that nothing moved and the state did not change.
    function _expectAuthorizeRevert(
        IPaymentEscrow.PaymentTerms memory t,
        uint256 amount,
        IPaymentEscrow.Method method,
        bytes memory data,
        address caller,
        bytes memory err
    ) internal {
        Balances memory before = _balances();
        IPaymentEscrow.PaymentState memory state = escrow.paymentState(_paymentId(t));
        vm.expectRevert(err);
        vm.prank(caller);
        escrow.authorize(t, amount, method, data);
        _assertBalances(before);
        _assertState(_paymentId(t), state.capturable, state.refundable, state.authorizations, state.closed);
    }

    function _expectInvalidTerms(IPaymentEscrow.PaymentTerms memory t) internal {
        _expectAuthorizeRevert(
            t,
            AMOUNT,
            IPaymentEscrow.Method.Allowance,
            "",
            payer,
            abi.encodeWithSelector(IPaymentEscrow.InvalidTerms.selector)
        );
    }

    // ---------------------------------------------------------------------------------------------------
    // The three methods
    // ---------------------------------------------------------------------------------------------------

    function test_authorize_WithAuthorization_PullsExactAmount() public {
        bytes memory data = _authorizationData(terms, AMOUNT, 0);

        vm.expectEmit(address(usdc));
        emit IERC3009.AuthorizationUsed(payer, id);
        vm.expectEmit(address(escrow));
        emit IPaymentEscrow.PaymentAuthorized(id, payer, AMOUNT, IPaymentEscrow.Method.Authorization, 0);
        vm.prank(relayer);
        bytes32 returned = escrow.authorize(terms, AMOUNT, IPaymentEscrow.Method.Authorization, data);

        assertEq(returned, id);
        assertEq(usdc.balanceOf(payer), INITIAL_BALANCE - AMOUNT);
        assertEq(usdc.balanceOf(address(escrow)), AMOUNT);
        assertEq(usdc.balanceOf(relayer), 0);
        assertTrue(usdc.authorizationState(payer, id));
        _assertState(id, AMOUNT, 0, 1, false);
    }

    function test_authorize_WithAuthorization_AnyoneMaySubmit() public {
        address[4] memory submitters = [operator, payee, stranger, payer];
        for (uint256 i; i < submitters.length; ++i) {
            bytes memory data = _authorizationData(terms, 1e6, i);
            vm.prank(submitters[i]);
            escrow.authorize(terms, 1e6, IPaymentEscrow.Method.Authorization, data);
        }
        assertEq(usdc.balanceOf(address(escrow)), 4e6);
        _assertState(id, 4e6, 0, 4, false);
    }

    function test_authorize_WithAuthorization_AcceptsContractWalletPayer() public {
        MockERC1271Wallet wallet = new MockERC1271Wallet(payer);
        vm.prank(owner);
        usdc.mint(address(wallet), AMOUNT);
        terms.payer = address(wallet);
        bytes32 walletId = _paymentId(terms);
        uint256 validBefore = block.timestamp + 1 hours;
        bytes32 structHash =
            keccak256(abi.encode(RECEIVE_TYPEHASH, address(wallet), address(escrow), AMOUNT, 0, validBefore, walletId));
        bytes memory signature =
            _signPacked(payerKey, keccak256(abi.encodePacked("\x19\x01", _tokenDomainSeparator(), structHash)));

        vm.prank(relayer);
        escrow.authorize(terms, AMOUNT, IPaymentEscrow.Method.Authorization, abi.encode(0, validBefore, signature));

        assertEq(usdc.balanceOf(address(wallet)), 0);
        _assertState(walletId, AMOUNT, 0, 1, false);
    }

    function test_authorize_WithPermit_PullsExactAmount() public {
        bytes memory data = _permitData(payerKey, AMOUNT, block.timestamp + 1 hours);

        vm.expectEmit(address(escrow));
        emit IPaymentEscrow.PaymentAuthorized(id, payer, AMOUNT, IPaymentEscrow.Method.Permit, 0);
        vm.prank(payer);
        escrow.authorize(terms, AMOUNT, IPaymentEscrow.Method.Permit, data);

        assertEq(usdc.balanceOf(payer), INITIAL_BALANCE - AMOUNT);
        assertEq(usdc.balanceOf(address(escrow)), AMOUNT);
        assertEq(usdc.allowance(payer, address(escrow)), 0);
        assertEq(usdc.nonces(payer), 1);
        _assertState(id, AMOUNT, 0, 1, false);
    }

    function test_authorize_WithPermit_ToleratesFrontRunPermit() public {
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory data = _permitData(payerKey, AMOUNT, deadline);
        (, bytes memory signature) = abi.decode(data, (uint256, bytes));
        // Someone who saw the permit in the mempool submits it to the token first.
        vm.prank(stranger);
        usdc.permit(payer, address(escrow), AMOUNT, deadline, signature);

        vm.prank(payer);
        escrow.authorize(terms, AMOUNT, IPaymentEscrow.Method.Permit, data);

        assertEq(usdc.balanceOf(address(escrow)), AMOUNT);
        _assertState(id, AMOUNT, 0, 1, false);
    }

    function test_authorize_WithAllowance_PullsExactAmount() public {
        vm.startPrank(payer);
        assertTrue(usdc.approve(address(escrow), 3 * AMOUNT));
        vm.expectEmit(address(escrow));
        emit IPaymentEscrow.PaymentAuthorized(id, payer, AMOUNT, IPaymentEscrow.Method.Allowance, 0);
        escrow.authorize(terms, AMOUNT, IPaymentEscrow.Method.Allowance, "");
        vm.stopPrank();

        assertEq(usdc.balanceOf(payer), INITIAL_BALANCE - AMOUNT);
        assertEq(usdc.balanceOf(address(escrow)), AMOUNT);
        assertEq(usdc.allowance(payer, address(escrow)), 2 * AMOUNT);
        _assertState(id, AMOUNT, 0, 1, false);
    }

    function test_authorize_AcceptsMaxAmountExactly() public {
        _authorize(terms, MAX_AMOUNT);
        _assertState(id, MAX_AMOUNT, 0, 1, false);
    }

    function test_authorize_AcceptsEqualExpiriesAndFullFeeBps() public {
        terms.preApprovalExpiry = PRE_APPROVAL_EXPIRY;
        terms.authorizationExpiry = PRE_APPROVAL_EXPIRY;
        terms.refundExpiry = PRE_APPROVAL_EXPIRY;
        terms.maxFeeBps = 10_000;
        terms.maxAmount = type(uint120).max;
        bytes32 otherId = _authorizeWithAllowance(terms, AMOUNT);
        _assertState(otherId, AMOUNT, 0, 1, false);
    }

    function test_authorize_OneSecondBeforePreApprovalExpiry() public {
        vm.warp(PRE_APPROVAL_EXPIRY - 1);
        _authorize(terms, AMOUNT);
        _assertState(id, AMOUNT, 0, 1, false);
    }

    // ---------------------------------------------------------------------------------------------------
    // Top-ups
    // ---------------------------------------------------------------------------------------------------

    function test_authorize_TopUpsUseTheNextNonce() public {
        _authorize(terms, AMOUNT);
        for (uint256 index = 1; index <= 2; ++index) {
            bytes memory data = _authorizationData(terms, 2e6, index);
            bytes32 nonce = keccak256(abi.encode(id, index));
            vm.expectEmit(address(usdc));
            emit IERC3009.AuthorizationUsed(payer, nonce);
            vm.expectEmit(address(escrow));
            emit IPaymentEscrow.PaymentAuthorized(id, payer, 2e6, IPaymentEscrow.Method.Authorization, index);
            vm.prank(relayer);
            escrow.authorize(terms, 2e6, IPaymentEscrow.Method.Authorization, data);
            assertTrue(usdc.authorizationState(payer, nonce));
        }

        assertEq(usdc.balanceOf(address(escrow)), AMOUNT + 4e6);
        assertEq(usdc.balanceOf(payer), INITIAL_BALANCE - AMOUNT - 4e6);
        _assertState(id, AMOUNT + 4e6, 0, 3, false);
    }

    function test_authorize_TopUpsMixMethods() public {
        _authorizeWithAllowance(terms, 1e6);
        // The allowance used index 0, so the payer's EIP-3009 top-up signs index 1.
        _authorize(terms, 2e6);
        bytes memory data = _permitData(payerKey, 3e6, block.timestamp + 1 hours);
        vm.expectEmit(address(escrow));
        emit IPaymentEscrow.PaymentAuthorized(id, payer, 3e6, IPaymentEscrow.Method.Permit, 2);
        vm.prank(payer);
        escrow.authorize(terms, 3e6, IPaymentEscrow.Method.Permit, data);

        assertTrue(usdc.authorizationState(payer, keccak256(abi.encode(id, uint256(1)))));
        assertFalse(usdc.authorizationState(payer, id));
        _assertState(id, 6e6, 0, 3, false);
    }

    function test_authorize_TopUpAfterCaptureWithinMaxAmount() public {
        // maxAmount caps what is held at any time: a capture frees room for a top-up.
        _authorize(terms, MAX_AMOUNT);
        _capture(terms, 40e6, 0, address(0));
        _authorize(terms, 40e6);
        _assertState(id, MAX_AMOUNT, 40e6, 2, false);
    }

    // ---------------------------------------------------------------------------------------------------
    // Reverts: terms and amount
    // ---------------------------------------------------------------------------------------------------

    function test_authorize_RevertWhen_AmountIsZero() public {
        bytes memory data = _authorizationData(terms, 0, 0);
        _expectAuthorizeRevert(
            terms,
            0,
            IPaymentEscrow.Method.Authorization,
            data,
            relayer,
            abi.encodeWithSelector(IPaymentEscrow.ZeroAmount.selector)
        );
        _expectAuthorizeRevert(
            terms,
            0,
            IPaymentEscrow.Method.Allowance,
            "",
            payer,
            abi.encodeWithSelector(IPaymentEscrow.ZeroAmount.selector)
        );
    }

    function test_authorize_RevertWhen_OperatorIsZero() public {
        terms.operator = address(0);
        _expectInvalidTerms(terms);
    }

    function test_authorize_RevertWhen_PayerIsZero() public {
        terms.payer = address(0);
        _expectInvalidTerms(terms);
    }

    function test_authorize_RevertWhen_PayeeIsZero() public {
        terms.payee = address(0);
        _expectInvalidTerms(terms);
    }

    function test_authorize_RevertWhen_TokenIsZero() public {
        terms.token = address(0);
        _expectInvalidTerms(terms);
    }

    function test_authorize_RevertWhen_TokenHasNoCode() public {
        terms.token = makeAddr("not a token");
        _expectInvalidTerms(terms);
    }

    function test_authorize_RevertWhen_MaxAmountExceedsUint120() public {
        terms.maxAmount = uint256(type(uint120).max) + 1;
        _expectInvalidTerms(terms);
    }

    function test_authorize_RevertWhen_PreApprovalAfterAuthorizationExpiry() public {
        terms.preApprovalExpiry = AUTHORIZATION_EXPIRY + 1;
        _expectAuthorizeRevert(
            terms,
            AMOUNT,
            IPaymentEscrow.Method.Allowance,
            "",
            payer,
            abi.encodeWithSelector(
                IPaymentEscrow.InvalidExpiries.selector, AUTHORIZATION_EXPIRY + 1, AUTHORIZATION_EXPIRY, REFUND_EXPIRY
            )
        );
    }

    function test_authorize_RevertWhen_AuthorizationAfterRefundExpiry() public {
        terms.authorizationExpiry = REFUND_EXPIRY + 1;
        _expectAuthorizeRevert(
            terms,
            AMOUNT,
            IPaymentEscrow.Method.Allowance,
            "",
            payer,
            abi.encodeWithSelector(
                IPaymentEscrow.InvalidExpiries.selector, PRE_APPROVAL_EXPIRY, REFUND_EXPIRY + 1, REFUND_EXPIRY
            )
        );
    }

    function test_authorize_RevertWhen_MaxFeeBpsAbove10000() public {
        terms.maxFeeBps = 10_001;
        _expectAuthorizeRevert(
            terms,
            AMOUNT,
            IPaymentEscrow.Method.Allowance,
            "",
            payer,
            abi.encodeWithSelector(IPaymentEscrow.InvalidFeeBps.selector, uint16(10_001))
        );
    }

    function test_authorize_RevertWhen_AtPreApprovalExpiry() public {
        vm.warp(PRE_APPROVAL_EXPIRY);
        bytes memory data = _authorizationData(terms, AMOUNT, 0);
        _expectAuthorizeRevert(
            terms,
            AMOUNT,
            IPaymentEscrow.Method.Authorization,
            data,
            relayer,
            abi.encodeWithSelector(IPaymentEscrow.PreApprovalExpired.selector, PRE_APPROVAL_EXPIRY, PRE_APPROVAL_EXPIRY)
        );
    }

    function test_authorize_RevertWhen_TopUpAfterPreApprovalExpiry() public {
        _authorize(terms, AMOUNT);
        vm.warp(PRE_APPROVAL_EXPIRY + 1);
        bytes memory data = _authorizationData(terms, AMOUNT, 1);
        _expectAuthorizeRevert(
            terms,
            AMOUNT,
            IPaymentEscrow.Method.Authorization,
            data,
            relayer,
            abi.encodeWithSelector(
                IPaymentEscrow.PreApprovalExpired.selector, PRE_APPROVAL_EXPIRY, PRE_APPROVAL_EXPIRY + 1
            )
        );
    }

    function test_authorize_RevertWhen_ExceedsMaxAmount() public {
        bytes memory data = _authorizationData(terms, MAX_AMOUNT + 1, 0);
        _expectAuthorizeRevert(
            terms,
            MAX_AMOUNT + 1,
            IPaymentEscrow.Method.Authorization,
            data,
            relayer,
            abi.encodeWithSelector(IPaymentEscrow.ExceedsMaxAmount.selector, MAX_AMOUNT + 1, MAX_AMOUNT)
        );
    }

    function test_authorize_RevertWhen_TopUpExceedsMaxAmount() public {
        _authorize(terms, 60e6);
        bytes memory data = _authorizationData(terms, 40e6 + 1, 1);
        _expectAuthorizeRevert(
            terms,
            40e6 + 1,
            IPaymentEscrow.Method.Authorization,
            data,
            relayer,
            abi.encodeWithSelector(IPaymentEscrow.ExceedsMaxAmount.selector, MAX_AMOUNT + 1, MAX_AMOUNT)
        );
        _authorize(terms, 40e6);
        _assertState(id, MAX_AMOUNT, 0, 2, false);
    }

    // ---------------------------------------------------------------------------------------------------
    // Reverts: closed payments and the authorization count
    // ---------------------------------------------------------------------------------------------------

    function test_authorize_RevertWhen_TopUpAfterVoid() public {
        _authorize(terms, AMOUNT);
        vm.prank(operator);
        escrow.void(terms);

        bytes memory data = _authorizationData(terms, AMOUNT, 1);
        _expectAuthorizeRevert(
            terms,
            AMOUNT,
            IPaymentEscrow.Method.Authorization,
            data,
            relayer,
            abi.encodeWithSelector(IPaymentEscrow.PaymentClosed.selector, id)
        );
        vm.prank(payer);
        assertTrue(usdc.approve(address(escrow), AMOUNT));
        _expectAuthorizeRevert(
            terms,
            AMOUNT,
            IPaymentEscrow.Method.Allowance,
            "",
            payer,
            abi.encodeWithSelector(IPaymentEscrow.PaymentClosed.selector, id)
        );
    }

    function test_authorize_RevertWhen_TopUpAfterReclaim() public {
        // A reclaim comes at or after the authorization expiry, hence after the pre-approval expiry: the top-up
        // is refused for that reason before the closed payment is even looked at.
        _authorize(terms, AMOUNT);
        vm.warp(AUTHORIZATION_EXPIRY);
        vm.prank(payer);
        escrow.reclaim(terms);

        vm.prank(payer);
        assertTrue(usdc.approve(address(escrow), AMOUNT));
        _expectAuthorizeRevert(
            terms,
            AMOUNT,
            IPaymentEscrow.Method.Allowance,
            "",
            payer,
            abi.encodeWithSelector(
                IPaymentEscrow.PreApprovalExpired.selector, PRE_APPROVAL_EXPIRY, AUTHORIZATION_EXPIRY
            )
        );
        _assertState(id, 0, 0, 1, true);
    }

    function test_authorize_RevertWhen_TooManyAuthorizations() public {
        vm.startPrank(payer);
        assertTrue(usdc.approve(address(escrow), type(uint256).max));
        for (uint256 i; i < 255; ++i) {
            escrow.authorize(terms, 1, IPaymentEscrow.Method.Allowance, "");
        }
        vm.stopPrank();
        _assertState(id, 255, 0, 255, false);

        _expectAuthorizeRevert(
            terms,
            1,
            IPaymentEscrow.Method.Allowance,
            "",
            payer,
            abi.encodeWithSelector(IPaymentEscrow.TooManyAuthorizations.selector, id)
        );
    }

    // ---------------------------------------------------------------------------------------------------
    // Reverts: methods and their data
    // ---------------------------------------------------------------------------------------------------

    function test_authorize_RevertWhen_PermitCallerIsNotPayer() public {
        bytes memory data = _permitData(payerKey, AMOUNT, block.timestamp + 1 hours);
        _expectAuthorizeRevert(
            terms,
            AMOUNT,
            IPaymentEscrow.Method.Permit,
            data,
            operator,
            abi.encodeWithSelector(IPaymentEscrow.Unauthorized.selector, operator)
        );
        assertEq(usdc.nonces(payer), 0);
    }

    function test_authorize_RevertWhen_AllowanceCallerIsNotPayer() public {
        // Even with an allowance in place, nobody but the payer may spend it into escrow.
        vm.prank(payer);
        assertTrue(usdc.approve(address(escrow), type(uint256).max));
        _expectAuthorizeRevert(
            terms,
            AMOUNT,
            IPaymentEscrow.Method.Allowance,
            "",
            stranger,
            abi.encodeWithSelector(IPaymentEscrow.Unauthorized.selector, stranger)
        );
        _expectAuthorizeRevert(
            terms,
            AMOUNT,
            IPaymentEscrow.Method.Allowance,
            "",
            operator,
            abi.encodeWithSelector(IPaymentEscrow.Unauthorized.selector, operator)
        );
    }

    function test_authorize_RevertWhen_AllowanceWithData() public {
        vm.prank(payer);
        assertTrue(usdc.approve(address(escrow), AMOUNT));
        _expectAuthorizeRevert(
            terms,
            AMOUNT,
            IPaymentEscrow.Method.Allowance,
            hex"00",
            payer,
            abi.encodeWithSelector(IPaymentEscrow.InvalidMethodData.selector)
        );
    }

    function test_authorize_RevertWhen_PermitSignatureIsNot65Bytes() public {
        uint256 deadline = block.timestamp + 1 hours;
        (, bytes memory signature) = abi.decode(_permitData(payerKey, AMOUNT, deadline), (uint256, bytes));
        bytes memory short = new bytes(64);
        bytes memory long = bytes.concat(signature, hex"00");
        for (uint256 i; i < 64; ++i) {
            short[i] = signature[i];
        }
        _expectAuthorizeRevert(
            terms,
            AMOUNT,
            IPaymentEscrow.Method.Permit,
            abi.encode(deadline, short),
            payer,
            abi.encodeWithSelector(IPaymentEscrow.InvalidMethodData.selector)
        );
        _expectAuthorizeRevert(
            terms,
            AMOUNT,
            IPaymentEscrow.Method.Permit,
            abi.encode(deadline, long),
            payer,
            abi.encodeWithSelector(IPaymentEscrow.InvalidMethodData.selector)
        );
    }

    function test_authorize_RevertWhen_AuthorizationDataIsMalformed() public {
        Balances memory before = _balances();
        vm.expectRevert(IPaymentEscrow.InvalidMethodData.selector);
        vm.prank(relayer);
        escrow.authorize(terms, AMOUNT, IPaymentEscrow.Method.Authorization, hex"1234");
        vm.expectRevert(IPaymentEscrow.InvalidMethodData.selector);
        vm.prank(payer);
        escrow.authorize(terms, AMOUNT, IPaymentEscrow.Method.Permit, "");
        _assertBalances(before);
        _assertState(id, 0, 0, 0, false);
    }

    // ---------------------------------------------------------------------------------------------------
    // Reverts: the token refuses
    // ---------------------------------------------------------------------------------------------------

    function test_authorize_RevertWhen_AuthorizationSignedByAnotherKey() public {
        (, uint256 strangerKey) = makeAddrAndKey("stranger key");
        bytes memory data = _authorizationData(strangerKey, AMOUNT, id, block.timestamp - 1, block.timestamp + 1 hours);
        _expectAuthorizeRevert(
            terms,
            AMOUNT,
            IPaymentEscrow.Method.Authorization,
            data,
            relayer,
            abi.encodeWithSelector(IERC3009.InvalidAuthorizationSignature.selector, payer)
        );
    }

    function test_authorize_RevertWhen_AmountDiffersFromSigned() public {
        bytes memory data = _authorizationData(terms, AMOUNT, 0);
        _expectAuthorizeRevert(
            terms,
            AMOUNT + 1,
            IPaymentEscrow.Method.Authorization,
            data,
            relayer,
            abi.encodeWithSelector(IERC3009.InvalidAuthorizationSignature.selector, payer)
        );
    }

    function test_authorize_RevertWhen_TopUpReusesFirstSignature() public {
        bytes memory data = _authorizationData(terms, AMOUNT, 0);
        vm.prank(relayer);
        escrow.authorize(terms, AMOUNT, IPaymentEscrow.Method.Authorization, data);

        // The same signature again is for index 0, but a top-up needs the nonce of index 1.
        _expectAuthorizeRevert(
            terms,
            AMOUNT,
            IPaymentEscrow.Method.Authorization,
            data,
            relayer,
            abi.encodeWithSelector(IERC3009.InvalidAuthorizationSignature.selector, payer)
        );
        _assertState(id, AMOUNT, 0, 1, false);
    }

    function test_authorize_RevertWhen_SignatureIsForAnotherIndex() public {
        // A signature for index 2 cannot be used as the first authorization, nor as the first top-up.
        bytes memory data = _authorizationData(terms, AMOUNT, 2);
        _expectAuthorizeRevert(
            terms,
            AMOUNT,
            IPaymentEscrow.Method.Authorization,
            data,
            relayer,
            abi.encodeWithSelector(IERC3009.InvalidAuthorizationSignature.selector, payer)
        );
        _authorize(terms, AMOUNT);
        _expectAuthorizeRevert(
            terms,
            AMOUNT,
            IPaymentEscrow.Method.Authorization,
            data,
            relayer,
            abi.encodeWithSelector(IERC3009.InvalidAuthorizationSignature.selector, payer)
        );
    }

    function test_authorize_RevertWhen_AuthorizationExpired() public {
        uint256 validBefore = block.timestamp + 10 minutes;
        bytes memory data = _authorizationData(payerKey, AMOUNT, id, block.timestamp - 1, validBefore);
        vm.warp(validBefore);
        _expectAuthorizeRevert(
            terms,
            AMOUNT,
            IPaymentEscrow.Method.Authorization,
            data,
            relayer,
            abi.encodeWithSelector(IERC3009.AuthorizationExpired.selector, validBefore, validBefore)
        );
    }

    function test_authorize_RevertWhen_AuthorizationNotYetValid() public {
        uint256 validAfter = block.timestamp + 10 minutes;
        bytes memory data = _authorizationData(payerKey, AMOUNT, id, validAfter, validAfter + 1 hours);
        _expectAuthorizeRevert(
            terms,
            AMOUNT,
            IPaymentEscrow.Method.Authorization,
            data,
            relayer,
            abi.encodeWithSelector(IERC3009.AuthorizationNotYetValid.selector, validAfter, block.timestamp)
        );
    }

    function test_authorize_RevertWhen_PayerCancelledTheNonce() public {
        bytes memory data = _authorizationData(terms, AMOUNT, 0);
        bytes32 cancelHash = keccak256(abi.encode(usdc.CANCEL_AUTHORIZATION_TYPEHASH(), payer, id));
        usdc.cancelAuthorization(
            payer,
            id,
            _signPacked(payerKey, keccak256(abi.encodePacked("\x19\x01", _tokenDomainSeparator(), cancelHash)))
        );
        _expectAuthorizeRevert(
            terms,
            AMOUNT,
            IPaymentEscrow.Method.Authorization,
            data,
            relayer,
            abi.encodeWithSelector(IERC3009.AuthorizationAlreadyUsed.selector, payer, id)
        );
    }

    function test_authorize_RevertWhen_SignatureIsForOtherTerms() public {
        // The payer signed for terms A; a relayer tries to fund terms B (another payee) with it.
        bytes memory data = _authorizationData(terms, AMOUNT, 0);
        IPaymentEscrow.PaymentTerms memory other = terms;
        other.payee = stranger;
        _expectAuthorizeRevert(
            other,
            AMOUNT,
            IPaymentEscrow.Method.Authorization,
            data,
            relayer,
            abi.encodeWithSelector(IERC3009.InvalidAuthorizationSignature.selector, payer)
        );
        other = terms;
        other.maxFeeBps = 10_000;
        _expectAuthorizeRevert(
            other,
            AMOUNT,
            IPaymentEscrow.Method.Authorization,
            data,
            relayer,
            abi.encodeWithSelector(IERC3009.InvalidAuthorizationSignature.selector, payer)
        );
        _assertState(_paymentId(other), 0, 0, 0, false);
    }

    function test_authorize_RevertWhen_PermitSignedByAnotherKey() public {
        (, uint256 strangerKey) = makeAddrAndKey("stranger key");
        bytes memory data = _permitData(strangerKey, AMOUNT, block.timestamp + 1 hours);
        // The refused permit is swallowed; the transfer then lacks the allowance.
        _expectAuthorizeRevert(
            terms,
            AMOUNT,
            IPaymentEscrow.Method.Permit,
            data,
            payer,
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(escrow), 0, AMOUNT)
        );
    }

    function test_authorize_RevertWhen_PermitExpired() public {
        bytes memory data = _permitData(payerKey, AMOUNT, block.timestamp - 1);
        _expectAuthorizeRevert(
            terms,
            AMOUNT,
            IPaymentEscrow.Method.Permit,
            data,
            payer,
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(escrow), 0, AMOUNT)
        );
    }

    function test_authorize_RevertWhen_AllowanceTooLow() public {
        vm.prank(payer);
        assertTrue(usdc.approve(address(escrow), AMOUNT - 1));
        _expectAuthorizeRevert(
            terms,
            AMOUNT,
            IPaymentEscrow.Method.Allowance,
            "",
            payer,
            abi.encodeWithSelector(
                IERC20Errors.ERC20InsufficientAllowance.selector, address(escrow), AMOUNT - 1, AMOUNT
            )
        );
    }

    function test_authorize_RevertWhen_PayerBalanceTooLow() public {
        terms.maxAmount = type(uint120).max;
        uint256 amount = INITIAL_BALANCE + 1;
        bytes memory data = _authorizationData(terms, amount, 0);
        _expectAuthorizeRevert(
            terms,
            amount,
            IPaymentEscrow.Method.Authorization,
            data,
            relayer,
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, payer, INITIAL_BALANCE, amount)
        );
    }

    function test_authorize_RevertWhen_PermitValueDiffersFromAmount() public {
        // The escrow asks the token for a permit of exactly `amount`: a permit signed for more is refused.
        bytes memory data = _permitData(payerKey, AMOUNT + 1, block.timestamp + 1 hours);
        _expectAuthorizeRevert(
            terms,
            AMOUNT,
            IPaymentEscrow.Method.Permit,
            data,
            payer,
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(escrow), 0, AMOUNT)
        );
    }

    function test_authorize_RevertWhen_LessArrivesThanSent() public {
        MockFeeOnTransferToken fot = new MockFeeOnTransferToken();
        fot.setFeeBps(0);
        fot.mint(payer, AMOUNT);
        fot.setFeeBps(100);
        terms.token = address(fot);
        vm.startPrank(payer);
        assertTrue(fot.approve(address(escrow), AMOUNT));
        vm.expectRevert(abi.encodeWithSelector(IPaymentEscrow.AmountMismatch.selector, AMOUNT, AMOUNT - AMOUNT / 100));
        escrow.authorize(terms, AMOUNT, IPaymentEscrow.Method.Allowance, "");
        vm.stopPrank();
        assertEq(fot.balanceOf(payer), AMOUNT);
        assertEq(fot.balanceOf(address(escrow)), 0);
        _assertState(_paymentId(terms), 0, 0, 0, false);
    }

    // ---------------------------------------------------------------------------------------------------
    // Fuzz
    // ---------------------------------------------------------------------------------------------------

    function testFuzz_authorize_AmountUpToMaxAmount(uint256 amount) public {
        amount = bound(amount, 1, MAX_AMOUNT);
        _authorize(terms, amount);
        assertEq(usdc.balanceOf(address(escrow)), amount);
        assertEq(usdc.balanceOf(payer), INITIAL_BALANCE - amount);
        _assertState(id, amount, 0, 1, false);
    }

    function testFuzz_authorize_RevertWhen_AboveMaxAmount(uint256 first, uint256 second) public {
        first = bound(first, 1, MAX_AMOUNT);
        second = bound(second, MAX_AMOUNT - first + 1, type(uint128).max);
        _authorizeWithAllowance(terms, first);
        vm.prank(payer);
        assertTrue(usdc.approve(address(escrow), second));
        _expectAuthorizeRevert(
            terms,
            second,
            IPaymentEscrow.Method.Allowance,
            "",
            payer,
            abi.encodeWithSelector(IPaymentEscrow.ExceedsMaxAmount.selector, first + second, MAX_AMOUNT)
        );
    }

    function testFuzz_authorize_ExpiriesMustBeOrdered(uint48 preApproval, uint48 authorization, uint48 refundBy)
        public
    {
        preApproval = uint48(bound(preApproval, block.timestamp + 1, type(uint48).max));
        terms.preApprovalExpiry = preApproval;
        terms.authorizationExpiry = authorization;
        terms.refundExpiry = refundBy;
        vm.prank(payer);
        assertTrue(usdc.approve(address(escrow), AMOUNT));
        if (preApproval <= authorization && authorization <= refundBy) {
            vm.prank(payer);
            bytes32 fuzzedId = escrow.authorize(terms, AMOUNT, IPaymentEscrow.Method.Allowance, "");
            _assertState(fuzzedId, AMOUNT, 0, 1, false);
        } else {
            _expectAuthorizeRevert(
                terms,
                AMOUNT,
                IPaymentEscrow.Method.Allowance,
                "",
                payer,
                abi.encodeWithSelector(IPaymentEscrow.InvalidExpiries.selector, preApproval, authorization, refundBy)
            );
        }
    }

    function testFuzz_authorize_FeeBpsUpTo10000(uint16 maxFeeBps) public {
        terms.maxFeeBps = maxFeeBps;
        vm.prank(payer);
        assertTrue(usdc.approve(address(escrow), AMOUNT));
        if (maxFeeBps <= 10_000) {
            vm.prank(payer);
            escrow.authorize(terms, AMOUNT, IPaymentEscrow.Method.Allowance, "");
            assertEq(usdc.balanceOf(address(escrow)), AMOUNT);
        } else {
            _expectAuthorizeRevert(
                terms,
                AMOUNT,
                IPaymentEscrow.Method.Allowance,
                "",
                payer,
                abi.encodeWithSelector(IPaymentEscrow.InvalidFeeBps.selector, maxFeeBps)
            );
        }
    }
}
