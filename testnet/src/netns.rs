//! Network namespaces for fault injection (`--netns`, Linux and root only).
//!
//! Layout, for a testnet whose namespaces are prefixed `P`:
//!
//! ```text
//!   namespace P-br:  bridge br0, and one veth end v1..vN per node on it
//!   namespace P-n1:  eth0 = 10.77.0.1/24 (other end of v1), lo      node n1 runs here
//!   ...
//!   namespace P-nN:  eth0 = 10.77.0.N/24, lo                           node nN runs here
//! ```
//!
//! Nothing is added to the host's own namespace: the veth pairs are created inside the
//! bridge's namespace with their peer end moved straight into the node's, and no namespace
//! has a default route, so no packet can leave. Each node binds its HTTP API on 127.0.0.1
//! *inside its namespace*; the testnet reaches it from a thread that entered that namespace
//! (`setns(2)`), so the runner needs no interface of its own on the bridge.
//!
//! Faults:
//! - **partition** `A,B / C,D,E`: each group's bridge ports move to a bridge of their own
//!   (`br1`, `br2`, ...); **heal** moves every port back to `br0`.
//! - **netem**: `tc qdisc replace dev eth0 root netem delay .. loss .. rate ..` in the node's
//!   namespace (its egress). A bandwidth limit alone uses `tbf`, which needs no `sch_netem`.

use std::net::Ipv4Addr;
use std::process::Command;

use nix::sched::CloneFlags;
use serde::{Deserialize, Serialize};

use crate::error::{Result, TestnetError};

/// The first three octets of node addresses (a private range, inside the namespaces only).
const SUBNET: [u8; 3] = [10, 77, 0];

/// Why `--netns` cannot be used here, if it cannot.
pub fn unavailable() -> Option<String> {
    if !cfg!(target_os = "linux") {
        return Some("--netns needs Linux (network namespaces)".into());
    }
    if !nix::unistd::geteuid().is_root() {
        return Some("--netns needs root (ip netns, tc); run as root or without --netns".into());
    }
    match Command::new("ip").arg("-V").output() {
        Ok(o) if o.status.success() => None,
        _ => Some("--netns needs the `ip` command (iproute2)".into()),
    }
}

/// A fresh namespace prefix, unique per testnet: `knt` + 6 hex digits.
pub fn fresh_prefix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let mixed = (u64::from(std::process::id()) << 20) ^ u64::from(nanos);
    format!("knt{:06x}", mixed & 0xff_ffff)
}

/// The namespace of node number `index` (1-based).
pub fn node_ns(prefix: &str, index: usize) -> String {
    format!("{prefix}-n{index}")
}

/// The bridge's namespace.
pub fn bridge_ns(prefix: &str) -> String {
    format!("{prefix}-br")
}

/// The address of node number `index` (1-based, at most 250).
pub fn node_ip(index: usize) -> Ipv4Addr {
    let last = u8::try_from(index).unwrap_or(u8::MAX);
    Ipv4Addr::new(SUBNET[0], SUBNET[1], SUBNET[2], last)
}

/// Link shaping of one node's egress.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Shape {
    /// Added delay, ms.
    pub delay_ms: u64,
    /// Jitter around the delay, ms.
    pub jitter_ms: u64,
    /// Packet loss, percent.
    pub loss_percent: f64,
    /// Bandwidth limit in tc's syntax (`1mbit`, `500kbit`).
    pub rate: Option<String>,
}

fn run(args: &[&str]) -> Result<()> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| TestnetError::io("ip", e))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(TestnetError::Command {
            command: format!("ip {}", args.join(" ")),
            reason: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}

/// The kernel's ARP table bound. It is shared by every network namespace, so a testnet whose
/// nodes all talk to each other needs about `count * (count - 1)` entries; over the bound the
/// kernel drops new neighbours ("neighbor table overflow") and the last nodes to start are
/// silently cut off.
const ARP_LIMIT: &str = "/proc/sys/net/ipv4/neigh/default/gc_thresh3";

/// Refuses a testnet the kernel's ARP table cannot hold (see [`ARP_LIMIT`]), saying how to
/// raise the bound.
fn check_arp_table(count: usize) -> Result<()> {
    let needed = count * count.saturating_sub(1);
    let limit = std::fs::read_to_string(ARP_LIMIT)
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok());
    match limit {
        Some(limit) if limit < needed => Err(TestnetError::Unsupported(format!(
            "--netns with {count} nodes needs up to {needed} ARP entries, but the kernel keeps at \
             most {limit} for all namespaces together ({ARP_LIMIT}); raise it first: sysctl -w \
             net.ipv4.neigh.default.gc_thresh3={} net.ipv4.neigh.default.gc_thresh2={}",
            needed.next_power_of_two() * 2,
            needed.next_power_of_two()
        ))),
        _ => Ok(()),
    }
}

/// Creates the bridge namespace and one namespace per node (`count` nodes).
pub fn create(prefix: &str, count: usize) -> Result<()> {
    if count > 250 {
        return Err(TestnetError::Unsupported(
            "--netns supports at most 250 nodes".into(),
        ));
    }
    check_arp_table(count)?;
    let br = bridge_ns(prefix);
    run(&["netns", "add", &br])?;
    run(&["-n", &br, "link", "set", "lo", "up"])?;
    run(&["-n", &br, "link", "add", "br0", "type", "bridge"])?;
    run(&["-n", &br, "link", "set", "br0", "up"])?;
    for index in 1..=count {
        let ns = node_ns(prefix, index);
        let port = format!("v{index}");
        run(&["netns", "add", &ns])?;
        run(&[
            "-n", &br, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &ns,
        ])?;
        run(&["-n", &br, "link", "set", &port, "master", "br0", "up"])?;
        let addr = format!("{}/24", node_ip(index));
        run(&["-n", &ns, "addr", "add", &addr, "dev", "eth0"])?;
        run(&["-n", &ns, "link", "set", "eth0", "up"])?;
        run(&["-n", &ns, "link", "set", "lo", "up"])?;
    }
    Ok(())
}

