//! One facilitator service for many networks: a [`Facilitator`] per network (its own chain, signer, nonces,
//! ledger and reconciler), each request sent to the one of its network, and `/supported` listing them all.

use crate::Facilitator;
use quittance_chain::Chain;
use quittance_x402::{ErrorReason, SettleResponse, SupportedResponse, VerifyRequest, VerifyResponse};
use std::{collections::BTreeMap, sync::Arc};

/// A network's facilitator and the schemes it may serve there.
#[derive(Debug)]
pub struct Served<C> {
    /// The network's facilitator.
    pub facilitator: Arc<Facilitator<C>>,
    /// The schemes offered on it (`None`: every scheme the facilitator serves there).
    pub schemes: Option<Vec<String>>,
}

/// Why a set of networks cannot be served together.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NetworksError {
    /// Two facilitators for one network: each network has one account and one ledger.
    #[error("{0} is listed twice: each network is served by one facilitator")]
    Duplicate(String),
    /// Nothing to serve.
    #[error("no network to serve")]
    Empty,
}

/// Facilitators of several networks behind one service.
#[derive(Debug)]
pub struct Networks<C> {
    served: BTreeMap<String, Served<C>>,
}

impl<C: Chain + 'static> Networks<C> {
    /// The service of `served`, one facilitator per network.
    pub fn new(served: impl IntoIterator<Item = Served<C>>) -> Result<Self, NetworksError> {
        let mut by_network = BTreeMap::new();
        for entry in served {
            let network = entry.facilitator.network().to_owned();
            if by_network.insert(network.clone(), entry).is_some() {
                return Err(NetworksError::Duplicate(network));
            }
        }
        if by_network.is_empty() {
            return Err(NetworksError::Empty);
        }
        Ok(Self { served: by_network })
    }

    /// The facilitator of each network, in network order.
    pub fn facilitators(&self) -> impl Iterator<Item = &Arc<Facilitator<C>>> {
        self.served.values().map(|s| &s.facilitator)
    }

    /// The facilitator that serves `request` (its requirements' network and scheme), or why none does.
    fn route(&self, request: &VerifyRequest) -> Result<&Facilitator<C>, (ErrorReason, String)> {
        let requirements = &request.payment_requirements;
        let served = self.served.get(&requirements.network).ok_or_else(|| {
            let networks = self.served.keys().cloned().collect::<Vec<_>>().join(", ");
            (ErrorReason::InvalidNetwork, format!("{} is not served here (served: {networks})", requirements.network))
        })?;
        match &served.schemes {
            Some(schemes) if !schemes.contains(&requirements.scheme) => Err((
                ErrorReason::UnsupportedScheme,
                format!("{} is not offered on {}", requirements.scheme, requirements.network),
            )),
            _ => Ok(&served.facilitator),
        }
    }

    /// `/verify`, by the request's network.
    pub async fn verify(&self, request: &VerifyRequest) -> VerifyResponse {
        match self.route(request) {
            Ok(facilitator) => facilitator.verify(request).await,
            Err((reason, message)) => VerifyResponse {
                is_valid: false,
                invalid_reason: Some(reason),
                invalid_message: Some(message),
                payer: None,
                extra: None,
            },
        }
    }

    /// `/settle`, by the request's network.
    pub async fn settle(&self, request: &VerifyRequest) -> SettleResponse {
        match self.route(request) {
            Ok(facilitator) => facilitator.settle(request).await,
            Err((reason, message)) => SettleResponse {
                success: false,
                error_reason: Some(reason),
                error_message: Some(message),
                payer: None,
                transaction: String::new(),
                network: request.payment_requirements.network.clone(),
                amount: None,
                extra: None,
            },
        }
    }

    /// `/supported`: every network's kinds (those its scheme list allows), their extensions, and every
    /// signing account.
    pub fn supported(&self) -> SupportedResponse {
        let mut all = SupportedResponse::default();
        for served in self.served.values() {
            let supported = served.facilitator.supported();
            let offered = |scheme: &String| served.schemes.as_ref().is_none_or(|s| s.contains(scheme));
            all.kinds.extend(supported.kinds.into_iter().filter(|k| offered(&k.scheme)));
            for extension in supported.extensions {
                if !all.extensions.contains(&extension) {
                    all.extensions.push(extension);
                }
            }
            for (family, signers) in supported.signers {
                let listed = all.signers.entry(family).or_default();
                for signer in signers {
                    if !listed.contains(&signer) {
                        listed.push(signer);
                    }
                }
            }
        }
        all
    }
}
