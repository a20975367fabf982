//! `knack run`: the node and its HTTP API in the foreground until SIGINT or SIGTERM.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use knack_crdt::SpaceName;

use crate::cli::RunArgs;
use knack_node::NodeBuilder;
use knack_node::config::Config;
use knack_node::dirs::read_token;

/// How long a stopping node may take to commit, snapshot and flush before the process exits
/// anyway (a stop that cannot write its snapshot still ends: the log is the truth, and the
/// next start replays it).
const NODE_STOP: std::time::Duration = std::time::Duration::from_secs(10);

/// How long the runtime waits, at exit, for work stuck in a blocking call (a store that does
/// not answer) before the process exits anyway.
const BLOCKING_EXIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Runs the daemon of `dir` until a stop signal.
pub(crate) fn run(dir: &Path, args: RunArgs) -> anyhow::Result<ExitCode> {
    init_tracing();
    let token = read_token(dir)?;
    // Flag > environment > file > default.
    let mut config = Config::load(dir)?;
    config.apply_process_env()?;
    if !args.listen.is_empty() {
        config.listen = args.listen;
    }
    if let Some(api) = args.api {
        config.api = api;
    }
    config.bootstrap.extend(args.bootstrap);
    for name in args.spaces {
        config.spaces.push(SpaceName::new(name)?);
    }
    config.mdns |= args.mdns;
    if let Some(url) = args.ipfs_api {
        config.ipfs_api = Some(url);
    }
    if let Some(ms) = args.sync_interval_ms {
        config.sync_interval_ms = ms;
    }
    if let Some(path) = args.swarm_key {
        config.swarm_key = Some(path);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let served = runtime.block_on(serve(dir, config, token));
    // Work stuck in a blocking call (a store that does not answer) must not hold the exit.
    runtime.shutdown_timeout(BLOCKING_EXIT);
    served?;
    Ok(ExitCode::SUCCESS)
}

async fn serve(dir: &Path, config: Config, token: String) -> anyhow::Result<()> {
    let node = NodeBuilder::new(dir).config(config.clone()).build().await?;
    let api = crate::served_api::serve(&node, token, &config, dir)
        .await?
        .map_err(anyhow::Error::msg)?;
    tracing::info!(peer_id = %node.peer_id(), api = %api.bound, "knack node running");
    println!(
        "knack node {} running; API on http://{}",
        node.peer_id(),
        api.bound
    );

    wait_for_signal().await;
    tracing::info!("stopping");
    if !api.stop().await {
        tracing::info!("closing API connections still open");
    }
    if tokio::time::timeout(NODE_STOP, node.shutdown())
        .await
        .is_err()
    {
        tracing::error!(
            "the node did not stop within {NODE_STOP:?} (a store that does not answer?): \
             exiting anyway; the next start replays the op log"
        );
    }
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,libp2p=warn,libp2p_kad=error")
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
