#![doc = include_str!("../README.md")]

use alloy::{
    primitives::{Address, B256, Bytes, Log},
    signers::local::PrivateKeySigner,
    sol_types::{SolCall, SolConstructor, SolEvent},
};
use quittance_bindings::{
    BurnMintTokenPool, CrossChainInvoicePayer, CrossChainInvoiceReceiver, CrossChainStablecoin, InvoiceRegistry,
    LocalCcipRouter, LocalRmn, RegistryModuleOwnerCustom, TokenAdminRegistry,
    burn_mint_token_pool::{RateLimiter, TokenPool},
};
use quittance_chain::{Chain, ChainError, Receipt, Sender, read};
use std::{future::Future, time::Duration};

/// `IInvoiceRegistry.Path.CrossChain`: the kind of settler the receiver is.
const CROSS_CHAIN_SETTLER: u8 = 5;

/// Gas for a creation (creations are not estimated).
const CREATE_GAS: u64 = 12_000_000;

/// One chain's end of local lanes: what `deploy_lane_end` put there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaneEnd {
    /// The chain's CCIP selector (any distinct number locally).
    pub chain_selector: u64,
    /// The local router stand-in.
    pub router: Address,
    /// Chainlink's token admin registry.
    pub token_admin_registry: Address,
    /// The Cross-Chain Token.
    pub token: Address,
    /// Chainlink's BurnMintTokenPool for it.
    pub pool: Address,
}

/// A lane's rate limit, each way: at most `capacity` in flight, refilled by `rate` a second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// The bucket's size, in token units.
    pub capacity: u128,
    /// Token units added back each second.
    pub rate: u128,
}

/// Deploys a lane end on `sender`'s chain; `sender` becomes the relay, the registry's and the token's
/// owner. The token is named `token_name` with EIP-712 version `token_version`.
pub async fn deploy_lane_end<C: Chain>(
    sender: &mut Sender<'_, C>,
    chain_selector: u64,
    token_name: &str,
    token_version: &str,
) -> Result<LaneEnd, ChainError> {
    let owner = sender.address();
    let token_admin_registry = sender.create(TokenAdminRegistry::BYTECODE.clone(), CREATE_GAS).await?.0;
    let module_init = [
        RegistryModuleOwnerCustom::BYTECODE.as_ref(),
        &RegistryModuleOwnerCustom::constructorCall { tokenAdminRegistry: token_admin_registry }.abi_encode(),
    ]
    .concat();
    let module = sender.create(module_init.into(), CREATE_GAS).await?.0;
    let add = TokenAdminRegistry::addRegistryModuleCall { module };
    sender.send(token_admin_registry, add.abi_encode().into()).await?;
    let router_init = [
        LocalCcipRouter::BYTECODE.as_ref(),
        &LocalCcipRouter::constructorCall {
            chainSelector_: chain_selector,
            tokenAdminRegistry_: token_admin_registry,
            relay: owner,
        }
        .abi_encode(),
    ]
    .concat();
    let router = sender.create(router_init.into(), CREATE_GAS).await?.0;
    let rmn = sender.create(LocalRmn::BYTECODE.clone(), CREATE_GAS).await?.0;
    let token_init = [
        CrossChainStablecoin::BYTECODE.as_ref(),
        &CrossChainStablecoin::constructorCall {
            name_: token_name.into(),
            symbol_: "QUSD".into(),
            version_: token_version.into(),
            owner_: owner,
        }
        .abi_encode(),
    ]
    .concat();
    let token = sender.create(token_init.into(), CREATE_GAS).await?.0;
    let pool_init = [
        BurnMintTokenPool::BYTECODE.as_ref(),
        &BurnMintTokenPool::constructorCall {
            token,
            localTokenDecimals: 6,
            advancedPoolHooks: Address::ZERO,
            rmnProxy: rmn,
            router,
        }
        .abi_encode(),
    ]
    .concat();
    let pool = sender.create(pool_init.into(), CREATE_GAS).await?.0;
    // The CCT registration: the owner registers itself as the token's admin, accepts, sets the pool.
    let register = RegistryModuleOwnerCustom::registerAdminViaOwnerCall { token };
    sender.send(module, register.abi_encode().into()).await?;
    let accept = TokenAdminRegistry::acceptAdminRoleCall { localToken: token };
    sender.send(token_admin_registry, accept.abi_encode().into()).await?;
    let set_pool = TokenAdminRegistry::setPoolCall { localToken: token, pool };
    sender.send(token_admin_registry, set_pool.abi_encode().into()).await?;
    let roles = CrossChainStablecoin::setMintAndBurnRolesCall { account: pool, granted: true };
    sender.send(token, roles.abi_encode().into()).await?;
    Ok(LaneEnd { chain_selector, router, token_admin_registry, token, pool })
}

