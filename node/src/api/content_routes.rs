//! The content routes: uploading a body of any size, reading one back, pinning it to IPFS.

use axum::Json;
use axum::body::Body as HttpBody;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use tokio::io::AsyncWriteExt;

use super::AppState;
use super::error::ApiError;
use super::requests::{BlobRef, PinRequest, PinResponse};
use super::routes::{ApiResult, bad, id, space};
use crate::content::ContentError;
use crate::error::NodeError;
use crate::node::BodyData;

/// The header that carries a body's blake3 hash in `GET .../body`.
pub const BLAKE3_HEADER: &str = "x-knack-blake3";

/// `POST /v1/blobs`: the request body, streamed into the blob store (at most the node's
/// `max_blob_bytes`). Answers its hash and size, to reference with `body_blob`.
#[utoipa::path(
    post,
    path = "/v1/blobs",
    tag = "content",
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, description = "stored; reference it with `body_blob`", body = BlobRef), (status = 401, description = "missing or wrong token", body = super::openapi::ErrorBody), (status = 413, description = "over the node's max_blob_bytes", body = super::openapi::ErrorBody), (status = 507, description = "the blob store's quota (`blob_quota_bytes`) would be passed (`blob_quota`), or the disk is under its free-space reserve (`disk_full`)", body = super::openapi::ErrorBody))
)]
pub(crate) async fn upload(State(state): State<AppState>, body: HttpBody) -> ApiResult<Response> {
    let store = state.node.blob_store().clone();
    let max = state.node.max_blob_bytes();
    let quota = state.node.blob_quota_bytes();
    let used = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || store.bytes_used())
            .await
            .map_err(|_| NodeError::Stopped)?
    };
    let (tmp, file) = store.temp_file().map_err(NodeError::from)?;
    let mut file = tokio::fs::File::from_std(file);
    let mut stream = body.into_data_stream();
    let mut written: u64 = 0;
    let failed = |e: ApiError, tmp: &std::path::Path| {
        let _ = std::fs::remove_file(tmp);
        e
    };
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| failed(bad(format!("upload interrupted: {e}")), &tmp))?;
        written += chunk.len() as u64;
        if written > max {
            let e = ContentError::TooLarge { size: written, max };
            return Err(failed(NodeError::from(e).into(), &tmp));
        }
        let incoming = written + knack_protocol::blob::outboard_size(written);
        if let Err(e) = state.node.check_blob_disk(chunk.len() as u64 * 2) {
            return Err(failed(e.into(), &tmp));
        }
        if quota > 0 && used.saturating_add(incoming) > quota {
            let e = ContentError::QuotaExceeded {
                used,
                incoming,
                quota,
            };
            return Err(failed(NodeError::from(e).into(), &tmp));
        }
        file.write_all(&chunk)
            .await
            .map_err(|e| failed(NodeError::io(&tmp, e).into(), &tmp))?;
    }
    file.flush()
        .await
        .map_err(|e| failed(NodeError::io(&tmp, e).into(), &tmp))?;
    drop(file);
    let (hash, size) = tokio::task::spawn_blocking(move || store.import(&tmp, None))
        .await
        .map_err(|_| NodeError::Stopped)?
        .map_err(NodeError::from)?;
    Ok((
        StatusCode::CREATED,
        Json(BlobRef {
            blake3: hash.to_hex(),
            size,
        }),
    )
        .into_response())
}

