//! [`DevDaemon`]: a real IPFS node for tests (feature `dev-daemon`).
//!
//! Runs js-ipfs 0.66.1 through the project's `tools/ipfs-dev-daemon/ipfs-dev-daemon.sh run`,
//! which writes a loopback-only configuration (API and swarm on 127.0.0.1, no gateway, no
//! bootstrap list, no delegates, mDNS / NAT mapping off, no DHT, preload off) and then becomes
//! the daemon process, so the PID this harness holds is the daemon's. The daemon runs in the
//! caller's network namespace (`IPFS_DEV_NETNS=current`), which must have no interface but
//! loopback: `tools/test.sh` runs the tests in such a namespace; the tool refuses anything else.
//!
//! The calls block (process management and a readiness poll): fine in tests, including inside
//! a tokio runtime for the second or two a start takes.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Environment variable naming the js-ipfs install prefix.
const PREFIX_ENV: &str = "KNACK_IPFS_DEV_PREFIX";
/// Environment variable overriding the path of `ipfs-dev-daemon.sh`.
const TOOL_ENV: &str = "KNACK_IPFS_DEV_TOOL";
/// Environment variable overriding how long to wait for the API, in seconds.
const TIMEOUT_ENV: &str = "KNACK_IPFS_DEV_TIMEOUT";
/// Default wait for the API: a start takes 1–2 s alone, longer when tests start several at once
/// on a busy machine.
const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(90);
/// How long a SIGTERM-ed daemon gets to exit before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// Exit status of `ipfs-dev-daemon.sh run` when js-ipfs is not installed.
const EXIT_NOT_INSTALLED: i32 = 3;
/// Log lines quoted in errors.
const LOG_TAIL_LINES: usize = 25;

/// A js-ipfs daemon serving the Kubo RPC API on a free 127.0.0.1 port, stopped on drop.
///
/// ```no_run
/// # fn demo() -> Result<(), knack_ipfs::DevDaemonError> {
/// let dir = std::env::temp_dir().join("ipfs-test-repo");
/// let mut daemon = knack_ipfs::DevDaemon::start(&dir)?;
/// let ipfs = knack_ipfs::KuboRpc::new(&daemon.api_url()).expect("a valid URL");
/// daemon.restart()?; // same repo, same port
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct DevDaemon {
    data_dir: PathBuf,
    api_port: u16,
    swarm_port: u16,
    prefix: PathBuf,
    tool: PathBuf,
    start_timeout: Duration,
    child: Option<Child>,
}

/// Why a [`DevDaemon`] could not start or stop.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DevDaemonError {
    /// js-ipfs is not installed at the prefix.
    #[error(
        "js-ipfs (the IPFS dev daemon) is not installed in {prefix}: run the tests with \
         `bash tools/test.sh`, which installs it (or install it alone with \
         `bash tools/ipfs-dev-daemon/ipfs-dev-daemon.sh install {prefix}`; set \
         KNACK_IPFS_DEV_PREFIX to use another prefix)",
        prefix = prefix.display()
    )]
    NotInstalled {
        /// The install prefix looked at.
        prefix: PathBuf,
    },
    /// The daemon process ended before its API answered.
    #[error(
        "the IPFS dev daemon exited ({status}) before its API answered{hint}; last lines of {log}:\n{tail}",
        log = log.display()
    )]
    Exited {
        /// Its exit status.
        status: String,
        /// A hint on the likely cause, or empty.
        hint: &'static str,
        /// Its log file.
        log: PathBuf,
        /// The end of its log.
        tail: String,
    },
    /// The API did not answer in time (the daemon was killed).
    #[error(
        "the IPFS dev daemon's API at {url} did not answer within {after:?}; last lines of {log}:\n{tail}",
        log = log.display()
    )]
    NotReady {
        /// The API URL polled.
        url: String,
        /// How long it was given.
        after: Duration,
        /// Its log file.
        log: PathBuf,
        /// The end of its log.
        tail: String,
    },
    /// A file, process or socket operation failed.
    #[error("{action} {path}: {source}", path = path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or program concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> DevDaemonError {
    let path = path.to_owned();
    move |source| DevDaemonError::Io {
        action,
        path,
        source,
    }
}

