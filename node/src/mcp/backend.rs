//! Where the MCP tools send their requests: the node's own HTTP API, either in this process (a
//! call into the axum router, no socket) or over HTTP to a node running elsewhere.
//!
//! Both ways go through the same routes, so a tool answers exactly what the HTTP API answers,
//! errors and their kinds included.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, header};
use serde_json::Value;
use tower::ServiceExt;

/// Largest answer read back from the API for one tool call, in bytes.
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;
/// How long one request to a remote node may take.
const REMOTE_TIMEOUT: Duration = Duration::from_secs(30);

/// A failed API call, as a tool reports it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CallError {
    /// The HTTP status (0 when the node could not be reached).
    pub status: u16,
    /// knack's error kind (`bad_request`, `unknown_procedure`, `crystallized`, ...; `unreachable`
    /// when no node answered).
    pub kind: String,
    /// What went wrong.
    pub message: String,
}

impl CallError {
    /// A request the tool itself refuses before asking the node (bad arguments).
    pub fn bad_request(message: impl Into<String>) -> CallError {
        CallError {
            status: 400,
            kind: "bad_request".into(),
            message: message.into(),
        }
    }
}

/// The answer of a successful call.
#[derive(Clone, Debug)]
pub enum Answer {
    /// A JSON answer.
    Json(Value),
    /// Raw bytes (a procedure's body).
    Bytes(Vec<u8>),
}

/// The node the MCP server talks to.
#[derive(Clone, Debug)]
pub enum Backend {
    /// The API router of a node in this process.
    InProcess {
        /// The router (the `/v1` routes at least).
        router: Router,
        /// The API token it expects.
        token: Arc<String>,
    },
    /// A node's HTTP API on another process.
    Remote {
        /// `http://HOST:PORT`.
        base: String,
        /// The API token.
        token: Arc<String>,
        /// The HTTP client.
        agent: ureq::Agent,
    },
}

impl Backend {
    /// The API of a node in this process.
    pub fn in_process(router: Router, token: String) -> Backend {
        Backend::InProcess {
            router,
            token: Arc::new(token),
        }
    }

    /// The API of the node at `base` (`http://HOST:PORT`).
    pub fn remote(base: String, token: String) -> Backend {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(REMOTE_TIMEOUT))
            .build()
            .into();
        Backend::Remote {
            base,
            token: Arc::new(token),
            agent,
        }
    }

    /// `GET path` -> JSON.
    pub async fn get(&self, path: &str) -> Result<Value, CallError> {
        self.json(Method::GET, path, None).await
    }

    /// `method path` with a JSON body -> JSON.
    pub async fn json(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, CallError> {
        match self.call(method, path, body).await? {
            Answer::Json(value) => Ok(value),
            Answer::Bytes(bytes) => serde_json::from_slice(&bytes).map_err(|e| CallError {
                status: 502,
                kind: "internal".into(),
                message: format!("the node's answer is not JSON: {e}"),
            }),
        }
    }

    /// `method path` with an optional JSON body. A JSON answer (by content type) is parsed;
    /// anything else is returned as bytes.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Answer, CallError> {
        let (status, content_type, bytes) = match self {
            Backend::InProcess { router, token } => {
                in_process(router.clone(), token, method, path, body).await?
            }
            Backend::Remote { base, token, agent } => {
                let url = format!("{base}{path}");
                let auth = format!("Bearer {token}");
                let agent = agent.clone();
                tokio::task::spawn_blocking(move || remote(&agent, &url, &auth, method, body))
                    .await
                    .map_err(|e| unreachable(&e.to_string()))??
            }
        };
        let is_json = content_type.starts_with("application/json");
        if !(200..300).contains(&status) {
            return Err(error_of(status, &bytes));
        }
        if is_json {
            serde_json::from_slice(&bytes)
                .map(Answer::Json)
                .map_err(|e| CallError {
                    status: 502,
                    kind: "internal".into(),
                    message: format!("the node's answer is not JSON: {e}"),
                })
        } else {
            Ok(Answer::Bytes(bytes))
        }
    }
}

/// (status, content type, body).
type RawAnswer = (u16, String, Vec<u8>);

async fn in_process(
    router: Router,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Result<RawAnswer, CallError> {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"));
    let body = match body {
        Some(value) => {
            request = request.header(header::CONTENT_TYPE, "application/json");
            Body::from(value.to_string())
        }
        None => Body::empty(),
    };
    let request = request
        .body(body)
        .map_err(|e| CallError::bad_request(format!("cannot build the request: {e}")))?;
    let response = match router.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let status = response.status().as_u16();
    let content_type = content_type(response.headers());
    let bytes = axum::body::to_bytes(response.into_body(), MAX_ANSWER_BYTES)
        .await
        .map_err(|e| unreachable(&format!("reading the answer: {e}")))?;
    Ok((status, content_type, bytes.to_vec()))
}

fn remote(
    agent: &ureq::Agent,
    url: &str,
    auth: &str,
    method: Method,
    body: Option<Value>,
) -> Result<RawAnswer, CallError> {
    let result = match (method.as_str(), body) {
        ("GET", _) => agent.get(url).header("Authorization", auth).call(),
        ("POST", Some(body)) => agent
            .post(url)
            .header("Authorization", auth)
            .send_json(body),
        ("POST", None) => agent.post(url).header("Authorization", auth).send_empty(),
        ("PATCH", body) => agent
            .patch(url)
            .header("Authorization", auth)
            .send_json(body.unwrap_or(Value::Null)),
        (other, _) => {
            return Err(CallError::bad_request(format!(
                "method {other} is not used by the tools"
            )));
        }
    };
    let mut response = result.map_err(|e| unreachable(&format!("{url}: {e}")))?;
    let status = response.status().as_u16();
    let content_type = content_type(response.headers());
    let bytes = response
        .body_mut()
        .with_config()
        .limit(MAX_ANSWER_BYTES as u64)
        .read_to_vec()
        .map_err(|e| unreachable(&format!("reading the answer of {url}: {e}")))?;
    Ok((status, content_type, bytes))
}

fn content_type(headers: &axum::http::HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

fn unreachable(message: &str) -> CallError {
    CallError {
        status: 0,
        kind: "unreachable".into(),
        message: format!("cannot reach the knack node: {message} (is `knack run` running?)"),
    }
}

/// The error of an error answer `{"error": ..., "kind": ...}`.
fn error_of(status: u16, bytes: &[u8]) -> CallError {
    let parsed: Option<Value> = serde_json::from_slice(bytes).ok();
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(name))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    CallError {
        status,
        kind: field("kind").unwrap_or_else(|| "internal".into()),
        message: field("error")
            .unwrap_or_else(|| String::from_utf8_lossy(bytes).chars().take(500).collect()),
    }
}
