//! The paywall's payment store: every payment is reserved here before it is verified, and the answer it
//! bought is kept, so that one payment buys one execution of the handler and a retry of the same payment
//! (a lost answer, a crash, a concurrent copy) gets the same answer back.
//!
//! The embedded default is one SQLite file ([`SqliteStore`]); paywall processes on one machine may share the
//! file, and then a payment is served once across all of them.

use alloy::primitives::B256;
use rusqlite::{Connection, OptionalExtension, params};
use std::{path::Path, sync::Mutex};

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The storage failed.
    #[error("payment store: {0}")]
    Storage(#[from] rusqlite::Error),
    /// A stored record cannot be read back.
    #[error("payment store holds a corrupt record: {0}")]
    Corrupt(String),
}

/// An answer the paywall gave, kept to be given again: status, headers and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// The HTTP status.
    pub status: u16,
    /// The headers, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// Where a reserved payment stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage {
    /// Reserved: being verified, or its handler is running; settlement was not asked for yet.
    Reserved,
    /// Settlement was asked for (with the handler's answer, kept, when the handler ran first); its outcome
    /// is not known here yet.
    Settling(Option<StoredResponse>),
    /// Concluded: the answer it bought.
    Done(StoredResponse),
}

/// A payment's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// What the payment was for and what it carried: a copy of the same payment for anything else is refused.
    pub fingerprint: B256,
    /// The paywall instance that holds it.
    pub owner: B256,
    /// When it last changed (unix seconds).
    pub updated_at: u64,
    /// Where it stands.
    pub stage: Stage,
}

/// Durable storage of reserved payments. [`PaymentStore::reserve`] and [`PaymentStore::take_over`] must be
/// atomic across every paywall that shares the store.
pub trait PaymentStore: Send + Sync + std::fmt::Debug {
    /// Reserves `key` for `owner`: `None` if it is now this owner's, else the record someone made before.
    fn reserve(&self, key: B256, fingerprint: B256, owner: B256, now: u64) -> Result<Option<Reservation>, StoreError>;
    /// Takes over a reservation whose owner stopped (`seen` is the record as read): true if it is now
    /// `owner`'s, false if someone else changed it first.
    fn take_over(&self, key: B256, seen: &Reservation, owner: B256, now: u64) -> Result<bool, StoreError>;
    /// Records, durably and before settlement is asked for, that it is being settled, with the handler's
    /// answer when the handler ran first.
    fn settling(&self, key: B256, response: Option<&StoredResponse>, now: u64) -> Result<(), StoreError>;
    /// Records the answer the payment bought, durably.
    fn complete(&self, key: B256, response: &StoredResponse, now: u64) -> Result<(), StoreError>;
    /// Drops a reservation that bought nothing (refused before settlement, or its handler failed), so that the
    /// payment may be tried again.
    fn release(&self, key: B256) -> Result<(), StoreError>;
    /// The record of `key`.
    fn get(&self, key: B256) -> Result<Option<Reservation>, StoreError>;
    /// Binds an x402 `payment-identifier` id to the payment (by its digest) the first time it is seen: false
    /// if the id names another payment already.
    fn bind_id(&self, id: &str, payment: B256, now: u64) -> Result<bool, StoreError>;
    /// Forgets concluded payments (and identifiers) older than `before` (unix seconds); returns how many
    /// payments.
    fn prune(&self, before: u64) -> Result<usize, StoreError>;
}

/// The embedded store: one SQLite file, nothing to start.
#[derive(Debug)]
pub struct SqliteStore {
    connection: Mutex<Connection>,
}

