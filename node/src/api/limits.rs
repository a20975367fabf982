//! The API's resource limits: how the HTTP server accepts and keeps connections.
//!
//! `axum::serve` keeps a connection that sends nothing open forever and accepts connections
//! until the process runs out of file descriptors (then `status` and `add` time out for
//! everyone). So the API is served by hyper's HTTP/1 connection builder directly, with:
//! - a **header-read timeout** (hyper's, on tokio's timer): a connection that does not send a
//!   whole request head within it is closed; it covers a connection that never sends a byte,
//!   one that sends its head slowly, and an idle keep-alive connection waiting for its next
//!   request (hyper arms it whenever it waits for a head). Response streams (`/v1/events`) are
//!   not limited by it.
//! - a **connection limit**: past it, a new connection is answered `503` with the JSON error
//!   body and closed at once (counted, `knack_integrity_faults_total{reason=
//!   "api_connections_refused"}`); the limit is also kept under half the process's open-file
//!   limit, so the API never starves the store and libp2p of descriptors.
//! - **request-head limits** answered with the JSON error body: a URI over `max_uri_bytes`
//!   gets `414`, headers over `max_header_bytes` in all (or over [`MAX_HEADERS`] of them) get
//!   `431`. hyper's own hard limits (a URI of 64 KiB, a head over [`HEAD_BUFFER_BYTES`]) lie
//!   above these and answer without a body.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use crate::metrics::Metrics;

/// Most header fields hyper parses in one request (ours answer 431 first, at
/// [`MAX_HEADERS`]).
const HYPER_MAX_HEADERS: usize = 256;
/// Most header fields a request may carry.
pub const MAX_HEADERS: usize = 100;
/// hyper's read buffer: a request head larger than this is refused by hyper itself.
pub const HEAD_BUFFER_BYTES: usize = 1 << 20;
/// How long an over-limit connection's refusal may take to write.
const REFUSAL_WRITE: Duration = Duration::from_secs(2);

/// The API's limits (`[api_limits]` in `knack.toml`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiLimits {
    /// Milliseconds a connection may take to send a request head, and may stay idle between
    /// two requests, before it is closed.
    pub header_read_timeout_ms: u64,
    /// Open API connections at most (also kept under half the open-file limit).
    pub max_connections: usize,
    /// Longest request URI, in bytes (longer: 414).
    pub max_uri_bytes: usize,
    /// Most bytes of request headers in all (more: 431).
    pub max_header_bytes: usize,
}

impl Default for ApiLimits {
    fn default() -> Self {
        ApiLimits {
            header_read_timeout_ms: 10_000,
            max_connections: 256,
            max_uri_bytes: 8 * 1024,
            max_header_bytes: 64 * 1024,
        }
    }
}

impl ApiLimits {
    /// The connection limit in force: the configured one, at most half the process's soft
    /// open-file limit, and at least 1.
    pub fn effective_max_connections(&self) -> usize {
        let files = open_file_limit().map_or(usize::MAX, |n| (n / 2) as usize);
        self.max_connections.min(files).max(1)
    }
}

/// The soft limit on open files of this process, if known (Linux: `/proc/self/limits`).
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The JSON error response of a refused request head.
fn refusal(status: StatusCode, kind: &'static str, error: String) -> Response {
    let body = axum::Json(serde_json::json!({ "error": error, "kind": kind }));
    let mut response = (status, body).into_response();
    response
        .extensions_mut()
        .insert(super::error::ErrorKind(kind));
    response
}

/// Middleware: answers 414 / 431 with the JSON error body for a request head over the limits.
pub(crate) async fn check_head(limits: Arc<ApiLimits>, request: Request, next: Next) -> Response {
    let uri = request.uri().to_string().len();
    if uri > limits.max_uri_bytes {
        return refusal(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!(
                "the request URI has {uri} bytes; at most {} are accepted",
                limits.max_uri_bytes
            ),
        );
    }
    let headers = request.headers();
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if headers.len() > MAX_HEADERS || bytes > limits.max_header_bytes {
        return refusal(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!(
                "the request has {} header fields and {bytes} bytes of headers; at most \
                 {MAX_HEADERS} fields and {} bytes are accepted",
                headers.len(),
                limits.max_header_bytes
            ),
        );
    }
    next.run(request).await
}

/// Serves `app` on `listener` under `limits` until `shutdown` completes, then lets open
/// requests finish (the caller bounds that wait).
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: &ApiLimits,
    metrics: Metrics,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let max = limits.effective_max_connections();
    let slots = Arc::new(Semaphore::new(max));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(limits.header_read_timeout_ms.max(1)))
        .max_headers(HYPER_MAX_HEADERS)
        .max_buf_size(HEAD_BUFFER_BYTES);
    let builder = Arc::new(builder);
    // Dropped receivers tell the loop every connection has ended.
    let (closing_tx, closing_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors or a connection reset before accept: wait a moment
                    // rather than spin.
                    tracing::warn!(error = %e, "API accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            Metrics::count(&metrics.integrity_faults, "api_connections_refused");
            tokio::spawn(refuse_connection(stream, max));
            continue;
        };
        let service = TowerToHyperService::new(app.clone());
        let builder = builder.clone();
        let mut closing = closing_rx.clone();
        tokio::spawn(async move {
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "API connection ended");
                    }
                }
                _ = closing.changed() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            drop(slot);
        });
    }
    drop(listener);
    let _ = closing_tx.send(true);
    drop(closing_rx);
    closing_tx.closed().await;
    Ok(())
}

/// Answers a connection over the limit with 503 and the JSON error body, and closes it.
async fn refuse_connection(mut stream: tokio::net::TcpStream, max: usize) {
    let body = serde_json::json!({
        "error": format!("too many open API connections (at most {max}); retry later"),
        "kind": "too_many_connections",
    })
    .to_string();
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\nretry-after: 1\r\n\r\n{body}",
        body.len()
    );
    let write = async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(REFUSAL_WRITE, write).await;
}
