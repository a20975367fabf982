//! The arguments of each MCP tool: one type per tool, its JSON schema generated from it (the doc
//! comments are the properties' descriptions; a property without a default is required).
//! Unknown properties are refused.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The space used when a tool is not given one.
pub const DEFAULT_SPACE: &str = "default";

fn default_space() -> String {
    DEFAULT_SPACE.to_owned()
}

fn default_true() -> bool {
    true
}

/// How a ranking uses evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Explore {
    /// By score (deterministic).
    Greedy,
    /// By a draw from each procedure's posterior: taking the first row then tries unproven
    /// procedures as often as they may be better. Recommended for agents that always take the
    /// first result.
    Thompson,
}

impl Explore {
    /// The API's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Explore::Greedy => "greedy",
            Explore::Thompson => "thompson",
        }
    }
}

/// How two procedures relate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LinkKind {
    /// They solve the same kind of task (evidence flows between them).
    Similar,
    /// They are used in the same context (evidence flows between them).
    Context,
    /// `to` usually follows `from`.
    Next,
    /// `from` needs `to` first.
    Depends,
    /// `from` replaces `to`.
    Supersedes,
}

/// `knack_search`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchArgs {
    /// Required. The task, in your own words (error messages and tool names match exactly).
    pub query: String,
    /// The context you are in (e.g. `deploy`, `ci`): results are ranked by their success rate
    /// in that context. Use the same word when you record the outcome.
    #[serde(default)]
    pub context: Option<String>,
    /// How many results (default 5, at most 1000).
    #[serde(default)]
    pub n: Option<usize>,
    /// Include why each result ranks where it does (default true).
    #[serde(default = "default_true")]
    pub explain: bool,
    /// `greedy` (default) or `thompson`.
    #[serde(default)]
    pub explore: Option<Explore>,
    /// The space (default `default`).
    #[serde(default = "default_space")]
    pub space: String,
}

/// `knack_get`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetArgs {
    /// Required. The procedure's id (64 hex characters, as returned by `knack_search`).
    pub id: String,
    /// The space (default `default`).
    #[serde(default = "default_space")]
    pub space: String,
}

/// `knack_record_outcome`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutcomeArgs {
    /// Required. The procedure you used.
    pub id: String,
    /// Required. Whether it solved the task.
    pub success: bool,
    /// How long it took, in milliseconds.
    #[serde(default)]
    pub duration_ms: u64,
    /// The contexts it was used in (e.g. the `context` you searched with).
    #[serde(default)]
    pub contexts: Vec<String>,
    /// The space (default `default`).
    #[serde(default = "default_space")]
    pub space: String,
}

/// `knack_add`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddArgs {
    /// Required. A short name saying what the procedure does.
    pub name: String,
    /// When to use it: the situation, symptoms, error messages.
    #[serde(default)]
    pub description: String,
    /// Tags (e.g. `k8s`, `python`).
    #[serde(default)]
    pub tags: Vec<String>,
    /// `steps` (default), `script`, `prompt`, `tool`, or your own.
    #[serde(default)]
    pub kind: Option<String>,
    /// The procedure itself: the steps, the script, the prompt (UTF-8 text).
    #[serde(default)]
    pub body: Option<String>,
    /// The space (default `default`).
    #[serde(default = "default_space")]
    pub space: String,
}

/// `knack_edit`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EditArgs {
    /// Required. The procedure to edit.
    pub id: String,
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// New description.
    #[serde(default)]
    pub description: Option<String>,
    /// New kind.
    #[serde(default)]
    pub kind: Option<String>,
    /// Tags to add.
    #[serde(default)]
    pub add_tags: Vec<String>,
    /// Tags to remove.
    #[serde(default)]
    pub remove_tags: Vec<String>,
    /// New body (a new version; crystallized procedures refuse it).
    #[serde(default)]
    pub body: Option<String>,
    /// The space (default `default`).
    #[serde(default = "default_space")]
    pub space: String,
}

/// `knack_link`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkArgs {
    /// Required. Source procedure id.
    pub from: String,
    /// Required. Target procedure id.
    pub to: String,
    /// Required. How they relate.
    pub kind: LinkKind,
    /// Strength in 0..=1 (default 1).
    #[serde(default)]
    pub strength: Option<f64>,
    /// Remove the relation instead.
    #[serde(default)]
    pub remove: bool,
    /// The space (default `default`).
    #[serde(default = "default_space")]
    pub space: String,
}

/// `knack_top`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TopArgs {
    /// How many (default 10, at most 1000).
    #[serde(default)]
    pub n: Option<usize>,
    /// Only procedures with this tag.
    #[serde(default)]
    pub tag: Option<String>,
    /// Rank by this context's evidence.
    #[serde(default)]
    pub context: Option<String>,
    /// Only of this kind.
    #[serde(default)]
    pub kind: Option<String>,
    /// Only crystallized (proven) procedures.
    #[serde(default)]
    pub crystallized: bool,
    /// `greedy` (default) or `thompson`.
    #[serde(default)]
    pub explore: Option<Explore>,
    /// The space (default `default`).
    #[serde(default = "default_space")]
    pub space: String,
}
