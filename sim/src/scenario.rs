//! Scenarios: the TOML schema, `--set` overrides and sweeps.
//!
//! A scenario file is parsed into a TOML table, overrides (`gossip.d=8`) are written into the
//! table by dotted key, and only then is the table turned into a [`Scenario`], so an override
//! is checked exactly like the file. Every field has a default; unknown keys are errors.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::SimError;
use crate::learning::LearningConfig;

/// One simulation: the population, the network, the gossip model, the workload, adversaries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scenario {
    /// A name for the outputs.
    pub name: String,
    /// Number of agents.
    pub nodes: u32,
    /// The seed of every random stream.
    pub seed: u64,
    /// Fraction of agents that hold a materialised replica of the space (a real `Space`);
    /// authors always do. The others are relay-only: they keep the op log and forward, which
    /// is all dissemination needs, and cost a few hundred bytes instead of the replica's size.
    pub replicas: f64,
    /// Virtual time at which the run stops, in milliseconds.
    pub duration_ms: u64,
    /// Stop as soon as every update authored so far has reached every agent and the workload
    /// is done (theory runs), instead of at `duration_ms`.
    pub stop_at_full_reach: bool,
    /// Width of a time-series bucket, in milliseconds.
    pub sample_ms: u64,
    /// Who is connected to whom.
    pub topology: TopologyConfig,
    /// Latency, loss, bandwidth, partitions, churn, clock skew.
    pub network: NetworkConfig,
    /// The dissemination model.
    pub gossip: GossipConfig,
    /// Periodic version-vector anti-entropy.
    pub anti_entropy: AntiEntropyConfig,
    /// What agents author.
    pub workload: WorkloadConfig,
    /// Misbehaving peers.
    pub adversary: AdversaryConfig,
    /// Signature checks.
    pub verify: VerifyConfig,
    /// A sweep named in the file (the CLI's `--sweep` takes precedence).
    pub sweep: Option<SweepConfig>,
    /// The collective-learning workload (replaces the workload's actions; see
    /// [`crate::learning`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub learning: Option<LearningConfig>,
}

/// The peer graph.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TopologyConfig {
    /// Connections each node opens to random others (the graph is undirected, so the mean
    /// degree is about twice this).
    pub connections: u32,
}

/// A latency distribution, per link (a link's base latency is fixed for the run).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Latency {
    /// Every link the same.
    Constant {
        /// One-way latency.
        ms: f64,
    },
    /// Uniform between two bounds.
    Uniform {
        /// Lower bound.
        min_ms: f64,
        /// Upper bound.
        max_ms: f64,
    },
    /// Log-normal with the given median and shape.
    Lognormal {
        /// Median one-way latency.
        median_ms: f64,
        /// Standard deviation of the underlying normal.
        sigma: f64,
    },
    /// Nodes spread evenly over regions; latency from a matrix between regions.
    Regions {
        /// Region names.
        names: Vec<String>,
        /// One-way latency between regions `i` and `j`.
        matrix_ms: Vec<Vec<f64>>,
    },
}

/// A partition: from `start_ms` to `heal_ms`, nodes are split into `groups` random groups that
/// cannot talk to each other.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionConfig {
    /// When the cut starts.
    pub start_ms: u64,
    /// When it heals.
    pub heal_ms: u64,
    /// How many groups.
    #[serde(default = "two")]
    pub groups: u32,
}

fn two() -> u32 {
    2
}

/// Churn: a fraction of nodes alternate between online and offline periods, exponentially
/// distributed. A node keeps its state while offline (it has a disk) and runs anti-entropy
/// with a neighbour when it comes back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChurnConfig {
    /// Fraction of nodes that churn.
    pub fraction: f64,
    /// Mean online period.
    pub mean_online_ms: f64,
    /// Mean offline period.
    pub mean_offline_ms: f64,
}

/// The network model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkConfig {
    /// Base latency of links.
    pub latency: Latency,
    /// Uniform per-message jitter added to the base latency, `0..jitter_ms`.
    pub jitter_ms: f64,
    /// Probability that a message is lost.
    pub loss: f64,
    /// Upload bandwidth per node in bytes per second (0: unlimited).
    pub upload_bytes_per_s: u64,
    /// Download bandwidth per node in bytes per second (0: unlimited).
    pub download_bytes_per_s: u64,
    /// Largest clock offset of a node, uniform in `-skew..=skew`, in milliseconds.
    pub clock_skew_ms: u64,
    /// Partitions.
    pub partitions: Vec<PartitionConfig>,
    /// Churn.
    pub churn: ChurnConfig,
}

