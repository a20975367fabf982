//! The MCP tools: their names, the descriptions that teach an agent the loop (find, get, use,
//! record), and what each asks the node's API.

use axum::http::Method;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use rmcp::handler::server::common::schema_for_type;
use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::args::{AddArgs, EditArgs, GetArgs, LinkArgs, OutcomeArgs, SearchArgs, TopArgs};
use super::backend::{Answer, Backend, CallError};

/// `knack_search`.
pub const SEARCH: &str = "knack_search";
/// `knack_get`.
pub const GET: &str = "knack_get";
/// `knack_record_outcome`.
pub const RECORD_OUTCOME: &str = "knack_record_outcome";
/// `knack_add`.
pub const ADD: &str = "knack_add";
/// `knack_edit`.
pub const EDIT: &str = "knack_edit";
/// `knack_link`.
pub const LINK: &str = "knack_link";
/// `knack_top`.
pub const TOP: &str = "knack_top";

/// Rows `knack_search` returns when not told.
const DEFAULT_SEARCH_ROWS: usize = 5;
/// Largest body `knack_get` returns as text, in bytes.
const MAX_BODY_TEXT: u64 = 1024 * 1024;

/// What the server tells a client about using it (MCP `instructions`).
pub const INSTRUCTIONS: &str = "knack is a shared procedural memory: procedures (steps, \
scripts, prompts, tool recipes) ranked by the outcomes every agent recorded. The loop: \
1) knack_search with the task in your own words (and your context) to find candidates; \
2) knack_get the best one to read its body; 3) follow it; 4) knack_record_outcome with \
success true or false, always, even when it failed: that is how the ranking learns. When \
nothing fits, solve the task yourself and knack_add what worked. knack_top lists the proven \
ones; crystallized (proven) procedures are also resources.";

/// Every tool, with its description and input schema.
pub fn list() -> Vec<Tool> {
    let read_only = || ToolAnnotations::new().read_only(true).destructive(false);
    let write = || ToolAnnotations::new().read_only(false).destructive(false);
    vec![
        Tool::new(
            SEARCH,
            "Find a procedure for a task. Step 1 of the loop: describe the task in your own \
             words (paste error messages verbatim) and give your context; results are ranked \
             by meaning, words and evidence (success rate, crystallization), each with an \
             `explain` of why. Take the first result's `id` to knack_get. Required: `query`.",
            schema_for_type::<SearchArgs>(),
        )
        .annotate(read_only()),
        Tool::new(
            GET,
            "Get one procedure with its body (the steps, script or prompt to follow) and its \
             record (successes, failures, score, contexts, relations). Step 2 of the loop. \
             Required: `id`.",
            schema_for_type::<GetArgs>(),
        )
        .annotate(read_only()),
        Tool::new(
            RECORD_OUTCOME,
            "Record that you used a procedure and whether it worked. Step 4 of the loop: \
             always record, failures too, with the context you searched with; every agent's \
             ranking learns from it. Returns the procedure's new record. Required: `id`, \
             `success`.",
            schema_for_type::<OutcomeArgs>(),
        )
        .annotate(write()),
        Tool::new(
            ADD,
            "Save a new procedure: when no search result fit and you solved the task another \
             way, write down how (name, when to use it, the body), then record its outcome. \
             Returns its `id`. Required: `name`.",
            schema_for_type::<AddArgs>(),
        )
        .annotate(write()),
        Tool::new(
            EDIT,
            "Edit a procedure: rename, describe, retag, or give a new body (a new version; \
             crystallized procedures keep theirs). Required: `id`.",
            schema_for_type::<EditArgs>(),
        )
        .annotate(write()),
        Tool::new(
            LINK,
            "Link two procedures (`similar`, `context`, `next`, `depends`, `supersedes`): \
             evidence for one lifts similar and context neighbours. Required: `from`, `to`, \
             `kind`.",
            schema_for_type::<LinkArgs>(),
        )
        .annotate(write()),
        Tool::new(
            TOP,
            "List the best procedures, optionally by tag, kind or context, or only the \
             crystallized (proven) ones. No property is required.",
            schema_for_type::<TopArgs>(),
        )
        .annotate(read_only()),
    ]
}

/// Runs tool `name` with `arguments`; `None` when there is no such tool.
pub async fn call(
    backend: &Backend,
    name: &str,
    arguments: JsonObject,
) -> Option<Result<Value, CallError>> {
    let result = match name {
        SEARCH => search(backend, parse(arguments)).await,
        GET => get(backend, parse(arguments)).await,
        RECORD_OUTCOME => outcome(backend, parse(arguments)).await,
        ADD => add(backend, parse(arguments)).await,
        EDIT => edit(backend, parse(arguments)).await,
        LINK => link(backend, parse(arguments)).await,
        TOP => top(backend, parse(arguments)).await,
        _ => return None,
    };
    Some(result)
}

