//! What a route costs, and the x402 options the paywall offers for it.

use alloy::{
    primitives::{Address, B256, U256},
    signers::local::PrivateKeySigner,
};
use quittance_x402::{ErrorReason, PaymentRequirements, Scheme, channel, crosschain, exact_permit2, invoice, upto};
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
    /// Offer Quittance's `channel` scheme too: the price per request paid with vouchers over a deposit.
    pub channels: Option<ChannelOffer>,
    /// Offer Quittance's `cross-chain-invoice` scheme too, one option per route: the invoice (which needs
    /// [`Price::invoices`]) paid from another network through CCIP.
    pub cross_chain: Vec<CrossChainRoute>,
}

/// Where a cross-chain payment may come from: a source network, its Cross-Chain Token, and the lane to the
/// price's network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrossChainRoute {
    /// The source's CAIP-2 network.
    pub network: String,
    /// The source's Cross-Chain Token (the one its pool moves to the price's token).
    pub asset: Address,
    /// Its EIP-712 domain name.
    pub asset_name: String,
    /// Its EIP-712 domain version.
    pub asset_version: String,
    /// The sender on the source, the receiver here, this chain's selector and the receiver's gas.
    pub lane: crosschain::Lane,
}

/// The seller's side of the `channel` scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelOffer {
    /// The `VoucherChannels` contract on the price's network.
    pub contract: Address,
    /// The shortest withdrawal delay accepted, in seconds: the facilitator claims more often than this.
    pub min_withdraw_delay: u64,
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
            scheme: Scheme::Exact.name().into(),
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

    /// The `upto` option for this price: `amount` is the maximum a request may cost, settled through
    /// x402's Permit2 proxy by `facilitator` (the witness names it; take it from the facilitator's
    /// `/supported` `extra.facilitatorAddress`).
    pub fn upto_option(&self, facilitator: Address) -> PaymentRequirements {
        let mut option = self.exact_option();
        option.scheme = Scheme::Upto.name().into();
        option.extra.insert("assetTransferMethod".into(), Value::from("permit2"));
        option.extra.insert(upto::FACILITATOR_ADDRESS.into(), Value::from(facilitator.to_checksum(None)));
        option
    }

    /// The `exact` option over Permit2 for this price (`extra.assetTransferMethod: "permit2"`): any ERC-20,
    /// paid with a Permit2 permit of the exact amount to x402's exact proxy. `extra` keeps the token's
    /// EIP-712 `name` and `version`, which an `eip2612GasSponsoring` client signs its EIP-2612 permit with.
    pub fn exact_permit2_option(&self) -> PaymentRequirements {
        let mut option = self.exact_option();
        option.extra.insert(exact_permit2::ASSET_TRANSFER_METHOD.into(), Value::from(exact_permit2::PERMIT2));
        option
    }

    /// The `batch-settlement` option for this price under `offer`: `amount` is the price of one request, paid
    /// with a voucher over a deposit in x402's batch-settlement contract (deposits by ERC-3009, so `extra`
    /// names the token's EIP-712 domain, the receiver authorizer, the withdrawal delay and the minimum
    /// deposit, as the official server's).
    pub fn batch_settlement_option(&self, offer: &crate::BatchOffer) -> PaymentRequirements {
        let price = u128::try_from(self.amount).unwrap_or(u128::MAX);
        PaymentRequirements {
            scheme: Scheme::BatchSettlement.name().into(),
            extra: offer.extra(price, &self.asset_name, &self.asset_version).to_map(),
            ..self.exact_option()
        }
    }

    /// The `channel` option for this price, when channels are configured.
    pub fn channel_option(&self) -> Option<PaymentRequirements> {
        let offer = self.channels?;
        let extra = channel::ChannelExtra {
            name: self.asset_name.clone(),
            version: self.asset_version.clone(),
            contract: offer.contract,
            min_withdraw_delay: offer.min_withdraw_delay,
        };
        let Ok(Value::Object(extra)) = serde_json::to_value(extra) else { return None };
        Some(PaymentRequirements { scheme: Scheme::Channel.name().into(), extra, ..self.exact_option() })
    }

    /// The options offered for `resource_url` at `now`: `exact` first (what official clients pay), then a
    /// freshly signed invoice (with the random `salt`) when invoices are configured, then the channel option
    /// when channels are, then the same invoice paid from each cross-chain route.
    pub fn options(&self, resource_url: &str, now: u64, salt: B256) -> Vec<PaymentRequirements> {
        let mut options = vec![self.exact_option()];
        let mut cross_chain = Vec::new();
        if let Some(issuer) = &self.invoices {
            let the_invoice = invoice::Invoice {
                issuer: issuer.signer.address(),
                payee: self.pay_to,
                token: self.asset,
                amount: self.amount,
                deadline: U256::from(now.saturating_add(issuer.validity_seconds)),
                resource: invoice::resource_hash(resource_url),
                network: self.network.clone(),
                salt,
            };
            for route in &self.cross_chain {
                match crosschain::offer(
                    the_invoice.clone(),
                    issuer.registry,
                    &route.network,
                    route.asset,
                    &route.asset_name,
                    &route.asset_version,
                    route.lane,
                    self.max_timeout_seconds,
                    &issuer.signer,
                ) {
                    Ok(option) => cross_chain.push(option),
                    Err(err) => tracing::error!(%err, "could not sign a cross-chain invoice"),
                }
            }
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
        options.extend(self.channel_option());
        options.extend(cross_chain);
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
        match Scheme::of(accepted)? {
            Scheme::BatchSettlement => Err(ErrorReason::UnsupportedScheme),
            Scheme::AuthCapture => Err(ErrorReason::UnsupportedScheme),
            Scheme::Exact => quittance_x402::find_matching(&[self.exact_option()], accepted)
                .cloned()
                .ok_or(ErrorReason::InvalidPaymentRequirements),
            Scheme::Invoice => {
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
            Scheme::CrossChainInvoice => {
                let issuer = self.invoices.as_ref().ok_or(ErrorReason::UnsupportedScheme)?;
                let terms = crosschain::CrossChainTerms::from_requirements(accepted)?;
                let invoice = &terms.invoice;
                let route = self.cross_chain.iter().any(|route| {
                    route.network == accepted.network
                        && route.asset == terms.token.asset
                        && route.lane == terms.lane
                        && accepted.extra_str("name") == Some(route.asset_name.as_str())
                        && accepted.extra_str("version") == Some(route.asset_version.as_str())
                });
                let ours = route
                    && invoice.invoice.issuer == issuer.signer.address()
                    && invoice.registry == issuer.registry
                    && invoice.invoice.payee == self.pay_to
                    && invoice.invoice.token == self.asset
                    && invoice.invoice.amount == self.amount
                    && invoice.invoice.network == self.network
                    && accepted.max_timeout_seconds == self.max_timeout_seconds;
                if !ours {
                    return Err(ErrorReason::InvalidPaymentRequirements);
                }
                invoice.check_issuer()?;
                invoice.check_for(resource_url, now)?;
                Ok(accepted.clone())
            }
            Scheme::Channel => {
                quittance_x402::find_matching(&self.channel_option().into_iter().collect::<Vec<_>>(), accepted)
                    .cloned()
                    .ok_or(ErrorReason::InvalidPaymentRequirements)
            }
            Scheme::Upto => Err(ErrorReason::UnsupportedScheme),
        }
    }
}

/// A stable-coin that USD prices are paid in on one network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsdAsset {
    /// The CAIP-2 network.
    pub network: &'static str,
    /// The token.
    pub address: Address,
    /// Its EIP-712 domain name.
    pub name: &'static str,
    /// Its EIP-712 domain version.
    pub version: &'static str,
    /// Its decimals.
    pub decimals: u8,
}

