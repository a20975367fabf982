//! A space's replicated settings: `GET|PATCH /v1/spaces/{space}/settings`.

use axum::Json;
use axum::extract::{Path, State};

use super::AppState;
use super::error::ApiJson;
use super::routes::{ApiResult, bad, space};
use crate::settings::{SettingsPatch, SettingsView};

/// `GET /v1/spaces/{space}/settings`: the settings in effect.
#[utoipa::path(
    get,
    path = "/v1/spaces/{space}/settings",
    tag = "spaces",
    params(("space" = String, Path, description = "a joined space")),
    responses((status = 200, description = "the settings in effect and who set them", body = SettingsView), (status = 400, description = "bad space name (`bad_request`)", body = super::openapi::ErrorBody), (status = 401, description = "missing or wrong token (`unauthorized`)", body = super::openapi::ErrorBody), (status = 404, description = "unknown space (`unknown_space`)", body = super::openapi::ErrorBody))
)]
pub(crate) async fn show(
    State(state): State<AppState>,
    Path(space_name): Path<String>,
) -> ApiResult<Json<SettingsView>> {
    let space = space(&space_name)?;
    Ok(Json(state.node.settings(&space).await?))
}

/// `PATCH /v1/spaces/{space}/settings`: changes the given fields, signed by this node; every
/// replica of the space takes the change (the latest writer's settings win; in a
/// members-only space only an admin's count).
#[utoipa::path(
    patch,
    path = "/v1/spaces/{space}/settings",
    tag = "spaces",
    params(("space" = String, Path, description = "a joined space")),
    request_body = SettingsPatch,
    responses((status = 200, description = "the settings after the change (durable)", body = SettingsView), (status = 400, description = "bad space name, unknown field or empty patch (`bad_request`), or a value out of range (`invalid`)", body = super::openapi::ErrorBody), (status = 401, description = "missing or wrong token (`unauthorized`)", body = super::openapi::ErrorBody), (status = 403, description = "a members-only space and this node is not an admin (`not_admin`)", body = super::openapi::ErrorBody), (status = 404, description = "unknown space (`unknown_space`)", body = super::openapi::ErrorBody))
)]
pub(crate) async fn update(
    State(state): State<AppState>,
    Path(space_name): Path<String>,
    ApiJson(patch): ApiJson<SettingsPatch>,
) -> ApiResult<Json<SettingsView>> {
    let space = space(&space_name)?;
    if patch.is_empty() {
        return Err(bad("the patch changes no setting".into()));
    }
    Ok(Json(state.node.update_settings(&space, patch).await?))
}
