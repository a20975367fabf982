//! Deltas from peers are checked before they are applied: ownership, derived ids, sizes,
//! inline body hashes. And authoring refuses bad input with a clear error.

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

use knack_crdt::{
    AgentId, Body, Change, ContentHash, CrdtError, Delta, Edit, Filter, Hlc, NewProcedure, Outcome,
    ProcedureKind, RelationKind, Space, SpaceName,
};

const ALICE: AgentId = AgentId([1; 32]);
const MALLORY: AgentId = AgentId([9; 32]);
/// An op timestamp after everything these tests author.
const LATE: Hlc = Hlc::at(1_000);

fn name() -> SpaceName {
    SpaceName::new("checks").unwrap()
}

fn new(nonce: u64, tags: &[&str]) -> NewProcedure {
    NewProcedure {
        nonce,
        name: format!("procedure {nonce}"),
        description: "does a thing".into(),
        kind: ProcedureKind::Script,
        tags: tags.iter().map(|t| t.to_string()).collect(),
        body: Body::Inline(b"echo ok".to_vec()),
    }
}

fn space_with_one() -> (Space, knack_crdt::ProcedureId, Delta) {
    let mut s = Space::new(name());
    let (id, d) = s.add_procedure(ALICE, Hlc::at(1), new(1, &["a"])).unwrap();
    s.apply(&d);
    (s, id, d)
}

#[test]
fn a_delta_is_valid_only_from_its_author() {
    let (s, id, created) = space_with_one();
    assert_eq!(created.validate(&ALICE, &name(), LATE, 1), Ok(()));
    assert!(matches!(
        created.validate(&MALLORY, &name(), LATE, 1),
        Err(CrdtError::NotOwner { change: "create" })
    ));
    let outcome = Outcome {
        success: true,
        ..Outcome::default()
    };
    let d = s.record_outcome(ALICE, Hlc::at(2), id, &outcome).unwrap();
    assert!(matches!(
        d.validate(&MALLORY, &name(), LATE, 1),
        Err(CrdtError::NotOwner { change: "outcome" })
    ));
}

#[test]
fn a_forged_id_or_body_is_refused() {
    let (_, _, created) = space_with_one();
    let other_space = SpaceName::new("elsewhere").unwrap();
    assert!(matches!(
        created.validate(&ALICE, &other_space, LATE, 1),
        Err(CrdtError::IdMismatch(_))
    ));
    let mut forged = created.clone();
    for change in &mut forged.changes {
        if let Change::Body { content, .. } = change {
            content.inline = Some(b"rm -rf /".to_vec());
        }
    }
    assert_eq!(
        forged.validate(&ALICE, &name(), LATE, 1),
        Err(CrdtError::BodyMismatch)
    );
    assert_eq!(
        Delta::default().validate(&ALICE, &name(), LATE, 1),
        Err(CrdtError::EmptyDelta)
    );
}

#[test]
fn authoring_refuses_bad_input_with_clear_errors() {
    let (s, id, _) = space_with_one();
    let mut bad = new(2, &[]);
    bad.name = "  ".into();
    assert_eq!(
        s.add_procedure(ALICE, Hlc::at(2), bad).unwrap_err(),
        CrdtError::Empty("name")
    );
    let mut bad = new(3, &[]);
    bad.name = "x".repeat(300);
    assert!(matches!(
        s.add_procedure(ALICE, Hlc::at(2), bad),
        Err(CrdtError::TooLong { field: "name", .. })
    ));
    assert!(matches!(
        s.add_procedure(ALICE, Hlc::at(2), new(4, &["has space"])),
        Err(CrdtError::OutOfRange { field: "tag", .. })
    ));
    let mut big = new(5, &[]);
    big.body = Body::Inline(vec![0; 64 * 1024 + 1]);
    assert!(matches!(
        s.add_procedure(ALICE, Hlc::at(2), big),
        Err(CrdtError::TooLong {
            field: "inline body",
            ..
        })
    ));
    assert_eq!(
        s.add_procedure(ALICE, Hlc::at(2), new(1, &[])).unwrap_err(),
        CrdtError::AlreadyExists(id)
    );
    assert!(matches!(
        s.link(ALICE, Hlc::at(2), id, id, RelationKind::Similar, 0.5),
        Err(CrdtError::SelfRelation(_))
    ));
    let unknown = knack_crdt::ProcedureId([7; 32]);
    assert_eq!(
        s.link(ALICE, Hlc::at(2), id, unknown, RelationKind::Similar, 1.5)
            .unwrap_err()
            .to_string(),
        "strength must be within 0..=1, got 1.5"
    );
    assert_eq!(
        s.record_outcome(ALICE, Hlc::at(2), unknown, &Outcome::default())
            .unwrap_err(),
        CrdtError::UnknownProcedure(unknown)
    );
    assert_eq!(
        s.edit(ALICE, Hlc::at(2), id, Edit::default()).unwrap_err(),
        CrdtError::EmptyDelta
    );
    assert!(matches!(
        "Other Kind".parse::<ProcedureKind>(),
        Err(CrdtError::OutOfRange { field: "kind", .. })
    ));
    assert!(matches!(
        "ci-job".parse::<ProcedureKind>(),
        Ok(ProcedureKind::Other(_))
    ));
}

