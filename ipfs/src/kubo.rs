//! [`KuboRpc`]: [`IpfsApi`] over the Kubo RPC API (`/api/v0/...`), with `ipfs-api-backend-hyper`.

use std::future::Future;
use std::io::Cursor;
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use ipfs_api_backend_hyper::{IpfsApi as _, IpfsClient, TryFromUri, request};
use tokio_util::compat::TokioAsyncReadCompatExt;

use crate::api::IpfsApi;
use crate::cid::Cid;
use crate::error::IpfsError;
use crate::verify::VerifiedFile;

/// The client of a Kubo node's RPC API (or of anything serving the same API, such as js-ipfs).
///
/// Built from the API's base URL, e.g. `http://127.0.0.1:5001` (plain HTTP: the client has no
/// TLS, as Kubo's API belongs on loopback). Calls that move content (`add`, `pin/add`) must
/// finish within the transfer timeout, the others within the call timeout.
#[derive(Clone)]
pub struct KuboRpc {
    client: IpfsClient,
    url: String,
    call_timeout: Duration,
    transfer_timeout: Duration,
}

impl std::fmt::Debug for KuboRpc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KuboRpc")
            .field("url", &self.url)
            .field("call_timeout", &self.call_timeout)
            .field("transfer_timeout", &self.transfer_timeout)
            .finish()
    }
}

/// How an error of the HTTP client maps to [`IpfsError`]: the one place that sees its types.
fn map_client_error(url: &str, call: &str, err: ipfs_api_backend_hyper::Error) -> IpfsError {
    use ipfs_api_backend_hyper::Error as E;
    match err {
        // Anything wrong with the connection itself (refused, reset, closed early) means the
        // API is not there, or went away during the call. A reply that is not HTTP, or a
        // request this client could not send, is an API problem instead.
        E::Client(e) if !(e.is_parse() || e.is_user()) => IpfsError::Unreachable {
            url: url.to_owned(),
            reason: e.to_string(),
        },
        E::Api(e) => IpfsError::Api(format!("{call}: {}", e.message)),
        other => IpfsError::Api(format!("{call}: {other}")),
    }
}

impl KuboRpc {
    /// Time limit of calls that move no content (`version`, `pin/ls`).
    pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(30);
    /// Time limit of calls that move content (`add`, `pin/add`).
    pub const DEFAULT_TRANSFER_TIMEOUT: Duration = Duration::from_secs(600);

    /// A client of the API at `url` (`http://HOST:PORT`). Nothing is sent yet: call
    /// [`IpfsApi::version`] to check the node is there.
    pub fn new(url: &str) -> Result<Self, IpfsError> {
        let bad = |reason: &str| IpfsError::BadUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| bad("must start with http:// (the client speaks plain HTTP only)"))?;
        let authority = rest.trim_end_matches('/');
        let shape = "expected http://HOST:PORT, with no path (the client adds /api/v0)";
        match authority.rsplit_once(':') {
            Some((host, port))
                if !host.is_empty() && !host.contains('/') && port.parse::<u16>().is_ok() => {}
            _ => return Err(bad(shape)),
        }
        let client = IpfsClient::from_str(url).map_err(|e| bad(&e.to_string()))?;
        Ok(KuboRpc {
            client,
            url: format!("http://{authority}"),
            call_timeout: Self::DEFAULT_CALL_TIMEOUT,
            transfer_timeout: Self::DEFAULT_TRANSFER_TIMEOUT,
        })
    }

    /// Sets the time limit of calls that move no content.
    pub fn with_call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// Sets the time limit of calls that move content (`add`, `pin/add`).
    pub fn with_transfer_timeout(mut self, timeout: Duration) -> Self {
        self.transfer_timeout = timeout;
        self
    }

    /// The API's base URL, e.g. `http://127.0.0.1:5001`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs `fut` within `limit`, mapping the client's errors.
    async fn timed<T>(
        &self,
        call: &str,
        limit: Duration,
        fut: impl Future<Output = Result<T, ipfs_api_backend_hyper::Error>>,
    ) -> Result<T, IpfsError> {
        match tokio::time::timeout(limit, fut).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(map_client_error(&self.url, call, e)),
            Err(_) => Err(IpfsError::Timeout {
                url: self.url.clone(),
                call: call.to_owned(),
                after: limit,
            }),
        }
    }

    /// The options of every add: pinned, CIDv1, raw leaves (a file's blocks are its bytes, so
    /// a single-block file's CID is the CID of the raw bytes).
    fn add_options() -> request::Add<'static> {
        request::Add {
            pin: Some(true),
            cid_version: Some(1),
            raw_leaves: Some(true),
            ..Default::default()
        }
    }

    fn parse_added(call: &str, hash: &str) -> Result<Cid, IpfsError> {
        Cid::parse(hash).map_err(|e| IpfsError::Api(format!("{call}: the node answered {e}")))
    }
}

