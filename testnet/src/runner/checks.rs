//! Assertions, and the end-of-run check that every acknowledged write is present.

use serde::Deserialize;

use super::Runner;
use crate::client::NodeClient;
use crate::converge;
use crate::error::Result;
use crate::scenario::{Assert, CountOf};

#[derive(Deserialize)]
struct Counts {
    successes: u64,
    failures: u64,
}

#[derive(Deserialize)]
struct Row {
    id: String,
}

/// Attempts of one count request: on a saturated machine (88 nodes on 2 cores) a node may miss
/// the client's timeout once; counting is a measurement, not the thing measured.
const COUNT_ATTEMPTS: usize = 3;

/// Successes + failures over the load's `procedures`, as `client`'s node sees them.
fn outcomes_on(client: &NodeClient, procedures: &[String]) -> Result<u64> {
    let mut total = 0;
    for id in procedures {
        let path = format!("/v1/spaces/default/procedures/{id}");
        let mut attempt = 1;
        let counts: Counts = loop {
            match client.get_json(&path) {
                Ok(counts) => break counts,
                Err(e) if attempt >= COUNT_ATTEMPTS => return Err(e),
                Err(_) => {
                    attempt += 1;
                    std::thread::sleep(std::time::Duration::from_secs(1));
                }
            }
        };
        total += counts.successes + counts.failures;
    }
    Ok(total)
}

impl Runner {
    /// [`outcomes_on`] every client, all nodes at once (one thread each).
    fn outcomes_on_all(&self, clients: &[NodeClient]) -> Vec<Result<u64>> {
        let procedures = &self.procedures;
        std::thread::scope(|scope| {
            let asks: Vec<_> = clients
                .iter()
                .map(|c| scope.spawn(move || outcomes_on(c, procedures)))
                .collect();
            asks.into_iter()
                .zip(clients)
                .map(|(ask, c)| {
                    ask.join().unwrap_or_else(|_| {
                        Err(crate::error::TestnetError::api(
                            c.name(),
                            "count thread panicked",
                        ))
                    })
                })
                .collect()
        })
    }

    fn one_or_all(&self, node: Option<&String>) -> Vec<NodeClient> {
        match node {
            Some(n) => self.running_clients(std::slice::from_ref(n)),
            None => self.running_clients(&[]),
        }
    }

    /// Checks an assertion: `(held, note)`.
    pub(super) fn assert(&mut self, assert: &Assert) -> Result<(bool, String)> {
        match assert {
            Assert::Count {
                what,
                node,
                equals,
                at_least,
                at_most,
                ..
            } => {
                let mut notes = Vec::new();
                let mut ok = true;
                for client in self.one_or_all(node.as_ref()) {
                    let value = match what {
                        CountOf::Outcomes => outcomes_on(&client, &self.procedures)?,
                        other => {
                            let status = client.status()?;
                            let space = status.default_space();
                            match other {
                                CountOf::Ops => space.map_or(0, |s| s.ops),
                                CountOf::Procedures => space.map_or(0, |s| s.procedures as u64),
                                _ => status.peers.len() as u64,
                            }
                        }
                    };
                    let held = equals.is_none_or(|e| value == e)
                        && at_least.is_none_or(|l| value >= l)
                        && at_most.is_none_or(|m| value <= m);
                    ok &= held;
                    notes.push(format!("{}={value}", client.name()));
                }
                let want = [("==", equals), (">=", at_least), ("<=", at_most)]
                    .iter()
                    .filter_map(|(op, v)| v.map(|v| format!("{op} {v}")))
                    .collect::<Vec<_>>()
                    .join(", ");
                Ok((ok, format!("{what:?} {want}: {}", notes.join(" "))))
            }
            Assert::Rank {
                procedure,
                at_most,
                node,
                ..
            } => {
                let Some(id) = self.procedures.get(*procedure).cloned() else {
                    return Ok((false, format!("no procedure load-{procedure} was created")));
                };
                let mut ok = true;
                let mut notes = Vec::new();
                for client in self.one_or_all(node.as_ref()) {
                    let rows: Vec<Row> =
                        client.get_json(&format!("/v1/spaces/default/top?n={at_most}"))?;
                    let rank = rows.iter().position(|r| r.id == id).map(|r| r + 1);
                    ok &= rank.is_some();
                    notes.push(format!(
                        "{}: {}",
                        client.name(),
                        rank.map_or_else(|| format!("not in top {at_most}"), |r| format!("#{r}"))
                    ));
                }
                Ok((ok, format!("load-{procedure}: {}", notes.join(", "))))
            }
            Assert::Digests { nodes, equal, .. } => {
                let views = converge::snapshot(&self.running_clients(nodes));
                let agree = converge::converged(&views);
                let want = if *equal { "equal" } else { "different" };
                Ok((
                    agree == *equal,
                    format!("digests {want}:\n{}", converge::table(&views).trim_end()),
                ))
            }
            Assert::NoLoss { .. } => {
                self.join_loads();
                let (ok, note) = self.no_loss()?;
                Ok((ok, note))
            }
        }
    }

    /// Whether every running node holds every acknowledged outcome, and no more than the
    /// acknowledged plus the uncertain ones.
    fn no_loss(&mut self) -> Result<(bool, String)> {
        let writes = self.tally.snapshot();
        let mut ok = true;
        let mut notes = Vec::new();
        let clients = self.running_clients(&[]);
        let counted = self.outcomes_on_all(&clients);
        for (client, present) in clients.iter().zip(counted) {
            let present = present?;
            ok &= present >= writes.acked && present <= writes.acked + writes.uncertain;
            self.report
                .outcomes_present
                .insert(client.name().to_owned(), present);
            notes.push(format!("{}={present}", client.name()));
        }
        Ok((
            ok,
            format!(
                "{} acknowledged (+{} uncertain), present: {}",
                writes.acked,
                writes.uncertain,
                notes.join(" ")
            ),
        ))
    }

    /// The checks every run ends with: writes acknowledged vs present.
    pub(super) fn final_checks(&mut self) {
        match self.no_loss() {
            Ok((ok, note)) => {
                self.report.nothing_lost = Some(ok);
                if !ok {
                    self.report
                        .failures
                        .push(format!("writes lost or invented: {note}"));
                }
            }
            Err(e) => self
                .report
                .failures
                .push(format!("could not count the writes present: {e}")),
        }
    }
}
