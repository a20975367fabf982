//! The route handlers: parse, ask the node, answer JSON.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use knack_crdt::{
    Body, Edit, Filter, Outcome, Policy, ProcedureId, ProcedureKind, RelationKind, SpaceName,
};

use super::AppState;
use super::error::{ApiError, ApiJson};
use super::requests::{
    AddRequest, EditRequest, IdResponse, LinkRequest, OutcomeRequest, SearchQuery, TopQuery,
};
use crate::node::NewProcedureRequest;
use crate::status::{PeerView, StatusView};
use crate::views::{ProcedureView, RankedView};

/// Most rows a ranking returns.
const MAX_ROWS: usize = 1000;
/// Rows when `n` is not given.
const DEFAULT_ROWS: usize = 10;

pub(super) type ApiResult<T> = Result<T, ApiError>;

pub(super) fn bad(message: String) -> ApiError {
    ApiError::BadRequest(message)
}

pub(super) fn space(name: &str) -> ApiResult<SpaceName> {
    SpaceName::new(name).map_err(|e| bad(e.to_string()))
}

pub(super) fn id(hex: &str) -> ApiResult<ProcedureId> {
    hex.parse()
        .map_err(|e: knack_crdt::CrdtError| bad(e.to_string()))
}

fn kind(name: &str) -> ApiResult<ProcedureKind> {
    name.parse()
        .map_err(|e: knack_crdt::CrdtError| bad(e.to_string()))
}

fn body(
    text: Option<String>,
    b64: Option<String>,
    blob: Option<super::requests::BlobRef>,
) -> ApiResult<Option<Body>> {
    match (text, b64, blob) {
        (Some(text), None, None) => Ok(Some(Body::Inline(text.into_bytes()))),
        (None, Some(b64), None) => base64::engine::general_purpose::STANDARD
            .decode(b64.as_bytes())
            .map(|bytes| Some(Body::Inline(bytes)))
            .map_err(|e| bad(format!("body_base64: {e}"))),
        (None, None, Some(blob)) => Ok(Some(Body::External {
            hash: blob
                .blake3
                .parse()
                .map_err(|e: knack_crdt::CrdtError| bad(format!("body_blob.blake3: {e}")))?,
            size: blob.size,
        })),
        (None, None, None) => Ok(None),
        _ => Err(bad(
            "give one of `body`, `body_base64` and `body_blob`".into()
        )),
    }
}

/// `POST /v1/spaces/{space}/procedures`.
pub(crate) async fn add(
    State(state): State<AppState>,
    Path(space_name): Path<String>,
    ApiJson(request): ApiJson<AddRequest>,
) -> ApiResult<impl IntoResponse> {
    let space = space(&space_name)?;
    let kind = match request.kind.as_deref() {
        Some(k) => kind(k)?,
        None => ProcedureKind::Steps,
    };
    let body = body(request.body, request.body_base64, request.body_blob)?
        .unwrap_or(Body::Inline(Vec::new()));
    let new = NewProcedureRequest {
        name: request.name,
        description: request.description,
        kind,
        tags: request.tags,
        body,
    };
    let id = state.node.add(&space, new).await?;
    Ok((StatusCode::CREATED, Json(IdResponse { id: id.to_hex() })))
}

/// `GET /v1/spaces/{space}/procedures/{id}`.
pub(crate) async fn show(
    State(state): State<AppState>,
    Path((space_name, hex)): Path<(String, String)>,
) -> ApiResult<Json<ProcedureView>> {
    let space = space(&space_name)?;
    let id = id(&hex)?;
    Ok(Json(state.node.get(&space, id).await?))
}

/// `PATCH /v1/spaces/{space}/procedures/{id}`.
pub(crate) async fn edit(
    State(state): State<AppState>,
    Path((space_name, hex)): Path<(String, String)>,
    ApiJson(request): ApiJson<EditRequest>,
) -> ApiResult<impl IntoResponse> {
    let space = space(&space_name)?;
    let id = id(&hex)?;
    let edit = Edit {
        name: request.name,
        description: request.description,
        kind: request.kind.map(|k| kind(&k)).transpose()?,
        add_tags: request.add_tags,
        remove_tags: request.remove_tags,
        body: body(request.body, request.body_base64, request.body_blob)?,
    };
    state.node.edit(&space, id, edit).await?;
    Ok(Json(IdResponse { id: hex.clone() }))
}