#[async_trait]
impl IpfsApi for KuboRpc {
    async fn version(&self) -> Result<String, IpfsError> {
        let v = self
            .timed("version", self.call_timeout, self.client.version())
            .await?;
        Ok(v.version)
    }

    async fn add_file(&self, path: &Path) -> Result<Cid, IpfsError> {
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| IpfsError::io("cannot open", path, e))?;
        let call = format!("add {}", path.display());
        // The multipart body reads the file as hyper sends it: memory stays at a few buffers.
        let added = self
            .timed(
                &call,
                self.transfer_timeout,
                self.client
                    .add_async_with_options(file.compat(), Self::add_options()),
            )
            .await?;
        Self::parse_added(&call, &added.hash)
    }

    async fn add_bytes(&self, bytes: Vec<u8>) -> Result<Cid, IpfsError> {
        let call = format!("add ({} bytes)", bytes.len());
        let added = self
            .timed(
                &call,
                self.transfer_timeout,
                self.client
                    .add_with_options(Cursor::new(bytes), Self::add_options()),
            )
            .await?;
        Self::parse_added(&call, &added.hash)
    }

    async fn pin_add(&self, cid: &Cid) -> Result<(), IpfsError> {
        let call = format!("pin/add {cid}");
        self.timed(
            &call,
            self.transfer_timeout,
            self.client.pin_add(cid.as_str(), true),
        )
        .await?;
        Ok(())
    }

    async fn is_pinned(&self, cid: &Cid) -> Result<bool, IpfsError> {
        let call = format!("pin/ls {cid}");
        match self
            .timed(
                &call,
                self.call_timeout,
                self.client.pin_ls(Some(cid.as_str()), None),
            )
            .await
        {
            Ok(pins) => Ok(!pins.keys.is_empty()),
            // Kubo answers `pin/ls CID` for an unpinned CID with an error, "path '...' is not
            // pinned"; js-ipfs says "... is not pinned" too.
            Err(IpfsError::Api(message)) if message.contains("is not pinned") => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn fetch_verified(
        &self,
        cid: &Cid,
        expected_blake3: [u8; 32],
        expected_size: u64,
        dest: &Path,
        timeout: Duration,
    ) -> Result<(), IpfsError> {
        let call = format!("cat {cid}");
        let fetch = async {
            let mut out =
                VerifiedFile::create(cid.as_str(), expected_blake3, expected_size, dest).await?;
            let mut stream = self.client.cat(cid.as_str());
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| map_client_error(&self.url, &call, e))?;
                out.write(&chunk).await?;
            }
            out.finish().await
        };
        // On timeout the fetch future is dropped: the HTTP request is cancelled and the
        // temporary file deleted.
        tokio::time::timeout(timeout, fetch)
            .await
            .unwrap_or_else(|_| {
                Err(IpfsError::Timeout {
                    url: self.url.clone(),
                    call,
                    after: timeout,
                })
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            KuboRpc::new("http://127.0.0.1:5001").unwrap().url(),
            "http://127.0.0.1:5001"
        );
        assert_eq!(
            KuboRpc::new("http://127.0.0.1:5001/").unwrap().url(),
            "http://127.0.0.1:5001"
        );
        for bad in [
            "127.0.0.1:5001",
            "https://127.0.0.1:5001",
            "http://",
            "http://127.0.0.1:5001/api/v0",
            "http://127.0.0.1:notaport",
        ] {
            let err = KuboRpc::new(bad).unwrap_err();
            assert!(matches!(err, IpfsError::BadUrl { .. }), "{bad}: {err}");
        }
    }

    #[tokio::test]
    async fn nothing_listening_is_unreachable() {
        // Bind then drop: a loopback port with nothing behind it (for the instant this runs).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}");
        let err = KuboRpc::new(&url).unwrap().version().await.unwrap_err();
        assert!(matches!(err, IpfsError::Unreachable { .. }), "{err}");
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!("IPFS API at {url} is unreachable: ")),
            "{msg}"
        );
    }
}
