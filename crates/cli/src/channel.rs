//! `quittance channel withdraw`: gets the agent's voucher-channel deposits back.
//!
//! A payer withdraws in two steps, as `VoucherChannels` wants: `requestWithdrawal` starts the channel's
//! withdrawal delay (the receiver's time to claim the vouchers it holds), then `withdraw` after the delay
//! refunds what was not claimed and closes the channel. Each run reads every channel's state from the chain
//! and takes the next step, so running it again after a crash or a lost answer is safe: a request already
//! made keeps its time, and a channel already closed is only forgotten.

use crate::amount::format_units;
use alloy::{
    primitives::{Address, B256, U256},
    sol_types::SolCall,
};
use clap::{Args, Subcommand};
use quittance_agent::{OpenChannel, SpendRecord, channel_place};
use quittance_bindings::{TestStablecoin, VoucherChannels, relayout};
use quittance_chain::{Chain, RpcChain, Sender, read};
use std::path::PathBuf;

/// `quittance channel …`.
#[derive(Debug, Subcommand)]
pub enum ChannelCommand {
    /// Get the deposits of the agent's voucher channels back: request the withdrawal, then, after the
    /// channel's delay, withdraw what the receiver did not claim (run it again to take the next step).
    Withdraw(WithdrawArgs),
}

/// Arguments of `quittance channel withdraw`.
#[derive(Debug, Args)]
pub struct WithdrawArgs {
    /// JSON-RPC endpoint of the chain the channels are on (the agent pays the gas).
    #[arg(long, env = "QUITTANCE_RPC_URL", default_value = "http://127.0.0.1:8545")]
    pub rpc_url: reqwest::Url,
    /// The spend record (an SQLite file), as `pay --record`: its channels on this chain are withdrawn.
    #[arg(long, default_value = "quittance-spend.sqlite")]
    pub record: PathBuf,
    /// Only this channel (its id, as `quittance spend` shows it).
    #[arg(long)]
    pub channel: Option<B256>,
    /// Decimals of the tokens, to show whole amounts (6: the stable-coins x402 uses).
    #[arg(long, default_value = "6")]
    pub decimals: u8,
    /// The agent's key.
    #[command(flatten)]
    pub key: crate::keys::KeyArgs,
}

/// What one step did to a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// `requestWithdrawal` was sent now (or had been): ready at this time.
    Requested { ready_at: u64 },
    /// The delay runs until this time.
    Waiting { ready_at: u64 },
    /// `withdraw` refunded this much; the channel is closed and forgotten.
    Withdrawn { refunded: U256 },
    /// Closed before (by the receiver, or an earlier run); forgotten.
    Closed,
    /// The chain holds nothing for it (its deposit never landed, or is still in doubt: see `quittance spend`).
    Empty,
}

/// Takes the next withdrawal step of every channel of the record on the chain at `--rpc-url`.
pub async fn run(command: ChannelCommand) -> eyre::Result<()> {
    let ChannelCommand::Withdraw(args) = command;
    if !args.record.is_file() {
        eyre::bail!("there is no spend record at {} (pass --record for another file)", args.record.display());
    }
    let signer = args.key.source().load()?;
    let record = SpendRecord::open(&args.record)?;
    let chain = RpcChain::http(args.rpc_url.clone());
    let chain_id =
        chain.chain_id().await.map_err(|e| eyre::eyre!("cannot reach the chain at {}: {e}", args.rpc_url))?;
    let network = format!("eip155:{chain_id}");
    let mut sender = Sender::new(&chain, &signer).await?;
    let mut seen = 0;
    for (key, channel) in record.channels()? {
        let Some((on, contract)) = channel_place(&key) else { continue };
        let id = channel.config.id(chain_id, contract);
        if on != network || channel.config.payer != signer.address() || args.channel.is_some_and(|c| c != id) {
            continue;
        }
        seen += 1;
        let step = withdraw(&mut sender, contract, &channel).await?;
        let token = channel.config.token;
        let amount = |units: U256| format!("{} ({units} units of {token})", format_units(units, args.decimals));
        let now = chain.timestamp().await?;
        let wait = |at: u64| match at.saturating_sub(now) {
            0 => "now".to_owned(),
            seconds => format!("in {seconds} s"),
        };
        match step {
            Step::Requested { ready_at } => println!(
                "channel {id}: withdrawal requested; the receiver may claim its vouchers until {ready_at} \
                 ({}); run `quittance channel withdraw` again then",
                wait(ready_at)
            ),
            Step::Waiting { ready_at } => {
                println!("channel {id}: withdrawal requested; ready at {ready_at} ({})", wait(ready_at))
            }
            Step::Withdrawn { refunded } => {
                record.forget_channel(&key)?;
                println!(
                    "channel {id}: withdrew {} (deposited {}, paid {} through vouchers); closed",
                    amount(refunded),
                    amount(U256::from(channel.deposited)),
                    amount(U256::from(channel.paid))
                )
            }
            Step::Closed => {
                record.forget_channel(&key)?;
                println!("channel {id}: already closed; forgotten")
            }
            Step::Empty => println!(
                "channel {id}: the chain holds nothing for it (a deposit not landed yet is in doubt: see \
                 `quittance spend`)"
            ),
        }
    }
    match (seen, args.channel) {
        (0, Some(id)) => eyre::bail!("the record has no channel {id} of {} on {network}", signer.address()),
        (0, None) => println!("no voucher channels of {} on {network} in {}", signer.address(), args.record.display()),
        _ => {}
    }
    Ok(())
}

/// The next step for `channel`, from its state on chain.
async fn withdraw(sender: &mut Sender<'_, RpcChain>, contract: Address, channel: &OpenChannel) -> eyre::Result<Step> {
    let chain = sender.chain();
    let id = channel.config.id(sender.chain_id(), contract);
    let state = read(chain, contract, VoucherChannels::channelCall { id }).await?;
    let ready_at: u64 = state.withdrawableAt.to();
    if state.closed {
        return Ok(Step::Closed);
    }
    if ready_at == 0 {
        if state.balance == 0 && state.totalClaimed == 0 {
            return Ok(Step::Empty);
        }
        let request = VoucherChannels::requestWithdrawalCall { config: relayout(&channel.config) };
        sender.send(contract, request.abi_encode().into()).await?;
        let state = read(chain, contract, VoucherChannels::channelCall { id }).await?;
        return Ok(Step::Requested { ready_at: state.withdrawableAt.to() });
    }
    if chain.timestamp().await? < ready_at {
        return Ok(Step::Waiting { ready_at });
    }
    let token = channel.config.token;
    let payer = channel.config.payer;
    let before = read(chain, token, TestStablecoin::balanceOfCall { account: payer }).await?;
    let call = VoucherChannels::withdrawCall { config: relayout(&channel.config) };
    sender.send(contract, call.abi_encode().into()).await?;
    let after = read(chain, token, TestStablecoin::balanceOfCall { account: payer }).await?;
    Ok(Step::Withdrawn { refunded: after.saturating_sub(before) })
}
