//! What each command does.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use base64::Engine;
use serde::Serialize;

use super::client::Client;
use super::{Cli, Command, print};
use knack_node::api::requests::{
    AddRequest, BlobRef, EditRequest, IdResponse, LinkRequest, OutcomeRequest, PinRequest,
    PinResponse,
};
use knack_node::status::{PeerView, StatusView};
use knack_node::views::{CheckpointView, ProcedureView, RankedView};

/// Runs a parsed command line.
pub(crate) fn execute(cli: Cli) -> anyhow::Result<ExitCode> {
    let dir = knack_node::dirs::resolve(cli.dir);
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Init(args) => {
            // The swarm key first: a refused key file leaves the data directory untouched.
            let swarm_key = match &args.swarm_key {
                Some(path) => Some(knack_node::swarm_key::generate(path, args.force)?),
                None => None,
            };
            knack_node::dirs::init(&dir)?;
            let key = knack_node::identity::load(&dir)?;
            writeln!(out, "initialised {}", dir.display())?;
            writeln!(out, "peer id {}", key.public().to_peer_id())?;
            if let (Some(path), Some(psk)) = (&args.swarm_key, swarm_key) {
                writeln!(
                    out,
                    "swarm key {} written (fingerprint {}): copy it to every node of the \
                     private network and run them with `knack run --swarm-key FILE`",
                    path.display(),
                    knack_node::swarm_key::fingerprint(&psk)
                )?;
            }
        }
        Command::Repair => {
            if let Ok(addr) = std::fs::read_to_string(dir.join(knack_node::dirs::API_ADDR_FILE))
                && std::net::TcpStream::connect(addr.trim()).is_ok()
            {
                anyhow::bail!(
                    "a node is running on {} (API {}): stop it first",
                    dir.display(),
                    addr.trim()
                );
            }
            match knack_node::store::integrity::repair(&dir)? {
                Some(aside) => writeln!(
                    out,
                    "moved the store to {}; `knack run` starts with an empty store and \
                     re-syncs from its peers (bootstrap it to one that holds this space); it \
                     writes nothing until it has its own ops back",
                    aside.display()
                )?,
                None => writeln!(out, "no store in {}: nothing to move", dir.display())?,
            }
        }
        Command::Run(args) => {
            drop(out);
            return crate::daemon::run(&dir, args);
        }
        Command::Mcp => {
            drop(out);
            return super::mcp_stdio::run(&dir);
        }
        Command::Add(a) => {
            let client = Client::from_dir(&dir)?;
            let (body, body_base64, body_blob) = read_body(&client, a.body)?;
            let request = AddRequest {
                name: a.name,
                description: a.description,
                tags: a.tags,
                kind: a.kind,
                body,
                body_base64,
                body_blob,
            };
            let id: IdResponse = client.post(&path(&a.space.space, "procedures"), &request)?;
            emit(&mut out, a.json.json, &id, |o| writeln!(o, "{}", id.id))?;
        }
        Command::Edit(a) => {
            let client = Client::from_dir(&dir)?;
            let (body, body_base64, body_blob) = read_body(&client, a.body)?;
            let request = EditRequest {
                name: a.name,
                description: a.description,
                kind: a.kind,
                add_tags: a.add_tags,
                remove_tags: a.remove_tags,
                body,
                body_base64,
                body_blob,
            };
            let id: IdResponse = client.patch(
                &path(&a.space.space, &format!("procedures/{}", a.id)),
                &request,
            )?;
            emit(&mut out, a.json.json, &id, |o| {
                writeln!(o, "edited {}", id.id)
            })?;
        }
        Command::Outcome(a) => {
            let client = Client::from_dir(&dir)?;
            let request = OutcomeRequest {
                success: a.success && !a.failure,
                duration_ms: a.duration_ms,
                contexts: a.contexts,
            };
            let p: ProcedureView = client.post(
                &path(&a.space.space, &format!("procedures/{}/outcomes", a.id)),
                &request,
            )?;
            emit(&mut out, a.json.json, &p, |o| {
                writeln!(
                    o,
                    "{}: {} successes, {} failures, score {:.3}{}",
                    crate::cli::print::clean(&p.name, false),
                    p.successes,
                    p.failures,
                    p.score,
                    if p.crystallized {
                        " [crystallized]"
                    } else {
                        ""
                    }
                )
            })?;
        }
        Command::Link(a) => {
            let client = Client::from_dir(&dir)?;
            let request = LinkRequest {
                from: a.from,
                to: a.to,
                kind: a.kind,
                strength: Some(a.strength),
                remove: a.remove,
            };
            let answer: serde_json::Value =
                client.post(&path(&a.space.space, "links"), &request)?;
            emit(&mut out, a.json.json, &answer, |o| writeln!(o, "ok"))?;
        }
        Command::Show(a) if a.body || a.body_out.is_some() => {
            let client = Client::from_dir(&dir)?;
            let route = path(&a.space.space, &format!("procedures/{}/body", a.id));
            match &a.body_out {
                Some(file) => {
                    let written = client.download_to_file(&route, file)?;
                    if a.json.json {
                        let answer = serde_json::json!({"path": file, "bytes": written});
                        writeln!(out, "{answer}")?;
                    } else {
                        writeln!(out, "wrote {written} bytes to {}", file.display())?;
                    }
                }
                None => {
                    client.download(&route, &mut out)?;
                    out.flush()?;
                }
            }
        }
        Command::Show(a) => {
            let client = Client::from_dir(&dir)?;
            let p: ProcedureView =
                client.get(&path(&a.space.space, &format!("procedures/{}", a.id)))?;
            emit(&mut out, a.json.json, &p, |o| print::procedure(o, &p))?;
        }
        Command::Top(a) => {
            let client = Client::from_dir(&dir)?;
            let mut query = format!("top?n={}", a.n);
            for (key, value) in [
                ("tag", &a.tag),
                ("context", &a.context),
                ("kind", &a.kind),
                ("explore", &a.explore),
            ] {
                if let Some(value) = value {
                    query.push_str(&format!("&{key}={}", encode(value)));
                }
            }
            if a.crystallized {
                query.push_str("&crystallized=true");
            }
            let rows: Vec<RankedView> = client.get(&path(&a.space.space, &query))?;
            emit(&mut out, a.json.json, &rows, |o| print::ranking(o, &rows))?;
        }
        Command::Search(a) => {
            let client = Client::from_dir(&dir)?;
            let mut query = format!("search?q={}&n={}", encode(&a.query), a.n);
            if let Some(context) = &a.context {
                query.push_str(&format!("&context={}", encode(context)));
            }
            if a.explain {
                query.push_str("&explain=true");
            }
            if let Some(policy) = &a.explore {
                query.push_str(&format!("&explore={}", encode(policy)));
            }
            let rows: Vec<RankedView> = client.get(&path(&a.space.space, &query))?;
            emit(&mut out, a.json.json, &rows, |o| print::ranking(o, &rows))?;
        }
        Command::Similar(a) => {
            let client = Client::from_dir(&dir)?;
            let route = format!("procedures/{}/similar?n={}", a.id, a.n);
            let rows: Vec<RankedView> = client.get(&path(&a.space.space, &route))?;
            emit(&mut out, a.json.json, &rows, |o| print::ranking(o, &rows))?;
        }
        Command::Tail(a) => {
            let client = Client::from_dir(&dir)?;
            client.events(|data| {
                if a.json {
                    writeln!(out, "{data}")?;
                } else {
                    let event: serde_json::Value = serde_json::from_str(data)?;
                    writeln!(out, "{}", human_event(&event))?;
                }
                out.flush()?;
                Ok(true)
            })?;
        }
        Command::Peers(a) => {
            let client = Client::from_dir(&dir)?;
            let peers: Vec<PeerView> = client.get("/v1/peers")?;
            emit(&mut out, a.json, &peers, |o| print::peers(o, &peers))?;
        }
        Command::Pin(a) => {
            let client = Client::from_dir(&dir)?;
            let request = PinRequest { cid: a.cid };
            let answer: PinResponse = client.post(
                &path(&a.space.space, &format!("procedures/{}/pin", a.id)),
                &request,
            )?;
            emit(&mut out, a.json.json, &answer, |o| match &answer.cid {
                Some(cid) => writeln!(o, "pinned {} as {cid}", answer.blake3),
                None => writeln!(o, "queued {} for IPFS (see `knack status`)", answer.blake3),
            })?;
        }
        Command::Checkpoint(a) => {
            let client = Client::from_dir(&dir)?;
            let run: CheckpointView =
                client.post(&path(&a.space.space, "checkpoint"), &serde_json::json!({}))?;
            emit(&mut out, a.json.json, &run, |o| {
                if run.envelopes == 0 {
                    writeln!(o, "nothing to checkpoint in {}", run.space)
                } else {
                    writeln!(
                        o,
                        "checkpoint of {}: ops {}..={} restate every earlier op ({} changes, {} \
                         envelopes, {} bytes)",
                        run.space,
                        run.first_seq,
                        run.last_seq,
                        run.changes,
                        run.envelopes,
                        run.bytes
                    )
                }
            })?;
        }
        Command::Space(command) => super::members::space(&dir, &mut out, command)?,
        Command::Members(command) => super::members::members(&dir, &mut out, command)?,
        Command::Settings(a) => super::settings::settings(&dir, &mut out, a)?,
        Command::Status(a) => {
            let client = Client::from_dir(&dir)?;
            let status: StatusView = client.get("/v1/status")?;
            emit(&mut out, a.json, &status, |o| print::status(o, &status))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn path(space: &str, rest: &str) -> String {
    format!("/v1/spaces/{}/{rest}", encode(space))
}

/// Percent-encodes a query or path component.
pub(super) fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Files up to this size travel inside the JSON request; larger ones are uploaded first.
const UPLOAD_ABOVE_BYTES: u64 = 256 * 1024;

/// A body given as text or file: inline as text when it is UTF-8, else as base64; uploaded to
/// the blob store (streamed) and referenced by hash when it is large.
type BodyFields = (Option<String>, Option<String>, Option<BlobRef>);

fn read_body(client: &Client, args: super::BodyArgs) -> anyhow::Result<BodyFields> {
    match (args.body, args.body_file) {
        (Some(text), _) => Ok((Some(text), None, None)),
        (None, Some(file)) => {
            let size = std::fs::metadata(&file)
                .with_context(|| format!("reading {}", file.display()))?
                .len();
            if size > UPLOAD_ABOVE_BYTES {
                return Ok((None, None, Some(client.upload(&file)?)));
            }
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            Ok(match String::from_utf8(bytes) {
                Ok(text) => (Some(text), None, None),
                Err(e) => (
                    None,
                    Some(base64::engine::general_purpose::STANDARD.encode(e.into_bytes())),
                    None,
                ),
            })
        }
        (None, None) => Ok((None, None, None)),
    }
}

/// Prints `value` as JSON or as text.
pub(super) fn emit<T: Serialize, W: Write>(
    out: &mut W,
    json: bool,
    value: &T,
    text: impl FnOnce(&mut W) -> std::io::Result<()>,
) -> anyhow::Result<()> {
    if json {
        serde_json::to_writer(&mut *out, value)?;
        writeln!(out)?;
    } else {
        text(out)?;
    }
    Ok(())
}

fn human_event(event: &serde_json::Value) -> String {
    let kind = event.get("type").and_then(|v| v.as_str()).unwrap_or("?");
    match kind {
        "applied" => format!(
            "{} ops {}..{} by {} in {} ({} procedures){}",
            kind,
            event["first_seq"],
            event["last_seq"],
            event["author"]
                .as_str()
                .map_or("?", |a| &a[..12.min(a.len())]),
            event["space"].as_str().unwrap_or("?"),
            event["procedures"].as_array().map_or(0, Vec::len),
            if event["local"].as_bool() == Some(true) {
                " (local)"
            } else {
                ""
            }
        ),
        _ => event.to_string(),
    }
}
