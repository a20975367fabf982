//! Running a scenario: a fresh testnet, the steps in order, the report, and teardown (nodes
//! stopped, namespaces deleted) whatever happened.

mod checks;
mod events;
mod load;
mod steps;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::error::{Result, TestnetError};
use crate::netns;
use crate::prometheus::Counters;
use crate::report::{Latency, LoadLatency, Report, StepReport};
use crate::scenario::Scenario;
use crate::testnet::{DEFAULT_SYNC_INTERVAL_MS, Testnet, UpOptions};

pub use load::WriteCounts;

/// How to run a scenario.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The testnet directory (node data, logs, report).
    pub dir: PathBuf,
    /// The `knack` binary.
    pub knack: PathBuf,
    /// Run every node in its own network namespace.
    pub netns: bool,
    /// Print each step as it runs.
    pub verbose: bool,
    /// Run every node in a private network with a new swarm key (TCP only).
    pub swarm_key: bool,
}

/// The state of a run in progress.
struct Runner {
    testnet: Testnet,
    started: Instant,
    clients: load::Clients,
    tally: Arc<load::Tally>,
    adds: Arc<load::Tally>,
    loads: Vec<load::LoadRun>,
    stop: Arc<AtomicBool>,
    latencies: events::Latencies,
    /// Per load step: (its 1-based index, wall ms its writes began, wall ms they ended).
    load_windows: Vec<(usize, u64, u64)>,
    /// The 1-based index of the step running.
    current_step: usize,
    procedures: Vec<String>,
    counters: BTreeMap<String, Counters>,
    usage: BTreeMap<String, crate::resources::Usage>,
    report: Report,
    last_heal: Option<f64>,
    verbose: bool,
}

/// Runs `scenario` on a fresh testnet in `options.dir`; the report is written there as well
/// and returned. A failed wait or assertion makes `report.passed` false; an error is
/// returned only when the scenario could not be carried out.
pub fn run(scenario: &Scenario, options: &RunOptions) -> Result<Report> {
    if scenario.needs_netns() && !options.netns {
        let steps: Vec<&str> = scenario
            .steps
            .iter()
            .filter(|s| s.needs_netns())
            .map(|s| s.action())
            .collect();
        return Err(TestnetError::Unsupported(format!(
            "scenario `{}` has {} steps: they need --netns (Linux, root); loopback processes \
             cannot be partitioned or shaped",
            scenario.name,
            steps.join(", ")
        )));
    }
    if options.netns
        && let Some(why) = netns::unavailable()
    {
        return Err(TestnetError::Unsupported(why));
    }
    let testnet = Testnet::create(&UpOptions {
        dir: options.dir.clone(),
        nodes: scenario.nodes,
        knack: options.knack.clone(),
        netns: options.netns,
        sync_interval_ms: scenario
            .sync_interval_ms
            .unwrap_or(DEFAULT_SYNC_INTERVAL_MS),
        bootstrap_peers: scenario.bootstrap_peers,
        swarm_key: options.swarm_key,
    })?;
    let mut runner = Runner {
        testnet,
        started: Instant::now(),
        clients: Arc::new(Mutex::new(BTreeMap::new())),
        tally: Arc::default(),
        adds: Arc::default(),
        loads: Vec::new(),
        stop: Arc::new(AtomicBool::new(false)),
        latencies: Arc::default(),
        load_windows: Vec::new(),
        current_step: 0,
        procedures: Vec::new(),
        counters: BTreeMap::new(),
        usage: BTreeMap::new(),
        report: Report {
            scenario: scenario.name.clone(),
            nodes: scenario.nodes,
            netns: options.netns,
            ..Report::default()
        },
        last_heal: None,
        verbose: options.verbose,
    };
    let outcome = runner.steps(scenario);
    let report = runner.finish(outcome.as_ref().err());
    let dir = runner.testnet.state().dir.clone();
    let teardown = runner.teardown();
    report.write(&dir)?;
    outcome?;
    teardown?;
    Ok(report)
}

