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
#[utoipa::path(
    post,
    path = "/v1/spaces/{space}/procedures",
    tag = "procedures",
    params(("space" = String, Path, description = "the space (e.g. `default`)")),
    request_body = AddRequest,
    responses((status = 201, description = "the new procedure's id", body = IdResponse), (status = 400, description = "bad request (`bad_request`, `invalid`)", body = super::openapi::ErrorBody), (status = 401, description = "missing or wrong token (`unauthorized`)", body = super::openapi::ErrorBody), (status = 404, description = "unknown space or procedure", body = super::openapi::ErrorBody), (status = 409, description = "already exists (`already_exists`)", body = super::openapi::ErrorBody), (status = 413, description = "too large", body = super::openapi::ErrorBody))
)]
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
#[utoipa::path(
    get,
    path = "/v1/spaces/{space}/procedures/{id}",
    tag = "procedures",
    params(("space" = String, Path, description = "the space (e.g. `default`)"), ("id" = String, Path, description = "the procedure id (64 hex characters)")),
    responses((status = 200, description = "the procedure with its derived values", body = ProcedureView), (status = 400, description = "bad request (`bad_request`, `invalid`)", body = super::openapi::ErrorBody), (status = 401, description = "missing or wrong token (`unauthorized`)", body = super::openapi::ErrorBody), (status = 404, description = "unknown space or procedure", body = super::openapi::ErrorBody))
)]
pub(crate) async fn show(
    State(state): State<AppState>,
    Path((space_name, hex)): Path<(String, String)>,
) -> ApiResult<Json<ProcedureView>> {
    let space = space(&space_name)?;
    let id = id(&hex)?;
    Ok(Json(state.node.get(&space, id).await?))
}

