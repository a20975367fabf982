//! Semantic discovery: one hybrid search index (`knack-search`) per joined space, kept in step
//! with the replica, and the automatic `similar` edges it suggests.
//!
//! The indexes are in memory, held by the search worker thread ([`worker`]), and rebuilt from
//! the replica at start. After every applied op the actor sends the worker the texts of the
//! procedures whose text it changed; the worker re-indexes those whose hash differs (the index
//! keeps a hash of each document's text: `SearchIndex::is_current`), so outcomes, which are
//! most ops, cost nothing here. A query is answered by the worker, by reciprocal-rank fusion of
//! the vector and BM25 lists, blended with each procedure's evidence (score, success rate or
//! the query context's rate, boost, crystallization) read from the space frozen when
//! it was asked: see `knack_search::hybrid`.

mod worker;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use knack_crdt::{
    FrozenSpace, Policy, Procedure, ProcedureId, ProcedureText, Space, SpaceName, SpaceSnapshot,
};
use knack_search::{
    DocumentText, Embedder, Evidence, HashingEmbedder, HybridWeights, Query, SearchError,
    SearchIndex,
};
use serde::{Deserialize, Serialize};

use crate::error::NodeError;
use crate::node::Reply;
use crate::node::{Completion, PendingReply};
use crate::views::RankedView;
use worker::{Job, OwnedText, QueryJob, SearchWorker};

/// How the node finds procedures by meaning (`[search]` in `knack.toml`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchSettings {
    /// `hashing` (the embedded default: no model files) or `minilm` (all-MiniLM-L6-v2 from
    /// `minilm_dir`; needs a build with the `minilm` feature).
    pub embedder: String,
    /// The folder with `model.safetensors`, `tokenizer.json` and `config.json` of
    /// all-MiniLM-L6-v2 (`tools/fetch-minilm.sh` puts them there). Checked by sha256; never
    /// downloaded at run time.
    pub minilm_dir: Option<PathBuf>,
    /// A procedure this node adds (or whose body it changes) is linked `similar` to at most this
    /// many nearest neighbours...
    pub similar_k: usize,
    /// ...whose cosine similarity is at least this (the link's strength is the cosine).
    pub similar_min_cosine: f32,
    /// Weight of the semantic (vector) list in fusion.
    pub semantic_weight: f64,
    /// Weight of the lexical (BM25) list in fusion.
    pub lexical_weight: f64,
    /// Weight of evidence (score, success rate, boost) against relevance, in `0..1`.
    pub evidence_weight: f64,
    /// Spaces with at most this many procedures get their index built at start before the
    /// node serves (milliseconds); larger ones are built on a blocking thread while it serves,
    /// and their searches answer 503 `index_building` meanwhile.
    pub build_inline_max: usize,
}

impl Default for SearchSettings {
    fn default() -> Self {
        let w = HybridWeights::default();
        SearchSettings {
            embedder: "hashing".into(),
            minilm_dir: None,
            similar_k: 5,
            similar_min_cosine: 0.5,
            semantic_weight: w.semantic,
            lexical_weight: w.lexical,
            evidence_weight: w.evidence,
            build_inline_max: BUILD_INLINE_MAX,
        }
    }
}

impl SearchSettings {
    /// The hybrid ranking weights.
    pub fn weights(&self) -> HybridWeights {
        HybridWeights {
            semantic: self.semantic_weight,
            lexical: self.lexical_weight,
            evidence: self.evidence_weight,
            ..HybridWeights::default()
        }
    }
}

