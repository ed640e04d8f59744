//! The spend record: every payment the agent signed and where it stands, kept in an SQLite file so that
//! budgets hold across restarts and a payment whose outcome is unknown is resolved before anything new is
//! signed for its purchase.

use alloy::primitives::{Address, U256};
use quittance_x402::{ErrorReason, PaymentPayload, Scheme, SettleResponse, channel::ChannelConfig};
use rusqlite::{Connection, OptionalExtension, params};
use std::{fmt, path::Path, sync::Mutex};

/// A spend record failure.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The storage failed.
    #[error("spend record: {0}")]
    Storage(String),
    /// An operator's word was given on a payment that cannot take it (unknown, already resolved, or a
    /// payment the chain says was taken declared refused).
    #[error("spend {id} is {state}: it cannot be declared {declared}")]
    NotDeclarable {
        /// The spend.
        id: i64,
        /// Its state (`unknown` when the record has no such spend).
        state: String,
        /// What the operator declared.
        declared: Declared,
    },
    /// The record holds payments made on another chain under the same network name (another genesis: a
    /// local chain that was reset, or a fork).
    #[error(
        "the spend record holds payments on {network} made on the chain with genesis {recorded}, and {network} is now the chain with genesis {found} (was it reset?): use another spend record"
    )]
    OtherChain {
        /// The CAIP-2 network.
        network: String,
        /// The genesis the record was made on.
        recorded: alloy::primitives::B256,
        /// The genesis the network has now.
        found: alloy::primitives::B256,
    },
}

impl From<rusqlite::Error> for RecordError {
    fn from(err: rusqlite::Error) -> Self {
        Self::Storage(err.to_string())
    }
}

/// Where a signed payment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpendState {
    /// Recorded (on disk) before it was sent; it may or may not have reached the server.
    Signed,
    /// Sent, with an outcome the agent does not know (a lost or failed answer, a timeout, a payment still
    /// in flight, a server saying it was "already used").
    InDoubt,
    /// The chain says it was taken, but no server has served the request for it yet: the agent keeps
    /// sending the same payment for that purchase, and never pays for it again.
    Charged,
    /// Settled: the server served the request (with its receipt, when it sent one), or the operator
    /// declared it charged.
    Settled,
    /// Nothing was taken and nothing can be any more: a refusal that proves it, an authorization the chain
    /// shows unused after its expiry, or the operator's word.
    Refused,
}

impl SpendState {
    /// Every state.
    pub const ALL: [Self; 5] = [Self::Signed, Self::InDoubt, Self::Charged, Self::Settled, Self::Refused];

    /// Its name in the record (and in `quittance pay --json`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Signed => "signed",
            Self::InDoubt => "in_doubt",
            Self::Charged => "charged",
            Self::Settled => "settled",
            Self::Refused => "refused",
        }
    }

    /// The state named `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Whether the payment is resolved (settled or refused): otherwise it must be resolved before anything
    /// new is signed for its purchase.
    pub fn is_resolved(self) -> bool {
        matches!(self, Self::Settled | Self::Refused)
    }

    /// Whether it is counted in the settled totals (the chain or the server says it was taken).
    fn taken(self) -> bool {
        matches!(self, Self::Settled | Self::Charged)
    }
}

impl fmt::Display for SpendState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an operator says of a payment the agent cannot resolve by itself (see [`SpendRecord::declare`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Declared {
    /// It was taken: count it as settled and stop sending it (a new payment may then be signed for its
    /// purchase).
    Charged,
    /// Nothing was taken and nothing can be: stop counting it (a new payment may then be signed).
    Refused,
}

impl fmt::Display for Declared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Charged => "charged",
            Self::Refused => "refused",
        })
    }
}

impl std::str::FromStr for Declared {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "charged" => Ok(Self::Charged),
            "refused" => Ok(Self::Refused),
            other => Err(format!("{other:?} is neither \"charged\" nor \"refused\"")),
        }
    }
}

