//! `knack mcp`: the MCP server on stdin/stdout. Talks to the node running on the data directory
//! (its `api.addr` and `api.token`, as the CLI does), or starts an embedded node on it when none
//! runs (which then also serves the HTTP API and writes `api.addr`, so the CLI works beside it).
//!
//! Nothing but MCP messages is written to stdout; logs go to stderr.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use rmcp::ServiceExt;

use knack_node::NodeBuilder;
use knack_node::config::Config;
use knack_node::dirs::{API_ADDR_FILE, read_token};
use knack_node::mcp::{Backend, KnackMcp};

/// Serves MCP on stdio for the data directory `dir` until the client closes stdin.
pub(crate) fn run(dir: &Path) -> anyhow::Result<ExitCode> {
    init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(dir))?;
    Ok(ExitCode::SUCCESS)
}

async fn serve(dir: &Path) -> anyhow::Result<()> {
    if !dir.join(knack_node::dirs::TOKEN_FILE).exists() {
        knack_node::dirs::init(dir)?;
    }
    let token = read_token(dir)?;
    if let Some(backend) = running_node(dir, &token).await {
        tracing::info!("knack mcp: using the node running on {}", dir.display());
        return serve_stdio(backend).await;
    }
    tracing::info!("knack mcp: no node runs on {}; starting one", dir.display());
    embedded(dir, token).await
}

/// The running node of `dir`, if its API answers.
async fn running_node(dir: &Path, token: &str) -> Option<Backend> {
    let addr = std::fs::read_to_string(dir.join(API_ADDR_FILE)).ok()?;
    let backend = Backend::remote(format!("http://{}", addr.trim()), token.to_owned());
    backend.get("/v1/status").await.ok().map(|_| backend)
}

async fn serve_stdio(backend: Backend) -> anyhow::Result<()> {
    let service = KnackMcp::new(backend)
        .serve(rmcp::transport::stdio())
        .await
        .context("starting the MCP session on stdio")?;
    service.waiting().await.context("the MCP session failed")?;
    Ok(())
}

/// Starts a node on `dir`, serves its API (for the CLI and other clients) and MCP on stdio
/// until stdin closes, then stops it cleanly.
async fn embedded(dir: &Path, token: String) -> anyhow::Result<()> {
    let config = Config::load(dir)?;
    let node = NodeBuilder::new(dir).config(config.clone()).build().await?;
    let router =
        knack_node::api::router_with_limits(node.clone(), token.clone(), &config.api_limits);
    let api = match crate::served_api::serve(&node, token.clone(), &config, dir).await? {
        Ok(api) => Some(api),
        Err(why) => {
            tracing::warn!("knack mcp: {why}; MCP only");
            None
        }
    };
    let result = serve_stdio(Backend::in_process(router, token)).await;
    if let Some(api) = api {
        api.stop().await;
    }
    node.shutdown().await;
    result
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