/// Native USDC (EIP-3009) per network, for USD prices. Networks not listed take an explicit asset.
pub const USD_ASSETS: &[UsdAsset] = &[
    UsdAsset {
        network: "eip155:1",
        address: alloy::primitives::address!("0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"),
        name: "USD Coin",
        version: "2",
        decimals: 6,
    },
    UsdAsset {
        network: "eip155:8453",
        address: alloy::primitives::address!("0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"),
        name: "USD Coin",
        version: "2",
        decimals: 6,
    },
    UsdAsset {
        network: "eip155:84532",
        address: alloy::primitives::address!("0x036CbD53842c5426634e7929541eC2318f3dCF7e"),
        name: "USDC",
        version: "2",
        decimals: 6,
    },
    UsdAsset {
        network: "eip155:137",
        address: alloy::primitives::address!("0x3c499c542cEF5E3811e1192ce70d8cC03d5c3359"),
        name: "USD Coin",
        version: "2",
        decimals: 6,
    },
    UsdAsset {
        network: "eip155:43114",
        address: alloy::primitives::address!("0xB97EF9Ef8734C71904D8002F8b6Bc66Dd9c48a6E"),
        name: "USD Coin",
        version: "2",
        decimals: 6,
    },
];

/// Why a USD price cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceError {
    /// The amount is not a non-negative decimal number of dollars.
    #[error("{0:?} is not a dollar amount such as \"$0.01\"")]
    Malformed(String),
    /// The amount has more decimals than the token.
    #[error("{amount:?} is finer than the token's {decimals} decimals")]
    TooPrecise {
        /// The amount.
        amount: String,
        /// The token's decimals.
        decimals: u8,
    },
    /// The amount is zero.
    #[error("a price must be more than zero")]
    Zero,
    /// No USD asset is known for the network.
    #[error("no USD stable-coin is known for {0}; give the asset explicitly")]
    UnknownNetwork(String),
}

