//! A JSON-RPC fault proxy: a loopback HTTP server in front of a node (anvil) that passes requests through,
//! or injects the faults a real network has, as a test tells it through [`RpcProxy`]:
//!
//! - **refuse** connections for a period: the listening socket is closed (a client gets "connection
//!   refused"), and a request arriving on a connection opened before is dropped without an answer and
//!   without reaching the node;
//! - **hold** every request for a period, or until released: a frozen node (requests wait, then go through);
//! - **lose the answer** to the next N `eth_sendRawTransaction` requests: the request reaches the node (the
//!   transaction is in its pool, mined at once on anvil), then the client's connection is dropped without a
//!   reply; optionally the next M requests after each loss are answered `503 Service Unavailable` without
//!   reaching the node;
//! - **fail a fraction** of requests with a transport error (the connection dropped, the node not asked),
//!   drawn from a seeded generator so that a run is repeatable.
//!
//! A JSON-RPC batch (alloy may batch) counts each of its methods, and is an `eth_sendRawTransaction`
//! request when any of its calls is one. What the proxy saw is counted per method ([`RpcProxy::stats`]).

use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, StatusCode, body::Bytes, service::service_fn};
use hyper_util::rt::TokioIo;
use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::{net::TcpListener, sync::watch, task::JoinHandle, time::Instant};

/// The JSON-RPC method that broadcasts a signed transaction.
pub const SEND_RAW_TRANSACTION: &str = "eth_sendRawTransaction";

/// How long the proxy waits for the node's answer before dropping the client's connection.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(120);

/// How long a "for ever" fault lasts when nobody ends it: a test that forgets stops by itself.
const FOREVER: Duration = Duration::from_secs(3600);

/// What the proxy saw and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Requests seen, per JSON-RPC method (each call of a batch counted).
    pub methods: BTreeMap<String, u64>,
    /// HTTP requests seen (a batch is one).
    pub requests: u64,
    /// Batches among them.
    pub batches: u64,
    /// Requests forwarded to the node and answered.
    pub forwarded: u64,
    /// Requests dropped unanswered while refusing, not forwarded.
    pub refused: u64,
    /// Requests held before being let through.
    pub held: u64,
    /// `eth_sendRawTransaction` requests forwarded whose answer was then lost.
    pub lost: u64,
    /// Requests answered `503` after a lost answer, not forwarded.
    pub errored: u64,
    /// Requests dropped by the random fraction, not forwarded.
    pub failed: u64,
    /// Requests whose forwarding to the node failed (the client's connection was dropped).
    pub upstream_failures: u64,
}

impl ProxyStats {
    /// How many calls of `method` were seen.
    pub fn calls(&self, method: &str) -> u64 {
        self.methods.get(method).copied().unwrap_or_default()
    }
}

#[derive(Debug, Default)]
struct Faults {
    /// Refusing until then.
    refuse_until: Option<Instant>,
    /// Holding requests until then.
    hold_until: Option<Instant>,
    /// Answers of `eth_sendRawTransaction` still to lose.
    lose_sends: u64,
    /// Requests to answer `503` after each lost answer.
    errors_after_loss: u64,
    /// Requests still to answer `503`.
    pending_errors: u64,
    /// The fraction of requests to fail, in [0, 1].
    fail_fraction: f64,
    /// The generator's state (splitmix64).
    rng: u64,
}

impl Faults {
    fn refusing(&self, now: Instant) -> Option<Instant> {
        self.refuse_until.filter(|until| *until > now)
    }

    fn holding(&self, now: Instant) -> Option<Instant> {
        self.hold_until.filter(|until| *until > now)
    }

    /// The next draw in [0, 1) (splitmix64: deterministic for a seed).
    fn draw(&mut self) -> f64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Debug)]
struct Shared {
    upstream: reqwest::Url,
    client: reqwest::Client,
    faults: Mutex<Faults>,
    stats: Mutex<ProxyStats>,
    /// Bumped at every change of the faults, to wake whoever waits on them.
    changed: watch::Sender<u64>,
    /// The `eth_sendRawTransaction` requests seen, for a test that acts when one arrives.
    sends: watch::Sender<u64>,
}

