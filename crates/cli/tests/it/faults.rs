//! Fault injection, as processes on anvil: one `quittance facilitator`, two `quittance serve` paywalls and
//! `quittance pay` agents, with the facilitator, the paywalls and the agents SIGKILLed, the node's RPC
//! refusing, frozen or losing answers (through [`RpcProxy`]), anvil stopped with SIGSTOP, clients hanging up
//! during a settle, and one payment sent several times at once or again after it was served.
//!
//! Every scenario ends with [`reconcile`]: four sources — the chain (charges, balances, every facilitator
//! transaction and its status), what was served (the agents' 200s), the facilitator's ledger and the agents'
//! spend records — are compared and printed as a table, and the test fails unless there are no double
//! charges, no payment charged but never served (once the agent's retries are over), nothing served without
//! a payment, no unfinished ledger row and no reverted facilitator transaction.
//!
//! `QUITTANCE_FAULT_CAMPAIGN=1 cargo test -p quittance-cli --test it faults::campaign -- --nocapture` runs the
//! longer campaign (8 agents, 100 facilitator kills and every other fault), and prints its figures.

use crate::commands::{free_port, hex_key};
use alloy::{
    consensus::Transaction as _,
    network::TransactionResponse as _,
    primitives::{Address, B256, U256, keccak256},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::Filter,
    signers::local::PrivateKeySigner,
    sol_types::{SolCall, SolEvent},
};
use quittance_bindings::{IERC3009, InvoiceRegistry, TestStablecoin};
use quittance_testkit::proxy::RpcProxy;
use quittance_x402::{
    PAYMENT_REQUIRED, PAYMENT_RESPONSE, PAYMENT_SIGNATURE, PaymentPayload, PaymentRequired, PaymentRequirements,
    VerifyRequest, X402_V2, decode_header, encode_header, exact, invoice,
};
use serde_json::{Value, json};
use std::{
    collections::{BTreeMap, BTreeSet},
    ffi::OsString,
    path::PathBuf,
    process::Stdio,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU32, Ordering},
    },
    time::{Duration, Instant},
};
use tokio::{io::AsyncReadExt, process::Command, sync::Mutex};

const QUITTANCE: &str = env!("CARGO_BIN_EXE_quittance");
/// The price of `/report` (`quittance serve`'s default): one cent.
const PRICE: u64 = 10_000;
/// How long one `quittance pay` may take before the test kills it (a hang counts as a failed try).
const TRY_TIMEOUT: Duration = Duration::from_secs(15);
/// How many times an agent runs `quittance pay` for one purchase before giving up (by default).
const MAX_TRIES: u32 = 5;
/// How long a scenario's workload may run before the test gives up on it.
const WORKLOAD_TIMEOUT: Duration = Duration::from_secs(240);
/// How long the system is left alone before it is stopped and reconciled.
const QUIET: Duration = Duration::from_secs(2);
/// How long, at most, the facilitator is given to conclude what it holds in flight before that.
const SETTLE_DOWN: Duration = Duration::from_secs(60);

