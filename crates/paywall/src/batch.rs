//! The seller's side of x402's `batch-settlement`: the route's option, the durable record of every channel's
//! latest voucher (what the payee is owed), and the claims that collect it.
//!
//! A payer's first request carries a deposit into its channel and the first voucher; the paywall verifies it
//! with the facilitator, has the deposit settled before serving, and records the channel. Every later request
//! carries a voucher for everything charged on the channel so far plus the route's price; the paywall checks
//! it against its record (anything else gets the official server's corrective 402, with the channel's state
//! and the latest voucher so that the client resyncs), has the facilitator verify it against the chain, and
//! records it durably before the handler runs. Vouchers are claimed later, many channels in one
//! `claimWithSignature`, and swept to the receiver with `settle` ([`crate::Paywall::claim_batches`]): each
//! claim is recorded before it is sent and resumed as recorded after a crash, so no voucher is claimed twice.

use crate::store::StoreError;
use alloy::primitives::{Address, B256};
use quittance_x402::batch_settlement::{
    BatchSettlementExtra, ChannelConfig, ChannelState, ClaimPayload, SignedVoucher, VoucherClaim,
};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use std::{path::Path, sync::Mutex};

/// How a route is offered in `batch-settlement`: who authorizes claims, the channels' withdrawal delay, the
/// deposit asked for and when the paywall claims on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchOffer {
    /// Who authorizes claims and refunds: the facilitator's account (its `/supported` lists it as
    /// `receiverAuthorizer`), which then signs each claim batch itself.
    pub receiver_authorizer: Address,
    /// The withdrawal delay channels must have, in seconds (at least
    /// [`quittance_x402::batch_settlement::MIN_WITHDRAW_DELAY`]): the payee's time to claim after a payer asks
    /// for its deposit back.
    pub withdraw_delay: u32,
    /// The minimum deposit announced in `extra.minDeposit` (`None`: ten prices, as the official server).
    pub min_deposit: Option<u128>,
    /// Refuse deposits below the announced minimum (`invalid_batch_settlement_evm_deposit_below_min_deposit`).
    pub enforce_min_deposit: bool,
    /// Claim and sweep on its own once the unclaimed total of all channels reaches this amount (`None`: only
    /// when [`crate::Paywall::claim_batches`] is called).
    pub claim_threshold: Option<u128>,
}

impl BatchOffer {
    /// An offer whose claims `receiver_authorizer` authorizes, with the shortest withdrawal delay, the
    /// official server's minimum deposit (not enforced) and no automatic claims.
    pub fn new(receiver_authorizer: Address) -> Self {
        Self {
            receiver_authorizer,
            withdraw_delay: quittance_x402::batch_settlement::MIN_WITHDRAW_DELAY,
            min_deposit: None,
            enforce_min_deposit: false,
            claim_threshold: None,
        }
    }

    /// The option's `extra` for a route of `price` in a token of EIP-712 `name` and `version`.
    pub fn extra(&self, price: u128, name: &str, version: &str) -> BatchSettlementExtra {
        let minimum = quittance_x402::batch_settlement::min_deposit_hint(price, self.min_deposit);
        BatchSettlementExtra::new(self.receiver_authorizer, self.withdraw_delay, name, version, minimum)
    }
}

/// What the paywall knows of one channel: its config, what it charged, the latest voucher it accepted, the
/// channel's state on chain when last seen, and what its claims made the channel's claimed total.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelRecord {
    /// The CAIP-2 network.
    pub network: String,
    /// The channel.
    pub config: ChannelConfig,
    /// Everything charged on the channel (the latest voucher's amount).
    pub charged: u128,
    /// The latest voucher accepted.
    pub voucher: SignedVoucher,
    /// The channel on chain, as last seen (its balance including the deposits this paywall had settled).
    pub state: ChannelState,
    /// What this paywall's claims made the channel's claimed total.
    pub claimed: u128,
}

impl ChannelRecord {
    /// The channel's id.
    pub fn channel_id(&self) -> B256 {
        self.voucher.channel_id
    }

    /// What is charged and not claimed yet.
    pub fn unclaimed(&self) -> u128 {
        self.charged.saturating_sub(self.claimed)
    }
}

/// Where a claim stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimStage {
    /// Recorded, and sent or about to be: resumed as recorded.
    Claiming,
    /// Claimed; the sweep to the receiver is due.
    Claimed,
    /// Claimed and swept.
    Settled,
}

impl ClaimStage {
    fn name(self) -> &'static str {
        match self {
            Self::Claiming => "claiming",
            Self::Claimed => "claimed",
            Self::Settled => "settled",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "claiming" => Ok(Self::Claiming),
            "claimed" => Ok(Self::Claimed),
            "settled" => Ok(Self::Settled),
            other => Err(StoreError::Corrupt(format!("unknown claim stage {other}"))),
        }
    }
}

/// A claim of many channels, as recorded before it is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRecord {
    /// Its number in the store.
    pub id: i64,
    /// The CAIP-2 network.
    pub network: String,
    /// The receiver its channels pay.
    pub receiver: Address,
    /// The token.
    pub token: Address,
    /// The claim exactly as sent to the facilitator.
    pub payload: ClaimPayload,
    /// Where it stands.
    pub stage: ClaimStage,
    /// The claim's transaction, once claimed.
    pub transaction: Option<String>,
}

