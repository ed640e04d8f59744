//! The durable settlement ledger: what the facilitator has claimed, signed and concluded, so that a payment
//! is never settled twice and a crash between sending a transaction and seeing its receipt is resumed, not
//! forgotten or repeated.
//!
//! The signed transaction is written before it is broadcast (write-ahead), and an entry in
//! [`Entry::Submitted`] is never dropped: it is concluded from its receipt or from the chain's state,
//! broadcast again byte for byte (same hash, same nonce) while it can still succeed, and its nonce taken by a
//! filler once it cannot. The ledger is bound to one chain (id and genesis hash).

use alloy::primitives::{Address, B256, Bytes};
use quittance_x402::{SettleResponse, channel::ChannelConfig};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use std::{path::Path, sync::Mutex};

/// Where one payment's settlement stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    /// A facilitator is checking it; no transaction is signed yet.
    Claimed,
    /// Its transaction is signed and recorded, and may have reached a node: the outcome is not known yet,
    /// and it is concluded from the chain, never forgotten.
    Submitted(Submission),
    /// The outcome, returned to every later request for the same payment.
    Final(SettleResponse),
}

/// A signed transaction, as recorded before it is broadcast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTx {
    /// Its hash.
    pub hash: B256,
    /// The signed transaction (EIP-2718), to broadcast again as is.
    pub raw: Bytes,
    /// Its nonce.
    pub nonce: u64,
}

/// A settlement's signed transaction and what is known of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// The settlement transaction.
    pub tx: SignedTx,
    /// Until when it can succeed (unix seconds): the payer's authorization's `validBefore`; `None` when it
    /// does not expire (the facilitator's own claims).
    pub valid_before: Option<u64>,
    /// A zero-value transaction to itself at the same nonce, signed once the settlement could no longer
    /// succeed, so that later transactions do not wait behind its nonce.
    pub filler: Option<SignedTx>,
}

/// A ledger failure.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The storage failed (or cannot be written).
    #[error("settlement ledger: {0}")]
    Storage(String),
    /// The ledger belongs to another chain (another id, or the same id with another genesis: a local chain
    /// that was reset).
    #[error(
        "the settlement ledger belongs to chain {recorded_id} with genesis {recorded_genesis}, not to chain {chain_id} with genesis {genesis}"
    )]
    OtherChain {
        /// The chain the ledger was made for.
        recorded_id: u64,
        /// Its genesis hash.
        recorded_genesis: B256,
        /// The chain it was opened for.
        chain_id: u64,
        /// Its genesis hash.
        genesis: B256,
    },
    /// A stored record cannot be read back.
    #[error("settlement ledger holds a corrupt record for {key}: {reason}")]
    Corrupt {
        /// The payment key.
        key: B256,
        /// What is wrong.
        reason: String,
    },
}

impl From<rusqlite::Error> for LedgerError {
    fn from(err: rusqlite::Error) -> Self {
        Self::Storage(err.to_string())
    }
}

/// A voucher channel the facilitator serves: what the chain last said of it and the highest voucher accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelRecord {
    /// The channel id.
    pub id: B256,
    /// The `VoucherChannels` contract.
    pub contract: Address,
    /// The channel's config.
    pub config: ChannelConfig,
    /// What the channel holds.
    pub balance: u128,
    /// The highest voucher accepted (what the receiver is owed in all).
    pub accepted: u128,
    /// Its signature (empty before the first voucher).
    pub signature: Bytes,
    /// What the contract has recorded as claimed.
    pub claimed: u128,
    /// Closed, or its payer asked to withdraw: no more vouchers are accepted.
    pub closing: bool,
}

