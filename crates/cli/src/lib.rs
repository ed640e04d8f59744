#![doc = include_str!("../README.md")]

pub mod amount;
pub mod ccip;
pub mod channel;
pub mod cre;
pub mod demo;
pub mod deploy;
pub mod facilitator;
pub mod keys;
pub mod mcp;
pub mod pay;
pub mod receipt;
pub mod routes;
pub mod serve;
pub mod server;
pub mod simulate;
pub mod spend;