impl Shared {
    fn faults<T>(&self, f: impl FnOnce(&mut Faults) -> T) -> T {
        let mut faults = self.faults.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut faults)
    }

    fn count(&self, f: impl FnOnce(&mut ProxyStats)) {
        let mut stats = self.stats.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut stats)
    }

    fn change(&self, f: impl FnOnce(&mut Faults)) {
        self.faults(f);
        self.changed.send_modify(|generation| *generation += 1);
    }

    /// Waits until `until` passes or the faults change, whichever is first.
    async fn wait_until(&self, until: Instant) {
        let mut changed = self.changed.subscribe();
        tokio::select! {
            _ = tokio::time::sleep_until(until) => {}
            _ = changed.changed() => {}
        }
    }
}

/// A running fault proxy. It stops when dropped.
#[derive(Debug)]
pub struct RpcProxy {
    shared: Arc<Shared>,
    address: SocketAddr,
    acceptor: JoinHandle<()>,
}

impl Drop for RpcProxy {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

impl RpcProxy {
    /// Starts a proxy on a free loopback port in front of the JSON-RPC endpoint `upstream`, passing every
    /// request through.
    pub async fn start(upstream: reqwest::Url) -> eyre::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let client = reqwest::Client::builder().timeout(UPSTREAM_TIMEOUT).build()?;
        let shared = Arc::new(Shared {
            upstream,
            client,
            faults: Mutex::new(Faults::default()),
            stats: Mutex::new(ProxyStats::default()),
            changed: watch::channel(0).0,
            sends: watch::channel(0).0,
        });
        let acceptor = tokio::spawn(accept_loop(shared.clone(), listener, address));
        Ok(Self { shared, address, acceptor })
    }

    /// The proxy's address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The proxy's URL, to give a client instead of the node's.
    pub fn url(&self) -> reqwest::Url {
        format!("http://{}", self.address).parse().expect("a loopback URL")
    }

    /// Ends every fault: requests pass through (held requests go on, connections are accepted again).
    pub fn pass_through(&self) {
        self.shared.change(|f| {
            let rng = f.rng;
            *f = Faults { rng, ..Faults::default() };
        });
    }

    /// Refuses connections for `period` (the listening socket closed; requests on open connections dropped
    /// unanswered and not forwarded), then accepts them again.
    pub fn refuse_for(&self, period: Duration) {
        let until = Instant::now() + period;
        self.shared.change(|f| f.refuse_until = Some(until));
    }

    /// Refuses connections until [`RpcProxy::accept`] (at most an hour).
    pub fn refuse(&self) {
        self.refuse_for(FOREVER);
    }

    /// Accepts connections again.
    pub fn accept(&self) {
        self.shared.change(|f| f.refuse_until = None);
    }

    /// Holds every request for `period` (a frozen node), then lets them through.
    pub fn hold_for(&self, period: Duration) {
        let until = Instant::now() + period;
        self.shared.change(|f| f.hold_until = Some(until));
    }

    /// Holds every request until [`RpcProxy::release`] (at most an hour).
    pub fn hold(&self) {
        self.hold_for(FOREVER);
    }

    /// Lets held requests through, and stops holding.
    pub fn release(&self) {
        self.shared.change(|f| f.hold_until = None);
    }

    /// Loses the answer to the next `count` `eth_sendRawTransaction` requests (forwarded, then the client's
    /// connection dropped without a reply); after each loss, the next `then_errors` requests of any method
    /// are answered `503` without being forwarded.
    pub fn lose_send_answers(&self, count: u64, then_errors: u64) {
        self.shared.change(|f| {
            f.lose_sends = count;
            f.errors_after_loss = then_errors;
        });
    }

    /// Fails `fraction` of the requests (0 to 1) with a transport error (the connection dropped, the node not
    /// asked), drawn from a generator seeded with `seed`.
    pub fn fail_fraction(&self, fraction: f64, seed: u64) {
        self.shared.change(|f| {
            f.fail_fraction = fraction.clamp(0.0, 1.0);
            f.rng = seed;
        });
    }

    /// Waits until the next `eth_sendRawTransaction` request arrives (before it is forwarded), at most
    /// `timeout`; whether one came.
    pub async fn next_send(&self, timeout: Duration) -> bool {
        let mut sends = self.shared.sends.subscribe();
        sends.borrow_and_update();
        tokio::time::timeout(timeout, sends.changed()).await.is_ok_and(|changed| changed.is_ok())
    }