/// Whether the long campaign runs.
fn campaign_enabled() -> bool {
    std::env::var("QUITTANCE_FAULT_CAMPAIGN").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// A small deterministic generator (splitmix64): every scenario's faults come from a fixed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }

    fn millis(&mut self, low: u64, high: u64) -> Duration {
        Duration::from_millis(low + self.below(high.saturating_sub(low) + 1))
    }

    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

/// A process of the system (facilitator or paywall) that the test starts, kills and starts again.
struct Service {
    label: String,
    args: Vec<OsString>,
    env: Vec<(String, String)>,
    remove_env: Vec<String>,
    log: PathBuf,
    health: String,
    child: Option<tokio::process::Child>,
    starts: u32,
}

impl Service {
    /// Starts it, and waits until it answers on its health URL.
    async fn start(&mut self) -> eyre::Result<()> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log)?;
        let mut command = Command::new(QUITTANCE);
        command.args(&self.args).stdout(Stdio::null()).stderr(log).kill_on_drop(true);
        for (name, value) in &self.env {
            command.env(name, value);
        }
        for name in &self.remove_env {
            command.env_remove(name);
        }
        let mut child = command.spawn()?;
        self.starts += 1;
        let started = Instant::now();
        let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
        loop {
            if let Some(status) = child.try_wait()? {
                eyre::bail!("{} exited at start ({status}): {}", self.label, tail(&self.log));
            }
            if client.get(&self.health).send().await.is_ok() {
                break;
            }
            if started.elapsed() > Duration::from_secs(30) {
                eyre::bail!("{} did not start: {}", self.label, tail(&self.log));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.child = Some(child);
        Ok(())
    }

    /// Starts it, trying again for a while (a port a killed process held may take a moment to free; a
    /// facilitator cannot start while its node is unreachable).
    async fn restart(&mut self) -> eyre::Result<()> {
        let started = Instant::now();
        loop {
            match self.start().await {
                Ok(()) => return Ok(()),
                Err(err) if started.elapsed() > Duration::from_secs(20) => return Err(err),
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    /// SIGKILLs it.
    async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }

    /// Whether it runs.
    fn running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Starts it if it is not running.
    async fn ensure(&mut self) -> eyre::Result<()> {
        if !self.running() {
            self.child = None;
            self.restart().await?;
        }
        Ok(())
    }
}

/// The last lines of a log, for a failure message.
fn tail(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// A paying agent: its key and its spend record.
struct AgentId {
    key: PrivateKeySigner,
    record: PathBuf,
}

/// One paywall process: what it charges for, and to whom.
struct PaywallId {
    service: Mutex<Service>,
    port: u16,
    payee: Address,
    /// Offers invoices (the agent then pays them); else `exact` only.
    invoices: bool,
}

/// What a scenario's system is made of.
struct Options {
    agents: usize,
    /// The facilitator reaches the node through the fault proxy.
    through_proxy: bool,
    seed: u64,
    /// How many times an agent runs `quittance pay` for one purchase before giving up.
    max_tries: u32,
}

/// A fresh anvil with Quittance deployed, a fault proxy in front of it, one facilitator, two paywalls (one
/// offering invoices and `exact`, one `exact` only) and funded agents.
struct Net {
    _dir: tempfile::TempDir,
    anvil: alloy::node_bindings::AnvilInstance,
    proxy: RpcProxy,
    provider: DynProvider,
    manifest: PathBuf,
    token: Address,
    registry: Address,
    facilitator: Mutex<Service>,
    facilitator_port: u16,
    facilitator_address: Address,
    ledger: PathBuf,
    paywalls: Vec<PaywallId>,
    agents: Vec<AgentId>,
    /// A funded account whose payments the test signs itself (not an agent process).
    direct: PrivateKeySigner,
    /// The anvil process is stopped (SIGSTOP): resumed before anything is read.
    node_stopped: AtomicBool,
    agent_kills: AtomicU32,
    max_tries: u32,
    /// The paywalls keep their payments in a file (`serve --store`), else in memory.
    durable_store: bool,
}

impl Net {
    async fn start(options: &Options) -> eyre::Result<Arc<Self>> {
        let anvil = quittance_chain::anvil::spawn_anvil()?;
        let dir = tempfile::tempdir()?;
        let proxy = RpcProxy::start(anvil.endpoint_url()).await?;
        let agents: Vec<AgentId> = (0..options.agents)
            .map(|i| -> eyre::Result<AgentId> {
                Ok(AgentId {
                    key: PrivateKeySigner::from_bytes(&keccak256(format!("fault agent {} {i}", options.seed)))?,
                    record: dir.path().join(format!("agent-{i}.sqlite")),
                })
            })
            .collect::<eyre::Result<_>>()?;
        let direct = PrivateKeySigner::from_bytes(&keccak256(format!("fault direct payer {}", options.seed)))?;
        let manifest = dir.path().join("31337.json");
        let mut deploy = Command::new(QUITTANCE);
        deploy.args(["deploy", "--rpc-url", anvil.endpoint().as_str(), "--out"]).arg(&manifest);
        for address in agents.iter().map(|a| a.key.address()).chain([direct.address()]) {
            deploy.args(["--fund", &address.to_string()]);
        }
        let deployed = deploy
            .env("QUITTANCE_DEPLOYER_KEY", hex_key(&PrivateKeySigner::from(anvil.keys()[0].clone())))
            .output()
            .await?;
        eyre::ensure!(deployed.status.success(), "deploy: {}", String::from_utf8_lossy(&deployed.stderr));
        let read = quittance_deploy::Manifest::read(&manifest)?;
        let token = read.address("TestStablecoin").ok_or_else(|| eyre::eyre!("no token"))?;
        let registry = read.address("InvoiceRegistry").ok_or_else(|| eyre::eyre!("no registry"))?;

        let facilitator_key = PrivateKeySigner::from(anvil.keys()[1].clone());
        let facilitator_port = free_port();
        let ledger = dir.path().join("ledger.sqlite");
        let rpc = if options.through_proxy { proxy.url().to_string() } else { anvil.endpoint() };
        let facilitator = Service {
            label: "facilitator".into(),
            args: vec![
                "facilitator".into(),
                "--rpc-url".into(),
                rpc.into(),
                "--listen".into(),
                format!("127.0.0.1:{facilitator_port}").into(),
                "--ledger".into(),
                ledger.clone().into(),
            ],
            env: vec![("QUITTANCE_FACILITATOR_KEY".into(), hex_key(&facilitator_key))],
            remove_env: vec![],
            log: dir.path().join("facilitator.log"),
            health: format!("http://127.0.0.1:{facilitator_port}/health"),
            child: None,
            starts: 0,
        };
        // A paywall keeps its payments in a file when `serve` can (`--store`), so that a restart remembers them.
        let help = Command::new(QUITTANCE).args(["serve", "--help"]).output().await?;
        let durable_store = String::from_utf8_lossy(&help.stdout).contains("--store");
        let mut paywalls = Vec::new();
        for (i, invoices) in [true, false].into_iter().enumerate() {
            let port = free_port();
            let payee =
                PrivateKeySigner::from_bytes(&keccak256(format!("fault payee {} {i}", options.seed)))?.address();
            let mut args: Vec<OsString> = vec!["serve".into(), "--rpc-url".into(), anvil.endpoint().into()];
            args.extend(["--deployment".into(), manifest.clone().into()]);
            args.extend(["--facilitator-url".into(), format!("http://127.0.0.1:{facilitator_port}/").into()]);
            args.extend(["--pay-to".into(), payee.to_string().into()]);
            args.extend(["--listen".into(), format!("127.0.0.1:{port}").into()]);
            if durable_store {
                args.extend(["--store".into(), dir.path().join(format!("paywall-{i}.sqlite")).into()]);
            }
            let issuer = hex_key(&PrivateKeySigner::from(anvil.keys()[2].clone()));
            let service = Service {
                label: format!("paywall {i}"),
                args,
                env: if invoices { vec![("QUITTANCE_ISSUER_KEY".into(), issuer)] } else { vec![] },
                remove_env: if invoices { vec![] } else { vec!["QUITTANCE_ISSUER_KEY".into()] },
                log: dir.path().join(format!("paywall-{i}.log")),
                health: format!("http://127.0.0.1:{port}/"),
                child: None,
                starts: 0,
            };
            paywalls.push(PaywallId { service: Mutex::new(service), port, payee, invoices });
        }
        let net = Self {
            provider: ProviderBuilder::new().connect_http(anvil.endpoint_url()).erased(),
            facilitator_address: facilitator_key.address(),
            _dir: dir,
            anvil,
            proxy,
            manifest,
            token,
            registry,
            facilitator: Mutex::new(facilitator),
            facilitator_port,
            ledger,
            paywalls,
            agents,
            direct,
            node_stopped: AtomicBool::new(false),
            agent_kills: AtomicU32::new(0),
            max_tries: options.max_tries,
            durable_store,
        };
        net.facilitator.lock().await.start().await?;
        for paywall in &net.paywalls {
            paywall.service.lock().await.start().await?;
        }
        Ok(Arc::new(net))
    }

    fn facilitator_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.facilitator_port)
    }

    /// Sends a signal to anvil (`STOP`, `CONT`).
    fn signal_node(&self, signal: &str) -> eyre::Result<()> {
        let pid = self.anvil.child().id();
        let status = std::process::Command::new("kill").args([format!("-{signal}"), pid.to_string()]).status()?;
        eyre::ensure!(status.success(), "kill -{signal} {pid}");
        self.node_stopped.store(signal == "STOP", Ordering::SeqCst);
        Ok(())
    }

    /// Ends every fault and makes sure every process runs again.
    async fn heal(&self) -> eyre::Result<()> {
        if self.node_stopped.load(Ordering::SeqCst) {
            self.signal_node("CONT")?;
        }
        self.proxy.pass_through();
        self.facilitator.lock().await.ensure().await?;
        for paywall in &self.paywalls {
            paywall.service.lock().await.ensure().await?;
        }
        Ok(())
    }

    /// Buys one resource as a user would: runs `quittance pay` for the same URL with the same spend record
    /// until it is served or [`Options::max_tries`] runs failed; `kill` draws, per run, whether to SIGKILL the agent
    /// after some time.
    async fn buy(&self, agent: usize, paywall: usize, n: usize, kill: Option<&std::sync::Mutex<Rng>>) -> Purchase {
        let id = &self.agents[agent];
        let wall = &self.paywalls[paywall];
        let url = format!("http://127.0.0.1:{}/report?agent={agent}&n={n}", wall.port);
        let mut purchase =
            Purchase::new(format!("agent {agent} #{n} at paywall {paywall}"), id.key.address(), wall.payee);
        purchase.url = Some(url.clone());
        purchase.record = Some(agent);
        for attempt in 1..=self.max_tries {
            purchase.tries = attempt;
            let kill_after = kill.and_then(|rng| {
                let mut rng = rng.lock().unwrap_or_else(|p| p.into_inner());
                (attempt <= 3 && rng.chance(0.7)).then(|| rng.millis(10, 250))
            });
            let mut command = Command::new(QUITTANCE);
            command
                .args(["pay", &url, "--json", "--deployment"])
                .arg(&self.manifest)
                // One purchase, however many runs it takes: a run killed after it was served does not buy again.
                .args(["--purchase", &format!("agent {agent} #{n} at paywall {paywall}")])
                .arg("--record")
                .arg(&id.record)
                .args(["--budget", "1000000", "--max-per-host", "1000000"])
                .env("QUITTANCE_AGENT_KEY", hex_key(&id.key));
            let ran = run(command, TRY_TIMEOUT, kill_after).await;
            if ran.killed {
                self.agent_kills.fetch_add(1, Ordering::SeqCst);
            }
            match ran.answer() {
                Some(answer) if answer.status == 200 => {
                    purchase.answers.push(answer);
                    return purchase;
                }
                _ => purchase.notes.push(ran.summary()),
            }
            tokio::time::sleep(Duration::from_millis(200 + 100 * u64::from(attempt))).await;
        }
        purchase.gave_up = true;
        purchase
    }

    /// The 402 a paywall answers for `path`, decoded.
    async fn offer(&self, port: u16, path: &str) -> eyre::Result<PaymentRequired> {
        let client = reqwest::Client::builder().timeout(TRY_TIMEOUT).build()?;
        let response = client.get(format!("http://127.0.0.1:{port}{path}")).send().await?;
        eyre::ensure!(response.status() == 402, "expected a 402, got {}", response.status());
        let header = response.headers().get(PAYMENT_REQUIRED).ok_or_else(|| eyre::eyre!("no PAYMENT-REQUIRED"))?;
        Ok(decode_header(header.to_str()?)?)
    }

    /// The test's own payment (as [`Net::direct`]) of the `scheme` option of `offer`, with its exact nonce.
    fn sign(
        &self,
        offer: &PaymentRequired,
        scheme: &str,
    ) -> eyre::Result<(PaymentPayload, PaymentRequirements, Option<B256>)> {
        let option = offer
            .accepts
            .iter()
            .find(|o| o.scheme == scheme)
            .ok_or_else(|| eyre::eyre!("no {scheme} option offered"))?
            .clone();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
        let signer = &self.direct;
        if scheme == exact::SCHEME {
            let nonce = B256::random();
            let payment = exact::pay(&option, Some(offer.resource.clone()), signer, signer.address(), now, nonce)?;
            Ok((payment, option, Some(nonce)))
        } else {
            let payment = invoice::pay(&option, &offer.resource, signer, signer.address(), now)?;
            Ok((payment, option, None))
        }
    }
}

/// What a run of a process gave.
struct Ran {
    killed: bool,
    timed_out: bool,
    status: Option<std::process::ExitStatus>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Ran {
    /// The `pay --json` answer, when it printed one.
    fn answer(&self) -> Option<Answer> {
        let value: Value = serde_json::from_slice(&self.stdout).ok()?;
        Some(Answer {
            status: value["status"].as_u64().unwrap_or_default() as u16,
            body: value["body"].clone(),
            receipt: value["receipt"].clone(),
        })
    }

    fn summary(&self) -> String {
        let stderr = String::from_utf8_lossy(&self.stderr);
        let error = stderr.lines().find_map(|l| l.strip_prefix("Error: "));
        let last = error.or_else(|| stderr.lines().rev().find(|l| !l.trim().is_empty())).unwrap_or_default();
        let last: String = last.chars().take(160).collect();
        match (self.killed, self.timed_out) {
            (true, _) => "agent killed".into(),
            (_, true) => "timed out".into(),
            _ => format!("{}: {last}", self.status.map(|s| s.to_string()).unwrap_or_default()),
        }
    }
}

/// Runs `command` until it exits, `deadline` passes (then it is killed) or `kill_after` (SIGKILL).
async fn run(mut command: Command, deadline: Duration, kill_after: Option<Duration>) -> Ran {
    command.stdout(Stdio::piped()).stderr(Stdio::piped()).stdin(Stdio::null()).kill_on_drop(true);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(err) => {
            return Ran {
                killed: false,
                timed_out: false,
                status: None,
                stdout: vec![],
                stderr: err.to_string().into(),
            };
        }
    };
    let read = |pipe: Option<Box<dyn tokio::io::AsyncRead + Unpin + Send>>| {
        tokio::spawn(async move {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes).await;
            }
            bytes
        })
    };
    let stdout = read(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = read(child.stderr.take().map(|p| Box::new(p) as _));
    let limit = kill_after.unwrap_or(deadline).min(deadline);
    let killing = kill_after.is_some_and(|k| k < deadline);
    let (status, stopped) = match tokio::time::timeout(limit, child.wait()).await {
        Ok(status) => (status.ok(), false),
        Err(_) => {
            let _ = child.start_kill();
            (child.wait().await.ok(), true)
        }
    };
    Ran {
        killed: stopped && killing,
        timed_out: stopped && !killing,
        status,
        stdout: stdout.await.unwrap_or_default(),
        stderr: stderr.await.unwrap_or_default(),
    }
}

/// A 200 (or another answer) as a client received it.
#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    body: Value,
    /// The settlement receipt (`PAYMENT-RESPONSE`, decoded).
    receipt: Value,
}

