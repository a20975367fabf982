//! The relations of one procedure (`Space::relations_of`, what `show` and every outcome's
//! answer list): found from either end, every kind, removed ones left out, in key order, and the
//! same after a merge into a fresh replica and after a snapshot round trip.

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

mod common;

use knack_crdt::{AgentId, Hlc, ProcedureId, RelationKey, RelationKind, Space};

const ALICE: AgentId = AgentId([1; 32]);
const T0: u64 = 1_700_000_000_000;

fn relations(s: &Space, id: &ProcedureId) -> Vec<(RelationKey, f64)> {
    s.relations_of(id).map(|(k, f)| (k, f.as_f64())).collect()
}

/// What `relations_of` must answer, by a scan of every relation.
fn scanned(s: &Space, id: &ProcedureId) -> Vec<(RelationKey, f64)> {
    s.relations()
        .filter(|(k, _)| k.from == *id || k.to == *id)
        .map(|(k, f)| (k, f.as_f64()))
        .collect()
}

#[test]
fn a_procedures_relations_are_found_from_either_end_in_key_order() {
    let (mut s, p) = common::space_of("relations", 40, ALICE, T0);
    let mut at = T0 + 1;
    let mut link = |s: &mut Space, a: usize, b: usize, kind: RelationKind, strength: f64| {
        at += 1;
        let delta = s
            .link(ALICE, Hlc::at(at), p[a], p[b], kind, strength)
            .unwrap();
        s.apply(&delta);
    };
    for i in 0..40 {
        link(&mut s, i, (i + 1) % 40, RelationKind::Similar, 0.5);
        link(&mut s, i, (i + 3) % 40, RelationKind::Context, 0.25);
        link(&mut s, i, (i + 7) % 40, RelationKind::Next, 1.0);
        link(&mut s, (i + 11) % 40, i, RelationKind::Depends, 0.75);
    }
    let unlink = s
        .unlink(
            ALICE,
            Hlc::at(T0 + 10_000),
            p[0],
            p[1],
            RelationKind::Similar,
        )
        .unwrap();
    s.apply(&unlink);

    let mut fresh = Space::new(s.name().clone());
    fresh.merge(&s);
    let restored = Space::decode(&s.snapshot().encode()).unwrap();
    for id in &p {
        let got = relations(&s, id);
        assert_eq!(got, scanned(&s, id));
        assert_eq!(relations(&fresh, id), got, "after a merge");
        assert_eq!(relations(&restored, id), got, "after a snapshot");
        let mut sorted = got.clone();
        sorted.sort_by_key(|r| r.0);
        assert_eq!(got, sorted, "in key order");
    }
    // Each procedure: 2 similar, 2 context, 2 next (out and in), 2 depends (out and in).
    assert_eq!(relations(&s, &p[5]).len(), 8);
    // P0 and P1 lost their similar link, and only that one.
    assert_eq!(relations(&s, &p[0]).len(), 7);
    assert!(
        relations(&s, &p[1])
            .iter()
            .all(|(k, _)| !(k.kind == RelationKind::Similar && (k.from == p[0] || k.to == p[0])))
    );
}

/// A `similar` or `context` relation of zero strength is live but not an edge of the contagion
/// graph, and a relation's strength moves between zero and not: each is still found from
/// both ends, alone or beside the other kind on the same pair, after every change.
#[test]
fn relations_of_zero_strength_are_found_from_both_ends_as_their_strength_changes() {
    let (mut s, p) = common::space_of("relations-zero", 12, ALICE, T0);
    let mut at = T0 + 1;
    let mut set = |s: &mut Space, a: usize, b: usize, kind: RelationKind, strength: Option<f64>| {
        at += 1;
        let delta = match strength {
            Some(strength) => s.link(ALICE, Hlc::at(at), p[a], p[b], kind, strength),
            None => s.unlink(ALICE, Hlc::at(at), p[a], p[b], kind),
        }
        .unwrap();
        s.apply(&delta);
    };
    let check = |s: &Space, when: &str| {
        let restored = Space::decode(&s.snapshot().encode()).unwrap();
        for id in &p {
            let got = relations(s, id);
            assert_eq!(got, scanned(s, id), "{when}");
            assert_eq!(relations(&restored, id), got, "{when}, after a snapshot");
        }
    };
    // Pairs written both ways round, so the smaller id is sometimes the `to` end asked about.
    let steps: [(usize, usize, RelationKind, Option<f64>); 10] = [
        (3, 1, RelationKind::Similar, Some(0.0)),
        (1, 3, RelationKind::Context, Some(0.5)),
        (4, 2, RelationKind::Similar, Some(0.6)),
        (2, 4, RelationKind::Similar, Some(0.0)),
        (1, 3, RelationKind::Context, Some(0.0)),
        (3, 1, RelationKind::Similar, Some(0.9)),
        (5, 6, RelationKind::Context, Some(0.3)),
        (6, 5, RelationKind::Context, None),
        (2, 4, RelationKind::Similar, Some(0.2)),
        (7, 8, RelationKind::Similar, Some(0.0)),
    ];
    for (i, (a, b, kind, strength)) in steps.into_iter().enumerate() {
        set(&mut s, a, b, kind, strength);
        check(&s, &format!("after step {i}"));
    }
    // Live at the end: 1-3 similar 0.9 and context 0, 2-4 similar 0.2, 7-8 similar 0.
    assert_eq!(relations(&s, &p[3]).len(), 2);
    assert_eq!(relations(&s, &p[4]).len(), 1);
    assert_eq!(relations(&s, &p[8]).len(), 1);
    assert!(relations(&s, &p[6]).is_empty());
}
