//! Scenario files: TOML, a header and a list of timed `[[step]]`s.
//!
//! ```toml
//! name = "smoke"
//! nodes = 3
//!
//! [[step]]
//! action = "start"
//!
//! [[step]]
//! action = "load"
//! rate = 20            # outcomes per second, over all target nodes
//! duration = "3s"
//!
//! [[step]]
//! action = "wait-until-converged"
//! timeout = "30s"
//!
//! [[step]]
//! action = "assert"
//! check = "no-loss"
//! ```
//!
//! Every step may carry `at = "12s"`: it then starts no earlier than that long after the
//! scenario began. Steps otherwise run one after the other; a `load` runs in the background
//! unless `wait = true`. See testnet/README.md for every step and field.

mod duration;

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Result, TestnetError};
use crate::netns::Shape;

pub use duration::Span;

/// A parsed scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Its name.
    pub name: String,
    /// What it shows.
    #[serde(default)]
    pub description: String,
    /// How many nodes (`n1` .. `nN`).
    pub nodes: usize,
    /// Anti-entropy interval of every node (ms).
    #[serde(default)]
    pub sync_interval_ms: Option<u64>,
    /// Bootstrap each node to at most this many others, at ring distances 1, 2, 4, 8, ...
    /// (default: to every other node; set it for large testnets).
    #[serde(default)]
    pub bootstrap_peers: Option<usize>,
    /// The steps, in order.
    #[serde(default, rename = "step")]
    pub steps: Vec<Step>,
}

/// One step, with an optional start time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Step {
    /// Start nodes (all by default) that do not run.
    Start {
        /// Start no earlier than this after the scenario began.
        #[serde(default)]
        at: Option<Span>,
        /// Which nodes (default: all).
        #[serde(default)]
        nodes: Vec<String>,
    },
    /// Write outcomes at a steady rate.
    Load(Load),
    /// Do nothing for a while.
    Sleep {
        /// Start no earlier than this after the scenario began.
        #[serde(default)]
        at: Option<Span>,
        /// How long.
        duration: Span,
    },
    /// Cut the network into groups (needs `--netns`).
    Partition {
        /// Start no earlier than this after the scenario began.
        #[serde(default)]
        at: Option<Span>,
        /// Groups of node names, e.g. `[["n1","n2"],["n3","n4","n5"]]`.
        groups: Vec<Vec<String>>,
    },
    /// Join the network again (needs `--netns`).
    Heal {
        /// Start no earlier than this after the scenario began.
        #[serde(default)]
        at: Option<Span>,
    },
    /// Shape the nodes' links (needs `--netns`); no field set clears the shaping.
    Netem(Netem),
    /// SIGKILL nodes.
    Kill {
        /// Start no earlier than this after the scenario began.
        #[serde(default)]
        at: Option<Span>,
        /// Which nodes.
        nodes: Vec<String>,
    },
    /// Start killed or stopped nodes again (stopping them first if they run).
    Restart {
        /// Start no earlier than this after the scenario began.
        #[serde(default)]
        at: Option<Span>,
        /// Which nodes.
        nodes: Vec<String>,
    },
    /// Wait for the running loads to end, then until every running node (or `nodes`) shows
    /// the same digest and op count.
    WaitUntilConverged {
        /// Start no earlier than this after the scenario began.
        #[serde(default)]
        at: Option<Span>,
        /// Give up (and fail the scenario) after this long.
        timeout: Span,
        /// Which nodes (default: the running ones).
        #[serde(default)]
        nodes: Vec<String>,
    },
    /// Check something; a failed check fails the scenario (the next steps still run).
    Assert(Assert),
}

/// `action = "load"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Load {
    /// Start no earlier than this after the scenario began.
    #[serde(default)]
    pub at: Option<Span>,
    /// Outcomes per second, over all target nodes.
    pub rate: f64,
    /// For how long.
    pub duration: Span,
    /// How many procedures the outcomes spread over (`load-0`, `load-1`, ...; created on
    /// the first target node when missing).
    #[serde(default = "default_procedures")]
    pub procedures: usize,
    /// Which nodes write (default: the running ones; a node that dies is skipped).
    #[serde(default)]
    pub nodes: Vec<String>,
    /// Share of successes; procedure `load-i` gets `success_ratio` minus `0.05 * i` (so the
    /// ranking is known: `load-0` first).
    #[serde(default = "default_success_ratio")]
    pub success_ratio: f64,
    /// Block until the load is done (default: run in the background).
    #[serde(default)]
    pub wait: bool,
}