impl Answer {
    fn transaction(&self) -> Option<B256> {
        self.receipt["transaction"].as_str().and_then(|t| t.parse().ok())
    }
}

/// One thing bought (source b): who paid whom for what, and every 200 the buyer received for it.
#[derive(Debug, Clone)]
struct Purchase {
    label: String,
    payer: Address,
    payee: Address,
    /// The resource's URL: an invoice charge names it (its hash).
    url: Option<String>,
    /// `exact` nonces the test signed for it.
    nonces: Vec<B256>,
    /// The buyer expects to be served (false: a client that hung up).
    expect_served: bool,
    /// The 200s received.
    answers: Vec<Answer>,
    /// How many times the handler ran for it, when the paywall is the test's own (else unknown).
    executions: Option<u64>,
    /// The agent whose spend record paid it.
    record: Option<usize>,
    tries: u32,
    gave_up: bool,
    notes: Vec<String>,
}

impl Purchase {
    /// What its failed tries said, identical ones counted once.
    fn tries_said(&self) -> String {
        let mut said: Vec<(String, usize)> = Vec::new();
        for note in &self.notes {
            let note: String = note.chars().take(140).collect();
            match said.iter_mut().find(|(n, _)| *n == note) {
                Some((_, count)) => *count += 1,
                None => said.push((note, 1)),
            }
        }
        said.into_iter()
            .map(|(note, count)| if count > 1 { format!("{count} × {note}") } else { note })
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn new(label: String, payer: Address, payee: Address) -> Self {
        Self {
            label,
            payer,
            payee,
            url: None,
            nonces: vec![],
            expect_served: true,
            answers: vec![],
            executions: None,
            record: None,
            tries: 0,
            gave_up: false,
            notes: vec![],
        }
    }

    /// How many times it was served: the handler's runs where known, else the distinct 200s (copies of one
    /// stored answer — the same body and receipt — count once).
    fn servings(&self) -> u64 {
        match self.executions {
            Some(runs) => runs,
            None => {
                let distinct: BTreeSet<String> =
                    self.answers.iter().map(|a| format!("{}|{}", a.body, a.receipt)).collect();
                distinct.len() as u64
            }
        }
    }
}

/// A charge on chain: a token transfer from a payer to a payee in a facilitator transaction.
#[derive(Debug, Clone)]
struct Charge {
    tx: B256,
    from: Address,
    to: Address,
    amount: U256,
    /// The invoice's resource hash (invoice payments).
    resource: Option<B256>,
    /// The authorization nonce (exact payments).
    nonce: Option<B256>,
}

/// The four sources, reconciled.
#[derive(Debug, Default)]
struct Reconciliation {
    scenario: String,
    faults: String,
    seconds: f64,
    purchases: usize,
    served_purchases: usize,
    gave_up: usize,
    tries: u64,
    // (a) chain
    charges: usize,
    invoice_charges: usize,
    exact_charges: usize,
    facilitator_txs: usize,
    reverted: usize,
    in_pool: u64,
    unexplained_balances: Vec<String>,
    // (b) served
    answers: usize,
    servings: u64,
    // (c) ledger
    unfinished: Vec<String>,
    // (d) spend records
    spend: Vec<String>,
    spend_mismatches: usize,
    // checks
    double_charges: u64,
    paid_not_served: u64,
    served_without_payment: u64,
    examples: Vec<String>,
}

impl Reconciliation {
    fn violations(&self) -> Vec<String> {
        let mut found = Vec::new();
        let mut check = |count: u64, what: &str| {
            if count > 0 {
                found.push(format!("{count} {what}"));
            }
        };
        check(self.double_charges, "double charges");
        check(self.paid_not_served, "paid but never served");
        check(self.served_without_payment, "served without payment");
        check(self.unfinished.len() as u64, "unfinished ledger rows");
        check(self.reverted as u64, "reverted facilitator transactions");
        check(self.in_pool, "transactions stuck in the node's pool");
        check(self.spend_mismatches as u64, "spend records disagreeing with the chain");
        check(self.unexplained_balances.len() as u64, "balances the charges do not explain");
        found
    }

