#![doc = include_str!("../README.md")]

mod auth_capture;
mod batch;
mod client;
mod layer;
pub mod page;
mod price;
mod store;

pub use auth_capture::{AuthCaptureOffer, EscrowedPayment, Lifecycle};
pub use batch::{
    BatchClaimError, BatchClaims, BatchOffer, BatchStore, ChannelRecord, ClaimRecord, ClaimStage, MAX_CLAIMS_PER_BATCH,
};
pub use client::{ByNetwork, ClientError, FacilitatorClient, HttpFacilitator};
pub use layer::{MAX_PAID_ANSWER_BYTES, Paywall, PaywallLayer, PaywallService};
pub use page::PageConfig;
pub use price::{ChannelOffer, CrossChainRoute, InvoiceIssuer, Price, PriceError, USD_ASSETS, UsdAsset, usd_amount};
pub use store::{MemoryStore, PaymentStore, Reservation, SqliteStore, Stage, StoreError, StoredResponse};
