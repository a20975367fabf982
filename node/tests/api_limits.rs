//! The API's resource limits against a real `knack run`: a connection that sends nothing, one
//! that sends its head slowly, and an idle keep-alive connection are closed after the
//! header-read timeout; connections past the limit are refused with a JSON 503; an over-long
//! URI and over-large headers get 414 / 431 with the JSON error body.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::TestNode;

/// Sets keys of the `[api_limits]` table in the node's `knack.toml` (written whole by
/// `knack init`).
fn set_limits(node: &TestNode, values: &[(&str, &str)]) {
    let path = node.dir.join("knack.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut in_table = false;
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            if line.starts_with('[') {
                in_table = line == "[api_limits]";
            }
            match values
                .iter()
                .find(|(k, _)| line.starts_with(&format!("{k} =")))
            {
                Some((k, v)) if in_table => format!("{k} = {v}"),
                _ => line.to_owned(),
            }
        })
        .collect();
    assert!(text.contains("[api_limits]"), "{text}");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
}

fn connect(node: &TestNode) -> TcpStream {
    let stream = TcpStream::connect(node.api.trim_start_matches("http://")).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream
}

/// Reads until the server closes the connection; returns what it sent and how long it took.
fn read_until_closed(stream: &mut TcpStream) -> (String, Duration) {
    let started = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the server kept the connection open: {e}"),
        }
    }
    (
        String::from_utf8_lossy(&out).into_owned(),
        started.elapsed(),
    )
}

/// Sends a raw request and returns (status, JSON body) of the answer.
fn raw_request(node: &TestNode, head: &str) -> (u16, serde_json::Value) {
    let mut stream = connect(node);
    stream.write_all(head.as_bytes()).unwrap();
    let (text, _) = read_until_closed(&mut stream);
    let status: u16 = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (
        status,
        serde_json::from_str(body).unwrap_or(serde_json::Value::String(body.into())),
    )
}

#[test]
fn silent_slow_and_idle_connections_are_closed() {
    let mut a = TestNode::init("a", &[]);
    set_limits(&a, &[("header_read_timeout_ms", "1000")]);
    a.launch();

    // Sends nothing at all.
    let mut silent = connect(&a);
    let (sent, took) = read_until_closed(&mut silent);
    assert!(sent.is_empty() || sent.contains("408"), "{sent}");
    assert!(took < Duration::from_secs(10), "closed after {took:?}");

    // Sends its head one byte at a time, too slowly to finish.
    let mut slow = connect(&a);
    let started = Instant::now();
    let head = format!(
        "GET /v1/status HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\n",
        a.token
    );
    let mut closed = false;
    for byte in head.bytes().cycle().take(200) {
        if slow.write_all(&[byte]).is_err() {
            closed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        if started.elapsed() > Duration::from_secs(15) {
            break;
        }
    }
    if !closed {
        let (_, took) = read_until_closed(&mut slow);
        assert!(started.elapsed() < Duration::from_secs(25), "{took:?}");
    }
    assert!(started.elapsed() < Duration::from_secs(25));

    // One request, then idle on keep-alive.
    let mut idle = connect(&a);
    let request = format!(
        "GET /v1/status HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\n\r\n",
        a.token
    );
    idle.write_all(request.as_bytes()).unwrap();
    let (answer, took) = read_until_closed(&mut idle);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(took < Duration::from_secs(10), "idle closed after {took:?}");

    assert_eq!(a.ops(), 0, "the node still serves");
}

#[test]
fn connections_past_the_limit_are_refused_with_json() {
    let mut a = TestNode::init("a", &[]);
    set_limits(
        &a,
        &[
            ("max_connections", "4"),
            ("header_read_timeout_ms", "60000"),
        ],
    );
    a.launch();
    let held: Vec<TcpStream> = (0..4).map(|_| connect(&a)).collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut extra = connect(&a);
    let (text, _) = read_until_closed(&mut extra);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    let body: serde_json::Value =
        serde_json::from_str(text.split_once("\r\n\r\n").unwrap().1).unwrap();
    assert_eq!(body["kind"], "too_many_connections", "{body}");
    assert!(body["error"].as_str().unwrap().contains("at most 4"));
    drop(held);
    let served = common::wait_for(Duration::from_secs(10), || {
        let (code, _) = a.call("GET", "/v1/status", None);
        (code == 200).then_some(())
    });
    assert!(served.is_some(), "serves again once connections close");
    assert!(
        a.metric("knack_integrity_faults_total{reason=\"api_connections_refused\"}") >= 1.0,
        "{}",
        a.metrics()
    );
}

#[test]
fn over_long_uris_and_headers_get_the_json_error_body() {
    let a = TestNode::start("a", &[]);
    let long = "x".repeat(20_000);
    let (code, body) = raw_request(
        &a,
        &format!(
            "GET /v1/status?{long} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\n\
             connection: close\r\n\r\n",
            a.token
        ),
    );
    assert_eq!(
        (code, body["kind"].as_str()),
        (414, Some("uri_too_long")),
        "{body}"
    );
    assert!(body["error"].as_str().unwrap().contains("8192"), "{body}");

    let big = "y".repeat(100_000);
    let (code, body) = raw_request(
        &a,
        &format!("GET /v1/status HTTP/1.1\r\nhost: x\r\nx-big: {big}\r\nconnection: close\r\n\r\n"),
    );
    assert_eq!(
        (code, body["kind"].as_str()),
        (431, Some("headers_too_large")),
        "{body}"
    );
    let many: String = (0..150).map(|i| format!("x-h{i}: v\r\n")).collect();
    let (code, body) = raw_request(
        &a,
        &format!("GET /v1/status HTTP/1.1\r\nhost: x\r\n{many}connection: close\r\n\r\n"),
    );
    assert_eq!(
        (code, body["kind"].as_str()),
        (431, Some("headers_too_large")),
        "{body}"
    );
    assert_eq!(a.ops(), 0, "still serving");
}
