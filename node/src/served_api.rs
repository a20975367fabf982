//! A node's HTTP API served beside it by a process of the binary (`knack run`, and the
//! embedded node of `knack mcp`): bound, announced in the data directory's `api.addr`, and
//! stopped with a bounded drain.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use knack_node::Node;
use knack_node::config::Config;
use knack_node::dirs::API_ADDR_FILE;
use tokio::sync::oneshot;

/// How long a stopping API waits for open connections to finish (an event stream, `knack
/// tail`, never ends by itself).
const API_DRAIN: Duration = Duration::from_secs(2);

/// The API of a node, serving.
pub(crate) struct ServedApi {
    /// The address it is bound to.
    pub(crate) bound: SocketAddr,
    addr_file: PathBuf,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Serves `node`'s API on `config`'s address for the data directory `dir`: once bound, the node
/// knows its address and `api.addr` holds it (written whole: a temporary file renamed into
/// place, so a client polling for it never reads it half written). `Ok(Err(why))` when the API
/// cannot bind; `Err` when `api.addr` cannot be written.
pub(crate) async fn serve(
    node: &Node,
    token: String,
    config: &Config,
    dir: &Path,
) -> anyhow::Result<Result<ServedApi, String>> {
    let (addr, limits) = (config.api, config.api_limits.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    let (bound_tx, bound_rx) = oneshot::channel();
    let node_for_api = node.clone();
    let task = tokio::spawn(async move {
        knack_node::api::serve_with_limits(
            node_for_api,
            token,
            addr,
            &limits,
            move |addr| {
                let _ = bound_tx.send(addr);
            },
            async move {
                let _ = stopped.await;
            },
        )
        .await
    });
    let Ok(bound) = bound_rx.await else {
        // It did not bind: the task ended with why.
        let why = match task.await {
            Ok(Err(e)) => e.to_string(),
            Ok(Ok(())) => "it stopped".to_owned(),
            Err(e) => e.to_string(),
        };
        return Ok(Err(format!("the HTTP API cannot bind {addr}: {why}")));
    };
    node.set_api_addr(bound).await;
    let addr_file = dir.join(API_ADDR_FILE);
    let tmp = addr_file.with_extension("addr.tmp");
    std::fs::write(&tmp, bound.to_string())
        .and_then(|()| std::fs::rename(&tmp, &addr_file))
        .with_context(|| format!("writing {}", addr_file.display()))?;
    Ok(Ok(ServedApi {
        bound,
        addr_file,
        stop,
        task,
    }))
}

impl ServedApi {
    /// Stops serving: `api.addr` removed, no new connection, open ones given [`API_DRAIN`].
    /// Whether they all ended within it.
    pub(crate) async fn stop(self) -> bool {
        let _ = std::fs::remove_file(&self.addr_file);
        let _ = self.stop.send(());
        tokio::time::timeout(API_DRAIN, self.task).await.is_ok()
    }
}
