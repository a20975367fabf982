//! The OpenAPI description and the router agree: the committed `node/openapi.json` is what the
//! code generates, the node serves it at `/v1/openapi.json`, every route the router declares is
//! described (with its methods), and every described operation reaches a handler of a real node.
//!
//! After changing the API, regenerate the file with
//! `KNACK_UPDATE_OPENAPI=1 cargo test -p knack-node --test openapi`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::TestNode;
use serde_json::Value;

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");
const ROUTER_SOURCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/api.rs");
/// What the router's fallback answers for a path it does not know.
const FALLBACK: &str = "no such route";

/// (path, methods) of every operation in a description.
fn described(doc: &Value) -> BTreeMap<String, BTreeSet<String>> {
    doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .map(|(path, item)| {
            let methods = item
                .as_object()
                .unwrap()
                .keys()
                .filter(|k| ["get", "post", "patch", "put", "delete"].contains(&k.as_str()))
                .map(|k| k.to_uppercase())
                .collect();
            (path.clone(), methods)
        })
        .collect()
}

/// (path, methods) of every `.route(...)` / `.route_service(...)` in the router's source. A
/// `route_service` (the MCP endpoint) answers any method: it is listed with none.
fn declared() -> Vec<(String, BTreeSet<String>)> {
    let source = std::fs::read_to_string(ROUTER_SOURCE).unwrap();
    let mut routes = Vec::new();
    let mut rest = source.as_str();
    while let Some(at) = rest.find(".route") {
        rest = &rest[at + ".route".len()..];
        let is_service = rest.starts_with("_service(");
        if !(rest.starts_with('(') || is_service) {
            continue;
        }
        let open = rest.find('(').unwrap();
        // The call's text, up to its closing parenthesis.
        let mut depth = 0;
        let mut end = open;
        for (i, c) in rest[open..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let call = &rest[open + 1..end];
        let path = call
            .split('"')
            .nth(1)
            .expect("a route path literal")
            .to_owned();
        let methods = if is_service {
            BTreeSet::new()
        } else {
            ["get", "post", "patch", "put", "delete"]
                .into_iter()
                .filter(|m| {
                    call.match_indices(&format!("{m}("))
                        .any(|(i, _)| i == 0 || !call[..i].ends_with(char::is_alphanumeric))
                })
                .map(str::to_uppercase)
                .collect()
        };
        routes.push((path, methods));
        rest = &rest[end..];
    }
    routes
}

#[test]
fn the_committed_description_is_the_generated_one() {
    let generated = knack_node::api::openapi::json();
    if std::env::var_os("KNACK_UPDATE_OPENAPI").is_some() {
        std::fs::write(COMMITTED, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    assert!(
        committed == generated,
        "node/openapi.json is not what the code generates: run \
         `KNACK_UPDATE_OPENAPI=1 cargo test -p knack-node --test openapi` and commit it"
    );
    let doc: Value = serde_json::from_str(&generated).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
}

#[test]
fn every_route_of_the_router_is_described() {
    let doc: Value = serde_json::from_str(&knack_node::api::openapi::json()).unwrap();
    let described = described(&doc);
    let declared = declared();
    assert!(
        declared.len() >= 15,
        "the router's routes were not found in {ROUTER_SOURCE}: {declared:?}"
    );
    for (path, methods) in &declared {
        let full = [path.clone(), format!("/v1{path}")]
            .into_iter()
            .find(|p| described.contains_key(p));
        let Some(full) = full else {
            panic!("route {path} is in the router but not in the OpenAPI description");
        };
        for method in methods {
            assert!(
                described[&full].contains(method),
                "{method} {full} is in the router but not in the OpenAPI description"
            );
        }
    }
}

#[test]
fn every_described_operation_reaches_a_handler_of_a_real_node() {
    let node = TestNode::start("openapi", &[]);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let auth = format!("Bearer {}", node.token);

    // The node serves the committed description.
    let served: Value = agent
        .get(format!("{}/v1/openapi.json", node.api))
        .header("Authorization", &auth)
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    let committed: Value =
        serde_json::from_str(&std::fs::read_to_string(COMMITTED).unwrap()).unwrap();
    assert_eq!(
        served, committed,
        "/v1/openapi.json differs from node/openapi.json"
    );

    let id = "00".repeat(32);
    for (path, methods) in described(&committed) {
        let url = format!(
            "{}{}",
            node.api,
            path.replace("{space}", "default").replace("{id}", &id)
        );
        for method in methods {
            let request = ureq::http::Request::builder()
                .method(method.as_str())
                .uri(&url)
                .header("Authorization", &auth)
                .header("Content-Type", "application/json")
                .header("Accept", "application/json, text/event-stream")
                .body(if method == "GET" || method == "DELETE" {
                    String::new()
                } else {
                    "{}".to_owned()
                })
                .unwrap();
            let mut response = agent.run(request).unwrap();
            let status = response.status().as_u16();
            assert_ne!(
                status, 405,
                "{method} {path}: the router has no such method"
            );
            if status == 404 && !path.ends_with("/events") {
                let text = response.body_mut().read_to_string().unwrap_or_default();
                assert!(
                    !text.contains(FALLBACK),
                    "{method} {path} is described but the router does not know it: {text}"
                );
            }
        }
    }
}
