//! Networks: CAIP-2 identifiers (v2) and the short names of v1.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::{fmt, str::FromStr};

/// A CAIP-2 network identifier, `namespace:reference`, e.g. `eip155:8453`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Network {
    namespace: String,
    reference: String,
}

/// Why a network identifier was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NetworkError {
    /// Not of the form `namespace:reference` with CAIP-2's character sets and lengths.
    #[error("{0:?} is not a CAIP-2 network (namespace:reference)")]
    Malformed(String),
    /// Not an EVM (`eip155`) network, or its chain id is not a number.
    #[error("{0} is not an EVM network")]
    NotEvm(String),
    /// Not a v1 network name this crate knows.
    #[error("{0:?} is not a known x402 v1 network name")]
    UnknownV1Name(String),
    /// The network has no x402 v1 name, so a v1 server cannot be paid on it.
    #[error("{0} has no x402 v1 name")]
    NoV1Name(String),
}

/// v1 names of EVM networks and their chain ids, as the official SDK lists them.
const V1_EVM_NAMES: &[(&str, u64)] = &[
    ("ethereum", 1),
    ("sepolia", 11_155_111),
    ("abstract", 2741),
    ("abstract-testnet", 11_124),
    ("base-sepolia", 84_532),
    ("base", 8453),
    ("avalanche-fuji", 43_113),
    ("avalanche", 43_114),
    ("iotex", 4689),
    ("sei", 1329),
    ("sei-testnet", 1328),
    ("polygon", 137),
    ("polygon-amoy", 80_002),
    ("peaq", 3338),
    ("story", 1514),
    ("educhain", 41_923),
    ("skale-base-sepolia", 324_705_682),
    ("megaeth", 4326),
    ("monad", 143),
    ("stable", 988),
    ("stable-testnet", 2201),
    ("celo", 42_220),
    ("flare", 14),
];

impl Network {
    /// The EVM network with this chain id: `eip155:<chain id>`.
    pub fn eip155(chain_id: u64) -> Self {
        Self { namespace: "eip155".into(), reference: chain_id.to_string() }
    }

    /// The namespace (`eip155`, `solana`, …).
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The reference within the namespace (the chain id for `eip155`).
    pub fn reference(&self) -> &str {
        &self.reference
    }

    /// The chain id of an `eip155` network.
    pub fn chain_id(&self) -> Result<u64, NetworkError> {
        if self.namespace != "eip155" || (self.reference.starts_with('0') && self.reference != "0") {
            return Err(NetworkError::NotEvm(self.to_string()));
        }
        self.reference.parse().map_err(|_| NetworkError::NotEvm(self.to_string()))
    }

    /// The network a v1 name stands for (`base` → `eip155:8453`).
    pub fn from_v1_name(name: &str) -> Result<Self, NetworkError> {
        V1_EVM_NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, id)| Self::eip155(*id))
            .ok_or_else(|| NetworkError::UnknownV1Name(name.to_owned()))
    }

    /// The v1 name of this network, if it has one.
    pub fn v1_name(&self) -> Option<&'static str> {
        let id = self.chain_id().ok()?;
        V1_EVM_NAMES.iter().find(|(_, i)| *i == id).map(|(n, _)| *n)
    }
}

impl FromStr for Network {
    type Err = NetworkError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let malformed = || NetworkError::Malformed(s.to_owned());
        let (namespace, reference) = s.split_once(':').ok_or_else(malformed)?;
        let namespace_ok = (3..=8).contains(&namespace.len())
            && namespace.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        let reference_ok = (1..=32).contains(&reference.len())
            && reference.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !namespace_ok || !reference_ok {
            return Err(malformed());
        }
        Ok(Self { namespace: namespace.to_owned(), reference: reference.to_owned() })
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.namespace, self.reference)
    }
}

impl Serialize for Network {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Network {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
    }
}
