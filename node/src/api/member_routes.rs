//! Spaces and members-only spaces: `POST|GET /v1/spaces`, `/v1/spaces/{space}/members`.

use axum::Json;
use axum::extract::{Path, State};
use libp2p::PeerId;

use super::AppState;
use super::error::ApiJson;
use super::routes::{ApiResult, bad, space};
use crate::members::{AddMemberRequest, JoinRequest, MembersView, RoleChange, SpaceView};

fn peer(text: &str) -> ApiResult<PeerId> {
    text.trim()
        .parse()
        .map_err(|e| bad(format!("bad peer id {text:?}: {e}")))
}

/// `POST /v1/spaces`: creates or joins a space, for good (kept in `spaces.json`).
#[utoipa::path(
    post,
    path = "/v1/spaces",
    tag = "spaces",
    request_body = JoinRequest,
    responses((status = 200, description = "the space, joined (`join` is what other nodes pass to `knack space join`)", body = SpaceView), (status = 400, description = "bad space name or peer id (`bad_request`, `bad_peer_id`)", body = super::openapi::ErrorBody), (status = 401, description = "missing or wrong token (`unauthorized`)", body = super::openapi::ErrorBody), (status = 409, description = "joined already with another root, or as an open space (`space_conflict`)", body = super::openapi::ErrorBody))
)]
pub(crate) async fn join(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<JoinRequest>,
) -> ApiResult<Json<SpaceView>> {
    let (name, at_root) = match request.name.split_once('@') {
        Some((name, root)) => (name, Some(peer(root)?)),
        None => (request.name.as_str(), None),
    };
    let given = match request.root.as_deref() {
        Some(root) => Some(peer(root)?),
        None => None,
    };
    let root = match (request.members_only, at_root, given) {
        (true, None, None) => Some(state.node.peer_id()),
        (true, _, _) => {
            return Err(bad(
                "members_only creates a space rooted at this node: give no root".into(),
            ));
        }
        (false, Some(a), Some(b)) if a != b => {
            return Err(bad(format!("two roots given: {a} and {b}")));
        }
        (false, a, b) => a.or(b),
    };
    let space = space(name)?;
    Ok(Json(state.node.join_space(&space, root).await?))
}

/// `GET /v1/spaces`: the joined spaces.
#[utoipa::path(
    get,
    path = "/v1/spaces",
    tag = "spaces",
    responses((status = 200, description = "every joined space", body = [SpaceView]), (status = 401, description = "missing or wrong token (`unauthorized`)", body = super::openapi::ErrorBody))
)]
pub(crate) async fn list(State(state): State<AppState>) -> ApiResult<Json<Vec<SpaceView>>> {
    Ok(Json(state.node.spaces().await?))
}

/// `GET /v1/spaces/{space}/members`: the effective membership.
#[utoipa::path(
    get,
    path = "/v1/spaces/{space}/members",
    tag = "spaces",
    params(("space" = String, Path, description = "a members-only space")),
    responses((status = 200, description = "the members and their roles", body = MembersView), (status = 400, description = "bad space name (`bad_request`)", body = super::openapi::ErrorBody), (status = 401, description = "missing or wrong token (`unauthorized`)", body = super::openapi::ErrorBody), (status = 404, description = "unknown space (`unknown_space`)", body = super::openapi::ErrorBody), (status = 409, description = "an open space has no members (`open_space`)", body = super::openapi::ErrorBody))
)]
pub(crate) async fn members(
    State(state): State<AppState>,
    Path(space_name): Path<String>,
) -> ApiResult<Json<MembersView>> {
    let space = space(&space_name)?;
    Ok(Json(state.node.members(&space).await?))
}

/// `POST /v1/spaces/{space}/members`: adds a member or an admin, signed by this node.
#[utoipa::path(
    post,
    path = "/v1/spaces/{space}/members",
    tag = "spaces",
    params(("space" = String, Path, description = "a members-only space")),
    request_body = AddMemberRequest,
    responses((status = 200, description = "the membership after the change (durable)", body = MembersView), (status = 400, description = "bad space name or peer id (`bad_request`, `bad_peer_id`), or the root's role (`invalid`)", body = super::openapi::ErrorBody), (status = 401, description = "missing or wrong token (`unauthorized`)", body = super::openapi::ErrorBody), (status = 403, description = "this node is not an admin of the space (`not_admin`)", body = super::openapi::ErrorBody), (status = 404, description = "unknown space (`unknown_space`)", body = super::openapi::ErrorBody), (status = 409, description = "an open space has no members (`open_space`)", body = super::openapi::ErrorBody))
)]
pub(crate) async fn add(
    State(state): State<AppState>,
    Path(space_name): Path<String>,
    ApiJson(request): ApiJson<AddMemberRequest>,
) -> ApiResult<Json<MembersView>> {
    let space = space(&space_name)?;
    let member = peer(&request.peer_id)?;
    let change = if request.admin {
        RoleChange::Admin
    } else {
        RoleChange::Member
    };
    Ok(Json(state.node.set_member(&space, member, change).await?))
}

/// `DELETE /v1/spaces/{space}/members/{peer_id}`: removes a member, signed by this node. Its
/// ops this node holds are kept; later ones are refused on every node.
#[utoipa::path(
    delete,
    path = "/v1/spaces/{space}/members/{peer_id}",
    tag = "spaces",
    params(("space" = String, Path, description = "a members-only space"), ("peer_id" = String, Path, description = "the member's peer id")),
    responses((status = 200, description = "the membership after the change (durable)", body = MembersView), (status = 400, description = "bad space name or peer id (`bad_request`, `bad_peer_id`), or the root (`invalid`)", body = super::openapi::ErrorBody), (status = 401, description = "missing or wrong token (`unauthorized`)", body = super::openapi::ErrorBody), (status = 403, description = "this node is not an admin of the space (`not_admin`)", body = super::openapi::ErrorBody), (status = 404, description = "unknown space (`unknown_space`)", body = super::openapi::ErrorBody), (status = 409, description = "an open space has no members (`open_space`)", body = super::openapi::ErrorBody))
)]
pub(crate) async fn remove(
    State(state): State<AppState>,
    Path((space_name, peer_id)): Path<(String, String)>,
) -> ApiResult<Json<MembersView>> {
    let space = space(&space_name)?;
    let member = peer(&peer_id)?;
    Ok(Json(
        state
            .node
            .set_member(&space, member, RoleChange::Remove)
            .await?,
    ))
}