/// Durable storage of settlements, keyed by a payment's identity. Implementations must make [`Ledger::claim`]
/// atomic: of two claims of the same key, exactly one gets `None`.
pub trait Ledger: Send + Sync + std::fmt::Debug {
    /// Binds the ledger to a chain on first use, and refuses any other chain afterwards
    /// ([`LedgerError::OtherChain`]). Writes, so a ledger that cannot be written fails here, at start.
    fn bind(&self, chain_id: u64, genesis: B256) -> Result<(), LedgerError>;
    /// Claims `key`: `None` if this caller now owns it, else the entry someone else recorded.
    fn claim(&self, key: B256) -> Result<Option<Entry>, LedgerError>;
    /// The entry of `key`.
    fn get(&self, key: B256) -> Result<Option<Entry>, LedgerError>;
    /// Records the signed transaction of an owned claim, durably, before it is broadcast.
    fn submit(&self, key: B256, submission: &Submission) -> Result<(), LedgerError>;
    /// Records, durably and before it is broadcast, the filler that takes the nonce of a submitted
    /// settlement that can no longer succeed.
    fn fill(&self, key: B256, filler: &SignedTx) -> Result<(), LedgerError>;
    /// Records the outcome.
    fn finish(&self, key: B256, response: &SettleResponse) -> Result<(), LedgerError>;
    /// Marks a successful outcome as handed to a client: true the first time only, so that one payment's
    /// success is answered once and a replay is told it was settled before.
    fn deliver(&self, key: B256) -> Result<bool, LedgerError>;
    /// Drops a claim that has no transaction (refused before anything was signed), so that the payment can
    /// be tried again. A submitted settlement is never dropped.
    fn release(&self, key: B256) -> Result<(), LedgerError>;
    /// Every entry that is not final, in the order they were claimed.
    fn unfinished(&self) -> Result<Vec<(B256, Entry)>, LedgerError>;
    /// The highest nonce of the transactions it holds unfinished, or recorded last.
    fn highest_nonce(&self) -> Result<Option<u64>, LedgerError>;
    /// A channel's record.
    fn channel(&self, id: B256) -> Result<Option<ChannelRecord>, LedgerError>;
    /// Records what the chain says of a channel (balance, claimed, closing), creating the record if new. The
    /// accepted voucher is kept (it only changes through [`Ledger::accept_voucher`]).
    fn record_channel(&self, record: &ChannelRecord) -> Result<(), LedgerError>;
    /// Accepts a voucher of `amount` if it is at least `price` above the accepted one, atomically: of two
    /// vouchers racing, each is accepted only if it still pays the price on top of the other. False if not.
    fn accept_voucher(&self, id: B256, amount: u128, price: u128, signature: &Bytes) -> Result<bool, LedgerError>;
    /// The channels whose accepted voucher is above what is claimed.
    fn unclaimed_channels(&self) -> Result<Vec<ChannelRecord>, LedgerError>;
}

/// The embedded ledger: one SQLite file, nothing to start.
#[derive(Debug)]
pub struct SqliteLedger {
    connection: Mutex<Connection>,
}