/// `GET /v1/spaces/{space}/procedures/{id}/body`: the body's bytes, fetched from peers (or
/// IPFS) first if this node lacks them, always verified against its blake3 (sent in the
/// `x-knack-blake3` header).
#[utoipa::path(
    get,
    path = "/v1/spaces/{space}/procedures/{id}/body",
    tag = "content",
    params(("space" = String, Path, description = "the space (e.g. `default`)"), ("id" = String, Path, description = "the procedure id (64 hex characters)")),
    responses((status = 200, description = "the body's bytes, verified (blake3 in the x-knack-blake3 header)", body = Vec<u8>, content_type = "application/octet-stream"), (status = 400, description = "bad request (`bad_request`, `invalid`)", body = super::openapi::ErrorBody), (status = 401, description = "missing or wrong token (`unauthorized`)", body = super::openapi::ErrorBody), (status = 404, description = "unknown space or procedure", body = super::openapi::ErrorBody), (status = 502, description = "an IPFS copy does not match (`body_mismatch`, `ipfs`)", body = super::openapi::ErrorBody))
)]
pub(crate) async fn body(
    State(state): State<AppState>,
    Path((space_name, hex)): Path<(String, String)>,
) -> ApiResult<Response> {
    let space = space(&space_name)?;
    let id = id(&hex)?;
    let octets = "application/octet-stream";
    match state.node.body(&space, id).await? {
        BodyData::Inline(bytes) => {
            let hash = knack_crdt::ContentHash::of(&bytes);
            Ok((
                [
                    (header::CONTENT_TYPE, octets.to_owned()),
                    (
                        header::HeaderName::from_static(BLAKE3_HEADER),
                        hash.to_hex(),
                    ),
                ],
                bytes,
            )
                .into_response())
        }
        BodyData::Blob { hash, size, path } => {
            let file = tokio::fs::File::open(&path)
                .await
                .map_err(|e| NodeError::io(&path, e))?;
            let stream = tokio_util::io::ReaderStream::with_capacity(file, 1 << 16);
            Ok((
                [
                    (header::CONTENT_TYPE, octets.to_owned()),
                    (header::CONTENT_LENGTH, size.to_string()),
                    (
                        header::HeaderName::from_static(BLAKE3_HEADER),
                        hash.to_hex(),
                    ),
                ],
                HttpBody::from_stream(stream),
            )
                .into_response())
        }
    }
}

/// `POST /v1/spaces/{space}/procedures/{id}/pin`: queues the body for IPFS (added and pinned,
/// CID recorded when done), or records a CID given in `{"cid": ...}`.
#[utoipa::path(
    post,
    path = "/v1/spaces/{space}/procedures/{id}/pin",
    tag = "content",
    params(("space" = String, Path, description = "the space (e.g. `default`)"), ("id" = String, Path, description = "the procedure id (64 hex characters)")),
    request_body(content = Option<PinRequest>, content_type = "application/json"),
    responses((status = 200, description = "queued or recorded", body = PinResponse), (status = 400, description = "bad request (`bad_request`, `invalid`)", body = super::openapi::ErrorBody), (status = 401, description = "missing or wrong token (`unauthorized`)", body = super::openapi::ErrorBody), (status = 404, description = "unknown space or procedure", body = super::openapi::ErrorBody), (status = 409, description = "no IPFS endpoint configured (`no_ipfs`)", body = super::openapi::ErrorBody))
)]
pub(crate) async fn pin(
    State(state): State<AppState>,
    Path((space_name, hex)): Path<(String, String)>,
    request: axum::body::Bytes,
) -> ApiResult<impl IntoResponse> {
    let space = space(&space_name)?;
    let id = id(&hex)?;
    let request: PinRequest = if request.iter().all(u8::is_ascii_whitespace) {
        PinRequest::default()
    } else {
        serde_json::from_slice(&request).map_err(|e| bad(format!("pin request: {e}")))?
    };
    let body = state.node.body_ref(&space, id).await?;
    let hash = body.content.hash;
    if let Some(cid) = request.cid {
        state.node.record_pin(&space, hash, cid.clone()).await?;
        return Ok(Json(PinResponse {
            blake3: hash.to_hex(),
            cid: Some(cid),
            queued: false,
        }));
    }
    if body.own_cid.is_some() {
        return Ok(Json(PinResponse {
            blake3: hash.to_hex(),
            cid: body.own_cid,
            queued: false,
        }));
    }
    state.node.queue_pin(&space, id).await?;
    Ok(Json(PinResponse {
        blake3: hash.to_hex(),
        cid: None,
        queued: true,
    }))
}
