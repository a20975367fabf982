//! The CLI's HTTP client of a running daemon (blocking: the CLI does one thing and exits).

use std::io::BufRead;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use serde::Serialize;
use serde::de::DeserializeOwned;

use knack_node::dirs::{API_ADDR_FILE, read_token};

/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A client of the daemon whose data directory is `dir`.
pub(crate) struct Client {
    base: String,
    auth: String,
    agent: ureq::Agent,
}

impl Client {
    /// Finds the running daemon of `dir` (its API address file and token).
    pub(crate) fn from_dir(dir: &Path) -> anyhow::Result<Client> {
        let token = read_token(dir)?;
        let addr_path = dir.join(API_ADDR_FILE);
        let addr = std::fs::read_to_string(&addr_path).with_context(|| {
            format!(
                "no running node found in {} (start one with `knack run`)",
                dir.display()
            )
        })?;
        Ok(Client {
            base: format!("http://{}", addr.trim()),
            auth: format!("Bearer {token}"),
            agent: agent(Some(REQUEST_TIMEOUT)),
        })
    }

    /// `GET path` -> JSON.
    pub(crate) fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let response = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("Authorization", &self.auth)
            .call()
            .map_err(|e| self.unreachable(e))?;
        decode(response)
    }

    /// `POST path` with a JSON body -> JSON.
    pub(crate) fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> anyhow::Result<T> {
        self.send(self.agent.post(format!("{}{path}", self.base)), body)
    }

    /// `DELETE path` -> JSON.
    pub(crate) fn delete<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let response = self
            .agent
            .delete(format!("{}{path}", self.base))
            .header("Authorization", &self.auth)
            .call()
            .map_err(|e| self.unreachable(e))?;
        decode(response)
    }

    /// `PATCH path` with a JSON body -> JSON.
    pub(crate) fn patch<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> anyhow::Result<T> {
        self.send(self.agent.patch(format!("{}{path}", self.base)), body)
    }

    fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        request: ureq::RequestBuilder<ureq::typestate::WithBody>,
        body: &B,
    ) -> anyhow::Result<T> {
        let response = request
            .header("Authorization", &self.auth)
            .send_json(body)
            .map_err(|e| self.unreachable(e))?;
        decode(response)
    }

    /// Uploads a file to the blob store (streamed, no time limit).
    pub(crate) fn upload(&self, file: &Path) -> anyhow::Result<knack_node::api::requests::BlobRef> {
        let input =
            std::fs::File::open(file).with_context(|| format!("reading {}", file.display()))?;
        let response = agent(None)
            .post(format!("{}/v1/blobs", self.base))
            .header("Authorization", &self.auth)
            .header("Content-Type", "application/octet-stream")
            .send(input)
            .map_err(|e| self.unreachable(e))?;
        decode(response)
    }

    /// Streams the bytes at `path` into `out` (no time limit: bodies may be large and fetched
    /// from peers first). Returns how many were written.
    pub(crate) fn download(
        &self,
        path: &str,
        out: &mut impl std::io::Write,
    ) -> anyhow::Result<u64> {
        let mut response = agent(None)
            .get(format!("{}{path}", self.base))
            .header("Authorization", &self.auth)
            .call()
            .map_err(|e| self.unreachable(e))?;
        if !response.status().is_success() {
            return decode::<serde_json::Value>(response).map(|_| 0);
        }
        let mut reader = response.body_mut().with_config().limit(u64::MAX).reader();
        Ok(std::io::copy(&mut reader, out)?)
    }

    /// Streams the bytes at `path` into the file `dest` (written beside it, then renamed).
    pub(crate) fn download_to_file(&self, path: &str, dest: &Path) -> anyhow::Result<u64> {
        let tmp = dest.with_extension("knack-partial");
        let mut file =
            std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let result = self.download(path, &mut file).and_then(|n| {
            file.sync_all()?;
            std::fs::rename(&tmp, dest).with_context(|| format!("writing {}", dest.display()))?;
            Ok(n)
        });
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    /// Follows the server-sent event stream, calling `each` with every event's data until it
    /// returns false or the stream ends.
    pub(crate) fn events(
        &self,
        mut each: impl FnMut(&str) -> anyhow::Result<bool>,
    ) -> anyhow::Result<()> {
        let mut response = agent(None)
            .get(format!("{}/v1/events", self.base))
            .header("Authorization", &self.auth)
            .call()
            .map_err(|e| self.unreachable(e))?;
        if !response.status().is_success() {
            return decode::<serde_json::Value>(response).map(|_| ());
        }
        let reader = std::io::BufReader::new(response.body_mut().as_reader());
        for line in reader.lines() {
            let line = line?;
            if let Some(data) = line.strip_prefix("data:")
                && !each(data.trim_start())?
            {
                break;
            }
        }
        Ok(())
    }

    fn unreachable(&self, error: ureq::Error) -> anyhow::Error {
        anyhow!(
            "cannot reach the node at {}: {error} (is `knack run` still running?)",
            self.base
        )
    }
}

fn agent(timeout: Option<Duration>) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(timeout)
        .build()
        .into()
}

/// Decodes a JSON answer, or turns an error answer into its message.
fn decode<T: DeserializeOwned>(
    mut response: ureq::http::Response<ureq::Body>,
) -> anyhow::Result<T> {
    let status = response.status();
    let text = response
        .body_mut()
        .read_to_string()
        .context("reading the node's answer")?;
    if !status.is_success() {
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
            .unwrap_or(text);
        bail!("{message} (HTTP {})", status.as_u16());
    }
    serde_json::from_str(&text).with_context(|| format!("unexpected answer from the node: {text}"))
}
