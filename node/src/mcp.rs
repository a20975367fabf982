//! knack as an MCP server (Model Context Protocol, the official `rmcp` SDK): the tools an agent
//! uses to find, get, record, save, link and rank procedures, and crystallized procedures as
//! resources.
//!
//! Two transports:
//!
//! * stdio: `knack [--dir DIR] mcp` (the binary's `cli/mcp_stdio.rs`, over [`KnackMcp`] and
//!   [`Backend`]) talks to the node running on that data directory through its HTTP API, or
//!   starts an embedded node on it when none runs;
//! * streamable HTTP: `/mcp` on the node's API (see [`http_service`]), behind the same bearer
//!   token as `/v1`.
//!
//! Every tool asks the node's HTTP API (in process when it can, without a socket), so a tool
//! answers what the API answers; an API error becomes a tool error (`isError: true`) whose
//! structured content is `{"error", "kind", "status"}` with knack's error kind. Arguments that
//! do not match a tool's schema are a tool error of kind `bad_request`, and nothing is changed.

pub mod args;
pub mod backend;
pub mod server;
pub mod tools;

use std::sync::Arc;

use axum::Router;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

pub use backend::{Backend, CallError};
pub use server::KnackMcp;

/// The streamable HTTP MCP endpoint over `router` (a node's API routes, called in process with
/// `token`). Mount it at `/mcp`, behind the token check.
pub fn http_service(
    router: Router,
    token: String,
) -> StreamableHttpService<KnackMcp, LocalSessionManager> {
    let backend = Backend::in_process(router, token);
    StreamableHttpService::new(
        move || Ok(KnackMcp::new(backend.clone())),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    )
}
