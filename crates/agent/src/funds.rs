//! What the chains the agent can reach say: its token balances per network, whether a payment it signed was
//! taken, and what a voucher channel holds.

use alloy::primitives::{Address, B256, U256};
use quittance_bindings::{
    IERC3009, ISignatureTransfer, InvoiceRegistry, TestPermitToken, TestStablecoin, VoucherChannels,
};
use quittance_chain::{Chain, read};
use std::{collections::BTreeMap, fmt, future::Future, pin::Pin};

/// A boxed future of the [`Funds`] methods.
pub type Answer<'a, T> = Pin<Box<dyn Future<Output = Option<T>> + Send + 'a>>;

/// `IInvoiceRegistry.Status.Paid`.
const STATUS_PAID: u8 = 1;
/// `IInvoiceRegistry.Status.Cancelled`.
const STATUS_CANCELLED: u8 = 2;

/// Where a signed payment leaves its mark on chain: what the agent reads to learn whether it was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mark {
    /// An EIP-3009 authorization (`exact`, cross-chain payments on their source, channel deposits):
    /// `authorizationState(authorizer, nonce)` on `token`.
    Authorization {
        /// The token.
        token: Address,
        /// Who signed it.
        authorizer: Address,
        /// Its nonce.
        nonce: B256,
    },
    /// An invoice paid through its registry (`invoice`): `recordOf(id)` on `registry`.
    Invoice {
        /// The registry.
        registry: Address,
        /// The invoice id.
        id: B256,
        /// Who the agent is.
        payer: Address,
    },
    /// A Permit2 signature transfer (`exact` over Permit2, `upto`): the bit of the owner's unordered `nonce`
    /// in Permit2's `nonceBitmap`. A set bit is read as taken: Permit2 sets it when it transfers, and
    /// otherwise only when the owner invalidates the nonce, which this agent never does.
    Permit2 {
        /// The signer (Permit2's owner).
        owner: Address,
        /// The permit's unordered nonce.
        nonce: U256,
    },
}

/// What a chain says of a [`Mark`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Taken: the authorization is used (the invoice is paid by this payer).
    Taken,
    /// Not taken, and still takeable until the payment's `validBefore`.
    Open,
    /// Not taken, and it can no longer be (the invoice was cancelled, or paid by someone else).
    Void,
}

/// A chain's word on a payment: what it sees, and its time when it looked (unix seconds, read first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainWord {
    /// What the chain sees.
    pub seen: Seen,
    /// The chain's time, read before the mark: a mark `Open` past its `validBefore` can never be taken.
    pub now: u64,
}

/// What a chain holds of a voucher channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelSeen {
    /// The chain does not know it: no channels contract there, or nothing ever deposited into the channel.
    Unknown,
    /// Open, holding `balance`.
    Open {
        /// What was deposited.
        balance: u128,
    },
    /// Closed, or its payer asked to withdraw.
    Closing,
}

/// What the agent can learn from chains. Every method answers `None` when this source cannot tell (a
/// network it does not reach, a failed read): the agent then acts as if it had no chain.
pub trait Funds: Send + Sync + fmt::Debug {
    /// `owner`'s balance of `asset` on `network` (CAIP-2); without it, the agent tries the option anyway.
    fn balance<'a>(&'a self, network: &'a str, asset: Address, owner: Address) -> Answer<'a, U256>;

    /// What `network`'s chain says of `mark` now. Without it, a payment whose outcome is unknown stays in
    /// doubt until a server answers for it, or the operator does.
    fn trace<'a>(&'a self, network: &'a str, mark: &'a Mark) -> Answer<'a, ChainWord> {
        let _ = (network, mark);
        Box::pin(async { None })
    }

    /// The hash of `network`'s block 0: the spend record's payments on a network are bound to its chain.
    fn genesis<'a>(&'a self, network: &'a str) -> Answer<'a, B256> {
        let _ = network;
        Box::pin(async { None })
    }

    /// What `network`'s chain holds of channel `id` in the channels contract `contract`.
    fn channel<'a>(&'a self, network: &'a str, contract: Address, id: B256) -> Answer<'a, ChannelSeen> {
        let _ = (network, contract, id);
        Box::pin(async { None })
    }

    /// How much of `asset` `owner` lets Permit2 spend on `network` (`exact` over Permit2 needs it, or an
    /// EIP-2612 permit).
    fn permit2_allowance<'a>(&'a self, network: &'a str, asset: Address, owner: Address) -> Answer<'a, U256> {
        let _ = (network, asset, owner);
        Box::pin(async { None })
    }

    /// `owner`'s EIP-2612 nonce at `asset` on `network` (what its next `permit` signs).
    fn permit_nonce<'a>(&'a self, network: &'a str, asset: Address, owner: Address) -> Answer<'a, U256> {
        let _ = (network, asset, owner);
        Box::pin(async { None })
    }
}

/// Chains, one per network, read for balances, payments and channels.
#[derive(Debug, Clone)]
pub struct ChainFunds<C> {
    chains: BTreeMap<String, C>,
    balances: bool,
}

