//! A seller in a few lines: an axum app whose `/report` costs `price` of `token`, paid through Quittance's
//! paywall and settled by an x402 facilitator reached over HTTP (`quittance facilitator`, or any other).

use alloy::primitives::{Address, U256};
use axum::{Json, Router, routing::get};
use quittance_paywall::{HttpFacilitator, Paywall, Price};
use std::sync::Arc;

/// What the seller sells and where its payments settle.
#[derive(Debug, Clone)]
pub struct Seller {
    /// The facilitator's base URL (`http://127.0.0.1:4021/`).
    pub facilitator: reqwest::Url,
    /// The URL clients reach this app at (it names the resource in the 402).
    pub public_url: String,
    /// The CAIP-2 network payments are made on (`eip155:31337`).
    pub network: String,
    /// The token paid (an EIP-3009 stable-coin), with its EIP-712 domain name and version.
    pub token: Address,
    /// The token's EIP-712 domain name.
    pub token_name: String,
    /// The token's EIP-712 domain version.
    pub token_version: String,
    /// The price of one report, in the token's smallest units.
    pub price: U256,
    /// Who is paid.
    pub pay_to: Address,
}

impl Seller {
    /// The app: `/report` behind the paywall (a 402 with the offer, then the report once paid; a retry of
    /// the same payment gets the same answer and is not charged again).
    pub fn app(&self) -> Router {
        let paywall = Paywall::new(Arc::new(HttpFacilitator::new(self.facilitator.clone())), self.public_url.clone());
        let price = Price {
            network: self.network.clone(),
            asset: self.token,
            asset_name: self.token_name.clone(),
            asset_version: self.token_version.clone(),
            amount: self.price,
            pay_to: self.pay_to,
            max_timeout_seconds: 120,
            description: "today's market report".into(),
            mime_type: "application/json".into(),
            invoices: None,
            settle_before_serving: false,
            channels: None,
            cross_chain: Vec::new(),
        };
        Router::new().route(
            "/report",
            get(|| async { Json(serde_json::json!({"report": "markets are up"})) }).layer(paywall.price(price)),
        )
    }
}
