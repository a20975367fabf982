//! `knack run`: the node and its HTTP API in the foreground until SIGINT or SIGTERM.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use knack_crdt::SpaceName;
use tokio::sync::oneshot;

use crate::cli::RunArgs;
use knack_node::NodeBuilder;
use knack_node::config::Config;
use knack_node::dirs::{API_ADDR_FILE, read_token};

/// How long a stopping daemon waits for open API connections to finish.
const API_DRAIN: std::time::Duration = std::time::Duration::from_secs(2);
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
    let api_addr = config.api;
    let limits = config.api_limits.clone();
    let node = NodeBuilder::new(dir).config(config).build().await?;
    let (stop_api, api_stopped) = oneshot::channel::<()>();
    let addr_file = dir.join(API_ADDR_FILE);
    let (bound_tx, bound_rx) = oneshot::channel();
    let node_for_api = node.clone();
    let api = tokio::spawn(async move {
        knack_node::api::serve_with_limits(
            node_for_api,
            token,
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
    let bound = bound_rx.await.context("the HTTP API did not start")?;
    node.set_api_addr(bound).await;
    // Written whole or not at all (a temporary file renamed into place): a client polling for
    // the file must never read it empty or half written.
    let tmp_file = addr_file.with_extension("addr.tmp");
    std::fs::write(&tmp_file, bound.to_string())
        .and_then(|()| std::fs::rename(&tmp_file, &addr_file))
        .with_context(|| format!("writing {}", addr_file.display()))?;
    tracing::info!(peer_id = %node.peer_id(), api = %bound, "knack node running");
    println!(
        "knack node {} running; API on http://{bound}",
        node.peer_id()
    );

    wait_for_signal().await;
    tracing::info!("stopping");
    let _ = std::fs::remove_file(&addr_file);
    let _ = stop_api.send(());
    // Graceful shutdown waits for open connections; an event stream (`knack tail`) never
    // ends by itself, so the wait is bounded.
    if tokio::time::timeout(API_DRAIN, api).await.is_err() {
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
