//! The `knack` processes: init, spawn (detached, logging to the node's directory), signals
//! by recorded PID only, after checking that the PID still is that node's `knack run`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::error::{Result, TestnetError};

/// The log file of a node, inside its directory.
pub const LOG_FILE: &str = "node.log";
/// How long a node may take to bind its API.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// `knack --dir DIR init`.
pub fn init(knack: &Path, dir: &Path) -> Result<()> {
    let output = Command::new(knack)
        .arg("--dir")
        .arg(dir)
        .arg("init")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| TestnetError::io(knack, e))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(TestnetError::Command {
            command: format!("{} --dir {} init", knack.display(), dir.display()),
            reason: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}

/// `knack --dir DIR init --swarm-key KEY --force`: a new random swarm key at `key` (the
/// testnet's private network; any key a previous testnet left there is replaced).
pub fn init_swarm_key(knack: &Path, dir: &Path, key: &Path) -> Result<()> {
    let output = Command::new(knack)
        .arg("--dir")
        .arg(dir)
        .arg("init")
        .arg("--swarm-key")
        .arg(key)
        .arg("--force")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| TestnetError::io(knack, e))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(TestnetError::Command {
            command: format!(
                "{} --dir {} init --swarm-key {} --force",
                knack.display(),
                dir.display(),
                key.display()
            ),
            reason: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}

/// What a `knack run` needs.
#[derive(Clone, Debug)]
pub struct Launch<'a> {
    /// The binary.
    pub knack: &'a Path,
    /// The data directory.
    pub dir: &'a Path,
    /// The network namespace to run in (`ip netns exec`), if any.
    pub netns: Option<&'a str>,
    /// The libp2p listen multiaddr.
    pub listen: String,
    /// Peers to bootstrap to.
    pub bootstrap: Vec<String>,
    /// Anti-entropy interval.
    pub sync_interval_ms: u64,
    /// The swarm key of the private network to run in, if any.
    pub swarm_key: Option<&'a Path>,
}

/// Starts `knack run` in its own process group (so a Ctrl-C aimed at the testnet command
/// does not reach it), stdin closed, stdout and stderr appended to `DIR/node.log`. The process
/// outlives the command that started it.
pub fn spawn(launch: &Launch<'_>) -> Result<Child> {
    let _ = std::fs::remove_file(launch.dir.join("api.addr"));
    let log_path = launch.dir.join(LOG_FILE);
    let open_log = || {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| TestnetError::io(&log_path, e))
    };
    let mut command = match launch.netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns]).arg(launch.knack);
            c
        }
        None => Command::new(launch.knack),
    };
    command
        .arg("--dir")
        .arg(launch.dir)
        .arg("run")
        .args(["--listen", &launch.listen])
        .args(["--api", "127.0.0.1:0"])
        .args(["--sync-interval-ms", &launch.sync_interval_ms.to_string()]);
    for peer in &launch.bootstrap {
        command.args(["--bootstrap", peer]);
    }
    if let Some(key) = launch.swarm_key {
        command.arg("--swarm-key").arg(key);
    }
    if std::env::var_os("RUST_LOG").is_none() {
        command.env("RUST_LOG", "info,libp2p=warn");
    }
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    command
        .stdin(Stdio::null())
        .stdout(open_log()?)
        .stderr(open_log()?)
        .spawn()
        .map_err(|e| TestnetError::io(launch.knack, e))
}

/// Waits until the node in `dir` wrote `api.addr`; returns `http://ADDR`. Fails early when
/// `alive` says the process is gone.
pub fn wait_api(name: &str, dir: &Path, mut alive: impl FnMut() -> bool) -> Result<String> {
    let started = Instant::now();
    loop {
        if let Ok(addr) = std::fs::read_to_string(dir.join("api.addr"))
            && !addr.trim().is_empty()
        {
            return Ok(format!("http://{}", addr.trim()));
        }
        if !alive() {
            return Err(TestnetError::node(
                name,
                format!("exited at start; see {}", dir.join(LOG_FILE).display()),
            ));
        }
        if started.elapsed() > START_TIMEOUT {
            return Err(TestnetError::node(
                name,
                format!(
                    "API not up after {START_TIMEOUT:?}; see {}",
                    dir.join(LOG_FILE).display()
                ),
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether `pid` is a live (not zombie) `knack` process serving `dir`. Guards every signal:
/// a recorded PID that the system reused for something else is never signalled.
pub fn is_node_process(pid: u32, dir: &Path) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state is the first field after the parenthesised command name.
    let zombie = stat
        .rsplit_once(')')
        .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    let dir = dir.as_os_str().as_encoded_bytes();
    !zombie && args.contains(&b"run".as_slice()) && args.contains(&dir)
}

/// Sends `signal` to `pid` if it still is the node process of `dir`. Returns whether it was
/// sent.
pub fn signal(pid: u32, dir: &Path, signal: Signal) -> bool {
    if !is_node_process(pid, dir) {
        return false;
    }
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    kill(Pid::from_raw(raw), signal).is_ok()
}

/// Waits up to `timeout` for the node process `pid` of `dir` to end; `reap` is called while
/// waiting (to collect a child's exit status). Returns whether it ended.
pub fn wait_gone(pid: u32, dir: &Path, timeout: Duration, mut reap: impl FnMut()) -> bool {
    let started = Instant::now();
    while started.elapsed() < timeout {
        reap();
        if !is_node_process(pid, dir) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}