/// Opens the lane from `local` (on `sender`'s chain) to `remote`, with `limit` both ways.
pub async fn connect<C: Chain>(
    sender: &mut Sender<'_, C>,
    local: &LaneEnd,
    remote: &LaneEnd,
    limit: RateLimit,
) -> Result<(), ChainError> {
    let config = RateLimiter::Config { isEnabled: true, capacity: limit.capacity, rate: limit.rate };
    let update = TokenPool::ChainUpdate {
        remoteChainSelector: remote.chain_selector,
        remotePoolAddresses: vec![Bytes::from(remote.pool.into_word().to_vec())],
        remoteTokenAddress: Bytes::from(remote.token.into_word().to_vec()),
        outboundRateLimiterConfig: config.clone(),
        inboundRateLimiterConfig: config,
    };
    let apply =
        BurnMintTokenPool::applyChainUpdatesCall { remoteChainSelectorsToRemove: vec![], chainsToAdd: vec![update] };
    sender.send(local.pool, apply.abi_encode().into()).await?;
    let lane = LocalCcipRouter::setLaneCall { remote: remote.chain_selector, open: true };
    sender.send(local.router, lane.abi_encode().into()).await?;
    Ok(())
}

/// The messages a transaction sent through `router`, from its logs.
pub fn messages_sent(router: Address, logs: &[Log]) -> Vec<LocalCcipRouter::Message> {
    logs.iter()
        .filter(|log| log.address == router)
        .filter_map(|log| LocalCcipRouter::MessageSent::decode_log(log).ok())
        .map(|sent| sent.data.message)
        .collect()
}

/// Plays the CCIP network for `message`: has the destination's router (`sender` is its relay) execute it.
pub async fn relay<C: Chain>(
    sender: &mut Sender<'_, C>,
    destination: &LaneEnd,
    message: LocalCcipRouter::Message,
) -> Result<Receipt, ChainError> {
    let execute = LocalCcipRouter::executeCall { message };
    sender.send(destination.router, execute.abi_encode().into()).await
}

/// Deploys the source end of cross-chain invoice payments on `sender`'s chain: a `CrossChainInvoicePayer`
/// sending `end`'s token through `end`'s router.
pub async fn deploy_invoice_sender<C: Chain>(sender: &mut Sender<'_, C>, end: &LaneEnd) -> Result<Address, ChainError> {
    let init = [
        CrossChainInvoicePayer::BYTECODE.as_ref(),
        &CrossChainInvoicePayer::constructorCall { router_: end.router, token_: end.token }.abi_encode(),
    ]
    .concat();
    Ok(sender.create(init.into(), CREATE_GAS).await?.0)
}

/// Deploys the destination end on `sender`'s chain: a `CrossChainInvoiceReceiver` on `end`'s router that
/// settles in `registry`, owned by `sender`, and makes it the registry's `CrossChain` settler (`sender` must
/// own the registry).
pub async fn deploy_invoice_receiver<C: Chain>(
    sender: &mut Sender<'_, C>,
    end: &LaneEnd,
    registry: Address,
) -> Result<Address, ChainError> {
    let init = [
        CrossChainInvoiceReceiver::BYTECODE.as_ref(),
        &CrossChainInvoiceReceiver::constructorCall {
            router_: end.router,
            registry_: registry,
            owner_: sender.address(),
        }
        .abi_encode(),
    ]
    .concat();
    let receiver = sender.create(init.into(), CREATE_GAS).await?.0;
    let settler = InvoiceRegistry::setSettlerCall { settler: receiver, kind: CROSS_CHAIN_SETTLER };
    sender.send(registry, settler.abi_encode().into()).await?;
    Ok(receiver)
}

/// Lets `receiver` (on `sender`'s chain, owned by `sender`) accept payments from `invoice_sender` on the
/// chain `source_selector`.
pub async fn allow_invoice_sender<C: Chain>(
    sender: &mut Sender<'_, C>,
    receiver: Address,
    source_selector: u64,
    invoice_sender: Address,
) -> Result<(), ChainError> {
    let allow = CrossChainInvoiceReceiver::setAllowedSenderCall {
        sourceChainSelector: source_selector,
        sender: invoice_sender,
        allowed: true,
    };
    sender.send(receiver, allow.abi_encode().into()).await?;
    Ok(())
}

/// The local relay of one direction of a lane: follows the source router's `MessageSent` events for the
/// destination and has the destination's router execute them, standing in for the CCIP network (local
/// chains only). A message the destination refuses for now (an inbound rate limit, a receiver reverting) is
/// tried again on the next poll; one already executed is dropped.
#[derive(Debug)]
pub struct Relay<C> {
    source: C,
    destination: C,
    signer: PrivateKeySigner,
    source_end: LaneEnd,
    destination_end: LaneEnd,
    next_block: u64,
    waiting: Vec<LocalCcipRouter::Message>,
}

/// What one poll of a [`Relay`] did.
#[derive(Debug, Default)]
pub struct Relayed {
    /// Messages executed on the destination, with their receipts.
    pub executed: Vec<(B256, Receipt)>,
    /// Messages the destination refused for now, kept for the next poll.
    pub waiting: usize,
}