/// `POST /v1/spaces/{space}/procedures/{id}/outcomes`.
pub(crate) async fn outcome(
    State(state): State<AppState>,
    Path((space_name, hex)): Path<(String, String)>,
    ApiJson(request): ApiJson<OutcomeRequest>,
) -> ApiResult<impl IntoResponse> {
    let space = space(&space_name)?;
    let id = id(&hex)?;
    let outcome = Outcome {
        success: request.success,
        duration_ms: request.duration_ms,
        contexts: request.contexts,
    };
    Ok(Json(state.node.record_outcome(&space, id, outcome).await?))
}

/// `POST /v1/spaces/{space}/links`.
pub(crate) async fn link(
    State(state): State<AppState>,
    Path(space_name): Path<String>,
    ApiJson(request): ApiJson<LinkRequest>,
) -> ApiResult<impl IntoResponse> {
    let space = space(&space_name)?;
    let from = id(&request.from)?;
    let to = id(&request.to)?;
    let kind: RelationKind = request
        .kind
        .parse()
        .map_err(|e: knack_crdt::CrdtError| bad(e.to_string()))?;
    let strength = if request.remove {
        None
    } else {
        Some(request.strength.unwrap_or(1.0))
    };
    state.node.link(&space, from, to, kind, strength).await?;
    Ok(Json(serde_json::json!({ "ok": true })))
}

/// `GET /v1/spaces/{space}/top`.
pub(crate) async fn top(
    State(state): State<AppState>,
    Path(space_name): Path<String>,
    query: Result<Query<TopQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<RankedView>>> {
    let Query(query) = query.map_err(|e| bad(e.body_text()))?;
    let space = space(&space_name)?;
    let filter = Filter {
        tag: query.tag,
        kind: query.kind.map(|k| kind(&k)).transpose()?,
        context: query.context,
        crystallized_only: query.crystallized.unwrap_or(false),
    };
    let n = query.n.unwrap_or(DEFAULT_ROWS).min(MAX_ROWS);
    let policy = policy(query.explore.as_deref())?;
    Ok(Json(state.node.top_with(&space, n, filter, policy).await?))
}

/// The ranking policy named by `?explore=`.
fn policy(name: Option<&str>) -> Result<Policy, ApiError> {
    name.map_or(Ok(Policy::Greedy), |name| {
        Policy::parse(name).ok_or_else(|| {
            bad(format!(
                "explore must be \"greedy\" or \"thompson\", not {:?}",
                name.chars().take(40).collect::<String>()
            ))
        })
    })
}

/// `GET /v1/spaces/{space}/search`.
pub(crate) async fn search(
    State(state): State<AppState>,
    Path(space_name): Path<String>,
    query: Result<Query<SearchQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<RankedView>>> {
    let Query(query) = query.map_err(|e| bad(e.body_text()))?;
    let space = space(&space_name)?;
    let n = query.n.unwrap_or(DEFAULT_ROWS).min(MAX_ROWS);
    let mut search = knack_search::Query::new(query.q, n);
    search.context = query.context.filter(|c| !c.is_empty());
    let policy = policy(query.explore.as_deref())?;
    let mut rows = state.node.search_with(&space, search, policy).await?;
    if !query.explain {
        for row in &mut rows {
            row.explain = None;
        }
    }
    Ok(Json(rows))
}

/// `GET /v1/spaces/{space}/procedures/{id}/similar`.
pub(crate) async fn similar(
    State(state): State<AppState>,
    Path((space_name, hex)): Path<(String, String)>,
    query: Result<Query<super::requests::SimilarQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<RankedView>>> {
    let Query(query) = query.map_err(|e| bad(e.body_text()))?;
    let space = space(&space_name)?;
    let id = id(&hex)?;
    let n = query.n.unwrap_or(DEFAULT_ROWS).min(MAX_ROWS);
    Ok(Json(state.node.similar(&space, id, n).await?))
}

/// `GET /v1/peers`.
pub(crate) async fn peers(State(state): State<AppState>) -> ApiResult<Json<Vec<PeerView>>> {
    Ok(Json(state.node.peers().await?))
}

/// `GET /v1/status`.
pub(crate) async fn status(State(state): State<AppState>) -> ApiResult<Json<StatusView>> {
    Ok(Json(state.node.status().await?))
}

/// `POST /v1/spaces/{space}/checkpoint`: seals a checkpoint run of this node's own ops.
pub(crate) async fn checkpoint(
    State(state): State<AppState>,
    Path(space_name): Path<String>,
) -> ApiResult<Json<crate::views::CheckpointView>> {
    let space = space(&space_name)?;
    Ok(Json(state.node.checkpoint(&space).await?))
}

/// `GET /metrics`.
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.node.encode_metrics(),
    )
        .into_response()
}

/// Any other path.
pub(crate) async fn not_found() -> ApiError {
    ApiError::NotFound("no such route; see the API table in the README".into())
}
