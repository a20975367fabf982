//! [`Node`]'s content methods: bodies inline or as blobs, reading them back from peers or
//! IPFS, pinning.

use std::path::PathBuf;
use std::sync::Arc;

use knack_crdt::{Body, ContentHash, ProcedureId, SpaceName};

use super::command::{BodyRef, Command};
use super::handle::Node;
use crate::content::{BlobStore, ContentError};
use crate::error::NodeError;

/// The IPFS endpoint and the pin queue, when the node has an endpoint.
#[derive(Clone)]
pub(crate) struct IpfsTier {
    pub(crate) client: Arc<dyn knack_ipfs::IpfsApi>,
    pub(crate) pins: crate::content::PinQueue,
}

impl std::fmt::Debug for IpfsTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IpfsTier").finish_non_exhaustive()
    }
}

/// Longest a read from IPFS may take.
const IPFS_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// A procedure's body, made local.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BodyData {
    /// A small body, carried inline in the procedure's ops.
    Inline(Vec<u8>),
    /// A body in the node's blob store, verified against its hash.
    Blob {
        /// Its blake3 hash.
        hash: ContentHash,
        /// Its size in bytes.
        size: u64,
        /// The file holding it (read it; do not write it).
        path: PathBuf,
    },
}

impl Node {
    /// Keeps a body inline if the space allows its size, else stores it as a blob.
    pub(super) async fn place_body(
        &self,
        space: &SpaceName,
        body: Body,
    ) -> Result<Body, NodeError> {
        let Body::Inline(bytes) = body else {
            return Ok(body);
        };
        // Every space carries at least this much inline: no need to ask.
        const ALWAYS_INLINE: usize = 1024;
        if bytes.len() <= ALWAYS_INLINE {
            return Ok(Body::Inline(bytes));
        }
        let space = space.clone();
        let max = self
            .ask(|reply| Command::InlineMax { space, reply })
            .await?;
        if bytes.len() <= max {
            return Ok(Body::Inline(bytes));
        }
        let size = bytes.len() as u64;
        let blobs = self.blobs.clone();
        let quota = self.info.blob_quota_bytes;
        let hash = tokio::task::spawn_blocking(move || {
            blobs.check_quota(quota, size)?;
            blobs.put(&bytes)
        })
        .await
        .map_err(|_| NodeError::Stopped)??;
        Ok(Body::External { hash, size })
    }

    /// Stores a file (of any size) in the blob store, streaming it; returns the body that
    /// references it, for [`Node::add`] or [`Node::edit`].
    pub async fn import_blob(&self, path: &std::path::Path) -> Result<Body, NodeError> {
        let blobs = self.blobs.clone();
        let src = path.to_path_buf();
        let quota = self.info.blob_quota_bytes;
        tokio::task::spawn_blocking(move || -> Result<Body, NodeError> {
            let len = std::fs::metadata(&src)
                .map_err(|e| NodeError::io(&src, e))?
                .len();
            blobs.check_quota(quota, len)?;
            let (tmp, mut file) = blobs.temp_file()?;
            let mut input = std::fs::File::open(&src).map_err(|e| NodeError::io(&src, e))?;
            std::io::copy(&mut input, &mut file).map_err(|e| NodeError::io(&src, e))?;
            drop(file);
            let (hash, size) = blobs.import(&tmp, None)?;
            Ok(Body::External { hash, size })
        })
        .await
        .map_err(|_| NodeError::Stopped)?
    }

    /// Largest body accepted, in bytes.
    pub fn max_blob_bytes(&self) -> u64 {
        self.info.max_blob_bytes
    }

    /// Bytes the blob store may hold in all (0: no quota).
    pub fn blob_quota_bytes(&self) -> u64 {
        self.info.blob_quota_bytes
    }

    /// Fails when storing `incoming` more bytes in the blob store would take its disk below
    /// the free-space reserve (`min_free_disk_bytes`).
    pub(crate) fn check_blob_disk(&self, incoming: u64) -> Result<(), NodeError> {
        let dir = self.blobs.content_path(&ContentHash([0; 32]));
        let dir = dir.parent().and_then(|p| p.parent()).unwrap_or(&dir);
        let Ok(available) = fs2::available_space(dir) else {
            return Ok(());
        };
        let reserve = self.info.min_free_disk_bytes;
        if available < reserve.saturating_add(incoming) {
            return Err(NodeError::DiskFull {
                path: dir.display().to_string(),
                available,
                reserve,
            });
        }
        Ok(())
    }

