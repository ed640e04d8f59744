// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IInvoiceRegistry} from "./IInvoiceRegistry.sol";

/// @title ICrossChainInvoice
/// @notice What travels with the tokens when an invoice on one chain is paid from another through CCIP: the
/// invoice (its chain's registry records it), the issuer's signature, who pays, and where the tokens go if
/// the invoice cannot be settled on arrival. Shared by both ends of the lane.
interface ICrossChainInvoice {
    /// @notice A cross-chain invoice payment: the CCIP message's `data` is `abi.encode(CrossChainPayment)`.
    /// @param invoice The invoice, on the destination chain (its token is the destination's token).
    /// @param issuerSignature The issuer's signature of the invoice.
    /// @param payer Who pays (recorded as the payer in the destination's registry).
    /// @param refundTo Who receives the tokens on the destination chain if settlement fails there (never zero
    /// when sent; a zero one arriving falls back to `payer`).
    struct CrossChainPayment {
        IInvoiceRegistry.Invoice invoice;
        bytes issuerSignature;
        address payer;
        address refundTo;
    }

    /// @notice A refund address is zero.
    /// @param refundTo The refused address.
    error InvalidRefundTo(address refundTo);
}
