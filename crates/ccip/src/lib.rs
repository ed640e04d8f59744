#![doc = include_str!("../README.md")]

use alloy::{
    primitives::{Address, Bytes, Log},
    sol_types::{SolCall, SolConstructor, SolEvent},
};
use quittance_bindings::{
    BurnMintTokenPool, CrossChainStablecoin, LocalCcipRouter, LocalRmn, RegistryModuleOwnerCustom, TokenAdminRegistry,
    burn_mint_token_pool::{RateLimiter, TokenPool},
};
use quittance_chain::{Chain, ChainError, Receipt, Sender};

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
