//! The payment schemes Quittance speaks, as one enum: the one place a scheme's name on the wire is turned
//! into a scheme.

use crate::{
    ErrorReason, PaymentRequirements, auth_capture, batch_settlement, channel, crosschain, exact, invoice, upto,
};

/// A payment scheme Quittance speaks. On the wire a scheme is a name (`PaymentRequirements::scheme`), so
/// that options of schemes nobody here knows still parse; [`Scheme::of`] says which one an option is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scheme {
    /// x402's `exact` on EVM: an EIP-3009 transfer of the exact amount, or with
    /// `extra.assetTransferMethod: "permit2"` a Permit2 witness transfer of it through x402's exact proxy.
    Exact,
    /// Quittance's `invoice`: a seller-signed invoice paid through the registry.
    Invoice,
    /// Quittance's `channel`: vouchers over a deposit in `VoucherChannels`.
    Channel,
    /// Quittance's `cross-chain-invoice`: an invoice on one chain paid from another through CCIP.
    CrossChainInvoice,
    /// x402's `upto` on EVM: a Permit2 witness transfer of up to a maximum, settled for what was used.
    Upto,
    /// x402's `batch-settlement` on EVM: cumulative vouchers over a deposit in `x402BatchSettlement`, claimed
    /// in batches.
    BatchSettlement,
    /// x402's `auth-capture` on EVM: an authorization of a maximum held in escrow, then captured, voided or
    /// refunded by the operator (through Quittance's collector into its `PaymentEscrow`).
    AuthCapture,
}

impl Scheme {
    /// Every scheme.
    pub const ALL: [Self; 7] = [
        Self::Exact,
        Self::Invoice,
        Self::Channel,
        Self::CrossChainInvoice,
        Self::Upto,
        Self::BatchSettlement,
        Self::AuthCapture,
    ];

    /// Its name on the wire.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Exact => exact::SCHEME,
            Self::Invoice => invoice::SCHEME,
            Self::Channel => channel::SCHEME,
            Self::CrossChainInvoice => crosschain::SCHEME,
            Self::Upto => upto::SCHEME,
            Self::BatchSettlement => batch_settlement::SCHEME,
            Self::AuthCapture => auth_capture::SCHEME,
        }
    }

    /// The scheme of an option, or `unsupported_scheme`.
    pub fn of(requirements: &PaymentRequirements) -> Result<Self, ErrorReason> {
        requirements.scheme.parse()
    }

    /// The reason a payment that was used already is refused with, in the scheme's words.
    pub const fn used_reason(self) -> ErrorReason {
        match self {
            Self::Exact => ErrorReason::ExactEvmNonceAlreadyUsed,
            Self::Invoice | Self::CrossChainInvoice => ErrorReason::InvoiceAlreadyPaid,
            Self::Channel => ErrorReason::ChannelVoucherNotIncreasing,
            Self::Upto => ErrorReason::Permit2InvalidNonce,
            // The official client resyncs its channel from this code (as from `cumulative_amount_mismatch`).
            Self::BatchSettlement => ErrorReason::BatchCumulativeAmountBelowClaimed,
            Self::AuthCapture => ErrorReason::AuthCapturePaymentAlreadyCollected,
        }
    }
}

impl Scheme {
    /// The reason a used payment for `requirements` of this scheme is refused with: [`Scheme::used_reason`],
    /// but Permit2's used nonce for `exact` paid over Permit2.
    pub fn used_reason_for(self, requirements: &PaymentRequirements) -> ErrorReason {
        if self == Self::Exact && crate::exact_permit2::applies(requirements) {
            return ErrorReason::Permit2InvalidNonce;
        }
        self.used_reason()
    }
}

impl std::str::FromStr for Scheme {
    type Err = ErrorReason;

    fn from_str(name: &str) -> Result<Self, ErrorReason> {
        Self::ALL.into_iter().find(|scheme| scheme.name() == name).ok_or(ErrorReason::UnsupportedScheme)
    }
}

impl std::fmt::Display for Scheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_schemes_are_unsupported() {
        for scheme in Scheme::ALL {
            assert_eq!(scheme.name().parse(), Ok(scheme));
        }
        assert_eq!("authCapture".parse::<Scheme>(), Err(ErrorReason::UnsupportedScheme));
    }
}
