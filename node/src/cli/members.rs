//! `knack space` and `knack members`: spaces joined at runtime and members-only spaces.

use std::io::Write;
use std::path::Path;

use super::client::Client;
use super::commands::{emit, encode, path};
use super::{MembersCommand, SpaceCommand};
use knack_node::members::{AddMemberRequest, JoinRequest, MembersView, SpaceView};

/// Runs a `knack space` command.
pub(super) fn space(dir: &Path, out: &mut impl Write, command: SpaceCommand) -> anyhow::Result<()> {
    let client = Client::from_dir(dir)?;
    match command {
        SpaceCommand::Create(a) => {
            let request = JoinRequest {
                name: a.name,
                members_only: a.members_only,
                root: None,
            };
            let view: SpaceView = client.post("/v1/spaces", &request)?;
            emit(out, a.json.json, &view, |o| writeln!(o, "{}", view.join))?;
        }
        SpaceCommand::Join(a) => {
            let request = JoinRequest {
                name: a.space,
                ..JoinRequest::default()
            };
            let view: SpaceView = client.post("/v1/spaces", &request)?;
            emit(out, a.json.json, &view, |o| {
                writeln!(o, "joined {} (this node: {})", view.join, view.role)
            })?;
        }
        SpaceCommand::List(a) => {
            let views: Vec<SpaceView> = client.get("/v1/spaces")?;
            emit(out, a.json, &views, |o| {
                for v in &views {
                    writeln!(
                        o,
                        "{:<24} {:<12} {:>8} procedures {:>10} ops  {}",
                        v.name,
                        if v.members_only {
                            v.role.as_str()
                        } else {
                            "open"
                        },
                        v.procedures,
                        v.ops,
                        v.join
                    )?;
                }
                Ok(())
            })?;
        }
    }
    Ok(())
}

/// Runs a `knack members` command.
pub(super) fn members(
    dir: &Path,
    out: &mut impl Write,
    command: MembersCommand,
) -> anyhow::Result<()> {
    let client = Client::from_dir(dir)?;
    let (view, json): (MembersView, bool) = match command {
        MembersCommand::Add(a) => {
            let request = AddMemberRequest {
                peer_id: a.peer_id,
                admin: a.admin,
            };
            (
                client.post(&path(&a.space, "members"), &request)?,
                a.json.json,
            )
        }
        MembersCommand::Remove(a) => {
            if a.admin {
                anyhow::bail!("--admin applies to `knack members add` only");
            }
            let route = path(&a.space, &format!("members/{}", encode(&a.peer_id)));
            (client.delete(&route)?, a.json.json)
        }
        MembersCommand::List(a) => (client.get(&path(&a.space, "members"))?, a.json.json),
    };
    emit(out, json, &view, |o| {
        writeln!(o, "{} (root {})", view.space, view.root)?;
        for m in &view.members {
            let cutoff = m
                .cutoff
                .map(|c| format!(" (ops up to {c} kept)"))
                .unwrap_or_default();
            writeln!(o, "  {} {}{cutoff}", m.peer_id, m.role)?;
        }
        Ok(())
    })?;
    Ok(())
}
