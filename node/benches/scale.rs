//! Real-size benchmark: a node holding N procedures and a million outcomes from 50 agents,
//! measured as a team would run it. `bash tools/bench.sh scale` (a loopback-only network
//! namespace; everything binds 127.0.0.1, no mDNS, no Kademlia, no QUIC, no bootstrap list).
//!
//! For each size N in `KNACK_SCALE_SIZES` (default `1000,10000,100000`):
//!
//! 1. **Load.** A fresh node (the library: `NodeBuilder` on a temporary data directory) adds N
//!    generated procedures from 8 concurrent tasks. The dataset (`scale/dataset.rs`) is built
//!    from the committed vocabulary `data/ops_vocabulary.txt` by a seeded generator: clusters of
//!    8 to 32 variants of one runbook, so the node's automatic `similar` edges (5 nearest by the
//!    hashing embedder) form dense clusters, as a real team's memory does. The bench prints how
//!    many edges stay inside a cluster.
//! 2. **Outcomes from 50 agents.** `KNACK_SCALE_OUTCOMES` (default 1,000,000) outcomes in all:
//!    random procedures, 70 % successes, one of 3 context tags each. The node's own identity
//!    writes `KNACK_SCALE_WRITES` of them through the library (16 concurrent writers: the
//!    library write figures); the other 49 agents write the rest. A node has one identity, so
//!    those 49 are real authors outside it (`scale/relay.rs`): a raw libp2p peer pulls the
//!    node's log over `/knack/sync/1` into a replica, the real `Space::record_outcome` authors
//!    each outcome (contagion included) for one of 49 ed25519 keys, the real `Envelope::seal`
//!    signs it as that author's next op (one envelope per op, as a node writes them), and the
//!    peer pushes them to the node over `/knack/sync/1`, which verifies, orders, stores and
//!    applies every one. Why not 49 more nodes: 49 swarms, stores and replicas of N procedures
//!    on 2 cores would measure the bench's own load; the node under test cannot tell the
//!    difference, since every envelope is authored, signed and delivered by the real code.
//! 3. **The real daemon.** The library node stops cleanly and the real `knack run` binary
//!    starts on the same directory as a child process (its start is timed until `status`
//!    answers). Against it: outcome writes through the HTTP API (16 threads, keep-alive),
//!    the node's own checkpoint run while one client asks for `status` back to back (the
//!    actor answers it: the slowest answer is the actor's longest stall) and one writes
//!    outcomes, `top` and `search` latencies (`KNACK_SCALE_QUERIES` each, default 300, queries drawn from
//!    the vocabulary), HTTP writes again while 2 clients ask for `top` back to back (a ranking
//!    reads every procedure: it must not hold the writes up), its VmRSS/VmHWM from `/proc/PID/status`, bytes on disk per op held
//!    (whole data directory, and the store directory alone), a restart after SIGTERM and one
//!    after SIGKILL (each timed until `status` answers; the restarted node's VmRSS read then
//!    and again 20 s after it is ready, once the start's transients are given back), and the
//!    cold sync of a fresh `knack run` bootstrapped to it (timed until its state digest
//!    equals the loaded node's).
//!
//! Nothing is asserted: figures are printed beside the goals and written as JSON to
//! `KNACK_SCALE_OUT` (default `<target dir>/scale-bench.json`). Every wait is bounded
//! (`KNACK_SCALE_TIMEOUT_S`, default 300, for a start or a cold sync; the outcome ingest gets
//! 6 times that); a wait that runs out is reported as such. `KNACK_SCALE_SEED` changes the
//! dataset. A small run: `KNACK_SCALE_SIZES=1000 KNACK_SCALE_OUTCOMES=20000`.
//! `KNACK_SCALE_KEEP=1` keeps each size's loaded data directory (its path is printed), to
//! profile a node of that size again without loading it (e.g. `knack run --dir PATH`).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/mod.rs"]
mod common;

#[path = "scale/child.rs"]
mod child;
#[path = "scale/dataset.rs"]
mod dataset;
#[path = "scale/relay.rs"]
mod relay;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use child::Daemon;
use dataset::{Rng, Spec, Vocabulary};
use knack_crdt::{Outcome, ProcedureId, RelationKind, SpaceName};
use knack_node::{Config, Node, NodeBuilder};
use serde_json::{Value, json};

/// Concurrent tasks adding procedures.
const ADD_TASKS: usize = 8;
/// Concurrent writers through the library.
const LIBRARY_WRITERS: usize = 16;
/// Concurrent HTTP clients.
const HTTP_CLIENTS: usize = 16;
/// Agents other than the node's own.
const OTHER_AUTHORS: usize = 49;
/// Clients asking for `top` while writes run (see [`writes_under_top`]).
const TOP_CLIENTS: usize = 2;
/// Results asked of `top` and `search`.
const QUERY_N: usize = 10;
/// How long a restarted node is left idle after it is ready before its settled memory is read
/// (jemalloc returns freed pages as they age, over ~10 s).
const SETTLE: Duration = Duration::from_secs(20);

/// What a run measures, from the environment.
struct Settings {
    sizes: Vec<usize>,
    outcomes: u64,
    writes: Option<u64>,
    queries: usize,
    timeout: Duration,
    out: PathBuf,
    seed: u64,
    keep: bool,
}

