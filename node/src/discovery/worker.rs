//! The search worker: one thread that owns every space's search index and answers from it, so
//! no search, `similar` lookup or nearest-neighbour scan runs on the node's actor.
//!
//! A query scores every vector of the space (6 ms at 100k procedures) and a new procedure's
//! `similar` edges need a scan too. The actor sends the worker jobs in order on one channel:
//! the texts that changed, in the order their ops were applied, then queries, each with a
//! the space frozen when it was asked ([`knack_crdt::FrozenSpace`], O(1)), for
//! the evidence its hits are blended with. One queue keeps a node's own writes visible to its
//! next search (an add's text is indexed before a search asked after it), and the actor never
//! waits: answers go straight to the asker, and the neighbours of a new procedure go back to
//! the actor as a [`Completion::Neighbours`], which draws the edges.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};

use knack_crdt::{FrozenSpace, Policy, ProcedureId, SpaceName};
use knack_search::{HybridWeights, Query, SearchIndex};
use tokio::sync::mpsc::Sender;

use super::{evidence_of, thompson_of};
use crate::error::NodeError;
use crate::node::Reply;
use crate::node::{Completion, PendingReply};
use crate::views::RankedView;

/// A procedure's searchable text, owned: sent from the actor to the worker.
#[derive(Clone, Debug, Default)]
pub(crate) struct OwnedText {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) tags: Vec<String>,
    pub(crate) body: Option<String>,
}

/// What the actor asks of the worker.
pub(crate) enum Job {
    /// Serve `space` from `index` (built elsewhere), replacing any index it had.
    Install {
        space: SpaceName,
        index: Box<SearchIndex<ProcedureId>>,
    },
    /// Re-index these procedures' texts (unchanged texts are skipped).
    Upsert {
        space: SpaceName,
        texts: Vec<(ProcedureId, OwnedText)>,
    },
    /// A query, answered to its asker.
    Query(QueryJob),
    /// The neighbours a new or rewritten procedure is to be linked `similar` to, sent back to
    /// the actor with the writer's pending answer.
    Neighbours {
        space: SpaceName,
        id: ProcedureId,
        k: usize,
        min_cosine: f32,
        ack: PendingReply,
    },
}

/// A query for the worker: bounded (see [`MAX_QUERIES`]) where index updates are not.
pub(crate) enum QueryJob {
    /// Hybrid search.
    Search {
        space: SpaceName,
        query: Query,
        frozen: Box<FrozenSpace>,
        now_ms: u64,
        policy: Policy,
        reply: Reply<Vec<RankedView>>,
    },
    /// The `n` procedures nearest in meaning to `id`.
    Similar {
        space: SpaceName,
        id: ProcedureId,
        n: usize,
        frozen: Box<FrozenSpace>,
        now_ms: u64,
        reply: Reply<Vec<RankedView>>,
    },
}

impl QueryJob {
    /// Answers the asker with `error` instead.
    pub(crate) fn refuse(self, error: NodeError) {
        match self {
            QueryJob::Search { reply, .. } | QueryJob::Similar { reply, .. } => {
                let _ = reply.send(Err(error));
            }
        }
    }
}

/// Most jobs queued for the worker: past it the actor waits to queue an index update (the
/// worker is that far behind), and queries are refused before that (see [`MAX_QUERIES`]).
const QUEUE: usize = 16 * 1024;

/// Most queries (searches, `similar`) waiting for the worker: another one is refused as busy
/// (503, retry) rather than queued behind seconds of others.
pub(crate) const MAX_QUERIES: usize = 256;

/// The actor's end of the worker: jobs go in order; the thread ends when this is dropped.
pub(crate) struct SearchWorker {
    jobs: mpsc::SyncSender<Job>,
    /// Queries queued and not yet taken up by the worker.
    queries: Arc<AtomicUsize>,
}

