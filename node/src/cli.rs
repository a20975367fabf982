//! The `knack` command line: flags defined once with clap derive, help generated from them.

mod client;
mod commands;
mod mcp_stdio;
mod members;
mod print;
mod settings;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use libp2p::Multiaddr;

pub(crate) use commands::execute;

/// knack: a peer-to-peer procedural memory for AI agents.
#[derive(Debug, Parser)]
#[command(
    name = "knack",
    version,
    about = "knack: a peer-to-peer procedural memory for AI agents",
    long_about = None
)]
pub(crate) struct Cli {
    /// The data directory (default: $KNACK_DIR, else the platform data dir + "knack").
    #[arg(long, global = true)]
    pub(crate) dir: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create the data directory: identity key, config file, API token.
    Init(InitArgs),
    /// Run the node in the foreground (Ctrl-C or SIGTERM stops it cleanly).
    Run(RunArgs),
    /// Move a damaged store aside (to db.damaged-<time>) so the node can start again and
    /// re-sync from its peers (identity, config and blobs are kept). Only with the node
    /// stopped.
    Repair,
    /// Add a procedure.
    Add(AddArgs),
    /// Edit a procedure.
    Edit(EditArgs),
    /// Record one use of a procedure.
    Outcome(OutcomeArgs),
    /// Relate two procedures.
    Link(LinkArgs),
    /// Show a procedure.
    Show(ShowArgs),
    /// The best procedures.
    Top(TopArgs),
    /// Find the procedure for a task: meaning, words and evidence together.
    Search(SearchArgs),
    /// Procedures nearest in meaning to one.
    Similar(SimilarArgs),
    /// Follow the node's change events.
    Tail(JsonFlag),
    /// Connected peers.
    Peers(JsonFlag),
    /// The node's status: identity, addresses, peers, digests, content tier.
    Status(JsonFlag),
    /// Pin a procedure's body to IPFS (or record a CID it already has there).
    Pin(PinArgs),
    /// Restate this node's own ops in a space as a checkpoint run and compact the op log.
    Checkpoint(CheckpointArgs),
    /// Create, join and list spaces (members-only spaces: `knack space create NAME
    /// --members-only`).
    #[command(subcommand)]
    Space(SpaceCommand),
    /// Manage the members of a members-only space (admins only).
    #[command(subcommand)]
    Members(MembersCommand),
    /// Show a space's replicated settings, or change some with `--set KEY=VALUE` (e.g.
    /// `--set evidence_weighting=true`; admins only in a members-only space).
    Settings(SettingsArgs),
    /// Serve MCP (Model Context Protocol) on stdin/stdout for an agent: to the node running on
    /// the data directory, or to an embedded one started when none runs.
    Mcp,
}

/// `knack space ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum SpaceCommand {
    /// Create a space on the running node and join it for good; with --members-only this
    /// node is its root admin, and the command prints `NAME@PEER_ID` for others to join.
    Create(SpaceCreateArgs),
    /// Join a space on the running node for good: `NAME` (open) or `NAME@ROOT_PEER_ID`
    /// (members-only, as `knack space create` printed it).
    Join(SpaceJoinArgs),
    /// The joined spaces.
    List(JsonFlag),
}

/// `knack space create`.
#[derive(Debug, Args)]
pub(crate) struct SpaceCreateArgs {
    /// The space's name (1 to 64 of a-z, 0-9, '.', '_', '-').
    pub(crate) name: String,
    /// Only members are served its ops and blobs and may write it; this node is its root
    /// admin.
    #[arg(long)]
    pub(crate) members_only: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub(crate) json: JsonFlag,
}

/// `knack space join`.
#[derive(Debug, Args)]
pub(crate) struct SpaceJoinArgs {
    /// `NAME` or `NAME@ROOT_PEER_ID`.
    pub(crate) space: String,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub(crate) json: JsonFlag,
}

/// `knack members ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum MembersCommand {
    /// Add a member (or make it an admin with --admin).
    Add(MemberArgs),
    /// Remove a member: its ops this node holds are kept, its later ones refused everywhere.
    Remove(MemberArgs),
    /// The members and their roles.
    List(MembersListArgs),
}

/// `knack members add|remove`.
#[derive(Debug, Args)]
pub(crate) struct MemberArgs {
    /// The member's peer id (`knack status` prints a node's).
    pub(crate) peer_id: String,
    /// Make it an admin (add only).
    #[arg(long)]
    pub(crate) admin: bool,
    /// The space.
    #[arg(long)]
    pub(crate) space: String,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub(crate) json: JsonFlag,
}