impl SqliteLedger {
    /// Opens (or creates) the ledger in the file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, LedgerError> {
        Self::init(Connection::open(path)?)
    }

    /// A ledger in memory, lost when dropped (tests, demos).
    pub fn in_memory() -> Result<Self, LedgerError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(connection: Connection) -> Result<Self, LedgerError> {
        connection.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA busy_timeout = 5000;
             CREATE TABLE IF NOT EXISTS settlements (
                 key BLOB PRIMARY KEY NOT NULL,
                 state TEXT NOT NULL CHECK (state IN ('claimed', 'submitted', 'final')),
                 tx_hash BLOB,
                 raw_tx BLOB,
                 response TEXT,
                 updated_at INTEGER NOT NULL DEFAULT (unixepoch())
             );
             CREATE TABLE IF NOT EXISTS channels (
                 id BLOB PRIMARY KEY NOT NULL,
                 contract BLOB NOT NULL,
                 config TEXT NOT NULL,
                 balance TEXT NOT NULL,
                 accepted TEXT NOT NULL,
                 signature BLOB NOT NULL,
                 claimed TEXT NOT NULL,
                 closing INTEGER NOT NULL
             );
             CREATE TABLE IF NOT EXISTS chain (
                 id INTEGER PRIMARY KEY CHECK (id = 1),
                 chain_id INTEGER NOT NULL,
                 genesis BLOB NOT NULL
             );",
        )?;
        // Version 1: until when a settlement can succeed, its filler, and whether its success was answered.
        let version: i64 = connection.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version < 1 {
            connection.execute_batch(
                "BEGIN IMMEDIATE;
                 ALTER TABLE settlements ADD COLUMN valid_before INTEGER;
                 ALTER TABLE settlements ADD COLUMN filler_raw BLOB;
                 ALTER TABLE settlements ADD COLUMN delivered INTEGER NOT NULL DEFAULT 0;
                 UPDATE settlements SET delivered = 1 WHERE state = 'final';
                 PRAGMA user_version = 1;
                 COMMIT;",
            )?;
        }
        Ok(Self { connection: Mutex::new(connection) })
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> Result<T, LedgerError>) -> Result<T, LedgerError> {
        let connection = self.connection.lock().map_err(|_| LedgerError::Storage("poisoned lock".into()))?;
        f(&connection)
    }

    /// Runs a write that must reach the disk before it returns (a transaction is broadcast next): committed
    /// with `synchronous = FULL`, which also syncs every earlier write. The other writes are atomic but may
    /// be lost to a power cut, which only costs a lookup: a lost claim had nothing signed, and a lost outcome
    /// is concluded from the chain again.
    fn durably(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<usize>) -> Result<usize, LedgerError> {
        self.with(|c| {
            c.execute_batch("PRAGMA synchronous = FULL")?;
            let written = f(c);
            c.execute_batch("PRAGMA synchronous = NORMAL")?;
            Ok(written?)
        })
    }
}

/// Reads a signed transaction back: its hash is recomputed and its nonce decoded from the bytes.
fn signed_tx(raw: Vec<u8>) -> Option<SignedTx> {
    use alloy::{consensus::Transaction, eips::Decodable2718};
    let envelope = alloy::consensus::TxEnvelope::decode_2718(&mut raw.as_slice()).ok()?;
    Some(SignedTx { hash: *envelope.tx_hash(), nonce: envelope.nonce(), raw: raw.into() })
}

const ENTRY_COLUMNS: &str = "state, raw_tx, valid_before, filler_raw, response";

type Row = (String, Option<Vec<u8>>, Option<i64>, Option<Vec<u8>>, Option<String>);

fn read_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?))
}

fn entry(key: B256, (state, raw, valid_before, filler, response): Row) -> Result<Entry, LedgerError> {
    let corrupt = |reason: &str| LedgerError::Corrupt { key, reason: reason.into() };
    match state.as_str() {
        "claimed" => Ok(Entry::Claimed),
        "submitted" => {
            let tx = raw.and_then(signed_tx).ok_or_else(|| corrupt("no readable signed transaction"))?;
            let filler = filler.map(|raw| signed_tx(raw).ok_or_else(|| corrupt("unreadable filler"))).transpose()?;
            let valid_before = valid_before.map(|v| u64::try_from(v).unwrap_or_default());
            Ok(Entry::Submitted(Submission { tx, valid_before, filler }))
        }
        "final" => {
            let response = response.ok_or_else(|| corrupt("no response"))?;
            serde_json::from_str(&response).map(Entry::Final).map_err(|e| corrupt(&e.to_string()))
        }
        other => Err(corrupt(&format!("unknown state {other}"))),
    }
}