/// Which dissemination model runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Model {
    /// Every node forwards every new message to every neighbour.
    Flood,
    /// Rounds: every informed node pushes to `fanout` random peers.
    Push,
    /// Rounds: every node contacts a random peer; the pair exchange what they know.
    PushPull,
    /// gossipsub v1.1 (plus v1.2's IDONTWANT).
    Gossipsub,
}

/// How push and push-pull pick their partners.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeerSampling {
    /// Uniformly among all nodes (the complete graph of the theory).
    Uniform,
    /// Uniformly among the node's neighbours in the topology.
    Neighbors,
}

/// The gossip model and its parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GossipConfig {
    /// Which model.
    pub model: Model,
    /// Push, push-pull: round period.
    pub round_ms: u64,
    /// Push: targets per informed node per round.
    pub fanout: u32,
    /// Push, push-pull: rounds an update stays hot at a node after it learns it (0: forever).
    pub push_rounds: u32,
    /// Push, push-pull: partner sampling.
    pub peer_sampling: PeerSampling,
    /// gossipsub: mesh degree D.
    pub d: u32,
    /// gossipsub: D_lo (default 2D/3).
    pub d_lo: Option<u32>,
    /// gossipsub: D_hi (default 2D).
    pub d_hi: Option<u32>,
    /// gossipsub: D_lazy, peers gossiped to per heartbeat (default D).
    pub d_lazy: Option<u32>,
    /// gossipsub: fraction of non-mesh peers gossiped to, if more than D_lazy.
    pub gossip_factor: f64,
    /// gossipsub: heartbeat period.
    pub heartbeat_ms: u64,
    /// gossipsub: message cache windows kept (IWANT answered from them).
    pub history_length: u32,
    /// gossipsub: windows advertised in IHAVE.
    pub history_gossip: u32,
    /// gossipsub: the publisher sends to all its peers, not only its mesh.
    pub flood_publish: bool,
    /// gossipsub: messages at least this large trigger IDONTWANT to the mesh (0: never).
    pub idontwant_threshold: u32,
    /// gossipsub: most ids in one IHAVE.
    pub max_ihave_length: u32,
    /// gossipsub: heartbeats a pruned peer must wait before grafting again.
    pub prune_backoff_heartbeats: u32,
    /// gossipsub: the order in which a node hears its peers' subscriptions (and grafts the
    /// first D_lo of them).
    pub subscription_order: SubscriptionOrder,
}

/// The order in which a gossipsub node hears its peers' subscriptions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionOrder {
    /// Each node in its own random order: every connection opens at about the same time.
    Random,
    /// One random order of the links, shared by both ends (the order the connections opened):
    /// a pair that connected early grafts each other.
    Link,
}

/// Anti-entropy: version-vector exchange with a random neighbour.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AntiEntropyConfig {
    /// Period of a node's sync rounds (0: off).
    pub interval_ms: u64,
    /// A node coming back online syncs at once.
    pub on_join: bool,
    /// Neighbours each node runs sync rounds with.
    pub peers: u32,
    /// A request unanswered after this long has failed.
    pub timeout_ms: u64,
}

/// How new procedures get related to existing ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relations {
    /// To uniformly random known procedures.
    Random,
    /// To known procedures of the same cluster.
    Clustered,
}

/// The workload: which agents author what, and when.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkloadConfig {
    /// Number of updates (ops) authored in the run.
    pub updates: u32,
    /// When the first update is authored.
    pub start_ms: u64,
    /// Mean time between updates (exponential; 0: all at `start_ms`).
    pub interval_ms: f64,
    /// Number of authoring agents (spread evenly over the ids).
    pub authors: u32,
    /// Relative weight of "add a procedure".
    pub add_weight: f64,
    /// Relative weight of "record an outcome" (with contagion).
    pub outcome_weight: f64,
    /// Relative weight of "link two procedures".
    pub link_weight: f64,
    /// Relation graph shape.
    pub relations: Relations,
    /// Clusters of the clustered relation graph.
    pub clusters: u32,
    /// Relations a new procedure gets to known ones.
    pub links_per_procedure: u32,
    /// Probability that a recorded outcome is a success.
    pub success_rate: f64,
    /// Size of a procedure body, in bytes (inline).
    pub body_bytes: u32,
}

/// Misbehaving peers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdversaryConfig {
    /// Fraction of nodes that take part in everything but forward nothing.
    pub droppers: f64,
    /// Fraction of nodes that send invalid envelopes to their peers.
    pub flooders: f64,
    /// Invalid envelopes per second per flooder per peer.
    pub flood_rate_per_s: f64,
    /// Eclipse one honest node: all its connections go to this many dropping attackers.
    pub eclipse_attackers: u32,
}

/// Signature verification at receivers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VerifyConfig {
    /// Fraction of first receptions whose envelope is decoded and verified for real (ed25519);
    /// the others are accepted as the pre-verified bytes they are.
    pub sample: f64,
}