    /// What the proxy saw and did so far.
    pub fn stats(&self) -> ProxyStats {
        self.shared.stats.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }
}

/// Accepts connections on `address`, closing the socket while refusing and binding it again after.
async fn accept_loop(shared: Arc<Shared>, listener: TcpListener, address: SocketAddr) {
    let mut listener = Some(listener);
    let mut changed = shared.changed.subscribe();
    loop {
        if let Some(until) = shared.faults(|f| f.refusing(Instant::now())) {
            listener = None;
            shared.wait_until(until).await;
            continue;
        }
        let bound = match listener.take() {
            Some(bound) => bound,
            None => match TcpListener::bind(address).await {
                Ok(bound) => bound,
                Err(_) => {
                    // The port is taken for a moment (a socket closing): try again shortly.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        tokio::select! {
            accepted = bound.accept() => {
                if let Ok((stream, _)) = accepted {
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        let service = service_fn(move |request| handle(shared.clone(), request));
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
                listener = Some(bound);
            }
            _ = changed.changed() => listener = Some(bound),
        }
    }
}

/// Why the proxy drops a connection without answering.
#[derive(Debug)]
struct Dropped(&'static str);

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "fault proxy dropped the connection: {}", self.0)
    }
}

impl std::error::Error for Dropped {}

/// The JSON-RPC methods of a request body (one, or each call of a batch), and whether it is a batch.
fn methods(body: &[u8]) -> (Vec<String>, bool) {
    let method = |call: &serde_json::Value| call.get("method").and_then(|m| m.as_str()).map(str::to_owned);
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Array(calls)) => (calls.iter().filter_map(method).collect(), true),
        Ok(call) => (method(&call).into_iter().collect(), false),
        Err(_) => (Vec::new(), false),
    }
}