impl SearchWorker {
    /// Starts the worker thread.
    pub(crate) fn start(
        weights: HybridWeights,
        completions: Sender<Completion>,
    ) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::sync_channel(QUEUE);
        let queries = Arc::new(AtomicUsize::new(0));
        let worker = Worker {
            weights,
            completions,
            spaces: BTreeMap::new(),
            queries: queries.clone(),
        };
        std::thread::Builder::new()
            .name("knack-search".into())
            .spawn(move || worker.run(queue))?;
        Ok(SearchWorker { jobs, queries })
    }

    /// Queues `job`, an index update or a neighbour lookup: the actor waits only if the worker
    /// is [`QUEUE`] jobs behind. If the worker is gone (it never ends before the actor), a
    /// waiting writer is answered by its dropped reply: the request fails, the node runs on.
    pub(crate) fn send(&self, job: Job) {
        if self.jobs.send(job).is_err() {
            tracing::error!("the search worker is gone");
        }
    }

    /// Queues a query, or refuses it as busy (503, retry) if [`MAX_QUERIES`] are already
    /// waiting or the queue is full.
    pub(crate) fn ask(&self, query: QueryJob) {
        let busy = || {
            NodeError::SearchUnavailable(super::SearchUnavailable::Busy {
                waiting: MAX_QUERIES,
            })
        };
        if self.queries.load(Ordering::Relaxed) >= MAX_QUERIES {
            query.refuse(busy());
            return;
        }
        self.queries.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = self.jobs.try_send(Job::Query(query)) {
            self.queries.fetch_sub(1, Ordering::Relaxed);
            let (mpsc::TrySendError::Full(job) | mpsc::TrySendError::Disconnected(job)) = e;
            if let Job::Query(query) = job {
                query.refuse(busy());
            }
        }
    }
}

struct Worker {
    weights: HybridWeights,
    completions: Sender<Completion>,
    spaces: BTreeMap<SpaceName, SearchIndex<ProcedureId>>,
    queries: Arc<AtomicUsize>,
}

