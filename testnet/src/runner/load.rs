//! The load generator: outcomes at a steady rate, one worker thread per writing node, each
//! counting how its writes ended.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;

use crate::client::{NodeClient, WriteResult};
use crate::netns;

/// The clients of the running nodes, by name; a killed node has none.
pub(crate) type Clients = Arc<Mutex<BTreeMap<String, NodeClient>>>;

/// How writes ended, over the whole run.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub(crate) acked: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) unreachable: AtomicU64,
    pub(crate) uncertain: AtomicU64,
    pub(crate) skipped: AtomicU64,
}

/// A snapshot of a [`Tally`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct WriteCounts {
    /// Answered 2xx: durable.
    pub acked: u64,
    /// Answered with an error status: not written.
    pub rejected: u64,
    /// No connection (node down): not written.
    pub unreachable: u64,
    /// Sent without an answer (node killed mid-request, timeout): maybe written.
    pub uncertain: u64,
    /// Not attempted because the target node was down.
    pub skipped: u64,
}

impl Tally {
    pub(crate) fn count(&self, result: &WriteResult) {
        let counter = match result {
            WriteResult::Acked(_) => &self.acked,
            WriteResult::Rejected(..) => &self.rejected,
            WriteResult::Unreachable(_) => &self.unreachable,
            WriteResult::Uncertain(_) => &self.uncertain,
        };
        counter.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn snapshot(&self) -> WriteCounts {
        WriteCounts {
            acked: self.acked.load(Ordering::SeqCst),
            rejected: self.rejected.load(Ordering::SeqCst),
            unreachable: self.unreachable.load(Ordering::SeqCst),
            uncertain: self.uncertain.load(Ordering::SeqCst),
            skipped: self.skipped.load(Ordering::SeqCst),
        }
    }
}

/// What one load step does.
#[derive(Clone, Debug)]
pub(crate) struct LoadPlan {
    /// Writing nodes.
    pub(crate) nodes: Vec<String>,
    /// Their namespaces (same order), if any.
    pub(crate) netns: Vec<Option<String>>,
    /// Procedure ids (hex) the outcomes go to.
    pub(crate) procedures: Vec<String>,
    /// Outcomes per second over all nodes.
    pub(crate) rate: f64,
    /// For how long.
    pub(crate) duration: Duration,
    /// Share of successes of procedure 0 (each next one 0.05 less).
    pub(crate) success_ratio: f64,
}

/// A running load.
#[derive(Debug)]
pub(crate) struct LoadRun {
    workers: Vec<JoinHandle<()>>,
}

impl LoadRun {
    /// Starts one worker per node of `plan`.
    pub(crate) fn start(
        plan: LoadPlan,
        clients: Clients,
        tally: Arc<Tally>,
        stop: Arc<AtomicBool>,
    ) -> LoadRun {
        let per_node = plan.rate / plan.nodes.len().max(1) as f64;
        let interval = Duration::from_secs_f64(1.0 / per_node.max(0.001));
        let workers = plan
            .nodes
            .iter()
            .zip(&plan.netns)
            .enumerate()
            .map(|(offset, (name, ns))| {
                let (name, ns) = (name.clone(), ns.clone());
                let (clients, tally, stop) = (clients.clone(), tally.clone(), stop.clone());
                let plan = plan.clone();
                std::thread::spawn(move || {
                    if let Some(ns) = &ns
                        && netns::enter_for_thread(ns).is_err()
                    {
                        return;
                    }
                    worker(&name, offset, &plan, interval, &clients, &tally, &stop);
                })
            })
            .collect();
        LoadRun { workers }
    }

    /// Waits for the workers to finish.
    pub(crate) fn join(self) {
        for w in self.workers {
            let _ = w.join();
        }
    }

    /// Whether every worker finished.
    pub(crate) fn is_finished(&self) -> bool {
        self.workers.iter().all(JoinHandle::is_finished)
    }
}

fn worker(
    name: &str,
    offset: usize,
    plan: &LoadPlan,
    interval: Duration,
    clients: &Clients,
    tally: &Tally,
    stop: &AtomicBool,
) {
    let started = Instant::now();
    let mut next = started;
    let mut i: u64 = 0;
    while started.elapsed() < plan.duration && !stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
        next += interval;
        let write = i * plan.nodes.len() as u64 + offset as u64;
        i += 1;
        let p = (write % plan.procedures.len() as u64) as usize;
        let ratio = (plan.success_ratio - 0.05 * p as f64).clamp(0.0, 1.0);
        // A low-discrepancy sequence: the share of successes tracks `ratio` closely.
        let success = ((write as f64) * 0.618_033_988_75).fract() < ratio;
        let client = clients.lock().ok().and_then(|c| c.get(name).cloned());
        let Some(client) = client else {
            tally.skipped.fetch_add(1, Ordering::SeqCst);
            continue;
        };
        let path = format!(
            "/v1/spaces/default/procedures/{}/outcomes",
            plan.procedures[p]
        );
        let body = json!({ "success": success, "duration_ms": 10 + write % 90 });
        tally.count(&client.post(&path, &body));
    }
}
