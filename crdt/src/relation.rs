//! Typed, weighted relations between procedures.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::CrdtError;
use crate::ids::ProcedureId;

/// The kind of a relation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum RelationKind {
    /// The two procedures do similar things (undirected; contagion travels over it).
    Similar,
    /// The two procedures are used in the same context (undirected; contagion travels over it).
    Context,
    /// `to` usually follows `from` in a workflow.
    Next,
    /// `from` needs `to`.
    Depends,
    /// `from` is a new version of `to`.
    Supersedes,
}

/// Which register a relation lives in: `(from, to, kind)`, with the endpoints of an undirected
/// kind stored in ascending order so `A similar B` and `B similar A` are one relation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RelationKey {
    /// The source (the smaller id for undirected kinds).
    pub from: ProcedureId,
    /// The target (the larger id for undirected kinds).
    pub to: ProcedureId,
    /// The kind.
    pub kind: RelationKind,
}

impl RelationKind {
    /// Every kind, in order.
    pub const ALL: [RelationKind; 5] = [
        RelationKind::Similar,
        RelationKind::Context,
        RelationKind::Next,
        RelationKind::Depends,
        RelationKind::Supersedes,
    ];

    /// Whether the relation has no direction.
    pub const fn is_undirected(self) -> bool {
        matches!(self, RelationKind::Similar | RelationKind::Context)
    }

    /// Whether success contagion travels over this kind.
    pub const fn carries_contagion(self) -> bool {
        self.is_undirected()
    }

    /// The kind's name as used on the command line and in JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            RelationKind::Similar => "similar",
            RelationKind::Context => "context",
            RelationKind::Next => "next",
            RelationKind::Depends => "depends",
            RelationKind::Supersedes => "supersedes",
        }
    }
}

impl fmt::Display for RelationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RelationKind {
    type Err = CrdtError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RelationKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| CrdtError::OutOfRange {
                field: "relation kind",
                range: "similar|context|next|depends|supersedes",
                value: s.chars().take(40).collect(),
            })
    }
}

impl RelationKey {
    /// The key of a relation of `kind` from `from` to `to` (normalised for undirected kinds).
    pub fn new(from: ProcedureId, to: ProcedureId, kind: RelationKind) -> Result<Self, CrdtError> {
        if from == to {
            return Err(CrdtError::SelfRelation(from));
        }
        let (from, to) = if kind.is_undirected() && to < from {
            (to, from)
        } else {
            (from, to)
        };
        Ok(RelationKey { from, to, kind })
    }

    /// Whether the key is in normal form (checked on keys received from peers).
    pub fn is_normal(&self) -> bool {
        self.from != self.to && (!self.kind.is_undirected() || self.from < self.to)
    }
}