#[test]
fn external_bodies_keep_hash_and_size_and_pins_replicate() {
    let mut s = Space::new(name());
    let hash = ContentHash::of(b"a large body");
    let mut p = new(1, &[]);
    p.body = Body::External { hash, size: 12 };
    let (id, d) = s.add_procedure(ALICE, Hlc::at(1), p).unwrap();
    s.apply(&d);
    let body = s.procedure(&id).unwrap().body().unwrap().clone();
    assert_eq!((body.hash, body.size, body.inline), (hash, 12, None));
    let d = s.pin_content(ALICE, hash, "bafkreib".into()).unwrap();
    s.apply(&d);
    // A second CID for the same content by the same agent: its smaller one wins on every
    // replica (each agent's pins are kept apart: see tests/forged_changes.rs).
    s.apply(&s.pin_content(ALICE, hash, "bafkreia".into()).unwrap());
    assert_eq!(s.cids(&hash), vec!["bafkreia"]);
    assert_eq!(s.pin_by(&hash, &ALICE), Some("bafkreia"));
}

#[test]
fn rankings_filter_by_tag_and_rank_by_context_evidence() {
    let mut s = Space::new(name());
    let (p, d) = s.add_procedure(ALICE, Hlc::at(1), new(1, &["db"])).unwrap();
    s.apply(&d);
    let (q, d) = s
        .add_procedure(ALICE, Hlc::at(2), new(2, &["db", "k8s"]))
        .unwrap();
    s.apply(&d);
    let record = |s: &mut Space, t: u64, id, success: bool, ctx: &str| {
        let o = Outcome {
            success,
            duration_ms: 5,
            contexts: vec![ctx.to_string()],
        };
        let d = s.record_outcome(ALICE, Hlc::at(t), id, &o).unwrap();
        s.apply(&d);
    };
    // P: great at "migrate", bad at "backup". Q: the reverse, and more evidence overall.
    for t in 0..6 {
        record(&mut s, 10 + t, p, true, "migrate");
        record(&mut s, 20 + t, q, true, "backup");
        record(&mut s, 30 + t, q, true, "backup");
        record(&mut s, 40 + t, p, false, "backup");
    }
    let all = s.top(10, &Filter::default(), 100);
    assert_eq!(all[0].id, q);
    let migrate = Filter {
        context: Some("migrate".into()),
        ..Filter::default()
    };
    let top = s.top(10, &migrate, 100);
    assert_eq!(top[0].id, p);
    assert_eq!(top[0].counts.successes, 6);
    let k8s = Filter {
        tag: Some("k8s".into()),
        ..Filter::default()
    };
    let ids: Vec<_> = s.top(10, &k8s, 100).into_iter().map(|r| r.id).collect();
    assert_eq!(ids, vec![q]);
    assert_eq!(s.top(1, &Filter::default(), 100).len(), 1);
    assert!(s.top(0, &Filter::default(), 100).is_empty());
    let crystallized_only = Filter {
        crystallized_only: true,
        ..Filter::default()
    };
    assert!(s.top(10, &crystallized_only, 100).is_empty());
}

#[test]
fn a_change_stamped_after_its_op_is_refused() {
    let (s, id, created) = space_with_one();
    // Created at Hlc::at(1): an op stamped at 0 cannot carry it.
    assert!(matches!(
        created.validate(&ALICE, &name(), Hlc::at(0), 1),
        Err(CrdtError::AfterItsOp { change: "create" })
    ));
    let far_future = Hlc::at(u64::MAX);
    let rename = Edit {
        name: Some("mine forever".into()),
        ..Edit::default()
    };
    let d = s.edit(ALICE, far_future, id, rename).unwrap();
    assert!(matches!(
        d.validate(&ALICE, &name(), Hlc::at(5), 1),
        Err(CrdtError::AfterItsOp { change: "name" })
    ));
    assert_eq!(d.validate(&ALICE, &name(), far_future, 1), Ok(()));
}
