#![doc = include_str!("../README.md")]

// Generated calls mirror the contracts' signatures, EIP-3009's nine arguments included.
#[allow(clippy::too_many_arguments)]
mod generated;

pub use generated::*;
