#![doc = include_str!("../README.md")]

// Generated calls mirror the contracts' signatures, EIP-3009's nine arguments included.
#[allow(clippy::too_many_arguments)]
mod generated;

pub use generated::*;

/// The same value as another binding declares its type: each contract's bindings have their own copy of
/// shared structs (`PaymentTerms`, `Invoice`…), identical in ABI; this converts by an ABI round trip.
///
/// # Panics
///
/// If the two types do not have the same ABI layout (a programming error, caught by any test using it).
pub fn relayout<T>(value: &impl alloy::sol_types::SolValue) -> T
where
    T: alloy::sol_types::SolValue + From<<T::SolType as alloy::sol_types::SolType>::RustType>,
{
    T::abi_decode(&value.abi_encode()).expect("the two types have the same ABI layout")
}
