//! A small blocking client of one node's HTTP API (ureq), which enters the node's network
//! namespace when it has one.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::error::{Result, TestnetError};
use crate::netns;

/// Timeout of one API call.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Timeout of connecting.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How often an event follower checks whether it should hang up.
pub const EVENT_POLL: Duration = Duration::from_millis(200);

/// The part of `GET /v1/status` the testnet reads.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct NodeStatus {
    /// libp2p peer id.
    pub peer_id: String,
    /// Listen addresses.
    pub listen_addrs: Vec<String>,
    /// Connected peers.
    pub peers: Vec<String>,
    /// Per space.
    pub spaces: Vec<SpaceStatus>,
}

/// One space of a [`NodeStatus`].
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct SpaceStatus {
    /// Its name.
    pub name: String,
    /// State digest (hex).
    pub digest: String,
    /// Ops held.
    pub ops: u64,
    /// Procedures known.
    pub procedures: usize,
}

impl NodeStatus {
    /// The `default` space (every node joins it).
    pub fn default_space(&self) -> Option<&SpaceStatus> {
        self.spaces.iter().find(|s| s.name == "default")
    }
}

/// How a write ended, as far as the caller can know.
#[derive(Clone, Debug, PartialEq)]
pub enum WriteResult {
    /// 2xx: durable on the node.
    Acked(Value),
    /// An HTTP error status: refused, nothing written.
    Rejected(u16, String),
    /// The connection could not be made: nothing written.
    Unreachable(String),
    /// Sent, but no answer (the node died, a timeout): it may or may not be written.
    Uncertain(String),
}

/// A client of one node.
#[derive(Clone, Debug)]
pub struct NodeClient {
    name: String,
    base: String,
    token: String,
    netns: Option<String>,
    agent: ureq::Agent,
}

impl NodeClient {
    /// A client of the node `name` at `base` (`http://127.0.0.1:PORT`), inside `netns` if set.
    pub fn new(name: &str, base: &str, token: &str, netns: Option<&str>) -> NodeClient {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(CALL_TIMEOUT))
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .build()
            .into();
        NodeClient {
            name: name.to_owned(),
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            netns: netns.map(str::to_owned),
            agent,
        }
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The API base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The node's namespace, if any.
    pub fn netns(&self) -> Option<&str> {
        self.netns.as_deref()
    }

    /// The bearer token.
    pub fn token(&self) -> &str {
        &self.token
    }

    fn inside<T: Send>(&self, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
        match &self.netns {
            Some(ns) => netns::within(ns, f)?,
            None => f(),
        }
    }

    fn fail(&self, reason: impl std::fmt::Display) -> TestnetError {
        TestnetError::api(&self.name, reason.to_string())
    }

    /// `GET path` with the token; the body as text.
    pub fn get_text(&self, path: &str) -> Result<String> {
        let url = format!("{}{path}", self.base);
        self.inside(|| {
            let mut response = self
                .agent
                .get(&url)
                .header("Authorization", &format!("Bearer {}", self.token))
                .call()
                .map_err(|e| self.fail(format!("GET {path}: {e}")))?;
            let status = response.status().as_u16();
            let text = response
                .body_mut()
                .read_to_string()
                .map_err(|e| self.fail(format!("GET {path}: {e}")))?;
            if status >= 300 {
                return Err(self.fail(format!("GET {path}: {status} {text}")));
            }
            Ok(text)
        })
    }

    /// `GET path`, parsed as JSON.
    pub fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T> {
        let text = self.get_text(path)?;
        serde_json::from_str(&text).map_err(|e| self.fail(format!("GET {path}: {e}: {text}")))
    }

    /// `GET /v1/status`.
    pub fn status(&self) -> Result<NodeStatus> {
        self.get_json("/v1/status")
    }

    /// `GET /metrics` (Prometheus text).
    pub fn metrics(&self) -> Result<String> {
        self.get_text("/metrics")
    }

    /// `POST path` with a JSON body, classified as a [`WriteResult`].
    pub fn post(&self, path: &str, body: &Value) -> WriteResult {
        let url = format!("{}{path}", self.base);
        let sent = self.inside(|| {
            Ok(
                match self
                    .agent
                    .post(&url)
                    .header("Authorization", &format!("Bearer {}", self.token))
                    .send_json(body)
                {
                    Ok(mut response) => {
                        let status = response.status().as_u16();
                        let text = response.body_mut().read_to_string().unwrap_or_default();
                        if (200..300).contains(&status) {
                            WriteResult::Acked(serde_json::from_str(&text).unwrap_or(Value::Null))
                        } else {
                            WriteResult::Rejected(status, text)
                        }
                    }
                    Err(e) => classify(e),
                },
            )
        });
        sent.unwrap_or_else(|e| WriteResult::Unreachable(e.to_string()))
    }

    /// Opens `GET /v1/events` and calls `on_data` with every `data:` line until the stream
    /// ends or `keep_going` says stop (checked at least every [`EVENT_POLL`]). Runs on the
    /// calling thread (enter the namespace first with [`netns::enter_for_thread`]).
    ///
    /// A plain HTTP/1.0 request on a socket with a read timeout, rather than ureq: the server
    /// then ends the body by closing (no chunked framing to undo), and the follower can let
    /// go of the stream when told to. A node stops gracefully only once every event stream
    /// is closed, so followers must be able to hang up.
    pub fn follow_events(
        &self,
        mut on_data: impl FnMut(&str),
        keep_going: impl Fn() -> bool,
    ) -> Result<()> {
        use std::io::{BufRead, BufReader, ErrorKind, Write};
        let addr: std::net::SocketAddr = self
            .base
            .trim_start_matches("http://")
            .parse()
            .map_err(|e| self.fail(format!("API address {}: {e}", self.base)))?;
        let io = |e: std::io::Error| self.fail(format!("event stream: {e}"));
        let mut stream =
            std::net::TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).map_err(io)?;
        stream.set_read_timeout(Some(EVENT_POLL)).map_err(io)?;
        write!(
            stream,
            "GET /v1/events HTTP/1.0\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nAccept: text/event-stream\r\n\r\n",
            self.token
        )
        .map_err(io)?;
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        let mut in_body = false;
        while keep_going() {
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => return Ok(()),
                Ok(_) if line.ends_with(b"\n") => {
                    let text = String::from_utf8_lossy(&line);
                    let text = text.trim_end();
                    if !in_body {
                        if text.starts_with("HTTP/") && !text.contains(" 200") {
                            return Err(self.fail(format!("GET /v1/events: {text}")));
                        }
                        in_body = text.is_empty();
                    } else if let Some(data) = text.strip_prefix("data:") {
                        on_data(data.trim());
                    }
                    line.clear();
                }
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => return Err(io(e)),
            }
        }
        Ok(())
    }
}

fn classify(error: ureq::Error) -> WriteResult {
    match &error {
        ureq::Error::Io(io)
            if matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::NotFound
                    | std::io::ErrorKind::AddrNotAvailable
            ) =>
        {
            WriteResult::Unreachable(error.to_string())
        }
        ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => {
            WriteResult::Unreachable(error.to_string())
        }
        ureq::Error::Timeout(ureq::Timeout::Connect | ureq::Timeout::Resolve) => {
            WriteResult::Unreachable(error.to_string())
        }
        _ => WriteResult::Uncertain(error.to_string()),
    }
}