/// Deletes every namespace of the testnet (their veths go with them). Missing ones are
/// skipped; returns the first other error after trying all.
pub fn destroy(prefix: &str, count: usize) -> Result<()> {
    let existing = existing();
    let mut first_error = None;
    let names = (1..=count)
        .map(|i| node_ns(prefix, i))
        .chain(std::iter::once(bridge_ns(prefix)));
    for ns in names {
        if existing.contains(&ns)
            && let Err(e) = run(&["netns", "del", &ns])
        {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// The names of the namespaces on this machine.
fn existing() -> Vec<String> {
    Command::new("ip")
        .args(["netns", "list"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Splits the nodes into `groups` (1-based node numbers); a node in no group stays on `br0`.
pub fn partition(prefix: &str, groups: &[Vec<usize>]) -> Result<()> {
    let br = bridge_ns(prefix);
    for (g, members) in groups.iter().enumerate() {
        let bridge = format!("br{}", g + 1);
        if run(&["-n", &br, "link", "show", &bridge]).is_err() {
            run(&["-n", &br, "link", "add", &bridge, "type", "bridge"])?;
            run(&["-n", &br, "link", "set", &bridge, "up"])?;
        }
        for index in members {
            run(&[
                "-n",
                &br,
                "link",
                "set",
                &format!("v{index}"),
                "master",
                &bridge,
            ])?;
        }
    }
    Ok(())
}

/// Puts every node (of `count`) back on `br0` and deletes the group bridges.
pub fn heal(prefix: &str, count: usize) -> Result<()> {
    let br = bridge_ns(prefix);
    for index in 1..=count {
        run(&[
            "-n",
            &br,
            "link",
            "set",
            &format!("v{index}"),
            "master",
            "br0",
        ])?;
    }
    for g in 1..=count {
        let bridge = format!("br{g}");
        if run(&["-n", &br, "link", "show", &bridge]).is_ok() {
            run(&["-n", &br, "link", "del", &bridge])?;
        }
    }
    Ok(())
}

/// Shapes the egress of node `index` (replacing any earlier shape); an empty shape clears it.
pub fn shape(prefix: &str, index: usize, shape: &Shape) -> Result<()> {
    let ns = node_ns(prefix, index);
    let tc = |args: &[&str]| -> Result<()> {
        let mut full = vec!["netns", "exec", &ns, "tc"];
        full.extend_from_slice(args);
        run(&full)
    };
    let _ = tc(&["qdisc", "del", "dev", "eth0", "root"]);
    let netem_needed = shape.delay_ms > 0 || shape.jitter_ms > 0 || shape.loss_percent > 0.0;
    if !netem_needed {
        return match &shape.rate {
            Some(rate) => tc(&[
                "qdisc", "replace", "dev", "eth0", "root", "tbf", "rate", rate, "burst", "32kbit",
                "latency", "400ms",
            ]),
            None => Ok(()),
        };
    }
    let mut args: Vec<String> = ["qdisc", "replace", "dev", "eth0", "root", "netem"]
        .map(str::to_owned)
        .to_vec();
    if shape.delay_ms > 0 || shape.jitter_ms > 0 {
        args.extend(["delay".into(), format!("{}ms", shape.delay_ms)]);
        if shape.jitter_ms > 0 {
            args.extend([
                format!("{}ms", shape.jitter_ms),
                "distribution".into(),
                "normal".into(),
            ]);
        }
    }
    if shape.loss_percent > 0.0 {
        args.extend(["loss".into(), format!("{}%", shape.loss_percent)]);
    }
    if let Some(rate) = &shape.rate {
        args.extend(["rate".into(), rate.clone()]);
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    tc(&refs).map_err(|e| match e {
        TestnetError::Command { reason, .. } if reason.contains("qdisc kind is unknown") => {
            TestnetError::Unsupported(
                "this kernel has no `sch_netem` (tc netem): delay, jitter and loss cannot be \
                 emulated here (a bandwidth limit alone works, with tbf)"
                    .into(),
            )
        }
        other => other,
    })
}

/// Moves the calling thread into the network namespace `ns`: sockets it opens from now on
/// live there.
pub fn enter(ns: &str) -> Result<()> {
    let path = format!("/run/netns/{ns}");
    let file = std::fs::File::open(&path).map_err(|e| TestnetError::io(&path, e))?;
    nix::sched::setns(&file, CloneFlags::CLONE_NEWNET).map_err(|e| TestnetError::Command {
        command: format!("setns({path})"),
        reason: e.to_string(),
    })
}

thread_local! {
    static CURRENT: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Moves the calling thread into `ns` for good, and remembers it (see [`within`]).
pub fn enter_for_thread(ns: &str) -> Result<()> {
    enter(ns)?;
    CURRENT.with(|c| *c.borrow_mut() = Some(ns.to_owned()));
    Ok(())
}

/// Runs `f` inside `ns`: directly when this thread already is there ([`enter_for_thread`]),
/// else on a short-lived thread that enters it first.
pub fn within<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> Result<T> {
    if CURRENT.with(|c| c.borrow().as_deref() == Some(ns)) {
        return Ok(f());
    }
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                enter(ns)?;
                Ok(f())
            })
            .join()
            .unwrap_or_else(|_| {
                Err(TestnetError::Command {
                    command: format!("a call inside {ns}"),
                    reason: "the thread panicked".into(),
                })
            })
    })
}