/// `action = "netem"`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Netem {
    /// Start no earlier than this after the scenario began.
    #[serde(default)]
    pub at: Option<Span>,
    /// Which nodes (default: all).
    #[serde(default)]
    pub nodes: Vec<String>,
    /// Added delay.
    #[serde(default)]
    pub delay: Option<Span>,
    /// Jitter around the delay.
    #[serde(default)]
    pub jitter: Option<Span>,
    /// Packet loss in percent.
    #[serde(default)]
    pub loss: Option<f64>,
    /// Bandwidth limit (`"1mbit"`, `"500kbit"`).
    #[serde(default)]
    pub rate: Option<String>,
}

/// `action = "assert"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "check", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Assert {
    /// A count on every running node (or `node`): `equals`, `at_least`, `at_most`.
    Count {
        /// Start no earlier than this after the scenario began.
        #[serde(default)]
        at: Option<Span>,
        /// `ops`, `procedures`, `outcomes` (successes + failures of the load's procedures)
        /// or `peers`.
        what: CountOf,
        /// Only this node.
        #[serde(default)]
        node: Option<String>,
        /// Must equal.
        #[serde(default)]
        equals: Option<u64>,
        /// Must be at least.
        #[serde(default)]
        at_least: Option<u64>,
        /// Must be at most.
        #[serde(default)]
        at_most: Option<u64>,
    },
    /// Procedure `load-N` ranks at `at_most` or better in `top` on every running node (or
    /// `node`).
    Rank {
        /// Start no earlier than this after the scenario began.
        #[serde(default)]
        at: Option<Span>,
        /// The load procedure's number (`0` is `load-0`).
        procedure: usize,
        /// Worst acceptable rank (1 = first).
        at_most: usize,
        /// Only this node.
        #[serde(default)]
        node: Option<String>,
    },
    /// Equal digests (and op counts) on the running nodes (or `nodes`), right now; with
    /// `equal = false`, that they differ (e.g. the two sides of a partition).
    Digests {
        /// Start no earlier than this after the scenario began.
        #[serde(default)]
        at: Option<Span>,
        /// Whether the digests must be equal (default) or must differ.
        #[serde(default = "yes")]
        equal: bool,
        /// Which nodes.
        #[serde(default)]
        nodes: Vec<String>,
    },
    /// Every acknowledged write is present on every running node, and nothing else but
    /// writes whose answer was lost.
    NoLoss {
        /// Start no earlier than this after the scenario began.
        #[serde(default)]
        at: Option<Span>,
    },
}

/// What an `assert` `count` counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CountOf {
    /// Ops in the default space.
    Ops,
    /// Procedures in the default space.
    Procedures,
    /// Successes + failures over the load's procedures.
    Outcomes,
    /// Connected peers.
    Peers,
}

fn yes() -> bool {
    true
}

fn default_procedures() -> usize {
    3
}

fn default_success_ratio() -> f64 {
    0.8
}

impl Netem {
    /// The link shape this step asks for.
    pub fn shape(&self) -> Shape {
        Shape {
            delay_ms: self.delay.map_or(0, |d| millis(d.0)),
            jitter_ms: self.jitter.map_or(0, |d| millis(d.0)),
            loss_percent: self.loss.unwrap_or(0.0),
            rate: self.rate.clone(),
        }
    }
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Step {
    /// The step's `action` name.
    pub fn action(&self) -> &'static str {
        match self {
            Step::Start { .. } => "start",
            Step::Load(_) => "load",
            Step::Sleep { .. } => "sleep",
            Step::Partition { .. } => "partition",
            Step::Heal { .. } => "heal",
            Step::Netem(_) => "netem",
            Step::Kill { .. } => "kill",
            Step::Restart { .. } => "restart",
            Step::WaitUntilConverged { .. } => "wait-until-converged",
            Step::Assert(_) => "assert",
        }
    }

    /// When the step may start, after the scenario began.
    pub fn at(&self) -> Option<Span> {
        match self {
            Step::Start { at, .. }
            | Step::Sleep { at, .. }
            | Step::Partition { at, .. }
            | Step::Heal { at }
            | Step::Kill { at, .. }
            | Step::Restart { at, .. }
            | Step::WaitUntilConverged { at, .. } => *at,
            Step::Load(load) => load.at,
            Step::Netem(netem) => netem.at,
            Step::Assert(
                Assert::Count { at, .. }
                | Assert::Rank { at, .. }
                | Assert::Digests { at, .. }
                | Assert::NoLoss { at },
            ) => *at,
        }
    }

    /// Whether the step needs network namespaces.
    pub fn needs_netns(&self) -> bool {
        matches!(
            self,
            Step::Partition { .. } | Step::Heal { .. } | Step::Netem(_)
        )
    }