impl Settings {
    fn from_env() -> Settings {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let number = |name: &str| {
            var(name).map(|v| {
                v.replace('_', "")
                    .parse::<u64>()
                    .unwrap_or_else(|_| panic!("{name} must be a number, not {v}"))
            })
        };
        let sizes = var("KNACK_SCALE_SIZES")
            .unwrap_or_else(|| "1000,10000,100000".into())
            .split(',')
            .map(|s| {
                s.trim()
                    .replace('_', "")
                    .parse()
                    .expect("KNACK_SCALE_SIZES: numbers separated by commas")
            })
            .collect();
        let out = var("KNACK_SCALE_OUT")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                // target/<profile>/deps/scale-HASH -> target/scale-bench.json
                std::env::current_exe()
                    .ok()
                    .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.to_path_buf()))
                    .unwrap_or_else(std::env::temp_dir)
                    .join("scale-bench.json")
            });
        Settings {
            sizes,
            outcomes: number("KNACK_SCALE_OUTCOMES").unwrap_or(1_000_000),
            writes: number("KNACK_SCALE_WRITES"),
            queries: number("KNACK_SCALE_QUERIES").map_or(300, |q| q as usize),
            timeout: Duration::from_secs(number("KNACK_SCALE_TIMEOUT_S").unwrap_or(300)),
            out,
            seed: number("KNACK_SCALE_SEED").unwrap_or(0x6b6e_6163_6b21),
            keep: number("KNACK_SCALE_KEEP").is_some_and(|k| k != 0),
        }
    }

    /// Outcomes the node's own identity writes through the library (and again through HTTP).
    fn writes(&self) -> u64 {
        self.writes
            .unwrap_or((self.outcomes / 10).clamp(160, 20_000))
            .min(self.outcomes)
    }

    fn json(&self) -> Value {
        json!({
            "sizes": self.sizes,
            "outcomes": self.outcomes,
            "library_writes": self.writes(),
            "http_writes": self.writes(),
            "queries": self.queries,
            "timeout_s": self.timeout.as_secs(),
            "seed": self.seed,
            "other_authors": OTHER_AUTHORS,
            "library_writers": LIBRARY_WRITERS,
            "http_clients": HTTP_CLIENTS,
        })
    }
}

/// One printed and recorded figure.
struct Row {
    key: &'static str,
    label: String,
    value: Option<f64>,
    unit: &'static str,
    goal: Option<(String, bool)>,
}

/// The figures of one size.
struct SizeReport {
    procedures: usize,
    rows: Vec<Row>,
    notes: Vec<String>,
}

impl SizeReport {
    fn new(procedures: usize) -> SizeReport {
        SizeReport {
            procedures,
            rows: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Records a figure (`None`: not measured, e.g. a wait that ran out).
    fn fig(
        &mut self,
        key: &'static str,
        label: impl Into<String>,
        value: Option<f64>,
        unit: &'static str,
    ) {
        let label = label.into();
        match value {
            Some(v) => eprintln!("  [{}] {label}: {v:.3} {unit}", self.procedures),
            None => eprintln!("  [{}] {label}: not measured", self.procedures),
        }
        self.rows.push(Row {
            key,
            label,
            value,
            unit,
            goal: None,
        });
    }

    /// Records a figure with the goal it is compared against.
    fn goal(
        &mut self,
        key: &'static str,
        label: impl Into<String>,
        value: Option<f64>,
        unit: &'static str,
        goal: &str,
        met: impl Fn(f64) -> bool,
    ) {
        self.fig(key, label, value, unit);
        if let Some(row) = self.rows.last_mut() {
            row.goal = Some((goal.to_owned(), value.is_some_and(met)));
        }
    }

    fn note(&mut self, note: impl Into<String>) {
        let note = note.into();
        eprintln!("  [{}] note: {note}", self.procedures);
        self.notes.push(note);
    }

    fn value(&self, key: &str) -> Option<f64> {
        self.rows
            .iter()
            .find(|r| r.key == key)
            .and_then(|r| r.value)
    }

    fn print(&self) {
        println!("\n== {} procedures ==", self.procedures);
        println!("{:<58} {:>16} {:<8} goal", "figure", "value", "unit");
        for r in &self.rows {
            let value = r.value.map_or("not measured".to_owned(), |v| {
                if v.abs() >= 100.0 {
                    format!("{v:.0}")
                } else {
                    format!("{v:.3}")
                }
            });
            let goal = r.goal.as_ref().map_or(String::new(), |(g, met)| {
                format!("{g} {}", if *met { "(met)" } else { "(NOT met)" })
            });
            println!("{:<58} {:>16} {:<8} {goal}", r.label, value, r.unit);
        }
        for n in &self.notes {
            println!("  note: {n}");
        }
    }

    fn json(&self) -> Value {
        let figures: serde_json::Map<String, Value> = self
            .rows
            .iter()
            .map(|r| (r.key.to_owned(), r.value.map_or(Value::Null, |v| json!(v))))
            .collect();
        let goals: serde_json::Map<String, Value> = self
            .rows
            .iter()
            .filter_map(|r| {
                let (goal, met) = r.goal.as_ref()?;
                Some((r.key.to_owned(), json!({ "goal": goal, "met": met })))
            })
            .collect();
        let labels: serde_json::Map<String, Value> = self
            .rows
            .iter()
            .map(|r| (r.key.to_owned(), json!(format!("{} ({})", r.label, r.unit))))
            .collect();
        json!({
            "procedures": self.procedures,
            "figures": figures,
            "goals": goals,
            "labels": labels,
            "notes": self.notes,
        })
    }
}

/// Wall-clock milliseconds since the Unix epoch (the HLCs of the other agents' ops).
fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Throughput and latency of a run of timed calls.
struct Latency {
    per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

impl Latency {
    fn of(samples: Vec<Duration>, elapsed: Duration) -> Latency {
        let samples = knack_percentile::Sorted::new(samples);
        let at = |p: f64| {
            samples
                .percentile(p)
                .map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
        };
        Latency {
            per_s: samples.len() as f64 / elapsed.as_secs_f64(),
            p50_ms: at(50.0),
            p99_ms: at(99.0),
            max_ms: at(100.0),
        }
    }
}

/// The node's configuration for the bench: TCP on 127.0.0.1 only, no QUIC, no Kademlia, no
/// mDNS, API on 127.0.0.1, and the given bootstrap peers.
fn config(bootstrap: Vec<libp2p::Multiaddr>) -> Config {
    Config {
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
        api: "127.0.0.1:0".parse().unwrap(),
        bootstrap,
        mdns: false,
        kademlia: false,
        quic: false,
        sync_interval_ms: 1000,
        ..Config::default()
    }
}

/// Initialises a data directory (identity, token) with the bench's `knack.toml`, read by both
/// the library node and the `knack` binary.
fn prepare(dir: &Path, bootstrap: Vec<libp2p::Multiaddr>) {
    knack_node::dirs::init(dir).unwrap();
    config(bootstrap).save(dir).unwrap();
}

/// Bytes allocated on disk under `path` (what `du` counts).
fn disk_bytes(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if meta.is_dir() {
        std::fs::read_dir(path)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| disk_bytes(&e.path()))
                    .sum()
            })
            .unwrap_or(0)
            + meta.blocks() * 512
    } else {
        meta.blocks() * 512
    }
}

