//! Tests of the x402 protocol crate: wire compatibility, codecs, networks, and every check of the exact
//! scheme with the reason code a bad input must get.

mod batch_settlement;
mod channel;
mod codec;
mod crosschain;
mod exact;
mod exact_permit2;
mod invoice;
mod network;
mod receipt;
mod types;
mod upto;
