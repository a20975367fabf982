//! The sync engine's scheduling (timeouts, backoff, refusals, budgets) and the memory log.

#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is a test failure

mod common;

use common::{Author, Replica, space};
use knack_crdt::SpaceName;
use knack_protocol::sync::{OpLog, RefuseReason};
use knack_protocol::{
    Envelope, MemoryLog, SyncConfig, SyncEngine, SyncOutput, SyncRequest, SyncResponse,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn config() -> SyncConfig {
    SyncConfig {
        interval_ms: 10_000,
        request_timeout_ms: 1_000,
        backoff_base_ms: 500,
        backoff_max_ms: 3_000,
        response_budget_bytes: 1_500,
        fanout: 0,
    }
}

fn engine() -> SyncEngine<u32> {
    let mut e = SyncEngine::new(config());
    assert!(e.add_space(space()));
    e
}

#[test]
fn pulls_on_connect_then_every_interval() {
    let log = Replica::default().log;
    let mut e = engine();
    assert_eq!(e.next_wakeup_ms(), None);
    e.peer_connected(9, 100);
    assert_eq!(e.next_wakeup_ms(), Some(100));
    let reqs = e.poll_requests(100, &log);
    assert!(matches!(&reqs[..], [(9, SyncRequest::Pull { .. })]));
    // One request in flight per peer.
    assert!(e.poll_requests(200, &log).is_empty());
    assert_eq!(e.next_wakeup_ms(), Some(1_100));
    let out = e.handle_response(
        &9,
        SyncResponse::Envelopes {
            space: space(),
            have: Default::default(),
            envelopes: vec![],
            more: false,
        },
        300,
        &log,
    );
    assert!(out.is_empty());
    assert_eq!(e.next_wakeup_ms(), Some(10_300));
    assert!(e.poll_requests(10_299, &log).is_empty());
    assert_eq!(e.poll_requests(10_300, &log).len(), 1);
    assert_eq!(e.stats().rounds_completed, 1);
}

#[test]
fn failures_back_off_exponentially_and_timeouts_count_as_failures() {
    let log = Replica::default().log;
    let mut e = engine();
    e.peer_connected(1, 0);
    let mut now = 0;
    let mut delays = vec![];
    for _ in 0..5 {
        assert_eq!(e.poll_requests(now, &log).len(), 1, "at {now}");
        e.request_failed(&1, now);
        let next = e.next_wakeup_ms().unwrap();
        delays.push(next - now);
        now = next;
    }
    assert_eq!(delays, vec![500, 1_000, 2_000, 3_000, 3_000]);
    // A timeout: nothing happens before it, then the request has failed.
    assert_eq!(e.poll_requests(now, &log).len(), 1);
    assert!(e.poll_requests(now + 999, &log).is_empty());
    assert!(e.poll_requests(now + 1_000, &log).is_empty());
    assert_eq!(e.stats().timeouts, 1);
    assert_eq!(e.stats().requests_failed, 6);
    // A success resets the backoff.
    now = e.next_wakeup_ms().unwrap();
    e.poll_requests(now, &log);
    let ack = SyncResponse::Ack {
        space: space(),
        have: Default::default(),
    };
    e.handle_response(&1, ack, now, &log);
    e.poll_requests(now + 10_000, &log);
    e.request_failed(&1, now + 10_000);
    assert_eq!(e.next_wakeup_ms(), Some(now + 10_500));
}

#[test]
fn unknown_spaces_are_refused() {
    let log = Replica::default().log;
    let mut e = engine();
    let other = SpaceName::new("other").unwrap();
    let (resp, pushed) = e.handle_request(
        &3,
        SyncRequest::Pull {
            space: other.clone(),
            have: Default::default(),
        },
        &log,
    );
    assert_eq!(
        resp,
        SyncResponse::Refused {
            space: other,
            reason: RefuseReason::UnknownSpace
        }
    );
    assert!(pushed.is_empty());
    assert_eq!(e.stats().refused_sent, 1);
}

#[test]
fn responses_respect_the_budget_and_say_more() {
    let mut rng = StdRng::seed_from_u64(1);
    let mut a = Author::new(1);
    let mut holder = Replica::default();
    for _ in 0..10 {
        holder.ingest(&a.envelope(&mut rng, 1).encode()).unwrap();
    }
    let mut server = engine();
    let mut client = Replica::default();
    let mut rounds = 0;
    loop {
        let have = client.log.known(&space()).cloned().unwrap();
        let (resp, _) = server.handle_request(
            &1,
            SyncRequest::Pull {
                space: space(),
                have,
            },
            &holder.log,
        );
        let SyncResponse::Envelopes {
            envelopes, more, ..
        } = resp
        else {
            panic!("{resp:?}")
        };
        rounds += 1;
        let bytes: usize = envelopes.iter().map(Vec::len).sum();
        // One envelope may overshoot the budget, never two.
        let largest = envelopes.iter().map(Vec::len).max().unwrap_or(0);
        assert!(bytes <= config().response_budget_bytes + largest);
        for e in &envelopes {
            client.ingest(e).unwrap();
        }
        if !more {
            break;
        }
    }
    assert!(rounds > 1);
    assert_eq!(client.log.known(&space()), holder.log.known(&space()));
    assert_eq!(client.space.digest(), holder.space.digest());
}

#[test]
fn a_peer_lacking_ops_gets_a_push() {
    let mut rng = StdRng::seed_from_u64(2);
    let mut a = Author::new(1);
    let mut me = Replica::default();
    me.ingest(&a.envelope(&mut rng, 2).encode()).unwrap();
    let mut e = engine();
    e.peer_connected(5, 0);
    e.poll_requests(0, &me.log);
    let out = e.handle_response(
        &5,
        SyncResponse::Envelopes {
            space: space(),
            have: Default::default(),
            envelopes: vec![],
            more: false,
        },
        10,
        &me.log,
    );
    let [SyncOutput::Send { peer: 5, request }] = &out[..] else {
        panic!("{out:?}")
    };
    let SyncRequest::Push { envelopes, .. } = request else {
        panic!()
    };
    assert_eq!(envelopes.len(), 1);
    // The round ends with the ack.
    assert!(e.poll_requests(20, &me.log).is_empty());
    e.handle_response(
        &5,
        SyncResponse::Ack {
            space: space(),
            have: Default::default(),
        },
        30,
        &me.log,
    );
    assert_eq!(e.stats().rounds_completed, 1);
    assert_eq!(e.next_wakeup_ms(), Some(10_030));
}

#[test]
fn late_responses_are_ingested_but_do_not_end_a_round() {
    let log = Replica::default().log;
    let mut e = engine();
    let out = e.handle_response(
        &4,
        SyncResponse::Envelopes {
            space: space(),
            have: Default::default(),
            envelopes: vec![vec![1, 2, 3]],
            more: false,
        },
        0,
        &log,
    );
    assert!(matches!(&out[..], [SyncOutput::Ingest { peer: 4, .. }]));
    assert_eq!(e.stats().unexpected_responses, 1);
    assert_eq!(e.stats().rounds_completed, 0);
}

#[test]
fn the_memory_log_serves_overlapping_envelopes_as_a_chain() {
    let mut rng = StdRng::seed_from_u64(3);
    let mut a = Author::new(1);
    let entries: Vec<_> = (0..8).map(|_| a.next_op(&mut rng)).collect();
    let seal = |first: usize, last: usize| {
        Envelope::seal(
            &a.keypair,
            space(),
            first as u64,
            entries[first - 1..last].to_vec(),
        )
        .unwrap()
    };
    let mut log = MemoryLog::new();
    log.add_space(space());
    assert!(log.insert(&seal(1, 5)).unwrap());
    assert!(log.insert(&seal(3, 6)).unwrap());
    assert!(!log.insert(&seal(2, 4)).unwrap());
    assert!(log.insert(&seal(4, 8)).unwrap());
    assert_eq!(log.insert(&seal(8, 8)).map_err(|e| e.reason()), Ok(false));
    assert_eq!(log.envelope_count(&space()), 3);
    let batch = log.envelopes_after(&space(), &a.agent, 0, usize::MAX);
    assert_eq!(batch.upto, 8);
    assert_eq!(batch.envelopes.len(), 3);
    let batch = log.envelopes_after(&space(), &a.agent, 5, usize::MAX);
    let firsts: Vec<u64> = batch
        .envelopes
        .iter()
        .map(|b| Envelope::decode(b).unwrap().first_seq())
        .collect();
    assert_eq!(firsts, vec![3, 4]);
    // Budget 0 still yields the first envelope.
    assert_eq!(
        log.envelopes_after(&space(), &a.agent, 6, 0)
            .envelopes
            .len(),
        1
    );
    assert!(
        log.envelopes_after(&space(), &a.agent, 8, 100)
            .envelopes
            .is_empty()
    );
    // A gap is refused.
    let mut b = Author::new(2);
    b.next_seq = 3;
    let gap = b.envelope(&mut rng, 1);
    assert_eq!(log.insert(&gap).unwrap_err().reason(), "sequence_gap");
}

/// Runs `peers` peers that answer every pull at once, for `until_ms`; rounds per peer.
fn rounds_per_peer(fanout: usize, peers: u32, until_ms: u64) -> Vec<u32> {
    let log = Replica::default().log;
    let mut e = SyncEngine::new(SyncConfig { fanout, ..config() });
    assert!(e.add_space(space()));
    for peer in 0..peers {
        e.peer_connected(peer, 0);
    }
    let mut rounds = vec![0u32; peers as usize];
    let mut now = 0;
    while now <= until_ms {
        for (peer, _) in e.poll_requests(now, &log) {
            rounds[peer as usize] += 1;
            let answer = SyncResponse::Envelopes {
                space: space(),
                have: Default::default(),
                envelopes: vec![],
                more: false,
            };
            e.handle_response(&peer, answer, now, &log);
        }
        now = e.next_wakeup_ms().unwrap().max(now + 1);
    }
    rounds
}

#[test]
fn past_the_fanout_each_peer_waits_longer_and_every_peer_still_gets_rounds() {
    // 80 peers, 10 s interval, 200 s: one round per peer per interval without a fanout.
    let all = rounds_per_peer(0, 80, 200_000);
    assert!(all.iter().all(|r| *r == 21), "{all:?}");
    // Fanout 8: each peer every 10 intervals, so ~8 rounds per interval over all peers.
    let fanned = rounds_per_peer(8, 80, 200_000);
    assert!(fanned.iter().all(|r| *r == 3), "{fanned:?}");
    let total: u32 = fanned.iter().sum();
    assert!(total <= 80 + 8 * 20, "{total} rounds");
    // With no more peers than the fanout, nothing changes.
    assert!(rounds_per_peer(8, 8, 200_000).iter().all(|r| *r == 21));
}

#[test]
fn a_skipped_round_ends_without_backoff_and_sync_now_makes_rounds_due_at_once() {
    let log = Replica::default().log;
    let mut e = engine();
    e.peer_connected(1, 0);
    e.peer_connected(2, 0);
    assert_eq!(e.poll_requests(0, &log).len(), 2);
    // The caller does not send peer 2's round (a space it does not serve to it): no failure,
    // no backoff, next round after the usual interval.
    e.skip_round(&2, 10);
    assert_eq!(e.stats().requests_failed, 0);
    assert_eq!(e.next_wakeup_ms(), Some(1_000)); // peer 1's request times out first
    // (polling at 9,999 times peer 1's request out: it backs off until 10,499)
    assert!(e.poll_requests(9_999, &log).is_empty());
    assert_eq!(e.next_wakeup_ms(), Some(10_010));
    let reqs = e.poll_requests(10_010, &log);
    assert!(reqs.iter().any(|(p, _)| *p == 2), "{reqs:?}");
    // Skipping a peer with nothing in flight changes nothing.
    e.skip_round(&7, 10_020);
    // New ops: rounds are due now with every idle peer, whatever their schedule.
    e.skip_round(&2, 10_030);
    e.sync_now(&space(), 10_040);
    let reqs = e.poll_requests(10_040, &log);
    assert!(reqs.iter().any(|(p, _)| *p == 2), "{reqs:?}");
    // An unknown space is ignored.
    e.sync_now(&SpaceName::new("elsewhere").unwrap(), 10_050);
}
