//! Spaces and their members as the HTTP API returns them and the CLI prints them
//! (`knack space`, `knack members`), and the requests that change them.

use serde::{Deserialize, Serialize};

/// A joined space, as `knack space list` and `GET /v1/spaces` show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SpaceView {
    /// The space's name.
    pub name: String,
    /// Whether only members are served it and may write it.
    pub members_only: bool,
    /// The root admin's peer id (members-only spaces).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
    /// What another node passes to `knack space join`: `NAME@ROOT_PEER_ID` for a members-only
    /// space, `NAME` for an open one.
    pub join: String,
    /// This node's role: `admin`, `member`, `removed` or `none` (members-only spaces; `open`
    /// for an open space).
    pub role: String,
    /// The peer id of the author whose settings are in effect (the latest of an admin in a
    /// members-only space); absent while the defaults apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings_by: Option<String>,
    /// Procedures held.
    pub procedures: usize,
    /// Ops held.
    pub ops: u64,
}

/// One member of a members-only space.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MemberView {
    /// Its peer id.
    pub peer_id: String,
    /// `admin`, `member` or `removed`.
    pub role: String,
    /// For a removed member: its ops up to this sequence number are kept, later ones refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cutoff: Option<u64>,
    /// Whether it is the root admin (the trust anchor; its role never changes).
    pub root: bool,
}

/// The effective membership of a members-only space.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MembersView {
    /// The space.
    pub space: String,
    /// The root admin's peer id.
    pub root: String,
    /// Every agent with a role (removed ones included), by peer id.
    pub members: Vec<MemberView>,
    /// Membership records held (effective or not).
    pub records: usize,
}

/// `POST /v1/spaces`: create or join a space.
#[derive(Clone, Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinRequest {
    /// The space's name, or `NAME@ROOT_PEER_ID` to join a members-only space.
    pub name: String,
    /// Create a members-only space with this node as its root admin.
    #[serde(default)]
    pub members_only: bool,
    /// The root admin's peer id of a members-only space to join (same as `NAME@ROOT`).
    #[serde(default)]
    pub root: Option<String>,
}

/// `POST /v1/spaces/{space}/members`: add a member or an admin (or change a member's role).
#[derive(Clone, Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMemberRequest {
    /// The member's peer id.
    pub peer_id: String,
    /// Make it an admin (it may then add and remove members and change settings).
    #[serde(default)]
    pub admin: bool,
}

/// A role change the node is asked to sign.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoleChange {
    /// Make a member.
    Member,
    /// Make an admin.
    Admin,
    /// Remove (its ops up to what this node holds are kept).
    Remove,
}