    fn table(&self) -> String {
        let cents = |n: usize| format!("{:.2}", n as f64 * PRICE as f64 / 1e6);
        let violations = self.violations();
        let mut out =
            format!("── fault scenario {} ── {:.1} s; faults: {}\n", self.scenario, self.seconds, self.faults);
        out += &format!(
            "  purchases        {} ({} served, {} given up, {} tries)\n",
            self.purchases, self.served_purchases, self.gave_up, self.tries
        );
        out += &format!(
            "  (a) chain        {} charges ({} invoice, {} exact; ${}) | {} facilitator txs, {} reverted, {} left in the pool\n",
            self.charges,
            self.invoice_charges,
            self.exact_charges,
            cents(self.charges),
            self.facilitator_txs,
            self.reverted,
            self.in_pool
        );
        for line in &self.unexplained_balances {
            out += &format!("                   balance: {line}\n");
        }
        out += &format!("  (b) served       {} 200s received, {} servings\n", self.answers, self.servings);
        out += &format!(
            "  (c) ledger       {} unfinished{}\n",
            self.unfinished.len(),
            if self.unfinished.is_empty() { String::new() } else { format!(": {}", self.unfinished.join(", ")) }
        );
        for line in &self.spend {
            out += &format!("  (d) spend        {line}\n");
        }
        out += &format!(
            "  checks           double charges {} | paid, not served {} | served without payment {} | unfinished rows {} | reverted {} | spend ≠ chain {}  → {}\n",
            self.double_charges,
            self.paid_not_served,
            self.served_without_payment,
            self.unfinished.len(),
            self.reverted,
            self.spend_mismatches,
            if violations.is_empty() { "ok".to_owned() } else { format!("FAIL ({})", violations.join(", ")) }
        );
        for example in self.examples.iter().take(8) {
            out += &format!("    · {example}\n");
        }
        out
    }