async fn handle(
    shared: Arc<Shared>,
    request: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Dropped> {
    let body = request.into_body().collect().await.map_err(|_| Dropped("unreadable request"))?.to_bytes();
    let (methods, batch) = methods(&body);
    let sends = methods.iter().any(|m| m == SEND_RAW_TRANSACTION);
    shared.count(|s| {
        s.requests += 1;
        s.batches += u64::from(batch);
        for method in &methods {
            *s.methods.entry(method.clone()).or_default() += 1;
        }
    });
    if sends {
        shared.sends.send_modify(|n| *n += 1);
    }

    // Held: wait while holding (a refusal that starts meanwhile drops the request).
    let mut counted_hold = false;
    loop {
        if shared.faults(|f| f.refusing(Instant::now())).is_some() {
            shared.count(|s| s.refused += 1);
            return Err(Dropped("refusing"));
        }
        let Some(until) = shared.faults(|f| f.holding(Instant::now())) else { break };
        if !counted_hold {
            counted_hold = true;
            shared.count(|s| s.held += 1);
        }
        shared.wait_until(until).await;
    }

    enum Fate {
        Forward { lose: bool },
        Error,
        Fail,
    }
    let fate = shared.faults(|f| {
        if f.pending_errors > 0 {
            f.pending_errors -= 1;
            return Fate::Error;
        }
        if f.fail_fraction > 0.0 && f.draw() < f.fail_fraction {
            return Fate::Fail;
        }
        let lose = sends && f.lose_sends > 0;
        if lose {
            f.lose_sends -= 1;
        }
        Fate::Forward { lose }
    });
    let lose = match fate {
        Fate::Error => {
            shared.count(|s| s.errored += 1);
            let answer = Response::builder()
                .status(StatusCode::SERVICE_UNAVAILABLE)
                .body(Full::new(Bytes::from_static(b"fault proxy: service unavailable")))
                .map_err(|_| Dropped("response"))?;
            return Ok(answer);
        }
        Fate::Fail => {
            shared.count(|s| s.failed += 1);
            return Err(Dropped("random failure"));
        }
        Fate::Forward { lose } => lose,
    };

    let forwarded = async {
        let response = shared
            .client
            .post(shared.upstream.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.clone())
            .send()
            .await?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await?;
        Ok::<_, reqwest::Error>((status, bytes))
    };
    let (status, bytes) = match forwarded.await {
        Ok(answer) => answer,
        Err(_) => {
            shared.count(|s| s.upstream_failures += 1);
            return Err(Dropped("node unreachable"));
        }
    };
    if lose {
        shared.count(|s| s.lost += 1);
        shared.faults(|f| f.pending_errors += f.errors_after_loss);
        return Err(Dropped("answer lost"));
    }
    shared.count(|s| s.forwarded += 1);
    Response::builder()
        .status(status)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(bytes))
        .map_err(|_| Dropped("response"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A fake node: answers every call with its method's name, and counts the HTTP requests that reach it.
    async fn fake_node() -> eyre::Result<(reqwest::Url, Arc<AtomicU64>, JoinHandle<()>)> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?).parse()?;
        let reached = Arc::new(AtomicU64::new(0));
        let counter = reached.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let counter = counter.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                        let counter = counter.clone();
                        async move {
                            counter.fetch_add(1, Ordering::SeqCst);
                            let body = request.into_body().collect().await?.to_bytes();
                            let answer =
                                |call: &Value| json!({"jsonrpc": "2.0", "id": call["id"], "result": call["method"]});
                            let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                            let reply = match &value {
                                Value::Array(calls) => Value::Array(calls.iter().map(answer).collect()),
                                call => answer(call),
                            };
                            Ok::<_, hyper::Error>(Response::new(Full::new(Bytes::from(reply.to_string()))))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok((url, reached, task))
    }

    async fn call(client: &reqwest::Client, proxy: &RpcProxy, method: &str) -> Result<Value, String> {
        let response = client
            .post(proxy.url())
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": []}))
            .send()
            .await
            .map_err(|e| format!("transport: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("status {}", response.status()));
        }
        response.json().await.map_err(|e| format!("body: {e}"))
    }

    #[tokio::test]
    async fn passes_calls_and_batches_through_and_counts_them() -> eyre::Result<()> {
        let (node, reached, _node) = fake_node().await?;
        let proxy = RpcProxy::start(node).await?;
        let client = reqwest::Client::new();
        assert_eq!(call(&client, &proxy, "eth_chainId").await.map_err(eyre::Report::msg)?["result"], "eth_chainId");
        let batch = json!([
            {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber"},
            {"jsonrpc": "2.0", "id": 2, "method": SEND_RAW_TRANSACTION, "params": ["0x00"]}
        ]);
        let answer: Value = client.post(proxy.url()).json(&batch).send().await?.json().await?;
        assert_eq!(answer[1]["result"], SEND_RAW_TRANSACTION);
        let stats = proxy.stats();
        assert_eq!((stats.requests, stats.batches, stats.forwarded), (2, 1, 2));
        assert_eq!(
            (stats.calls("eth_chainId"), stats.calls("eth_blockNumber"), stats.calls(SEND_RAW_TRANSACTION)),
            (1, 1, 1)
        );
        assert_eq!(reached.load(Ordering::SeqCst), 2);
        Ok(())
    }

    #[tokio::test]
    async fn refuses_connections_for_a_period_then_accepts_them_again() -> eyre::Result<()> {
        let (node, reached, _node) = fake_node().await?;
        let proxy = RpcProxy::start(node).await?;
        let client = reqwest::Client::new();
        call(&client, &proxy, "eth_chainId").await.map_err(eyre::Report::msg)?;
        proxy.refuse_for(Duration::from_millis(600));
        tokio::time::sleep(Duration::from_millis(50)).await;
        // A new connection is refused by the system (nothing listens); a kept-alive one is dropped unanswered.
        let fresh = reqwest::Client::new();
        let refused = fresh.post(proxy.url()).body("{}").send().await.expect_err("refused");
        assert!(refused.is_connect(), "{refused}");
        assert!(call(&client, &proxy, "eth_chainId").await.is_err());
        assert_eq!(reached.load(Ordering::SeqCst), 1, "nothing reached the node while refusing");
        tokio::time::sleep(Duration::from_millis(700)).await;
        call(&fresh, &proxy, "eth_chainId").await.map_err(eyre::Report::msg)?;
        // Refused until told otherwise.
        proxy.refuse();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(call(&reqwest::Client::new(), &proxy, "eth_chainId").await.is_err());
        proxy.accept();
        tokio::time::sleep(Duration::from_millis(50)).await;
        call(&reqwest::Client::new(), &proxy, "eth_chainId").await.map_err(eyre::Report::msg)?;
        assert!(proxy.stats().refused >= 1);
        Ok(())
    }

    #[tokio::test]
    async fn holds_requests_until_released_or_for_a_period() -> eyre::Result<()> {
        let (node, reached, _node) = fake_node().await?;
        let proxy = Arc::new(RpcProxy::start(node).await?);
        let client = reqwest::Client::new();
        proxy.hold();
        let waiting = {
            let (proxy, client) = (proxy.clone(), client.clone());
            tokio::spawn(async move { call(&client, &proxy, "eth_blockNumber").await })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!waiting.is_finished(), "a held request waits");
        assert_eq!(reached.load(Ordering::SeqCst), 0);
        proxy.release();
        waiting.await?.map_err(eyre::Report::msg)?;
        assert_eq!(reached.load(Ordering::SeqCst), 1);

        proxy.hold_for(Duration::from_millis(300));
        let started = std::time::Instant::now();
        call(&client, &proxy, "eth_blockNumber").await.map_err(eyre::Report::msg)?;
        assert!(started.elapsed() >= Duration::from_millis(250), "{:?}", started.elapsed());
        assert_eq!(proxy.stats().held, 2);
        Ok(())
    }

    #[tokio::test]
    async fn loses_the_answer_to_sends_then_errors() -> eyre::Result<()> {
        let (node, reached, _node) = fake_node().await?;
        let proxy = RpcProxy::start(node).await?;
        let client = reqwest::Client::new();
        proxy.lose_send_answers(1, 2);
        // Other methods pass.
        call(&client, &proxy, "eth_chainId").await.map_err(eyre::Report::msg)?;
        let lost = call(&client, &proxy, SEND_RAW_TRANSACTION).await.expect_err("lost");
        assert!(lost.starts_with("transport"), "{lost}");
        assert_eq!(reached.load(Ordering::SeqCst), 2, "the lost send reached the node");
        for _ in 0..2 {
            assert_eq!(
                call(&client, &proxy, "eth_getTransactionReceipt").await,
                Err("status 503 Service Unavailable".into())
            );
        }
        assert_eq!(reached.load(Ordering::SeqCst), 2, "the errors did not reach it");
        // A test can wait for the next send.
        let proxy = Arc::new(proxy);
        let waiting = {
            let proxy = proxy.clone();
            tokio::spawn(async move { proxy.next_send(Duration::from_secs(5)).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        call(&client, &proxy, SEND_RAW_TRANSACTION).await.map_err(eyre::Report::msg)?;
        assert!(waiting.await?, "the send was seen");
        assert!(!proxy.next_send(Duration::from_millis(50)).await, "no other send came");
        // A batch holding a send is a send.
        proxy.lose_send_answers(1, 0);
        let batch = json!([{"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}, {"jsonrpc": "2.0", "id": 2, "method": SEND_RAW_TRANSACTION}]);
        assert!(client.post(proxy.url()).json(&batch).send().await.is_err());
        let stats = proxy.stats();
        assert_eq!((stats.lost, stats.errored, stats.calls(SEND_RAW_TRANSACTION)), (2, 2, 3));
        Ok(())
    }

    #[tokio::test]
    async fn fails_a_seeded_fraction_the_same_way_every_run() -> eyre::Result<()> {
        let (node, _reached, _node) = fake_node().await?;
        let mut runs = Vec::new();
        for _ in 0..2 {
            let proxy = RpcProxy::start(node.clone()).await?;
            proxy.fail_fraction(0.3, 42);
            let mut outcomes = Vec::new();
            for _ in 0..40 {
                // A fresh connection each time: a dropped one is not reused.
                outcomes.push(call(&reqwest::Client::new(), &proxy, "eth_call").await.is_ok());
            }
            let failed = outcomes.iter().filter(|ok| !**ok).count() as u64;
            assert_eq!(proxy.stats().failed, failed);
            assert!((4..=20).contains(&failed), "{failed} of 40 failed");
            runs.push(outcomes);
        }
        assert_eq!(runs[0], runs[1], "the same seed fails the same requests");
        Ok(())
    }
}