/// The embedder the settings ask for, or the hashing embedder with the reason it was not
/// possible (a missing or wrong model never stops the node).
pub fn embedder_of(settings: &SearchSettings) -> (Arc<dyn Embedder>, Option<String>) {
    let fallback = |reason: String| -> (Arc<dyn Embedder>, Option<String>) {
        (Arc::new(HashingEmbedder::default()), Some(reason))
    };
    match settings.embedder.as_str() {
        "hashing" => (Arc::new(HashingEmbedder::default()), None),
        "minilm" => match &settings.minilm_dir {
            None => fallback("embedder \"minilm\" needs search.minilm_dir".into()),
            Some(dir) => load_minilm(dir).map_or_else(fallback, |e| (e, None)),
        },
        other => fallback(format!(
            "unknown embedder {other:?} (use \"hashing\" or \"minilm\")"
        )),
    }
}

#[cfg(feature = "minilm")]
fn load_minilm(dir: &std::path::Path) -> Result<Arc<dyn Embedder>, String> {
    knack_search::MiniLmEmbedder::load(dir)
        .map(|e| Arc::new(e) as Arc<dyn Embedder>)
        .map_err(|e| format!("MiniLM not loaded from {}: {e}", dir.display()))
}

#[cfg(not(feature = "minilm"))]
fn load_minilm(_dir: &std::path::Path) -> Result<Arc<dyn Embedder>, String> {
    Err("this build has no MiniLM support (build knack-node with --features minilm)".into())
}

/// Default of [`SearchSettings::build_inline_max`].
pub const BUILD_INLINE_MAX: usize = 2_000;

/// The actor's side of search: which spaces have an index, which are being built, and the
/// worker thread that holds the indexes and answers queries (see [`worker`]).
pub(crate) struct Discovery {
    embedder: Arc<dyn Embedder>,
    /// Why the configured embedder is not the one in use, if it is not.
    pub(crate) fallback: Option<String>,
    /// Spaces whose index the worker holds.
    indexed: BTreeSet<SpaceName>,
    /// Spaces whose index is being built elsewhere: the build's number, and the procedures
    /// whose text changed meanwhile (re-indexed when the index arrives).
    building: BTreeMap<SpaceName, (u64, Vec<ProcedureId>)>,
    /// The number of the next build (a space rebuilt while a build of it runs keeps only the
    /// later one).
    next_build: u64,
    worker: SearchWorker,
}

/// An index built off the actor, ready to install.
pub(crate) struct BuiltIndex(SearchIndex<ProcedureId>);

/// The work of building one space's index, to run on a blocking thread: a frozen copy of the
/// space (O(1): its procedure map is persistent), read in batches.
pub(crate) struct IndexBuild {
    embedder: Arc<dyn Embedder>,
    space: SpaceSnapshot,
    /// The build's number (see [`Discovery::install`]).
    pub(crate) number: u64,
}

/// Procedures indexed at a time by a build: their texts are borrowed from the frozen copy,
/// and only one batch's quantized vectors are held before they are applied.
const BUILD_BATCH: usize = 4096;

impl Discovery {
    /// Indexes for the given settings (falling back to the hashing embedder, and saying why),
    /// served by a worker thread that reports to the actor through `completions`.
    pub(crate) fn new(
        settings: &SearchSettings,
        completions: tokio::sync::mpsc::Sender<Completion>,
    ) -> std::io::Result<Self> {
        let (embedder, fallback) = embedder_of(settings);
        if let Some(reason) = &fallback {
            tracing::error!(
                reason,
                "semantic search runs on the default hashing embedder"
            );
        }
        Ok(Discovery {
            embedder,
            fallback,
            indexed: BTreeSet::new(),
            building: BTreeMap::new(),
            next_build: 0,
            worker: SearchWorker::start(settings.weights(), completions)?,
        })
    }

    /// The spaces whose index is still being built.
    pub(crate) fn building(&self) -> Vec<String> {
        self.building.keys().map(ToString::to_string).collect()
    }