/// Adds every spec from `ADD_TASKS` concurrent tasks; the ids in the specs' order.
async fn add_all(node: &Node, space: &SpaceName, specs: Arc<Vec<Spec>>) -> Vec<ProcedureId> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..ADD_TASKS {
        let (node, space, specs, next) = (node.clone(), space.clone(), specs.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut added = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(spec) = specs.get(i) else {
                    return added;
                };
                let id = node.add(&space, spec.request.clone()).await.unwrap();
                added.push((i, id));
            }
        }));
    }
    let mut ids = vec![None; specs.len()];
    for t in tasks {
        for (i, id) in t.await.unwrap() {
            ids[i] = Some(id);
        }
    }
    ids.into_iter().map(Option::unwrap).collect()
}

/// A random outcome as the bench's agents record them.
fn outcome(rng: &mut Rng, contexts: &[String]) -> Outcome {
    Outcome {
        success: rng.chance(0.7),
        duration_ms: rng.between(200, 30_000) as u64,
        contexts: vec![rng.pick(contexts).clone()],
    }
}

/// `count` outcome writes through the library from `LIBRARY_WRITERS` concurrent tasks.
async fn library_writes(
    node: &Node,
    space: &SpaceName,
    ids: Arc<Vec<ProcedureId>>,
    contexts: Arc<Vec<String>>,
    count: u64,
    seed: u64,
) -> Latency {
    let started = Instant::now();
    let mut tasks = Vec::new();
    let mut rng = Rng::new(seed);
    for w in 0..LIBRARY_WRITERS {
        let (node, space, ids, contexts) =
            (node.clone(), space.clone(), ids.clone(), contexts.clone());
        let mut rng = rng.fork(w as u64);
        let n =
            count / LIBRARY_WRITERS as u64 + u64::from((w as u64) < count % LIBRARY_WRITERS as u64);
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            for _ in 0..n {
                let id = *rng.pick(&ids);
                let o = outcome(&mut rng, &contexts);
                let t = Instant::now();
                node.record_outcome(&space, id, o).await.unwrap();
                samples.push(t.elapsed());
            }
            samples
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    Latency::of(all, started.elapsed())
}

/// `count` outcome writes through the HTTP API from `HTTP_CLIENTS` threads (keep-alive).
fn http_writes(
    d: &Daemon,
    ids: &[ProcedureId],
    contexts: &[String],
    count: u64,
    seed: u64,
) -> Latency {
    let mut rng = Rng::new(seed);
    let started = Instant::now();
    let samples: Vec<Duration> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..HTTP_CLIENTS)
            .map(|c| {
                let mut rng = rng.fork(c as u64);
                let n = count / HTTP_CLIENTS as u64
                    + u64::from((c as u64) < count % HTTP_CLIENTS as u64);
                scope.spawn(move || {
                    let agent = child::agent(Duration::from_secs(60));
                    (0..n)
                        .map(|_| post_outcome(d, &agent, &mut rng, ids, contexts))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect()
    });
    Latency::of(samples, started.elapsed())
}

/// One durable outcome write of a random procedure through the HTTP API: its latency.
fn post_outcome(
    d: &Daemon,
    agent: &ureq::Agent,
    rng: &mut Rng,
    ids: &[ProcedureId],
    contexts: &[String],
) -> Duration {
    let id = rng.pick(ids).to_hex();
    let o = outcome(rng, contexts);
    let url = format!("{}/v1/spaces/default/procedures/{id}/outcomes", d.api);
    let body = json!({
        "success": o.success,
        "duration_ms": o.duration_ms,
        "contexts": o.contexts,
    });
    let t = Instant::now();
    let mut response = agent
        .post(&url)
        .header("Authorization", format!("Bearer {}", d.token))
        .send_json(body)
        .expect("the API answers");
    // Read to the end, as a client does: the answer is the body, and only a connection whose
    // response was read goes back to the pool (an unread one is closed, and the next request
    // connects again).
    let answer = response.body_mut().read_to_vec();
    let took = t.elapsed();
    assert_eq!(response.status(), 200, "an outcome write failed");
    answer.expect("the answer's body");
    took
}

/// What [`checkpoint_under_load`] saw.
struct CheckpointUnderLoad {
    /// The run (`POST .../checkpoint`'s answer), and how long the call took.
    run: Option<Value>,
    elapsed: Duration,
    /// `GET /v1/status` back to back meanwhile (the actor answers it: its slowest answer is
    /// the actor's longest stall).
    status: Option<Latency>,
    /// Outcome writes back to back meanwhile, one client (their acknowledgements wait for the
    /// run to be stored).
    writes: Latency,
}

/// The node's own checkpoint while one client asks for `status` and one writes outcomes, back
/// to back, until the checkpoint's answer.
fn checkpoint_under_load(
    d: &Daemon,
    ids: &[ProcedureId],
    contexts: &[String],
    seed: u64,
) -> CheckpointUnderLoad {
    let ((run, writes), elapsed, status) = with_status_polled(d, || {
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            let writes = scope.spawn(|| {
                let agent = child::agent(Duration::from_secs(60));
                let mut rng = Rng::new(seed);
                let started = Instant::now();
                let mut samples = Vec::new();
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    samples.push(post_outcome(d, &agent, &mut rng, ids, contexts));
                }
                Latency::of(samples, started.elapsed())
            });
            let run = d.post("/v1/spaces/default/checkpoint");
            done.store(true, std::sync::atomic::Ordering::Relaxed);
            (run, writes.join().unwrap())
        })
    });
    CheckpointUnderLoad {
        run,
        elapsed,
        status,
        writes,
    }
}

