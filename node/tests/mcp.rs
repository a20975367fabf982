//! The MCP server end to end, speaking raw JSON-RPC to the real `knack` binary: `knack mcp` over
//! stdio (to a running node, and with an embedded node when none runs) and `/mcp` over
//! streamable HTTP. The Python `mcp` SDK drives the same server in `clients/python/tests`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use common::{TestNode, knack_bin, wait_converged, wait_for};
use serde_json::{Value, json};

/// `knack mcp` as a child process, spoken to in newline-delimited JSON-RPC.
struct McpStdio {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    next_id: u64,
}

impl McpStdio {
    /// Starts `knack --dir DIR mcp` and completes the MCP handshake.
    fn start(node: &TestNode) -> McpStdio {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(node.dir.join("mcp.log"))
            .unwrap();
        let mut child = Command::new(knack_bin())
            .args(["--dir", node.dir.to_str().unwrap(), "mcp"])
            .env("RUST_LOG", "info,libp2p=warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut mcp = McpStdio {
            child,
            stdin,
            stdout,
            next_id: 1,
        };
        let init = mcp.request(
            "initialize",
            json!({
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "knack-tests", "version": "0"}
            }),
        );
        assert_eq!(init["result"]["serverInfo"]["name"], "knack", "{init}");
        assert!(
            init["result"]["instructions"]
                .as_str()
                .unwrap()
                .contains("knack_record_outcome")
        );
        mcp.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        mcp
    }

    fn send(&mut self, message: &Value) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{message}").unwrap();
        stdin.flush().unwrap();
    }

    /// Sends a request; returns the whole JSON-RPC answer.
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let mut line = String::new();
            let n = self.stdout.read_line(&mut line).unwrap();
            assert!(n > 0, "knack mcp closed stdout");
            let message: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("not JSON-RPC on stdout ({e}): {line}"));
            if message["id"] == id {
                return message;
            }
        }
    }

    /// Calls a tool; returns its result (`isError`, `structuredContent`, `content`).
    fn tool(&mut self, name: &str, arguments: Value) -> Value {
        let answer = self.request("tools/call", json!({"name": name, "arguments": arguments}));
        answer["result"].clone()
    }

    /// Closes stdin and waits for the process to exit.
    fn close(mut self) -> std::process::ExitStatus {
        drop(self.stdin.take());
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child.kill().unwrap();
        panic!("knack mcp did not exit when its stdin closed");
    }
}

fn ok(result: &Value) -> &Value {
    assert_eq!(result["isError"], false, "tool failed: {result}");
    &result["structuredContent"]
}

