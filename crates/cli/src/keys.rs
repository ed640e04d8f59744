//! Private keys for the commands that sign: read from a file or an environment variable, never printed.

use alloy::signers::local::PrivateKeySigner;
use std::path::PathBuf;

/// Where a private key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// An environment variable holding the hex key.
    Env(String),
    /// A file holding the hex key (surrounding whitespace ignored).
    File(PathBuf),
}

/// Why a key could not be loaded. Messages name the source, never the key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The variable is not set.
    #[error("environment variable {0} is not set (it must hold the hex private key)")]
    MissingEnv(String),
    /// The file cannot be read.
    #[error("cannot read the key file {path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The text is not a valid secp256k1 private key.
    #[error("{0} does not hold a valid hex private key")]
    Invalid(String),
}

impl KeySource {
    /// Loads the key.
    pub fn load(&self) -> Result<PrivateKeySigner, KeyError> {
        let (text, origin) = match self {
            Self::Env(name) => {
                (std::env::var(name).map_err(|_| KeyError::MissingEnv(name.clone()))?, format!("${name}"))
            }
            Self::File(path) => (
                std::fs::read_to_string(path).map_err(|source| KeyError::File { path: path.clone(), source })?,
                path.display().to_string(),
            ),
        };
        text.trim().parse::<PrivateKeySigner>().map_err(|_| KeyError::Invalid(origin))
    }
}