/// `action` while one client asks for `status` back to back, until it returns: its result,
/// how long it took, and the `status` latencies meanwhile (the actor answers `status`: the
/// slowest is the actor's longest stall while `action` ran).
fn with_status_polled<T: Send>(
    d: &Daemon,
    action: impl FnOnce() -> T + Send,
) -> (T, Duration, Option<Latency>) {
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let status = scope.spawn(|| {
            let agent = child::agent(Duration::from_secs(60));
            let started = Instant::now();
            let mut samples = Vec::new();
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let t = Instant::now();
                d.get_with(&agent, "/v1/status", &[])?;
                samples.push(t.elapsed());
            }
            Some(Latency::of(samples, started.elapsed()))
        });
        let t = Instant::now();
        let result = action();
        let elapsed = t.elapsed();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        (result, elapsed, status.join().unwrap())
    })
}

/// The first ranking (`top`, n=10) of a node whose contagion sums are all stale (just
/// started, or just done ingesting a cold sync) while `status` is polled: how long the ranking
/// took, and the actor's longest stall meanwhile (a settle of every neighbourhood on the
/// actor showed here).
fn first_top(r: &mut SizeReport, d: &Daemon, keys: [&'static str; 2], label: &str) {
    let (rows, elapsed, status) = with_status_polled(d, || {
        d.get_with(
            &child::agent(Duration::from_secs(300)),
            "/v1/spaces/default/top",
            &[("n", "10")],
        )
    });
    r.fig(
        keys[0],
        format!("first top (n=10) {label}"),
        rows.map(|_| elapsed.as_secs_f64() * 1000.0),
        "ms",
    );
    r.fig(
        keys[1],
        "  status back to back meanwhile: slowest answer (the actor's longest stall)",
        status.map(|l| l.max_ms),
        "ms",
    );
}

/// Durable HTTP outcome writes (as [`http_writes`]) while [`TOP_CLIENTS`] clients ask for
/// `top` (n=10, no filter) back to back until the writes are done: a ranking scores every
/// procedure, and must not hold the writes up. Returns the writes' figures and the queries'.
fn writes_under_top(
    d: &Daemon,
    ids: &[ProcedureId],
    contexts: &[String],
    count: u64,
    seed: u64,
) -> (Latency, Option<Latency>) {
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let queries: Vec<_> = (0..TOP_CLIENTS)
            .map(|_| {
                scope.spawn(|| {
                    let agent = child::agent(Duration::from_secs(60));
                    let started = Instant::now();
                    let mut samples = Vec::new();
                    let query = [("n", QUERY_N.to_string())];
                    let query: Vec<(&str, &str)> =
                        query.iter().map(|(k, v)| (*k, v.as_str())).collect();
                    while !done.load(std::sync::atomic::Ordering::Relaxed) {
                        let t = Instant::now();
                        d.get_with(&agent, "/v1/spaces/default/top", &query)?;
                        samples.push(t.elapsed());
                    }
                    Some(Latency::of(samples, started.elapsed()))
                })
            })
            .collect();
        let writes = http_writes(d, ids, contexts, count, seed);
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        let tops: Option<Vec<Latency>> = queries.into_iter().map(|q| q.join().unwrap()).collect();
        let top = tops.map(|all| Latency {
            per_s: all.iter().map(|l| l.per_s).sum(),
            p50_ms: all.iter().map(|l| l.p50_ms).fold(0.0, f64::max),
            p99_ms: all.iter().map(|l| l.p99_ms).fold(0.0, f64::max),
            max_ms: all.iter().map(|l| l.max_ms).fold(0.0, f64::max),
        });
        (writes, top)
    })
}

