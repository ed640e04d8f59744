//! Integration tests of the quittance command's library, on a real anvil.

mod ccip;
mod commands;
mod cre;
mod demo;
mod errors;
mod faults;
mod invoice;
mod keys;
mod limits;
mod mcp;
mod networks;
mod routes;
mod simulate;
