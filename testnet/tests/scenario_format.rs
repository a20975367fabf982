//! The scenario parser: every step, the shipped scenarios, and errors that name the line.

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

use std::time::Duration;

use knack_testnet::TestnetError;
use knack_testnet::scenario::{Assert, CountOf, Load, Netem, Scenario, Span, Step};

const EVERY_STEP: &str = r#"
name = "every-step"
description = "one of each"
nodes = 5
sync_interval_ms = 500

[[step]]
action = "start"

[[step]]
action = "start"
nodes = ["n4"]
at = "1s"

[[step]]
action = "load"
rate = 25.5
duration = "10s"
procedures = 4
nodes = ["n1", "n2"]
success_ratio = 0.7
wait = true

[[step]]
action = "sleep"
duration = "250ms"

[[step]]
action = "partition"
groups = [["n1", "n2"], ["n3", "n4", "n5"]]

[[step]]
action = "heal"
at = "1.5m"

[[step]]
action = "netem"
nodes = ["n3"]
delay = "100ms"
jitter = "20ms"
loss = 20.0
rate = "1mbit"

[[step]]
action = "kill"
nodes = ["n2", "n3"]

[[step]]
action = "restart"
nodes = ["n2"]

[[step]]
action = "wait-until-converged"
timeout = "60s"
nodes = ["n1", "n2"]

[[step]]
action = "assert"
check = "count"
what = "outcomes"
node = "n1"
at_least = 10
at_most = 20

[[step]]
action = "assert"
check = "rank"
procedure = 0
at_most = 1

[[step]]
action = "assert"
check = "digests"
nodes = ["n1", "n5"]

[[step]]
action = "assert"
check = "digests"
equal = false

[[step]]
action = "assert"
check = "no-loss"
"#;

fn secs(s: u64) -> Option<Span> {
    Some(Span(Duration::from_secs(s)))
}

#[test]
fn every_step_parses() {
    let s = Scenario::parse("every-step.toml", EVERY_STEP).unwrap();
    assert_eq!(s.name, "every-step");
    assert_eq!(s.nodes, 5);
    assert_eq!(s.sync_interval_ms, Some(500));
    let expected = vec![
        Step::Start {
            at: None,
            nodes: vec![],
        },
        Step::Start {
            at: secs(1),
            nodes: vec!["n4".into()],
        },
        Step::Load(Load {
            at: None,
            rate: 25.5,
            duration: Span(Duration::from_secs(10)),
            procedures: 4,
            nodes: vec!["n1".into(), "n2".into()],
            success_ratio: 0.7,
            wait: true,
        }),
        Step::Sleep {
            at: None,
            duration: Span(Duration::from_millis(250)),
        },
        Step::Partition {
            at: None,
            groups: vec![
                vec!["n1".into(), "n2".into()],
                vec!["n3".into(), "n4".into(), "n5".into()],
            ],
        },
        Step::Heal { at: secs(90) },
        Step::Netem(Netem {
            at: None,
            nodes: vec!["n3".into()],
            delay: Some(Span(Duration::from_millis(100))),
            jitter: Some(Span(Duration::from_millis(20))),
            loss: Some(20.0),
            rate: Some("1mbit".into()),
        }),
        Step::Kill {
            at: None,
            nodes: vec!["n2".into(), "n3".into()],
        },
        Step::Restart {
            at: None,
            nodes: vec!["n2".into()],
        },
        Step::WaitUntilConverged {
            at: None,
            timeout: secs(60).unwrap(),
            nodes: vec!["n1".into(), "n2".into()],
        },
        Step::Assert(Assert::Count {
            at: None,
            what: CountOf::Outcomes,
            node: Some("n1".into()),
            equals: None,
            at_least: Some(10),
            at_most: Some(20),
        }),
        Step::Assert(Assert::Rank {
            at: None,
            procedure: 0,
            at_most: 1,
            node: None,
        }),
        Step::Assert(Assert::Digests {
            at: None,
            equal: true,
            nodes: vec!["n1".into(), "n5".into()],
        }),
        Step::Assert(Assert::Digests {
            at: None,
            equal: false,
            nodes: vec![],
        }),
        Step::Assert(Assert::NoLoss { at: None }),
    ];
    assert_eq!(s.steps, expected);
    assert!(s.needs_netns());
    let shape = match &s.steps[6] {
        Step::Netem(n) => n.shape(),
        _ => unreachable!(),
    };
    assert_eq!((shape.delay_ms, shape.jitter_ms), (100, 20));
}

