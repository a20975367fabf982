//! Membership of members-only spaces, by property: the effective membership is a function of
//! the record set and the root (any order, any duplication of records gives the same roles,
//! state, bytes and digest), a non-admin's record has no effect, concurrent admin removals
//! resolve deterministically, and settings are admin-only.

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

use knack_crdt::{
    AgentId, Change, Delta, Hlc, MemberRecord, Membership, Role, Space, SpaceName, SpaceSettings,
    Stamp,
};
use proptest::prelude::*;

const T0: u64 = 1_700_000_000_000;

fn agent(i: u8) -> AgentId {
    AgentId([i + 1; 32])
}

fn team() -> SpaceName {
    SpaceName::new("team").unwrap()
}

fn record(author: u8, at: u64, member: u8, role: Role) -> MemberRecord {
    MemberRecord {
        stamp: Stamp::new(agent(author), Hlc::at(T0 + at)),
        member: agent(member),
        role,
    }
}

fn delta(record: &MemberRecord) -> Delta {
    Delta::new(vec![Change::Member {
        record: record.clone(),
    }])
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![
        Just(Role::Member),
        Just(Role::Admin),
        (0u64..20).prop_map(|cutoff| Role::Removed { cutoff }),
    ]
}

/// Records among 6 agents (agent 0 is the root) at 40 possible times: many collide in time,
/// so ties are broken by agent and record.
fn records(max: usize) -> impl Strategy<Value = Vec<MemberRecord>> {
    prop::collection::vec(
        (0u8..6, 0u64..40, 0u8..6, role()).prop_map(|(a, t, m, r)| record(a, t, m, r)),
        1..max,
    )
}

fn roles(space: &Space) -> Vec<(AgentId, Role)> {
    space
        .membership()
        .unwrap()
        .roles()
        .map(|(a, r)| (*a, r))
        .collect()
}

fn replica(records: &[MemberRecord]) -> Space {
    let mut space = Space::with_root(team(), agent(0));
    for r in records {
        space.apply(&delta(r));
    }
    space
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any permutation and duplication of the same records gives the same membership, state
    /// bytes and digest, applied one by one or merged replica into replica.
    #[test]
    fn membership_is_order_independent(
        recs in records(40),
        order in prop::collection::vec(any::<prop::sample::Index>(), 0..80),
    ) {
        let a = replica(&recs);
        // Another order with duplicates: every record once, in reverse, then random repeats.
        let mut shuffled: Vec<MemberRecord> = recs.iter().rev().cloned().collect();
        shuffled.extend(order.iter().map(|i| recs[i.index(recs.len())].clone()));
        let b = replica(&shuffled);
        prop_assert_eq!(roles(&a), roles(&b));
        prop_assert_eq!(a.encode(), b.encode());
        prop_assert_eq!(a.digest(), b.digest());
        // Merged halves agree too.
        let (left, right) = recs.split_at(recs.len() / 2);
        let mut c = replica(right);
        c.merge(&replica(left));
        prop_assert_eq!(roles(&a), roles(&c));
        prop_assert_eq!(a.digest(), c.digest());
        // And equal the pure function of the set.
        let mut sorted = recs.clone();
        sorted.sort();
        let derived = Membership::derive(agent(0), &sorted);
        prop_assert_eq!(a.membership().unwrap(), &derived);
        // The root is always admin.
        prop_assert!(a.membership().unwrap().is_admin(&agent(0)));
    }

    /// A record by an agent that is not an admin at its stamp changes nothing.
    #[test]
    fn a_non_admins_record_has_no_effect(recs in records(30), member in 1u8..6, r in role()) {
        let base = replica(&recs);
        let membership = base.membership().unwrap();
        // Agent 9 never was given any role: its records are inert, whatever their stamp.
        let stray = record(9, 20, member, r);
        let mut with = base.clone();
        with.apply(&delta(&stray));
        prop_assert_eq!(roles(&base), roles(&with));
        // A record by a current non-admin, stamped after every other record, is inert too.
        if let Some((author, _)) = membership.roles().find(|(_, r)| *r != Role::Admin) {
            let late = MemberRecord {
                stamp: Stamp::new(*author, Hlc::at(T0 + 1_000)),
                member: agent(member),
                role: r,
            };
            let mut with = base.clone();
            with.apply(&delta(&late));
            prop_assert_eq!(roles(&base), roles(&with));
        }
    }

    /// Two admins removing each other concurrently: on every replica, whatever the arrival
    /// order, the earlier removal (by stamp) takes effect and the later one does not.
    #[test]
    fn admins_removing_each_other_resolve_deterministically(t1 in 10u64..30, t2 in 10u64..30) {
        let promote = [record(0, 1, 1, Role::Admin), record(0, 2, 2, Role::Admin)];
        let x_removes_y = record(1, t1, 2, Role::Removed { cutoff: 3 });
        let y_removes_x = record(2, t2, 1, Role::Removed { cutoff: 5 });
        let mut one: Vec<MemberRecord> = promote.to_vec();
        one.extend([x_removes_y.clone(), y_removes_x.clone()]);
        let mut two: Vec<MemberRecord> = vec![y_removes_x.clone(), x_removes_y.clone()];
        two.extend(promote);
        let (a, b) = (replica(&one), replica(&two));
        prop_assert_eq!(roles(&a), roles(&b));
        let m = a.membership().unwrap();
        let x_first = x_removes_y.stamp < y_removes_x.stamp;
        // Exactly one of them stays admin: the one whose removal came first.
        prop_assert_eq!(m.is_admin(&agent(1)), x_first);
        prop_assert_eq!(m.is_admin(&agent(2)), !x_first);
    }
}

