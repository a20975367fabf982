//! `knack mcp`: the MCP server on stdin/stdout. Talks to the node running on the data directory
//! (its `api.addr` and `api.token`, as the CLI does), or starts an embedded node on it when none
//! runs (which then also serves the HTTP API and writes `api.addr`, so the CLI works beside it).
//!
//! Nothing but MCP messages is written to stdout; logs go to stderr.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use rmcp::ServiceExt;
use tokio::sync::oneshot;

use knack_node::NodeBuilder;
use knack_node::config::Config;
use knack_node::dirs::{API_ADDR_FILE, read_token};
use knack_node::mcp::{Backend, KnackMcp};

/// How long a stopping embedded node waits for open API connections to finish.
const API_DRAIN: std::time::Duration = std::time::Duration::from_secs(2);

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
    let api_addr = config.api;
    let limits = config.api_limits.clone();
    let node = NodeBuilder::new(dir).config(config).build().await?;
    let router = knack_node::api::router_with_limits(node.clone(), token.clone(), &limits);
    let addr_file = dir.join(API_ADDR_FILE);
    let (stop_api, api_stopped) = oneshot::channel::<()>();
    let (bound_tx, bound_rx) = oneshot::channel();
    let node_for_api = node.clone();
    let token_for_api = token.clone();
    let task = tokio::spawn(async move {
        knack_node::api::serve_with_limits(
            node_for_api,
            token_for_api,
            api_addr,
            &limits,
            move |addr| {
                let _ = bound_tx.send(addr);
            },
            async move {
                let _ = api_stopped.await;
            },
        )
        .await
    });
    let api = match bound_rx.await {
        Ok(bound) => {
            node.set_api_addr(bound).await;
            let tmp = addr_file.with_extension("addr.tmp");
            std::fs::write(&tmp, bound.to_string())
                .and_then(|()| std::fs::rename(&tmp, &addr_file))
                .with_context(|| format!("writing {}", addr_file.display()))?;
            Some(task)
        }
        Err(_) => {
            // The API did not bind: `serve_with_limits` ended with why.
            let e = match task.await {
                Ok(Err(e)) => e.to_string(),
                Ok(Ok(())) => "it stopped".to_owned(),
                Err(e) => e.to_string(),
            };
            tracing::warn!("knack mcp: the HTTP API cannot bind {api_addr}: {e}; MCP only");
            None
        }
    };
    let result = serve_stdio(Backend::in_process(router, token)).await;
    if let Some(api) = api {
        let _ = std::fs::remove_file(&addr_file);
        let _ = stop_api.send(());
        let _ = tokio::time::timeout(API_DRAIN, api).await;
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