/// `PATCH /v1/spaces/{space}/procedures/{id}`.
#[utoipa::path(
    patch,
    path = "/v1/spaces/{space}/procedures/{id}",
    tag = "procedures",
    params(("space" = String, Path, description = "the space (e.g. `default`)"), ("id" = String, Path, description = "the procedure id (64 hex characters)")),
    request_body = EditRequest,
    responses((status = 200, description = "edited", body = IdResponse), (status = 400, description = "bad request (`bad_request`, `invalid`)", body = super::openapi::ErrorBody), (status = 401, description = "missing or wrong token (`unauthorized`)", body = super::openapi::ErrorBody), (status = 404, description = "unknown space or procedure", body = super::openapi::ErrorBody), (status = 409, description = "the body of a crystallized procedure (`crystallized`)", body = super::openapi::ErrorBody), (status = 413, description = "too large", body = super::openapi::ErrorBody))
)]
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
#[utoipa::path(
    post,
    path = "/v1/spaces/{space}/procedures/{id}/outcomes",
    tag = "procedures",
    params(("space" = String, Path, description = "the space (e.g. `default`)"), ("id" = String, Path, description = "the procedure id (64 hex characters)")),
    request_body = OutcomeRequest,
    responses((status = 200, description = "the procedure after the outcome", body = ProcedureView), (status = 400, description = "bad request (`bad_request`, `invalid`)", body = super::openapi::ErrorBody), (status = 401, description = "missing or wrong token (`unauthorized`)", body = super::openapi::ErrorBody), (status = 404, description = "unknown space or procedure", body = super::openapi::ErrorBody))
)]
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
#[utoipa::path(
    post,
    path = "/v1/spaces/{space}/links",
    tag = "procedures",
    params(("space" = String, Path, description = "the space (e.g. `default`)")),
    request_body = LinkRequest,
    responses((status = 200, description = "linked", body = super::openapi::OkResponse), (status = 400, description = "bad request (`bad_request`, `invalid`)", body = super::openapi::ErrorBody), (status = 401, description = "missing or wrong token (`unauthorized`)", body = super::openapi::ErrorBody), (status = 404, description = "unknown space or procedure", body = super::openapi::ErrorBody))
)]
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
#[utoipa::path(
    get,
    path = "/v1/spaces/{space}/top",
    tag = "ranking",
    params(("space" = String, Path, description = "the space (e.g. `default`)"), TopQuery),
    responses((status = 200, description = "the ranking", body = [RankedView]), (status = 400, description = "bad request (`bad_request`, `invalid`)", body = super::openapi::ErrorBody), (status = 401, description = "missing or wrong token (`unauthorized`)", body = super::openapi::ErrorBody), (status = 404, description = "unknown space or procedure", body = super::openapi::ErrorBody))
)]
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
#[utoipa::path(
    get,
    path = "/v1/spaces/{space}/search",
    tag = "ranking",
    params(("space" = String, Path, description = "the space (e.g. `default`)"), SearchQuery),
    responses((status = 200, description = "results: meaning, words and evidence fused", body = [RankedView]), (status = 400, description = "bad request (`bad_request`, `invalid`)", body = super::openapi::ErrorBody), (status = 401, description = "missing or wrong token (`unauthorized`)", body = super::openapi::ErrorBody), (status = 404, description = "unknown space or procedure", body = super::openapi::ErrorBody), (status = 503, description = "the index is being built (`index_building`), or too many searches wait (`search_busy`); retry", body = super::openapi::ErrorBody))
)]
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
#[utoipa::path(
    get,
    path = "/v1/spaces/{space}/procedures/{id}/similar",
    tag = "ranking",
    params(("space" = String, Path, description = "the space (e.g. `default`)"), ("id" = String, Path, description = "the procedure id (64 hex characters)"), super::requests::SimilarQuery),
    responses((status = 200, description = "nearest procedures in meaning", body = [RankedView]), (status = 400, description = "bad request (`bad_request`, `invalid`)", body = super::openapi::ErrorBody), (status = 401, description = "missing or wrong token (`unauthorized`)", body = super::openapi::ErrorBody), (status = 404, description = "unknown space or procedure", body = super::openapi::ErrorBody), (status = 503, description = "too many searches wait (`search_busy`); retry", body = super::openapi::ErrorBody))
)]
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
#[utoipa::path(
    get,
    path = "/v1/peers",
    tag = "node",
    responses((status = 200, description = "connected peers", body = [PeerView]), (status = 401, description = "missing or wrong token", body = super::openapi::ErrorBody))
)]
pub(crate) async fn peers(State(state): State<AppState>) -> ApiResult<Json<Vec<PeerView>>> {
    Ok(Json(state.node.peers().await?))
}

/// `GET /v1/status`.
#[utoipa::path(
    get,
    path = "/v1/status",
    tag = "node",
    responses((status = 200, description = "the node's state", body = StatusView), (status = 401, description = "missing or wrong token", body = super::openapi::ErrorBody))
)]
pub(crate) async fn status(State(state): State<AppState>) -> ApiResult<Json<StatusView>> {
    Ok(Json(state.node.status().await?))
}

/// `POST /v1/spaces/{space}/checkpoint`: seals a checkpoint run of this node's own ops.
#[utoipa::path(
    post,
    path = "/v1/spaces/{space}/checkpoint",
    tag = "node",
    params(("space" = String, Path, description = "the space (e.g. `default`)")),
    responses((status = 200, description = "the run sealed (first_seq 0 when there was nothing to restate)", body = crate::views::CheckpointView), (status = 400, description = "bad space name (`bad_request`)", body = super::openapi::ErrorBody), (status = 401, description = "missing or wrong token (`unauthorized`)", body = super::openapi::ErrorBody), (status = 404, description = "unknown space", body = super::openapi::ErrorBody))
)]
pub(crate) async fn checkpoint(
    State(state): State<AppState>,
    Path(space_name): Path<String>,
) -> ApiResult<Json<crate::views::CheckpointView>> {
    let space = space(&space_name)?;
    Ok(Json(state.node.checkpoint(&space).await?))
}

/// `GET /metrics`.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "node",
    security(()),
    responses((status = 200, description = "Prometheus metrics (OpenMetrics text); no token", content_type = "application/openmetrics-text", body = String))
)]
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