/// `knack members list`.
#[derive(Debug, Args)]
pub(crate) struct MembersListArgs {
    /// The space.
    #[arg(long)]
    pub(crate) space: String,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub(crate) json: JsonFlag,
}

/// `knack settings`.
#[derive(Debug, Args)]
pub(crate) struct SettingsArgs {
    /// Change a setting: `KEY=VALUE`, repeatable (keys as `knack settings --json` prints
    /// them; values are numbers or true/false).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub(crate) set: Vec<String>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub(crate) space: SpaceFlag,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub(crate) json: JsonFlag,
}

/// `knack checkpoint`.
#[derive(Debug, Args)]
pub(crate) struct CheckpointArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub(crate) space: SpaceFlag,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub(crate) json: JsonFlag,
}

/// `knack similar`.
#[derive(Debug, Args)]
pub(crate) struct SimilarArgs {
    /// Procedure id.
    pub(crate) id: String,
    /// How many.
    #[arg(short, default_value_t = 10)]
    pub(crate) n: usize,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub(crate) space: SpaceFlag,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub(crate) json: JsonFlag,
}

/// `knack pin`.
#[derive(Debug, Args)]
pub(crate) struct PinArgs {
    /// Procedure id.
    pub(crate) id: String,
    /// Record this CID instead of adding the body to IPFS (readers verify it).
    #[arg(long)]
    pub(crate) cid: Option<String>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub(crate) space: SpaceFlag,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub(crate) json: JsonFlag,
}

/// `--json`.
#[derive(Debug, Args)]
pub(crate) struct JsonFlag {
    /// Print JSON for machines.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `--body TEXT | --body-file FILE`.
#[derive(Debug, Args)]
pub(crate) struct BodyArgs {
    /// Body text.
    #[arg(long, conflicts_with = "body_file")]
    pub(crate) body: Option<String>,
    /// Read the body from a file, of any size (small ones travel inline, as text or base64;
    /// large ones are uploaded to the node's blob store and referenced by hash).
    #[arg(long)]
    pub(crate) body_file: Option<PathBuf>,
}

/// `--space`.
#[derive(Debug, Args)]
pub(crate) struct SpaceFlag {
    /// The space.
    #[arg(long, default_value = "default")]
    pub(crate) space: String,
}

/// `knack init`.
#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// Also write a new random swarm key (pre-shared key of a private network, IPFS
    /// `swarm.key` format, mode 0600) to FILE. Give the file to every node of the network and
    /// start each with `knack run --swarm-key FILE`. An existing file is not replaced.
    #[arg(long, value_name = "FILE")]
    pub(crate) swarm_key: Option<PathBuf>,
    /// With --swarm-key: replace an existing key file (nodes holding the old key can no
    /// longer connect to nodes started with the new one).
    #[arg(long, requires = "swarm_key")]
    pub(crate) force: bool,
}

/// `knack run`.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// libp2p listen address (repeatable; replaces the config's).
    #[arg(long)]
    pub(crate) listen: Vec<Multiaddr>,
    /// HTTP API address (HOST:PORT; port 0 picks one).
    #[arg(long)]
    pub(crate) api: Option<std::net::SocketAddr>,
    /// Peer to dial, with or without /p2p/PEER_ID (repeatable; adds to the config's).
    #[arg(long)]
    pub(crate) bootstrap: Vec<Multiaddr>,
    /// Another space to join (repeatable).
    #[arg(long = "space")]
    pub(crate) spaces: Vec<String>,
    /// Discover peers on the LAN by mDNS.
    #[arg(long)]
    pub(crate) mdns: bool,
    /// Anti-entropy interval in milliseconds.
    #[arg(long)]
    pub(crate) sync_interval_ms: Option<u64>,
    /// Kubo RPC API of an IPFS node for the cold tier (e.g. http://127.0.0.1:5001).
    #[arg(long)]
    pub(crate) ipfs_api: Option<String>,
    /// Join the private network of this swarm key file (IPFS `swarm.key` format, written by
    /// `knack init --swarm-key`): only peers with the same key can connect. TCP only: QUIC is
    /// off in a private network.
    #[arg(long, value_name = "FILE")]
    pub(crate) swarm_key: Option<PathBuf>,
}

/// `knack add`.
#[derive(Debug, Args)]
pub(crate) struct AddArgs {
    /// Name.
    #[arg(long)]
    pub(crate) name: String,
    /// Description.
    #[arg(long, default_value = "")]
    pub(crate) description: String,
    /// Tag (repeatable).
    #[arg(long = "tag")]
    pub(crate) tags: Vec<String>,
    /// Kind: steps, script, prompt, tool, or your own.
    #[arg(long)]
    pub(crate) kind: Option<String>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub(crate) body: BodyArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub(crate) space: SpaceFlag,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub(crate) json: JsonFlag,
}

