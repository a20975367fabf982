//! `knack-testnet`: start, break and watch a local mesh of real `knack` daemons.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use knack_testnet::binary::{KNACK_BIN_ENV, find_knack};
use knack_testnet::testnet::DEFAULT_SYNC_INTERVAL_MS;
use knack_testnet::{RunOptions, Scenario, Testnet, UpOptions, converge};

/// A local knack testnet: N real nodes on this machine, scenarios, fault injection.
#[derive(Debug, Parser)]
#[command(name = "knack-testnet", version, about, long_about = None)]
struct Cli {
    /// The testnet directory (node data, logs, testnet.json, reports).
    #[arg(long, global = true, default_value = "testnet-data")]
    dir: PathBuf,
    /// The `knack` binary (default: next to this executable).
    #[arg(long, global = true, env = KNACK_BIN_ENV)]
    knack: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Initialise and start N nodes, each bootstrapped to the ones before it.
    Up {
        /// How many nodes.
        #[arg(long, default_value_t = 3)]
        nodes: usize,
        /// Each node in its own network namespace (Linux, root), for partitions and netem.
        #[arg(long)]
        netns: bool,
        /// Anti-entropy interval of every node, ms.
        #[arg(long, default_value_t = DEFAULT_SYNC_INTERVAL_MS)]
        sync_interval_ms: u64,
        /// Bootstrap each node to at most K others, at ring distances 1, 2, 4, ... (default:
        /// every other node; use 4 or so for tens of nodes).
        #[arg(long, value_name = "K")]
        bootstrap_peers: Option<usize>,
        /// Run every node in a private network: a new swarm key in DIR/swarm.key, given to
        /// every `knack run --swarm-key` (TCP only).
        #[arg(long)]
        swarm_key: bool,
    },
    /// Per node: peers, ops, digest; and whether they converged.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stop every node (SIGTERM by recorded PID) and delete the namespaces.
    Down,
    /// Print a node's log.
    Logs {
        /// The node (n1, n2, ...).
        node: String,
    },
    /// Kill a node with SIGKILL.
    Kill {
        /// The node.
        node: String,
    },
    /// Restart a node (stopping it first if it runs).
    Restart {
        /// The node.
        node: String,
    },
    /// Run a scenario file on a fresh testnet; exit status 1 when a wait or assertion fails.
    Run {
        /// The scenario (TOML).
        scenario: PathBuf,
        /// Each node in its own network namespace (Linux, root).
        #[arg(long)]
        netns: bool,
        /// Do not print steps as they run.
        #[arg(long, short)]
        quiet: bool,
        /// Run every node in a private network with a new swarm key (TCP only).
        #[arg(long)]
        swarm_key: bool,
    },
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            eprintln!("knack-testnet: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Up {
            nodes,
            netns,
            sync_interval_ms,
            bootstrap_peers,
            swarm_key,
        } => {
            let knack = find_knack(cli.knack.as_deref())?;
            let mut testnet = Testnet::create(&UpOptions {
                dir: cli.dir.clone(),
                nodes,
                knack,
                netns,
                sync_interval_ms,
                bootstrap_peers,
                swarm_key,
            })?;
            if let Err(e) = testnet.start_all() {
                let _ = testnet.down();
                return Err(e).context("starting the testnet (stopped what had started)");
            }
            writeln!(out, "{:<5} {:<54} {:<24} netns", "node", "peer id", "API")?;
            for node in &testnet.state().nodes {
                writeln!(
                    out,
                    "{:<5} {:<54} {:<24} {}",
                    node.name,
                    node.peer_id.as_deref().unwrap_or("-"),
                    node.api.as_deref().unwrap_or("-"),
                    node.netns.as_deref().unwrap_or("-")
                )?;
            }
            if let Some(key) = &testnet.state().swarm_key {
                writeln!(
                    out,
                    "\nprivate network: every node runs with --swarm-key {}",
                    key.display()
                )?;
            }
            writeln!(
                out,
                "\n{} nodes up; state in {}",
                nodes,
                testnet.state().dir.join("testnet.json").display()
            )?;
            if netns {
                writeln!(
                    out,
                    "the APIs listen inside the namespaces: ip netns exec NS curl -H \"Authorization: Bearer $(cat DIR/nodes/nK/api.token)\" API/v1/status"
                )?;
            }
        }
        Command::Status { json } => {
            let testnet = Testnet::open(&cli.dir)?;
            let clients: Vec<_> = testnet
                .names()
                .iter()
                .filter_map(|n| testnet.client(n).ok())
                .collect();
            let views = converge::snapshot(&clients);
            let converged = converge::converged(&views) && !views.is_empty();
            if json {
                let value = serde_json::json!({ "nodes": views, "converged": converged,
                    "stopped": testnet.names().into_iter().filter(|n| !testnet.is_running(n)).collect::<Vec<_>>() });
                writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
            } else {
                write!(out, "{}", converge::table(&views))?;
                for name in testnet.names() {
                    if !testnet.is_running(&name) {
                        writeln!(out, "{name:<6} stopped")?;
                    }
                }
                writeln!(out, "converged: {}", if converged { "yes" } else { "no" })?;
            }
        }
        Command::Down => {
            let mut testnet = Testnet::open(&cli.dir)?;
            testnet.down()?;
            writeln!(out, "testnet in {} is down", testnet.state().dir.display())?;
        }
        Command::Logs { node } => {
            let testnet = Testnet::open(&cli.dir)?;
            let path = testnet.log_path(&node)?;
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            out.write_all(text.as_bytes())?;
        }
        Command::Kill { node } => {
            let mut testnet = Testnet::open(&cli.dir)?;
            testnet.kill(&node)?;
            writeln!(out, "{node} killed (SIGKILL)")?;
        }
        Command::Restart { node } => {
            let mut testnet = Testnet::open(&cli.dir)?;
            testnet.restart(&node)?;
            let record = testnet.state().node(&node)?;
            writeln!(
                out,
                "{node} running again: API {}",
                record.api.as_deref().unwrap_or("-")
            )?;
        }
        Command::Run {
            scenario,
            netns,
            quiet,
            swarm_key,
        } => {
            let knack = find_knack(cli.knack.as_deref())?;
            let scenario = Scenario::load(&scenario)?;
            let report = knack_testnet::run(
                &scenario,
                &RunOptions {
                    dir: cli.dir.clone(),
                    knack,
                    netns,
                    verbose: !quiet,
                    swarm_key,
                },
            )?;
            write!(out, "{}", report.summary())?;
            writeln!(out, "report: {}", cli.dir.join("report.json").display())?;
            if !report.passed {
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