fn parse<T: DeserializeOwned>(arguments: JsonObject) -> Result<T, CallError> {
    serde_json::from_value(Value::Object(arguments))
        .map_err(|e| CallError::bad_request(format!("invalid arguments: {e}")))
}

/// A path segment, percent-encoded.
fn seg(text: &str) -> String {
    utf8_percent_encode(text, NON_ALPHANUMERIC).to_string()
}

/// `/v1/spaces/{space}/{rest}`.
fn space_path(space: &str, rest: &str) -> String {
    format!("/v1/spaces/{}/{rest}", seg(space))
}

fn query(pairs: &[(&str, Option<String>)]) -> String {
    let present: Vec<(&str, &str)> = pairs
        .iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| (*k, v)))
        .collect();
    serde_urlencoded::to_string(present).unwrap_or_default()
}

/// Wraps a ranking (an array) as an object: structured tool results are objects.
fn rows(value: Value) -> Value {
    json!({ "results": value })
}

async fn search(
    backend: &Backend,
    args: Result<SearchArgs, CallError>,
) -> Result<Value, CallError> {
    let args = args?;
    let q = query(&[
        ("q", Some(args.query)),
        ("n", Some(args.n.unwrap_or(DEFAULT_SEARCH_ROWS).to_string())),
        ("context", args.context),
        ("explain", Some(args.explain.to_string())),
        ("explore", args.explore.map(|e| e.as_str().to_owned())),
    ]);
    let path = format!("{}?{q}", space_path(&args.space, "search"));
    backend.get(&path).await.map(rows)
}

async fn get(backend: &Backend, args: Result<GetArgs, CallError>) -> Result<Value, CallError> {
    let args = args?;
    let path = space_path(&args.space, &format!("procedures/{}", seg(&args.id)));
    let mut view = backend.get(&path).await?;
    // A body that is not inline UTF-8 text (a large one in the blob store): read it, as text
    // when it is text and not too large.
    let body = view.get("body").filter(|b| !b.is_null());
    let needs_text = body.is_some_and(|b| b.get("text").is_none_or(Value::is_null));
    let size = body
        .and_then(|b| b.get("size"))
        .and_then(Value::as_u64)
        .unwrap_or(0);
    if needs_text
        && size <= MAX_BODY_TEXT
        && let Answer::Bytes(bytes) = backend
            .call(Method::GET, &format!("{path}/body"), None)
            .await?
        && let Ok(text) = String::from_utf8(bytes)
        && let Some(body) = view.get_mut("body")
    {
        body["text"] = Value::String(text);
    }
    Ok(view)
}

async fn outcome(
    backend: &Backend,
    args: Result<OutcomeArgs, CallError>,
) -> Result<Value, CallError> {
    let args = args?;
    let path = space_path(
        &args.space,
        &format!("procedures/{}/outcomes", seg(&args.id)),
    );
    let body = json!({
        "success": args.success,
        "duration_ms": args.duration_ms,
        "contexts": args.contexts,
    });
    backend.json(Method::POST, &path, Some(body)).await
}

async fn add(backend: &Backend, args: Result<AddArgs, CallError>) -> Result<Value, CallError> {
    let args = args?;
    let body = json!({
        "name": args.name,
        "description": args.description,
        "tags": args.tags,
        "kind": args.kind,
        "body": args.body,
    });
    backend
        .json(
            Method::POST,
            &space_path(&args.space, "procedures"),
            Some(body),
        )
        .await
}

async fn edit(backend: &Backend, args: Result<EditArgs, CallError>) -> Result<Value, CallError> {
    let args = args?;
    let body = json!({
        "name": args.name,
        "description": args.description,
        "kind": args.kind,
        "add_tags": args.add_tags,
        "remove_tags": args.remove_tags,
        "body": args.body,
    });
    let path = space_path(&args.space, &format!("procedures/{}", seg(&args.id)));
    backend.json(Method::PATCH, &path, Some(body)).await
}

async fn link(backend: &Backend, args: Result<LinkArgs, CallError>) -> Result<Value, CallError> {
    let args = args?;
    let kind = serde_json::to_value(args.kind).unwrap_or(Value::Null);
    let body = json!({
        "from": args.from,
        "to": args.to,
        "kind": kind,
        "strength": args.strength,
        "remove": args.remove,
    });
    backend
        .json(Method::POST, &space_path(&args.space, "links"), Some(body))
        .await
}

async fn top(backend: &Backend, args: Result<TopArgs, CallError>) -> Result<Value, CallError> {
    let args = args?;
    let q = query(&[
        ("n", args.n.map(|n| n.to_string())),
        ("tag", args.tag),
        ("context", args.context),
        ("kind", args.kind),
        ("crystallized", args.crystallized.then(|| "true".to_owned())),
        ("explore", args.explore.map(|e| e.as_str().to_owned())),
    ]);
    let path = format!("{}?{q}", space_path(&args.space, "top"));
    backend.get(&path).await.map(rows)
}