/// Parses a dollar amount (`"$0.01"`, `"0.01"`, `"2"`) into the token's smallest unit, exactly.
pub fn usd_amount(text: &str, decimals: u8) -> Result<U256, PriceError> {
    let malformed = || PriceError::Malformed(text.to_owned());
    let digits = text.trim().strip_prefix('$').unwrap_or(text.trim());
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if (whole.is_empty() && fraction.is_empty())
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
        || whole.len() > 30
    {
        return Err(malformed());
    }
    let fraction = fraction.trim_end_matches('0');
    if fraction.len() > usize::from(decimals) {
        return Err(PriceError::TooPrecise { amount: text.to_owned(), decimals });
    }
    let units = format!("{whole}{fraction:0<width$}", width = usize::from(decimals));
    let amount = U256::from_str_radix(&units, 10).map_err(|_| malformed())?;
    if amount.is_zero() {
        return Err(PriceError::Zero);
    }
    Ok(amount)
}

impl Price {
    /// A price in dollars on `network`, paid in the network's native USDC (see [`USD_ASSETS`]), with
    /// invoices off and settlement after serving.
    pub fn usd(
        network: &str,
        dollars: &str,
        pay_to: Address,
        description: impl Into<String>,
        mime_type: impl Into<String>,
    ) -> Result<Self, PriceError> {
        let asset = USD_ASSETS
            .iter()
            .find(|a| a.network == network)
            .ok_or_else(|| PriceError::UnknownNetwork(network.into()))?;
        Ok(Self {
            network: network.into(),
            asset: asset.address,
            asset_name: asset.name.into(),
            asset_version: asset.version.into(),
            amount: usd_amount(dollars, asset.decimals)?,
            pay_to,
            max_timeout_seconds: 120,
            description: description.into(),
            mime_type: mime_type.into(),
            invoices: None,
            settle_before_serving: false,
            channels: None,
            cross_chain: Vec::new(),
        })
    }
}