/// Latencies of `count` sequential GETs of `path` with the queries `make` draws.
fn query_latency(
    d: &Daemon,
    path: &str,
    count: usize,
    mut make: impl FnMut(usize) -> Vec<(&'static str, String)>,
) -> Option<Latency> {
    let agent = child::agent(Duration::from_secs(60));
    let started = Instant::now();
    let mut samples = Vec::new();
    for i in 0..count {
        let query = make(i);
        let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let t = Instant::now();
        d.get_with(&agent, path, &query)?;
        samples.push(t.elapsed());
    }
    Some(Latency::of(samples, started.elapsed()))
}

/// The listen address of a library node, with its peer id.
async fn listen_addr(node: &Node) -> libp2p::Multiaddr {
    for _ in 0..500 {
        let s = node.status().await.unwrap();
        if let Some(a) = s.listen_addrs.first() {
            return format!("{a}/p2p/{}", s.peer_id).parse().unwrap();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the node did not listen within 5 s")
}

/// Waits until the node holds every op `last_seq` lists; the time it took, or `None` after
/// `timeout`.
async fn wait_ingested(
    node: &Node,
    last_seq: &std::collections::BTreeMap<String, u64>,
    started: Instant,
    timeout: Duration,
) -> Option<Duration> {
    loop {
        let status = node.status().await.unwrap();
        let vv = &status.spaces[0].version_vector;
        if last_seq
            .iter()
            .all(|(agent, seq)| vv.get(agent).is_some_and(|have| have >= seq))
        {
            return Some(started.elapsed());
        }
        if started.elapsed() > timeout {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The default space's digest in a status.
/// Polls `done` every 100 ms until it holds (the time it took) or `timeout` passes.
fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < timeout {
        if done() {
            return Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

fn digest_of(status: &Value) -> String {
    status["spaces"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["name"] == "default")
        .and_then(|s| s["digest"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// Runs every measurement for one size.
fn run_size(
    rt: &tokio::runtime::Runtime,
    s: &Settings,
    vocab: &Vocabulary,
    n: usize,
) -> SizeReport {
    let mut r = SizeReport::new(n);
    let space = SpaceName::new("default").unwrap();
    let contexts = Arc::new(vocab.contexts());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    prepare(&dir, vec![]);

    // 1. Load N procedures through the library.
    let specs = Arc::new(dataset::procedures(vocab, n, s.seed ^ n as u64));
    let clusters = specs.last().map_or(0, |p| p.cluster + 1);
    let mean_body = specs
        .iter()
        .map(|p| match &p.request.body {
            knack_crdt::Body::Inline(b) => b.len(),
            _ => 0,
        })
        .sum::<usize>() as f64
        / n as f64;
    r.note(format!(
        "dataset: {n} procedures in {clusters} clusters, mean inline body {mean_body:.0} bytes, \
         vocabulary of {} words",
        vocab.len()
    ));
    let node = rt.block_on(NodeBuilder::new(&dir).build()).unwrap();
    let t = Instant::now();
    let ids = Arc::new(rt.block_on(add_all(&node, &space, specs.clone())));
    r.fig(
        "adds_per_s",
        format!("procedure adds/s through the library ({ADD_TASKS} tasks, with similar edges)"),
        Some(n as f64 / t.elapsed().as_secs_f64()),
        "/s",
    );

    // 2. A raw peer pulls the log into its replica (the other agents' view of the space).
    let addr = rt.block_on(listen_addr(&node));
    let mut peer = rt.block_on(relay::Relay::connect(addr, node.peer_id(), space.clone()));
    let pulled = rt.block_on(peer.pull_all());
    r.fig(
        "raw_pull_ops_per_s",
        "raw peer pull of the node's log over /knack/sync/1",
        Some(pulled.envelopes as f64 / pulled.elapsed.as_secs_f64()),
        "env/s",
    );
    r.note(format!(
        "raw pull: {} envelopes, {:.1} MiB in {:.2} s",
        pulled.envelopes,
        pulled.bytes as f64 / (1 << 20) as f64,
        pulled.elapsed.as_secs_f64()
    ));
    let cluster_of: HashMap<ProcedureId, usize> = ids
        .iter()
        .zip(specs.iter())
        .map(|(id, p)| (*id, p.cluster))
        .collect();
    let (mut edges, mut inside) = (0u64, 0u64);
    for (key, _) in pulled.space.relations() {
        if key.kind == RelationKind::Similar {
            edges += 1;
            if cluster_of.get(&key.from) == cluster_of.get(&key.to) {
                inside += 1;
            }
        }
    }
    r.fig(
        "similar_edges",
        "similar edges drawn by the node",
        Some(edges as f64),
        "edges",
    );
    r.fig(
        "similar_edges_in_cluster",
        "share of similar edges inside a cluster",
        Some(100.0 * inside as f64 / edges.max(1) as f64),
        "%",
    );

    // 3. The other 49 agents' outcomes, authored and pushed while the node ingests them.
    let writes = s.writes();
    let external = s.outcomes - writes;
    let (tx, rx) = relay::batches();
    let author_space = pulled.space;
    let author_ids = ids.clone();
    let author_contexts = contexts.clone();
    let seed = s.seed ^ 0xa11ce;
    let started = Instant::now();
    let author = std::thread::spawn(move || {
        let workload = relay::Workload {
            authors: OTHER_AUTHORS,
            count: external,
            contexts: author_contexts.to_vec(),
            seed,
            checkpoint: true,
        };
        relay::author_outcomes(author_space, &author_ids, &workload, &tx)
    });
    let pushes = rt.block_on(peer.push_all(rx));
    let authored = author.join().unwrap();
    let ingested = rt.block_on(wait_ingested(
        &node,
        &authored.last_seq,
        started,
        s.timeout * 6,
    ));
    r.note(format!(
        "{} outcomes of {OTHER_AUTHORS} other agents: {} ops, {} changes ({:.1} per outcome), \
         {:.1} MiB of envelopes ({:.0} bytes per op), {pushes} pushes; authoring took {:.1} s",
        authored.outcomes,
        authored.ops,
        authored.changes,
        authored.changes as f64 / authored.outcomes.max(1) as f64,
        authored.bytes as f64 / (1 << 20) as f64,
        authored.bytes as f64 / authored.ops.max(1) as f64,
        authored.busy.as_secs_f64()
    ));
    r.note(format!(
        "then each of the {OTHER_AUTHORS} agents sealed a checkpoint run of its ops: {} envelopes, \
         {:.1} MiB in all",
        authored.checkpoint_envelopes,
        authored.checkpoint_bytes as f64 / (1 << 20) as f64
    ));
    r.fig(
        "remote_ingest_outcomes_per_s",
        format!("outcomes of {OTHER_AUTHORS} agents ingested over /knack/sync/1"),
        ingested.map(|d| authored.outcomes as f64 / d.as_secs_f64()),
        "/s",
    );
    if ingested.is_none() {
        r.note(format!(
            "ingest not complete after {} s",
            (s.timeout * 6).as_secs()
        ));
    }
    drop(peer);

    // 4. The node's own outcomes through the library.
    let lib = rt.block_on(library_writes(
        &node,
        &space,
        ids.clone(),
        contexts.clone(),
        writes,
        s.seed ^ 1,
    ));
    r.fig(
        "library_writes_per_s",
        format!("durable outcome writes/s, library ({LIBRARY_WRITERS} writers)"),
        Some(lib.per_s),
        "/s",
    );
    r.fig(
        "library_p50_ms",
        "  p50 latency, library",
        Some(lib.p50_ms),
        "ms",
    );
    r.fig(
        "library_p99_ms",
        "  p99 latency, library",
        Some(lib.p99_ms),
        "ms",
    );
    let status = rt.block_on(node.status()).unwrap();
    let ops_loaded = status.spaces[0].ops;
    r.note(format!(
        "the node holds {ops_loaded} ops, {} procedures, {} authors",
        status.spaces[0].procedures,
        status.spaces[0].version_vector.len()
    ));
    rt.block_on(node.shutdown());
    drop(node);

    // 5. The real daemon on the loaded directory.
    let (mut d, first_start) = Daemon::start(&dir, &logs.join("node.log"));
    r.fig(
        "first_start_s",
        "knack run on the loaded directory: start until status answers",
        Some(first_start.as_secs_f64()),
        "s",
    );
    // Writes are measured on a ready node: at start it rebuilds the search index (embedding
    // every procedure) on a blocking thread, which takes a core for seconds at 10k and would
    // be measured as slow writes (a profile of the HTTP phase showed half of the node's CPU
    // in the index build).
    let ready = wait_until(s.timeout, || d.ready());
    r.fig(
        "ready_s",
        "  then until /readyz answers 200 (search index built)",
        ready.map(|t| t.as_secs_f64()),
        "s",
    );
    let (rss_start, _) = d.memory_mib();
    let http = http_writes(&d, &ids, &contexts, writes, s.seed ^ 2);
    r.goal(
        "http_writes_per_s",
        format!("durable outcome writes/s, HTTP API ({HTTP_CLIENTS} clients)"),
        Some(http.per_s),
        "/s",
        ">= 5000 (at 10k)",
        |v| v >= 5000.0,
    );
    r.fig(
        "http_p50_ms",
        "  p50 latency, HTTP",
        Some(http.p50_ms),
        "ms",
    );
    r.fig(
        "http_p99_ms",
        "  p99 latency, HTTP",
        Some(http.p99_ms),
        "ms",
    );

    // The node's own checkpoint (it also seals them by itself past `checkpoint_after_bytes`)
    // while a client asks for `status` and another writes, then the restated envelopes
    // deleted.
    let t = Instant::now();
    let CheckpointUnderLoad {
        run,
        elapsed,
        status,
        writes: during,
    } = checkpoint_under_load(&d, &ids, &contexts, s.seed ^ 6);
    r.fig(
        "checkpoint_s",
        "own checkpoint run sealed (POST .../checkpoint), under the load below",
        run.as_ref().map(|_| elapsed.as_secs_f64()),
        "s",
    );
    r.fig(
        "status_during_checkpoint_max_ms",
        "  status back to back meanwhile: slowest answer (the actor's longest stall)",
        status.as_ref().map(|l| l.max_ms),
        "ms",
    );
    r.fig(
        "status_during_checkpoint_p99_ms",
        "  status meanwhile: p99",
        status.as_ref().map(|l| l.p99_ms),
        "ms",
    );
    r.fig(
        "writes_during_checkpoint_per_s",
        "  outcome writes meanwhile, 1 client back to back",
        Some(during.per_s),
        "/s",
    );
    r.fig(
        "writes_during_checkpoint_max_ms",
        "  their slowest acknowledgement (waits for the run to be stored)",
        Some(during.max_ms),
        "ms",
    );
    if let Some(run) = &run {
        r.note(format!(
            "own checkpoint run: {} envelopes, {} changes, {:.1} MiB",
            run["envelopes"],
            run["changes"],
            run["bytes"].as_f64().unwrap_or(0.0) / (1 << 20) as f64
        ));
    }
    let compacted = wait_until(s.timeout, || {
        d.metric("knack_envelopes_compacted_total") > 0.0
    });
    r.fig(
        "compaction_s",
        "  until its restated envelopes are deleted",
        compacted.map(|_| t.elapsed().as_secs_f64()),
        "s",
    );

    let mut rng = Rng::new(s.seed ^ 3);
    let tags: Vec<String> = specs
        .iter()
        .take(2000)
        .map(|p| p.request.tags[0].clone())
        .collect();
    let top = query_latency(&d, "/v1/spaces/default/top", s.queries, |i| {
        let mut q = vec![("n", QUERY_N.to_string())];
        match i % 3 {
            0 => {}
            1 => q.push(("tag", rng.pick(&tags).clone())),
            _ => q.push(("context", rng.pick(&contexts).clone())),
        }
        q
    });
    r.fig(
        "top_p50_ms",
        "top n=10 p50 (none / tag / context filters)",
        top.as_ref().map(|l| l.p50_ms),
        "ms",
    );
    r.fig(
        "top_p99_ms",
        "top n=10 p99",
        top.as_ref().map(|l| l.p99_ms),
        "ms",
    );
    let (mixed, top_meanwhile) = writes_under_top(&d, &ids, &contexts, writes / 4, s.seed ^ 5);
    r.fig(
        "http_writes_under_top_per_s",
        format!(
            "durable outcome writes/s, HTTP ({HTTP_CLIENTS} clients), while {TOP_CLIENTS} clients ask for top"
        ),
        Some(mixed.per_s),
        "/s",
    );
    r.fig(
        "http_under_top_p99_ms",
        "  p99 latency of those writes",
        Some(mixed.p99_ms),
        "ms",
    );
    r.fig(
        "top_under_writes_per_s",
        "  top answers/s meanwhile",
        top_meanwhile.as_ref().map(|l| l.per_s),
        "/s",
    );
    r.fig(
        "top_under_writes_p99_ms",
        "  top p99 meanwhile (worst client)",
        top_meanwhile.as_ref().map(|l| l.p99_ms),
        "ms",
    );
    let mut rng = Rng::new(s.seed ^ 4);
    let search = query_latency(&d, "/v1/spaces/default/search", s.queries, |i| {
        let mut q = vec![
            ("q", dataset::search_query(vocab, &mut rng)),
            ("n", QUERY_N.to_string()),
        ];
        if i % 2 == 1 {
            q.push(("context", rng.pick(&contexts).clone()));
        }
        q
    });
    r.fig(
        "search_p50_ms",
        "search n=10 p50 (queries from the vocabulary)",
        search.as_ref().map(|l| l.p50_ms),
        "ms",
    );
    r.fig(
        "search_p99_ms",
        "search n=10 p99",
        search.as_ref().map(|l| l.p99_ms),
        "ms",
    );

    let (rss, hwm) = d.memory_mib();
    let mb = |mib: f64| mib * 1024.0 * 1024.0 / 1e6;
    r.fig(
        "rss_after_start_mb",
        "knack VmRSS after start (child process)",
        Some(mb(rss_start)),
        "MB",
    );
    r.goal(
        "rss_mb",
        "knack VmRSS after HTTP writes and queries",
        Some(mb(rss)),
        "MB",
        "<= 500 (at 100k)",
        |v| v <= 500.0,
    );
    r.goal(
        "hwm_mb",
        "knack VmHWM (peak)",
        Some(mb(hwm)),
        "MB",
        "<= 500 (at 100k)",
        |v| v <= 500.0,
    );

    // 6. Restarts: clean (SIGTERM: flush + snapshot), then a crash (SIGKILL).
    let status = d.status();
    let ops_held = status["spaces"][0]["ops"].as_u64().unwrap_or(ops_loaded);
    let stopped = d.stop();
    r.fig(
        "stop_s",
        "SIGTERM until the process exits",
        stopped.map(|t| t.as_secs_f64()),
        "s",
    );
    let all = disk_bytes(&dir);
    let db = disk_bytes(&dir.join(knack_node::dirs::DB_DIR));
    r.note(format!(
        "{ops_held} ops held; data directory {:.1} MiB, store {:.1} MiB",
        all as f64 / (1 << 20) as f64,
        db as f64 / (1 << 20) as f64
    ));
    r.goal(
        "disk_bytes_per_op",
        "bytes on disk per op held (data directory)",
        Some(all as f64 / ops_held.max(1) as f64),
        "B",
        "<= 1024",
        |v| v <= 1024.0,
    );
    r.fig(
        "store_bytes_per_op",
        "  store directory alone",
        Some(db as f64 / ops_held.max(1) as f64),
        "B",
    );
    // What the store holds against what it takes: its space amplification (the node is
    // stopped, so the database can be opened here).
    match knack_node::store::FjallStore::open(&dir.join(knack_node::dirs::DB_DIR))
        .and_then(|store| store.usage())
    {
        Ok(usage) => {
            r.fig(
                "store_logical_bytes_per_op",
                "  bytes the store holds per op (keys + values)",
                Some(usage.logical_bytes as f64 / ops_held.max(1) as f64),
                "B",
            );
            r.fig(
                "store_amplification",
                "  store space amplification (disk / held)",
                Some(usage.amplification()),
                "x",
            );
            r.note(format!(
                "the store holds {:.1} MiB: envelopes {:.1} MiB, snapshots {:.1} MiB; {:.1} MiB on disk",
                usage.logical_bytes as f64 / (1 << 20) as f64,
                usage.envelope_bytes as f64 / (1 << 20) as f64,
                usage.snapshot_bytes as f64 / (1 << 20) as f64,
                usage.disk_bytes as f64 / (1 << 20) as f64,
            ));
        }
        Err(e) => r.note(format!("store usage not measured: {e}")),
    }
    let mut files = Vec::new();
    largest_files(&dir, &dir, &mut files);
    files.sort_by_key(|f| std::cmp::Reverse(f.1));
    let files: Vec<String> = files
        .into_iter()
        .take(6)
        .map(|(name, bytes)| format!("{name} {:.1} MiB", bytes as f64 / (1 << 20) as f64))
        .collect();
    r.note(format!("largest files: {}", files.join(", ")));
    let (mut d, restart) = Daemon::start(&dir, &logs.join("node.log"));
    r.goal(
        "restart_s",
        "restart after SIGTERM until status answers",
        Some(restart.as_secs_f64()),
        "s",
        "< 2 (at 10k)",
        |v| v < 2.0,
    );
    d.kill9();
    let (d, crash_restart) = Daemon::start(&dir, &logs.join("node.log"));
    r.fig(
        "crash_restart_s",
        "restart after SIGKILL until status answers",
        Some(crash_restart.as_secs_f64()),
        "s",
    );
    let (rss_restarted, _) = d.memory_mib();
    r.fig(
        "rss_after_restart_mb",
        "knack VmRSS after restart (when status answers)",
        Some(mb(rss_restarted)),
        "MB",
    );
    first_top(
        &mut r,
        &d,
        [
            "first_top_after_restart_ms",
            "status_during_first_top_after_restart_max_ms",
        ],
        "after the restart",
    );
    // The resident set once the start's transients (the snapshot read whole, the texts of the
    // index build) are freed and the allocator has returned them: what an idle node holds.
    let settled = wait_until(s.timeout, || d.ready()).map(|_| {
        std::thread::sleep(SETTLE);
        mb(d.memory_mib().0)
    });
    r.fig(
        "rss_settled_mb",
        format!("  then {} s after /readyz answers 200", SETTLE.as_secs()),
        settled,
        "MB",
    );

    // 7. Cold sync of a fresh node bootstrapped to the loaded one.
    let target = digest_of(&d.status());
    let joiner_dir = tmp.path().join("joiner");
    prepare(&joiner_dir, vec![d.multiaddr().parse().unwrap()]);
    let started = Instant::now();
    let (joiner, _) = Daemon::start(&joiner_dir, &logs.join("joiner.log"));
    let agent = child::agent(Duration::from_secs(30));
    let mut synced = None;
    let mut joiner_ops = 0;
    while started.elapsed() < s.timeout {
        if let Some(status) = joiner.get_with(&agent, "/v1/status", &[]) {
            joiner_ops = status["spaces"][0]["ops"].as_u64().unwrap_or(0);
            if digest_of(&status) == target {
                synced = Some(started.elapsed());
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    r.goal(
        "cold_sync_s",
        "cold sync of a fresh node until its digest equals",
        synced.map(|t| t.as_secs_f64()),
        "s",
        "< 10 (at 10k)",
        |v| v < 10.0,
    );
    match synced {
        Some(t) => r.fig(
            "cold_sync_ops_per_s",
            "  ops/s during cold sync",
            Some(ops_held as f64 / t.as_secs_f64()),
            "/s",
        ),
        None => r.note(format!(
            "not converged after {} s ({joiner_ops} of {ops_held} ops)",
            s.timeout.as_secs()
        )),
    }
    if synced.is_some() {
        first_top(
            &mut r,
            &joiner,
            [
                "first_top_after_sync_ms",
                "status_during_first_top_after_sync_max_ms",
            ],
            "of the fresh node after its cold sync",
        );
    }
    let (_, joiner_hwm) = joiner.memory_mib();
    r.fig(
        "joiner_hwm_mb",
        "  VmHWM of the joining node",
        Some(mb(joiner_hwm)),
        "MB",
    );
    drop(joiner);
    drop(d);
    if s.keep {
        let kept = tmp.keep();
        r.note(format!(
            "data directory kept: {}",
            kept.join("node").display()
        ));
    }
    r
}

fn main() {
    let settings = Settings::from_env();
    let vocab = Vocabulary::load();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    eprintln!(
        "scale bench: sizes {:?}, {} outcomes per size ({} through the library, {} through \
         HTTP), results to {}",
        settings.sizes,
        settings.outcomes,
        settings.writes(),
        settings.writes(),
        settings.out.display()
    );
    let mut reports: Vec<SizeReport> = Vec::new();
    for &n in &settings.sizes {
        eprintln!("size {n}:");
        let report = run_size(&rt, &settings, &vocab, n);
        report.print();
        reports.push(report);
        write_json(&settings, &reports);
    }
    if let (Some(small), Some(large)) = (reports.first(), reports.last())
        && reports.len() > 1
        && let (Some(a), Some(b)) = (
            small.value("http_writes_per_s"),
            large.value("http_writes_per_s"),
        )
    {
        let ratio = a / b;
        println!(
            "\nHTTP outcome writes/s at {} procedures vs {}: {ratio:.2}x slower (goal: within 2x) {}",
            large.procedures,
            small.procedures,
            if ratio <= 2.0 { "(met)" } else { "(NOT met)" }
        );
    }
    println!("\nfigures written to {}", settings.out.display());
}

/// Writes every size measured so far (after each size, so a long run keeps its early figures).
fn write_json(settings: &Settings, reports: &[SizeReport]) {
    let cross = match (reports.first(), reports.last()) {
        (Some(a), Some(b)) if reports.len() > 1 => {
            match (a.value("http_writes_per_s"), b.value("http_writes_per_s")) {
                (Some(x), Some(y)) => json!({
                    "http_writes_slowdown": x / y,
                    "from_procedures": a.procedures,
                    "to_procedures": b.procedures,
                    "goal": "<= 2",
                    "met": x / y <= 2.0,
                }),
                _ => Value::Null,
            }
        }
        _ => Value::Null,
    };
    let doc = json!({
        "bench": "knack-node scale",
        "version": env!("CARGO_PKG_VERSION"),
        "settings": settings.json(),
        "sizes": reports.iter().map(SizeReport::json).collect::<Vec<_>>(),
        "throughput_across_sizes": cross,
    });
    if let Some(parent) = settings.out.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    if let Err(e) = std::fs::write(&settings.out, serde_json::to_string_pretty(&doc).unwrap()) {
        eprintln!("could not write {}: {e}", settings.out.display());
    }
}

/// Every file under `dir`, by path relative to `root`, with its size on disk.
fn largest_files(root: &Path, dir: &Path, out: &mut Vec<(String, u64)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            largest_files(root, &path, out);
        } else {
            let name = path.strip_prefix(root).unwrap_or(&path);
            out.push((name.display().to_string(), disk_bytes(&path)));
        }
    }
}
