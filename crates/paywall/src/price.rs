//! What a route costs, and the x402 options the paywall offers for it.

use alloy::{
    primitives::{Address, B256, U256},
    signers::local::PrivateKeySigner,
};
use quittance_x402::{ErrorReason, PaymentRequirements, exact, invoice};
use serde_json::{Map, Value};

/// The price of a route, in one token on one network.
#[derive(Debug, Clone)]
pub struct Price {
    /// The CAIP-2 network, e.g. `eip155:8453`.
    pub network: String,
    /// The token.
    pub asset: Address,
    /// The token's EIP-712 domain name (`"USD Coin"` for USDC on most chains).
    pub asset_name: String,
    /// The token's EIP-712 domain version (`"2"` for USDC).
    pub asset_version: String,
    /// The amount, in the token's smallest unit.
    pub amount: U256,
    /// Who is paid.
    pub pay_to: Address,
    /// How long a payment may take, in seconds.
    pub max_timeout_seconds: u64,
    /// What the route serves.
    pub description: String,
    /// Its MIME type.
    pub mime_type: String,
    /// Offer Quittance's `invoice` scheme too, with invoices signed by this issuer.
    pub invoices: Option<InvoiceIssuer>,
    /// Settle before running the handler (default: after, and not at all if the handler fails).
    pub settle_before_serving: bool,
}

/// The seller's side of the `invoice` scheme.
#[derive(Debug, Clone)]
pub struct InvoiceIssuer {
    /// The invoice registry on the price's network.
    pub registry: Address,
    /// The issuer's key: invoices are signed with it.
    pub signer: PrivateKeySigner,
    /// How long an offered invoice stays payable, in seconds.
    pub validity_seconds: u64,
}

impl Price {
    /// The `exact` option for this price.
    pub fn exact_option(&self) -> PaymentRequirements {
        PaymentRequirements {
            scheme: exact::SCHEME.into(),
            network: self.network.clone(),
            amount: self.amount.to_string(),
            asset: self.asset.to_checksum(None),
            pay_to: self.pay_to.to_checksum(None),
            max_timeout_seconds: self.max_timeout_seconds,
            extra: Map::from_iter([
                ("name".to_owned(), Value::from(self.asset_name.clone())),
                ("version".to_owned(), Value::from(self.asset_version.clone())),
            ]),
        }
    }

    /// The options offered for `resource_url` at `now`: `exact` first (what official clients pay), then a
    /// freshly signed invoice when invoices are configured.
    pub fn options(&self, resource_url: &str, now: u64) -> Vec<PaymentRequirements> {
        let mut options = vec![self.exact_option()];
        if let Some(issuer) = &self.invoices {
            let the_invoice = invoice::Invoice {
                issuer: issuer.signer.address(),
                payee: self.pay_to,
                token: self.asset,
                amount: self.amount,
                deadline: U256::from(now.saturating_add(issuer.validity_seconds)),
                resource: invoice::resource_hash(resource_url),
                network: self.network.clone(),
                salt: B256::random(),
            };
            match invoice::offer(
                the_invoice,
                issuer.registry,
                &self.asset_name,
                &self.asset_version,
                self.max_timeout_seconds,
                &issuer.signer,
            ) {
                Ok(option) => options.push(option),
                Err(err) => tracing::error!(%err, "could not sign an invoice; offering exact only"),
            }
        }
        options
    }

    /// The offered option a client's `accepted` stands for, checked against this price: the `exact` option
    /// by equality (as the official server matches), an invoice by checking that this paywall issued it for
    /// this resource, price and payee, and that it can still be paid.
    pub fn match_option(
        &self,
        accepted: &PaymentRequirements,
        resource_url: &str,
        now: u64,
    ) -> Result<PaymentRequirements, ErrorReason> {
        match accepted.scheme.as_str() {
            exact::SCHEME => quittance_x402::find_matching(&[self.exact_option()], accepted)
                .cloned()
                .ok_or(ErrorReason::InvalidPaymentRequirements),
            invoice::SCHEME => {
                let issuer = self.invoices.as_ref().ok_or(ErrorReason::UnsupportedScheme)?;
                let terms = invoice::InvoiceTerms::from_requirements(accepted)?;
                let ours = terms.invoice.issuer == issuer.signer.address()
                    && terms.registry == issuer.registry
                    && terms.invoice.payee == self.pay_to
                    && terms.invoice.token == self.asset
                    && terms.invoice.amount == self.amount
                    && terms.invoice.network == self.network
                    && accepted.extra_str("name") == Some(self.asset_name.as_str())
                    && accepted.extra_str("version") == Some(self.asset_version.as_str())
                    && accepted.max_timeout_seconds == self.max_timeout_seconds;
                if !ours {
                    return Err(ErrorReason::InvalidPaymentRequirements);
                }
                terms.check_issuer()?;
                terms.check_for(resource_url, now)?;
                Ok(accepted.clone())
            }
            _ => Err(ErrorReason::UnsupportedScheme),
        }
    }
}
