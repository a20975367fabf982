//! The crate's error type.

use thiserror::Error;

use crate::ids::ProcedureId;

/// Everything that can go wrong when authoring or validating a change to a space.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CrdtError {
    /// A space name with forbidden characters or length.
    #[error("invalid space name {0:?}: use 1 to 64 characters of a-z, 0-9, '.', '_', '-'")]
    InvalidSpaceName(String),
    /// Text that is not a 64-digit hex id.
    #[error("invalid {what} {input:?}: expected 64 hex digits")]
    InvalidHex {
        /// What was being parsed.
        what: &'static str,
        /// The offending input (truncated).
        input: String,
    },
    /// A field longer than its limit.
    #[error("{field} is {len} bytes, the limit is {max}")]
    TooLong {
        /// The field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// More items than allowed.
    #[error("{field} has {count} items, the limit is {max}")]
    TooMany {
        /// The field.
        field: &'static str,
        /// How many there were.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// An empty value where one is required.
    #[error("{0} must not be empty")]
    Empty(&'static str),
    /// A number outside its range (strengths and fractions are in 0..=1).
    #[error("{field} must be within {range}, got {value}")]
    OutOfRange {
        /// The field.
        field: &'static str,
        /// The accepted range.
        range: &'static str,
        /// The rejected value.
        value: String,
    },
    /// The procedure is not known to this replica.
    #[error("unknown procedure {0}")]
    UnknownProcedure(ProcedureId),
    /// A procedure with this id already exists.
    #[error("procedure {0} already exists (pick another creation nonce)")]
    AlreadyExists(ProcedureId),
    /// A body edit of a crystallized procedure.
    #[error(
        "procedure {0} is crystallized: its body is frozen; publish a new procedure and link it \
         with `supersedes`"
    )]
    Crystallized(ProcedureId),
    /// A relation from a procedure to itself.
    #[error("a procedure cannot be related to itself ({0})")]
    SelfRelation(ProcedureId),
    /// A change that writes a slot or register the author does not own.
    #[error("{change} change is attributed to another agent than its author")]
    NotOwner {
        /// The kind of change.
        change: &'static str,
    },
    /// A procedure id that is not the hash of its creation fields.
    #[error("procedure id {0} does not match its creation (author, space, nonce)")]
    IdMismatch(ProcedureId),
    /// An inline body whose hash or size does not match its content reference.
    #[error("inline body does not match its content hash or size")]
    BodyMismatch,
    /// A snapshot that cannot be decoded.
    #[error("cannot decode space snapshot: {0}")]
    Decode(String),
    /// A change stamped later than the op that carries it.
    #[error("{change} change is stamped later than the op that carries it")]
    AfterItsOp {
        /// The kind of change.
        change: &'static str,
    },
    /// A delta with no changes.
    #[error("a delta must carry at least one change")]
    EmptyDelta,
    /// A crystallization epoch outside `1..=MAX_CRYSTAL_EPOCH`.
    #[error("crystallization epoch {0} is outside 1..=65535")]
    CrystalEpoch(u32),
    /// An outcome slot claiming more than its author can have recorded: more outcomes than
    /// writes, or more writes than ops the author has signed.
    #[error("implausible outcome {part}: {detail}")]
    ImplausibleOutcome {
        /// Which part of the slot (`totals` or `context`).
        part: &'static str,
        /// What it claims.
        detail: String,
    },
    /// A membership change in a space that is not members-only.
    #[error("the space is open (it has no root admin): it has no members to manage")]
    OpenSpace,
    /// A membership change or settings change by an agent that is not an admin.
    #[error("{0} is not an admin of this members-only space")]
    NotAdmin(crate::ids::AgentId),
    /// A membership change about the root admin, which always stays admin.
    #[error("{0} is the space's root admin: its role cannot change")]
    RootRole(crate::ids::AgentId),
}

impl CrdtError {
    /// A short, stable label for the failures a receiver counts apart (metrics), or `None` for
    /// the ones counted together as an invalid delta.
    pub const fn reason(&self) -> Option<&'static str> {
        match self {
            CrdtError::CrystalEpoch(_) => Some("crystal_epoch"),
            CrdtError::ImplausibleOutcome { .. } => Some("implausible_outcome"),
            _ => None,
        }
    }
}