/// One signed payment.
#[derive(Debug, Clone, PartialEq)]
pub struct Spend {
    /// Row id.
    pub id: i64,
    /// The purchase: what was requested (method and URL).
    pub request: String,
    /// The host paid.
    pub host: String,
    /// The token.
    pub asset: Address,
    /// The amount.
    pub amount: U256,
    /// The signed payment, as sent (extensions such as its payment identifier included).
    pub payment: PaymentPayload,
    /// Until when the payment can be settled (unix seconds).
    pub valid_before: u64,
    /// When it was signed (unix seconds).
    pub created_at: u64,
    /// Where it stands.
    pub state: SpendState,
    /// Why it is in doubt, charged or refused (a reason code or a few words).
    pub note: Option<String>,
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

/// A `batch-settlement` channel the agent pays through (x402's batch-settlement contract).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchChannel {
    /// The channel.
    pub config: quittance_x402::batch_settlement::ChannelConfig,
    /// What the agent deposited into it (as far as it knows).
    pub deposited: u128,
    /// The highest voucher it signed: everything charged on it, as far as the agent knows.
    pub paid: u128,
}

/// The durable record of what the agent spent.
#[derive(Debug)]
pub struct SpendRecord {
    connection: Mutex<Connection>,
}

/// The columns a [`Spend`] is read from.
const SPEND_COLUMNS: &str = "id, request, host, asset, amount, payment, valid_before, created_at, state, note, receipt";

