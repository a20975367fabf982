//! Membership of a members-only space: signed, replicated records, and the effective roles a
//! replica derives from them.
//!
//! A members-only space has a **root**: the agent that created it, a trust anchor every node
//! of the space is configured with (never replicated, so no forged record can replace it).
//! Admins add, promote and remove members by [`MemberRecord`]s, carried in ordinary signed
//! ops as [`crate::Change::Member`]. The records form a grow-only set (join = union).
//!
//! **Effective membership is a pure function of the records and the root**
//! ([`Membership::derive`]): start from `{root: Admin}` and replay the records in stamp order
//! (HLC, then agent, then the record itself); a record takes effect iff its author is an
//! Admin at that point of the replay, and the latest effective record about a member decides
//! its role. Records about the root never take effect: the root stays Admin. So replicas
//! holding the same records agree whatever order they received them in, and concurrent
//! changes resolve by stamp: of an add and a remove of one member, the later stamp wins; of
//! two admins removing each other, the earlier removal takes effect and the later one, whose
//! author is no admin any more at its stamp, does not.
//!
//! An op of author `A` with sequence number `s` is acceptable iff `A` is the root, a Member or
//! an Admin, or Removed with `s <= cutoff` (see [`Membership::accepts`]): a removed member's
//! earlier ops are kept, its later ones rejected. Re-adding a removed member makes all its
//! ops acceptable again, including those it wrote while removed.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::clock::{Hlc, Stamp};
use crate::error::CrdtError;
use crate::ids::AgentId;

/// Most member records one space keeps (admins' records and others' inert ones together).
pub const MAX_MEMBER_RECORDS: usize = 100_000;

/// A member's role in a members-only space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Role {
    /// May write the space and read it.
    Member,
    /// A member that may also add and remove members and change the space's settings.
    Admin,
    /// Removed: its ops up to sequence number `cutoff` are kept, later ones rejected.
    Removed {
        /// The highest sequence number of the member's ops the removing admin's replica had
        /// applied (its version vector's entry) when it removed the member.
        cutoff: u64,
    },
}

impl Role {
    /// The role's name: `member`, `admin` or `removed`.
    pub const fn name(&self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Admin => "admin",
            Role::Removed { .. } => "removed",
        }
    }

    /// Whether the role may write and read the space (Member or Admin).
    pub const fn is_member(&self) -> bool {
        matches!(self, Role::Member | Role::Admin)
    }
}

/// One signed membership change: at `stamp`, its author gave `member` the role `role`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MemberRecord {
    /// When and by whom (the author of the op that carries it).
    pub stamp: Stamp,
    /// The agent whose role changes.
    pub member: AgentId,
    /// Its new role.
    pub role: Role,
}

impl MemberRecord {
    /// Checks a record received from `author` in an op stamped `at`, statelessly: the author
    /// owns the stamp, and the stamp is not later than the op.
    pub fn validate(&self, author: &AgentId, at: Hlc) -> Result<(), CrdtError> {
        if self.stamp.agent != *author {
            return Err(CrdtError::NotOwner { change: "member" });
        }
        if self.stamp.hlc > at {
            return Err(CrdtError::AfterItsOp { change: "member" });
        }
        Ok(())
    }
}

/// The grow-only set of a space's member records (join = union).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberRecords(BTreeSet<MemberRecord>);

impl MemberRecords {
    /// Adds a record; `true` if it was new.
    pub fn insert(&mut self, record: &MemberRecord) -> bool {
        if self.0.contains(record) {
            return false;
        }
        self.0.insert(record.clone())
    }

    /// Joins another set into this one; `true` if anything was new.
    pub fn merge(&mut self, other: &MemberRecords) -> bool {
        let before = self.0.len();
        self.0.extend(other.0.iter().cloned());
        self.0.len() != before
    }

    /// The records in replay order (stamp, then member, then role).
    pub fn iter(&self) -> impl Iterator<Item = &MemberRecord> {
        self.0.iter()
    }

    /// How many records the set holds.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The effective membership of a members-only space (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    root: AgentId,
    roles: BTreeMap<AgentId, Role>,
}

impl Membership {
    /// Replays `records` in stamp order from `{root: Admin}`: a record takes effect iff its
    /// author is an Admin at that point; records about the root never do.
    pub fn derive<'a>(root: AgentId, records: impl IntoIterator<Item = &'a MemberRecord>) -> Self {
        let mut roles = BTreeMap::new();
        roles.insert(root, Role::Admin);
        for record in records {
            if record.member == root {
                continue;
            }
            if roles.get(&record.stamp.agent) == Some(&Role::Admin) {
                roles.insert(record.member, record.role);
            }
        }
        Membership { root, roles }
    }

    /// The root admin (the trust anchor).
    pub fn root(&self) -> AgentId {
        self.root
    }

    /// The role of `agent`, if any record ever gave it one.
    pub fn role(&self, agent: &AgentId) -> Option<Role> {
        self.roles.get(agent).copied()
    }

    /// Whether `agent` is an admin now.
    pub fn is_admin(&self, agent: &AgentId) -> bool {
        self.role(agent) == Some(Role::Admin)
    }

    /// Whether `agent` is a member (or admin) now: who may read the space.
    pub fn is_member(&self, agent: &AgentId) -> bool {
        self.role(agent).is_some_and(|r| r.is_member())
    }

    /// Whether an op of `author` with sequence number `seq` is acceptable: the author is a
    /// member or admin, or was removed after its replica's op `cutoff >= seq`.
    pub fn accepts(&self, author: &AgentId, seq: u64) -> bool {
        match self.role(author) {
            Some(Role::Member | Role::Admin) => true,
            Some(Role::Removed { cutoff }) => seq <= cutoff,
            None => false,
        }
    }

    /// Every agent with a role, in id order (removed ones included).
    pub fn roles(&self) -> impl Iterator<Item = (&AgentId, Role)> {
        self.roles.iter().map(|(a, r)| (a, *r))
    }
}

impl crate::space::Space {
    /// A membership change by `by` at `at`: `member` gets `role`. Refused unless the space is
    /// members-only, `by` is an admin now, and `member` is not the root.
    pub fn set_member(
        &self,
        by: AgentId,
        at: Hlc,
        member: AgentId,
        role: Role,
    ) -> Result<crate::change::Delta, CrdtError> {
        let membership = self.membership().ok_or(CrdtError::OpenSpace)?;
        if !membership.is_admin(&by) {
            return Err(CrdtError::NotAdmin(by));
        }
        if member == membership.root() {
            return Err(CrdtError::RootRole(member));
        }
        Ok(crate::change::Delta::new(vec![
            crate::change::Change::Member {
                record: MemberRecord {
                    stamp: Stamp::new(by, at),
                    member,
                    role,
                },
            },
        ]))
    }
}