    /// The node's blob store (the HTTP API streams uploads and downloads through it).
    pub(crate) fn blob_store(&self) -> &Arc<BlobStore> {
        &self.blobs
    }

    /// Where a procedure's current body is: inline bytes, or hash, size and IPFS CID.
    pub async fn body_ref(&self, space: &SpaceName, id: ProcedureId) -> Result<BodyRef, NodeError> {
        let space = space.clone();
        self.ask(|reply| Command::BodyRef { space, id, reply })
            .await
    }

    /// A procedure's current body, made local: inline bytes, or the blob fetched from peers
    /// (`/knack/blob/1`, each chunk verified) when this node does not hold it.
    pub async fn body(&self, space: &SpaceName, id: ProcedureId) -> Result<BodyData, NodeError> {
        let body = self.body_ref(space, id).await?;
        let content = body.content.clone();
        if let Some(bytes) = content.inline {
            return Ok(BodyData::Inline(bytes));
        }
        let (hash, size) = (content.hash, content.size);
        // A held copy is hashed whole before it is served: a blob corrupted on disk is never
        // sent; it is quarantined (counted) and fetched again like a missing one.
        if self.blobs.size_of(&hash).is_some() && self.verify_held(hash).await? {
            self.blobs.touch(&hash);
            return Ok(self.blob_data(hash, size));
        }
        let (blobs, quota) = (self.blobs.clone(), self.info.blob_quota_bytes);
        tokio::task::spawn_blocking(move || blobs.check_quota(quota, size))
            .await
            .map_err(|_| NodeError::Stopped)??;
        let from_peers = self
            .ask(|reply| Command::FetchBlob { hash, size, reply })
            .await;
        match (from_peers, &self.ipfs) {
            (Ok(()), _) => {}
            (Err(NodeError::Stopped), _) => return Err(NodeError::Stopped),
            (Err(e), Some(ipfs)) if !body.cids.is_empty() => {
                tracing::info!(%hash, error = %e, cids = body.cids.len(), "no peer has the body: reading it from IPFS");
                self.fetch_from_any_cid(ipfs, &body.cids, hash, size)
                    .await?;
            }
            (Err(e), _) => return Err(e),
        }
        // A fetched copy was hashed whole as it was stored (`BlobStore::import`).
        if self.blobs.size_of(&hash) != Some(size) {
            return Err(NodeError::Content(ContentError::Unavailable {
                hash,
                reason: "the stored blob has another size".into(),
            }));
        }
        self.blobs.touch(&hash);
        Ok(self.blob_data(hash, size))
    }

    fn blob_data(&self, hash: ContentHash, size: u64) -> BodyData {
        BodyData::Blob {
            hash,
            size,
            path: self.blobs.content_path(&hash),
        }
    }

