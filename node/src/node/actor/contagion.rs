//! Contagion sums kept off the actor: a read freezes its space (summing a few stale
//! neighbourhoods first), and many stale ones (a sync's bulk ingest, a start, a long run of
//! outcomes with no read) are summed by a settle job on a blocking thread and handed back.

use knack_crdt::{FrozenSpace, ProcedureId, SettledSums, Space, SpaceName};

use super::Actor;
use super::completion::Completion;
use crate::metrics::{OnLabel, ResultLabel};

impl Actor {
    /// `space` frozen now, for a read on another thread (`None`: not joined). A few stale
    /// neighbourhoods are summed here first; with many the view sums what it reads, and a
    /// settle job is sent out for them.
    pub(super) fn freeze(&mut self, space: &SpaceName) -> Option<FrozenSpace> {
        self.read_ready(space, Space::freeze)
    }

    /// Brings what a read of `id` in `space` needs up to date (only `id`'s neighbourhood when
    /// many are stale; a settle job takes the rest).
    pub(super) fn settle_for(&mut self, space: &SpaceName, id: &ProcedureId) {
        self.read_ready(space, |s| s.settle_for(id));
    }

    /// Runs `prepare` (which may sum a few stale neighbourhoods here, counted) on `space`,
    /// then sends out a settle job if many are left stale.
    fn read_ready<T>(
        &mut self,
        space: &SpaceName,
        prepare: impl FnOnce(&mut Space) -> T,
    ) -> Option<T> {
        let replica = self.spaces.get_mut(space)?;
        let before = replica.space.contagion_summed_here();
        let prepared = prepare(&mut replica.space);
        let summed = replica.space.contagion_summed_here() - before;
        self.count_sums("actor", summed);
        self.settle_in_background(space);
        Some(prepared)
    }

    /// Sends out a settle job for `space` if it has many stale neighbourhoods and none is out.
    fn settle_in_background(&mut self, space: &SpaceName) {
        let Some(replica) = self.spaces.get_mut(space) else {
            return;
        };
        if let Some(job) = replica.space.settle_job() {
            self.run_settle_job(space.clone(), job);
        }
    }

    /// Sends out a settle job for every space with many stale neighbourhoods that nothing
    /// changed since the last tick (one still ingesting a backlog would drop its work): a
    /// start's, or a sync's once it is done.
    pub(super) fn settle_quiet_spaces(&mut self) {
        let jobs: Vec<_> = self
            .spaces
            .iter_mut()
            .filter_map(|(name, replica)| {
                Some((name.clone(), replica.space.settle_job_if_quiet()?))
            })
            .collect();
        for (space, job) in jobs {
            self.run_settle_job(space, job);
        }
    }

    fn run_settle_job(&self, space: SpaceName, job: knack_crdt::SettleJob) {
        let done = self.completions_tx.clone();
        tracing::debug!(%space, neighbourhoods = job.len(), "contagion settle job out");
        tokio::task::spawn_blocking(move || {
            let sums = Box::new(job.run());
            let _ = done.blocking_send(Completion::Settled { space, sums });
        });
    }

    /// A settle job's sums, back: installed if the space still wants them.
    pub(super) fn install_settled(&mut self, space: &SpaceName, sums: SettledSums) {
        let installed = match self.spaces.get_mut(space) {
            Some(replica) => replica.space.install_settled(sums),
            None => 0,
        };
        let result = if installed > 0 {
            self.count_sums("background", installed as u64);
            "installed"
        } else {
            "dropped"
        };
        self.metrics
            .contagion_settle_jobs
            .get_or_create(&ResultLabel { result })
            .inc();
    }

    fn count_sums(&self, on: &'static str, summed: u64) {
        if summed > 0 {
            self.metrics
                .contagion_sums
                .get_or_create(&OnLabel { on })
                .inc_by(summed);
        }
    }
}