    /// The node names the step mentions.
    pub fn node_names(&self) -> Vec<&str> {
        let list: Vec<&String> = match self {
            Step::Start { nodes, .. }
            | Step::Kill { nodes, .. }
            | Step::Restart { nodes, .. }
            | Step::WaitUntilConverged { nodes, .. } => nodes.iter().collect(),
            Step::Load(load) => load.nodes.iter().collect(),
            Step::Netem(netem) => netem.nodes.iter().collect(),
            Step::Partition { groups, .. } => groups.iter().flatten().collect(),
            Step::Assert(Assert::Count { node, .. } | Assert::Rank { node, .. }) => {
                node.iter().collect()
            }
            Step::Assert(Assert::Digests { nodes, .. }) => nodes.iter().collect(),
            Step::Sleep { .. } | Step::Heal { .. } | Step::Assert(Assert::NoLoss { .. }) => {
                Vec::new()
            }
        };
        list.into_iter().map(String::as_str).collect()
    }
}

impl Scenario {
    /// Parses scenario text; `file` names it in errors, which carry a line and column.
    pub fn parse(file: &str, text: &str) -> Result<Scenario> {
        let scenario: Scenario = toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map_or((1, 1), |span| line_column(text, span.start));
            TestnetError::Scenario {
                file: file.to_owned(),
                line,
                column,
                message: e.message().to_owned(),
            }
        })?;
        scenario.check().map_err(|(index, message)| {
            let line = step_line(text, index).unwrap_or(1);
            TestnetError::Scenario {
                file: file.to_owned(),
                line,
                column: 1,
                message,
            }
        })?;
        Ok(scenario)
    }

    /// Reads and parses a scenario file.
    pub fn load(path: &Path) -> Result<Scenario> {
        let text = std::fs::read_to_string(path).map_err(|e| TestnetError::io(path, e))?;
        Scenario::parse(&path.display().to_string(), &text)
    }

    /// Whether any step needs network namespaces.
    pub fn needs_netns(&self) -> bool {
        self.steps.iter().any(Step::needs_netns)
    }

    /// Checks what serde cannot: node names exist, rates and counts make sense. The error
    /// names the step (0-based index) at fault.
    fn check(&self) -> std::result::Result<(), (usize, String)> {
        if self.nodes == 0 {
            return Err((usize::MAX, "`nodes` must be at least 1".into()));
        }
        for (index, step) in self.steps.iter().enumerate() {
            for name in step.node_names() {
                let known = name
                    .strip_prefix('n')
                    .and_then(|n| n.parse::<usize>().ok())
                    .is_some_and(|n| (1..=self.nodes).contains(&n));
                if !known {
                    return Err((
                        index,
                        format!(
                            "step {} ({}): no node `{name}` (nodes are n1..n{})",
                            index + 1,
                            step.action(),
                            self.nodes
                        ),
                    ));
                }
            }
            let problem = match step {
                Step::Load(load) if !(load.rate > 0.0 && load.rate.is_finite()) => {
                    Some("`rate` must be above 0".to_owned())
                }
                Step::Load(load) if load.procedures == 0 => {
                    Some("`procedures` must be at least 1".to_owned())
                }
                Step::Load(load) if !(0.0..=1.0).contains(&load.success_ratio) => {
                    Some("`success_ratio` must be within 0..=1".to_owned())
                }
                Step::Partition { groups, .. } if groups.len() < 2 => {
                    Some("a partition needs at least two groups".to_owned())
                }
                Step::Netem(n) if n.loss.is_some_and(|l| !(0.0..=100.0).contains(&l)) => {
                    Some("`loss` is a percentage within 0..=100".to_owned())
                }
                Step::Assert(Assert::Count {
                    equals: None,
                    at_least: None,
                    at_most: None,
                    ..
                }) => Some("a count needs `equals`, `at_least` or `at_most`".to_owned()),
                Step::Assert(Assert::Rank { at_most: 0, .. }) => {
                    Some("ranks start at 1".to_owned())
                }
                _ => None,
            };
            if let Some(problem) = problem {
                return Err((
                    index,
                    format!("step {} ({}): {problem}", index + 1, step.action()),
                ));
            }
        }
        Ok(())
    }
}

/// The 1-based line and column of byte `offset` in `text`.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, column)
}

/// The line of the `index`-th `[[step]]` header (0-based).
fn step_line(text: &str, index: usize) -> Option<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with("[[step]]"))
        .nth(index)
        .map(|(n, _)| n + 1)
}