impl<C: Chain> Relay<C> {
    /// A relay from `source_end` (on `source`) to `destination_end` (on `destination`), executing with
    /// `signer` (the destination router's relay), from the source's block `from_block` on.
    pub fn new(
        source: C,
        source_end: LaneEnd,
        destination: C,
        destination_end: LaneEnd,
        signer: PrivateKeySigner,
        from_block: u64,
    ) -> Self {
        Self { source, destination, signer, source_end, destination_end, next_block: from_block, waiting: Vec::new() }
    }

    /// Reads the messages sent since the last poll and executes every message waiting.
    pub async fn poll(&mut self) -> Result<Relayed, ChainError> {
        let head = self.source.block_number().await?;
        if head >= self.next_block {
            let logs = self.source.logs(self.source_end.router, self.next_block, head).await?;
            let selector = self.destination_end.chain_selector;
            self.waiting.extend(
                messages_sent(self.source_end.router, &logs).into_iter().filter(|m| m.destChainSelector == selector),
            );
            self.next_block = head + 1;
        }
        let mut relayed = Relayed::default();
        let mut still_waiting = Vec::new();
        for message in std::mem::take(&mut self.waiting) {
            let id = message.messageId;
            if self.executed(id).await? {
                continue;
            }
            let mut sender = Sender::new(&self.destination, &self.signer).await?;
            match relay(&mut sender, &self.destination_end, message.clone()).await {
                Ok(receipt) => relayed.executed.push((id, receipt)),
                Err(ChainError::Reverted { data }) => {
                    tracing::info!(%id, %data, "the destination refuses the message for now; trying again later");
                    still_waiting.push(message);
                }
                Err(err) => {
                    still_waiting.push(message);
                    self.waiting = still_waiting;
                    return Err(err);
                }
            }
        }
        relayed.waiting = still_waiting.len();
        self.waiting = still_waiting;
        Ok(relayed)
    }

    /// Polls every `interval` until `stop` completes; a failed poll is logged and tried again.
    pub async fn run(mut self, interval: Duration, stop: impl Future<Output = ()>) {
        let mut stop = std::pin::pin!(stop);
        loop {
            match self.poll().await {
                Ok(relayed) => {
                    for (id, receipt) in &relayed.executed {
                        tracing::info!(%id, gas = receipt.gas_used, "relayed a message");
                    }
                }
                Err(err) => tracing::warn!(%err, "relay poll failed"),
            }
            tokio::select! {
                () = &mut stop => return,
                () = tokio::time::sleep(interval) => {}
            }
        }
    }

    async fn executed(&self, id: B256) -> Result<bool, ChainError> {
        read(&self.destination, self.destination_end.router, LocalCcipRouter::executedCall { messageId: id }).await
    }
}

/// The token name and EIP-712 version of the Cross-Chain Token [`deploy_local_lane`] deploys.
pub const LOCAL_TOKEN: (&str, &str) = ("Quittance USD", "1");

/// A two-way local lane between two chains, with Quittance's invoice sender and receiver on each: index 0
/// is the first chain, 1 the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalLane {
    /// Each chain's lane end.
    pub ends: [LaneEnd; 2],
    /// Each chain's `CrossChainInvoicePayer`.
    pub senders: [Address; 2],
    /// Each chain's `CrossChainInvoiceReceiver` (its registry's `CrossChain` settler).
    pub receivers: [Address; 2],
}

/// Deploys a lane end on each of `chains` (with selectors `selectors`), opens the lane both ways with
/// `limit`, and puts Quittance's sender and receiver on each, the receiver settling in that chain's
/// `registries` entry and accepting the other chain's sender. `owner` owns everything (and the registries
/// already) and is the relay.
pub async fn deploy_local_lane<C: Chain>(
    chains: [&C; 2],
    owner: &PrivateKeySigner,
    registries: [Address; 2],
    selectors: [u64; 2],
    limit: RateLimit,
) -> Result<LocalLane, ChainError> {
    let (name, version) = LOCAL_TOKEN;
    let mut ends = Vec::new();
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for i in 0..2 {
        let mut sender = Sender::new(chains[i], owner).await?;
        let end = deploy_lane_end(&mut sender, selectors[i], name, version).await?;
        senders.push(deploy_invoice_sender(&mut sender, &end).await?);
        receivers.push(deploy_invoice_receiver(&mut sender, &end, registries[i]).await?);
        ends.push(end);
    }
    for (here, there) in [(0, 1), (1, 0)] {
        let mut sender = Sender::new(chains[here], owner).await?;
        connect(&mut sender, &ends[here], &ends[there], limit).await?;
        allow_invoice_sender(&mut sender, receivers[here], ends[there].chain_selector, senders[there]).await?;
    }
    Ok(LocalLane {
        ends: [ends[0], ends[1]],
        senders: [senders[0], senders[1]],
        receivers: [receivers[0], receivers[1]],
    })
}
