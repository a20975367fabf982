//! API errors: a status code and a JSON body `{"error": "...", "kind": "..."}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use knack_crdt::CrdtError;
use serde_json::json;

use crate::content::ContentError;
use crate::error::NodeError;
use knack_ipfs::IpfsError;

/// The kind of an error response, read by the middleware that counts `api_errors`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ErrorKind(pub(crate) &'static str);

/// An error answered by the API.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// Missing or wrong bearer token.
    #[error("missing or wrong bearer token (see api.token in the data directory)")]
    Unauthorized,
    /// A request that does not parse or make sense.
    #[error("{0}")]
    BadRequest(String),
    /// A request body over the size limit.
    #[error("{0}")]
    TooLarge(String),
    /// No such route or resource.
    #[error("{0}")]
    NotFound(String),
    /// The node refused or failed.
    #[error(transparent)]
    Node(#[from] NodeError),
}

impl ApiError {
    fn status_and_kind(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Node(NodeError::Crdt(CrdtError::UnknownProcedure(_))) => {
                (StatusCode::NOT_FOUND, "unknown_procedure")
            }
            ApiError::Node(NodeError::Crdt(CrdtError::Crystallized(_))) => {
                (StatusCode::CONFLICT, "crystallized")
            }
            ApiError::Node(NodeError::Crdt(CrdtError::AlreadyExists(_))) => {
                (StatusCode::CONFLICT, "already_exists")
            }
            ApiError::Node(NodeError::Crdt(CrdtError::NotAdmin(_))) => {
                (StatusCode::FORBIDDEN, "not_admin")
            }
            ApiError::Node(NodeError::Crdt(CrdtError::OpenSpace)) => {
                (StatusCode::CONFLICT, "open_space")
            }
            ApiError::Node(NodeError::NotMember { .. }) => (StatusCode::FORBIDDEN, "not_member"),
            ApiError::Node(NodeError::BadPeer(_)) => (StatusCode::BAD_REQUEST, "bad_peer_id"),
            ApiError::Node(NodeError::SpaceConflict { .. }) => {
                (StatusCode::CONFLICT, "space_conflict")
            }
            ApiError::Node(NodeError::Crdt(_)) => (StatusCode::BAD_REQUEST, "invalid"),
            ApiError::Node(NodeError::UnknownSpace(_)) => (StatusCode::NOT_FOUND, "unknown_space"),
            ApiError::Node(NodeError::Stopped) => (StatusCode::SERVICE_UNAVAILABLE, "stopped"),
            ApiError::Node(NodeError::DiskFull { .. }) => {
                (StatusCode::INSUFFICIENT_STORAGE, "disk_full")
            }
            ApiError::Node(NodeError::RecoveringOwnOps { .. }) => {
                (StatusCode::SERVICE_UNAVAILABLE, "recovering_own_ops")
            }
            ApiError::Node(NodeError::Search(_)) => (StatusCode::BAD_REQUEST, "bad_query"),
            ApiError::Node(NodeError::SearchUnavailable(
                crate::discovery::SearchUnavailable::Building,
            )) => (StatusCode::SERVICE_UNAVAILABLE, "index_building"),
            ApiError::Node(NodeError::SearchUnavailable(
                crate::discovery::SearchUnavailable::Busy { .. },
            )) => (StatusCode::SERVICE_UNAVAILABLE, "search_busy"),
            ApiError::Node(NodeError::Content(ContentError::Unavailable { .. })) => {
                (StatusCode::NOT_FOUND, "body_unavailable")
            }
            ApiError::Node(NodeError::Content(ContentError::Mismatch { .. })) => {
                (StatusCode::BAD_GATEWAY, "body_mismatch")
            }
            ApiError::Node(NodeError::Content(ContentError::QuotaExceeded { .. })) => {
                (StatusCode::INSUFFICIENT_STORAGE, "blob_quota")
            }
            ApiError::Node(NodeError::Content(ContentError::TooLarge { .. })) => {
                (StatusCode::PAYLOAD_TOO_LARGE, "too_large")
            }
            ApiError::Node(NodeError::Content(ContentError::Ipfs(
                IpfsError::Mismatch { .. } | IpfsError::TooLarge { .. },
            ))) => (StatusCode::BAD_GATEWAY, "body_mismatch"),
            ApiError::Node(NodeError::Content(ContentError::Ipfs(_))) => {
                (StatusCode::BAD_GATEWAY, "ipfs")
            }
            ApiError::Node(NodeError::Content(ContentError::NoIpfs)) => {
                (StatusCode::CONFLICT, "no_ipfs")
            }
            ApiError::Node(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, kind) = self.status_and_kind();
        let body = Json(json!({ "error": self.to_string(), "kind": kind }));
        let mut response = (status, body).into_response();
        response.extensions_mut().insert(ErrorKind(kind));
        response
    }
}

/// A JSON request body whose rejection is an [`ApiError`]: 413 when over the size limit, 400
/// for anything that does not parse (with serde's message).
#[derive(Debug)]
pub(crate) struct ApiJson<T>(pub(crate) T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::TooLarge(rejection.body_text()))
            }
            Err(rejection) => Err(ApiError::BadRequest(rejection.body_text())),
        }
    }
}
