//! What kind of thing a procedure's body is.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::CrdtError;
use crate::limits::MAX_KIND_BYTES;

/// The kind of a procedure: how an agent should read its body.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ProcedureKind {
    /// A list of steps in prose.
    Steps,
    /// A script to run.
    Script,
    /// A prompt (with examples) for a model.
    Prompt,
    /// A recipe of tool calls.
    Tool,
    /// Anything else, named by the author (1 to 32 bytes of `a-z`, `0-9`, `-`, `_`).
    Other(String),
}

impl ProcedureKind {
    /// The kind's name.
    pub fn as_str(&self) -> &str {
        match self {
            ProcedureKind::Steps => "steps",
            ProcedureKind::Script => "script",
            ProcedureKind::Prompt => "prompt",
            ProcedureKind::Tool => "tool",
            ProcedureKind::Other(name) => name,
        }
    }

    /// Checks a custom kind's name.
    pub fn validate(&self) -> Result<(), CrdtError> {
        if let ProcedureKind::Other(name) = self {
            let ok = |c: char| matches!(c, 'a'..='z' | '0'..='9' | '-' | '_');
            // A built-in name as `Other` would be a second encoding of the same kind.
            let builtin = matches!(name.as_str(), "steps" | "script" | "prompt" | "tool");
            if builtin || name.is_empty() || name.len() > MAX_KIND_BYTES || !name.chars().all(ok) {
                return Err(CrdtError::OutOfRange {
                    field: "kind",
                    range: "1 to 32 characters of a-z, 0-9, '-', '_'",
                    value: name.chars().take(40).collect(),
                });
            }
        }
        Ok(())
    }
}

impl FromStr for ProcedureKind {
    type Err = CrdtError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let kind = match s {
            "steps" => ProcedureKind::Steps,
            "script" => ProcedureKind::Script,
            "prompt" => ProcedureKind::Prompt,
            "tool" => ProcedureKind::Tool,
            other => ProcedureKind::Other(other.to_owned()),
        };
        kind.validate()?;
        Ok(kind)
    }
}

impl fmt::Display for ProcedureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