    /// Starts an off-thread build of `space`'s index: takes a frozen copy of it (O(1), and
    /// its texts are borrowed, not copied) and returns the work; searches of the space answer
    /// [`SearchUnavailable`] until [`Discovery::install`].
    pub(crate) fn begin_build(&mut self, name: &SpaceName, space: &Space) -> IndexBuild {
        let number = self.next_build;
        self.next_build += 1;
        self.building.insert(name.clone(), (number, Vec::new()));
        IndexBuild {
            embedder: self.embedder.clone(),
            space: space.snapshot(),
            number,
        }
    }

    /// Hands the index build `number` made off the actor to the worker, and re-indexes what
    /// changed meanwhile. An index of an earlier build than the space's latest is dropped:
    /// the later one is built from a later state.
    pub(crate) fn install(
        &mut self,
        name: &SpaceName,
        space: &Space,
        number: u64,
        built: BuiltIndex,
    ) {
        let changed = match self.building.get(name) {
            Some((latest, _)) if *latest != number => return,
            _ => self
                .building
                .remove(name)
                .map(|(_, c)| c)
                .unwrap_or_default(),
        };
        self.worker.send(Job::Install {
            space: name.clone(),
            index: Box::new(built.0),
        });
        self.indexed.insert(name.clone());
        self.refresh(name, space, &changed);
    }

    /// Gives up the off-thread build `number` that failed (the space then has no search
    /// index, unless a later build of it runs).
    pub(crate) fn abandon(&mut self, name: &SpaceName, number: u64) {
        if self
            .building
            .get(name)
            .is_some_and(|(latest, _)| *latest == number)
        {
            self.building.remove(name);
        }
    }

    /// The embedder's name.
    pub(crate) fn embedder_name(&self) -> String {
        self.embedder.name().to_string()
    }

    /// Indexes every procedure of `space` here and now (small spaces).
    pub(crate) fn rebuild(&mut self, name: &SpaceName, space: &Space) -> Result<(), SearchError> {
        let build = self.begin_build(name, space);
        let number = build.number;
        match build.run() {
            Ok(built) => {
                self.install(name, space, number, built);
                Ok(())
            }
            Err(e) => {
                self.abandon(name, number);
                Err(e)
            }
        }
    }

    /// Sends the worker the texts of the procedures `ids` of `space` (it re-indexes those that
    /// changed).
    pub(crate) fn refresh(&mut self, name: &SpaceName, space: &Space, ids: &[ProcedureId]) {
        if let Some((_, pending)) = self.building.get_mut(name) {
            pending.extend_from_slice(ids);
            return;
        }
        if ids.is_empty() || !self.indexed.contains(name) {
            return;
        }
        let texts = ids
            .iter()
            .filter_map(|id| Some((*id, owned_text(space.procedure(id)?.text()))))
            .collect();
        self.worker.send(Job::Upsert {
            space: name.clone(),
            texts,
        });
    }

    /// Whether `name` can be searched now: refused while its index is being built.
    fn ready(&self, name: &SpaceName) -> Result<(), NodeError> {
        if self.building.contains_key(name) {
            return Err(NodeError::SearchUnavailable(SearchUnavailable::Building));
        }
        Ok(())
    }

    /// Asks the worker for the best `query.limit` procedures of `space` for `query`, with their
    /// explanations, blended with their evidence as of `frozen` (see [`worker`]). A query that
    /// cannot be answered is refused here, at once.
    pub(crate) fn search(
        &self,
        name: &SpaceName,
        query: Query,
        frozen: FrozenSpace,
        now_ms: u64,
        policy: Policy,
        reply: Reply<Vec<RankedView>>,
    ) {
        if let Err(e) = query
            .validate()
            .map_err(NodeError::from)
            .and_then(|()| self.ready(name))
        {
            let _ = reply.send(Err(e));
            return;
        }
        self.worker.ask(QueryJob::Search {
            space: name.clone(),
            query,
            frozen: Box::new(frozen),
            now_ms,
            policy,
            reply,
        });
    }

