//! Request bodies and query strings of the API (shared with the CLI client).

use serde::{Deserialize, Serialize};

/// `POST /v1/spaces/{space}/procedures`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddRequest {
    /// Name.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Kind (`steps`, `script`, `prompt`, `tool`, or your own).
    #[serde(default)]
    pub kind: Option<String>,
    /// Body as UTF-8 text.
    #[serde(default)]
    pub body: Option<String>,
    /// Body as base64 (for binary bodies); exclusive with `body`.
    #[serde(default)]
    pub body_base64: Option<String>,
    /// A body uploaded first with `POST /v1/blobs` (any size); exclusive with the others.
    #[serde(default)]
    pub body_blob: Option<BlobRef>,
}

/// `PATCH /v1/spaces/{space}/procedures/{id}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditRequest {
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
    /// New body as text.
    #[serde(default)]
    pub body: Option<String>,
    /// New body as base64.
    #[serde(default)]
    pub body_base64: Option<String>,
    /// A body uploaded first with `POST /v1/blobs` (any size); exclusive with the others.
    #[serde(default)]
    pub body_blob: Option<BlobRef>,
}

/// `POST /v1/spaces/{space}/procedures/{id}/outcomes`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutcomeRequest {
    /// Whether it worked.
    pub success: bool,
    /// How long it took.
    #[serde(default)]
    pub duration_ms: u64,
    /// What it was used for.
    #[serde(default)]
    pub contexts: Vec<String>,
}

/// `POST /v1/spaces/{space}/links`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    /// Source (hex id).
    pub from: String,
    /// Target (hex id).
    pub to: String,
    /// `similar`, `context`, `next`, `depends` or `supersedes`.
    pub kind: String,
    /// Strength in 0..=1 (default 1).
    #[serde(default)]
    pub strength: Option<f64>,
    /// Remove the relation instead.
    #[serde(default)]
    pub remove: bool,
}

/// `GET /v1/spaces/{space}/top`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TopQuery {
    /// How many (default 10).
    #[serde(default)]
    pub n: Option<usize>,
    /// Only with this tag.
    #[serde(default)]
    pub tag: Option<String>,
    /// Rank by this context's evidence.
    #[serde(default)]
    pub context: Option<String>,
    /// Only of this kind.
    #[serde(default)]
    pub kind: Option<String>,
    /// Only crystallized ones.
    #[serde(default)]
    pub crystallized: Option<bool>,
    /// How to order: `greedy` (default) or `thompson`.
    #[serde(default)]
    pub explore: Option<String>,
}

/// `GET /v1/spaces/{space}/search`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    /// The query, in natural language.
    pub q: String,
    /// How many (default 10).
    #[serde(default)]
    pub n: Option<usize>,
    /// The context tag the agent is in: evidence then uses that context's success rate.
    #[serde(default)]
    pub context: Option<String>,
    /// Include each result's explanation.
    #[serde(default)]
    pub explain: bool,
    /// How evidence counts: `greedy` (default) or `thompson`.
    #[serde(default)]
    pub explore: Option<String>,
}

/// `GET /v1/spaces/{space}/procedures/{id}/similar?n=`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SimilarQuery {
    /// How many (default 10).
    #[serde(default)]
    pub n: Option<usize>,
}

/// `{"id": "<hex>"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IdResponse {
    /// Hex id.
    pub id: String,
}

/// A blob in the node's blob store: the answer of `POST /v1/blobs`, and how an add or edit
/// refers to an uploaded body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlobRef {
    /// blake3 of the body, hex.
    pub blake3: String,
    /// Its size in bytes.
    pub size: u64,
}

/// `POST /v1/spaces/{space}/procedures/{id}/pin`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PinRequest {
    /// Record this CID for the body instead of adding it to IPFS (readers verify what the CID
    /// gives against the body's blake3).
    #[serde(default)]
    pub cid: Option<String>,
}

/// The answer of `POST /v1/spaces/{space}/procedures/{id}/pin`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PinResponse {
    /// blake3 of the body, hex.
    pub blake3: String,
    /// The CID, when already known.
    pub cid: Option<String>,
    /// Whether a pin job was queued (the CID is recorded when it completes).
    pub queued: bool,
}