impl SqliteStore {
    /// Opens (or creates) the store in the file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::init(Connection::open(path)?)
    }

    /// A store in memory, lost when dropped (tests, demos, one-process servers that accept that a restart
    /// forgets what was served).
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(connection: Connection) -> Result<Self, StoreError> {
        connection.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA busy_timeout = 5000;
             CREATE TABLE IF NOT EXISTS payments (
                 key BLOB PRIMARY KEY NOT NULL,
                 fingerprint BLOB NOT NULL,
                 owner BLOB NOT NULL,
                 stage TEXT NOT NULL CHECK (stage IN ('reserved', 'settling', 'done')),
                 status INTEGER,
                 headers TEXT,
                 body BLOB,
                 updated_at INTEGER NOT NULL
             );
             CREATE INDEX IF NOT EXISTS payments_done ON payments (updated_at) WHERE stage = 'done';
             CREATE TABLE IF NOT EXISTS identifiers (
                 id TEXT PRIMARY KEY NOT NULL,
                 payment BLOB NOT NULL,
                 created_at INTEGER NOT NULL
             );",
        )?;
        Ok(Self { connection: Mutex::new(connection) })
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let connection = self.connection.lock().map_err(|_| StoreError::Corrupt("poisoned lock".into()))?;
        f(&connection)
    }
}

type Row = (Vec<u8>, Vec<u8>, String, Option<i64>, Option<String>, Option<Vec<u8>>, i64);

const COLUMNS: &str = "fingerprint, owner, stage, status, headers, body, updated_at";

fn read_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?, row.get(6)?))
}

fn b256(bytes: &[u8]) -> Result<B256, StoreError> {
    (bytes.len() == 32)
        .then(|| B256::from_slice(bytes))
        .ok_or_else(|| StoreError::Corrupt("a key is not 32 bytes".into()))
}

fn reservation((fingerprint, owner, stage, status, headers, body, updated_at): Row) -> Result<Reservation, StoreError> {
    let response = || -> Result<Option<StoredResponse>, StoreError> {
        let (Some(status), Some(headers)) = (status, headers.as_deref()) else { return Ok(None) };
        Ok(Some(StoredResponse {
            status: u16::try_from(status).map_err(|_| StoreError::Corrupt(format!("status {status}")))?,
            headers: serde_json::from_str(headers).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            body: body.clone().unwrap_or_default(),
        }))
    };
    let stage = match stage.as_str() {
        "reserved" => Stage::Reserved,
        "settling" => Stage::Settling(response()?),
        "done" => Stage::Done(
            response()?.ok_or_else(|| StoreError::Corrupt("a concluded payment without its answer".into()))?,
        ),
        other => return Err(StoreError::Corrupt(format!("unknown stage {other}"))),
    };
    Ok(Reservation {
        fingerprint: b256(&fingerprint)?,
        owner: b256(&owner)?,
        updated_at: u64::try_from(updated_at).unwrap_or_default(),
        stage,
    })
}

fn encode(response: &StoredResponse) -> Result<(i64, String, &[u8]), StoreError> {
    let headers = serde_json::to_string(&response.headers).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok((i64::from(response.status), headers, &response.body))
}

impl PaymentStore for SqliteStore {
    fn reserve(&self, key: B256, fingerprint: B256, owner: B256, now: u64) -> Result<Option<Reservation>, StoreError> {
        self.with(|c| {
            let inserted = c.execute(
                "INSERT INTO payments (key, fingerprint, owner, stage, updated_at) VALUES (?1, ?2, ?3, 'reserved', ?4)
                 ON CONFLICT (key) DO NOTHING",
                params![key.as_slice(), fingerprint.as_slice(), owner.as_slice(), now as i64],
            )?;
            if inserted == 1 {
                return Ok(None);
            }
            let row = c.query_row(
                &format!("SELECT {COLUMNS} FROM payments WHERE key = ?1"),
                params![key.as_slice()],
                read_row,
            )?;
            reservation(row).map(Some)
        })
    }

    fn take_over(&self, key: B256, seen: &Reservation, owner: B256, now: u64) -> Result<bool, StoreError> {
        self.with(|c| {
            let updated = c.execute(
                "UPDATE payments SET owner = ?2, updated_at = ?3 WHERE key = ?1 AND owner = ?4 AND updated_at = ?5
                 AND stage != 'done'",
                params![key.as_slice(), owner.as_slice(), now as i64, seen.owner.as_slice(), seen.updated_at as i64],
            )?;
            Ok(updated == 1)
        })
    }

