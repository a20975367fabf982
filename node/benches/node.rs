//! Node benchmark: prints durable outcome writes/s and latency through the library and the
//! HTTP API, beside a Redis server started here doing the equivalent work (HINCRBY counts +
//! ZADD ranking per outcome, in MULTI/EXEC) with `appendfsync everysec` and `always`; and the
//! gossip propagation latency of an outcome from one node to all of 5 local nodes.
//!
//! Run: `cargo bench -p knack-node --bench node` (needs `redis-server` on PATH for the
//! reference rows; they are skipped, and say so, without it). Everything binds 127.0.0.1.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use knack_crdt::{Body, Outcome, ProcedureId, ProcedureKind, SpaceName};
use knack_node::{Config, Event, NewProcedureRequest, Node, NodeBuilder};

/// Writes per measured run.
const WRITES: usize = 4000;
/// Concurrent writers.
const CLIENTS: usize = 16;
/// Propagation samples.
const PROPAGATIONS: usize = 200;

struct Figures {
    label: String,
    writes_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// The `p`-th percentile (nearest rank) of sorted durations, in milliseconds (NaN if none).
fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    knack_percentile::percentile_of_sorted(sorted, p).map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
}

fn summarise(label: &str, mut latencies: Vec<Duration>, elapsed: Duration) -> Figures {
    latencies.sort();
    Figures {
        label: label.to_owned(),
        writes_per_s: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50_ms: percentile_ms(&latencies, 50.0),
        p99_ms: percentile_ms(&latencies, 99.0),
    }
}