    /// Prints the table and fails on any violation.
    fn assert(&self) -> eyre::Result<()> {
        let table = self.table();
        println!("{table}");
        let violations = self.violations();
        eyre::ensure!(violations.is_empty(), "{}: {}\n{table}", self.scenario, violations.join(", "));
        Ok(())
    }
}

/// Stops the system after a quiet period and reconciles the four sources: (a) the chain — every charge
/// (token transfers from payers to payees), the balances, every facilitator transaction and its receipt's
/// status, what is left in the node's pool; (b) what was served (`purchases`); (c) the facilitator's ledger
/// (`unfinished()`, opened after the facilitator stopped); (d) the agents' spend records.
async fn reconcile(
    net: &Net,
    scenario: &str,
    faults: String,
    started: Instant,
    purchases: &[Purchase],
) -> eyre::Result<Reconciliation> {
    net.heal().await?;
    // The facilitator concludes what the faults left in flight (its reconciler passes every few seconds,
    // slower on a loaded machine): wait until its health says nothing is in flight, at most SETTLE_DOWN.
    let health = format!("http://127.0.0.1:{}/health", net.facilitator_port);
    let settling = Instant::now();
    while settling.elapsed() < SETTLE_DOWN {
        let in_flight = async { reqwest::get(&health).await?.json::<Value>().await }.await;
        if in_flight.is_ok_and(|h| h["inFlight"] == 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    tokio::time::sleep(QUIET).await;
    net.facilitator.lock().await.kill().await;
    for paywall in &net.paywalls {
        paywall.service.lock().await.kill().await;
    }
    let mut r = Reconciliation {
        scenario: scenario.into(),
        faults,
        seconds: started.elapsed().as_secs_f64(),
        purchases: purchases.len(),
        served_purchases: purchases
            .iter()
            .filter(|p| !p.answers.is_empty() || p.executions.is_some_and(|n| n > 0))
            .count(),
        gave_up: purchases.iter().filter(|p| p.gave_up).count(),
        tries: purchases.iter().map(|p| u64::from(p.tries)).sum(),
        answers: purchases.iter().map(|p| p.answers.len()).sum(),
        servings: purchases.iter().map(Purchase::servings).sum(),
        ..Default::default()
    };

    // (a) The chain: every facilitator transaction, and the charges they made.
    let provider = &net.provider;
    let latest = provider.get_block_number().await?;
    let mut inputs = BTreeMap::new();
    for number in 0..=latest {
        let Some(block) = provider.get_block_by_number(number.into()).full().await? else { continue };
        for tx in block.transactions.txns() {
            if tx.from() != net.facilitator_address {
                continue;
            }
            r.facilitator_txs += 1;
            let receipt = provider.get_transaction_receipt(tx.tx_hash()).await?;
            if !receipt.is_some_and(|r| r.status()) {
                r.reverted += 1;
                r.examples.push(format!("facilitator transaction {} reverted", tx.tx_hash()));
            }
            inputs.insert(tx.tx_hash(), (tx.to(), tx.input().clone()));
        }
    }
    let pool: Value = provider.raw_request("txpool_status".into(), ()).await.unwrap_or(Value::Null);
    let count = |v: &Value| {
        v.as_u64().or_else(|| v.as_str().and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok()))
    };
    r.in_pool = count(&pool["pending"]).unwrap_or_default() + count(&pool["queued"]).unwrap_or_default();

    let payees: BTreeSet<Address> =
        net.paywalls.iter().map(|p| p.payee).chain(purchases.iter().map(|p| p.payee)).collect();
    let payers: BTreeSet<Address> = net.agents.iter().map(|a| a.key.address()).chain([net.direct.address()]).collect();
    // An invoice's payment moves the payer's tokens through the registry, which records who was paid.
    let paid_events = provider.get_logs(&Filter::new().address(net.registry).from_block(0).to_block(latest)).await?;
    let mut invoice_payees = BTreeMap::new();
    for log in &paid_events {
        if let Ok(paid) = InvoiceRegistry::InvoicePaid::decode_log_data(log.data()) {
            invoice_payees.insert(log.transaction_hash.unwrap_or_default(), paid.payee);
        }
    }
    let transfers = provider.get_logs(&Filter::new().address(net.token).from_block(0).to_block(latest)).await?;
    let mut charges = Vec::new();
    for log in transfers {
        let Ok(transfer) = TestStablecoin::Transfer::decode_log_data(log.data()) else { continue };
        let tx = log.transaction_hash.unwrap_or_default();
        if !payers.contains(&transfer.from) {
            continue;
        }
        let payee = if transfer.to == net.registry { invoice_payees.get(&tx).copied() } else { Some(transfer.to) };
        let Some(payee) = payee else {
            r.unexplained_balances
                .push(format!("{} sent {} to the registry in {tx}, no invoice paid", transfer.from, transfer.value));
            continue;
        };
        if !payees.contains(&payee) {
            r.unexplained_balances
                .push(format!("{} paid {} to {payee}, not a payee, in {tx}", transfer.from, transfer.value));
            continue;
        }
        let transfer = TestStablecoin::Transfer { to: payee, ..transfer };
        let (resource, nonce) = match inputs.get(&tx) {
            Some((to, input)) if *to == Some(net.registry) => {
                (InvoiceRegistry::payWithAuthorizationCall::abi_decode(input).ok().map(|c| c.invoice.resource), None)
            }
            Some((_, input)) => {
                let nonce = IERC3009::transferWithAuthorization_0Call::abi_decode(input)
                    .map(|c| c.nonce)
                    .or_else(|_| IERC3009::transferWithAuthorization_1Call::abi_decode(input).map(|c| c.nonce))
                    .ok();
                (None, nonce)
            }
            None => {
                r.examples.push(format!("a charge in {tx} not sent by the facilitator"));
                (None, None)
            }
        };
        charges.push(Charge { tx, from: transfer.from, to: transfer.to, amount: transfer.value, resource, nonce });
    }
    let invoices_paid = invoice_payees.len();
    r.charges = charges.len();
    r.invoice_charges = charges.iter().filter(|c| c.resource.is_some()).count();
    r.exact_charges = r.charges - r.invoice_charges;
    if invoices_paid != r.invoice_charges {
        r.unexplained_balances
            .push(format!("{invoices_paid} InvoicePaid events for {} invoice charges", r.invoice_charges));
    }

    // Balances: each payer lost, and each payee got, exactly its charges.
    let token = TestStablecoin::new(net.token, provider.clone());
    for payer in &payers {
        let charged: U256 = charges.iter().filter(|c| c.from == *payer).map(|c| c.amount).sum();
        let balance = token.balanceOf(*payer).call().await?;
        if balance + charged != U256::from(quittance_deploy::FUNDING) {
            r.unexplained_balances.push(format!("{payer} holds {balance} after {charged} charged"));
        }
    }
    for payee in &payees {
        let charged: U256 = charges.iter().filter(|c| c.to == *payee).map(|c| c.amount).sum();
        let balance = token.balanceOf(*payee).call().await?;
        if balance != charged {
            r.unexplained_balances.push(format!("{payee} holds {balance} for {charged} charged"));
        }
    }

    // Charges to purchases: an invoice by its resource, an exact payment by its nonce or the receipt served.
    let mut attributed = vec![0u64; purchases.len()];
    let mut unattributed: BTreeMap<(Address, Address), u64> = BTreeMap::new();
    for charge in &charges {
        let found = purchases.iter().position(|p| {
            p.payer == charge.from
                && match (charge.resource, charge.nonce) {
                    (Some(resource), _) => p.url.as_deref().is_some_and(|u| invoice::resource_hash(u) == resource),
                    (None, Some(nonce)) => {
                        p.nonces.contains(&nonce) || p.answers.iter().any(|a| a.transaction() == Some(charge.tx))
                    }
                    (None, None) => false,
                }
        });
        match found {
            Some(i) => attributed[i] += 1,
            None => *unattributed.entry((charge.from, charge.to)).or_default() += 1,
        }
    }
    for (purchase, &charged) in purchases.iter().zip(&attributed) {
        let served = purchase.servings();
        if charged > 1 {
            r.double_charges += charged - 1;
            r.examples.push(format!("{} charged {charged} times (tries: {})", purchase.label, purchase.tries_said()));
        }
        if purchase.expect_served && charged >= 1 && served == 0 {
            r.paid_not_served += 1;
            r.examples.push(format!("{} charged, never served: {}", purchase.label, purchase.tries_said()));
        }
        if purchase.gave_up && charged == 0 {
            r.examples.push(format!("{} given up: {}", purchase.label, purchase.tries_said()));
        }
        if served > charged {
            r.served_without_payment += served - charged;
            r.examples.push(format!("{} served {served} times for {charged} charges", purchase.label));
        }
    }
    // An exact charge nothing names: a purchase of that payer at that payee paid it; if one of them was never
    // served, it was paid and not served, else it was paid twice.
    for ((payer, payee), count) in unattributed {
        let unserved = purchases
            .iter()
            .zip(&attributed)
            .filter(|(p, c)| p.payer == payer && p.payee == payee && p.expect_served && **c == 0 && p.servings() == 0)
            .count() as u64;
        let not_served = count.min(unserved);
        r.paid_not_served += not_served;
        r.double_charges += count - not_served;
        r.examples.push(format!(
            "{count} exact charges of {payer} to {payee} no served answer names ({not_served} for purchases never served)"
        ));
    }

    // (c) The ledger, opened now that the facilitator stopped.
    match quittance_facilitator::SqliteLedger::open(&net.ledger) {
        Ok(ledger) => match quittance_facilitator::Ledger::unfinished(&ledger) {
            Ok(rows) => {
                r.unfinished = rows.iter().map(|(key, entry)| format!("{key:.8} {}", entry_kind(entry))).collect()
            }
            Err(err) => r.unfinished.push(format!("unreadable: {err}")),
        },
        Err(err) => r.unfinished.push(format!("cannot open: {err}")),
    }

    // (d) The spend records.
    spend_records(net, &charges, purchases, &mut r);
    Ok(r)
}

/// A ledger entry's state, in a word.
fn entry_kind(entry: &quittance_facilitator::Entry) -> String {
    let debug = format!("{entry:?}");
    debug.split(['(', ' ', '{']).next().unwrap_or_default().to_owned()
}

/// Source (d), kept small and in one place (the spend record's API is moving): per agent, what its record
/// counts as settled and in doubt, against what the chain charged it.
fn spend_records(net: &Net, charges: &[Charge], purchases: &[Purchase], r: &mut Reconciliation) {
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
    let (mut settled_all, mut doubt_all, mut agreeing) = (U256::ZERO, U256::ZERO, 0usize);
    let mut used = 0usize;
    for (i, agent) in net.agents.iter().enumerate() {
        if !purchases.iter().any(|p| p.record == Some(i)) {
            continue;
        }
        used += 1;
        let charged: U256 = charges.iter().filter(|c| c.from == agent.key.address()).map(|c| c.amount).sum();
        match quittance_agent::SpendRecord::open(&agent.record) {
            Ok(record) => {
                let settled = record.settled_total(net.token).unwrap_or_default();
                let spent = record.spent_total(net.token, now).unwrap_or_default();
                let doubt = spent.saturating_sub(settled);
                settled_all += settled;
                doubt_all += doubt;
                if settled == charged {
                    agreeing += 1;
                } else {
                    r.spend_mismatches += 1;
                    r.examples.push(format!(
                        "agent {i}: the chain charged {charged}, its record settled {settled} (in doubt {doubt})"
                    ));
                }
            }
            Err(err) => {
                r.spend_mismatches += 1;
                r.examples.push(format!("agent {i}: spend record unreadable: {err}"));
            }
        }
    }
    let usd = |v: U256| format!("{:.2}", v.to::<u128>() as f64 / 1e6);
    if used > 0 {
        r.spend.push(format!(
            "settled ${} in doubt ${} | {agreeing} of {used} records agree with the chain",
            usd(settled_all),
            usd(doubt_all)
        ));
    } else {
        r.spend.push("no agent process paid".into());
    }
}

/// Runs the agents' purchases, alternating the two paywalls, until `done` is set (at least `min` each) or
/// `max` each; `kill` makes the agents SIGKILL themselves at random.
async fn stream(
    net: &Arc<Net>,
    agents: usize,
    min: usize,
    max: usize,
    done: Arc<AtomicBool>,
    kill: Option<u64>,
) -> Vec<Purchase> {
    let mut tasks = Vec::new();
    for agent in 0..agents {
        let (net, done) = (net.clone(), done.clone());
        let kill = kill.map(|seed| std::sync::Mutex::new(Rng(seed ^ ((agent as u64 + 1) << 32))));
        tasks.push(tokio::spawn(async move {
            let mut purchases = Vec::new();
            for n in 0..max {
                if n >= min && done.load(Ordering::SeqCst) {
                    break;
                }
                purchases.push(net.buy(agent, (agent + n) % 2, n, kill.as_ref()).await);
            }
            purchases
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap_or_default());
    }
    all
}

/// Runs `chaos` while the agents buy, then heals the system and lets the agents finish.
async fn with_chaos<F>(
    net: &Arc<Net>,
    agents: usize,
    min: usize,
    max: usize,
    kill_agents: Option<u64>,
    timeout: Duration,
    chaos: F,
) -> eyre::Result<(Vec<Purchase>, String)>
where
    F: std::future::Future<Output = eyre::Result<String>> + Send + 'static,
{
    let done = Arc::new(AtomicBool::new(false));
    let chaos = {
        let done = done.clone();
        tokio::spawn(async move {
            let result = chaos.await;
            done.store(true, Ordering::SeqCst);
            result
        })
    };
    let buying = stream(net, agents, min, max, done.clone(), kill_agents);
    let purchases = match tokio::time::timeout(timeout, buying).await {
        Ok(purchases) => purchases,
        Err(_) => {
            chaos.abort();
            eyre::bail!("the workload did not finish within {timeout:?}");
        }
    };
    let faults = chaos.await??;
    Ok((purchases, faults))
}

/// SIGKILLs the facilitator `kills` times, starting it again on the same ledger: every other kill at a random
/// moment, the others 0–20 ms after the fault proxy sees it broadcast a settlement (when it reaches the node
/// through the proxy), so that they land inside settles.
async fn kill_facilitator(net: Arc<Net>, kills: u32, seed: u64, gap: (u64, u64)) -> eyre::Result<String> {
    let mut rng = Rng(seed);
    let mut in_settle = 0;
    for kill in 0..kills {
        tokio::time::sleep(rng.millis(gap.0, gap.1)).await;
        if kill % 2 == 1 && net.proxy.next_send(Duration::from_secs(5)).await {
            in_settle += 1;
            tokio::time::sleep(rng.millis(0, 20)).await;
        }
        let mut facilitator = net.facilitator.lock().await;
        facilitator.kill().await;
        tokio::time::sleep(rng.millis(0, 300)).await;
        facilitator.restart().await?;
    }
    Ok(format!("{kills} facilitator SIGKILLs ({in_settle} just after a broadcast)"))
}

/// SIGKILLs a paywall (either) `kills` times at random moments, starting it again on the same port.
async fn kill_paywalls(net: Arc<Net>, kills: u32, seed: u64) -> eyre::Result<String> {
    let mut rng = Rng(seed);
    for _ in 0..kills {
        tokio::time::sleep(rng.millis(200, 1200)).await;
        let paywall = &net.paywalls[rng.below(2) as usize];
        let mut service = paywall.service.lock().await;
        service.kill().await;
        tokio::time::sleep(rng.millis(0, 300)).await;
        service.restart().await?;
    }
    let store = if net.durable_store { "store in a file" } else { "store in memory: serve has no --store" };
    Ok(format!("{kills} paywall SIGKILLs ({store})"))
}

fn scenario_options(agents: usize, through_proxy: bool, seed: u64) -> Options {
    Options { agents, through_proxy, seed, max_tries: MAX_TRIES }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn facilitator_sigkilled_during_settles() -> eyre::Result<()> {
    let started = Instant::now();
    let net = Net::start(&scenario_options(4, true, 1)).await?;
    let (purchases, faults) =
        with_chaos(&net, 4, 2, 200, None, WORKLOAD_TIMEOUT, kill_facilitator(net.clone(), 20, 1, (150, 700))).await?;
    reconcile(&net, "facilitator-sigkill", faults, started, &purchases).await?.assert()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn paywall_sigkilled_during_payments() -> eyre::Result<()> {
    let started = Instant::now();
    let net = Net::start(&scenario_options(4, false, 2)).await?;
    let (purchases, faults) =
        with_chaos(&net, 4, 2, 200, None, WORKLOAD_TIMEOUT, kill_paywalls(net.clone(), 10, 2)).await?;
    reconcile(&net, "paywall-sigkill", faults, started, &purchases).await?.assert()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn agent_sigkilled_mid_payment_and_run_again() -> eyre::Result<()> {
    let started = Instant::now();
    let net = Net::start(&scenario_options(4, false, 3)).await?;
    let done = Arc::new(AtomicBool::new(true));
    let purchases = tokio::time::timeout(WORKLOAD_TIMEOUT, stream(&net, 4, 6, 6, done, Some(3))).await?;
    let faults = format!("{} agent SIGKILLs", net.agent_kills.load(Ordering::SeqCst));
    reconcile(&net, "agent-sigkill", faults, started, &purchases).await?.assert()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rpc_refusing_connections_for_seconds() -> eyre::Result<()> {
    let started = Instant::now();
    let net = Net::start(&scenario_options(4, true, 4)).await?;
    let chaos = {
        let net = net.clone();
        async move {
            for _ in 0..3 {
                tokio::time::sleep(Duration::from_millis(1500)).await;
                net.proxy.refuse_for(Duration::from_secs(3));
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
            let stats = net.proxy.stats();
            Ok(format!("RPC refused 3 × 3 s ({} requests dropped)", stats.refused))
        }
    };
    let (purchases, faults) = with_chaos(&net, 4, 2, 200, None, WORKLOAD_TIMEOUT, chaos).await?;
    reconcile(&net, "rpc-refused", faults, started, &purchases).await?.assert()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rpc_frozen_then_released() -> eyre::Result<()> {
    let started = Instant::now();
    let net = Net::start(&scenario_options(4, true, 5)).await?;
    let chaos = {
        let net = net.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            net.proxy.hold_for(Duration::from_secs(4));
            tokio::time::sleep(Duration::from_secs(5)).await;
            net.proxy.hold();
            tokio::time::sleep(Duration::from_secs(4)).await;
            net.proxy.release();
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok(format!("RPC frozen 2 × 4 s ({} requests held)", net.proxy.stats().held))
        }
    };
    let (purchases, faults) = with_chaos(&net, 4, 2, 200, None, WORKLOAD_TIMEOUT, chaos).await?;
    reconcile(&net, "rpc-frozen", faults, started, &purchases).await?.assert()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rpc_losing_the_answer_to_a_broadcast_then_failing() -> eyre::Result<()> {
    let started = Instant::now();
    let net = Net::start(&scenario_options(4, true, 6)).await?;
    let chaos = {
        let net = net.clone();
        async move {
            for round in 0..5u64 {
                tokio::time::sleep(Duration::from_millis(800)).await;
                let before = net.proxy.stats().lost;
                net.proxy.lose_send_answers(1, round % 3 + 1);
                let waiting = Instant::now();
                while net.proxy.stats().lost == before && waiting.elapsed() < Duration::from_secs(20) {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            let stats = net.proxy.stats();
            Ok(format!("{} broadcast answers lost, then {} requests failed", stats.lost, stats.errored))
        }
    };
    let (purchases, faults) = with_chaos(&net, 4, 2, 200, None, WORKLOAD_TIMEOUT, chaos).await?;
    reconcile(&net, "rpc-lost-answer", faults, started, &purchases).await?.assert()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn node_stopped_with_sigstop_and_resumed() -> eyre::Result<()> {
    let started = Instant::now();
    let net = Net::start(&scenario_options(4, false, 7)).await?;
    let chaos = {
        let net = net.clone();
        async move {
            let mut rng = Rng(7);
            for _ in 0..3 {
                tokio::time::sleep(rng.millis(800, 2000)).await;
                net.signal_node("STOP")?;
                tokio::time::sleep(Duration::from_secs(3)).await;
                net.signal_node("CONT")?;
            }
            Ok("anvil SIGSTOPped 3 × 3 s".to_owned())
        }
    };
    let (purchases, faults) = with_chaos(&net, 4, 2, 200, None, WORKLOAD_TIMEOUT, chaos).await?;
    reconcile(&net, "node-sigstop", faults, started, &purchases).await?.assert()
}

/// POSTs `request` to the facilitator's `/settle` over a raw connection and hangs up after `after`.
async fn settle_and_hang_up(net: &Net, request: &VerifyRequest, after: Duration) -> eyre::Result<()> {
    use tokio::io::AsyncWriteExt;
    let body = serde_json::to_vec(request)?;
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", net.facilitator_port)).await?;
    let head = format!(
        "POST /settle HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        net.facilitator_port,
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&body).await?;
    stream.flush().await?;
    tokio::time::sleep(after).await;
    drop(stream);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clients_hanging_up_during_settle() -> eyre::Result<()> {
    let started = Instant::now();
    let net = Net::start(&Options { max_tries: 2, ..scenario_options(2, true, 8) }).await?;
    let mut rng = Rng(8);
    let mut purchases = Vec::new();
    let disconnects = 16;
    for i in 0..disconnects {
        let paywall = &net.paywalls[i % 2];
        let path = format!("/report?direct={i}");
        let offer = net.offer(paywall.port, &path).await?;
        let scheme = if paywall.invoices { invoice::SCHEME } else { exact::SCHEME };
        let (payment, requirements, nonce) = net.sign(&offer, scheme)?;
        let mut purchase = Purchase::new(format!("hung-up settle {i} ({scheme})"), net.direct.address(), paywall.payee);
        purchase.url = Some(offer.resource.url.clone());
        purchase.nonces.extend(nonce);
        purchase.expect_served = false;
        purchase.tries = 1;
        // Half of them while the node is slow: the settle is then surely in flight when the client goes.
        if i % 2 == 1 {
            net.proxy.hold_for(Duration::from_millis(150));
        }
        let request =
            VerifyRequest { x402_version: X402_V2, payment_payload: payment, payment_requirements: requirements };
        settle_and_hang_up(&net, &request, rng.millis(1, 60)).await?;
        purchases.push(purchase);
    }
    // Later settlements are not stuck behind them: every agent's purchases go through, each within its tries.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let done = Arc::new(AtomicBool::new(true));
    let later = tokio::time::timeout(WORKLOAD_TIMEOUT, stream(&net, 2, 2, 2, done, None)).await?;
    let stuck: Vec<&Purchase> = later.iter().filter(|p| p.gave_up).collect();
    purchases.extend(later.iter().cloned());
    let r = reconcile(
        &net,
        "client-hangs-up-during-settle",
        format!("{disconnects} clients hung up 1–60 ms into /settle"),
        started,
        &purchases,
    )
    .await?;
    let table = r.table();
    eyre::ensure!(
        stuck.is_empty(),
        "settlements after the hung-up clients were stuck: {}\n{table}",
        stuck.iter().map(|p| format!("{} ({})", p.label, p.tries_said())).collect::<Vec<_>>().join(" | ")
    );
    r.assert()
}

/// A paywall of the test's own (the paywall library, as `quittance serve` uses it) in front of a handler that
/// counts its runs per resource and says which run it is: a stored answer replayed is then told from a
/// second run.
struct CountingPaywall {
    port: u16,
    runs: Arc<std::sync::Mutex<BTreeMap<String, u64>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for CountingPaywall {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CountingPaywall {
    /// Kept in one place: the paywall's price is a struct other work may grow.
    async fn start(net: &Net, pay_to: Address, settle_first: bool) -> eyre::Result<Self> {
        use axum::{Json, Router, http::Uri, routing::get};
        use quittance_paywall::{HttpFacilitator, InvoiceIssuer, Paywall, Price};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let facilitator = HttpFacilitator::new(format!("{}/", net.facilitator_url()).parse()?);
        let paywall = Paywall::new(Arc::new(facilitator), format!("http://127.0.0.1:{port}"));
        let price = Price {
            network: "eip155:31337".into(),
            asset: net.token,
            asset_name: "USD Coin".into(),
            asset_version: "2".into(),
            amount: U256::from(PRICE),
            pay_to,
            max_timeout_seconds: 120,
            description: "A counted report".into(),
            mime_type: "application/json".into(),
            invoices: Some(InvoiceIssuer {
                registry: net.registry,
                signer: PrivateKeySigner::from(net.anvil.keys()[2].clone()),
                validity_seconds: 600,
            }),
            settle_before_serving: settle_first,
            channels: None,
            cross_chain: vec![],
        };
        let runs = Arc::new(std::sync::Mutex::new(BTreeMap::<String, u64>::new()));
        let counter = runs.clone();
        let handler = move |uri: Uri| {
            let counter = counter.clone();
            async move {
                let run = {
                    let mut runs = counter.lock().unwrap_or_else(|p| p.into_inner());
                    let run = runs.entry(uri.to_string()).or_default();
                    *run += 1;
                    *run
                };
                Json(json!({"report": "markets are up", "resource": uri.to_string(), "run": run}))
            }
        };
        let app = Router::new().route("/report", get(handler).layer(paywall.price(price)));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { port, runs, task })
    }

    fn runs(&self, path: &str) -> u64 {
        self.runs.lock().unwrap_or_else(|p| p.into_inner()).get(path).copied().unwrap_or_default()
    }
}

/// Sends `copies` copies of one PAYMENT-SIGNATURE to `port` at once; the answers as received.
async fn send_copies(port: u16, path: &str, payment: &PaymentPayload, copies: usize) -> eyre::Result<Vec<Answer>> {
    let header = encode_header(payment);
    let client = reqwest::Client::builder().timeout(TRY_TIMEOUT).build()?;
    let sends = (0..copies).map(|_| {
        let (client, header) = (client.clone(), header.clone());
        let url = format!("http://127.0.0.1:{port}{path}");
        async move {
            let response = client.get(url).header(PAYMENT_SIGNATURE, header).send().await?;
            let status = response.status().as_u16();
            let receipt = response
                .headers()
                .get(PAYMENT_RESPONSE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| decode_header::<Value>(v).ok())
                .unwrap_or(Value::Null);
            let text = response.text().await?;
            let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
            Ok::<_, reqwest::Error>(Answer { status, body, receipt })
        }
    });
    let mut answers = Vec::new();
    for answer in futures_join_all(sends).await {
        match answer {
            Ok(answer) => answers.push(answer),
            Err(err) => answers.push(Answer { status: 0, body: Value::String(err.to_string()), receipt: Value::Null }),
        }
    }
    Ok(answers)
}

/// Runs futures at once (on the runtime) and collects their outputs in order.
async fn futures_join_all<F>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut outputs = Vec::new();
    for handle in handles {
        if let Ok(output) = handle.await {
            outputs.push(output);
        }
    }
    outputs
}

/// One payment of `scheme` for `path` at `port`, signed by the test; `copies` sent at once, then `replays`
/// more one after the other. Returns the purchase and a note on what the copies got.
async fn one_payment_many_times(
    net: &Net,
    port: u16,
    payee: Address,
    path: &str,
    scheme: &str,
    (copies, replays): (usize, usize),
    label: String,
) -> eyre::Result<(Purchase, String)> {
    let offer = net.offer(port, path).await?;
    let (payment, _, nonce) = net.sign(&offer, scheme)?;
    let mut answers = send_copies(port, path, &payment, copies).await?;
    for _ in 0..replays {
        answers.extend(send_copies(port, path, &payment, 1).await?);
    }
    let mut purchase = Purchase::new(label, net.direct.address(), payee);
    purchase.url = Some(offer.resource.url.clone());
    purchase.nonces.extend(nonce);
    purchase.tries = (copies + replays) as u32;
    let statuses: Vec<String> = answers.iter().map(|a| a.status.to_string()).collect();
    let reasons: BTreeSet<String> = answers
        .iter()
        .filter(|a| a.status != 200)
        .map(|a| a.body["error"].as_str().unwrap_or_default().to_owned())
        .collect();
    purchase.notes.push(format!("answers {}", statuses.join(",")));
    let note = format!("{}: answers [{}] refusals {:?}", purchase.label, statuses.join(","), reasons);
    purchase.answers = answers.into_iter().filter(|a| a.status == 200).collect();
    Ok((purchase, note))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_payment_signature_sent_concurrently() -> eyre::Result<()> {
    let started = Instant::now();
    let net = Net::start(&scenario_options(1, false, 9)).await?;
    let mut purchases = Vec::new();
    let mut notes = Vec::new();
    // The paywall processes: an invoice at the first, `exact` at the second; 2, 3 and 4 copies.
    for (round, copies) in [2usize, 3, 4].into_iter().enumerate() {
        for (i, paywall) in net.paywalls.iter().enumerate() {
            let scheme = if paywall.invoices { invoice::SCHEME } else { exact::SCHEME };
            let path = format!("/report?concurrent={round}");
            let label = format!("{copies} copies of one {scheme} payment at paywall {i}");
            let (purchase, note) =
                one_payment_many_times(&net, paywall.port, paywall.payee, &path, scheme, (copies, 0), label).await?;
            notes.push(note);
            purchases.push(purchase);
        }
    }
    // The test's own paywall counts the handler's runs: serve-after-verify (as `quittance serve`) and
    // settle-first routes, both schemes.
    for settle_first in [false, true] {
        let payee = PrivateKeySigner::from_bytes(&keccak256(format!("counting payee {settle_first}")))?.address();
        let counting = CountingPaywall::start(&net, payee, settle_first).await?;
        for (round, scheme) in [invoice::SCHEME, exact::SCHEME].into_iter().enumerate() {
            let path = format!("/report?counted={round}");
            let label = format!("4 copies of one {scheme} payment, counted, settle-first={settle_first}");
            let (mut purchase, note) =
                one_payment_many_times(&net, counting.port, payee, &path, scheme, (4, 0), label).await?;
            purchase.executions = Some(counting.runs(&path));
            notes.push(format!("{note}; handler ran {}", counting.runs(&path)));
            purchases.push(purchase);
        }
    }
    for note in &notes {
        println!("  {note}");
    }
    let r = reconcile(
        &net,
        "same-signature-concurrently",
        "2–4 copies of one PAYMENT-SIGNATURE at once".into(),
        started,
        &purchases,
    )
    .await?;
    r.assert()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn settle_replayed_after_success() -> eyre::Result<()> {
    let started = Instant::now();
    let net = Net::start(&scenario_options(1, false, 10)).await?;
    let client = reqwest::Client::builder().timeout(TRY_TIMEOUT).build()?;
    let mut purchases = Vec::new();
    let mut notes = Vec::new();
    // At the facilitator: /settle twice for one payment. The first is a success; the second must not be (a
    // settle-first server would serve the replay): it names the settling transaction, with `settledBefore`.
    for (i, paywall) in net.paywalls.iter().enumerate() {
        let scheme = if paywall.invoices { invoice::SCHEME } else { exact::SCHEME };
        let path = format!("/report?settled-twice={i}");
        let offer = net.offer(paywall.port, &path).await?;
        let (payment, requirements, nonce) = net.sign(&offer, scheme)?;
        let request =
            VerifyRequest { x402_version: X402_V2, payment_payload: payment, payment_requirements: requirements };
        let mut outcomes = Vec::new();
        let mut answers = Vec::new();
        for _ in 0..2 {
            let answer: Value =
                client.post(format!("{}/settle", net.facilitator_url())).json(&request).send().await?.json().await?;
            outcomes.push(format!(
                "success={} tx={:.10}",
                answer["success"],
                answer["transaction"].as_str().unwrap_or_default()
            ));
            answers.push(answer);
        }
        eyre::ensure!(answers[0]["success"] == true, "the first /settle settles: {}", answers[0]);
        eyre::ensure!(
            answers[1]["success"] == false
                && answers[1]["extra"]["settledBefore"] == true
                && answers[1]["transaction"] == answers[0]["transaction"],
            "a replayed /settle is not a success, and names the settling transaction: {}",
            answers[1]
        );
        notes.push(format!("/settle of one {scheme} payment twice: {}", outcomes.join(" then ")));
        let mut purchase = Purchase::new(
            format!("{scheme} payment settled twice at the facilitator"),
            net.direct.address(),
            paywall.payee,
        );
        purchase.url = Some(offer.resource.url.clone());
        purchase.nonces.extend(nonce);
        purchase.expect_served = false;
        purchases.push(purchase);
    }
    // At the paywalls: a PAYMENT-SIGNATURE served once, then sent again, three times.
    for (i, paywall) in net.paywalls.iter().enumerate() {
        let scheme = if paywall.invoices { invoice::SCHEME } else { exact::SCHEME };
        let label = format!("one {scheme} payment replayed 3 times at paywall {i}");
        let (purchase, note) =
            one_payment_many_times(&net, paywall.port, paywall.payee, "/report?replayed", scheme, (1, 3), label)
                .await?;
        notes.push(note);
        purchases.push(purchase);
    }
    for settle_first in [true, false] {
        let payee = PrivateKeySigner::from_bytes(&keccak256(format!("replay payee {settle_first}")))?.address();
        let counting = CountingPaywall::start(&net, payee, settle_first).await?;
        for (round, scheme) in [invoice::SCHEME, exact::SCHEME].into_iter().enumerate() {
            let path = format!("/report?replayed={round}");
            let label = format!("one {scheme} payment replayed 3 times, counted, settle-first={settle_first}");
            let (mut purchase, note) =
                one_payment_many_times(&net, counting.port, payee, &path, scheme, (1, 3), label).await?;
            purchase.executions = Some(counting.runs(&path));
            notes.push(format!("{note}; handler ran {}", counting.runs(&path)));
            purchases.push(purchase);
        }
    }
    for note in &notes {
        println!("  {note}");
    }
    let r = reconcile(
        &net,
        "settle-replayed-after-success",
        "/settle and PAYMENT-SIGNATURE replayed after success".into(),
        started,
        &purchases,
    )
    .await?;
    r.assert()
}

/// The long campaign: 8 agents, 100 facilitator SIGKILLs, paywall SIGKILLs, agent SIGKILLs and RPC faults at
/// once. Runs only with `QUITTANCE_FAULT_CAMPAIGN=1`; prints its figures.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn campaign() -> eyre::Result<()> {
    if !campaign_enabled() {
        println!("set QUITTANCE_FAULT_CAMPAIGN=1 to run the fault campaign");
        return Ok(());
    }
    let kills: u32 = std::env::var("QUITTANCE_FAULT_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let agents: usize = std::env::var("QUITTANCE_FAULT_AGENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(8);
    let started = Instant::now();
    let net = Net::start(&scenario_options(agents, true, 100)).await?;
    let chaos = {
        let net = net.clone();
        async move {
            let stop = Arc::new(AtomicBool::new(false));
            let rpc = {
                let (net, stop) = (net.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut rng = Rng(101);
                    let mut faults = 0u32;
                    while !stop.load(Ordering::SeqCst) && faults < 1000 {
                        tokio::time::sleep(rng.millis(2000, 6000)).await;
                        faults += 1;
                        match rng.below(3) {
                            0 => net.proxy.refuse_for(Duration::from_secs(3)),
                            1 => net.proxy.hold_for(Duration::from_secs(3)),
                            _ => net.proxy.lose_send_answers(1, 2),
                        }
                    }
                })
            };
            let paywalls = tokio::spawn(kill_paywalls(net.clone(), kills / 5, 102));
            let facilitator = kill_facilitator(net.clone(), kills, 103, (150, 900)).await;
            let paywalls = paywalls.await?;
            stop.store(true, Ordering::SeqCst);
            rpc.abort();
            net.proxy.pass_through();
            let stats = net.proxy.stats();
            Ok(format!(
                "{}, {}, RPC: {} requests refused, {} held, {} answers lost, {} failed",
                facilitator?, paywalls?, stats.refused, stats.held, stats.lost, stats.errored
            ))
        }
    };
    let (purchases, faults) = with_chaos(&net, agents, 2, 10_000, Some(104), Duration::from_secs(1800), chaos).await?;
    let faults = format!("{faults}, {} agent SIGKILLs", net.agent_kills.load(Ordering::SeqCst));
    let r = reconcile(&net, "campaign", faults, started, &purchases).await?;
    println!(
        "campaign figures: {} payments by {agents} agents, {kills} facilitator kills, {} charges, {} served, {} double charges, {} paid not served, {} served without payment, {:.0} s",
        r.purchases,
        r.charges,
        r.served_purchases,
        r.double_charges,
        r.paid_not_served,
        r.served_without_payment,
        r.seconds
    );
    r.assert()
}
