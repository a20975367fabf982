//! `GET /healthz` and `GET /readyz`: no token, for orchestrators' probes. 200 with the node's
//! report when healthy (ready), 503 with `{"status": "unavailable", "reason": ...}` otherwise.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use crate::health::Health;

/// How long the node's actor may take to report before the probe answers 503 (a node that
/// cannot answer this fast is not serving).
const REPORT_TIMEOUT: Duration = Duration::from_secs(2);

/// The answer of `/healthz` and `/readyz`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub(crate) struct ProbeAnswer {
    /// `ok` (HTTP 200) or `unavailable` (HTTP 503).
    pub(crate) status: String,
    /// Why the node is unavailable: the problems joined by `; ` (absent when ok).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<String>,
    /// The problems, one by one (empty when ok).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) problems: Vec<String>,
    /// The node's report (absent when the node did not answer in time).
    pub(crate) node: Option<Health>,
}

/// `GET /healthz`: the process is up, its actor answers, its store is open and it accepts
/// writes. A 503 here means: restart it.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "node",
    security(()),
    responses(
        (status = 200, description = "live; no token", body = ProbeAnswer),
        (status = 503, description = "not live (restart it): the reason", body = ProbeAnswer)
    )
)]
pub(crate) async fn healthz(State(state): State<AppState>) -> Response {
    probe(&state, Health::live_problems).await
}

/// `GET /readyz`: healthy, every space loaded, every search index built, and at least one
/// peer connected when bootstrap peers are configured.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "node",
    security(()),
    responses(
        (status = 200, description = "ready; no token", body = ProbeAnswer),
        (status = 503, description = "not ready: the reason", body = ProbeAnswer)
    )
)]
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    probe(&state, Health::ready_problems).await
}

async fn probe(state: &AppState, problems: fn(&Health) -> Vec<String>) -> Response {
    let health = match tokio::time::timeout(REPORT_TIMEOUT, state.node.health()).await {
        Ok(Ok(health)) => health,
        Ok(Err(e)) => return unavailable(vec![format!("the node does not answer: {e}")], None),
        Err(_) => {
            return unavailable(
                vec![format!(
                    "the node did not answer within {} s",
                    REPORT_TIMEOUT.as_secs()
                )],
                None,
            );
        }
    };
    let found = problems(&health);
    if found.is_empty() {
        let answer = ProbeAnswer {
            status: "ok".to_owned(),
            reason: None,
            problems: Vec::new(),
            node: Some(health),
        };
        (StatusCode::OK, Json(answer)).into_response()
    } else {
        unavailable(found, Some(health))
    }
}

fn unavailable(problems: Vec<String>, health: Option<Health>) -> Response {
    let answer = ProbeAnswer {
        status: "unavailable".to_owned(),
        reason: Some(problems.join("; ")),
        problems,
        node: health,
    };
    (StatusCode::SERVICE_UNAVAILABLE, Json(answer)).into_response()
}
