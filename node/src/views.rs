//! The JSON shapes the HTTP API returns and the CLI prints: one definition, both sides.

use std::collections::BTreeMap;

use knack_crdt::{Procedure, Ranked, Space};
use serde::{Deserialize, Serialize};

/// A procedure as shown by `knack show` and `GET /v1/spaces/{space}/procedures/{id}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProcedureView {
    /// Hex id.
    pub id: String,
    /// The space.
    pub space: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Kind.
    pub kind: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Successes over all agents.
    pub successes: u64,
    /// Failures over all agents.
    pub failures: u64,
    /// Mean duration of recorded uses, in milliseconds.
    pub mean_duration_ms: f64,
    /// Successes weighted by their agents' evidence weights (equal to `successes` unless the
    /// space's `evidence_weighting` setting is on; see ARCHITECTURE.md "Weighted evidence").
    pub weighted_successes: f64,
    /// Failures weighted by their agents' evidence weights.
    pub weighted_failures: f64,
    /// `(s + 1) / (s + f + 2)` of the weighted counts.
    pub rate: f64,
    /// Wilson lower bound of the weighted counts.
    pub confidence: f64,
    /// What contagion adds to the score now: `score - confidence`.
    pub boost: f64,
    /// Wilson lower bound of the counts plus the contagion prior, now (in `0..=1`).
    pub score: f64,
    /// The contagion prior's pseudo-successes now (neighbours' evidence, bounded).
    pub prior_successes: f64,
    /// The contagion prior's pseudo-failures now.
    pub prior_failures: f64,
    /// Whether crystallized.
    pub crystallized: bool,
    /// Agents that recorded a success.
    pub success_agents: usize,
    /// Counts per context tag.
    pub contexts: BTreeMap<String, ContextView>,
    /// Creator (hex agent id).
    pub author: String,
    /// Creation time, wall milliseconds.
    pub created_ms: u64,
    /// Last use, wall milliseconds.
    pub last_used_ms: Option<u64>,
    /// The current body.
    pub body: Option<BodyView>,
    /// Number of body versions.
    pub versions: usize,
    /// Live relations touching this procedure.
    pub relations: Vec<RelationView>,
}

/// Counts for one context tag.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ContextView {
    /// Successes.
    pub successes: u64,
    /// Failures.
    pub failures: u64,
}

/// A content reference.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BodyView {
    /// blake3 of the body, hex.
    pub blake3: String,
    /// Size in bytes.
    pub size: u64,
    /// The body as text, when inline and UTF-8.
    pub text: Option<String>,
    /// An IPFS CID of the body, once pinned (the first of `cids`).
    pub cid: Option<String>,
    /// Every IPFS CID agents recorded for the body (each agent's kept apart; readers verify
    /// what a CID gives against `blake3`).
    #[serde(default)]
    pub cids: Vec<String>,
}

/// A relation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RelationView {
    /// Kind.
    pub kind: String,
    /// Source (hex id).
    pub from: String,
    /// Target (hex id).
    pub to: String,
    /// Strength in 0..=1.
    pub strength: f64,
}

/// A ranking row, as returned by `top` and `search`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RankedView {
    /// Hex id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Score.
    pub score: f64,
    /// Wilson lower bound of the counts used.
    pub confidence: f64,
    /// What contagion adds to the score: `score - confidence`.
    pub boost: f64,
    /// The contagion prior's pseudo-successes.
    pub prior_successes: f64,
    /// The contagion prior's pseudo-failures.
    pub prior_failures: f64,
    /// The Thompson draw the row was ranked by, when the ranking explored.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub draw: Option<f64>,
    /// Rate of the (weighted) counts used.
    pub rate: f64,
    /// Successes (of the counts used).
    pub successes: u64,
    /// Failures (of the counts used).
    pub failures: u64,
    /// The successes used, weighted by their agents' evidence weights (equal to `successes`
    /// unless the space's `evidence_weighting` setting is on).
    pub weighted_successes: f64,
    /// The failures used, weighted by their agents' evidence weights.
    pub weighted_failures: f64,
    /// Whether crystallized.
    pub crystallized: bool,
    /// Relevance, for search results (the hybrid score) and similar procedures (the cosine).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub relevance: Option<f64>,
    /// Why a search result ranks where it does: cosine similarity, vector and lexical ranks,
    /// BM25, fused relevance, evidence, context rate, crystallization.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub explain: Option<serde_json::Value>,
}

