//! The spend record: every payment the agent signed, kept in an SQLite file so budgets hold across
//! restarts and a retried request reuses its payment instead of paying again.

use alloy::primitives::{Address, U256};
use quittance_x402::{PaymentPayload, SettleResponse};
use rusqlite::{Connection, OptionalExtension, params};
use std::{path::Path, sync::Mutex};

/// A spend record failure.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The storage failed.
    #[error("spend record: {0}")]
    Storage(String),
}

impl From<rusqlite::Error> for RecordError {
    fn from(err: rusqlite::Error) -> Self {
        Self::Storage(err.to_string())
    }
}

/// One signed payment.
#[derive(Debug, Clone, PartialEq)]
pub struct Spend {
    /// Row id.
    pub id: i64,
    /// What was requested (method and URL).
    pub request: String,
    /// The host paid.
    pub host: String,
    /// The token.
    pub asset: Address,
    /// The amount.
    pub amount: U256,
    /// The signed payment.
    pub payment: PaymentPayload,
    /// Until when the payment can be settled (unix seconds).
    pub valid_before: u64,
    /// The receipt, once the server settled it.
    pub receipt: Option<SettleResponse>,
}

/// The durable record of what the agent spent.
#[derive(Debug)]
pub struct SpendRecord {
    connection: Mutex<Connection>,
}

impl SpendRecord {
    /// Opens (or creates) the record in the file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, RecordError> {
        Self::init(Connection::open(path)?)
    }

    /// A record in memory (tests, one-off runs).
    pub fn in_memory() -> Result<Self, RecordError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(connection: Connection) -> Result<Self, RecordError> {
        connection.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             CREATE TABLE IF NOT EXISTS spends (
                 id INTEGER PRIMARY KEY,
                 request TEXT NOT NULL,
                 host TEXT NOT NULL,
                 asset TEXT NOT NULL,
                 amount TEXT NOT NULL,
                 payment TEXT NOT NULL,
                 valid_before INTEGER NOT NULL,
                 created_at INTEGER NOT NULL,
                 receipt TEXT,
                 refused TEXT
             );
             CREATE INDEX IF NOT EXISTS spends_request ON spends (request);",
        )?;
        Ok(Self { connection: Mutex::new(connection) })
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> Result<T, RecordError>) -> Result<T, RecordError> {
        let connection = self.connection.lock().map_err(|_| RecordError::Storage("poisoned lock".into()))?;
        f(&connection)
    }

    /// Records a signed payment before it is sent; returns its id.
    #[allow(clippy::too_many_arguments)]
    pub fn signed(
        &self,
        request: &str,
        host: &str,
        asset: Address,
        amount: U256,
        payment: &PaymentPayload,
        valid_before: u64,
        now: u64,
    ) -> Result<i64, RecordError> {
        let json = serde_json::to_string(payment).map_err(|e| RecordError::Storage(e.to_string()))?;
        // The one write that must reach the disk before the payment leaves (so a retry after a crash reuses
        // it instead of paying again): committed with `synchronous = FULL`. Receipts and refusals may be lost
        // to a power cut; a retry then reuses the payment and gets its outcome again.
        self.with(|c| {
            c.execute_batch("PRAGMA synchronous = FULL")?;
            let inserted = c.execute(
                "INSERT INTO spends (request, host, asset, amount, payment, valid_before, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    request,
                    host,
                    asset.to_checksum(None),
                    amount.to_string(),
                    json,
                    valid_before as i64,
                    now as i64
                ],
            );
            c.execute_batch("PRAGMA synchronous = NORMAL")?;
            inserted?;
            Ok(c.last_insert_rowid())
        })
    }

    /// Records the server's receipt of a payment.
    pub fn settled(&self, id: i64, receipt: &SettleResponse) -> Result<(), RecordError> {
        let json = serde_json::to_string(receipt).map_err(|e| RecordError::Storage(e.to_string()))?;
        self.with(|c| {
            c.execute("UPDATE spends SET receipt = ?2 WHERE id = ?1", params![id, json])?;
            Ok(())
        })
    }

    /// Records that the server refused a payment (with its reason); it still counts against budgets until
    /// it expires, since whoever holds it could still settle it.
    pub fn refused(&self, id: i64, reason: &str) -> Result<(), RecordError> {
        self.with(|c| {
            c.execute("UPDATE spends SET refused = ?2 WHERE id = ?1", params![id, reason])?;
            Ok(())
        })
    }

    /// What counts against budgets for `asset`: every settled payment, and every other one that could still
    /// be settled at `now`. With `host`, only that host's since `since`.
    pub fn spent(&self, asset: Address, host: Option<&str>, since: u64, now: u64) -> Result<U256, RecordError> {
        self.with(|c| {
            let mut statement = c.prepare(
                "SELECT amount FROM spends WHERE asset = ?1 AND created_at >= ?2 AND (?3 IS NULL OR host = ?3)
                 AND (receipt IS NOT NULL OR valid_before > ?4)",
            )?;
            let rows = statement.query_map(params![asset.to_checksum(None), since as i64, host, now as i64], |r| {
                r.get::<_, String>(0)
            })?;
            let mut total = U256::ZERO;
            for amount in rows {
                let amount = amount?;
                let amount = U256::from_str_radix(&amount, 10)
                    .map_err(|_| RecordError::Storage(format!("corrupt amount {amount:?}")))?;
                total = total.saturating_add(amount);
            }
            Ok(total)
        })
    }

    /// The newest payment for `request` that was neither settled nor refused and can still be settled at
    /// `now` (with `margin` seconds to spare): a retry sends it again instead of paying twice.
    pub fn reusable(&self, request: &str, now: u64, margin: u64) -> Result<Option<Spend>, RecordError> {
        self.with(|c| {
            let row = c
                .query_row(
                    "SELECT id, request, host, asset, amount, payment, valid_before FROM spends
                     WHERE request = ?1 AND receipt IS NULL AND refused IS NULL AND valid_before > ?2
                     ORDER BY id DESC LIMIT 1",
                    params![request, now.saturating_add(margin) as i64],
                    |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, String>(3)?,
                            r.get::<_, String>(4)?,
                            r.get::<_, String>(5)?,
                            r.get::<_, i64>(6)?,
                        ))
                    },
                )
                .optional()?;
            let Some((id, request, host, asset, amount, payment, valid_before)) = row else { return Ok(None) };
            let corrupt = |what: &str| RecordError::Storage(format!("corrupt {what} in spend {id}"));
            Ok(Some(Spend {
                id,
                request,
                host,
                asset: asset.parse().map_err(|_| corrupt("asset"))?,
                amount: U256::from_str_radix(&amount, 10).map_err(|_| corrupt("amount"))?,
                payment: serde_json::from_str(&payment).map_err(|_| corrupt("payment"))?,
                valid_before: u64::try_from(valid_before).map_err(|_| corrupt("expiry"))?,
                receipt: None,
            }))
        })
    }
}
