// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {AuthCaptureCollector} from "../../contracts/escrow/AuthCaptureCollector.sol";
import {IAuthCaptureCollector} from "../../contracts/interfaces/IAuthCaptureCollector.sol";
import {IPaymentEscrow} from "../../contracts/interfaces/IPaymentEscrow.sol";
import {PaymentEscrowBase} from "./PaymentEscrowBase.sol";

/// @notice The PaymentEscrow fixture plus a collector bound to the x402 SDK's canonical v1.1 escrow address.
/// `PaymentInfo` hashes and the client's nonce are computed here from the x402 spec's text.
abstract contract AuthCaptureCollectorBase is PaymentEscrowBase {
    address internal constant AUTH_CAPTURE_ESCROW = 0xf96815976523E00e65Be8f34cA5e64b4f41EB19c;
    bytes32 internal constant PAYMENT_INFO_TYPEHASH = keccak256(
        "PaymentInfo(address operator,address payer,address receiver,address token,uint120 maxAmount,uint48 preApprovalExpiry,uint48 authorizationExpiry,uint48 refundExpiry,uint16 minFeeBps,uint16 maxFeeBps,address feeReceiver,uint256 salt)"
    );

    AuthCaptureCollector internal collector;

    function setUp() public virtual override {
        super.setUp();
        collector = new AuthCaptureCollector(escrow, AUTH_CAPTURE_ESCROW);
    }

    function _info() internal view returns (IAuthCaptureCollector.PaymentInfo memory) {
        return IAuthCaptureCollector.PaymentInfo({
            operator: operator,
            payer: payer,
            receiver: payee,
            token: address(usdc),
            // casting to 'uint120' is safe because AMOUNT is 10e6
            // forge-lint: disable-next-line(unsafe-typecast)
            maxAmount: uint120(AMOUNT),
            preApprovalExpiry: PRE_APPROVAL_EXPIRY,
            authorizationExpiry: AUTHORIZATION_EXPIRY,
            refundExpiry: REFUND_EXPIRY,
            minFeeBps: 0,
            maxFeeBps: MAX_FEE_BPS,
            feeReceiver: feeReceiver,
            salt: uint256(SALT)
        });
    }

    /// @dev The client's `signatureNonce`: payer zeroed, bound to chain and the canonical escrow.
    function _signatureNonce(IAuthCaptureCollector.PaymentInfo memory info) internal view returns (bytes32) {
        bytes32 agnostic = keccak256(
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
        return keccak256(abi.encode(block.chainid, AUTH_CAPTURE_ESCROW, agnostic));
    }

    /// @dev The payer's ReceiveWithAuthorization to the collector, as the official client signs it.
    function _clientSignature(IAuthCaptureCollector.PaymentInfo memory info) internal view returns (bytes memory) {
        bytes32 structHash = keccak256(
            abi.encode(
                RECEIVE_TYPEHASH,
                info.payer,
                address(collector),
                uint256(info.maxAmount),
                0,
                uint256(info.preApprovalExpiry),
                _signatureNonce(info)
            )
        );
        return _signPacked(payerKey, keccak256(abi.encodePacked("\x19\x01", _tokenDomainSeparator(), structHash)));
    }

    function _infoTerms(IAuthCaptureCollector.PaymentInfo memory info)
        internal
        view
        returns (IPaymentEscrow.PaymentTerms memory t)
    {
        t = _terms();
        t.operator = info.operator;
        t.payer = info.payer;
        t.payee = info.receiver;
        t.maxAmount = info.maxAmount;
        t.feeReceiver = info.feeReceiver;
        t.salt = bytes32(info.salt);
    }

    function _collect(IAuthCaptureCollector.PaymentInfo memory info) internal returns (bytes32 id) {
        bytes memory signature = _clientSignature(info);
        vm.prank(info.operator);
        id = collector.authorize(info, signature);
    }
}