    /// Asks the worker for the `n` procedures of `space` nearest in meaning to `id`.
    pub(crate) fn similar(
        &self,
        name: &SpaceName,
        id: ProcedureId,
        n: usize,
        frozen: FrozenSpace,
        now_ms: u64,
        reply: Reply<Vec<RankedView>>,
    ) {
        self.worker.ask(QueryJob::Similar {
            space: name.clone(),
            id,
            n,
            frozen: Box::new(frozen),
            now_ms,
            reply,
        });
    }

    /// Asks the worker for the neighbours `id` is to be linked `similar` to; they come back to
    /// the actor with `ack`, the writer's pending answer. `ack` is given back when the space
    /// has no index to ask.
    pub(crate) fn neighbours(
        &self,
        name: &SpaceName,
        id: ProcedureId,
        k: usize,
        min_cosine: f32,
        ack: PendingReply,
    ) -> Result<(), PendingReply> {
        if !self.indexed.contains(name) || self.building.contains_key(name) {
            return Err(ack);
        }
        self.worker.send(Job::Neighbours {
            space: name.clone(),
            id,
            k,
            min_cosine,
            ack,
        });
        Ok(())
    }
}

impl OwnedText {
    /// The text borrowed back, as the index takes it.
    fn texts(&self) -> Texts<'_> {
        Texts {
            name: &self.name,
            description: &self.description,
            tags: self.tags.iter().map(String::as_str).collect(),
            body: self.body.as_deref(),
        }
    }
}

/// A procedure's searchable text, copied for the worker.
fn owned_text(text: ProcedureText<'_>) -> OwnedText {
    let texts = Texts::of(text);
    OwnedText {
        name: texts.name.to_owned(),
        description: texts.description.to_owned(),
        tags: texts.tags.iter().map(|t| (*t).to_owned()).collect(),
        body: texts.body.map(str::to_owned),
    }
}

/// A Thompson draw for `p`: own counts (weighted when the space weights evidence; in
/// `context` when it has outcomes there) plus the contagion prior.
fn thompson_of(
    p: &Procedure<'_>,
    context: Option<&str>,
    now_ms: u64,
    rng: &mut dyn rand::RngCore,
) -> f64 {
    let context = context.filter(|c| p.context_counts(c).uses() > 0);
    let counts = p.weighted_counts(context);
    let prior = p.prior(context, now_ms);
    knack_crdt::explore::thompson_draw(
        counts.successes_f64() + prior.successes,
        counts.failures_f64() + prior.failures,
        rng,
    )
}

/// What evidence says of `p`, in `context` when the query names one it has outcomes in.
fn evidence_of(p: &Procedure<'_>, context: Option<&str>, now_ms: u64) -> Evidence {
    let counts = p.counts();
    let outcomes = counts.successes + counts.failures;
    let context_rate = context.and_then(|c| {
        let cc = p.context_counts(c);
        (cc.successes + cc.failures > 0).then(|| p.weighted_counts(Some(c)).rate())
    });
    Evidence {
        score: p.score(now_ms),
        success_rate: p.weighted_counts(None).rate(),
        context_rate,
        outcomes,
        crystallized: p.crystallized(),
        boost: p.boost(now_ms),
    }
}

