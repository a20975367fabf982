//! `Space::top` keeps only the n best while it scans: the answer must be exactly the first n
//! of the whole ranking, ties (unused procedures score alike) broken by last use then id, with
//! and without a context, for every n.

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

mod common;

use knack_crdt::{AgentId, Filter, Hlc, Outcome, RelationKind};
use proptest::prelude::*;

const ALICE: AgentId = AgentId([1; 32]);
const T0: u64 = 1_700_000_000_000;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn top_n_is_the_head_of_the_whole_ranking(
        outcomes in proptest::collection::vec((0usize..120, any::<bool>(), 0usize..3), 0..400),
        links in proptest::collection::vec((0usize..120, 0usize..120), 0..80),
    ) {
        let (mut s, p) = common::space_of("top", 120, ALICE, T0);
        for (i, (a, b)) in links.iter().enumerate() {
            if a == b {
                continue;
            }
            let d = s.link(ALICE, Hlc::at(T0 + 1 + i as u64), p[*a], p[*b], RelationKind::Similar, 0.8).unwrap();
            s.apply(&d);
        }
        for (i, (at, success, context)) in outcomes.iter().enumerate() {
            let agent = AgentId([2 + (i % 3) as u8; 32]);
            let outcome = Outcome {
                success: *success,
                duration_ms: 5,
                contexts: vec![["ci", "deploy", "prod"][*context].into()],
            };
            let d = s.record_outcome(agent, Hlc::at(T0 + 1_000 + i as u64), p[*at], &outcome).unwrap();
            s.apply(&d);
        }
        s.settle();
        let now = T0 + 10_000;
        for context in [None, Some("ci".to_owned())] {
            let filter = Filter { context, ..Filter::default() };
            let all = s.top(usize::MAX, &filter, now);
            prop_assert_eq!(all.len(), 120);
            for n in [0, 1, 7, 10, 119, 120, 500] {
                let top = s.top(n, &filter, now);
                prop_assert_eq!(&top[..], &all[..n.min(120)]);
            }
        }
    }
}