impl Ledger for SqliteLedger {
    fn bind(&self, chain_id: u64, genesis: B256) -> Result<(), LedgerError> {
        self.with(|c| {
            let bind = Transaction::new_unchecked(c, TransactionBehavior::Immediate)?;
            let recorded: Option<(i64, Vec<u8>)> = bind
                .query_row("SELECT chain_id, genesis FROM chain WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            match recorded {
                None => {
                    bind.execute(
                        "INSERT INTO chain (id, chain_id, genesis) VALUES (1, ?1, ?2)",
                        params![chain_id as i64, genesis.as_slice()],
                    )?;
                }
                Some((id, hash)) if id as u64 == chain_id && hash.as_slice() == genesis.as_slice() => {
                    // Proves the file can be written now, not at the first settlement.
                    bind.execute("UPDATE chain SET chain_id = chain_id WHERE id = 1", [])?;
                }
                Some((id, hash)) => {
                    return Err(LedgerError::OtherChain {
                        recorded_id: id as u64,
                        recorded_genesis: if hash.len() == 32 { B256::from_slice(&hash) } else { B256::ZERO },
                        chain_id,
                        genesis,
                    });
                }
            }
            bind.commit()?;
            Ok(())
        })
    }

    fn claim(&self, key: B256) -> Result<Option<Entry>, LedgerError> {
        self.with(|c| {
            let inserted = c.execute(
                "INSERT INTO settlements (key, state) VALUES (?1, 'claimed') ON CONFLICT (key) DO NOTHING",
                params![key.as_slice()],
            )?;
            if inserted == 1 {
                return Ok(None);
            }
            let row = c.query_row(
                &format!("SELECT {ENTRY_COLUMNS} FROM settlements WHERE key = ?1"),
                params![key.as_slice()],
                read_row,
            )?;
            entry(key, row).map(Some)
        })
    }

    fn get(&self, key: B256) -> Result<Option<Entry>, LedgerError> {
        self.with(|c| {
            let row = c
                .query_row(
                    &format!("SELECT {ENTRY_COLUMNS} FROM settlements WHERE key = ?1"),
                    params![key.as_slice()],
                    read_row,
                )
                .optional()?;
            row.map(|row| entry(key, row)).transpose()
        })
    }

    fn submit(&self, key: B256, submission: &Submission) -> Result<(), LedgerError> {
        let valid_before = submission.valid_before.map(|v| i64::try_from(v).unwrap_or(i64::MAX));
        let updated = self.durably(|c| {
            c.execute(
                "UPDATE settlements SET state = 'submitted', tx_hash = ?2, raw_tx = ?3, valid_before = ?4,
                 filler_raw = NULL, updated_at = unixepoch() WHERE key = ?1 AND state = 'claimed'",
                params![key.as_slice(), submission.tx.hash.as_slice(), submission.tx.raw.as_ref(), valid_before],
            )
        })?;
        if updated != 1 {
            return Err(LedgerError::Corrupt { key, reason: "submitted without a claim".into() });
        }
        Ok(())
    }

    fn fill(&self, key: B256, filler: &SignedTx) -> Result<(), LedgerError> {
        let updated = self.durably(|c| {
            c.execute(
                "UPDATE settlements SET filler_raw = ?2, updated_at = unixepoch()
                 WHERE key = ?1 AND state = 'submitted'",
                params![key.as_slice(), filler.raw.as_ref()],
            )
        })?;
        if updated != 1 {
            return Err(LedgerError::Corrupt { key, reason: "a filler for a settlement that is not submitted".into() });
        }
        Ok(())
    }

    fn finish(&self, key: B256, response: &SettleResponse) -> Result<(), LedgerError> {
        let json = serde_json::to_string(response).map_err(|e| LedgerError::Storage(e.to_string()))?;
        self.with(|c| {
            c.execute(
                "UPDATE settlements SET state = 'final', response = ?2, updated_at = unixepoch() WHERE key = ?1",
                params![key.as_slice(), json],
            )?;
            Ok(())
        })
    }

    fn deliver(&self, key: B256) -> Result<bool, LedgerError> {
        self.with(|c| {
            let updated = c.execute(
                "UPDATE settlements SET delivered = 1 WHERE key = ?1 AND state = 'final' AND delivered = 0",
                params![key.as_slice()],
            )?;
            Ok(updated == 1)
        })
    }

