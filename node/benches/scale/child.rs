//! A real `knack run` process for the scale bench: started on a data directory, timed until its
//! API answers `status`, measured through `/proc`, stopped with SIGTERM or SIGKILL.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long a start may take before the bench gives up on it.
const START_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a clean stop may take before the process is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `knack run` process.
pub(crate) struct Daemon {
    /// `http://127.0.0.1:PORT`.
    pub(crate) api: String,
    /// The API token.
    pub(crate) token: String,
    child: Option<Child>,
    log: PathBuf,
}

impl Daemon {
    /// Starts `knack run` on `dir` (its `knack.toml` says how), logging to `log` (outside the
    /// data directory, so the log is not counted as the node's bytes on disk). Returns the
    /// process and the time from spawning it to the first answered `GET /v1/status`.
    pub(crate) fn start(dir: &Path, log: &Path) -> (Daemon, Duration) {
        let _ = std::fs::remove_file(dir.join(knack_node::dirs::API_ADDR_FILE));
        let token = knack_node::dirs::read_token(dir).expect("the data directory has a token");
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("the log file opens");
        let started = Instant::now();
        let child = Command::new(crate::common::knack_bin())
            .args(["--dir", dir.to_str().expect("a UTF-8 path"), "run"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("knack starts");
        let mut daemon = Daemon {
            api: String::new(),
            token,
            child: Some(child),
            log: log.to_path_buf(),
        };
        let addr_file = dir.join(knack_node::dirs::API_ADDR_FILE);
        let agent = agent(Duration::from_secs(5));
        loop {
            assert!(
                started.elapsed() < START_TIMEOUT,
                "knack did not answer status within {START_TIMEOUT:?}: {}",
                daemon.log_tail()
            );
            if let Some(status) = daemon
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("knack exited with {status}: {}", daemon.log_tail());
            }
            if daemon.api.is_empty() {
                if let Some(addr) = std::fs::read_to_string(&addr_file)
                    .ok()
                    .filter(|a| !a.trim().is_empty())
                {
                    daemon.api = format!("http://{}", addr.trim());
                }
            } else if daemon.get_with(&agent, "/v1/status", &[]).is_some() {
                return (daemon, started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The last lines of the process's log.
    pub(crate) fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// The process id, while it runs.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `(VmRSS, VmHWM)` in MiB, read from `/proc/PID/status`.
    pub(crate) fn memory_mib(&self) -> (f64, f64) {
        let status = self
            .pid()
            .and_then(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
                .map_or(f64::NAN, |kb| kb / 1024.0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// A GET with the token through `agent`; the JSON body, or `None` unless 200.
    pub(crate) fn get_with(
        &self,
        agent: &ureq::Agent,
        path: &str,
        query: &[(&str, &str)],
    ) -> Option<Value> {
        let mut request = agent
            .get(format!("{}{path}", self.api))
            .header("Authorization", format!("Bearer {}", self.token));
        for (k, v) in query {
            request = request.query(*k, *v);
        }
        let mut response = request.call().ok()?;
        if response.status() != 200 {
            return None;
        }
        response.body_mut().read_json().ok()
    }

    /// Whether `GET /readyz` answers 200 (spaces loaded, search indexes built).
    pub(crate) fn ready(&self) -> bool {
        self.get_with(&agent(Duration::from_secs(10)), "/readyz", &[])
            .is_some()
    }

    /// A POST of an empty JSON object with the token; the JSON body, or `None` unless 200.
    pub(crate) fn post(&self, path: &str) -> Option<Value> {
        let mut response = agent(Duration::from_secs(600))
            .post(format!("{}{path}", self.api))
            .header("Authorization", format!("Bearer {}", self.token))
            .send_json(serde_json::json!({}))
            .ok()?;
        if response.status() != 200 {
            return None;
        }
        response.body_mut().read_json().ok()
    }

    /// The sum of the values of the `/metrics` lines starting with `prefix`.
    pub(crate) fn metric(&self, prefix: &str) -> f64 {
        let Ok(mut response) = agent(Duration::from_secs(60))
            .get(format!("{}/metrics", self.api))
            .call()
        else {
            return 0.0;
        };
        let text = response.body_mut().read_to_string().unwrap_or_default();
        text.lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// `GET /v1/status` (panics if it does not answer).
    pub(crate) fn status(&self) -> Value {
        self.get_with(&agent(Duration::from_secs(60)), "/v1/status", &[])
            .unwrap_or_else(|| panic!("status did not answer: {}", self.log_tail()))
    }

    /// A multiaddr peers can bootstrap to (TCP, with the peer id).
    pub(crate) fn multiaddr(&self) -> String {
        let status = self.status();
        let addr = status["listen_addrs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .find(|a| a.contains("/tcp/"))
            .expect("a TCP listen address");
        format!(
            "{addr}/p2p/{}",
            status["peer_id"].as_str().unwrap_or_default()
        )
    }

    /// Stops the process with SIGTERM (a clean stop: flush and snapshot); returns how long it
    /// took to exit, or `None` if it had to be killed after [`STOP_TIMEOUT`].
    pub(crate) fn stop(&mut self) -> Option<Duration> {
        let mut child = self.child.take()?;
        let started = Instant::now();
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        while started.elapsed() < STOP_TIMEOUT {
            if let Ok(Some(_)) = child.try_wait() {
                return Some(started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// Kills the process with SIGKILL (a crash).
    pub(crate) fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// An HTTP client (keep-alive; errors are answers, not failures).
pub(crate) fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into()
}