    fn settling(&self, key: B256, response: Option<&StoredResponse>, now: u64) -> Result<(), StoreError> {
        let encoded = response.map(encode).transpose()?;
        let (status, headers, body) = match &encoded {
            Some((status, headers, body)) => (Some(*status), Some(headers.as_str()), Some(*body)),
            None => (None, None, None),
        };
        self.with(|c| {
            c.execute(
                "UPDATE payments SET stage = 'settling', status = ?2, headers = ?3, body = ?4, updated_at = ?5
                 WHERE key = ?1 AND stage != 'done'",
                params![key.as_slice(), status, headers, body, now as i64],
            )?;
            Ok(())
        })
    }

    fn complete(&self, key: B256, response: &StoredResponse, now: u64) -> Result<(), StoreError> {
        let (status, headers, body) = encode(response)?;
        self.with(|c| {
            c.execute(
                "UPDATE payments SET stage = 'done', status = ?2, headers = ?3, body = ?4, updated_at = ?5 WHERE key = ?1",
                params![key.as_slice(), status, headers, body, now as i64],
            )?;
            Ok(())
        })
    }

    fn release(&self, key: B256) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute("DELETE FROM payments WHERE key = ?1 AND stage != 'done'", params![key.as_slice()])?;
            Ok(())
        })
    }

    fn get(&self, key: B256) -> Result<Option<Reservation>, StoreError> {
        self.with(|c| {
            c.query_row(&format!("SELECT {COLUMNS} FROM payments WHERE key = ?1"), params![key.as_slice()], read_row)
                .optional()?
                .map(reservation)
                .transpose()
        })
    }

    fn bind_id(&self, id: &str, payment: B256, now: u64) -> Result<bool, StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO identifiers (id, payment, created_at) VALUES (?1, ?2, ?3) ON CONFLICT (id) DO NOTHING",
                params![id, payment.as_slice(), now as i64],
            )?;
            let bound: Vec<u8> =
                c.query_row("SELECT payment FROM identifiers WHERE id = ?1", params![id], |r| r.get(0))?;
            Ok(bound.as_slice() == payment.as_slice())
        })
    }

    fn prune(&self, before: u64) -> Result<usize, StoreError> {
        self.with(|c| {
            c.execute("DELETE FROM identifiers WHERE created_at < ?1", params![before as i64])?;
            Ok(c.execute("DELETE FROM payments WHERE stage = 'done' AND updated_at < ?1", params![before as i64])?)
        })
    }
}

/// A store in memory, lost when the process ends: the default of a [`crate::Paywall`], for tests, demos and
/// servers that accept that a restart forgets what was served.
#[derive(Debug, Default)]
pub struct MemoryStore {
    payments: Mutex<std::collections::HashMap<B256, Reservation>>,
    identifiers: Mutex<std::collections::HashMap<String, (B256, u64)>>,
}

impl MemoryStore {
    fn with<T>(&self, f: impl FnOnce(&mut std::collections::HashMap<B256, Reservation>) -> T) -> Result<T, StoreError> {
        let mut payments = self.payments.lock().map_err(|_| StoreError::Corrupt("poisoned lock".into()))?;
        Ok(f(&mut payments))
    }
}

impl PaymentStore for MemoryStore {
    fn reserve(&self, key: B256, fingerprint: B256, owner: B256, now: u64) -> Result<Option<Reservation>, StoreError> {
        self.with(|payments| match payments.get(&key) {
            Some(seen) => Some(seen.clone()),
            None => {
                payments.insert(key, Reservation { fingerprint, owner, updated_at: now, stage: Stage::Reserved });
                None
            }
        })
    }

    fn take_over(&self, key: B256, seen: &Reservation, owner: B256, now: u64) -> Result<bool, StoreError> {
        self.with(|payments| match payments.get_mut(&key) {
            Some(current) if current == seen && !matches!(current.stage, Stage::Done(_)) => {
                current.owner = owner;
                current.updated_at = now;
                true
            }
            _ => false,
        })
    }