impl<C: Chain> ChainFunds<C> {
    /// No chain yet.
    pub fn new() -> Self {
        Self { chains: BTreeMap::new(), balances: true }
    }

    /// The same, not telling balances: the agent then tries every option its policy allows (and learns of a
    /// short balance from the server's refusal), while still reading its payments and channels.
    pub fn without_balances(self) -> Self {
        Self { balances: false, ..self }
    }

    /// The same, reading `network`'s (CAIP-2) chain from `chain`.
    pub fn with(mut self, network: impl Into<String>, chain: C) -> Self {
        self.chains.insert(network.into(), chain);
        self
    }
}

impl<C: Chain> Default for ChainFunds<C> {
    fn default() -> Self {
        Self::new()
    }
}

/// The value of a read, or `None` with a warning.
fn warn_none<T, E: fmt::Display>(result: Result<T, E>, network: &str, what: &str) -> Option<T> {
    result.map_err(|err| tracing::warn!(%err, network, "could not read {what}")).ok()
}

impl<C: Chain + fmt::Debug> Funds for ChainFunds<C> {
    fn balance<'a>(&'a self, network: &'a str, asset: Address, owner: Address) -> Answer<'a, U256> {
        Box::pin(async move {
            let chain = self.chains.get(network).filter(|_| self.balances)?;
            warn_none(read(chain, asset, TestStablecoin::balanceOfCall { account: owner }).await, network, "a balance")
        })
    }

    fn genesis<'a>(&'a self, network: &'a str) -> Answer<'a, B256> {
        Box::pin(async move { warn_none(self.chains.get(network)?.genesis_hash().await, network, "block 0") })
    }

    fn permit2_allowance<'a>(&'a self, network: &'a str, asset: Address, owner: Address) -> Answer<'a, U256> {
        Box::pin(async move {
            let chain = self.chains.get(network)?;
            let call = TestPermitToken::allowanceCall { owner, spender: quittance_x402::permit2::PERMIT2_ADDRESS };
            warn_none(read(chain, asset, call).await, network, "an allowance to Permit2")
        })
    }

    fn permit_nonce<'a>(&'a self, network: &'a str, asset: Address, owner: Address) -> Answer<'a, U256> {
        Box::pin(async move {
            let chain = self.chains.get(network)?;
            warn_none(read(chain, asset, TestPermitToken::noncesCall { owner }).await, network, "an EIP-2612 nonce")
        })
    }

    fn trace<'a>(&'a self, network: &'a str, mark: &'a Mark) -> Answer<'a, ChainWord> {
        Box::pin(async move {
            let chain = self.chains.get(network)?;
            // The time first: a mark still open at a later block, with that time past its expiry, is never
            // taken.
            let now = warn_none(chain.timestamp().await, network, "the time")?;
            let seen = match *mark {
                Mark::Authorization { token, authorizer, nonce } => {
                    let used = read(chain, token, IERC3009::authorizationStateCall { authorizer, nonce }).await;
                    if warn_none(used, network, "an authorization")? { Seen::Taken } else { Seen::Open }
                }
                Mark::Permit2 { owner, nonce } => {
                    let (word, bit) = quittance_x402::permit2::nonce_position(nonce);
                    let call = ISignatureTransfer::nonceBitmapCall { owner, wordPosition: word };
                    let bits = read(chain, quittance_x402::permit2::PERMIT2_ADDRESS, call).await;
                    if warn_none(bits, network, "a Permit2 nonce")? & bit == U256::ZERO {
                        Seen::Open
                    } else {
                        Seen::Taken
                    }
                }
                Mark::Invoice { registry, id, payer } => {
                    let record = read(chain, registry, InvoiceRegistry::recordOfCall { id }).await;
                    let record = warn_none(record, network, "an invoice")?;
                    match record.status {
                        STATUS_PAID if record.payer == payer => Seen::Taken,
                        STATUS_PAID | STATUS_CANCELLED => Seen::Void,
                        _ => Seen::Open,
                    }
                }
            };
            Some(ChainWord { seen, now })
        })
    }

    fn channel<'a>(&'a self, network: &'a str, contract: Address, id: B256) -> Answer<'a, ChannelSeen> {
        Box::pin(async move {
            let chain = self.chains.get(network)?;
            if warn_none(chain.code(contract).await, network, "the channels contract")?.is_empty() {
                return Some(ChannelSeen::Unknown);
            }
            let state = read(chain, contract, VoucherChannels::channelCall { id }).await;
            let state = warn_none(state, network, "a channel")?;
            // A withdrawal request is pending until the channel closes or a deposit cancels it.
            Some(if state.closed || state.withdrawableAt.to::<u64>() != 0 {
                ChannelSeen::Closing
            } else if state.balance == 0 && state.totalClaimed == 0 {
                ChannelSeen::Unknown
            } else {
                ChannelSeen::Open { balance: state.balance }
            })
        })
    }
}