/// The durable record of `batch-settlement` channels and claims: one SQLite file (it may be the payment
/// store's), written before anything is served or sent.
#[derive(Debug)]
pub struct BatchStore {
    connection: Mutex<Connection>,
}

impl BatchStore {
    /// Opens (or creates) the store in the file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::init(Connection::open(path)?)
    }

    /// A store in memory, lost when dropped (tests and demos: a restart forgets what the payee is owed).
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(connection: Connection) -> Result<Self, StoreError> {
        connection.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA busy_timeout = 5000;
             CREATE TABLE IF NOT EXISTS batch_channels (
                 channel_id BLOB PRIMARY KEY NOT NULL,
                 record TEXT NOT NULL,
                 updated_at INTEGER NOT NULL
             );
             CREATE TABLE IF NOT EXISTS batch_claims (
                 id INTEGER PRIMARY KEY AUTOINCREMENT,
                 network TEXT NOT NULL,
                 receiver TEXT NOT NULL,
                 token TEXT NOT NULL,
                 payload TEXT NOT NULL,
                 stage TEXT NOT NULL CHECK (stage IN ('claiming', 'claimed', 'settled')),
                 transaction_hash TEXT,
                 created_at INTEGER NOT NULL
             );",
        )?;
        Ok(Self { connection: Mutex::new(connection) })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let mut connection = self.connection.lock().map_err(|_| StoreError::Corrupt("poisoned lock".into()))?;
        f(&mut connection)
    }

    /// The record of `channel_id`.
    pub fn channel(&self, channel_id: B256) -> Result<Option<ChannelRecord>, StoreError> {
        self.with(|c| {
            let text: Option<String> = c
                .query_row(
                    "SELECT record FROM batch_channels WHERE channel_id = ?1",
                    params![channel_id.as_slice()],
                    |r| r.get(0),
                )
                .optional()?;
            text.map(|t| parse(&t)).transpose()
        })
    }

    /// Records `record` as its channel's, durably.
    pub fn put(&self, record: &ChannelRecord, now: u64) -> Result<(), StoreError> {
        let text = serde_json::to_string(record).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.with(|c| {
            c.execute(
                "INSERT INTO batch_channels (channel_id, record, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (channel_id) DO UPDATE SET record = ?2, updated_at = ?3",
                params![record.channel_id().as_slice(), text, now as i64],
            )?;
            Ok(())
        })
    }

    /// Puts back what a channel's record was (`None`: forgets the channel), when the request that changed it
    /// bought nothing.
    pub fn restore(&self, channel_id: B256, previous: Option<&ChannelRecord>, now: u64) -> Result<(), StoreError> {
        match previous {
            Some(record) => self.put(record, now),
            None => self.with(|c| {
                c.execute("DELETE FROM batch_channels WHERE channel_id = ?1", params![channel_id.as_slice()])?;
                Ok(())
            }),
        }
    }

    /// Every channel.
    pub fn channels(&self) -> Result<Vec<ChannelRecord>, StoreError> {
        self.with(|c| {
            let mut statement = c.prepare("SELECT record FROM batch_channels ORDER BY rowid")?;
            let texts = statement.query_map([], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
            texts.iter().map(|t| parse(t)).collect()
        })
    }

    /// What all channels have charged and not claimed yet.
    pub fn unclaimed(&self) -> Result<u128, StoreError> {
        Ok(self.channels()?.iter().map(ChannelRecord::unclaimed).fold(0, u128::saturating_add))
    }

    /// Records a claim before it is sent.
    pub fn begin_claim(
        &self,
        network: &str,
        receiver: Address,
        token: Address,
        payload: &ClaimPayload,
        now: u64,
    ) -> Result<ClaimRecord, StoreError> {
        let text = serde_json::to_string(payload).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.with(|c| {
            c.execute(
                "INSERT INTO batch_claims (network, receiver, token, payload, stage, created_at)
                 VALUES (?1, ?2, ?3, ?4, 'claiming', ?5)",
                params![network, receiver.to_string(), token.to_string(), text, now as i64],
            )?;
            Ok(ClaimRecord {
                id: c.last_insert_rowid(),
                network: network.to_owned(),
                receiver,
                token,
                payload: payload.clone(),
                stage: ClaimStage::Claiming,
                transaction: None,
            })
        })
    }

    /// Records a claim as landed in `transaction`, and each of its channels as claimed up to its row's
    /// total, in one transaction.
    pub fn claimed(&self, claim: &ClaimRecord, transaction: &str, now: u64) -> Result<(), StoreError> {
        self.with(|c| {
            let tx = c.transaction()?;
            for row in &claim.payload.claims {
                let channel_id = row.voucher.channel.id(chain_id(&claim.network)?);
                let text: Option<String> = tx
                    .query_row(
                        "SELECT record FROM batch_channels WHERE channel_id = ?1",
                        params![channel_id.as_slice()],
                        |r| r.get(0),
                    )
                    .optional()?;
                let Some(text) = text else { continue };
                let mut record = parse(&text)?;
                record.claimed = record.claimed.max(row.total_claimed);
                record.state.total_claimed = record.state.total_claimed.max(row.total_claimed);
                let text = serde_json::to_string(&record).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                tx.execute(
                    "UPDATE batch_channels SET record = ?2, updated_at = ?3 WHERE channel_id = ?1",
                    params![channel_id.as_slice(), text, now as i64],
                )?;
            }
            tx.execute(
                "UPDATE batch_claims SET stage = 'claimed', transaction_hash = ?2 WHERE id = ?1",
                params![claim.id, transaction],
            )?;
            tx.commit()?;
            Ok(())
        })
    }

    /// Forgets a claim the facilitator refused (nothing was sent), so that its channels are claimed again.
    pub fn drop_claim(&self, claim: &ClaimRecord) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute("DELETE FROM batch_claims WHERE id = ?1 AND stage = 'claiming'", params![claim.id])?;
            Ok(())
        })
    }

    /// Records every landed claim of `receiver` in `token` on `network` as swept.
    pub fn swept(&self, network: &str, receiver: Address, token: Address) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE batch_claims SET stage = 'settled'
                 WHERE stage = 'claimed' AND network = ?1 AND receiver = ?2 AND token = ?3",
                params![network, receiver.to_string(), token.to_string()],
            )?;
            Ok(())
        })
    }

    /// The claims at `stage`, oldest first.
    pub fn claims(&self, stage: ClaimStage) -> Result<Vec<ClaimRecord>, StoreError> {
        self.with(|c| {
            let mut statement = c.prepare(
                "SELECT id, network, receiver, token, payload, stage, transaction_hash FROM batch_claims
                 WHERE stage = ?1 ORDER BY id",
            )?;
            let rows = statement
                .query_map(params![stage.name()], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, Option<String>>(6)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter()
                .map(|(id, network, receiver, token, payload, stage, transaction)| {
                    let address = |text: &str| {
                        text.parse::<Address>().map_err(|_| StoreError::Corrupt(format!("{text:?} is not an address")))
                    };
                    Ok(ClaimRecord {
                        id,
                        network,
                        receiver: address(&receiver)?,
                        token: address(&token)?,
                        payload: serde_json::from_str(&payload).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                        stage: ClaimStage::parse(&stage)?,
                        transaction,
                    })
                })
                .collect()
        })
    }
}