impl Worker {
    fn run(mut self, queue: mpsc::Receiver<Job>) {
        for job in queue {
            if matches!(job, Job::Query(_)) {
                self.queries.fetch_sub(1, Ordering::Relaxed);
            }
            // A panic in one job (a bug) fails that job's asker, not every later search.
            let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.serve(job)));
            if done.is_err() {
                tracing::error!("a search job panicked; the worker goes on");
            }
        }
    }

    fn serve(&mut self, job: Job) {
        match job {
            Job::Install { space, index } => {
                self.spaces.insert(space, *index);
            }
            Job::Upsert { space, texts } => self.upsert(&space, &texts),
            Job::Query(QueryJob::Search {
                space,
                query,
                frozen,
                now_ms,
                policy,
                reply,
            }) => {
                let _ = reply.send(self.search(&space, &query, &frozen, now_ms, policy));
            }
            Job::Query(QueryJob::Similar {
                space,
                id,
                n,
                frozen,
                now_ms,
                reply,
            }) => {
                let rows = self
                    .nearest(&space, &id, n, f32::MIN)
                    .into_iter()
                    .filter_map(|(other, cosine)| {
                        let p = frozen.procedure(&other)?;
                        let row = knack_crdt::Ranked::of(&p, None, now_ms);
                        Some(RankedView::of(&p, &row, Some(f64::from(cosine))))
                    })
                    .collect();
                let _ = reply.send(Ok(rows));
            }
            Job::Neighbours {
                space,
                id,
                k,
                min_cosine,
                ack,
            } => {
                let neighbours = self.nearest(&space, &id, k, min_cosine);
                let found = Completion::Neighbours {
                    space,
                    id,
                    neighbours,
                    ack,
                };
                if self.completions.blocking_send(found).is_err() {
                    tracing::debug!("neighbours found after the actor stopped");
                }
            }
        }
    }

    fn upsert(&mut self, space: &SpaceName, texts: &[(ProcedureId, OwnedText)]) {
        let Some(index) = self.spaces.get_mut(space) else {
            return;
        };
        for (id, text) in texts {
            let texts = text.texts();
            let doc = texts.document();
            if index.is_current(id, &doc) {
                continue;
            }
            if let Err(e) = index.upsert(*id, &doc) {
                tracing::warn!(procedure = %id, error = %e, "not indexed for search");
            }
        }
    }

    fn nearest(
        &self,
        space: &SpaceName,
        id: &ProcedureId,
        k: usize,
        min_cosine: f32,
    ) -> Vec<(ProcedureId, f32)> {
        self.spaces
            .get(space)
            .map(|index| index.similar_to(id, k, min_cosine))
            .unwrap_or_default()
    }

    /// The best `query.limit` procedures for `query`, blended with their evidence as of
    /// `frozen`. With [`Policy::Thompson`] each candidate's evidence score is a draw from its
    /// Beta posterior (own counts in the query's context, or all, plus the contagion prior).
    fn search(
        &self,
        space: &SpaceName,
        query: &Query,
        frozen: &FrozenSpace,
        now_ms: u64,
        policy: Policy,
    ) -> Result<Vec<RankedView>, NodeError> {
        let Some(index) = self.spaces.get(space) else {
            return Ok(Vec::new());
        };
        let rng = std::cell::RefCell::new(rand::thread_rng());
        let draws = std::cell::RefCell::new(HashMap::new());
        let evidence = |id: ProcedureId, context: Option<&str>| {
            let p = frozen.procedure(&id)?;
            let mut evidence = evidence_of(&p, context, now_ms);
            if policy == Policy::Thompson {
                let draw = thompson_of(&p, context, now_ms, &mut *rng.borrow_mut());
                draws.borrow_mut().insert(id, draw);
                evidence.score = draw;
            }
            Some(evidence)
        };
        let hits = index.search(query, evidence, &self.weights)?;
        let draws = draws.into_inner();
        Ok(hits
            .into_iter()
            .filter_map(|hit| {
                let p = frozen.procedure(&hit.key)?;
                let row = knack_crdt::Ranked::of(&p, query.context.as_deref(), now_ms);
                let mut ranked = RankedView::of(&p, &row, Some(hit.score));
                ranked.explain = serde_json::to_value(&hit.explanation).ok();
                ranked.draw = draws.get(&hit.key).copied();
                Some(ranked)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

    use super::*;

    fn search_job(reply: Reply<Vec<RankedView>>) -> QueryJob {
        let mut space = knack_crdt::Space::new(SpaceName::new("busy").unwrap());
        QueryJob::Search {
            space: space.name().clone(),
            query: Query::new("restart", 5),
            frozen: Box::new(space.freeze()),
            now_ms: 0,
            policy: Policy::Greedy,
            reply,
        }
    }

    /// Past [`MAX_QUERIES`] waiting, a query is refused as busy while index updates are still
    /// queued; once the worker takes queries up, queries are accepted again.
    #[test]
    fn queries_past_the_bound_are_refused_as_busy_and_updates_still_queue() {
        let (jobs, queue) = mpsc::sync_channel(QUEUE);
        let worker = SearchWorker {
            jobs,
            queries: Arc::new(AtomicUsize::new(0)),
        };
        let mut answers = Vec::new();
        for _ in 0..MAX_QUERIES {
            let (reply, answer) = tokio::sync::oneshot::channel();
            worker.ask(search_job(reply));
            answers.push(answer);
        }
        for answer in &mut answers {
            assert!(answer.try_recv().is_err(), "queued, not answered");
        }
        let (reply, mut refused) = tokio::sync::oneshot::channel();
        worker.ask(search_job(reply));
        assert!(matches!(
            refused.try_recv(),
            Ok(Err(NodeError::SearchUnavailable(
                super::super::SearchUnavailable::Busy {
                    waiting: MAX_QUERIES
                }
            )))
        ));
        worker.send(Job::Upsert {
            space: SpaceName::new("busy").unwrap(),
            texts: Vec::new(),
        });
        assert_eq!(queue.try_iter().count(), MAX_QUERIES + 1);

        // A worker drains them (no index: empty answers), and a query is taken again.
        let (completions, _) = tokio::sync::mpsc::channel(1);
        let running = SearchWorker::start(HybridWeights::default(), completions).unwrap();
        let (reply, answer) = tokio::sync::oneshot::channel();
        running.ask(search_job(reply));
        assert!(answer.blocking_recv().unwrap().unwrap().is_empty());
        assert_eq!(running.queries.load(Ordering::Relaxed), 0);
    }
}
