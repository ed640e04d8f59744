//! What signs the agent's payments: a key in the process, or any alloy signer.

use alloy::{
    primitives::{Address, B256, ChainId, Signature},
    signers::{Error, Signer, SignerSync, local::PrivateKeySigner},
};
use std::{fmt, sync::Arc};

/// The agent's signer: a key held in the process (a private key, a decrypted keystore, a mnemonic), or any
/// signer behind alloy's [`Signer`] trait (AWS or GCP KMS, Ledger, Trezor, a remote signing service).
///
/// Payments are signed where the agent builds them, synchronously; a signer that only signs asynchronously
/// is waited for with [`tokio::task::block_in_place`], so an agent using one must run on tokio's
/// multi-thread runtime (on another, signing fails with an error saying so, and nothing is paid). The key
/// itself is never reachable through this type, and its `Debug` shows only the address.
#[derive(Clone)]
pub struct PaymentSigner {
    address: Address,
    inner: Inner,
}

#[derive(Clone)]
enum Inner {
    Sync(Arc<dyn SignerSync + Send + Sync>),
    Async(Arc<dyn Signer + Send + Sync>),
}

impl PaymentSigner {
    /// A signer that signs in the process, without waiting.
    pub fn local<S: SignerSync + Signer + Send + Sync + 'static>(signer: S) -> Self {
        Self { address: Signer::address(&signer), inner: Inner::Sync(Arc::new(signer)) }
    }

    /// Any alloy signer, including one that signs only asynchronously (see the type's documentation).
    pub fn remote<S: Signer + Send + Sync + 'static>(signer: S) -> Self {
        Self { address: signer.address(), inner: Inner::Async(Arc::new(signer)) }
    }

    /// The paying account.
    pub fn address(&self) -> Address {
        self.address
    }
}

impl From<PrivateKeySigner> for PaymentSigner {
    fn from(signer: PrivateKeySigner) -> Self {
        Self::local(signer)
    }
}

impl fmt::Debug for PaymentSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.inner {
            Inner::Sync(_) => "local",
            Inner::Async(_) => "remote",
        };
        f.debug_struct("PaymentSigner").field("address", &self.address).field("kind", &kind).finish()
    }
}

impl SignerSync for PaymentSigner {
    fn sign_hash_sync(&self, hash: &B256) -> Result<Signature, Error> {
        match &self.inner {
            Inner::Sync(signer) => signer.sign_hash_sync(hash),
            Inner::Async(signer) => {
                use tokio::runtime::{Handle, RuntimeFlavor};
                let handle = Handle::try_current()
                    .ok()
                    .filter(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread)
                    .ok_or_else(|| Error::other("a remote signer needs the agent on tokio's multi-thread runtime"))?;
                tokio::task::block_in_place(|| handle.block_on(signer.sign_hash(hash)))
            }
        }
    }

    fn chain_id_sync(&self) -> Option<ChainId> {
        None
    }
}
