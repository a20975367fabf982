//! The HNSW graph over the store's slots, with tombstones for dead points.

use hnsw_rs::prelude::{Distance, Hnsw};

use crate::embed::dot;
use crate::vector::store::VectorStore;
use crate::vector::{HnswParams, Key};

/// Layers the graph may use (`hnsw_rs`' own maximum is 16).
const MAX_LAYERS: usize = 16;

/// A dead point (removed, or replaced by a newer vector of the same slot).
const DEAD: u32 = u32::MAX;

/// `1 - dot`: the cosine distance of unit vectors, clamped at 0 against rounding.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct UnitCosine;

impl Distance<f32> for UnitCosine {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        (1.0 - dot(a, b)).max(0.0)
    }
}

/// An `hnsw_rs` graph whose point ids are insertion numbers, mapped to store slots.
pub(crate) struct HnswGraph {
    hnsw: Hnsw<'static, f32, UnitCosine>,
    /// Slot of each point id, or [`DEAD`].
    point_slot: Vec<u32>,
    /// Live point id of each slot, or [`DEAD`].
    slot_point: Vec<u32>,
    dead: usize,
}

impl HnswGraph {
    /// A graph over every live vector of `store`, inserted in parallel.
    pub(crate) fn build<K: Key>(store: &VectorStore<K>, params: &HnswParams) -> Self {
        let live: Vec<(u32, &[f32])> = store.iter().map(|(slot, _, v)| (slot, v)).collect();
        let hnsw = Hnsw::new(
            params.max_connections,
            live.len().max(1024),
            MAX_LAYERS,
            params.ef_construction,
            UnitCosine,
        );
        let mut graph = HnswGraph {
            hnsw,
            point_slot: Vec::with_capacity(live.len()),
            slot_point: Vec::new(),
            dead: 0,
        };
        let mut batch: Vec<(&[f32], usize)> = Vec::with_capacity(live.len());
        for (slot, v) in &live {
            let point = graph.assign(*slot);
            batch.push((v, point as usize));
        }
        graph.hnsw.parallel_insert_slice(&batch);
        graph
    }

    /// Points that searches skip.
    pub(crate) fn tombstones(&self) -> usize {
        self.dead
    }

    /// Whether dead points are more than `ratio` of all points.
    pub(crate) fn needs_rebuild(&self, ratio: f64) -> bool {
        self.dead as f64 > ratio * self.point_slot.len() as f64
    }

    /// Adds `v` as the vector of `slot`, retiring the slot's previous point.
    pub(crate) fn insert(&mut self, slot: u32, v: &[f32]) {
        let point = self.assign(slot);
        self.hnsw.insert_slice((v, point as usize));
    }

    /// Retires the point of `slot`.
    pub(crate) fn remove(&mut self, slot: u32) {
        if let Some(p) = self.slot_point.get_mut(slot as usize)
            && *p != DEAD
        {
            self.point_slot[*p as usize] = DEAD;
            *p = DEAD;
            self.dead += 1;
        }
    }

    /// Up to `k` live slots nearest to `q` with their cosines, searching with `ef`.
    ///
    /// `hnsw_rs`' filtered search gives up its early exit (it explores until its candidate
    /// heap runs dry, several times slower), so dead points are skipped differently: an
    /// unfiltered search for `ef` neighbours, of which the live ones are kept; only if fewer
    /// than `k` survive (many tombstones near the query) does the filtered search run.
    pub(crate) fn search(&self, q: &[f32], k: usize, ef: usize) -> Vec<(u32, f32)> {
        let ef = ef.max(k);
        let want = if self.dead == 0 { k } else { ef };
        let mut out = self.live(self.hnsw.search(q, want, ef));
        if out.len() < k && self.dead > 0 {
            let live = |id: &usize| self.point_slot.get(*id).is_some_and(|s| *s != DEAD);
            out = self.live(self.hnsw.search_filter(q, k, ef, Some(&live)));
        }
        out.truncate(k);
        out
    }

    /// The live slots of `neighbours`, with cosines, in the same order.
    fn live(&self, neighbours: Vec<hnsw_rs::prelude::Neighbour>) -> Vec<(u32, f32)> {
        neighbours
            .into_iter()
            .filter_map(|n| {
                let slot = *self.point_slot.get(n.d_id)?;
                (slot != DEAD).then_some((slot, 1.0 - n.distance))
            })
            .collect()
    }

    /// A new point id for `slot`; the slot's previous point, if any, dies.
    fn assign(&mut self, slot: u32) -> u32 {
        self.remove(slot);
        let point = self.point_slot.len() as u32;
        self.point_slot.push(slot);
        if self.slot_point.len() <= slot as usize {
            self.slot_point.resize(slot as usize + 1, DEAD);
        }
        self.slot_point[slot as usize] = point;
        point
    }
}