    fn settling(&self, key: B256, response: Option<&StoredResponse>, now: u64) -> Result<(), StoreError> {
        self.with(|payments| {
            if let Some(current) = payments.get_mut(&key).filter(|c| !matches!(c.stage, Stage::Done(_))) {
                current.stage = Stage::Settling(response.cloned());
                current.updated_at = now;
            }
        })
    }

    fn complete(&self, key: B256, response: &StoredResponse, now: u64) -> Result<(), StoreError> {
        self.with(|payments| {
            if let Some(current) = payments.get_mut(&key) {
                current.stage = Stage::Done(response.clone());
                current.updated_at = now;
            }
        })
    }

    fn release(&self, key: B256) -> Result<(), StoreError> {
        self.with(|payments| {
            if payments.get(&key).is_some_and(|c| !matches!(c.stage, Stage::Done(_))) {
                payments.remove(&key);
            }
        })
    }

    fn get(&self, key: B256) -> Result<Option<Reservation>, StoreError> {
        self.with(|payments| payments.get(&key).cloned())
    }

    fn bind_id(&self, id: &str, payment: B256, now: u64) -> Result<bool, StoreError> {
        let mut identifiers = self.identifiers.lock().map_err(|_| StoreError::Corrupt("poisoned lock".into()))?;
        Ok(identifiers.entry(id.to_owned()).or_insert((payment, now)).0 == payment)
    }

    fn prune(&self, before: u64) -> Result<usize, StoreError> {
        if let Ok(mut identifiers) = self.identifiers.lock() {
            identifiers.retain(|_, (_, at)| *at >= before);
        }
        self.with(|payments| {
            let count = payments.len();
            payments.retain(|_, r| !(matches!(r.stage, Stage::Done(_)) && r.updated_at < before));
            count - payments.len()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(body: &str) -> StoredResponse {
        StoredResponse { status: 200, headers: vec![("content-type".into(), "text/plain".into())], body: body.into() }
    }

    #[test]
    fn a_payment_is_reserved_once_kept_with_its_answer_and_taken_over_only_as_seen() -> Result<(), StoreError> {
        reserved_once(&SqliteStore::in_memory()?)?;
        reserved_once(&MemoryStore::default())
    }

    fn reserved_once(store: &dyn PaymentStore) -> Result<(), StoreError> {
        let (key, print, me, other) =
            (B256::repeat_byte(1), B256::repeat_byte(2), B256::repeat_byte(3), B256::repeat_byte(4));
        assert_eq!(store.reserve(key, print, me, 10)?, None, "first: mine");
        let seen = store.reserve(key, print, other, 11)?.expect("reserved before");
        assert_eq!((seen.owner, seen.stage.clone()), (me, Stage::Reserved));
        assert!(store.take_over(key, &seen, other, 12)?, "taken over as seen");
        assert!(!store.take_over(key, &seen, me, 13)?, "not twice from the same sight");
        store.settling(key, Some(&answer("report")), 14)?;
        assert_eq!(store.get(key)?.map(|r| r.stage), Some(Stage::Settling(Some(answer("report")))));
        store.complete(key, &answer("report"), 15)?;
        store.release(key)?;
        assert_eq!(store.get(key)?.map(|r| r.stage), Some(Stage::Done(answer("report"))), "a concluded payment stays");
        assert_eq!(store.prune(15)?, 0);
        assert_eq!(store.prune(16)?, 1);
        assert_eq!(store.reserve(key, print, me, 17)?, None, "forgotten after pruning");
        assert!(store.bind_id("pay_0123456789abcdef", key, 17)?);
        assert!(store.bind_id("pay_0123456789abcdef", key, 18)?, "the same payment again");
        assert!(!store.bind_id("pay_0123456789abcdef", print, 18)?, "another payment under the same id");
        store.release(key)?;
        assert_eq!(store.get(key)?, None, "a reservation that bought nothing is dropped");
        Ok(())
    }
}
