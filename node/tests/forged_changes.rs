//! A hostile writer's crafted, well-signed envelopes (issue 15, part 1), pushed to a real node
//! over `/knack/sync/1`: every hole is refused and counted by reason in `/metrics`, and leaves
//! the state as it was; what validation cannot judge alone (a proposal ahead of its evidence, a
//! write that would lower counters, a bogus pin) is accepted and takes no effect.

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

mod common;

use std::time::Duration;

use common::{TestNode, push_envelopes, wait_for};
use knack_crdt::{
    AgentId, Change, ContentHash, Counts, Delta, Hlc, OutcomeSlot, ProcedureId, SpaceName,
    Versioned,
};
use knack_protocol::Envelope;
use libp2p::Multiaddr;

fn slot(seq: u64, successes: u64, failures: u64) -> OutcomeSlot {
    OutcomeSlot::new(
        Versioned {
            seq,
            value: Counts {
                successes,
                failures,
                total_duration_ms: 0,
            },
        },
        Default::default(),
    )
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[test]
fn a_hostile_writers_crafted_changes_are_refused_counted_and_change_nothing() {
    let a = TestNode::start("a", &[]);
    let existing = a.add("existing", &[]);
    let id: ProcedureId = existing.parse().unwrap();
    let a_agent: AgentId = a.status()["agent_id"].as_str().unwrap().parse().unwrap();
    let target: Multiaddr = a.multiaddr().parse().unwrap();
    let space = SpaceName::new("default").unwrap();
    let key = libp2p::identity::Keypair::generate_ed25519();
    let mallory = knack_protocol::agent_id(&key).unwrap();
    let t = now_ms();
    let op = |seq: u64, i: u64, changes: Vec<Change>| {
        Envelope::seal_unchecked(
            &key,
            space.clone(),
            seq,
            vec![(Hlc::at(t + i), Delta::new(changes))],
        )
        .unwrap()
    };
    let outcome = |slot: OutcomeSlot| Change::Outcome {
        id,
        agent: mallory,
        slot,
    };
    let hash = ContentHash([5; 32]);

    // Every one is the author's op 1: a refused envelope does not advance its sequence.
    let refused = [
        // Latch the procedure crystallized for good: u32::MAX is odd and has no successor.
        (
            op(
                1,
                0,
                vec![Change::Crystal {
                    id,
                    epoch: u32::MAX,
                }],
            ),
            "crystal_epoch",
        ),
        // A million successes in one write.
        (
            op(1, 1, vec![outcome(slot(1, 1_000_000, 0))]),
            "implausible_outcome",
        ),
        // A million writes claimed in the author's first op.
        (
            op(1, 2, vec![outcome(slot(1_000_000, 1_000_000, 0))]),
            "implausible_outcome",
        ),
        // A pin attributed to the node itself.
        (
            op(
                1,
                3,
                vec![Change::Pin {
                    hash,
                    cid: "bafkreibogus".into(),
                    by: a_agent,
                }],
            ),
            "wrong_author",
        ),
    ];
    let (digest, ops) = (a.digest(), a.ops());
    let envelopes: Vec<Envelope> = refused.iter().map(|(e, _)| e.clone()).collect();
    push_envelopes(target.clone(), &key, &envelopes);
    for (_, reason) in &refused {
        let line = format!("knack_envelopes_rejected_total{{reason=\"{reason}\"}}");
        wait_for(Duration::from_secs(10), || {
            (a.metric(&line) >= 1.0).then_some(())
        })
        .unwrap_or_else(|| panic!("no {line} in\n{}", a.metrics()));
    }
    assert_eq!(
        a.metric("knack_envelopes_rejected_total{reason=\"implausible_outcome\"}"),
        2.0
    );
    assert_eq!(
        (a.digest(), a.ops()),
        (digest.clone(), ops),
        "state unchanged"
    );

    // Plausible on their own, harmless in the state: one honest-looking success (op 1), a
    // proposal to crystallize on one use from one agent (op 2), a later write that would wipe
    // the success (op 3: 3 writes, 1 failure), and a pin of Mallory's own (op 4).
    let accepted = [
        op(1, 10, vec![outcome(slot(1, 1, 0))]),
        op(2, 11, vec![Change::Crystal { id, epoch: 1 }]),
        op(3, 12, vec![outcome(slot(3, 0, 1))]),
        op(
            4,
            13,
            vec![Change::Pin {
                hash,
                cid: "bafkreimallory".into(),
                by: mallory,
            }],
        ),
    ];
    push_envelopes(target, &key, &accepted);
    wait_for(Duration::from_secs(10), || {
        (a.ops() == ops + 4).then_some(())
    })
    .unwrap_or_else(|| panic!("the plausible ops were not applied:\n{}", a.log()));
    let view = a.show(&existing);
    assert_eq!(view["crystallized"], false, "{view}");
    assert_eq!(
        (view["successes"].as_u64(), view["failures"].as_u64()),
        (Some(1), Some(1)),
        "the later write could not lower the success: {view}"
    );
    assert_ne!(a.digest(), digest);
    // The node keeps serving.
    a.outcome(&existing, true);
}
