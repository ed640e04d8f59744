//! Private keys for the commands that sign: read from a file, an environment variable or an encrypted
//! keystore file (the Web3 Secret Storage format of geth, Foundry's `cast wallet` and most wallets), never
//! printed.

use alloy::signers::local::PrivateKeySigner;
use std::path::PathBuf;

/// The agent's key, as `pay` and `channel withdraw` take it.
#[derive(Debug, Clone, clap::Args)]
pub struct KeyArgs {
    /// File holding the agent's hex private key.
    #[arg(long, conflicts_with_all = ["key_env", "keystore"])]
    pub key_file: Option<PathBuf>,
    /// Environment variable holding the agent's hex private key.
    #[arg(long, default_value = "QUITTANCE_AGENT_KEY")]
    pub key_env: String,
    /// An encrypted keystore file holding the agent's key (`cast wallet new`, geth), unlocked with the
    /// password in `--password-env`.
    #[arg(long)]
    pub keystore: Option<PathBuf>,
    /// Environment variable holding the keystore's password.
    #[arg(long, default_value = "QUITTANCE_KEYSTORE_PASSWORD")]
    pub password_env: String,
}

impl KeyArgs {
    /// Where the key comes from.
    pub fn source(&self) -> KeySource {
        match (&self.keystore, &self.key_file) {
            (Some(path), _) => KeySource::Keystore { path: path.clone(), password_env: self.password_env.clone() },
            (None, Some(path)) => KeySource::File(path.clone()),
            (None, None) => KeySource::Env(self.key_env.clone()),
        }
    }
}

/// Where a private key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// An environment variable holding the hex key.
    Env(String),
    /// A file holding the hex key (surrounding whitespace ignored).
    File(PathBuf),
    /// An encrypted keystore file, and the environment variable holding its password.
    Keystore {
        /// The keystore file.
        path: PathBuf,
        /// The variable holding its password.
        password_env: String,
    },
}

/// Why a key could not be loaded. Messages name the source, never the key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The variable is not set.
    #[error("environment variable {0} is not set (it must hold the hex private key)")]
    MissingEnv(String),
    /// The keystore's password variable is not set.
    #[error("environment variable {0} is not set (it must hold the keystore's password)")]
    MissingPassword(String),
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
    /// The keystore cannot be read or unlocked.
    #[error("cannot unlock the keystore {path} (a wrong password, or not a keystore file): {source}")]
    Keystore {
        /// The file.
        path: PathBuf,
        /// Why.
        source: alloy::signers::local::LocalSignerError,
    },
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
            Self::Keystore { path, password_env } => {
                let password =
                    std::env::var(password_env).map_err(|_| KeyError::MissingPassword(password_env.clone()))?;
                return PrivateKeySigner::decrypt_keystore(path, password)
                    .map_err(|source| KeyError::Keystore { path: path.clone(), source });
            }
        };
        text.trim().parse::<PrivateKeySigner>().map_err(|_| KeyError::Invalid(origin))
    }
}