#[test]
fn removed_members_ops_are_accepted_up_to_the_cutoff_and_again_after_a_readd() {
    let mut space = Space::with_root(team(), agent(0));
    let root = agent(0);
    assert!(space.accepts(&root, 1_000_000));
    assert!(!space.accepts(&agent(1), 1));
    space.apply(
        &space
            .set_member(root, Hlc::at(T0 + 1), agent(1), Role::Member)
            .unwrap(),
    );
    assert!(space.accepts(&agent(1), 50));
    space.apply(
        &space
            .set_member(root, Hlc::at(T0 + 2), agent(1), Role::Removed { cutoff: 7 })
            .unwrap(),
    );
    assert!(space.accepts(&agent(1), 7));
    assert!(!space.accepts(&agent(1), 8));
    space.apply(
        &space
            .set_member(root, Hlc::at(T0 + 3), agent(1), Role::Member)
            .unwrap(),
    );
    assert!(space.accepts(&agent(1), 8));
    // An open space accepts everyone and has no members to manage.
    let open = Space::new(team());
    assert!(open.accepts(&agent(4), 1));
    assert_eq!(
        open.set_member(root, Hlc::at(T0), agent(1), Role::Member),
        Err(knack_crdt::CrdtError::OpenSpace)
    );
}

#[test]
fn only_admins_change_membership_and_the_root_cannot_be_removed() {
    let root = agent(0);
    let mut space = Space::with_root(team(), root);
    space.apply(
        &space
            .set_member(root, Hlc::at(T0 + 1), agent(1), Role::Member)
            .unwrap(),
    );
    let refused = space.set_member(agent(1), Hlc::at(T0 + 2), agent(2), Role::Member);
    assert_eq!(refused, Err(knack_crdt::CrdtError::NotAdmin(agent(1))));
    space.apply(
        &space
            .set_member(root, Hlc::at(T0 + 3), agent(1), Role::Admin)
            .unwrap(),
    );
    assert_eq!(
        space.set_member(agent(1), Hlc::at(T0 + 4), root, Role::Removed { cutoff: 0 }),
        Err(knack_crdt::CrdtError::RootRole(root))
    );
    // A forged record about the root (crafted, not authored through the API) is inert.
    space.apply(&delta(&record(1, 5, 0, Role::Removed { cutoff: 0 })));
    assert!(space.membership().unwrap().is_admin(&root));
}

#[test]
fn settings_are_admin_only_in_a_members_only_space_and_anyones_in_an_open_one() {
    let (root, member) = (agent(0), agent(1));
    let mut space = Space::with_root(team(), root);
    space.apply(
        &space
            .set_member(root, Hlc::at(T0 + 1), member, Role::Member)
            .unwrap(),
    );
    let mine = SpaceSettings {
        contagion_hops: 2,
        ..SpaceSettings::default()
    };
    space.apply(
        &space
            .update_settings(root, Hlc::at(T0 + 2), mine.clone())
            .unwrap(),
    );
    assert_eq!(space.settings(), &mine);
    // The member cannot author settings, and a crafted register of its own changes nothing,
    // although it is stamped later.
    assert_eq!(
        space.update_settings(member, Hlc::at(T0 + 3), SpaceSettings::default()),
        Err(knack_crdt::CrdtError::NotAdmin(member))
    );
    let theirs = SpaceSettings {
        contagion_hops: 5,
        ..SpaceSettings::default()
    };
    let forged = Delta::new(vec![Change::Settings {
        value: knack_crdt::Lww::new(Stamp::new(member, Hlc::at(T0 + 4)), theirs.clone()),
    }]);
    space.apply(&forged);
    assert_eq!(space.settings(), &mine);
    // Promoted to admin, its (later) register becomes the effective one.
    space.apply(
        &space
            .set_member(root, Hlc::at(T0 + 5), member, Role::Admin)
            .unwrap(),
    );
    assert_eq!(space.settings(), &theirs);
    // The same records in an open space: the latest author's settings win (no admins).
    let mut open = Space::new(team());
    open.apply(&space.to_delta());
    assert_eq!(open.settings(), &theirs);
}

/// Realistic size: 2,000 members added and half removed by 5 admins, in two orders.
#[test]
fn a_large_membership_converges_in_any_order() {
    let root = agent(0);
    let mut recs = Vec::new();
    for i in 1..=4u8 {
        recs.push(record(0, u64::from(i), i, Role::Admin));
    }
    for n in 0..2_000u32 {
        let mut id = [0u8; 32];
        id[..4].copy_from_slice(&n.to_le_bytes());
        id[31] = 0xee;
        let member = AgentId(id);
        let by = agent((n % 5) as u8);
        recs.push(MemberRecord {
            stamp: Stamp::new(by, Hlc::at(T0 + 10 + u64::from(n))),
            member,
            role: Role::Member,
        });
        if n % 2 == 0 {
            recs.push(MemberRecord {
                stamp: Stamp::new(by, Hlc::at(T0 + 5_000 + u64::from(n))),
                member,
                role: Role::Removed {
                    cutoff: u64::from(n),
                },
            });
        }
    }
    let a = replica(&recs);
    let mut rev = recs.clone();
    rev.reverse();
    let b = replica(&rev);
    assert_eq!(a.digest(), b.digest());
    let m = a.membership().unwrap();
    assert_eq!(m.roles().filter(|(_, r)| *r == Role::Member).count(), 1_000);
    assert_eq!(m.roles().filter(|(a, _)| m.is_admin(a)).count(), 5);
    assert!(m.is_admin(&root));
}
