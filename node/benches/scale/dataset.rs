//! The scale bench's dataset: an ops vocabulary (committed in `data/ops_vocabulary.txt`) and a
//! seeded generator of procedures in clusters of similar texts, outcomes and queries. Nothing
//! here reads the clock or the OS's randomness: a seed gives the same dataset on every machine.

use std::collections::{BTreeMap, HashSet};

use knack_crdt::{Body, ProcedureKind};
use knack_node::NewProcedureRequest;

/// The committed vocabulary (compiled in, so a run needs no file and no network).
const VOCABULARY: &str = include_str!("../data/ops_vocabulary.txt");

/// SplitMix64 (Steele, Lea and Flood, 2014): a tiny seeded generator whose sequence is fixed
/// for ever, unlike a library RNG's across versions.
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator whose sequence `seed` fixes.
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// A number in `lo..=hi`.
    pub(crate) fn between(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    /// `true` with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    /// One element of a non-empty slice.
    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A generator for a sub-stream, independent of this one's later draws.
    pub(crate) fn fork(&mut self, stream: u64) -> Rng {
        Rng::new(self.next_u64() ^ stream.wrapping_mul(0xd1b5_4a32_d192_ed03))
    }
}

/// The vocabulary's sections (`[verbs]`, `[tools]`, ...), each a list of words.
#[derive(Debug)]
pub(crate) struct Vocabulary {
    sections: BTreeMap<String, Vec<String>>,
}

impl Vocabulary {
    /// The committed vocabulary.
    pub(crate) fn load() -> Vocabulary {
        let mut sections: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut current: Option<String> = None;
        for line in VOCABULARY.lines() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                current = Some(name.to_owned());
                continue;
            }
            if let Some(name) = &current {
                sections
                    .entry(name.clone())
                    .or_default()
                    .extend(line.split_whitespace().map(str::to_owned));
            }
        }
        Vocabulary { sections }
    }

    /// The words of a section (panics if the file lacks it: the file is part of the bench).
    pub(crate) fn words(&self, section: &str) -> &[String] {
        self.sections
            .get(section)
            .unwrap_or_else(|| panic!("ops_vocabulary.txt has no [{section}] section"))
    }

    /// Every word of every section.
    pub(crate) fn len(&self) -> usize {
        self.sections.values().map(Vec::len).sum()
    }

    /// The outcome context tags.
    pub(crate) fn contexts(&self) -> Vec<String> {
        self.words("contexts").to_vec()
    }
}

/// One generated procedure and the cluster of similar ones it belongs to.
#[derive(Clone, Debug)]
pub(crate) struct Spec {
    /// Index of its cluster.
    pub(crate) cluster: usize,
    /// What the node is asked to add.
    pub(crate) request: NewProcedureRequest,
}

/// The shared topic of a cluster: a runbook whose variants its members are.
struct Topic {
    verb: String,
    service: String,
    resource: String,
    tool: String,
    check_tool: String,
    error: String,
    kind: ProcedureKind,
    /// Steps of the runbook; each member keeps most of them.
    steps: Vec<String>,
}

impl Topic {
    fn new(v: &Vocabulary, rng: &mut Rng) -> Topic {
        let verbs = v.words("verbs");
        let tools = v.words("tools");
        let services = v.words("services");
        let resources = v.words("resources");
        let errors = v.words("errors");
        let qualifiers = v.words("qualifiers");
        let verb = rng.pick(verbs).clone();
        let service = rng.pick(services).clone();
        let resource = rng.pick(resources).clone();
        let tool = rng.pick(tools).clone();
        let check_tool = rng.pick(tools).clone();
        let error = rng.pick(errors).clone();
        let kind = match rng.below(4) {
            0 => ProcedureKind::Script,
            1 => ProcedureKind::Tool,
            _ => ProcedureKind::Steps,
        };
        let mut steps = vec![
            format!("{check_tool} inspect {service} {resource} and confirm {error}"),
            format!("{tool} {verb} {service}/{resource}"),
            format!("watch {service} until {error} is gone; {check_tool} verify {resource}"),
        ];
        for _ in 0..rng.between(2, 4) {
            steps.push(format!(
                "{} {} {} {} ({})",
                rng.pick(tools),
                rng.pick(verbs),
                service,
                rng.pick(resources),
                rng.pick(qualifiers)
            ));
        }
        Topic {
            verb,
            service,
            resource,
            tool,
            check_tool,
            error,
            kind,
            steps,
        }
    }
}

/// `n` distinct procedures in clusters of 8 to 32 variants of one runbook, in cluster order
/// (so a node adding them in order links each to its cluster's earlier members).
pub(crate) fn procedures(v: &Vocabulary, n: usize, seed: u64) -> Vec<Spec> {
    let mut rng = Rng::new(seed);
    let envs = v.words("environments");
    let hosts = v.words("hosts");
    let qualifiers = v.words("qualifiers");
    let errors = v.words("errors");
    let mut names = HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    let mut cluster = 0;
    while out.len() < n {
        let topic = Topic::new(v, &mut rng);
        let size = rng.between(8, 32).min(n - out.len());
        for _ in 0..size {
            let env = rng.pick(envs).clone();
            let host = format!("{}-{}", rng.pick(hosts), rng.between(1, 40));
            let qualifier = rng.pick(qualifiers).clone();
            let mut name = format!(
                "{} {} {} on {env} {host} ({qualifier})",
                topic.verb, topic.service, topic.resource
            );
            let mut attempt = 1;
            while !names.insert(name.clone()) {
                attempt += 1;
                name = format!(
                    "{} {} {} on {env} {host} ({qualifier}, variant {attempt})",
                    topic.verb, topic.service, topic.resource
                );
            }
            let also = rng.pick(errors);
            let description = format!(
                "When {} {} reports {} in {env} ({qualifier}): {} the {} with {}, then \
                 verify with {}. Also seen with {also}.",
                topic.service,
                topic.resource,
                topic.error,
                topic.verb,
                topic.resource,
                topic.tool,
                topic.check_tool
            );
            let mut body = format!(
                "# {} {} {} on {host}.{env}\n",
                topic.verb, topic.service, topic.resource
            );
            let mut step = 1;
            for s in &topic.steps {
                if step <= 2 || rng.chance(0.75) {
                    body.push_str(&format!("{step}. {s}\n"));
                    step += 1;
                }
            }
            body.push_str(&format!(
                "{step}. if {also} persists on {host}: escalate ({qualifier})\n"
            ));
            out.push(Spec {
                cluster,
                request: NewProcedureRequest {
                    name,
                    description,
                    kind: topic.kind.clone(),
                    tags: vec![topic.service.clone(), topic.tool.clone(), env],
                    body: Body::Inline(body.into_bytes()),
                },
            });
        }
        cluster += 1;
    }
    out
}

/// A search query as an agent would type it: two to four words of a task and a symptom.
pub(crate) fn search_query(v: &Vocabulary, rng: &mut Rng) -> String {
    let mut words = vec![
        rng.pick(v.words("verbs")).clone(),
        rng.pick(v.words("services")).clone(),
    ];
    if rng.chance(0.6) {
        words.push(rng.pick(v.words("errors")).clone());
    }
    if rng.chance(0.4) {
        words.push(rng.pick(v.words("resources")).clone());
    }
    words.join(" ")
}