/// Runs `CLIENTS` threads; each builds its client with `connect(client)` and makes
/// `WRITES / CLIENTS` timed calls of it with the call's index.
fn threaded<W: FnMut(usize)>(label: &str, connect: impl Fn(usize) -> W + Sync) -> Figures {
    let started = Instant::now();
    let all: Vec<Duration> = std::thread::scope(|scope| {
        let connect = &connect;
        let threads: Vec<_> = (0..CLIENTS)
            .map(|c| {
                scope.spawn(move || {
                    let mut write = connect(c);
                    (0..WRITES / CLIENTS)
                        .map(|i| {
                            let t = Instant::now();
                            write(i);
                            t.elapsed()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect()
    });
    summarise(label, all, started.elapsed())
}

fn config(bootstrap: Vec<libp2p::Multiaddr>) -> Config {
    Config {
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
        quic: false,
        bootstrap,
        kademlia: false,
        sync_interval_ms: 1000,
        ..Config::default()
    }
}

async fn add_procedure(node: &Node, space: &SpaceName) -> ProcedureId {
    node.add(
        space,
        NewProcedureRequest {
            name: "bench".into(),
            description: String::new(),
            kind: ProcedureKind::Steps,
            tags: vec![],
            body: Body::Inline(b"x".to_vec()),
        },
    )
    .await
    .unwrap()
}

async fn library_writes(node: &Node, space: &SpaceName, id: ProcedureId) -> Figures {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let (node, space) = (node.clone(), space.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            for i in 0..WRITES / CLIENTS {
                let t = Instant::now();
                let outcome = Outcome {
                    success: i % 5 != 0,
                    duration_ms: 10,
                    contexts: vec![],
                };
                node.record_outcome(&space, id, outcome).await.unwrap();
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    summarise(
        "knack library (durable, group commit)",
        all,
        started.elapsed(),
    )
}

fn http_writes(api: &str, token: &str, id: ProcedureId) -> Figures {
    let url = format!("{api}/v1/spaces/default/procedures/{id}/outcomes");
    let auth = format!("Bearer {token}");
    threaded("knack HTTP API (durable, group commit)", |_| {
        let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
        let (url, auth) = (url.clone(), auth.clone());
        move |i| {
            // Read to the end: only a read response returns its connection to the pool.
            agent
                .post(&url)
                .header("Authorization", &auth)
                .send_json(serde_json::json!({ "success": i % 5 != 0, "duration_ms": 10 }))
                .unwrap()
                .body_mut()
                .read_to_vec()
                .unwrap();
        }
    })
}

struct Redis {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_redis(fsync: &str) -> Option<Redis> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let dir = tempfile::tempdir().ok()?;
    let child = Command::new("redis-server")
        .args([
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--save",
            "",
        ])
        .args(["--appendonly", "yes", "--appendfsync", fsync])
        .arg("--dir")
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let redis = Redis {
        child,
        port,
        _dir: dir,
    };
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).ok()?;
    for _ in 0..100 {
        if client.get_connection().is_ok() {
            return Some(redis);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

fn redis_writes(redis: &Redis, fsync: &str) -> Figures {
    let url = format!("redis://127.0.0.1:{}/", redis.port);
    let label = format!("redis-server appendfsync {fsync} (HINCRBY+ZADD)");
    threaded(&label, |c| {
        let mut con = redis::Client::open(url.as_str())
            .unwrap()
            .get_connection()
            .unwrap();
        move |i| {
            let field = if i % 5 != 0 { "successes" } else { "failures" };
            let _: () = redis::pipe()
                .atomic()
                .cmd("HINCRBY")
                .arg("proc:bench")
                .arg(field)
                .arg(1)
                .ignore()
                .cmd("HINCRBY")
                .arg("proc:bench")
                .arg(format!("agent{c}"))
                .arg(1)
                .ignore()
                .cmd("ZADD")
                .arg("ranking")
                .arg(i as f64)
                .arg("bench")
                .ignore()
                .query(&mut con)
                .unwrap();
        }
    })
}

async fn propagation() -> Option<(f64, f64, f64)> {
    let dirs: Vec<tempfile::TempDir> = (0..5).map(|_| tempfile::tempdir().unwrap()).collect();
    let first = NodeBuilder::new(dirs[0].path())
        .config(config(vec![]))
        .build()
        .await
        .unwrap();
    let addr = loop {
        let s = first.status().await.unwrap();
        if let Some(a) = s.listen_addrs.first() {
            break format!("{a}/p2p/{}", s.peer_id)
                .parse::<libp2p::Multiaddr>()
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let mut nodes = vec![first];
    for dir in &dirs[1..] {
        nodes.push(
            NodeBuilder::new(dir.path())
                .config(config(vec![addr.clone()]))
                .build()
                .await
                .unwrap(),
        );
    }
    let space = SpaceName::new("default").unwrap();
    // Let the gossip mesh form.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let id = add_procedure(&nodes[0], &space).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut samples = Vec::new();
    for i in 0..PROPAGATIONS {
        let mut subs: Vec<_> = nodes[1..].iter().map(|n| n.subscribe()).collect();
        let t = Instant::now();
        let outcome = Outcome {
            success: i % 3 != 0,
            duration_ms: 1,
            contexts: vec![],
        };
        nodes[0].record_outcome(&space, id, outcome).await.unwrap();
        let mut slowest = Duration::ZERO;
        for sub in &mut subs {
            let got = tokio::time::timeout(Duration::from_secs(10), async {
                loop {
                    if let Ok(Event::Applied {
                        local: false,
                        procedures,
                        ..
                    }) = sub.recv().await
                        && procedures.contains(&id.to_hex())
                    {
                        break t.elapsed();
                    }
                }
            })
            .await
            .ok()?;
            slowest = slowest.max(got);
        }
        samples.push(slowest);
    }
    for n in &nodes {
        n.shutdown().await;
    }
    samples.sort();
    Some((
        percentile_ms(&samples, 50.0),
        percentile_ms(&samples, 99.0),
        percentile_ms(&samples, 100.0),
    ))
}

fn main() {
    let runtime = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let space = SpaceName::new("default").unwrap();
    let mut rows = Vec::new();
    let (node, id) = runtime.block_on(async {
        let node = NodeBuilder::new(dir.path())
            .config(config(vec![]))
            .build()
            .await
            .unwrap();
        let id = add_procedure(&node, &space).await;
        (node, id)
    });
    rows.push(runtime.block_on(library_writes(&node, &space, id)));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (bound_tx, bound_rx) = std::sync::mpsc::sync_channel(1);
    let api_node = node.clone();
    runtime.spawn(async move {
        knack_node::api::serve(
            api_node,
            "bench-token".into(),
            "127.0.0.1:0".parse().unwrap(),
            move |addr| bound_tx.send(addr).unwrap(),
            async move {
                let _ = stop_rx.await;
            },
        )
        .await
        .unwrap();
    });
    let api = format!("http://{}", bound_rx.recv().unwrap());
    rows.push(http_writes(&api, "bench-token", id));
    let _ = stop_tx.send(());
    runtime.block_on(node.shutdown());

    for fsync in ["everysec", "always"] {
        match start_redis(fsync) {
            Some(redis) => rows.push(redis_writes(&redis, fsync)),
            None => {
                println!("(redis-server not found or did not start: no reference row for {fsync})")
            }
        }
    }
    println!("\ndurable outcome writes, {WRITES} writes from {CLIENTS} concurrent clients");
    println!(
        "{:<48} {:>12} {:>10} {:>10}",
        "system", "writes/s", "p50 ms", "p99 ms"
    );
    for r in &rows {
        println!(
            "{:<48} {:>12.0} {:>10.3} {:>10.3}",
            r.label, r.writes_per_s, r.p50_ms, r.p99_ms
        );
    }
    match runtime.block_on(propagation()) {
        Some((p50, p99, max)) => println!(
            "\ngossip propagation of an outcome to all of 5 nodes ({PROPAGATIONS} samples): \
             p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms"
        ),
        None => println!("\ngossip propagation: an outcome did not reach every node within 10 s"),
    }
}