    fn release(&self, key: B256) -> Result<(), LedgerError> {
        self.with(|c| {
            c.execute("DELETE FROM settlements WHERE key = ?1 AND state = 'claimed'", params![key.as_slice()])?;
            Ok(())
        })
    }

    fn highest_nonce(&self) -> Result<Option<u64>, LedgerError> {
        self.with(|c| {
            let mut statement = c.prepare(
                "SELECT raw_tx, filler_raw FROM settlements WHERE state = 'submitted'
                 UNION ALL
                 SELECT * FROM (SELECT raw_tx, NULL FROM settlements WHERE raw_tx IS NOT NULL
                                ORDER BY rowid DESC LIMIT 64)",
            )?;
            let rows =
                statement.query_map([], |r| Ok((r.get::<_, Option<Vec<u8>>>(0)?, r.get::<_, Option<Vec<u8>>>(1)?)))?;
            let mut highest = None;
            for row in rows {
                let (raw, filler) = row?;
                for tx in [raw, filler].into_iter().flatten().filter_map(signed_tx) {
                    highest = highest.max(Some(tx.nonce));
                }
            }
            Ok(highest)
        })
    }

    fn channel(&self, id: B256) -> Result<Option<ChannelRecord>, LedgerError> {
        self.with(|c| {
            c.query_row(&format!("{CHANNEL_COLUMNS} WHERE id = ?1"), params![id.as_slice()], channel_row)
                .optional()?
                .map(|row| channel_record(id, row))
                .transpose()
        })
    }

    fn record_channel(&self, record: &ChannelRecord) -> Result<(), LedgerError> {
        let config = serde_json::to_string(&record.config).map_err(|e| LedgerError::Storage(e.to_string()))?;
        self.with(|c| {
            c.execute(
                "INSERT INTO channels (id, contract, config, balance, accepted, signature, claimed, closing)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (id) DO UPDATE SET balance = ?4, claimed = ?7, closing = ?8",
                params![
                    record.id.as_slice(),
                    record.contract.as_slice(),
                    config,
                    record.balance.to_string(),
                    record.accepted.to_string(),
                    record.signature.as_ref(),
                    record.claimed.to_string(),
                    record.closing
                ],
            )?;
            Ok(())
        })
    }

    fn accept_voucher(&self, id: B256, amount: u128, price: u128, signature: &Bytes) -> Result<bool, LedgerError> {
        self.with(|c| {
            // IMMEDIATE: another process sharing the file cannot accept between the read and the write.
            let update = Transaction::new_unchecked(c, TransactionBehavior::Immediate)?;
            let accepted: Option<String> = update
                .query_row("SELECT accepted FROM channels WHERE id = ?1", params![id.as_slice()], |r| r.get(0))
                .optional()?;
            let Some(accepted) = accepted else { return Ok(false) };
            if price == 0 || amount < parse_amount(id, &accepted)?.saturating_add(price) {
                return Ok(false);
            }
            update.execute(
                "UPDATE channels SET accepted = ?2, signature = ?3 WHERE id = ?1",
                params![id.as_slice(), amount.to_string(), signature.as_ref()],
            )?;
            update.commit()?;
            Ok(true)
        })
    }

    fn unclaimed_channels(&self) -> Result<Vec<ChannelRecord>, LedgerError> {
        self.with(|c| {
            let mut statement = c.prepare(&format!("{CHANNEL_COLUMNS} WHERE accepted != claimed ORDER BY rowid"))?;
            let rows = statement.query_map([], |row| Ok((row.get::<_, Vec<u8>>(8)?, channel_row(row)?)))?;
            let mut out = Vec::new();
            for row in rows {
                let (id, row) = row?;
                if id.len() != 32 {
                    return Err(LedgerError::Storage("a channel id is not 32 bytes".into()));
                }
                let record = channel_record(B256::from_slice(&id), row)?;
                if record.accepted > record.claimed {
                    out.push(record);
                }
            }
            Ok(out)
        })
    }

