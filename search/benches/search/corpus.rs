//! The benchmark's synthetic procedures and queries, from seeded generators.

use std::sync::Arc;

use knack_search::{DocumentText, Embedder, SearchIndex};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

const VERBS: &[&str] = &[
    "restart",
    "deploy",
    "roll back",
    "scale",
    "debug",
    "monitor",
    "back up",
    "restore",
    "migrate",
    "upgrade",
    "configure",
    "rotate",
    "clean up",
    "profile",
    "benchmark",
    "secure",
    "audit",
    "provision",
    "tear down",
    "cache",
    "index",
    "vacuum",
    "compress",
    "encrypt",
    "replicate",
    "shard",
    "load test",
    "trace",
    "lint",
    "format",
    "package",
    "publish",
    "bisect",
    "rebase",
    "squash",
    "tag",
    "release",
    "patch",
    "retry",
    "throttle",
];
const OBJECTS: &[&str] = &[
    "deployment",
    "pod",
    "service",
    "ingress",
    "database",
    "table",
    "index",
    "replica",
    "cluster",
    "node pool",
    "container image",
    "volume",
    "bucket",
    "queue",
    "topic",
    "cache",
    "certificate",
    "secret",
    "API key",
    "DNS record",
    "load balancer",
    "firewall rule",
    "cron job",
    "systemd unit",
    "virtual environment",
    "lock file",
    "branch",
    "commit",
    "pull request",
    "release notes",
    "prompt",
    "embedding index",
    "vector store",
    "model",
    "fine-tune job",
    "log stream",
    "dashboard",
    "alert",
    "SLO",
    "feature flag",
    "migration",
    "schema",
    "webhook",
    "worker",
    "scheduler",
    "build cache",
    "artifact",
    "CI pipeline",
];
const TOOLS: &[&str] = &[
    "kubectl",
    "helm",
    "terraform",
    "ansible",
    "docker",
    "podman",
    "git",
    "cargo",
    "npm",
    "pip",
    "poetry",
    "psql",
    "pg_dump",
    "redis-cli",
    "mysqldump",
    "aws cli",
    "gcloud",
    "az",
    "systemctl",
    "journalctl",
    "curl",
    "jq",
    "ssh",
    "rsync",
    "certbot",
    "nginx",
    "prometheus",
    "grafana",
    "sentry",
    "openai api",
    "ollama",
    "llama.cpp",
    "kafka",
    "rabbitmq",
    "celery",
    "airflow",
    "dbt",
    "spark",
    "make",
    "bazel",
];
const SYMPTOMS: &[&str] = &[
    "it times out",
    "memory keeps growing",
    "the disk is full (ENOSPC)",
    "latency spikes",
    "requests fail with 502",
    "the build is slow",
    "tests are flaky",
    "the pod is OOMKilled",
    "it returns 429 rate limits",
    "the certificate expired",
    "connections are refused",
    "the lock is stuck",
    "the queue backs up",
    "the output is not valid JSON",
    "the model hallucinates",
    "permissions are denied",
    "the checksum does not match",
    "DNS does not resolve",
    "replication lags",
    "the cache is stale",
];
const CONTEXTS: &[&str] = &[
    "prod", "staging", "ci", "laptop", "k8s", "aws", "gcp", "on-prem",
];
const TAGS: &[&str] = &[
    "k8s",
    "git",
    "python",
    "rust",
    "database",
    "networking",
    "security",
    "llm",
    "ci",
    "observability",
    "storage",
    "performance",
    "release",
    "linux",
    "cloud",
];

/// A generated procedure.
pub(crate) struct Doc {
    /// Its name.
    pub(crate) name: String,
    /// Its description.
    pub(crate) description: String,
    /// Its tags.
    pub(crate) tags: Vec<&'static str>,
    /// Its body.
    pub(crate) body: String,
}

fn pick<'a>(rng: &mut StdRng, list: &[&'a str]) -> &'a str {
    list.choose(rng).copied().unwrap_or("x")
}

/// A deterministic, varied procedure.
pub(crate) fn procedure(rng: &mut StdRng, i: usize) -> Doc {
    let (verb, object, tool) = (pick(rng, VERBS), pick(rng, OBJECTS), pick(rng, TOOLS));
    let (symptom, context) = (pick(rng, SYMPTOMS), pick(rng, CONTEXTS));
    let service = format!("svc-{}", rng.gen_range(0..5_000));
    let name = match rng.gen_range(0..4) {
        0 => format!("{verb} a {object} with {tool}"),
        1 => format!("{verb} the {object} in {context}"),
        2 => format!("How to {verb} {object} when {symptom}"),
        _ => format!("{tool}: {verb} {object}"),
    };
    let description = format!(
        "Use {tool} to {verb} the {object} of {service} in {context} when {symptom}; \
         checked by run {i}."
    );
    let mut tags: Vec<&str> = (0..rng.gen_range(1..4)).map(|_| pick(rng, TAGS)).collect();
    tags.dedup();
    let body = format!(
        "1. {tool} status {service}\n2. {verb} {object} --env {context}\n3. verify that {symptom} is gone"
    );
    Doc {
        name,
        description,
        tags,
        body,
    }
}

/// A query in other words than the procedures'.
pub(crate) fn query(rng: &mut StdRng) -> String {
    let (verb, object, symptom) = (pick(rng, VERBS), pick(rng, OBJECTS), pick(rng, SYMPTOMS));
    match rng.gen_range(0..3) {
        0 => format!("need to {verb} my {object}, {symptom}"),
        1 => format!("{object} problem: {symptom}"),
        _ => format!("{verb} {object} using {}", pick(rng, TOOLS)),
    }
}

/// The `n` benchmark procedures (the same at every call).
pub(crate) fn procedures(n: usize) -> Vec<Doc> {
    let mut rng = StdRng::seed_from_u64(42);
    (0..n).map(|i| procedure(&mut rng, i)).collect()
}

/// The documents' texts by field.
pub(crate) fn texts_of(docs: &[Doc]) -> Vec<DocumentText<'_>> {
    docs.iter()
        .map(|d| DocumentText {
            name: &d.name,
            description: &d.description,
            tags: &d.tags,
            body: Some(&d.body),
        })
        .collect()
}

/// The text each document is embedded from, as `SearchIndex` builds it.
pub(crate) fn embedding_texts(
    embedder: &Arc<dyn Embedder>,
    texts: &[DocumentText<'_>],
) -> Vec<String> {
    let probe = SearchIndex::<u64>::new(embedder.clone()).expect("index");
    texts.iter().map(|t| probe.embedding_text(t)).collect()
}
