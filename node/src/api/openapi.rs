//! The API's OpenAPI 3.1 description, generated from the handlers' and types' annotations
//! (`utoipa`), served at `GET /v1/openapi.json` and committed as `node/openapi.json` (a test
//! fails when the two differ or when a route of the router is not described).

use axum::Json;
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use super::requests::{
    AddRequest, BlobRef, EditRequest, IdResponse, LinkRequest, OutcomeRequest, PinRequest,
    PinResponse,
};
use crate::status::{ContentStatus, IpfsStatus, PeerView, SearchStatus, SpaceStatus, StatusView};
use crate::views::{
    BodyView, CheckpointView, ContextView, ProcedureView, RankedView, RelationView,
};

/// The name of the bearer-token security scheme.
pub const BEARER: &str = "bearer";

/// The body of every error answer.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong, for people.
    pub error: String,
    /// What went wrong, for programs: `unauthorized`, `bad_request`, `too_large`,
    /// `not_found`, `unknown_procedure`, `unknown_space`, `crystallized`, `already_exists`,
    /// `invalid`, `bad_query`, `index_building`, `search_busy`, `body_unavailable`, `body_mismatch`, `ipfs`,
    /// `no_ipfs`, `not_admin`, `not_member`, `open_space`, `bad_peer_id`, `space_conflict`,
    /// `stopped`, `internal`.
    pub kind: String,
}

/// `{"ok": true}`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct OkResponse {
    /// Always true.
    pub ok: bool,
}

/// The description of the API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "knack node API",
        description = "The HTTP API of a knack node: a peer-to-peer procedural memory for AI \
                       agents. Every `/v1` route needs `Authorization: Bearer <api.token>`.",
        license(name = "MIT OR Apache-2.0", identifier = "MIT OR Apache-2.0")
    ),
    paths(
        super::routes::add,
        super::routes::show,
        super::routes::edit,
        super::routes::outcome,
        super::routes::link,
        super::routes::top,
        super::routes::search,
        super::routes::similar,
        super::routes::peers,
        super::routes::status,
        super::routes::checkpoint,
        super::member_routes::join,
        super::member_routes::list,
        super::member_routes::members,
        super::member_routes::add,
        super::member_routes::remove,
        super::settings_routes::show,
        super::settings_routes::update,
        super::routes::metrics,
        super::health::healthz,
        super::health::readyz,
        super::content_routes::upload,
        super::content_routes::body,
        super::content_routes::pin,
        super::sse::events,
        serve,
        mcp_post,
        mcp_get,
        mcp_delete,
    ),
    components(schemas(
        ErrorBody, OkResponse, AddRequest, EditRequest, OutcomeRequest, LinkRequest, IdResponse,
        BlobRef, PinRequest, PinResponse, ProcedureView, RankedView, BodyView, ContextView,
        RelationView, StatusView, PeerView, SpaceStatus, ContentStatus, IpfsStatus, SearchStatus,
        super::health::ProbeAnswer, crate::health::Health, CheckpointView,
        crate::members::SpaceView, crate::members::MembersView, crate::members::MemberView,
        crate::members::JoinRequest, crate::members::AddMemberRequest,
        crate::settings::SettingsView, crate::settings::SettingsPatch,
    )),
    modifiers(&Bearer),
    security(("bearer" = []))
)]
pub struct ApiDoc;

/// Adds the bearer-token scheme.
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The description as pretty JSON (what `node/openapi.json` holds, with a final newline).
pub fn json() -> String {
    let mut text = ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

/// `GET /v1/openapi.json`.
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    tag = "meta",
    responses((status = 200, description = "this description (OpenAPI 3.1)", content_type = "application/json"))
)]
pub(crate) async fn serve() -> Json<serde_json::Value> {
    Json(serde_json::to_value(ApiDoc::openapi()).unwrap_or_default())
}

/// `POST /mcp`: the Model Context Protocol over streamable HTTP (JSON-RPC messages).
#[utoipa::path(
    post,
    path = "/mcp",
    tag = "mcp",
    description = "Model Context Protocol, streamable HTTP transport: JSON-RPC requests \
                   (initialize, tools/list, tools/call, resources/list, resources/read). \
                   Answers JSON or an event stream. Same bearer token as /v1.",
    request_body(content = serde_json::Value, content_type = "application/json"),
    responses(
        (status = 200, description = "a JSON-RPC answer (JSON or text/event-stream)"),
        (status = 202, description = "a notification or response accepted"),
        (status = 401, description = "missing or wrong token", body = ErrorBody)
    )
)]
#[allow(dead_code)]
fn mcp_post() {}

/// `GET /mcp`: the server-to-client event stream of an MCP session.
#[utoipa::path(
    get,
    path = "/mcp",
    tag = "mcp",
    description = "The event stream of an MCP session (header `Mcp-Session-Id`).",
    responses(
        (status = 200, description = "text/event-stream"),
        (status = 401, description = "missing or wrong token", body = ErrorBody)
    )
)]
#[allow(dead_code)]
fn mcp_get() {}

/// `DELETE /mcp`: ends an MCP session.
#[utoipa::path(
    delete,
    path = "/mcp",
    tag = "mcp",
    description = "Ends the MCP session named by the `Mcp-Session-Id` header.",
    responses(
        (status = 200, description = "session ended"),
        (status = 401, description = "missing or wrong token", body = ErrorBody)
    )
)]
#[allow(dead_code)]
fn mcp_delete() {}