    fn unfinished(&self) -> Result<Vec<(B256, Entry)>, LedgerError> {
        self.with(|c| {
            let mut statement = c.prepare(&format!(
                "SELECT key, {ENTRY_COLUMNS} FROM settlements WHERE state != 'final' ORDER BY rowid"
            ))?;
            let rows = statement.query_map([], |row| {
                Ok((row.get::<_, Vec<u8>>(0)?, (row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?)))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (key, rest) = row?;
                if key.len() != 32 {
                    return Err(LedgerError::Storage("a settlement key is not 32 bytes".into()));
                }
                let key = B256::from_slice(&key);
                out.push((key, entry(key, rest)?));
            }
            Ok(out)
        })
    }
}

const CHANNEL_COLUMNS: &str =
    "SELECT contract, config, balance, accepted, signature, claimed, closing, rowid, id FROM channels";

type ChannelRow = (Vec<u8>, String, String, String, Vec<u8>, String, bool);

fn channel_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ChannelRow> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?, row.get(6)?))
}

fn parse_amount(key: B256, amount: &str) -> Result<u128, LedgerError> {
    amount.parse().map_err(|_| LedgerError::Corrupt { key, reason: format!("bad amount {amount:?}") })
}

fn channel_record(
    id: B256,
    (contract, config, balance, accepted, signature, claimed, closing): ChannelRow,
) -> Result<ChannelRecord, LedgerError> {
    let corrupt = |reason: &str| LedgerError::Corrupt { key: id, reason: reason.into() };
    if contract.len() != 20 {
        return Err(corrupt("bad contract address"));
    }
    Ok(ChannelRecord {
        id,
        contract: Address::from_slice(&contract),
        config: serde_json::from_str(&config).map_err(|e| corrupt(&e.to_string()))?,
        balance: parse_amount(id, &balance)?,
        accepted: parse_amount(id, &accepted)?,
        signature: signature.into(),
        claimed: parse_amount(id, &claimed)?,
        closing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: B256) -> ChannelRecord {
        ChannelRecord {
            id,
            contract: Address::repeat_byte(1),
            config: ChannelConfig {
                payer: Address::repeat_byte(2),
                payerAuthorizer: Address::ZERO,
                receiver: Address::repeat_byte(3),
                token: Address::repeat_byte(4),
                withdrawDelay: alloy::primitives::aliases::U40::from(3600),
                salt: B256::ZERO,
            },
            balance: 10_000,
            accepted: 0,
            signature: Bytes::new(),
            claimed: 0,
            closing: false,
        }
    }

    #[test]
    fn a_voucher_is_accepted_only_if_it_pays_the_price_on_top_of_the_accepted_one() -> Result<(), LedgerError> {
        let ledger = SqliteLedger::in_memory()?;
        let id = B256::repeat_byte(9);
        assert!(!ledger.accept_voucher(id, 1_000, 1_000, &Bytes::new())?, "an unknown channel");
        ledger.record_channel(&record(id))?;
        assert!(ledger.accept_voucher(id, 1_000, 1_000, &Bytes::from_static(b"a"))?);
        assert!(!ledger.accept_voucher(id, 1_000, 1_000, &Bytes::new())?, "the same voucher again");
        assert!(!ledger.accept_voucher(id, 1_500, 1_000, &Bytes::new())?, "less than the price on top");
        assert!(ledger.accept_voucher(id, 2_000, 1_000, &Bytes::from_static(b"b"))?);
        // Refreshing what the chain says keeps the accepted voucher.
        ledger.record_channel(&ChannelRecord { balance: 20_000, claimed: 1_000, ..record(id) })?;
        let stored = ledger.channel(id)?.expect("recorded");
        assert_eq!((stored.balance, stored.accepted, stored.claimed), (20_000, 2_000, 1_000));
        assert_eq!(stored.signature, Bytes::from_static(b"b"));
        assert_eq!(ledger.unclaimed_channels()?.len(), 1);
        Ok(())
    }
}
