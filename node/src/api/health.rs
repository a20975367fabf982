//! `GET /healthz` and `GET /readyz`: no token, for orchestrators' probes. 200 with the node's
//! report when healthy (ready), 503 with `{"status": "unavailable", "reason": ...}` otherwise.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use crate::health::Health;

/// How long the node's actor may take to report before the probe answers 503 (a node that
/// cannot answer this fast is not serving).
const REPORT_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /healthz`: the process is up, its actor answers, its store is open and it accepts
/// writes. A 503 here means: restart it.
pub(crate) async fn healthz(State(state): State<AppState>) -> Response {
    probe(&state, Health::live_problems).await
}

/// `GET /readyz`: healthy, every space loaded, every search index built, and at least one
/// peer connected when bootstrap peers are configured.
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
        (
            StatusCode::OK,
            Json(json!({ "status": "ok", "node": health })),
        )
            .into_response()
    } else {
        unavailable(found, Some(health))
    }
}

fn unavailable(problems: Vec<String>, health: Option<Health>) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({
            "status": "unavailable",
            "reason": problems.join("; "),
            "problems": problems,
            "node": health,
        })),
    )
        .into_response()
}
