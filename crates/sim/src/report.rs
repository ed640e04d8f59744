//! What a simulation reports, and how it reads.

use crate::Scenario;
use alloy::primitives::Address;
use serde::Serialize;
use std::{collections::BTreeMap, fmt};

/// What happened in a simulation: the same for the same scenario, on any chain.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Outcome {
    /// Seconds the chain's clock moved.
    pub chain_seconds: u64,
    /// x402 requests made.
    pub requests: u32,
    /// Paid and served requests, by scheme.
    pub paid: BTreeMap<String, u32>,
    /// Requests not served, by reason: the x402 reason code the paywall answered, `policy:<limit>` when
    /// the agent's own policy declined, `http <status>` for any other answer.
    pub refused: BTreeMap<String, u32>,
    /// Requests whose handler failed after the payment was verified (nothing was settled).
    pub handler_errors: u32,
    /// Escrowed jobs.
    pub jobs: Jobs,
    /// Every party's money.
    pub parties: Vec<Party>,
    /// Every transaction sent during the run, in order.
    pub transactions: Vec<Transaction>,
    /// Every way the balances, the events and the books disagree (empty: they reconcile).
    pub mismatches: Vec<String>,
}

/// Escrowed jobs and what became of them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Jobs {
    /// Funds brought into escrow.
    pub authorized: u32,
    /// Captured to the payee (with a 1 % fee to the operator).
    pub captured: u32,
    /// Voided: everything back to the agent.
    pub voided: u32,
    /// Captured, then half refunded by the payee.
    pub refunded: u32,
    /// Authorizations the chain refused, by the contract's error.
    pub refused: BTreeMap<String, u32>,
}

/// A party's token balance, and the change the events and the books account for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Party {
    /// Who: `agent 3`, `payee 1`, `operator`, `escrow`, `registry`, `facilitator`.
    pub role: String,
    /// Its address.
    pub address: Address,
    /// Its balance before the first step.
    pub start: u128,
    /// Its balance after the last.
    pub end: u128,
    /// The net of the token's `Transfer` events to and from it in the run's transactions.
    pub by_events: i128,
    /// The net of what the simulation paid and received for it.
    pub by_books: i128,
}

impl Party {
    /// Its balance change.
    pub fn change(&self) -> i128 {
        self.end as i128 - self.start as i128
    }
}

/// One transaction of the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transaction {
    /// What it did: `settle exact`, `settle invoice`, `escrow authorize`, `escrow capture`, …
    pub kind: String,
    /// The gas it used.
    pub gas_used: u64,
    /// How many logs it emitted.
    pub logs: usize,
}

/// A simulation's report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The scenario run.
    pub scenario: Scenario,
    /// The chain it ran on.
    pub chain: String,
    /// What happened.
    pub outcome: Outcome,
    /// Wall-clock milliseconds the steps took.
    pub elapsed_ms: u64,
}

impl Report {
    /// True when every balance change equals its events and its books.
    pub fn reconciled(&self) -> bool {
        self.outcome.mismatches.is_empty()
    }

    /// Gas by transaction kind: (transactions, total gas).
    pub fn gas_by_kind(&self) -> BTreeMap<&str, (u64, u64)> {
        let mut kinds: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
        for tx in &self.outcome.transactions {
            let entry = kinds.entry(&tx.kind).or_default();
            entry.0 += 1;
            entry.1 += tx.gas_used;
        }
        kinds
    }
}

/// A token amount with 6 decimals, signed.
fn usd(amount: i128) -> String {
    let sign = if amount < 0 { "-" } else { "" };
    let amount = amount.unsigned_abs();
    format!("{sign}{}.{:06}", amount / 1_000_000, amount % 1_000_000)
}

fn counts(map: &BTreeMap<String, u32>) -> String {
    map.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (s, o) = (&self.scenario, &self.outcome);
        writeln!(
            f,
            "Simulation on {} (seed {}): {} steps, {} agents, {} endpoints, {} s of chain time, {} ms of wall time.",
            self.chain, s.seed, s.steps, s.agents, s.endpoints, o.chain_seconds, self.elapsed_ms
        )?;
        let paid: u32 = o.paid.values().sum();
        let refused: u32 = o.refused.values().sum();
        writeln!(
            f,
            "x402 requests: {} (paid and served {paid} [{}], refused {refused}, handler errors {} not charged)",
            o.requests,
            counts(&o.paid),
            o.handler_errors
        )?;
        if refused > 0 {
            writeln!(f, "  refused: {}", counts(&o.refused))?;
        }
        let j = &o.jobs;
        let job_refusals: u32 = j.refused.values().sum();
        writeln!(
            f,
            "escrowed jobs: {} authorized (captured {}, voided {}, captured then half refunded {}), {} refused",
            j.authorized, j.captured, j.voided, j.refunded, job_refusals
        )?;
        if job_refusals > 0 {
            writeln!(f, "  refused: {}", counts(&j.refused))?;
        }
        writeln!(f, "money (token units of 6 decimals):")?;
        writeln!(
            f,
            "  {:<12} {:>14} {:>14} {:>12} {:>12} {:>12}",
            "party", "start", "end", "change", "events", "books"
        )?;
        for p in &o.parties {
            writeln!(
                f,
                "  {:<12} {:>14} {:>14} {:>12} {:>12} {:>12}",
                p.role,
                usd(p.start as i128),
                usd(p.end as i128),
                usd(p.change()),
                usd(p.by_events),
                usd(p.by_books)
            )?;
        }
        let total: u64 = o.transactions.iter().map(|t| t.gas_used).sum();
        writeln!(f, "gas: {} transactions, {total} in all", o.transactions.len())?;
        for (kind, (count, gas)) in self.gas_by_kind() {
            writeln!(f, "  {kind:<16} {count:>6} × {:>8} on average", gas / count.max(1))?;
        }
        if self.reconciled() {
            write!(f, "Reconciled: every balance change equals the sum of its Transfer events and the books.")
        } else {
            writeln!(f, "NOT RECONCILED:")?;
            for m in &o.mismatches {
                writeln!(f, "  {m}")?;
            }
            Ok(())
        }
    }
}
