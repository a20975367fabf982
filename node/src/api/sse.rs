//! `GET /v1/events`: the node's change events as server-sent events.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::Stream;
use futures::StreamExt;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use super::AppState;
use crate::event::Event;

/// Streams every event from now on; a subscriber that falls behind gets a `lagged` event.
#[utoipa::path(
    get,
    path = "/v1/events",
    tag = "node",
    responses((status = 200, description = "server-sent events, one JSON event per `data:` line", content_type = "text/event-stream", body = String), (status = 401, description = "missing or wrong token", body = super::openapi::ErrorBody))
)]
pub(crate) async fn events(
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let stream = BroadcastStream::new(state.node.subscribe()).map(|item| {
        let event = match item {
            Ok(event) => event,
            Err(BroadcastStreamRecvError::Lagged(missed)) => Event::Lagged { missed },
        };
        let data = serde_json::to_string(&event).unwrap_or_else(|_| "{}".into());
        Ok(SseEvent::default().data(data))
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