/// States still to resolve, as SQL.
const UNRESOLVED: &str = "('signed', 'in_doubt', 'charged')";

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
             PRAGMA synchronous = NORMAL;
             PRAGMA busy_timeout = 5000;",
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
             CREATE INDEX IF NOT EXISTS spends_recent ON spends (asset, created_at);
             CREATE TABLE IF NOT EXISTS settled_totals (asset TEXT PRIMARY KEY, amount TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS channels (
                 key TEXT PRIMARY KEY,
                 config TEXT NOT NULL,
                 deposited TEXT NOT NULL,
                 paid TEXT NOT NULL
             );
             CREATE TABLE IF NOT EXISTS networks (network TEXT PRIMARY KEY, genesis BLOB NOT NULL);
             CREATE TABLE IF NOT EXISTS batch_channels (
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
        if version < 2 {
            // An explicit state per spend. Before it, a payment with a receipt was settled, and any 402 after
            // sending marked it refused, even "already used" (which may mean it was taken): those are in doubt.
            let columns: Vec<String> = {
                let mut statement = migration.prepare("SELECT name FROM pragma_table_info('spends')")?;
                let names = statement.query_map([], |r| r.get(0))?;
                names.collect::<Result<_, _>>()?
            };
            if !columns.iter().any(|c| c == "state") {
                migration.execute_batch("ALTER TABLE spends ADD COLUMN state TEXT NOT NULL DEFAULT 'signed';")?;
            }
            if !columns.iter().any(|c| c == "note") {
                migration.execute_batch("ALTER TABLE spends ADD COLUMN note TEXT;")?;
            }
            migration.execute_batch("UPDATE spends SET state = 'settled' WHERE receipt IS NOT NULL;")?;
            let refusals = {
                let mut statement = migration
                    .prepare("SELECT id, refused FROM spends WHERE receipt IS NULL AND refused IS NOT NULL")?;
                let rows = statement.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
                rows.collect::<Result<Vec<_>, _>>()?
            };
            for (id, reason) in refusals {
                let state = match crate::answer::refusal(&ErrorReason::from_code(&reason), true) {
                    crate::answer::Refusal::NothingTaken => SpendState::Refused,
                    crate::answer::Refusal::InDoubt => SpendState::InDoubt,
                };
                migration.execute(
                    "UPDATE spends SET state = ?2, note = ?3 WHERE id = ?1",
                    params![id, state.as_str(), reason],
                )?;
            }
            migration.execute_batch(
                "DROP INDEX IF EXISTS spends_open;
                 DROP INDEX IF EXISTS spends_unsettled;
                 PRAGMA user_version = 2;",
            )?;
        }
        // What each query reads, so that none scans the whole history: unresolved payments by purchase,
        // outstanding ones by token, refused ones by expiry, recent ones by time; settled amounts are summed
        // as they settle.
        migration.execute_batch(
            "CREATE INDEX IF NOT EXISTS spends_unresolved ON spends (request, id)
                 WHERE state IN ('signed', 'in_doubt', 'charged');
             CREATE INDEX IF NOT EXISTS spends_outstanding ON spends (asset) WHERE state IN ('signed', 'in_doubt');
             CREATE INDEX IF NOT EXISTS spends_refused ON spends (asset, valid_before) WHERE state = 'refused';",
        )?;
        migration.commit()?;
        Ok(Self { connection: Mutex::new(connection) })
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> Result<T, RecordError>) -> Result<T, RecordError> {
        let connection = self.connection.lock().map_err(|_| RecordError::Storage("poisoned lock".into()))?;
        f(&connection)
    }

    /// Records a signed payment before it is sent; returns its id. Its state is [`SpendState::Signed`].
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
        // The one write that must reach the disk before the payment leaves (so that a retry after a crash
        // resolves it instead of paying again): committed with `synchronous = FULL`. Later states may be lost
        // to a power cut; the payment then looks signed again, is sent again, and its outcome found again.
        self.with(|c| {
            c.execute_batch("PRAGMA synchronous = FULL")?;
            let inserted = c.execute(
                "INSERT INTO spends (request, host, asset, amount, payment, valid_before, created_at, state)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'signed')",
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

    /// Records the server's receipt of a payment: it is settled (the first receipt is kept).
    pub fn settled(&self, id: i64, receipt: &SettleResponse) -> Result<(), RecordError> {
        let json = serde_json::to_string(receipt).map_err(|e| RecordError::Storage(e.to_string()))?;
        use SpendState::*;
        // A metered (`upto`) payment signed a maximum; what it cost is the receipt's amount, never more. It
        // is lowered before the payment counts as taken, so that the settled total counts what was used.
        if let Some(used) = receipt.amount.as_deref().and_then(|a| U256::from_str_radix(a, 10).ok()) {
            self.with(|c| {
                let row: Option<(String, String, String)> = c
                    .query_row("SELECT state, amount, payment FROM spends WHERE id = ?1", params![id], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })
                    .optional()?;
                let Some((state, signed, payment)) = row else { return Ok(()) };
                // Only a metered payment: any other is whole, whatever a server's receipt says.
                let metered = serde_json::from_str::<PaymentPayload>(&payment)
                    .is_ok_and(|p| Scheme::of(&p.accepted) == Ok(Scheme::Upto));
                let untaken = [Signed, InDoubt, Refused].iter().any(|s| s.as_str() == state);
                if metered && untaken && used < parse_amount(&signed)? {
                    c.execute("UPDATE spends SET amount = ?2 WHERE id = ?1", params![id, used.to_string()])?;
                }
                Ok(())
            })?;
        }
        self.transition(id, Settled, &[Signed, InDoubt, Charged, Refused], None, Some(&json), false)?;
        Ok(())
    }

    /// Records that the server served the request for a payment without a receipt: it is settled.
    pub fn served(&self, id: i64) -> Result<(), RecordError> {
        use SpendState::*;
        self.transition(id, Settled, &[Signed, InDoubt, Charged], Some("served without a receipt"), None, false)?;
        Ok(())
    }

    /// Records that a payment sent may have been taken (`why`): it stays counted and is resolved before
    /// anything new is signed for its purchase.
    pub fn in_doubt(&self, id: i64, why: &str) -> Result<(), RecordError> {
        use SpendState::*;
        self.transition(id, InDoubt, &[Signed, InDoubt], Some(why), None, false)?;
        Ok(())
    }

    /// Records that the chain took a payment no server has served yet (`why`): it counts as settled, and its
    /// purchase is paid with it alone.
    pub fn charged(&self, id: i64, why: &str) -> Result<(), RecordError> {
        use SpendState::*;
        self.transition(id, Charged, &[Signed, InDoubt], Some(why), None, false)?;
        Ok(())
    }

    /// Records that nothing was taken for a payment and nothing can be (with the reason): a new payment may
    /// be signed for its purchase. It still counts against budgets until it expires, in case whoever holds
    /// it could settle it after all.
    pub fn refused(&self, id: i64, reason: &str) -> Result<(), RecordError> {
        use SpendState::*;
        self.transition(id, Refused, &[Signed, InDoubt, Charged], Some(reason), None, false)?;
        Ok(())
    }

    /// The operator's word on a payment the agent cannot resolve by itself (it expired and the agent has no
    /// chain to ask): [`Declared::Charged`] settles it, [`Declared::Refused`] refuses it, and either way its
    /// purchase may be paid anew. A payment the chain says was taken cannot be declared refused.
    pub fn declare(&self, id: i64, declared: Declared) -> Result<(), RecordError> {
        use SpendState::*;
        let (to, from, note): (_, &[SpendState], _) = match declared {
            Declared::Charged => (Settled, &[Signed, InDoubt, Charged], "declared charged by the operator"),
            Declared::Refused => (Refused, &[Signed, InDoubt], "declared refused by the operator"),
        };
        if self.transition(id, to, from, Some(note), None, true)? {
            return Ok(());
        }
        let state = self.spend(id)?.map(|s| s.state.to_string()).unwrap_or_else(|| "unknown".into());
        Err(RecordError::NotDeclarable { id, state, declared })
    }

    /// Moves spend `id` to `to` if it is in one of `from`, keeping the settled totals; returns whether it
    /// moved.
    fn transition(
        &self,
        id: i64,
        to: SpendState,
        from: &[SpendState],
        note: Option<&str>,
        receipt: Option<&str>,
        durable: bool,
    ) -> Result<bool, RecordError> {
        self.with(|c| {
            if durable {
                c.execute_batch("PRAGMA synchronous = FULL")?;
            }
            let moved = (|| {
                let update = c.unchecked_transaction()?;
                let row: Option<(String, String, String)> = update
                    .query_row("SELECT state, asset, amount FROM spends WHERE id = ?1", params![id], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })
                    .optional()?;
                let Some((state, asset, amount)) = row else { return Ok(false) };
                let state = SpendState::from_name(&state)
                    .ok_or_else(|| RecordError::Storage(format!("corrupt state {state:?} in spend {id}")))?;
                if !from.contains(&state) {
                    return Ok(false);
                }
                update.execute(
                    "UPDATE spends SET state = ?2, note = COALESCE(?3, note), receipt = COALESCE(receipt, ?4)
                     WHERE id = ?1",
                    params![id, to.as_str(), note, receipt],
                )?;
                if state.taken() != to.taken() {
                    let before: Option<String> = update
                        .query_row("SELECT amount FROM settled_totals WHERE asset = ?1", params![asset], |r| r.get(0))
                        .optional()?;
                    let before = before.as_deref().map(parse_amount).transpose()?.unwrap_or_default();
                    let amount = parse_amount(&amount)?;
                    let total = if to.taken() { before.saturating_add(amount) } else { before.saturating_sub(amount) };
                    update.execute(
                        "INSERT OR REPLACE INTO settled_totals (asset, amount) VALUES (?1, ?2)",
                        params![asset, total.to_string()],
                    )?;
                }
                update.commit()?;
                Ok(true)
            })();
            if durable {
                c.execute_batch("PRAGMA synchronous = NORMAL")?;
            }
            moved
        })
    }

    /// The spend `id`.
    pub fn spend(&self, id: i64) -> Result<Option<Spend>, RecordError> {
        self.with(|c| {
            let query = format!("SELECT {SPEND_COLUMNS} FROM spends WHERE id = ?1");
            c.query_row(&query, params![id], raw_spend).optional()?.map(RawSpend::parse).transpose()
        })
    }

    /// The payments of `request` (a purchase: method and URL) still to resolve (signed, in doubt or
    /// charged), oldest first.
    pub fn unresolved(&self, request: &str) -> Result<Vec<Spend>, RecordError> {
        self.with(|c| {
            let query =
                format!("SELECT {SPEND_COLUMNS} FROM spends WHERE request = ?1 AND state IN {UNRESOLVED} ORDER BY id");
            let mut statement = c.prepare_cached(&query)?;
            let rows = statement.query_map(params![request], raw_spend)?;
            rows.map(|row| row?.parse()).collect()
        })
    }

    /// Binds `network`'s payments to the chain with `genesis` the first time, and refuses another chain
    /// afterwards ([`RecordError::OtherChain`]).
    pub fn bind_network(&self, network: &str, genesis: alloy::primitives::B256) -> Result<(), RecordError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO networks (network, genesis) VALUES (?1, ?2) ON CONFLICT (network) DO NOTHING",
                params![network, genesis.as_slice()],
            )?;
            let recorded: Vec<u8> =
                c.query_row("SELECT genesis FROM networks WHERE network = ?1", params![network], |r| r.get(0))?;
            if recorded.as_slice() == genesis.as_slice() {
                return Ok(());
            }
            let recorded = alloy::primitives::B256::try_from(recorded.as_slice()).unwrap_or_default();
            Err(RecordError::OtherChain { network: network.to_owned(), recorded, found: genesis })
        })
    }

    /// The newest settled payment of `request` (a purchase), if any.
    pub fn last_settled(&self, request: &str) -> Result<Option<Spend>, RecordError> {
        self.with(|c| {
            let query = format!(
                "SELECT {SPEND_COLUMNS} FROM spends WHERE request = ?1 AND state = 'settled' ORDER BY id DESC LIMIT 1"
            );
            c.query_row(&query, params![request], raw_spend).optional()?.map(RawSpend::parse).transpose()
        })
    }

    /// Every payment still to resolve, oldest first.
    pub fn all_unresolved(&self) -> Result<Vec<Spend>, RecordError> {
        self.with(|c| {
            let query = format!("SELECT {SPEND_COLUMNS} FROM spends WHERE state IN {UNRESOLVED} ORDER BY id");
            let mut statement = c.prepare_cached(&query)?;
            let rows = statement.query_map([], raw_spend)?;
            rows.map(|row| row?.parse()).collect()
        })
    }

    /// The newest `limit` payments, whatever their state, newest first (what `quittance spend` shows).
    pub fn recent(&self, limit: usize) -> Result<Vec<Spend>, RecordError> {
        self.with(|c| {
            let query = format!("SELECT {SPEND_COLUMNS} FROM spends ORDER BY id DESC LIMIT ?1");
            let mut statement = c.prepare_cached(&query)?;
            let rows = statement.query_map(params![i64::try_from(limit).unwrap_or(i64::MAX)], raw_spend)?;
            rows.map(|row| row?.parse()).collect()
        })
    }

    /// Every channel recorded, with its key, in key order.
    pub fn channels(&self) -> Result<Vec<(String, OpenChannel)>, RecordError> {
        let keys: Vec<String> = self.with(|c| {
            let mut statement = c.prepare_cached("SELECT key FROM channels ORDER BY key")?;
            let rows = statement.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<Result<Vec<String>, _>>()?)
        })?;
        let mut channels = Vec::with_capacity(keys.len());
        for key in keys {
            if let Some(channel) = self.channel(&key)? {
                channels.push((key, channel));
            }
        }
        Ok(channels)
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

    /// The `batch-settlement` channel recorded under `key`.
    pub fn batch_channel(&self, key: &str) -> Result<Option<BatchChannel>, RecordError> {
        self.with(|c| {
            let row: Option<(String, String, String)> = c
                .query_row("SELECT config, deposited, paid FROM batch_channels WHERE key = ?1", params![key], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()?;
            let Some((config, deposited, paid)) = row else { return Ok(None) };
            let number = |v: &str| v.parse::<u128>().map_err(|_| RecordError::Storage(format!("corrupt amount {v:?}")));
            Ok(Some(BatchChannel {
                config: serde_json::from_str(&config).map_err(|e| RecordError::Storage(e.to_string()))?,
                deposited: number(&deposited)?,
                paid: number(&paid)?,
            }))
        })
    }

    /// Records a `batch-settlement` channel's state under `key`, on disk before it returns: a voucher is sent
    /// only once its amount is recorded, so that after a crash the agent resumes from it.
    pub fn save_batch_channel(&self, key: &str, channel: &BatchChannel) -> Result<(), RecordError> {
        let config = serde_json::to_string(&channel.config).map_err(|e| RecordError::Storage(e.to_string()))?;
        self.with(|c| {
            c.execute_batch("PRAGMA synchronous = FULL")?;
            let saved = c.execute(
                "INSERT OR REPLACE INTO batch_channels (key, config, deposited, paid) VALUES (?1, ?2, ?3, ?4)",
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

    /// What counts against the total budget of `asset`: every settled or charged payment, every signed or
    /// in-doubt one (even past its expiry, until it is resolved), and every refused one that could still be
    /// settled at `now`.
    pub fn spent_total(&self, asset: Address, now: u64) -> Result<U256, RecordError> {
        self.with(|c| {
            let asset = asset.to_checksum(None);
            let outstanding = sum(
                c,
                "SELECT amount FROM spends WHERE asset = ?1 AND state IN ('signed', 'in_doubt')",
                params![asset],
            )?;
            let refused = sum(
                c,
                "SELECT amount FROM spends WHERE asset = ?1 AND state = 'refused' AND valid_before > ?2",
                params![asset, now as i64],
            )?;
            Ok(settled_total(c, &asset)?.saturating_add(outstanding).saturating_add(refused))
        })
    }

    /// Everything settled or charged in `asset`, over the whole record.
    pub fn settled_total(&self, asset: Address) -> Result<U256, RecordError> {
        self.with(|c| settled_total(c, &asset.to_checksum(None)))
    }

    /// What counts against the budget of `host` for `asset` since `since`: as [`SpendRecord::spent_total`],
    /// for the payments signed since then.
    pub fn spent_since(&self, asset: Address, host: &str, since: u64, now: u64) -> Result<U256, RecordError> {
        self.with(|c| {
            sum(
                c,
                "SELECT amount FROM spends WHERE asset = ?1 AND created_at >= ?2 AND host = ?3
                 AND (state != 'refused' OR valid_before > ?4)",
                params![asset.to_checksum(None), since as i64, host, now as i64],
            )
        })
    }
}

/// A spend row as stored.
struct RawSpend {
    id: i64,
    request: String,
    host: String,
    asset: String,
    amount: String,
    payment: String,
    valid_before: i64,
    created_at: i64,
    state: String,
    note: Option<String>,
    receipt: Option<String>,
}

fn raw_spend(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawSpend> {
    Ok(RawSpend {
        id: r.get(0)?,
        request: r.get(1)?,
        host: r.get(2)?,
        asset: r.get(3)?,
        amount: r.get(4)?,
        payment: r.get(5)?,
        valid_before: r.get(6)?,
        created_at: r.get(7)?,
        state: r.get(8)?,
        note: r.get(9)?,
        receipt: r.get(10)?,
    })
}

impl RawSpend {
    fn parse(self) -> Result<Spend, RecordError> {
        let id = self.id;
        let corrupt = |what: &str| RecordError::Storage(format!("corrupt {what} in spend {id}"));
        Ok(Spend {
            id,
            request: self.request,
            host: self.host,
            asset: self.asset.parse().map_err(|_| corrupt("asset"))?,
            amount: U256::from_str_radix(&self.amount, 10).map_err(|_| corrupt("amount"))?,
            payment: serde_json::from_str(&self.payment).map_err(|_| corrupt("payment"))?,
            valid_before: u64::try_from(self.valid_before).map_err(|_| corrupt("expiry"))?,
            created_at: u64::try_from(self.created_at).map_err(|_| corrupt("time"))?,
            state: SpendState::from_name(&self.state).ok_or_else(|| corrupt("state"))?,
            note: self.note,
            receipt: self.receipt.map(|r| serde_json::from_str(&r)).transpose().map_err(|_| corrupt("receipt"))?,
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

fn settled_total(c: &Connection, asset: &str) -> Result<U256, RecordError> {
    let settled: Option<String> =
        c.query_row("SELECT amount FROM settled_totals WHERE asset = ?1", params![asset], |r| r.get(0)).optional()?;
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

    fn state(record: &SpendRecord, id: i64) -> SpendState {
        record.spend(id).expect("readable").expect("recorded").state
    }

    #[test]
    fn totals_count_settled_payments_once_and_open_ones_until_resolved() -> Result<(), RecordError> {
        let record = SpendRecord::in_memory()?;
        let settled = sign(&record, "GET /a", 5, 100, 10);
        let open = sign(&record, "GET /b", 7, 100, 10);
        record.settled(settled, &receipt())?;
        record.settled(settled, &receipt())?; // a second receipt for the same payment adds nothing
        assert_eq!(record.spent_total(ASSET, 50)?, U256::from(12));
        assert_eq!(record.spent_total(ASSET, 100)?, U256::from(12), "signed: counted past its expiry");
        record.in_doubt(open, "http 502")?;
        assert_eq!(record.spent_total(ASSET, 1_000)?, U256::from(12), "in doubt: counted past its expiry");
        assert_eq!(record.spent_since(ASSET, "api.example", 10, 1_000)?, U256::from(12));
        assert_eq!(record.spent_since(ASSET, "api.example", 11, 50)?, U256::ZERO, "outside the window");
        assert_eq!(record.spent_since(ASSET, "other.example", 0, 50)?, U256::ZERO);
        record.refused(open, "expired unused")?;
        assert_eq!(record.spent_total(ASSET, 50)?, U256::from(12), "refused: counted until it expires");
        assert_eq!(record.spent_total(ASSET, 100)?, U256::from(5));
        assert_eq!(record.spent_since(ASSET, "api.example", 0, 100)?, U256::from(5));
        Ok(())
    }

    #[test]
    fn a_metered_payment_counts_its_maximum_until_its_receipt_says_what_it_cost() -> Result<(), RecordError> {
        let record = SpendRecord::in_memory()?;
        let metered = |request: &str, amount: u64| {
            let mut payment = payment();
            payment.accepted.scheme = "upto".into();
            record.signed(request, "api.example", ASSET, U256::from(amount), &payment, 100, 10).expect("signed")
        };
        let id = metered("GET /metered", 10_000);
        assert_eq!(record.spent_total(ASSET, 50)?, U256::from(10_000), "the maximum, until settled");
        let used = SettleResponse { amount: Some("2500".into()), ..receipt() };
        record.settled(id, &used)?;
        record.settled(id, &SettleResponse { amount: Some("1".into()), ..receipt() })?; // the first receipt stands
        assert_eq!(record.settled_total(ASSET)?, U256::from(2_500));
        assert_eq!(record.spent_total(ASSET, 50)?, U256::from(2_500));
        let over = metered("GET /metered2", 10);
        record.settled(over, &SettleResponse { amount: Some("11".into()), ..receipt() })?;
        assert_eq!(record.settled_total(ASSET)?, U256::from(2_510), "never more than signed");
        let whole = sign(&record, "GET /exact", 10, 100, 10);
        record.settled(whole, &SettleResponse { amount: Some("1".into()), ..receipt() })?;
        assert_eq!(record.settled_total(ASSET)?, U256::from(2_520), "a payment of another scheme is whole");
        Ok(())
    }

    #[test]
    fn a_charged_payment_counts_as_settled_and_stays_to_serve() -> Result<(), RecordError> {
        let record = SpendRecord::in_memory()?;
        let id = sign(&record, "GET /a", 5, 100, 10);
        record.in_doubt(id, "invalid_exact_evm_nonce_already_used")?;
        record.charged(id, "the chain says the authorization is used")?;
        assert_eq!(record.settled_total(ASSET)?, U256::from(5));
        assert_eq!(record.spent_total(ASSET, 1_000)?, U256::from(5));
        assert_eq!(record.unresolved("GET /a")?.iter().map(|s| s.id).collect::<Vec<_>>(), vec![id]);
        record.in_doubt(id, "http 502")?; // no step back to in doubt
        assert_eq!(state(&record, id), SpendState::Charged);
        record.settled(id, &receipt())?;
        assert_eq!(state(&record, id), SpendState::Settled);
        assert_eq!(record.settled_total(ASSET)?, U256::from(5), "counted once");
        assert!(record.unresolved("GET /a")?.is_empty());
        Ok(())
    }

    #[test]
    fn unresolved_payments_are_listed_per_purchase_until_settled_or_refused() -> Result<(), RecordError> {
        let record = SpendRecord::in_memory()?;
        let settled = sign(&record, "GET /a", 5, 100, 10);
        record.settled(settled, &receipt())?;
        assert!(record.unresolved("GET /a")?.is_empty(), "a settled payment is resolved");
        let open = sign(&record, "GET /a", 5, 100, 11);
        let other = sign(&record, "GET /b", 5, 100, 11);
        let unresolved = record.unresolved("GET /a")?;
        assert_eq!(unresolved.len(), 1);
        assert_eq!(
            (unresolved[0].id, unresolved[0].state, &unresolved[0].payment),
            (open, SpendState::Signed, &payment())
        );
        assert_eq!(record.all_unresolved()?.iter().map(|s| s.id).collect::<Vec<_>>(), vec![open, other]);
        record.refused(open, "invalid_exact_evm_insufficient_balance")?;
        assert!(record.unresolved("GET /a")?.is_empty(), "a refused payment is resolved");
        let spend = record.spend(open)?.expect("recorded");
        assert_eq!(spend.note.as_deref(), Some("invalid_exact_evm_insufficient_balance"));
        Ok(())
    }

    #[test]
    fn the_operator_declares_what_the_agent_cannot_resolve() -> Result<(), RecordError> {
        let record = SpendRecord::in_memory()?;
        let taken = sign(&record, "GET /a", 5, 100, 10);
        let untaken = sign(&record, "GET /b", 7, 100, 10);
        let charged = sign(&record, "GET /c", 9, 100, 10);
        record.in_doubt(taken, "http 502")?;
        record.charged(charged, "the chain says so")?;
        record.declare(taken, Declared::Charged)?;
        record.declare(untaken, Declared::Refused)?;
        assert_eq!((state(&record, taken), state(&record, untaken)), (SpendState::Settled, SpendState::Refused));
        assert!(matches!(record.declare(charged, Declared::Refused), Err(RecordError::NotDeclarable { .. })));
        assert!(matches!(record.declare(taken, Declared::Refused), Err(RecordError::NotDeclarable { .. })));
        assert!(matches!(record.declare(99, Declared::Charged), Err(RecordError::NotDeclarable { .. })));
        record.declare(charged, Declared::Charged)?;
        assert_eq!(record.settled_total(ASSET)?, U256::from(14));
        assert_eq!(record.spent_total(ASSET, 100)?, U256::from(14));
        assert!(record.all_unresolved()?.is_empty());
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
    fn a_record_from_before_the_states_is_migrated() -> Result<(), RecordError> {
        let dir = tempfile::tempdir().map_err(|e| RecordError::Storage(e.to_string()))?;
        let path = dir.path().join("spend.sqlite");
        {
            // As version 1 left it: a receipt or a refusal per payment, nothing else.
            let c = Connection::open(&path)?;
            c.execute_batch(
                "CREATE TABLE spends (id INTEGER PRIMARY KEY, request TEXT NOT NULL, host TEXT NOT NULL,
                     asset TEXT NOT NULL, amount TEXT NOT NULL, payment TEXT NOT NULL,
                     valid_before INTEGER NOT NULL, created_at INTEGER NOT NULL, receipt TEXT, refused TEXT);
                 CREATE INDEX spends_open ON spends (request, id) WHERE receipt IS NULL AND refused IS NULL;
                 CREATE INDEX spends_unsettled ON spends (asset, valid_before) WHERE receipt IS NULL;
                 CREATE TABLE settled_totals (asset TEXT PRIMARY KEY, amount TEXT NOT NULL);
                 PRAGMA user_version = 1;",
            )?;
            let payment = serde_json::to_string(&payment()).map_err(|e| RecordError::Storage(e.to_string()))?;
            let receipt = serde_json::to_string(&receipt()).map_err(|e| RecordError::Storage(e.to_string()))?;
            let asset = ASSET.to_checksum(None);
            for (request, receipt, refused) in [
                ("GET /settled", Some(receipt.as_str()), None),
                ("GET /used", None, Some("invalid_exact_evm_nonce_already_used")),
                ("GET /poor", None, Some("invalid_exact_evm_insufficient_balance")),
                ("GET /open", None, None),
            ] {
                c.execute(
                    "INSERT INTO spends (request, host, asset, amount, payment, valid_before, created_at, receipt, refused)
                     VALUES (?1, 'api.example', ?2, '5', ?3, 100, 10, ?4, ?5)",
                    params![request, asset, payment, receipt, refused],
                )?;
            }
            c.execute("INSERT INTO settled_totals (asset, amount) VALUES (?1, '5')", params![asset])?;
        }
        let record = SpendRecord::open(&path)?;
        let states: Vec<SpendState> = (1..=4).map(|id| state(&record, id)).collect();
        use SpendState::*;
        assert_eq!(states, vec![Settled, InDoubt, Refused, Signed], "\"already used\" may have been taken");
        assert_eq!(record.spent_total(ASSET, 1_000)?, U256::from(15), "settled, in doubt and signed count");
        let unresolved: Vec<String> = record.all_unresolved()?.into_iter().map(|s| s.request).collect();
        assert_eq!(unresolved, vec!["GET /used", "GET /open"]);
        drop(record);
        let reopened = SpendRecord::open(&path)?;
        assert_eq!(reopened.spent_total(ASSET, 1_000)?, U256::from(15), "migrated once");
        Ok(())
    }
}
