//! Integration tests of the quittance command's library, on a real anvil.

mod demo;
mod facilitator;
mod invoice;
mod keys;