/// A parameter sweep: one run per value, same seed (so the same topology and workload).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepConfig {
    /// Dotted key, such as `gossip.d`.
    pub key: String,
    /// Values, as TOML values.
    pub values: Vec<toml::Value>,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            name: "unnamed".into(),
            nodes: 1000,
            seed: 1,
            replicas: 1.0,
            duration_ms: 30_000,
            stop_at_full_reach: false,
            sample_ms: 100,
            topology: TopologyConfig::default(),
            network: NetworkConfig::default(),
            gossip: GossipConfig::default(),
            anti_entropy: AntiEntropyConfig::default(),
            workload: WorkloadConfig::default(),
            adversary: AdversaryConfig::default(),
            verify: VerifyConfig::default(),
            sweep: None,
            learning: None,
        }
    }
}

impl Default for TopologyConfig {
    fn default() -> Self {
        TopologyConfig { connections: 10 }
    }
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            latency: Latency::Constant { ms: 50.0 },
            jitter_ms: 0.0,
            loss: 0.0,
            upload_bytes_per_s: 0,
            download_bytes_per_s: 0,
            clock_skew_ms: 0,
            partitions: Vec::new(),
            churn: ChurnConfig::default(),
        }
    }
}

impl Default for ChurnConfig {
    fn default() -> Self {
        ChurnConfig {
            fraction: 0.0,
            mean_online_ms: 20_000.0,
            mean_offline_ms: 5_000.0,
        }
    }
}

impl Default for GossipConfig {
    fn default() -> Self {
        GossipConfig {
            model: Model::Gossipsub,
            round_ms: 100,
            fanout: 1,
            push_rounds: 0,
            peer_sampling: PeerSampling::Uniform,
            d: 6,
            d_lo: None,
            d_hi: None,
            d_lazy: None,
            gossip_factor: 0.25,
            heartbeat_ms: 1000,
            history_length: 5,
            history_gossip: 3,
            flood_publish: false,
            idontwant_threshold: 1000,
            max_ihave_length: 5000,
            prune_backoff_heartbeats: 60,
            subscription_order: SubscriptionOrder::Random,
        }
    }
}

impl Default for AntiEntropyConfig {
    fn default() -> Self {
        AntiEntropyConfig {
            interval_ms: 5000,
            on_join: true,
            peers: 2,
            timeout_ms: 5000,
        }
    }
}

impl Default for WorkloadConfig {
    fn default() -> Self {
        WorkloadConfig {
            updates: 1,
            start_ms: 2000,
            interval_ms: 0.0,
            authors: 1,
            add_weight: 0.3,
            outcome_weight: 0.6,
            link_weight: 0.1,
            relations: Relations::Random,
            clusters: 4,
            links_per_procedure: 2,
            success_rate: 0.8,
            body_bytes: 200,
        }
    }
}

impl Default for AdversaryConfig {
    fn default() -> Self {
        AdversaryConfig {
            droppers: 0.0,
            flooders: 0.0,
            flood_rate_per_s: 10.0,
            eclipse_attackers: 0,
        }
    }
}

impl Default for VerifyConfig {
    fn default() -> Self {
        VerifyConfig { sample: 1.0 }
    }
}

impl GossipConfig {
    /// D_lo in effect.
    pub fn d_lo(&self) -> u32 {
        self.d_lo.unwrap_or((self.d * 2 / 3).max(1))
    }

    /// D_hi in effect.
    pub fn d_hi(&self) -> u32 {
        self.d_hi.unwrap_or(self.d * 2)
    }

    /// D_lazy in effect.
    pub fn d_lazy(&self) -> u32 {
        self.d_lazy.unwrap_or(self.d)
    }
}

impl Scenario {
    /// Loads a scenario file, applies `key=value` overrides, and checks it.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Scenario, SimError> {
        let text = std::fs::read_to_string(path).map_err(|source| SimError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Scenario::parse(&text, overrides)
    }

    /// Parses scenario text, applies `key=value` overrides, and checks it.
    pub fn parse(text: &str, overrides: &[String]) -> Result<Scenario, SimError> {
        let mut table: toml::Table =
            toml::from_str(text).map_err(|e| SimError::Scenario(e.to_string()))?;
        for o in overrides {
            let (key, value) = split_override(o)?;
            set_key(&mut table, key, parse_value(value))?;
        }
        Scenario::from_table(table)
    }