#[test]
fn defaults_apply() {
    let s = Scenario::parse(
        "d.toml",
        "name = \"d\"\nnodes = 2\n[[step]]\naction = \"load\"\nrate = 1\nduration = \"1s\"\n",
    )
    .unwrap();
    let Step::Load(load) = &s.steps[0] else {
        panic!("{:?}", s.steps)
    };
    assert_eq!(
        (load.procedures, load.success_ratio, load.wait),
        (3, 0.8, false)
    );
    assert!(!s.needs_netns());
}

#[test]
fn the_shipped_scenarios_parse() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    for name in ["smoke", "partition-heal", "crash-restart", "lossy"] {
        let s = Scenario::load(&dir.join(format!("{name}.toml"))).unwrap();
        assert_eq!(s.name, name);
        assert_eq!(s.nodes, 5);
        assert_eq!(s.bootstrap_peers, None);
    }
    let seed = Scenario::load(&dir.join("seed-88.toml")).unwrap();
    assert_eq!((seed.nodes, seed.bootstrap_peers), (88, Some(4)));
    assert!(seed.needs_netns());
    let partition = seed
        .steps
        .iter()
        .find_map(|s| match s {
            Step::Partition { groups, .. } => Some(groups.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!((partition[0].len(), partition[1].len()), (29, 59));
}

/// The error for `text`, as (line, message).
fn error(text: &str) -> (usize, String) {
    match Scenario::parse("bad.toml", text) {
        Err(e @ TestnetError::Scenario { line, .. }) => {
            let shown = e.to_string();
            assert!(shown.starts_with(&format!("bad.toml:{line}:")), "{shown}");
            (line, shown)
        }
        other => panic!("expected a scenario error, got {other:?}"),
    }
}

const HEADER: &str = "name = \"bad\"\nnodes = 3\n\n";

#[test]
fn a_toml_syntax_error_names_its_line() {
    let (line, message) = error(&format!("{HEADER}[[step]]\naction = \"start\n"));
    assert_eq!(line, 5, "{message}");
}

#[test]
fn an_unknown_action_names_its_step() {
    let (line, message) = error(&format!(
        "{HEADER}[[step]]\naction = \"start\"\n\n[[step]]\naction = \"explode\"\n"
    ));
    assert_eq!(line, 8, "{message}");
    assert!(message.contains("explode"), "{message}");
}

#[test]
fn an_unknown_field_is_refused_with_its_line() {
    let (line, message) = error(&format!(
        "{HEADER}[[step]]\naction = \"load\"\nrat = 5\nduration = \"1s\"\n"
    ));
    assert!((4..=6).contains(&line), "{message}");
    assert!(message.contains("rat"), "{message}");
}

#[test]
fn a_bad_duration_is_refused_with_its_line() {
    let (line, message) = error(&format!(
        "{HEADER}[[step]]\naction = \"sleep\"\nduration = \"5 hours\"\n"
    ));
    assert!((4..=6).contains(&line), "{message}");
    assert!(message.contains("5 hours"), "{message}");
}

#[test]
fn a_missing_field_is_refused() {
    let (_, message) = error(&format!("{HEADER}[[step]]\naction = \"kill\"\n"));
    assert!(message.contains("nodes"), "{message}");
}

#[test]
fn an_unknown_node_names_the_step_line() {
    let (line, message) = error(&format!(
        "{HEADER}[[step]]\naction = \"start\"\n\n[[step]]\naction = \"kill\"\nnodes = [\"n9\"]\n"
    ));
    assert_eq!(line, 7, "{message}");
    assert!(message.contains("n9"), "{message}");
}

#[test]
fn meaningless_values_are_refused() {
    let (_, m) = error(&format!(
        "{HEADER}[[step]]\naction = \"load\"\nrate = 0\nduration = \"1s\"\n"
    ));
    assert!(m.contains("rate"), "{m}");
    let (_, m) = error(&format!(
        "{HEADER}[[step]]\naction = \"partition\"\ngroups = [[\"n1\"]]\n"
    ));
    assert!(m.contains("two groups"), "{m}");
    let (_, m) = error(&format!(
        "{HEADER}[[step]]\naction = \"assert\"\ncheck = \"count\"\nwhat = \"ops\"\n"
    ));
    assert!(m.contains("equals"), "{m}");
    let (_, m) = error("name = \"x\"\nnodes = 0\n");
    assert!(m.contains("nodes"), "{m}");
}