impl Runner {
    fn now_s(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    fn steps(&mut self, scenario: &Scenario) -> Result<()> {
        let nodes: Vec<(String, Option<String>)> = self
            .testnet
            .state()
            .nodes
            .iter()
            .map(|n| (n.name.clone(), n.netns.clone()))
            .collect();
        events::follow_all(&nodes, &self.clients, &self.latencies, &self.stop);
        for (index, step) in scenario.steps.iter().enumerate() {
            if let Some(at) = step.at() {
                let due = self.started + at.0;
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
            }
            let started_s = self.now_s();
            self.current_step = index + 1;
            if self.verbose {
                eprintln!("[{started_s:>6.1}s] step {}: {}", index + 1, step.action());
            }
            let (ok, note) = self.step(step)?;
            let record = StepReport {
                index: index + 1,
                action: step.action().to_owned(),
                started_s,
                took_s: self.now_s() - started_s,
                ok,
                note: note.clone(),
            };
            if self.verbose {
                eprintln!(
                    "[{:>6.1}s]   {} {note}",
                    self.now_s(),
                    if ok { "ok" } else { "FAILED" }
                );
            }
            if !ok {
                self.report.failures.push(format!(
                    "step {} ({}): {note}",
                    index + 1,
                    step.action()
                ));
            }
            self.report.steps.push(record);
        }
        self.join_loads();
        Ok(())
    }

    fn join_loads(&mut self) {
        for load in self.loads.drain(..) {
            load.join();
        }
    }

    /// Refreshes the client registry from the testnet.
    fn sync_clients(&mut self) {
        let mut map = BTreeMap::new();
        for name in self.testnet.running() {
            if let Ok(client) = self.testnet.client(&name) {
                map.insert(name, client);
            }
        }
        if let Ok(mut clients) = self.clients.lock() {
            *clients = map;
        }
    }

    /// Takes node `name` out of the registry (loads skip it, its event follower hangs up),
    /// before it is stopped.
    fn detach(&mut self, name: &str) {
        if let Ok(mut clients) = self.clients.lock() {
            clients.remove(name);
        }
        std::thread::sleep(crate::client::EVENT_POLL * 2);
    }

    fn running_clients(&self, names: &[String]) -> Vec<crate::client::NodeClient> {
        let clients = self.clients.lock().map(|c| c.clone()).unwrap_or_default();
        if names.is_empty() {
            clients.into_values().collect()
        } else {
            names
                .iter()
                .filter_map(|n| clients.get(n).cloned())
                .collect()
        }
    }

    /// Scrapes the counters and the resource usage of `name` into the run's totals (before it
    /// stops, at the end).
    fn scrape(&mut self, name: &str) {
        let pid = self.testnet.state().node(name).ok().and_then(|n| n.pid);
        if let Some(usage) = pid.and_then(crate::resources::Usage::of) {
            self.usage.entry(name.to_owned()).or_default().add(&usage);
        }
        let Some(client) = self.running_clients(&[name.to_owned()]).pop() else {
            return;
        };
        if let Ok(text) = client.metrics() {
            self.counters
                .entry(name.to_owned())
                .or_default()
                .add(&Counters::parse(&text));
        }
    }

    fn finish(&mut self, error: Option<&TestnetError>) -> Report {
        self.stop.store(true, Ordering::SeqCst);
        self.join_loads();
        if let Some(e) = error {
            self.report.failures.push(format!("aborted: {e}"));
        } else {
            self.final_checks();
        }
        for name in self.testnet.running() {
            self.scrape(&name);
        }
        let mut report = self.report.clone();
        report.duration_s = self.now_s();
        let latencies = self.latencies.lock().map(|l| l.clone()).unwrap_or_default();
        report.latency = Latency::of(latencies.iter().map(|(_, ms)| *ms).collect());
        report.load_latency = self
            .load_windows
            .iter()
            .map(|&(step, from_ms, to_ms)| LoadLatency {
                step,
                latency: Latency::of(
                    latencies
                        .iter()
                        .filter(|(written, _)| (from_ms..=to_ms).contains(written))
                        .map(|(_, ms)| *ms)
                        .collect(),
                ),
            })
            .collect();
        report.outcome_writes = self.tally.snapshot();
        report.procedure_writes = self.adds.snapshot();
        report.per_node = self.counters.clone();
        report.resources = self.usage.clone();
        let writes = (report.outcome_writes.acked + report.procedure_writes.acked).max(1) as f64;
        let nodes = report.per_node.len().max(1) as f64;
        let bytes: f64 = report
            .per_node
            .values()
            .map(|c| c.gossip_bytes_in + c.gossip_bytes_out)
            .sum();
        report.gossip_bytes_per_node_per_write = bytes / nodes / writes;
        report.passed = report.failures.is_empty();
        report
    }

    fn teardown(&mut self) -> Result<()> {
        if let Ok(mut clients) = self.clients.lock() {
            clients.clear();
        }
        std::thread::sleep(crate::client::EVENT_POLL * 2);
        self.testnet.down()
    }
}