fn parse(text: &str) -> Result<ChannelRecord, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn chain_id(network: &str) -> Result<u64, StoreError> {
    network
        .parse::<quittance_x402::Network>()
        .ok()
        .and_then(|n| n.chain_id().ok())
        .ok_or_else(|| StoreError::Corrupt(format!("{network:?} is not an EVM network")))
}

/// The claim rows of `channels` (everything each charged and did not claim yet), grouped by network, receiver
/// and token, at most `per_claim` rows a claim.
pub(crate) fn claim_batches(
    channels: &[ChannelRecord],
    per_claim: usize,
) -> Vec<((String, Address, Address), Vec<VoucherClaim>)> {
    let mut groups: Vec<((String, Address, Address), Vec<VoucherClaim>)> = Vec::new();
    for record in channels.iter().filter(|r| r.unclaimed() > 0) {
        let key = (record.network.clone(), record.config.receiver, record.config.token);
        let row = VoucherClaim::new(record.config, &record.voucher, record.charged);
        match groups.iter_mut().rev().find(|(k, rows)| *k == key && rows.len() < per_claim.max(1)) {
            Some((_, rows)) => rows.push(row),
            None => groups.push((key, vec![row])),
        }
    }
    groups
}

/// The most channels one claim names (the official server's default).
pub const MAX_CLAIMS_PER_BATCH: usize = 100;

/// What [`crate::Paywall::claim_batches`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchClaims {
    /// The claims' transactions, one per claim of up to [`MAX_CLAIMS_PER_BATCH`] channels.
    pub claims: Vec<String>,
    /// How many vouchers (channels) they claimed.
    pub vouchers: usize,
    /// What they claimed, in the token's smallest unit.
    pub claimed: u128,
    /// The sweeps' transactions (`settle`), one per receiver and token.
    pub settlements: Vec<String>,
}

/// Why claiming stopped. What was claimed before stays recorded; calling again resumes.
#[derive(Debug, thiserror::Error)]
pub enum BatchClaimError {
    /// The paywall has no batch store.
    #[error("the paywall has no batch-settlement store")]
    NoStore,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The facilitator could not be asked.
    #[error(transparent)]
    Facilitator(#[from] crate::ClientError),
    /// The facilitator has not concluded a claim or sweep yet: call again later (it is resumed as recorded).
    #[error("the facilitator has not concluded the claim or sweep yet; call again later")]
    Pending,
    /// The facilitator refused a claim (nothing was sent; its channels stay unclaimed) or a sweep.
    #[error("the facilitator refused: {0}")]
    Refused(quittance_x402::ErrorReason),
}
