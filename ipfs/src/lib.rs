//! knack's IPFS tier: the few calls knack makes to an IPFS node, behind a small trait.
//!
//! A knack node keeps small procedure bodies inline in its CRDT and large ones by blake3 hash
//! (see `knack_crdt::ContentRef`). Those large bodies can also be pinned to the IPFS node its
//! user runs next to it (Kubo), so that content outlives the peers that authored it; the CID is
//! then replicated as a `Change::Pin`. This crate is that edge:
//!
//! - [`IpfsApi`]: version (health check), add a file or bytes (pinned, CIDv1, raw leaves),
//!   pin, ask whether a CID is pinned, and [`fetch_verified`](IpfsApi::fetch_verified): stream
//!   a CID's content into a file while checking its size and blake3 against the hash the CRDT
//!   holds. IPFS addresses content by a hash of its DAG, not of its bytes, so a CID alone does
//!   not prove the bytes are the body a procedure names: the blake3 check does.
//! - [`KuboRpc`]: the implementation over Kubo's RPC API (`/api/v0`, e.g.
//!   `http://127.0.0.1:5001`). The node holds an `Arc<dyn IpfsApi>` and never sees the HTTP
//!   client crate.
//! - [`Cid`]: a validated CID string (CIDv1 base32 `b...`, or CIDv0 `Qm...`).
//! - [`IpfsError`]: typed errors whose messages name the API address or CID.
//! - `DevDaemon` (feature `dev-daemon`): starts a real IPFS node for tests.
//!
//! ```no_run
//! use std::sync::Arc;
//! use knack_ipfs::{IpfsApi, KuboRpc};
//! # async fn demo() -> Result<(), knack_ipfs::IpfsError> {
//! let ipfs: Arc<dyn IpfsApi> = Arc::new(KuboRpc::new("http://127.0.0.1:5001")?);
//! let cid = ipfs.add_file("body.bin".as_ref()).await?;
//! assert!(ipfs.is_pinned(&cid).await?);
//! # Ok(()) }
//! ```
//!
//! # Time limits
//! Every call is bounded: a `cat` or `pin/add` of content no reachable node has waits forever
//! in Kubo. [`KuboRpc`] has a call timeout (30 s) and a transfer timeout (10 min) for `add` and
//! `pin/add`; `fetch_verified` takes its own.
//!
//! # Building
//! `ipfs-api-backend-hyper 0.6.0` depends on multihash 0.17 and so on `core2 ^0.4`, every
//! release of which is yanked: a fresh resolution fails. The workspace's `Cargo.lock` holds
//! `core2 0.4.0` (cargo keeps a locked yanked version), so builds use `--locked`, and a plain
//! `cargo update` breaks the lock again (`cargo update -p NAME` is fine). If it happens, put
//! the `core2 0.4.0` entry back into `Cargo.lock` by hand.
//!
//! # Tests against a real node
//! Users run Kubo, which no package registry reachable here ships; the tests run js-ipfs
//! 0.66.1 instead, an independent implementation of the same RPC API, installed from npm and
//! patched where its answers differ from Kubo's (`tools/ipfs-dev-daemon/`). `bash tools/test.sh`
//! installs it and runs the workspace's tests in a network namespace that has only loopback.

mod api;
mod cid;
#[cfg(feature = "dev-daemon")]
mod dev_daemon;
mod error;
mod kubo;
mod verify;

pub use api::IpfsApi;
pub use cid::{Cid, CidError, MAX_CID_LEN};
#[cfg(feature = "dev-daemon")]
pub use dev_daemon::{DevDaemon, DevDaemonError};
pub use error::IpfsError;
pub use kubo::KuboRpc;
pub use verify::VerifiedFile;
