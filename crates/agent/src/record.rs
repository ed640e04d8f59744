//! The spend record: every payment the agent signed, kept in an SQLite file so budgets hold across
//! restarts and a retried request reuses its payment instead of paying again.

use alloy::primitives::{Address, U256};
use quittance_x402::{PaymentPayload, SettleResponse, channel::ChannelConfig};
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

/// A voucher channel the agent pays through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenChannel {
    /// The channel.
    pub config: ChannelConfig,
    /// What the agent deposited into it.
    pub deposited: u128,
    /// The highest voucher it signed: everything paid through it.
    pub paid: u128,
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

    fn init(mut connection: Connection) -> Result<Self, RecordError> {
        connection.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;",
        )?;
        let migration = connection.transaction()?;
        let version: i64 = migration.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        migration.execute_batch(
            "CREATE TABLE IF NOT EXISTS spends (
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
             -- What each query reads, so that none scans the whole history: open payments by request,
             -- unsettled payments by expiry, recent payments by time; settled amounts are summed as they
             -- settle.
             DROP INDEX IF EXISTS spends_request;
             CREATE INDEX IF NOT EXISTS spends_open ON spends (request, id) WHERE receipt IS NULL AND refused IS NULL;
             CREATE INDEX IF NOT EXISTS spends_unsettled ON spends (asset, valid_before) WHERE receipt IS NULL;
             CREATE INDEX IF NOT EXISTS spends_recent ON spends (asset, created_at);
             CREATE TABLE IF NOT EXISTS settled_totals (asset TEXT PRIMARY KEY, amount TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS channels (
                 key TEXT PRIMARY KEY,
                 config TEXT NOT NULL,
                 deposited TEXT NOT NULL,
                 paid TEXT NOT NULL
             );",
        )?;
        if version < 1 {
            // A record from before the totals: sum what it settled.
            let settled = {
                let mut statement = migration.prepare("SELECT asset, amount FROM spends WHERE receipt IS NOT NULL")?;
                let rows = statement.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
                let mut totals = std::collections::BTreeMap::<String, U256>::new();
                for row in rows {
                    let (asset, amount) = row?;
                    *totals.entry(asset).or_default() += parse_amount(&amount)?;
                }
                totals
            };
            for (asset, amount) in settled {
                migration.execute(
                    "INSERT OR REPLACE INTO settled_totals (asset, amount) VALUES (?1, ?2)",
                    params![asset, amount.to_string()],
                )?;
            }
            migration.execute_batch("PRAGMA user_version = 1")?;
        }
        migration.commit()?;
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

    /// Records the server's receipt of a payment (the first one; a payment is settled once).
    pub fn settled(&self, id: i64, receipt: &SettleResponse) -> Result<(), RecordError> {
        let json = serde_json::to_string(receipt).map_err(|e| RecordError::Storage(e.to_string()))?;
        self.with(|c| {
            let update = c.unchecked_transaction()?;
            if update.execute("UPDATE spends SET receipt = ?2 WHERE id = ?1 AND receipt IS NULL", params![id, json])?
                == 1
            {
                let (asset, amount): (String, String) =
                    update.query_row("SELECT asset, amount FROM spends WHERE id = ?1", params![id], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })?;
                let before: Option<String> = update
                    .query_row("SELECT amount FROM settled_totals WHERE asset = ?1", params![asset], |r| r.get(0))
                    .optional()?;
                let total = before
                    .as_deref()
                    .map(parse_amount)
                    .transpose()?
                    .unwrap_or_default()
                    .saturating_add(parse_amount(&amount)?);
                update.execute(
                    "INSERT OR REPLACE INTO settled_totals (asset, amount) VALUES (?1, ?2)",
                    params![asset, total.to_string()],
                )?;
            }
            update.commit()?;
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

    /// The channel recorded under `key`.
    pub fn channel(&self, key: &str) -> Result<Option<OpenChannel>, RecordError> {
        self.with(|c| {
            let row: Option<(String, String, String)> = c
                .query_row("SELECT config, deposited, paid FROM channels WHERE key = ?1", params![key], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()?;
            let Some((config, deposited, paid)) = row else { return Ok(None) };
            let number = |v: &str| v.parse::<u128>().map_err(|_| RecordError::Storage(format!("corrupt amount {v:?}")));
            Ok(Some(OpenChannel {
                config: serde_json::from_str(&config).map_err(|e| RecordError::Storage(e.to_string()))?,
                deposited: number(&deposited)?,
                paid: number(&paid)?,
            }))
        })
    }

    /// Records a channel's state under `key`, on disk before it returns: a voucher is sent only once its
    /// amount is recorded, so a crash never lets the agent sign a lower one again.
    pub fn save_channel(&self, key: &str, channel: &OpenChannel) -> Result<(), RecordError> {
        let config = serde_json::to_string(&channel.config).map_err(|e| RecordError::Storage(e.to_string()))?;
        self.with(|c| {
            c.execute_batch("PRAGMA synchronous = FULL")?;
            let saved = c.execute(
                "INSERT OR REPLACE INTO channels (key, config, deposited, paid) VALUES (?1, ?2, ?3, ?4)",
                params![key, config, channel.deposited.to_string(), channel.paid.to_string()],
            );
            c.execute_batch("PRAGMA synchronous = NORMAL")?;
            saved?;
            Ok(())
        })
    }

    /// Forgets the channel under `key` (closed, or closing): the next payment opens a new one.
    pub fn forget_channel(&self, key: &str) -> Result<(), RecordError> {
        self.with(|c| {
            c.execute("DELETE FROM channels WHERE key = ?1", params![key])?;
            Ok(())
        })
    }

    /// What counts against the total budget of `asset`: every settled payment, and every other one that
    /// could still be settled at `now`.
    pub fn spent_total(&self, asset: Address, now: u64) -> Result<U256, RecordError> {
        self.with(|c| {
            let pending = sum(
                c,
                "SELECT amount FROM spends WHERE asset = ?1 AND receipt IS NULL AND valid_before > ?2",
                params![asset.to_checksum(None), now as i64],
            )?;
            Ok(settled_total(c, asset)?.saturating_add(pending))
        })
    }

    /// Everything settled in `asset`, over the whole record.
    pub fn settled_total(&self, asset: Address) -> Result<U256, RecordError> {
        self.with(|c| settled_total(c, asset))
    }

    /// What counts against the budget of `host` for `asset` since `since`: its settled payments, and the
    /// others that could still be settled at `now`.
    pub fn spent_since(&self, asset: Address, host: &str, since: u64, now: u64) -> Result<U256, RecordError> {
        self.with(|c| {
            sum(
                c,
                "SELECT amount FROM spends WHERE asset = ?1 AND created_at >= ?2 AND host = ?3
                 AND (receipt IS NOT NULL OR valid_before > ?4)",
                params![asset.to_checksum(None), since as i64, host, now as i64],
            )
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

/// Sums the amounts a query selects.
fn sum(c: &Connection, query: &str, params: impl rusqlite::Params) -> Result<U256, RecordError> {
    let mut statement = c.prepare_cached(query)?;
    let rows = statement.query_map(params, |r| r.get::<_, String>(0))?;
    let mut total = U256::ZERO;
    for amount in rows {
        total = total.saturating_add(parse_amount(&amount?)?);
    }
    Ok(total)
}

fn parse_amount(amount: &str) -> Result<U256, RecordError> {
    U256::from_str_radix(amount, 10).map_err(|_| RecordError::Storage(format!("corrupt amount {amount:?}")))
}

fn settled_total(c: &Connection, asset: Address) -> Result<U256, RecordError> {
    let settled: Option<String> = c
        .query_row("SELECT amount FROM settled_totals WHERE asset = ?1", params![asset.to_checksum(None)], |r| r.get(0))
        .optional()?;
    Ok(settled.as_deref().map(parse_amount).transpose()?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ASSET: Address = Address::repeat_byte(0xaa);

    fn payment() -> PaymentPayload {
        serde_json::from_value(serde_json::json!({
            "x402Version": 2,
            "accepted": {"scheme": "exact", "network": "eip155:31337", "amount": "5", "asset": ASSET,
                         "payTo": Address::repeat_byte(0xbb), "maxTimeoutSeconds": 60, "extra": {}},
            "payload": {}
        }))
        .expect("a payment")
    }

    fn receipt() -> SettleResponse {
        serde_json::from_value(serde_json::json!({"success": true, "transaction": "0x01", "network": "eip155:31337"}))
            .expect("a receipt")
    }

    fn sign(record: &SpendRecord, request: &str, amount: u64, valid_before: u64, now: u64) -> i64 {
        record.signed(request, "api.example", ASSET, U256::from(amount), &payment(), valid_before, now).expect("signed")
    }

    #[test]
    fn totals_count_settled_payments_once_and_pending_ones_until_they_expire() -> Result<(), RecordError> {
        let record = SpendRecord::in_memory()?;
        let settled = sign(&record, "GET /a", 5, 100, 10);
        sign(&record, "GET /b", 7, 100, 10);
        record.settled(settled, &receipt())?;
        record.settled(settled, &receipt())?; // a second receipt for the same payment adds nothing
        assert_eq!(record.spent_total(ASSET, 50)?, U256::from(12));
        assert_eq!(record.spent_total(ASSET, 100)?, U256::from(5), "the unsettled payment expired");
        assert_eq!(record.spent_since(ASSET, "api.example", 10, 50)?, U256::from(12));
        assert_eq!(record.spent_since(ASSET, "api.example", 11, 50)?, U256::ZERO, "outside the window");
        assert_eq!(record.spent_since(ASSET, "other.example", 0, 50)?, U256::ZERO);
        Ok(())
    }

    #[test]
    fn a_record_from_before_the_totals_is_summed_when_opened() -> Result<(), RecordError> {
        let dir = tempfile::tempdir().map_err(|e| RecordError::Storage(e.to_string()))?;
        let path = dir.path().join("spend.sqlite");
        {
            let record = SpendRecord::open(&path)?;
            let id = sign(&record, "GET /a", 5, 100, 10);
            record.settled(id, &receipt())?;
            // As an older version left it: no totals, version 0.
            record.with(|c| Ok(c.execute_batch("DROP TABLE settled_totals; PRAGMA user_version = 0;")?))?;
        }
        let record = SpendRecord::open(&path)?;
        assert_eq!(record.spent_total(ASSET, 1_000)?, U256::from(5));
        Ok(())
    }

    #[test]
    fn a_retry_reuses_the_newest_open_payment_only() -> Result<(), RecordError> {
        let record = SpendRecord::in_memory()?;
        let settled = sign(&record, "GET /a", 5, 100, 10);
        record.settled(settled, &receipt())?;
        assert_eq!(record.reusable("GET /a", 10, 5)?, None, "a settled payment is not sent again");
        let open = sign(&record, "GET /a", 5, 100, 11);
        assert_eq!(record.reusable("GET /a", 10, 5)?.map(|s| s.id), Some(open));
        assert_eq!(record.reusable("GET /a", 96, 5)?, None, "too close to its expiry");
        record.refused(open, "invalid_payload")?;
        assert_eq!(record.reusable("GET /a", 10, 5)?, None, "a refused payment is not sent again");
        Ok(())
    }
}