impl ProcedureView {
    /// The view of `p` in `space` at `now_ms`.
    pub fn of(space: &Space, p: &Procedure<'_>, now_ms: u64) -> ProcedureView {
        let counts = p.counts();
        let mut contexts = BTreeMap::new();
        for tag in context_tags(p) {
            let c = p.context_counts(&tag);
            contexts.insert(
                tag,
                ContextView {
                    successes: c.successes,
                    failures: c.failures,
                },
            );
        }
        let creation = p.creation();
        let prior = p.prior(None, now_ms);
        let weighted = p.weighted_counts(None);
        ProcedureView {
            id: p.id().to_hex(),
            space: space.name().to_string(),
            name: p.name().to_owned(),
            description: p.description().to_owned(),
            kind: p.kind().to_string(),
            tags: p.tags().map(str::to_owned).collect(),
            successes: counts.successes,
            failures: counts.failures,
            mean_duration_ms: if counts.uses() == 0 {
                0.0
            } else {
                counts.total_duration_ms as f64 / counts.uses() as f64
            },
            weighted_successes: weighted.successes_f64(),
            weighted_failures: weighted.failures_f64(),
            rate: weighted.rate(),
            confidence: weighted.confidence(),
            boost: p.boost(now_ms),
            score: p.score(now_ms),
            prior_successes: prior.successes,
            prior_failures: prior.failures,
            crystallized: p.crystallized(),
            success_agents: p.success_agents(),
            contexts,
            author: creation
                .as_ref()
                .map(|c| c.author.to_hex())
                .unwrap_or_default(),
            created_ms: creation.map_or(0, |c| c.created.wall_ms),
            last_used_ms: p.last_used().map(|h| h.wall_ms),
            body: p.body().map(|body| BodyView {
                blake3: body.hash.to_hex(),
                size: body.size,
                text: body
                    .inline
                    .as_ref()
                    .and_then(|b| String::from_utf8(b.clone()).ok()),
                cid: space.cids(&body.hash).first().map(|c| (*c).to_owned()),
                cids: space
                    .cids(&body.hash)
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
            }),
            versions: p.versions().count(),
            relations: space
                .relations_of(&p.id())
                .map(|(key, strength)| RelationView {
                    kind: key.kind.to_string(),
                    from: key.from.to_hex(),
                    to: key.to.to_hex(),
                    strength: strength.as_f64(),
                })
                .collect(),
        }
    }
}

/// The context tags any agent recorded for `p`.
fn context_tags(p: &Procedure<'_>) -> Vec<String> {
    let mut tags: Vec<String> = p.context_tags().map(str::to_owned).collect();
    tags.sort();
    tags.dedup();
    tags
}

impl RankedView {
    /// The view of the ranking row of procedure `p`.
    pub fn of(p: &Procedure<'_>, row: &Ranked, relevance: Option<f64>) -> RankedView {
        RankedView {
            id: row.id.to_hex(),
            name: p.name().to_owned(),
            score: row.score,
            confidence: row.confidence,
            boost: row.boost,
            prior_successes: row.prior.successes,
            prior_failures: row.prior.failures,
            draw: row.draw,
            rate: row.rate,
            successes: row.counts.successes,
            failures: row.counts.failures,
            weighted_successes: row.weighted.successes_f64(),
            weighted_failures: row.weighted.failures_f64(),
            crystallized: row.crystallized,
            relevance,
            explain: None,
        }
    }
}

/// A checkpoint run this node sealed of its own ops (`knack checkpoint`,
/// `POST /v1/spaces/{space}/checkpoint`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CheckpointView {
    /// The space.
    pub space: String,
    /// The run's first sequence number: every own op below it is restated by the run, and its
    /// envelopes are deleted from the log (after the next flush). 0 when there was nothing to
    /// restate.
    pub first_seq: u64,
    /// The run's last sequence number.
    pub last_seq: u64,
    /// Envelopes in the run.
    pub envelopes: usize,
    /// Changes the run restates the own ops as.
    pub changes: usize,
    /// Encoded bytes of the run.
    pub bytes: u64,
}