#[test]
fn tools_find_get_and_record_against_a_running_node_and_bad_arguments_change_nothing() {
    let node = TestNode::start("mcp-stdio", &[]);
    let (code, _) = node.call(
        "POST",
        "/v1/spaces/default/procedures",
        Some(json!({
            "name": "free disk space on the CI runner",
            "description": "ENOSPC: no space left on device during the build",
            "tags": ["ci"],
            "body": "docker system prune -af"
        })),
    );
    assert_eq!(code, 201);
    node.add("restart the pod", &["k8s"]);
    let mut mcp = McpStdio::start(&node);

    // Every tool is listed with a description and a schema whose required properties exist
    // and are documented as required.
    let tools = mcp.request("tools/list", json!({}))["result"]["tools"].clone();
    let names: Vec<&str> = tools
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    for expected in [
        "knack_search",
        "knack_get",
        "knack_record_outcome",
        "knack_add",
        "knack_edit",
        "knack_link",
        "knack_top",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    for tool in tools.as_array().unwrap() {
        let schema = &tool["inputSchema"];
        assert_eq!(schema["type"], "object", "{tool}");
        assert!(tool["description"].as_str().unwrap().len() > 40, "{tool}");
        for required in schema["required"].as_array().into_iter().flatten() {
            let property = &schema["properties"][required.as_str().unwrap()];
            let description = property["description"].as_str().unwrap_or_default();
            assert!(
                description.starts_with("Required."),
                "{}: required property {required} is not documented as such: {property}",
                tool["name"]
            );
        }
    }

    // The loop: search -> get -> record outcome.
    let found = mcp.tool(
        "knack_search",
        json!({"query": "no space left on device", "context": "ci"}),
    );
    let first = &ok(&found)["results"][0];
    assert_eq!(first["name"], "free disk space on the CI runner");
    assert!(first["explain"].is_object(), "search explains by default");
    let id = first["id"].as_str().unwrap().to_owned();
    let got = mcp.tool("knack_get", json!({"id": id}));
    assert_eq!(ok(&got)["body"]["text"], "docker system prune -af");
    let recorded = mcp.tool(
        "knack_record_outcome",
        json!({"id": id, "success": true, "duration_ms": 1200, "contexts": ["ci"]}),
    );
    assert_eq!(ok(&recorded)["successes"], 1);
    let shown = node.show(&id);
    assert_eq!(shown["successes"], 1);
    assert_eq!(shown["contexts"]["ci"]["successes"], 1);
    let ops = node.ops();

    // Bad arguments: tool errors with knack's error kind, and nothing changes.
    let cases = [
        (
            "knack_record_outcome",
            json!({"id": id, "success": "yes"}),
            "bad_request",
        ),
        ("knack_record_outcome", json!({"id": id}), "bad_request"),
        (
            "knack_record_outcome",
            json!({"id": id, "success": true, "surprise": 1}),
            "bad_request",
        ),
        (
            "knack_record_outcome",
            json!({"id": "00".repeat(32), "success": true}),
            "unknown_procedure",
        ),
        (
            "knack_record_outcome",
            json!({"id": "not-hex", "success": true}),
            "bad_request",
        ),
        (
            "knack_link",
            json!({"from": id, "to": id, "kind": "friends"}),
            "bad_request",
        ),
        (
            "knack_add",
            json!({"name": "x", "space": "Not A Space"}),
            "bad_request",
        ),
        ("knack_search", json!({"query": ""}), "bad_query"),
    ];
    for (tool, arguments, kind) in cases {
        let result = mcp.tool(tool, arguments.clone());
        assert_eq!(result["isError"], true, "{tool} {arguments}: {result}");
        assert_eq!(
            result["structuredContent"]["kind"], kind,
            "{tool} {arguments}: {result}"
        );
        assert!(
            result["content"][0]["text"]
                .as_str()
                .unwrap()
                .contains(kind)
        );
    }
    assert_eq!(node.ops(), ops, "a refused call changed the replica");
    assert_eq!(node.show(&id)["successes"], 1);

    // An unknown tool is a protocol error.
    let answer = mcp.request(
        "tools/call",
        json!({"name": "no_such_tool", "arguments": {}}),
    );
    assert!(answer["error"].is_object(), "{answer}");

    // Save (add, then edit), link and top.
    let added = mcp.tool(
        "knack_add",
        json!({"name": "docker builder prune", "description": "ENOSPC in docker builds",
               "tags": ["ci"], "kind": "script", "body": "docker builder prune -af"}),
    );
    let new_id = ok(&added)["id"].as_str().unwrap().to_owned();
    ok(&mcp.tool("knack_edit", json!({"id": new_id, "add_tags": ["docker"]})));
    ok(&mcp.tool(
        "knack_link",
        json!({"from": new_id, "to": id, "kind": "similar", "strength": 0.9}),
    ));
    let shown = node.show(&new_id);
    assert!(shown["tags"].as_array().unwrap().contains(&json!("docker")));
    let top = mcp.tool("knack_top", json!({"tag": "ci", "n": 5}));
    let rows = ok(&top)["results"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["id"], id.as_str(), "the proven one ranks first");
    assert!(mcp.close().success());
}

#[test]
fn stdio_starts_an_embedded_node_when_none_runs() {
    let mut node = TestNode::init("mcp-embedded", &[]);
    let mut mcp = McpStdio::start(&node);
    let added = mcp.tool(
        "knack_add",
        json!({"name": "rotate the TLS certificate", "body": "certbot renew"}),
    );
    let id = ok(&added)["id"].as_str().unwrap().to_owned();
    ok(&mcp.tool("knack_record_outcome", json!({"id": id, "success": true})));
    // The embedded node serves its HTTP API too: the CLI works beside it.
    let (cli_ok, out, err) = node.cli(&["show", &id, "--json"]);
    assert!(cli_ok, "{err}");
    let shown: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(shown["successes"], 1);
    assert!(mcp.close().success());
    assert!(
        !node.dir.join("api.addr").exists(),
        "api.addr left behind by the embedded node"
    );

    // What it recorded is durable: a node started on the same directory has it.
    node.launch();
    assert_eq!(node.show(&id)["successes"], 1);
    assert_eq!(node.show(&id)["body"]["text"], "certbot renew");
}

#[test]
fn crystallized_procedures_are_resources() {
    let a = TestNode::start("mcp-a", &[]);
    let b = TestNode::start("mcp-b", &[a.multiaddr()]);
    let p = a.add("drain the node before upgrading", &["k8s"]);
    let q = a.add("cordon the node", &["k8s"]);
    wait_converged(&[&a, &b], 2, Duration::from_secs(60));
    for _ in 0..18 {
        a.outcome(&p, true);
        b.outcome(&p, true);
    }
    wait_for(Duration::from_secs(60), || {
        (a.show(&p)["crystallized"] == true).then_some(())
    })
    .expect("not crystallized");

    let mut mcp = McpStdio::start(&a);
    let listed = mcp.request("resources/list", json!({}));
    let resources = listed["result"]["resources"].as_array().unwrap().clone();
    let uri = format!("knack://procedures/default/{p}");
    assert_eq!(resources.len(), 1, "only the crystallized one: {listed}");
    assert_eq!(resources[0]["uri"], uri.as_str());
    assert_eq!(resources[0]["name"], "drain the node before upgrading");
    let read = mcp.request("resources/read", json!({"uri": uri}));
    let text = read["result"]["contents"][0]["text"].as_str().unwrap();
    let view: Value = serde_json::from_str(text).unwrap();
    assert_eq!(view["id"], p.as_str());
    assert_eq!(view["crystallized"], true);
    // Any procedure can be read by the template's URI; an unknown one is an error.
    let read = mcp.request(
        "resources/read",
        json!({"uri": format!("knack://procedures/default/{q}")}),
    );
    assert!(read["result"]["contents"][0]["text"].is_string(), "{read}");
    let missing = mcp.request(
        "resources/read",
        json!({"uri": format!("knack://procedures/default/{}", "00".repeat(32))}),
    );
    assert!(missing["error"].is_object(), "{missing}");
    assert!(mcp.close().success());
}

/// One JSON-RPC message over streamable HTTP; returns (status, session id, answer).
fn post_mcp(
    node: &TestNode,
    token: Option<&str>,
    session: Option<&str>,
    message: &Value,
) -> (u16, Option<String>, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut request = agent
        .post(format!("{}/mcp", node.api))
        .header("Content-Type", "application/json")
        .header("Accept", "application/json, text/event-stream");
    if let Some(token) = token {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    if let Some(session) = session {
        request = request
            .header("Mcp-Session-Id", session)
            .header("Mcp-Protocol-Version", "2025-06-18");
    }
    let mut response = request.send(message.to_string()).unwrap();
    let status = response.status().as_u16();
    let session = response
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = response.body_mut().read_to_string().unwrap_or_default();
    // A JSON body, or an event stream whose `data:` lines carry the messages.
    let answer = serde_json::from_str(&text).unwrap_or_else(|_| {
        text.lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
            .find(|m| m.get("id") == message.get("id"))
            .unwrap_or(Value::Null)
    });
    (status, session, answer)
}

#[test]
fn streamable_http_needs_the_token_and_serves_the_tools() {
    let node = TestNode::start("mcp-http", &[]);
    let id = node.add("restart the pod", &["k8s"]);
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "knack-tests", "version": "0"}}});
    let (status, _, answer) = post_mcp(&node, None, None, &initialize);
    assert_eq!(status, 401, "{answer}");
    assert_eq!(answer["kind"], "unauthorized");
    let (status, _, _) = post_mcp(&node, Some("wrong"), None, &initialize);
    assert_eq!(status, 401);

    let (status, session, answer) = post_mcp(&node, Some(&node.token), None, &initialize);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["result"]["serverInfo"]["name"], "knack");
    let session = session.expect("a session id");
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let (status, _, _) = post_mcp(&node, Some(&node.token), Some(&session), &initialized);
    assert_eq!(status, 202);
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": "knack_record_outcome", "arguments": {"id": id, "success": true}}});
    let (status, _, answer) = post_mcp(&node, Some(&node.token), Some(&session), &call);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["result"]["isError"], false, "{answer}");
    assert_eq!(node.show(&id)["successes"], 1);
    let bad = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
        "name": "knack_get", "arguments": {"id": "00".repeat(32)}}});
    let (_, _, answer) = post_mcp(&node, Some(&node.token), Some(&session), &bad);
    assert_eq!(answer["result"]["isError"], true, "{answer}");
    assert_eq!(
        answer["result"]["structuredContent"]["kind"],
        "unknown_procedure"
    );
    assert_eq!(answer["result"]["structuredContent"]["status"], 404);
}