/// `knack edit`.
#[derive(Debug, Args)]
pub(crate) struct EditArgs {
    /// Procedure id.
    pub(crate) id: String,
    /// New name.
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// New description.
    #[arg(long)]
    pub(crate) description: Option<String>,
    /// New kind.
    #[arg(long)]
    pub(crate) kind: Option<String>,
    /// Tag to add (repeatable).
    #[arg(long = "add-tag")]
    pub(crate) add_tags: Vec<String>,
    /// Tag to remove (repeatable).
    #[arg(long = "remove-tag")]
    pub(crate) remove_tags: Vec<String>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub(crate) body: BodyArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub(crate) space: SpaceFlag,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub(crate) json: JsonFlag,
}

/// `knack outcome`.
#[derive(Debug, Args)]
pub(crate) struct OutcomeArgs {
    /// Procedure id.
    pub(crate) id: String,
    /// It worked.
    #[arg(long, conflicts_with = "failure", required_unless_present = "failure")]
    pub(crate) success: bool,
    /// It did not work.
    #[arg(long)]
    pub(crate) failure: bool,
    /// How long it took.
    #[arg(long, default_value_t = 0)]
    pub(crate) duration_ms: u64,
    /// What it was used for (repeatable).
    #[arg(long = "context")]
    pub(crate) contexts: Vec<String>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub(crate) space: SpaceFlag,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub(crate) json: JsonFlag,
}

/// `knack link`.
#[derive(Debug, Args)]
pub(crate) struct LinkArgs {
    /// Source id.
    pub(crate) from: String,
    /// Target id.
    pub(crate) to: String,
    /// similar, context, next, depends or supersedes.
    #[arg(long)]
    pub(crate) kind: String,
    /// Strength in 0..1.
    #[arg(long, default_value_t = 1.0)]
    pub(crate) strength: f64,
    /// Remove the relation instead.
    #[arg(long)]
    pub(crate) remove: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub(crate) space: SpaceFlag,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub(crate) json: JsonFlag,
}

/// `knack show`.
#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// Procedure id.
    pub(crate) id: String,
    /// Print the body's bytes (fetched from peers or IPFS if needed, verified) instead.
    #[arg(long, conflicts_with = "body_out")]
    pub(crate) body: bool,
    /// Write the body to this file instead.
    #[arg(long)]
    pub(crate) body_out: Option<PathBuf>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub(crate) space: SpaceFlag,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub(crate) json: JsonFlag,
}

/// `knack top`.
#[derive(Debug, Args)]
pub(crate) struct TopArgs {
    /// How many.
    #[arg(short, default_value_t = 10)]
    pub(crate) n: usize,
    /// Only with this tag.
    #[arg(long)]
    pub(crate) tag: Option<String>,
    /// Rank by this context's evidence.
    #[arg(long)]
    pub(crate) context: Option<String>,
    /// Only of this kind.
    #[arg(long)]
    pub(crate) kind: Option<String>,
    /// Only crystallized procedures.
    #[arg(long)]
    pub(crate) crystallized: bool,
    /// How to order: `greedy` (by score, the default) or `thompson` (by a draw from each
    /// procedure's posterior: take the first row to explore the unproven as often as they
    /// may be better).
    #[arg(long, value_name = "POLICY")]
    pub(crate) explore: Option<String>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub(crate) space: SpaceFlag,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub(crate) json: JsonFlag,
}

/// `knack search`.
#[derive(Debug, Args)]
pub(crate) struct SearchArgs {
    /// What you want to do, in your own words.
    pub(crate) query: String,
    /// How many.
    #[arg(short, default_value_t = 10)]
    pub(crate) n: usize,
    /// The context you are in (rank by that context's success rate).
    #[arg(long)]
    pub(crate) context: Option<String>,
    /// Show why each result ranks where it does.
    #[arg(long)]
    pub(crate) explain: bool,
    /// How evidence counts: `greedy` (by score, the default) or `thompson` (a draw from each
    /// candidate's posterior).
    #[arg(long, value_name = "POLICY")]
    pub(crate) explore: Option<String>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub(crate) space: SpaceFlag,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub(crate) json: JsonFlag,
}

/// Parses the command line and runs it.
pub(crate) fn main() -> ExitCode {
    let cli = Cli::parse();
    match execute(cli) {
        Ok(code) => code,
        Err(error) => {
            if is_broken_pipe(&error) {
                return ExitCode::SUCCESS;
            }
            eprintln!("knack: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
