//! Followers of every node's `/v1/events` stream, collecting propagation latencies
//! (`applied_ms - written_ms` of every `applied` event of ops authored elsewhere).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;

use super::load::Clients;
use crate::client::NodeClient;
use crate::netns;

/// How long a follower waits before reconnecting to a node that went away.
const RECONNECT: Duration = Duration::from_millis(200);

#[derive(Deserialize)]
struct Applied {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    local: bool,
    #[serde(default)]
    written_ms: u64,
    #[serde(default)]
    applied_ms: u64,
    #[serde(default)]
    first_seq: u64,
    #[serde(default)]
    last_seq: u64,
}

/// Latencies, one per op applied from a peer: (when its author wrote it, wall ms; how long it
/// took to be applied here, ms).
pub(crate) type Latencies = Arc<Mutex<Vec<(u64, u64)>>>;

/// Starts one follower thread per node (they end once `stop` is set and their stream
/// closes, which the testnet's teardown does).
pub(crate) fn follow_all(
    nodes: &[(String, Option<String>)],
    clients: &Clients,
    latencies: &Latencies,
    stop: &Arc<AtomicBool>,
) {
    for (name, ns) in nodes {
        let (name, ns) = (name.clone(), ns.clone());
        let (clients, latencies, stop) = (clients.clone(), latencies.clone(), stop.clone());
        std::thread::spawn(move || {
            if let Some(ns) = &ns
                && netns::enter_for_thread(ns).is_err()
            {
                return;
            }
            while !stop.load(Ordering::SeqCst) {
                let client = clients.lock().ok().and_then(|c| c.get(&name).cloned());
                if let Some(client) = client {
                    // Hang up when the run ends or the node leaves the registry (about to
                    // be stopped: a node stops only once its event streams are closed).
                    let same = |c: &NodeClient| c.base() == client.base();
                    let _ = client.follow_events(
                        |data| record(data, &latencies),
                        || {
                            !stop.load(Ordering::SeqCst)
                                && clients.lock().is_ok_and(|c| c.get(&name).is_some_and(same))
                        },
                    );
                }
                std::thread::sleep(RECONNECT);
            }
        });
    }
}

fn record(data: &str, latencies: &Latencies) {
    let Ok(event) = serde_json::from_str::<Applied>(data) else {
        return;
    };
    if event.kind != "applied" || event.local || event.written_ms == 0 {
        return;
    }
    let ops = (event.last_seq.saturating_sub(event.first_seq) + 1).min(10_000);
    let latency = event.applied_ms.saturating_sub(event.written_ms);
    if let Ok(mut all) = latencies.lock() {
        all.extend(std::iter::repeat_n(
            (event.written_ms, latency),
            ops as usize,
        ));
    }
}