impl IndexBuild {
    /// Builds the index (embeds every text: seconds for a large space).
    pub(crate) fn run(self) -> Result<BuiltIndex, SearchError> {
        let mut index = SearchIndex::new(self.embedder)?;
        index.reserve(self.space.len());
        let mut texts = self.space.texts();
        loop {
            let batch: Vec<(ProcedureId, Texts<'_>)> = texts
                .by_ref()
                .take(BUILD_BATCH)
                .map(|(id, text)| (id, Texts::of(text)))
                .collect();
            if batch.is_empty() {
                break;
            }
            let docs: Vec<(ProcedureId, DocumentText<'_>)> =
                batch.iter().map(|(id, t)| (*id, t.document())).collect();
            index.upsert_batch(&docs)?;
        }
        index.shrink_to_fit();
        Ok(BuiltIndex(index))
    }
}

/// Why a search cannot be answered yet.
#[derive(Debug, thiserror::Error)]
pub enum SearchUnavailable {
    /// The space's index is being built after a start; retry shortly.
    #[error("the search index of this space is being built after the node's start; retry shortly")]
    Building,
    /// The search worker already has this many queries waiting; retry shortly.
    #[error("{waiting} searches are already waiting for the search worker; retry shortly")]
    Busy {
        /// Queries waiting.
        waiting: usize,
    },
}

/// The text of a procedure that search indexes, borrowed from its state.
struct Texts<'a> {
    name: &'a str,
    description: &'a str,
    tags: Vec<&'a str>,
    body: Option<&'a str>,
}

impl<'a> Texts<'a> {
    fn of(text: ProcedureText<'a>) -> Self {
        Texts {
            name: text.name(),
            description: text.description(),
            tags: text.tags().collect(),
            body: text
                .body()
                .and_then(|b| b.inline.as_ref())
                .and_then(|bytes| std::str::from_utf8(bytes).ok()),
        }
    }

    fn document(&self) -> DocumentText<'_> {
        DocumentText {
            name: self.name,
            description: self.description,
            tags: &self.tags,
            body: self.body,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

    use knack_crdt::{AgentId, Body, Hlc, NewProcedure, ProcedureKind};

    use super::*;

    /// A build in batches from a frozen copy indexes every procedure as one batch of all their
    /// texts does: same documents, same lexical and vector answers.
    #[test]
    fn a_build_in_batches_indexes_as_one_batch() {
        let words = [
            "restart", "deploy", "vacuum", "postgres", "rotate", "tls", "cache",
        ];
        let mut space = Space::new(SpaceName::new("build").unwrap());
        let n = 2 * BUILD_BATCH + 100;
        for i in 0..n {
            let w = |k: usize| words[(i / 7 + k * i) % words.len()];
            let new = NewProcedure {
                nonce: i as u64,
                name: format!("{} the {} {i}", w(1), w(2)),
                description: format!("when {} fails", w(3)),
                kind: ProcedureKind::Script,
                tags: vec![w(4).to_owned()],
                body: Body::Inline(format!("{} --{}", w(5), w(6)).into_bytes()),
            };
            let (_, delta) = space
                .add_procedure(AgentId([1; 32]), Hlc::at(1_000 + i as u64), new)
                .unwrap();
            space.apply(&delta);
        }
        let (completions, _) = tokio::sync::mpsc::channel(1);
        let mut discovery = Discovery::new(&SearchSettings::default(), completions).unwrap();
        let name = space.name().clone();
        let built = discovery.begin_build(&name, &space).run().unwrap().0;

        let mut whole = SearchIndex::new(discovery.embedder.clone()).unwrap();
        let texts: Vec<(ProcedureId, Texts<'_>)> = space
            .procedures()
            .map(|p| (p.id(), Texts::of(p.text())))
            .collect();
        let docs: Vec<(ProcedureId, DocumentText<'_>)> =
            texts.iter().map(|(id, t)| (*id, t.document())).collect();
        whole.upsert_batch(&docs).unwrap();

        assert_eq!(built.len(), n);
        assert_eq!(built.len(), whole.len());
        for (id, t) in &texts {
            assert!(built.is_current(id, &t.document()));
        }
        for q in ["restart deploy", "postgres vacuum", "tls 77"] {
            assert_eq!(
                built.lexical().query(q, 10),
                whole.lexical().query(q, 10),
                "{q}"
            );
            let v = discovery.embedder.embed(&[q]).unwrap().pop().unwrap();
            assert_eq!(
                built.vectors().nearest(&v, 10).unwrap(),
                whole.vectors().nearest(&v, 10).unwrap(),
                "{q}"
            );
        }
    }
}