    /// Hashes the held blob `hash`: true if intact; false if it was corrupt (then it is
    /// quarantined and counted, `knack_integrity_faults_total{reason="blob_corrupt"}`).
    async fn verify_held(&self, hash: ContentHash) -> Result<bool, NodeError> {
        let blobs = self.blobs.clone();
        let checked = tokio::task::spawn_blocking(move || {
            let result = blobs.verify(&hash);
            if let Err(ContentError::Mismatch { .. }) = &result {
                blobs.quarantine(&hash)?;
            }
            Ok::<_, ContentError>(result)
        })
        .await
        .map_err(|_| NodeError::Stopped)??;
        match checked {
            Ok(()) => Ok(true),
            Err(ContentError::Mismatch { actual, size, .. }) => {
                crate::metrics::Metrics::count(&self.metrics.integrity_faults, "blob_corrupt");
                tracing::error!(
                    %hash, %actual, size,
                    "stored blob is corrupt: quarantined (blobs/quarantine/), fetching it again"
                );
                Ok(false)
            }
            Err(ContentError::Unavailable { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads the blob `hash` from IPFS into the blob store, trying each recorded CID in turn
    /// until one gives content that hashes to `hash` (a bogus CID recorded by another agent
    /// costs one refused read, not the body).
    async fn fetch_from_any_cid(
        &self,
        ipfs: &IpfsTier,
        cids: &[String],
        hash: ContentHash,
        size: u64,
    ) -> Result<(), NodeError> {
        let mut last = None;
        for cid in cids {
            match self.fetch_from_ipfs(ipfs, cid, hash, size).await {
                Ok(()) => return Ok(()),
                Err(NodeError::Stopped) => return Err(NodeError::Stopped),
                Err(e) => last = Some(e),
            }
        }
        Err(
            last.unwrap_or(NodeError::Content(ContentError::Unavailable {
                hash,
                reason: "no IPFS CID is recorded".into(),
            })),
        )
    }

    /// Reads the blob `hash` from IPFS as `cid` into the blob store, refusing content that does
    /// not hash to `hash`.
    async fn fetch_from_ipfs(
        &self,
        ipfs: &IpfsTier,
        cid: &str,
        hash: ContentHash,
        size: u64,
    ) -> Result<(), NodeError> {
        let cid = knack_ipfs::Cid::parse(cid)
            .map_err(|e| ContentError::Ipfs(knack_ipfs::IpfsError::from(e)))?;
        let (tmp, file) = self.blobs.temp_file()?;
        drop(file);
        let fetched = ipfs
            .client
            .fetch_verified(&cid, hash.0, size, &tmp, IPFS_READ_TIMEOUT)
            .await;
        if let Err(e) = fetched {
            let _ = std::fs::remove_file(&tmp);
            let reason = match &e {
                knack_ipfs::IpfsError::Mismatch { .. } | knack_ipfs::IpfsError::TooLarge { .. } => {
                    "mismatch"
                }
                _ => "read",
            };
            crate::metrics::Metrics::count(&self.metrics.ipfs_errors, reason);
            tracing::warn!(%hash, %cid, error = %e, "IPFS read refused");
            return Err(ContentError::Ipfs(e).into());
        }
        let blobs = self.blobs.clone();
        tokio::task::spawn_blocking(move || blobs.import(&tmp, Some(&hash)))
            .await
            .map_err(|_| NodeError::Stopped)??;
        Ok(())
    }

    /// A procedure's current body in memory (see [`Node::body`]); for small bodies.
    pub async fn body_bytes(
        &self,
        space: &SpaceName,
        id: ProcedureId,
    ) -> Result<Vec<u8>, NodeError> {
        match self.body(space, id).await? {
            BodyData::Inline(bytes) => Ok(bytes),
            BodyData::Blob { path, .. } => tokio::fs::read(&path)
                .await
                .map_err(|e| NodeError::io(&path, e)),
        }
    }

    /// Queues the current body of `id` for IPFS: added and pinned by the pin worker, its CID
    /// recorded when done (retried with backoff while the IPFS node is unreachable).
    pub async fn queue_pin(&self, space: &SpaceName, id: ProcedureId) -> Result<(), NodeError> {
        let Some(ipfs) = &self.ipfs else {
            return Err(NodeError::Content(ContentError::NoIpfs));
        };
        let body = self.body_ref(space, id).await?.content;
        let (hash, size) = (body.hash, body.size);
        let blobs = self.blobs.clone();
        let pins = ipfs.pins.clone();
        let space = space.clone();
        tokio::task::spawn_blocking(move || -> Result<(), NodeError> {
            if let Some(bytes) = body.inline
                && blobs.size_of(&hash).is_none()
            {
                blobs.put(&bytes)?;
            }
            Ok(pins.push(&space, hash, size)?)
        })
        .await
        .map_err(|_| NodeError::Stopped)?
    }

    /// Records that the body `hash` is on IPFS as `cid` (replicated to every peer). Readers
    /// check what they get from IPFS against `hash`, so a wrong CID is refused on read.
    pub async fn record_pin(
        &self,
        space: &SpaceName,
        hash: ContentHash,
        cid: String,
    ) -> Result<(), NodeError> {
        let space = space.clone();
        self.ask(|reply| Command::RecordPin {
            space,
            hash,
            cid,
            reply,
        })
        .await
    }
}
