//! Amounts as people type them: `0.01` or `$0.01` in whole tokens (a dollar stablecoin's dollars), or, with
//! `--units`, `10000` in the token's smallest unit. Zero is refused: a price or a limit of nothing is a
//! mistake.

use alloy::primitives::U256;
use std::{fmt, str::FromStr};

/// An amount as typed on the command line, checked for form; [`Amount::resolve`] gives its value once the
/// token's decimals are known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Amount {
    whole: String,
    fraction: String,
}

/// Why an amount cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// Not a decimal number.
    #[error("{0:?} is not an amount: write it like 0.01, $0.01, or 10000 with --units")]
    Malformed(String),
    /// More decimal places than the token has.
    #[error("{amount} has more decimal places than the token's {decimals}")]
    TooPrecise {
        /// The amount as typed.
        amount: String,
        /// The token's decimals.
        decimals: u8,
    },
    /// A fraction of the smallest unit.
    #[error("{0} is in the token's smallest unit (--units), which has no fractions")]
    FractionalUnits(String),
    /// Zero.
    #[error("the amount must be more than zero")]
    Zero,
    /// Beyond 256 bits.
    #[error("{0} is too large")]
    TooLarge(String),
}

impl FromStr for Amount {
    type Err = AmountError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let malformed = || AmountError::Malformed(text.to_owned());
        let digits = text.trim();
        let digits = digits.strip_prefix('$').unwrap_or(digits).replace('_', "");
        let (whole, fraction) = digits.split_once('.').unwrap_or((&digits, ""));
        let is_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if (whole.is_empty() && fraction.is_empty()) || !is_digits(whole) || !is_digits(fraction) {
            return Err(malformed());
        }
        Ok(Self { whole: whole.to_owned(), fraction: fraction.trim_end_matches('0').to_owned() })
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = if self.whole.is_empty() { "0" } else { &self.whole };
        if self.fraction.is_empty() { write!(f, "{whole}") } else { write!(f, "{whole}.{}", self.fraction) }
    }
}

impl Amount {
    /// The amount in the token's smallest unit: in whole tokens of `decimals` decimals, or already in the
    /// smallest unit when `units` is set.
    pub fn resolve(&self, decimals: u8, units: bool) -> Result<U256, AmountError> {
        if units && !self.fraction.is_empty() {
            return Err(AmountError::FractionalUnits(self.to_string()));
        }
        let decimals = if units { 0 } else { decimals };
        if self.fraction.len() > usize::from(decimals) {
            return Err(AmountError::TooPrecise { amount: self.to_string(), decimals });
        }
        let padded = format!("{}{:0<width$}", self.whole, self.fraction, width = usize::from(decimals));
        let value = U256::from_str_radix(if padded.is_empty() { "0" } else { &padded }, 10)
            .map_err(|_| AmountError::TooLarge(self.to_string()))?;
        if value.is_zero() {
            return Err(AmountError::Zero);
        }
        Ok(value)
    }
}

/// `value` of a token with `decimals` decimals in whole tokens, with no trailing zeros (`10000` of six
/// decimals is `0.01`).
pub fn format_units(value: U256, decimals: u8) -> String {
    let digits = value.to_string();
    let decimals = usize::from(decimals);
    if decimals == 0 {
        return digits;
    }
    let padded = format!("{digits:0>width$}", width = decimals + 1);
    let (whole, fraction) = padded.split_at(padded.len() - decimals);
    let fraction = fraction.trim_end_matches('0');
    if fraction.is_empty() { whole.to_owned() } else { format!("{whole}.{fraction}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amount(text: &str) -> Amount {
        text.parse().expect("a well-formed amount")
    }

    #[test]
    fn whole_tokens_with_or_without_a_dollar_sign() {
        assert_eq!(amount("0.01").resolve(6, false), Ok(U256::from(10_000)));
        assert_eq!(amount("$0.01").resolve(6, false), Ok(U256::from(10_000)));
        assert_eq!(amount("$1").resolve(6, false), Ok(U256::from(1_000_000)));
        assert_eq!(amount(".5").resolve(6, false), Ok(U256::from(500_000)));
        assert_eq!(amount("2.").resolve(6, false), Ok(U256::from(2_000_000)));
        assert_eq!(amount("1_000").resolve(0, false), Ok(U256::from(1_000)));
        assert_eq!(amount("0.000001").resolve(6, false), Ok(U256::from(1)));
        assert_eq!(amount("0.0100").resolve(6, false), Ok(U256::from(10_000)));
        assert_eq!(amount("1.5").resolve(18, false), Ok(U256::from(1_500_000_000_000_000_000u128)));
    }

    #[test]
    fn smallest_units_with_units() {
        assert_eq!(amount("10000").resolve(6, true), Ok(U256::from(10_000)));
        assert_eq!(amount("0.5").resolve(6, true), Err(AmountError::FractionalUnits("0.5".into())));
    }

    #[test]
    fn refuses_zero_malformed_too_precise_and_too_large() {
        assert_eq!(amount("0").resolve(6, false), Err(AmountError::Zero));
        assert_eq!(amount("$0.00").resolve(6, false), Err(AmountError::Zero));
        assert_eq!(amount("0").resolve(6, true), Err(AmountError::Zero));
        for bad in ["", "$", ".", "abc", "1.2.3", "-1", "1e6", "0x10", "1,5", "$ 1"] {
            assert!(matches!(bad.parse::<Amount>(), Err(AmountError::Malformed(_))), "{bad:?}");
        }
        assert_eq!(
            amount("0.0000001").resolve(6, false),
            Err(AmountError::TooPrecise { amount: "0.0000001".into(), decimals: 6 })
        );
        let huge = "9".repeat(80);
        assert_eq!(amount(&huge).resolve(0, true), Err(AmountError::TooLarge(huge.clone())));
    }

    #[test]
    fn formats_what_it_parses() {
        assert_eq!(format_units(U256::from(10_000), 6), "0.01");
        assert_eq!(format_units(U256::from(1_000_000), 6), "1");
        assert_eq!(format_units(U256::from(1), 6), "0.000001");
        assert_eq!(format_units(U256::from(1_234_567), 6), "1.234567");
        assert_eq!(format_units(U256::from(42), 0), "42");
        for value in [1u64, 10_000, 999_999, 1_000_001, 123_456_789] {
            let text = format_units(U256::from(value), 6);
            assert_eq!(amount(&text).resolve(6, false), Ok(U256::from(value)), "{text}");
        }
    }
}
