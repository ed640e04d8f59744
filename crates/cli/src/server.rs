//! The HTTP server under `quittance facilitator` and `quittance serve`: an axum router served over HTTP/1.1
//! with bounds on everything a client controls, so slow, idle or numerous clients cannot hold the process.
//!
//! - **headers**: a connection that has started a request must send all of its headers within the header
//!   timeout (a slow-loris connection is closed), and the headers may take at most [`MAX_HEADER_BYTES`];
//! - **idle connections**: a connection waiting for its next request (a fresh one too) is closed after the
//!   idle timeout;
//! - **connections**: at most `max_connections` are open at once; beyond it, a new connection is answered
//!   `503` and closed at once, so the process holds a bounded number of descriptors;
//! - **time per request**: a request whose answer is not ready within the request timeout is answered `503`
//!   (its handler is dropped);
//! - **bodies**: each router bounds its bodies (`DefaultBodyLimit`).

use axum::{Json, Router, body::Body, extract::Request, http::StatusCode, middleware::Next, response::IntoResponse};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::{
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{Notify, Semaphore},
    time::Instant,
};
use tower::ServiceExt;

/// The most bytes a request's line and headers may take (an x402 payment header takes up to 16 KiB).
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// How long a request the facilitator serves may take by default: a settlement waits up to 30 s for its
/// receipt, after the chain requests that check it.
pub const FACILITATOR_REQUEST_TIMEOUT_SECS: u64 = 60;

/// How long a request the paywall serves may take by default: it asks the facilitator to verify and to settle,
/// each bounded by `--facilitator-timeout-secs` (default 40 s).
pub const PAYWALL_REQUEST_TIMEOUT_SECS: u64 = 90;

/// The connection bounds both services share, as command-line flags.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// The most connections open at once; a connection beyond it is answered 503 and closed at once.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// Seconds a client has to send a request's headers once it has started sending them.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout_secs: u64,
    /// Seconds a connection may wait for its next request (a new connection for its first) before it is
    /// closed.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout_secs: u64,
}

impl ServerArgs {
    /// These bounds, with `request_timeout_secs` for each request.
    pub fn limits(&self, request_timeout_secs: u64) -> Limits {
        Limits {
            max_connections: self.max_connections as usize,
            header_timeout: Duration::from_secs(self.header_timeout_secs),
            idle_timeout: Duration::from_secs(self.idle_timeout_secs),
            request_timeout: Duration::from_secs(request_timeout_secs.max(1)),
        }
    }
}

/// What [`serve`] bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most connections open at once.
    pub max_connections: usize,
    /// How long a connection may take to send a request's headers, from their first byte.
    pub header_timeout: Duration,
    /// How long a connection may wait for its next request.
    pub idle_timeout: Duration,
    /// How long a request may take to be answered.
    pub request_timeout: Duration,
}

/// Binds `address`, saying which address could not be bound and why (another process on the port, most
/// often).
pub async fn bind(address: std::net::SocketAddr) -> eyre::Result<TcpListener> {
    TcpListener::bind(address).await.map_err(|err| match err.kind() {
        std::io::ErrorKind::AddrInUse => {
            eyre::eyre!("cannot listen on {address}: another process uses it (pick another with --listen)")
        }
        _ => eyre::eyre!("cannot listen on {address}: {err}"),
    })
}

/// Serves `app` on `listener` within `limits`, until the process stops. Only a failure to accept that is not
/// about one connection (e.g. the listener closed) ends it; running out of descriptors waits a moment and
/// goes on.
pub async fn serve(listener: TcpListener, app: Router, limits: Limits) -> std::io::Result<()> {
    let timeout = limits.request_timeout;
    let app = app.layer(axum::middleware::from_fn(move |request: Request, next: Next| async move {
        match tokio::time::timeout(timeout, next.run(request)).await {
            Ok(response) => response,
            Err(_) => {
                let message = format!("the request did not finish within {}s", timeout.as_secs());
                (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({ "error": "timeout", "message": message })))
                    .into_response()
            }
        }
    }));
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(err) if is_connection_error(&err) => continue,
            Err(err) if is_resource_error(&err) => {
                tracing::warn!(%err, "cannot accept connections now; trying again shortly");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            Err(err) => return Err(err),
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            refuse(stream);
            continue;
        };
        let app = app.clone();
        tokio::spawn(async move {
            connection(stream, app, limits).await;
            drop(permit);
        });
    }
}