impl DevDaemon {
    /// Starts a daemon with its repository in `data_dir` (created and initialised if missing),
    /// on a free loopback port, and waits until its API answers.
    ///
    /// Fails with [`DevDaemonError::NotInstalled`] when js-ipfs is not installed at
    /// `$KNACK_IPFS_DEV_PREFIX` (default `$HOME/.cache/knack/ipfs-dev`).
    pub fn start(data_dir: impl AsRef<Path>) -> Result<Self, DevDaemonError> {
        let data_dir = data_dir.as_ref();
        let prefix = std::env::var_os(PREFIX_ENV)
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
                PathBuf::from(home).join(".cache/knack/ipfs-dev")
            });
        let tool = std::env::var_os(TOOL_ENV)
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../tools/ipfs-dev-daemon/ipfs-dev-daemon.sh")
            });
        let start_timeout = std::env::var(TIMEOUT_ENV)
            .ok()
            .and_then(|s| s.parse().ok())
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_START_TIMEOUT);

        let installed = Command::new("bash")
            .arg(&tool)
            .arg("installed")
            .arg(&prefix)
            .stdin(Stdio::null())
            .status()
            .map_err(io_err("cannot run", &tool))?;
        if !installed.success() {
            return Err(DevDaemonError::NotInstalled { prefix });
        }

        std::fs::create_dir_all(data_dir).map_err(io_err("cannot create", data_dir))?;
        let data_dir = data_dir
            .canonicalize()
            .map_err(io_err("cannot resolve", data_dir))?;
        let (api_port, swarm_port) = free_ports()?;
        let mut daemon = DevDaemon {
            data_dir,
            api_port,
            swarm_port,
            prefix,
            tool,
            start_timeout,
            child: None,
        };
        daemon.spawn()?;
        Ok(daemon)
    }

    /// The RPC API's base URL, `http://127.0.0.1:PORT` (the same across restarts).
    pub fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.api_port)
    }

    /// The RPC API's port.
    pub fn api_port(&self) -> u16 {
        self.api_port
    }

    /// The daemon's repository.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Where the daemon's output goes (appended to across restarts).
    pub fn log_path(&self) -> PathBuf {
        self.data_dir.join("daemon.log")
    }

    /// The daemon's PID while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Stops the daemon: SIGTERM to its PID, then SIGKILL if it has not exited after 10 s;
    /// returns once it has exited. Does nothing if it is not running.
    pub fn stop(&mut self) -> Result<(), DevDaemonError> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let pid = Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
        // The child is ours and not yet reaped (we hold its `Child`), so the PID is still its.
        if kill(pid, Signal::SIGTERM).is_ok() {
            let deadline = Instant::now() + STOP_GRACE;
            while Instant::now() < deadline {
                if child
                    .try_wait()
                    .map_err(io_err("cannot wait for", &self.tool))?
                    .is_some()
                {
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        // Still running (or the signal failed): SIGKILL, then reap.
        let _ = child.kill();
        child
            .wait()
            .map_err(io_err("cannot wait for", &self.tool))?;
        Ok(())
    }

    /// Stops the daemon if it runs, and starts it again on the same repository and port.
    pub fn restart(&mut self) -> Result<(), DevDaemonError> {
        self.stop()?;
        self.spawn()
    }

    /// Starts the daemon process and waits until the API answers.
    fn spawn(&mut self) -> Result<(), DevDaemonError> {
        let log_path = self.log_path();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(io_err("cannot open", &log_path))?;
        let log_err = log.try_clone().map_err(io_err("cannot open", &log_path))?;
        let mut child = Command::new("bash")
            .arg(&self.tool)
            .arg("run")
            .arg(&self.data_dir)
            .arg(self.api_port.to_string())
            .arg(&self.prefix)
            .env("IPFS_DEV_NETNS", "current")
            .env("IPFS_SWARM_PORT", self.swarm_port.to_string())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(io_err("cannot run", &self.tool))?;

        let deadline = Instant::now() + self.start_timeout;
        loop {
            if let Some(status) = child
                .try_wait()
                .map_err(io_err("cannot wait for", &self.tool))?
            {
                if status.code() == Some(EXIT_NOT_INSTALLED) {
                    return Err(DevDaemonError::NotInstalled {
                        prefix: self.prefix.clone(),
                    });
                }
                let tail = log_tail(&log_path);
                let hint = if tail.contains("interfaces other than lo") {
                    " because this network namespace is not loopback-only: run the tests with \
                     `bash tools/test.sh`, which runs them in one"
                } else {
                    ""
                };
                return Err(DevDaemonError::Exited {
                    status: status.to_string(),
                    hint,
                    log: log_path,
                    tail,
                });
            }
            if api_answers(self.api_port) {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.child = Some(child);
                let _ = self.stop();
                return Err(DevDaemonError::NotReady {
                    url: self.api_url(),
                    after: self.start_timeout,
                    log: log_path.clone(),
                    tail: log_tail(&log_path),
                });
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for DevDaemon {
    fn drop(&mut self) {
        // Drop cannot report errors; stop() already escalates to SIGKILL.
        let _ = self.stop();
    }
}

/// Two distinct free ports on 127.0.0.1 (both bound at once, then released).
fn free_ports() -> Result<(u16, u16), DevDaemonError> {
    let bind = || {
        TcpListener::bind("127.0.0.1:0")
            .and_then(|l| Ok((l.local_addr()?.port(), l)))
            .map_err(io_err("cannot bind a port on", Path::new("127.0.0.1")))
    };
    let (api, _a) = bind()?;
    let (swarm, _b) = bind()?;
    Ok((api, swarm))
}

/// Whether `POST /api/v0/version` on the port answers with a version.
fn api_answers(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(3)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(3)));
    let request = format!(
        "POST /api/v0/version HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\n\
         Connection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = Vec::new();
    let _ = stream.take(64 * 1024).read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).contains("\"Version\"")
}

/// The last lines of a log file, for error messages.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
}
