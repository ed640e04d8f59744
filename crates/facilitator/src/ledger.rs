//! The durable settlement ledger: what the facilitator has claimed, signed and concluded, so that a payment
//! is never settled twice and a crash between sending a transaction and seeing its receipt is resumed, not
//! forgotten or repeated.
//!
//! The signed transaction is written before it is broadcast (write-ahead): after a crash, an entry in
//! [`Entry::Submitted`] is re-broadcast byte for byte (same hash, same nonce), never re-signed.

use alloy::primitives::{B256, Bytes};
use quittance_x402::SettleResponse;
use rusqlite::{Connection, OptionalExtension, params};
use std::{path::Path, sync::Mutex};

/// Where one payment's settlement stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    /// A facilitator is verifying it; no transaction is signed yet.
    Claimed,
    /// Its transaction is signed, recorded, and maybe broadcast; the outcome is not known yet.
    Submitted {
        /// The transaction hash.
        tx_hash: B256,
        /// The signed transaction (EIP-2718), to re-broadcast as is.
        raw: Bytes,
    },
    /// The outcome, returned to every later request for the same payment.
    Final(SettleResponse),
}

/// A ledger failure.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The storage failed.
    #[error("settlement ledger: {0}")]
    Storage(String),
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

/// Durable storage of settlements, keyed by a payment's identity. Implementations must make [`Ledger::claim`]
/// atomic: of two claims of the same key, exactly one gets `None`.
pub trait Ledger: Send + Sync + std::fmt::Debug {
    /// Claims `key`: `None` if this caller now owns it, else the entry someone else recorded.
    fn claim(&self, key: B256) -> Result<Option<Entry>, LedgerError>;
    /// The entry of `key`.
    fn get(&self, key: B256) -> Result<Option<Entry>, LedgerError>;
    /// Records the signed transaction of an owned claim, before it is broadcast.
    fn submit(&self, key: B256, tx_hash: B256, raw: &Bytes) -> Result<(), LedgerError>;
    /// Records the outcome.
    fn finish(&self, key: B256, response: &SettleResponse) -> Result<(), LedgerError>;
    /// Drops a claim or submission that moved no money (refused, or a transaction the chain rejected), so
    /// that the payment can be tried again.
    fn release(&self, key: B256) -> Result<(), LedgerError>;
    /// Every entry that is not final, for resuming after a restart.
    fn unfinished(&self) -> Result<Vec<(B256, Entry)>, LedgerError>;
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
             );",
        )?;
        Ok(Self { connection: Mutex::new(connection) })
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> Result<T, LedgerError>) -> Result<T, LedgerError> {
        let connection = self.connection.lock().map_err(|_| LedgerError::Storage("poisoned lock".into()))?;
        f(&connection)
    }
}

type Row = (String, Option<Vec<u8>>, Option<Vec<u8>>, Option<String>);

fn entry(key: B256, (state, tx_hash, raw, response): Row) -> Result<Entry, LedgerError> {
    let corrupt = |reason: &str| LedgerError::Corrupt { key, reason: reason.into() };
    match state.as_str() {
        "claimed" => Ok(Entry::Claimed),
        "submitted" => {
            let tx_hash = tx_hash.filter(|h| h.len() == 32).ok_or_else(|| corrupt("bad transaction hash"))?;
            let raw = raw.ok_or_else(|| corrupt("no signed transaction"))?;
            Ok(Entry::Submitted { tx_hash: B256::from_slice(&tx_hash), raw: raw.into() })
        }
        "final" => {
            let response = response.ok_or_else(|| corrupt("no response"))?;
            serde_json::from_str(&response).map(Entry::Final).map_err(|e| corrupt(&e.to_string()))
        }
        other => Err(corrupt(&format!("unknown state {other}"))),
    }
}

fn read_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
}

impl Ledger for SqliteLedger {
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
                "SELECT state, tx_hash, raw_tx, response FROM settlements WHERE key = ?1",
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
                    "SELECT state, tx_hash, raw_tx, response FROM settlements WHERE key = ?1",
                    params![key.as_slice()],
                    read_row,
                )
                .optional()?;
            row.map(|row| entry(key, row)).transpose()
        })
    }

    /// The one write that must reach the disk before it returns (the transaction is broadcast next): it is
    /// committed with `synchronous = FULL`, which also syncs every earlier write. The others (claims,
    /// outcomes, releases) are atomic but may be lost to a power cut, which only costs a lookup: a lost claim
    /// had nothing signed, and a lost outcome is read again from the receipt.
    fn submit(&self, key: B256, tx_hash: B256, raw: &Bytes) -> Result<(), LedgerError> {
        self.with(|c| {
            c.execute_batch("PRAGMA synchronous = FULL")?;
            let updated = c.execute(
                "UPDATE settlements SET state = 'submitted', tx_hash = ?2, raw_tx = ?3, updated_at = unixepoch()
                 WHERE key = ?1 AND state = 'claimed'",
                params![key.as_slice(), tx_hash.as_slice(), raw.as_ref()],
            );
            c.execute_batch("PRAGMA synchronous = NORMAL")?;
            updated?;
            Ok(())
        })
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

    fn release(&self, key: B256) -> Result<(), LedgerError> {
        self.with(|c| {
            c.execute("DELETE FROM settlements WHERE key = ?1 AND state != 'final'", params![key.as_slice()])?;
            Ok(())
        })
    }

    fn unfinished(&self) -> Result<Vec<(B256, Entry)>, LedgerError> {
        self.with(|c| {
            let mut statement = c.prepare(
                "SELECT key, state, tx_hash, raw_tx, response FROM settlements WHERE state != 'final' ORDER BY rowid",
            )?;
            let rows = statement.query_map([], |row| {
                Ok((row.get::<_, Vec<u8>>(0)?, (row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?)))
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
