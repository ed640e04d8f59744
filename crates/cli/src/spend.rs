//! `quittance spend`: what the agent's spend record holds — its payments and where each stands (what is
//! still in doubt first), its voucher channels with what was deposited and paid through them, and totals
//! per token — as a table or as JSON.

use crate::amount::format_units;
use alloy::primitives::{Address, U256};
use clap::Args;
use quittance_agent::{OpenChannel, Spend, SpendRecord, SpendState};
use serde_json::{Value, json};
use std::{collections::BTreeMap, path::PathBuf};

/// Arguments of `quittance spend`.
#[derive(Debug, Args)]
pub struct SpendArgs {
    /// The spend record (an SQLite file), as `pay --record`.
    #[arg(long, default_value = "quittance-spend.sqlite")]
    pub record: PathBuf,
    /// Show at most this many payments, newest first (totals count every payment shown).
    #[arg(long, default_value = "50")]
    pub limit: usize,
    /// Decimals of the tokens, to show whole amounts beside the units (6: the stable-coins x402 uses).
    #[arg(long, default_value = "6")]
    pub decimals: u8,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// What a token's payments add up to.
#[derive(Debug, Default, Clone, Copy)]
struct Totals {
    /// Taken: settled, or charged on chain.
    taken: U256,
    /// Not known yet: signed or in doubt.
    in_doubt: U256,
    /// Nothing taken.
    refused: U256,
}

/// Prints the spend record. A missing file is an error naming it (the record is never created here).
pub fn run(args: SpendArgs) -> eyre::Result<()> {
    if !args.record.is_file() {
        eyre::bail!(
            "there is no spend record at {} (`quittance pay` writes one; pass --record for another file)",
            args.record.display()
        );
    }
    let record = SpendRecord::open(&args.record)?;
    let payments = record.recent(args.limit)?;
    let channels = record.channels()?;
    let totals = totals(&payments);
    if args.json {
        let mut output = report_json(&payments, &channels);
        output["record"] = json!(args.record.display().to_string());
        println!("{}", serde_json::to_string_pretty(&output)?);
        return Ok(());
    }
    let amount = |units: U256| format!("{} ({units} units)", format_units(units, args.decimals));
    println!("spend record {}", args.record.display());
    if payments.is_empty() {
        println!("no payments");
    }
    let open: Vec<&Spend> = payments.iter().filter(|s| !s.state.is_resolved()).collect();
    if !open.is_empty() {
        println!("\nnot resolved yet (the agent resolves them from the chain before paying for the same purchase;");
        println!("`quittance pay --resolve ID=charged|refused` records an operator's word):");
        for spend in &open {
            println!("  {}", line(spend, &amount));
        }
    }
    if !payments.is_empty() {
        println!("\npayments, newest first:");
        for spend in &payments {
            println!("  {}", line(spend, &amount));
        }
    }
    if !channels.is_empty() {
        println!("\nvoucher channels:");
        for (key, channel) in &channels {
            let deposited = U256::from(channel.deposited);
            let paid = U256::from(channel.paid);
            let id = channel_id(key, channel).map_or_else(|| "?".to_owned(), |id| id.to_string());
            println!(
                "  {id} to {} in token {}: deposited {}, paid {}, left {}",
                channel.config.receiver,
                channel.config.token,
                amount(deposited),
                amount(paid),
                amount(deposited.saturating_sub(paid))
            );
        }
        println!("  (`quittance channel withdraw --rpc-url <the chain>` gets what is left back)");
    }
    if !totals.is_empty() {
        println!("\ntotals of the payments shown:");
        for (asset, t) in &totals {
            println!(
                "  token {asset}: taken {}, in doubt {}, refused {}",
                amount(t.taken),
                amount(t.in_doubt),
                amount(t.refused)
            );
        }
    }
    Ok(())
}

/// What each token's payments add up to.
fn totals(payments: &[Spend]) -> BTreeMap<Address, Totals> {
    let mut totals = BTreeMap::<Address, Totals>::new();
    for spend in payments {
        let entry = totals.entry(spend.asset).or_default();
        match spend.state {
            SpendState::Settled | SpendState::Charged => entry.taken += spend.amount,
            SpendState::Signed | SpendState::InDoubt => entry.in_doubt += spend.amount,
            SpendState::Refused => entry.refused += spend.amount,
        }
    }
    totals
}

/// The report as JSON (`quittance spend --json`, and `quittance mcp`'s `spend_report`): the payments, the
/// channels, and the totals per token of the payments shown.
pub(crate) fn report_json(payments: &[Spend], channels: &[(String, OpenChannel)]) -> Value {
    json!({
        "payments": payments.iter().map(payment_json).collect::<Vec<_>>(),
        "channels": channels.iter().map(|(key, c)| channel_json(key, c)).collect::<Vec<_>>(),
        "totals": totals(payments).iter().map(|(asset, t)| json!({
            "asset": asset.to_checksum(None),
            "taken": t.taken.to_string(),
            "inDoubt": t.in_doubt.to_string(),
            "refused": t.refused.to_string(),
        })).collect::<Vec<_>>(),
    })
}

fn line(spend: &Spend, amount: &impl Fn(U256) -> String) -> String {
    let note = spend.note.as_deref().map(|n| format!(" ({n})")).unwrap_or_default();
    format!(
        "#{} {} {} to {} for {}, signed {}{note}",
        spend.id,
        spend.state,
        amount(spend.amount),
        spend.payment.accepted.pay_to,
        spend.request,
        ago(spend.created_at)
    )
}

/// How long ago `at` (unix seconds) was, in words.
fn ago(at: u64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    match now.saturating_sub(at) {
        seconds @ 0..60 => format!("{seconds} s ago"),
        seconds @ 60..3600 => format!("{} min ago", seconds / 60),
        seconds @ 3600..86400 => format!("{} h ago", seconds / 3600),
        seconds => format!("{} days ago", seconds / 86400),
    }
}

/// One payment of the record, as JSON.
pub(crate) fn payment_json(spend: &Spend) -> Value {
    json!({
        "id": spend.id,
        "state": spend.state.as_str(),
        "request": spend.request,
        "host": spend.host,
        "asset": spend.asset.to_checksum(None),
        "amount": spend.amount.to_string(),
        "scheme": spend.payment.accepted.scheme,
        "network": spend.payment.accepted.network,
        "payTo": spend.payment.accepted.pay_to,
        "createdAt": spend.created_at,
        "validBefore": spend.valid_before,
        "note": spend.note,
        "transaction": spend.receipt.as_ref().map(|r| r.transaction.clone()),
    })
}

/// The channel's id on its chain (`None` for a key the record did not write).
fn channel_id(key: &str, channel: &OpenChannel) -> Option<alloy::primitives::B256> {
    let (network, contract) = quittance_agent::channel_place(key)?;
    let chain_id = network.parse::<quittance_x402::Network>().ok()?.chain_id().ok()?;
    Some(channel.config.id(chain_id, contract))
}

fn channel_json(key: &str, channel: &OpenChannel) -> Value {
    json!({
        "key": key,
        "id": channel_id(key, channel),
        "receiver": channel.config.receiver.to_checksum(None),
        "token": channel.config.token.to_checksum(None),
        "deposited": channel.deposited.to_string(),
        "paid": channel.paid.to_string(),
    })
}
