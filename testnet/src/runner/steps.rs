//! What each step does.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::Runner;
use super::load::{LoadPlan, LoadRun};
use crate::client::WriteResult;
use crate::converge;
use crate::error::{Result, TestnetError};
use crate::report::HealReport;
use crate::scenario::{Load, Step};

/// How long new load procedures may take to reach every writing node.
const PROCEDURES_TIMEOUT: Duration = Duration::from_secs(30);

impl Runner {
    /// Runs one step: `(held, note)`, or an error when it could not be carried out.
    pub(super) fn step(&mut self, step: &Step) -> Result<(bool, String)> {
        match step {
            Step::Start { nodes, .. } => {
                let names = self.names_or_all(nodes);
                for name in &names {
                    if !self.testnet.is_running(name) {
                        self.testnet.start(name)?;
                    }
                }
                self.sync_clients();
                Ok((true, format!("started {}", names.join(","))))
            }
            Step::Load(load) => self.load(load),
            Step::Sleep { duration, .. } => {
                std::thread::sleep(duration.0);
                Ok((true, format!("slept {duration}")))
            }
            Step::Partition { groups, .. } => {
                self.testnet.partition(groups)?;
                let text: Vec<String> = groups.iter().map(|g| g.join(",")).collect();
                Ok((true, format!("partitioned {}", text.join(" / "))))
            }
            Step::Heal { .. } => {
                self.testnet.heal()?;
                self.last_heal = Some(self.now_s());
                Ok((true, "healed".into()))
            }
            Step::Netem(netem) => {
                let shape = netem.shape();
                let names = self.names_or_all(&netem.nodes);
                for name in &names {
                    self.testnet.shape(name, &shape)?;
                }
                Ok((true, format!("{shape:?} on {}", names.join(","))))
            }
            Step::Kill { nodes, .. } => {
                for name in nodes {
                    self.scrape(name);
                    self.testnet.kill(name)?;
                }
                self.sync_clients();
                Ok((true, format!("killed {}", nodes.join(","))))
            }
            Step::Restart { nodes, .. } => {
                for name in nodes {
                    self.scrape(name);
                    self.detach(name);
                    self.testnet.restart(name)?;
                }
                self.sync_clients();
                Ok((true, format!("restarted {}", nodes.join(","))))
            }
            Step::WaitUntilConverged { timeout, nodes, .. } => {
                self.join_loads();
                let waited_from = self.now_s();
                let clients = self.running_clients(nodes);
                match converge::wait(&clients, timeout.0) {
                    Ok(took) => {
                        let views = converge::snapshot(&clients);
                        let ops = views.first().map_or(0, |v| v.ops);
                        if let Some(healed_at_s) = self.last_heal.take() {
                            self.report.heals.push(HealReport {
                                healed_at_s,
                                converged_after_s: Some(
                                    waited_from + took.as_secs_f64() - healed_at_s,
                                ),
                            });
                        }
                        Ok((
                            true,
                            format!(
                                "{} nodes agree on {ops} ops after {:.2} s",
                                clients.len(),
                                took.as_secs_f64()
                            ),
                        ))
                    }
                    Err(views) => {
                        if let Some(healed_at_s) = self.last_heal.take() {
                            self.report.heals.push(HealReport {
                                healed_at_s,
                                converged_after_s: None,
                            });
                        }
                        Ok((
                            false,
                            format!(
                                "no convergence within {timeout}:\n{}",
                                converge::table(&views)
                            ),
                        ))
                    }
                }
            }
            Step::Assert(assert) => self.assert(assert),
        }
    }

    fn names_or_all(&self, names: &[String]) -> Vec<String> {
        if names.is_empty() {
            self.testnet.names()
        } else {
            names.to_vec()
        }
    }

    fn load(&mut self, load: &Load) -> Result<(bool, String)> {
        let nodes: Vec<String> = if load.nodes.is_empty() {
            self.testnet.running()
        } else {
            load.nodes.clone()
        };
        let clients = self.running_clients(&nodes);
        let Some(first) = clients.first() else {
            return Err(TestnetError::Unsupported(
                "a load step needs a running node".into(),
            ));
        };
        let created = self.procedures.len();
        while self.procedures.len() < load.procedures {
            let i = self.procedures.len();
            // Distinct tasks: near-identical texts would be linked `similar` by the node
            // (automatic edges) and share their boosts, which is not what a load measures.
            let task = LOAD_TASKS[i % LOAD_TASKS.len()];
            let body = json!({
                "name": format!("load-{i}"),
                "description": task,
                "tags": ["load"],
                "body": format!("{task} (round {})", i / LOAD_TASKS.len()),
            });
            let result = first.post("/v1/spaces/default/procedures", &body);
            self.adds.count(&result);
            match result {
                WriteResult::Acked(value) => {
                    let id = value["id"].as_str().unwrap_or_default().to_owned();
                    self.procedures.push(id);
                }
                other => {
                    return Err(TestnetError::api(
                        first.name(),
                        format!("creating load-{i}: {other:?}"),
                    ));
                }
            }
        }
        if self.procedures.len() > created {
            let wanted = self.procedures.len();
            let started = Instant::now();
            while !converge::snapshot(&clients)
                .iter()
                .all(|v| v.procedures >= wanted)
            {
                if started.elapsed() > PROCEDURES_TIMEOUT {
                    return Err(TestnetError::Unsupported(format!(
                        "the load's procedures did not reach {} within {PROCEDURES_TIMEOUT:?}",
                        nodes.join(",")
                    )));
                }
                std::thread::sleep(converge::POLL);
            }
        }
        let netns = nodes
            .iter()
            .map(|n| {
                self.testnet
                    .state()
                    .node(n)
                    .map(|r| r.netns.clone())
                    .unwrap_or(None)
            })
            .collect();
        let plan = LoadPlan {
            nodes: nodes.clone(),
            netns,
            procedures: self.procedures[..load.procedures].to_vec(),
            rate: load.rate,
            duration: load.duration.0,
            success_ratio: load.success_ratio,
        };
        let from_ms = crate::report::wall_ms();
        let to_ms = from_ms + u64::try_from(load.duration.0.as_millis()).unwrap_or(u64::MAX);
        self.load_windows.push((self.current_step, from_ms, to_ms));
        let run = LoadRun::start(
            plan,
            self.clients.clone(),
            Arc::clone(&self.tally),
            self.stop.clone(),
        );
        let note = format!(
            "{}/s for {} over {} procedures on {}",
            load.rate,
            load.duration,
            load.procedures,
            nodes.join(",")
        );
        if load.wait {
            run.join();
        } else {
            self.loads.push(run);
        }
        self.loads.retain(|l| !l.is_finished());
        Ok((true, note))
    }
}

/// What the load procedures are about: unrelated tasks, one per procedure.
const LOAD_TASKS: [&str; 8] = [
    "rotate the TLS certificates of the ingress with certbot",
    "vacuum and analyze the orders table in postgres",
    "prune unused docker images and build cache",
    "flush the DNS resolver cache on every host",
    "rebuild the frontend bundle with webpack",
    "renew the kafka consumer group offsets",
    "upgrade python dependencies with pip-compile",
    "archive old log files to cold storage",
];
