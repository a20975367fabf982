//! # knack-node
//!
//! The knack node: what an agent runs or embeds. A [`Node`] owns a libp2p swarm (TCP + QUIC,
//! noise, yamux, or TCP only in a private network under a [`swarm_key`]; gossipsub for
//! envelopes, `/knack/sync/1` anti-entropy, `/knack/blob/1`, identify, ping, optional Kademlia
//! and mDNS), a sled [`store`] and one replica per joined space, and serves commands from
//! cheap cloneable handles, and an HTTP API over them ([`api`]). Every fallible call returns a
//! typed error ([`NodeError`] and the errors of its parts). The `knack` binary (`src/main.rs`,
//! with its modules `cli` and `daemon`) wraps it in a daemon and a command line.
//!
//! ```no_run
//! # async fn demo() -> Result<(), knack_node::NodeError> {
//! use knack_crdt::{Body, Outcome, ProcedureKind, SpaceName};
//! use knack_node::{Config, NewProcedureRequest, NodeBuilder};
//!
//! let node = NodeBuilder::new(std::path::Path::new("/tmp/agent-a"))
//!     .config(Config::default())
//!     .build()
//!     .await?;
//! let space = SpaceName::new("default")?;
//! let id = node
//!     .add(&space, NewProcedureRequest {
//!         name: "restart the pod".into(),
//!         description: "when the pod is stuck in CrashLoopBackOff".into(),
//!         kind: ProcedureKind::Steps,
//!         tags: vec!["k8s".into()],
//!         body: Body::Inline(b"kubectl rollout restart deploy/x".to_vec()),
//!     })
//!     .await?;
//! let view = node
//!     .record_outcome(&space, id, Outcome { success: true, duration_ms: 1200, contexts: vec![] })
//!     .await?;
//! println!("{} has score {:.2}", view.name, view.score);
//! node.shutdown().await;
//! # Ok(()) }
//! ```

pub mod api;
pub mod config;
pub mod content;
pub mod dirs;
pub mod discovery;
mod error;
pub mod event;
pub mod health;
pub mod identity;
pub mod mcp;
pub mod members;
pub mod metrics;
mod net;
mod node;
pub mod peer_book;
pub mod settings;
pub mod status;
pub mod store;
pub mod swarm_key;
pub mod views;

pub use config::Config;
pub use error::NodeError;
pub use event::Event;
pub use knack_search::Query as SearchQuery;
pub use net::{BLOB_PROTOCOL, FrameCodec, MAX_FRAME_BYTES, SYNC_PROTOCOL, Transport};
pub use node::{BodyData, BodyRef, NewProcedureRequest, Node, NodeBuilder, NodeInfo};
