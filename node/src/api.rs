//! The HTTP JSON API on 127.0.0.1: `/v1/...` behind a bearer token, `/metrics` for Prometheus.
//!
//! | method | path | what |
//! |---|---|---|
//! | POST | `/v1/spaces/{space}/procedures` | add a procedure -> `{"id"}` |
//! | GET | `/v1/spaces/{space}/procedures/{id}` | a procedure with its derived values |
//! | PATCH | `/v1/spaces/{space}/procedures/{id}` | edit it |
//! | POST | `/v1/spaces/{space}/procedures/{id}/outcomes` | record a use |
//! | GET | `/v1/spaces/{space}/procedures/{id}/body` | the body's bytes (fetched from peers or IPFS if needed, verified) |
//! | POST | `/v1/spaces/{space}/procedures/{id}/pin` | pin the body to IPFS (`{"cid"}` records a known CID) |
//! | POST | `/v1/blobs` | upload a body of any size (raw bytes) -> `{"blake3", "size"}` for `body_blob` |
//! | POST | `/v1/spaces/{space}/links` | relate two procedures (or remove the relation) |
//! | GET | `/v1/spaces/{space}/top?n=&tag=&context=&kind=&crystallized=` | ranking |
//! | GET | `/v1/spaces/{space}/search?q=&n=&context=&explain=` | hybrid search (meaning, words, evidence) |
//! | GET | `/v1/spaces/{space}/procedures/{id}/similar?n=` | nearest procedures in meaning |
//! | POST / GET | `/v1/spaces` | create or join a space (members-only: `{"name", "members_only": true}`) / the joined spaces |
//! | GET / POST | `/v1/spaces/{space}/members` | the members / add one (`{"peer_id", "admin"}`, admins only) |
//! | DELETE | `/v1/spaces/{space}/members/{peer_id}` | remove a member (admins only) |
//! | GET / PATCH | `/v1/spaces/{space}/settings` | the replicated settings / change some (`{"evidence_weighting": true}`; admins only in a members-only space) |
//! | GET | `/v1/events` | server-sent events of changes |
//! | GET | `/v1/peers`, `/v1/status` | mesh and node state |
//! | GET | `/v1/openapi.json` | this API's OpenAPI 3.1 description ([`openapi`]) |
//! | POST / GET / DELETE | `/mcp` | MCP over streamable HTTP ([`crate::mcp`]), same token |
//! | GET | `/metrics` | Prometheus text format (no token: bind it to loopback) |
//! | GET | `/healthz`, `/readyz` | liveness and readiness: 200, or 503 with a JSON reason (no token) |

mod auth;
mod content_routes;
mod error;
mod health;
pub mod limits;
mod member_routes;
pub mod openapi;
pub mod requests;
mod routes;
mod settings_routes;
mod sse;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use tokio::net::TcpListener;

use crate::metrics::RouteLabel;
use crate::node::Node;

pub use content_routes::BLAKE3_HEADER;
pub use error::ApiError;
pub use limits::ApiLimits;

/// Largest request body accepted, in bytes (an inline body plus its JSON wrapping).
pub const MAX_REQUEST_BYTES: usize = 512 * 1024;

/// What every handler sees.
#[derive(Clone, Debug)]
pub(crate) struct AppState {
    pub(crate) node: Node,
    pub(crate) token: Arc<String>,
}

/// The API's routes over `node`, guarded by `token`, with the default [`ApiLimits`].
pub fn router(node: Node, token: String) -> Router {
    router_with_limits(node, token, &ApiLimits::default())
}

/// The API's routes over `node`, guarded by `token`; request heads over `limits` are refused
/// with the JSON error body (414 / 431).
pub fn router_with_limits(node: Node, token: String, limits: &ApiLimits) -> Router {
    let state = AppState {
        node,
        token: Arc::new(token),
    };
    let v1 = Router::new()
        .route("/spaces/{space}/procedures", post(routes::add))
        .route(
            "/spaces/{space}/procedures/{id}",
            get(routes::show).patch(routes::edit),
        )
        .route(
            "/spaces/{space}/procedures/{id}/outcomes",
            post(routes::outcome),
        )
        .route(
            "/spaces/{space}/procedures/{id}/body",
            get(content_routes::body),
        )
        .route(
            "/spaces/{space}/procedures/{id}/similar",
            get(routes::similar),
        )
        .route(
            "/spaces/{space}/procedures/{id}/pin",
            post(content_routes::pin),
        )
        .route(
            "/blobs",
            post(content_routes::upload).layer(DefaultBodyLimit::disable()),
        )
        .route("/spaces/{space}/links", post(routes::link))
        .route("/spaces/{space}/top", get(routes::top))
        .route("/spaces/{space}/search", get(routes::search))
        .route("/spaces/{space}/checkpoint", post(routes::checkpoint))
        .route(
            "/spaces",
            post(member_routes::join).get(member_routes::list),
        )
        .route(
            "/spaces/{space}/members",
            get(member_routes::members).post(member_routes::add),
        )
        .route(
            "/spaces/{space}/members/{peer_id}",
            axum::routing::delete(member_routes::remove),
        )
        .route(
            "/spaces/{space}/settings",
            get(settings_routes::show).patch(settings_routes::update),
        )
        .route("/events", get(sse::events))
        .route("/peers", get(routes::peers))
        .route("/status", get(routes::status))
        .route("/openapi.json", get(openapi::serve))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ));
    // MCP tools call the `/v1` routes in process.
    let mcp = crate::mcp::http_service(
        Router::new()
            .nest("/v1", v1.clone())
            .with_state(state.clone()),
        state.token.to_string(),
    );
    Router::new()
        .route_service("/mcp", mcp)
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        .nest("/v1", v1)
        .route("/metrics", get(routes::metrics))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .fallback(routes::not_found)
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(middleware::from_fn({
            let limits = Arc::new(limits.clone());
            move |request, next| limits::check_head(limits.clone(), request, next)
        }))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(state)
}

/// Times every request by route.
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    if let Some(kind) = response.extensions().get::<error::ErrorKind>() {
        state
            .node
            .metrics()
            .api_errors
            .get_or_create(&crate::metrics::ReasonLabel {
                reason: kind.0.to_owned(),
            })
            .inc();
    }
    state
        .node
        .metrics()
        .api_latency
        .get_or_create(&RouteLabel { route })
        .observe(started.elapsed().as_secs_f64());
    response
}

/// Binds the API on `addr` and serves it until `shutdown` completes, with the default
/// [`ApiLimits`]. Returns the bound address (useful with port 0) through `bound` before
/// serving.
pub async fn serve(
    node: Node,
    token: String,
    addr: SocketAddr,
    bound: impl FnOnce(SocketAddr),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with_limits(node, token, addr, &ApiLimits::default(), bound, shutdown).await
}

/// Binds the API on `addr` and serves it under `limits` (timeouts, connection limit, request
/// head limits) until `shutdown` completes. Returns the bound address through `bound` before
/// serving.
pub async fn serve_with_limits(
    node: Node,
    token: String,
    addr: SocketAddr,
    limits: &ApiLimits,
    bound: impl FnOnce(SocketAddr),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    bound(listener.local_addr()?);
    let metrics = node.metrics().clone();
    let app = router_with_limits(node, token, limits);
    limits::serve(listener, app, limits, metrics, shutdown).await
}
