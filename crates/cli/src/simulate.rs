//! `quittance simulate`: a scenario of many agents and paid endpoints, on the in-process chain by default.

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use quittance_chain::{RpcChain, anvil::spawn_anvil, revm::RevmChain};
use quittance_sim::{Report, Scenario};
use std::path::PathBuf;

/// `quittance simulate` arguments.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// A TOML scenario: any of its fields (the rest keep their defaults; see the README).
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// The seed of every random choice (overrides the scenario's).
    #[arg(long)]
    seed: Option<u64>,
    /// How many steps to run (overrides the scenario's).
    #[arg(long)]
    steps: Option<u32>,
    /// How many agents (overrides the scenario's).
    #[arg(long)]
    agents: Option<u32>,
    /// How many paid endpoints (overrides the scenario's).
    #[arg(long)]
    endpoints: Option<u32>,
    /// Run on a fresh anvil instead of the in-process chain (revm).
    #[arg(long)]
    anvil: bool,
    /// Print the report as JSON instead of text.
    #[arg(long)]
    json: bool,
}

impl SimulateArgs {
    /// The scenario these arguments describe.
    pub fn scenario(&self) -> eyre::Result<Scenario> {
        let mut scenario = match &self.scenario {
            Some(path) => {
                toml::from_str(&std::fs::read_to_string(path)?).map_err(|e| eyre::eyre!("{}: {e}", path.display()))?
            }
            None => Scenario::default(),
        };
        scenario.seed = self.seed.unwrap_or(scenario.seed);
        scenario.steps = self.steps.unwrap_or(scenario.steps);
        scenario.agents = self.agents.unwrap_or(scenario.agents);
        scenario.endpoints = self.endpoints.unwrap_or(scenario.endpoints);
        scenario.check().map_err(|e| eyre::eyre!(e))?;
        Ok(scenario)
    }
}

/// Runs the simulation with a progress bar on standard error, prints the report, and fails when the
/// balances do not reconcile.
pub async fn run(args: SimulateArgs) -> eyre::Result<Report> {
    let scenario = args.scenario()?;
    let bar = ProgressBar::new(u64::from(scenario.steps));
    bar.set_style(ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} steps {per_sec}")?);
    let progress = |done: u32, _| bar.set_position(u64::from(done));
    let report = if args.anvil {
        let anvil = spawn_anvil()?;
        quittance_sim::run(RpcChain::http(anvil.endpoint_url()), "anvil", &scenario, progress).await?
    } else {
        // A fixed start time: the same scenario gives the same report on every run.
        let chain = RevmChain::new(31337, 1_750_000_000);
        quittance_sim::run(chain, "an in-process chain (revm)", &scenario, progress).await?
    };
    bar.finish_and_clear();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{report}");
    }
    eyre::ensure!(report.reconciled(), "the simulation's balances do not reconcile");
    Ok(report)
}