    /// Builds a scenario from a TOML table and checks it.
    pub fn from_table(table: toml::Table) -> Result<Scenario, SimError> {
        let scenario: Scenario = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| SimError::Scenario(e.to_string()))?;
        scenario.validate()?;
        Ok(scenario)
    }

    /// The scenario as a TOML table (to apply sweep values to).
    pub fn to_table(&self) -> Result<toml::Table, SimError> {
        toml::Table::try_from(self).map_err(|e| SimError::Scenario(e.to_string()))
    }

    /// A copy with `key` set to `value` (a TOML value, or text).
    pub fn with(&self, key: &str, value: toml::Value) -> Result<Scenario, SimError> {
        let mut table = self.to_table()?;
        set_key(&mut table, key, value)?;
        Scenario::from_table(table)
    }

    /// Checks ranges the types cannot express.
    pub fn validate(&self) -> Result<(), SimError> {
        let bad = |field, reason: &str| {
            Err(SimError::Parameter {
                field,
                reason: reason.into(),
            })
        };
        if self.nodes < 2 {
            return bad("nodes", "at least 2");
        }
        if self.sample_ms == 0 {
            return bad("sample_ms", "must be positive");
        }
        let fraction = |x: f64| (0.0..=1.0).contains(&x);
        if !fraction(self.network.loss) || self.network.loss >= 1.0 {
            return bad("network.loss", "a probability below 1");
        }
        if !fraction(self.network.churn.fraction) {
            return bad("network.churn.fraction", "within 0..=1");
        }
        if self.network.churn.mean_online_ms <= 0.0 || self.network.churn.mean_offline_ms <= 0.0 {
            return bad("network.churn", "mean periods must be positive");
        }
        if !fraction(self.adversary.droppers) || !fraction(self.adversary.flooders) {
            return bad("adversary", "fractions within 0..=1");
        }
        if !fraction(self.replicas) {
            return bad("replicas", "within 0..=1");
        }
        if !fraction(self.verify.sample) {
            return bad("verify.sample", "within 0..=1");
        }
        let g = &self.gossip;
        if g.model == Model::Gossipsub {
            if g.d == 0 || g.d_lo() > g.d || g.d_hi() < g.d {
                return bad("gossip.d", "need 0 < D, D_lo <= D <= D_hi");
            }
            if g.heartbeat_ms == 0 || g.history_gossip > g.history_length || g.history_length == 0 {
                return bad(
                    "gossip.heartbeat_ms",
                    "positive heartbeat, 0 < history_gossip <= history_length",
                );
            }
        }
        if matches!(g.model, Model::Push | Model::PushPull) && (g.round_ms == 0 || g.fanout == 0) {
            return bad("gossip.round_ms", "positive round and fanout");
        }
        if self.anti_entropy.interval_ms > 0
            && (self.anti_entropy.timeout_ms == 0 || self.anti_entropy.peers == 0)
        {
            return bad("anti_entropy", "positive timeout_ms and peers");
        }
        if self.topology.connections == 0 || self.topology.connections >= self.nodes {
            return bad("topology.connections", "between 1 and nodes - 1");
        }
        match &self.network.latency {
            Latency::Regions { names, matrix_ms }
                if names.is_empty()
                    || matrix_ms.len() != names.len()
                    || matrix_ms.iter().any(|row| row.len() != names.len()) =>
            {
                return bad("network.latency", "a square matrix, one row per region");
            }
            Latency::Uniform { min_ms, max_ms } if min_ms > max_ms => {
                return bad("network.latency", "min_ms <= max_ms");
            }
            _ => {}
        }
        for p in &self.network.partitions {
            if p.heal_ms <= p.start_ms || p.groups < 2 {
                return bad("network.partitions", "heal after start, at least 2 groups");
            }
        }
        let w = &self.workload;
        if w.authors == 0 || w.authors > self.nodes {
            return bad("workload.authors", "between 1 and nodes");
        }
        if w.add_weight < 0.0 || w.outcome_weight < 0.0 || w.link_weight < 0.0 {
            return bad("workload", "weights must be non-negative");
        }
        if w.clusters == 0 {
            return bad("workload.clusters", "at least 1");
        }
        if let Some(l) = &self.learning {
            l.validate()?;
        }
        Ok(())
    }
}

/// Splits `key=value`.
pub fn split_override(arg: &str) -> Result<(&str, &str), SimError> {
    match arg.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim(), v.trim())),
        _ => Err(SimError::Override(arg.into())),
    }
}

/// Parses a value as TOML (number, bool, inline table, array), or else as text.
pub fn parse_value(text: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {text}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(text.into()))
}

/// Sets `a.b.c = value` in `table`, creating tables on the way.
fn set_key(table: &mut toml::Table, key: &str, value: toml::Value) -> Result<(), SimError> {
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts.pop().ok_or_else(|| SimError::Override(key.into()))?;
    let mut current = table;
    for part in parts {
        let entry = current
            .entry(part.to_owned())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = entry
            .as_table_mut()
            .ok_or_else(|| SimError::Override(key.into()))?;
    }
    current.insert(last.to_owned(), value);
    Ok(())
}
