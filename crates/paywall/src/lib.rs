#![doc = include_str!("../README.md")]

mod client;
mod layer;
mod price;
mod served;

pub use client::{ByNetwork, ClientError, FacilitatorClient, HttpFacilitator};
pub use layer::{Paywall, PaywallLayer, PaywallService};
pub use price::{ChannelOffer, CrossChainRoute, InvoiceIssuer, Price, PriceError, USD_ASSETS, UsdAsset, usd_amount};