/// Answers a connection beyond the cap `503` if its buffer takes it now, and closes it.
fn refuse(stream: TcpStream) {
    const FULL: &[u8] =
        b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nretry-after: 1\r\nconnection: close\r\n\r\n";
    let _ = stream.try_write(FULL);
    tracing::debug!("too many connections: one refused");
}

/// Errors of one connection that `accept` reports: the next one is fine.
fn is_connection_error(err: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(err.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset | Interrupted)
}

/// Errors that say the process or the system is out of something (descriptors, memory) for now.
fn is_resource_error(err: &std::io::Error) -> bool {
    // EMFILE, ENFILE, ENOBUFS, ENOMEM.
    matches!(err.raw_os_error(), Some(24 | 23 | 105 | 12))
}

/// Serves one connection until it closes, or until the watchdog finds it over a time bound (dropping the
/// connection closes it).
async fn connection(stream: TcpStream, app: Router, limits: Limits) {
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched { inner: stream, activity: activity.clone() });
    let service = {
        let activity = activity.clone();
        hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let busy = Busy::start(activity.clone());
            let app = app.clone();
            async move {
                let response = app.oneshot(request.map(Body::new)).await?;
                Ok::<_, std::convert::Infallible>(response.map(|body| Tracked { body, _busy: busy }))
            }
        })
    };
    let mut http = hyper::server::conn::http1::Builder::new();
    // The watchdog bounds header reading and idle waits; hyper's own header timer (which counts from when the
    // connection starts waiting for a request) backs it up.
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout + limits.idle_timeout)
        .max_buf_size(MAX_HEADER_BYTES)
        .keep_alive(true);
    let served = http.serve_connection(io, service);
    tokio::select! {
        result = served => {
            if let Err(err) = result {
                tracing::debug!(%err, "connection ended with an error");
            }
        }
        reason = activity.expired(limits) => tracing::debug!(reason, "connection closed"),
    }
}

/// Where a connection is between requests.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for a request since then.
    Idle(Instant),
    /// Reading a request's headers since their first byte.
    Head(Instant),
    /// Serving this many requests (their answers not sent yet).
    Busy(usize),
}

/// A connection's phase, shared by its reads, its requests and its watchdog.
#[derive(Debug)]
struct Activity {
    phase: Mutex<Phase>,
    changed: Notify,
}

impl Activity {
    fn new() -> Self {
        Self { phase: Mutex::new(Phase::Idle(Instant::now())), changed: Notify::new() }
    }

    fn update(&self, change: impl FnOnce(Phase) -> Phase) {
        if let Ok(mut phase) = self.phase.lock() {
            *phase = change(*phase);
        }
        self.changed.notify_one();
    }

    fn phase(&self) -> Phase {
        self.phase.lock().map(|phase| *phase).unwrap_or(Phase::Busy(0))
    }

    /// Resolves when the connection has been idle, or reading headers, for too long.
    async fn expired(&self, limits: Limits) -> &'static str {
        loop {
            let changed = self.changed.notified();
            let deadline = match self.phase() {
                Phase::Idle(since) => Some((since + limits.idle_timeout, "idle for too long")),
                Phase::Head(since) => Some((since + limits.header_timeout, "headers not sent in time")),
                Phase::Busy(_) => None,
            };
            match deadline {
                Some((deadline, reason)) if Instant::now() >= deadline => return reason,
                Some((deadline, _)) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(deadline) => {}
                        _ = changed => {}
                    }
                }
                None => changed.await,
            }
        }
    }
}

/// A request being served: the connection is busy until its answer's body is sent or dropped.
#[derive(Debug)]
struct Busy(Arc<Activity>);

impl Busy {
    fn start(activity: Arc<Activity>) -> Self {
        activity.update(|phase| match phase {
            Phase::Busy(n) => Phase::Busy(n + 1),
            Phase::Idle(_) | Phase::Head(_) => Phase::Busy(1),
        });
        Self(activity)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.update(|phase| match phase {
            Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
            _ => Phase::Idle(Instant::now()),
        });
    }
}

/// An answer's body that keeps its connection busy until it is sent.
struct Tracked {
    body: Body,
    _busy: Busy,
}

impl hyper::body::Body for Tracked {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A connection's socket that marks when a request's first bytes arrive.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before && matches!(self.activity.phase(), Phase::Idle(_)) {
            self.activity.update(|phase| match phase {
                Phase::Idle(_) => Phase::Head(Instant::now()),
                other => other,
            });
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
