//! The facilitator against a real chain (anvil): every check that needs the chain, with the reason code
//! each bad payment must get.

mod auth_capture;
mod batch_settlement;
mod channel;
mod exact_permit2;
mod faults;
mod http;
mod revm;
mod settle;
mod upto;
mod verify;

pub(crate) use quittance_testkit::{PRICE, TIMEOUT, World, fast, request};
