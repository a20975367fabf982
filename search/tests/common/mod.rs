//! A hand-written corpus of procedures and natural-language queries with known best answers.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)] // Shared by several tests; a panic is the failure report.

use std::sync::Arc;

use knack_search::{DocumentText, Embedder, SearchIndex};

/// One procedure: name, description, tags, body.
pub struct Proc {
    pub name: &'static str,
    pub description: &'static str,
    pub tags: &'static [&'static str],
    pub body: &'static str,
}

const fn p(
    name: &'static str,
    description: &'static str,
    tags: &'static [&'static str],
    body: &'static str,
) -> Proc {
    Proc {
        name,
        description,
        tags,
        body,
    }
}

pub const CORPUS: &[Proc] = &[
    p(
        "Restart a Kubernetes deployment",
        "Roll every pod of a deployment without downtime",
        &["k8s", "kubectl"],
        "kubectl rollout restart deployment/<name> -n <ns>; kubectl rollout status deployment/<name>",
    ),
    p(
        "Roll back a Kubernetes deployment",
        "Return a deployment to its previous revision after a bad release",
        &["k8s", "kubectl", "release"],
        "kubectl rollout undo deployment/<name>; kubectl rollout history deployment/<name>",
    ),
    p(
        "Debug a pod in CrashLoopBackOff",
        "Find why a container keeps crashing and restarting",
        &["k8s", "debugging"],
        "kubectl describe pod <pod>; kubectl logs <pod> --previous; check exit code and OOMKilled",
    ),
    p(
        "Fix ImagePullBackOff",
        "The cluster cannot pull the container image: registry credentials or a wrong tag",
        &["k8s", "docker"],
        "kubectl describe pod; check imagePullSecrets; docker pull <image> locally",
    ),
    p(
        "Scale a deployment horizontally",
        "Change the replica count or configure a HorizontalPodAutoscaler",
        &["k8s", "scaling"],
        "kubectl scale deploy/<name> --replicas=5; kubectl autoscale deploy <name> --min=2 --max=10 --cpu-percent=80",
    ),
    p(
        "Port-forward to a service in the cluster",
        "Reach an internal service from your laptop",
        &["k8s", "networking"],
        "kubectl port-forward svc/<name> 8080:80",
    ),
    p(
        "Undo the last git commit but keep the changes",
        "Move HEAD back one commit and leave the files modified",
        &["git"],
        "git reset --soft HEAD~1",
    ),
    p(
        "Resolve a git merge conflict",
        "Edit conflicting hunks, mark them resolved and finish the merge",
        &["git"],
        "git status; edit files between <<<<<<< and >>>>>>>; git add <file>; git commit",
    ),
    p(
        "Rebase a feature branch onto main",
        "Replay your commits on top of the latest main branch",
        &["git"],
        "git fetch origin; git rebase origin/main; git push --force-with-lease",
    ),
    p(
        "Recover a deleted branch with reflog",
        "Find the lost commit in the reflog and recreate the branch",
        &["git"],
        "git reflog; git branch <name> <sha>",
    ),
    p(
        "Remove a secret committed to git history",
        "Purge a leaked password or key from every commit and rotate it",
        &["git", "security"],
        "git filter-repo --path secrets.env --invert-paths; rotate the credential",
    ),
    p(
        "Create a Python virtual environment",
        "Isolate a project's dependencies with venv",
        &["python"],
        "python3 -m venv .venv; source .venv/bin/activate; pip install -r requirements.txt",
    ),
    p(
        "Fix ModuleNotFoundError in Python",
        "The interpreter cannot import a package: wrong environment or missing install",
        &["python", "debugging"],
        "which python; python -m pip install <pkg>; check sys.path",
    ),
    p(
        "Profile slow Python code",
        "Find the functions that take the most time with cProfile",
        &["python", "performance"],
        "python -m cProfile -o out.prof app.py; snakeviz out.prof",
    ),
    p(
        "Pin Python dependencies with a lock file",
        "Reproducible installs with pip-tools",
        &["python", "packaging"],
        "pip-compile requirements.in; pip-sync requirements.txt",
    ),
    p(
        "Restore a PostgreSQL backup",
        "Load a pg_dump archive into a fresh database",
        &["postgres", "database", "backup"],
        "createdb app; pg_restore -d app --no-owner dump.pgdump",
    ),
    p(
        "Find slow PostgreSQL queries",
        "Use pg_stat_statements and EXPLAIN ANALYZE to locate expensive queries",
        &["postgres", "database", "performance"],
        "SELECT query, total_exec_time FROM pg_stat_statements ORDER BY 2 DESC LIMIT 10; EXPLAIN ANALYZE ...",
    ),
    p(
        "Vacuum a bloated PostgreSQL table",
        "Reclaim space after mass deletes and update planner statistics",
        &["postgres", "database"],
        "VACUUM (VERBOSE, ANALYZE) big_table; consider pg_repack",
    ),
    p(
        "Add an index without locking the table",
        "Create a PostgreSQL index concurrently on a live table",
        &["postgres", "database", "migration"],
        "CREATE INDEX CONCURRENTLY idx_users_email ON users(email);",
    ),
    p(
        "Flush a Redis cache",
        "Clear all keys of one Redis database",
        &["redis", "cache"],
        "redis-cli -n 0 FLUSHDB",
    ),
    p(
        "Back up a MySQL database",
        "Dump a MySQL database consistently with mysqldump",
        &["mysql", "database", "backup"],
        "mysqldump --single-transaction --routines app > app.sql",
    ),
    p(
        "Fix ENOSPC: no space left on device",
        "Free disk space when builds or writes fail with ENOSPC",
        &["linux", "disk"],
        "df -h; du -sh /var/* | sort -h; docker system prune -a; journalctl --vacuum-size=200M",
    ),
    p(
        "Find which process listens on a port",
        "Identify the program bound to a TCP port",
        &["linux", "networking"],
        "ss -ltnp | grep :8080; lsof -i :8080",
    ),
    p(
        "Debug DNS resolution",
        "A hostname does not resolve or resolves to the wrong address",
        &["networking", "dns"],
        "dig +trace example.com; cat /etc/resolv.conf; resolvectl status",
    ),
    p(
        "Renew a Let's Encrypt TLS certificate",
        "Rotate an expiring HTTPS certificate with certbot",
        &["tls", "security"],
        "certbot renew --dry-run; certbot renew; systemctl reload nginx",
    ),
    p(
        "Open a firewall port with ufw",
        "Allow inbound traffic to a service on Ubuntu",
        &["linux", "networking", "security"],
        "ufw allow 443/tcp; ufw status",
    ),
    p(
        "Set up SSH key authentication",
        "Log in to a server without a password using an SSH key",
        &["ssh", "security"],
        "ssh-keygen -t ed25519; ssh-copy-id user@host",
    ),
    p(
        "Speed up cargo-build in CI",
        "Cache the target directory and registry so Rust builds are faster",
        &["rust", "ci"],
        "use sccache or actions/cache on ~/.cargo and target/; cargo build --locked",
    ),
    p(
        "Fix a Rust borrow checker error",
        "Resolve 'cannot borrow as mutable because it is also borrowed as immutable'",
        &["rust"],
        "shorten the borrow's scope, clone, or split the struct",
    ),
    p(
        "Build a small Docker image",
        "Multi-stage build that ships only the binary",
        &["docker"],
        "FROM rust:1 AS build ... FROM gcr.io/distroless/cc; COPY --from=build /app/target/release/app /",
    ),
    p(
        "Clean up unused Docker resources",
        "Remove stopped containers, dangling images and build cache",
        &["docker", "disk"],
        "docker system prune; docker builder prune",
    ),
    p(
        "Write a few-shot prompt",
        "Give the model worked examples before the real input to steer its output format",
        &["llm", "prompting"],
        "Instruction, then 3 input/output examples, then the new input",
    ),
    p(
        "Get JSON output from an LLM reliably",
        "Constrain a language model to answer in valid JSON matching a schema",
        &["llm", "prompting"],
        "describe the schema, use a JSON mode or grammar, validate and retry on parse errors",
    ),
    p(
        "Reduce LLM hallucinations with retrieval",
        "Ground a language model's answers in retrieved documents (RAG) so it stops inventing facts; ask for citations",
        &["llm", "rag"],
        "retrieve top-k passages, put them in context, instruct to answer only from them",
    ),
    p(
        "Handle rate limits from an API",
        "Retry with exponential backoff and jitter on HTTP 429",
        &["http", "reliability"],
        "sleep = base * 2^attempt + random jitter; respect Retry-After",
    ),
    p(
        "Rotate AWS access keys",
        "Create a new IAM access key, deploy it, then delete the old one",
        &["aws", "security"],
        "aws iam create-access-key; update secrets; aws iam delete-access-key",
    ),
    p(
        "Sync files to S3",
        "Upload a folder to an S3 bucket, only what changed",
        &["aws", "storage"],
        "aws s3 sync ./dist s3://bucket/ --delete",
    ),
    p(
        "Terraform state lock is stuck",
        "Release a stale lock after a crashed terraform apply",
        &["terraform", "infra"],
        "terraform force-unlock <LOCK_ID>",
    ),
    p(
        "Tail logs of a systemd service",
        "Follow the journal of one unit",
        &["linux", "logs"],
        "journalctl -u <unit> -f --since '10 min ago'",
    ),
    p(
        "Schedule a cron job",
        "Run a script every night at 2am",
        &["linux"],
        "crontab -e; 0 2 * * * /usr/local/bin/backup.sh",
    ),
    p(
        "Find large files on disk",
        "List the biggest files and folders to free space",
        &["linux", "disk"],
        "du -ah / | sort -rh | head -20; ncdu /",
    ),
    p(
        "Run database migrations safely",
        "Apply schema migrations in a deploy without downtime",
        &["database", "migration", "deploy"],
        "expand/contract: add columns first, backfill, switch reads, drop later",
    ),
];

/// A natural-language query and the name of its best answer.
pub const QUERIES: &[(&str, &str)] = &[
    (
        "my pods keep crashing and restarting over and over",
        "Debug a pod in CrashLoopBackOff",
    ),
    (
        "go back to the previous version of the app on the cluster",
        "Roll back a Kubernetes deployment",
    ),
    (
        "I committed by mistake, want to uncommit but keep my edits",
        "Undo the last git commit but keep the changes",
    ),
    (
        "accidentally deleted a branch, how to get it back",
        "Recover a deleted branch with reflog",
    ),
    (
        "disk is full and the build fails",
        "Fix ENOSPC: no space left on device",
    ),
    ("ENOSPC", "Fix ENOSPC: no space left on device"),
    (
        "which program is using port 8080",
        "Find which process listens on a port",
    ),
    (
        "load a postgres dump into a new database",
        "Restore a PostgreSQL backup",
    ),
    (
        "database queries are slow, find the expensive ones",
        "Find slow PostgreSQL queries",
    ),
    (
        "python says no module named requests",
        "Fix ModuleNotFoundError in Python",
    ),
    (
        "make the rust compile in CI faster",
        "Speed up cargo-build in CI",
    ),
    ("cargo-build", "Speed up cargo-build in CI"),
    ("hostname won't resolve", "Debug DNS resolution"),
    (
        "the https certificate is about to expire",
        "Renew a Let's Encrypt TLS certificate",
    ),
    (
        "make the model answer in structured json",
        "Get JSON output from an LLM reliably",
    ),
    (
        "show the model some examples in the prompt",
        "Write a few-shot prompt",
    ),
    (
        "stop the language model from making things up",
        "Reduce LLM hallucinations with retrieval",
    ),
    (
        "getting 429 too many requests from the server",
        "Handle rate limits from an API",
    ),
    (
        "leaked a password in a commit",
        "Remove a secret committed to git history",
    ),
    (
        "terraform says the state is locked",
        "Terraform state lock is stuck",
    ),
    (
        "follow the logs of a service",
        "Tail logs of a systemd service",
    ),
    (
        "add more replicas when cpu is high",
        "Scale a deployment horizontally",
    ),
    (
        "create an index on a big table in production without blocking writes",
        "Add an index without locking the table",
    ),
    (
        "reach a service inside the cluster from my laptop",
        "Port-forward to a service in the cluster",
    ),
    ("pg_restore", "Restore a PostgreSQL backup"),
    (
        "login to server without password",
        "Set up SSH key authentication",
    ),
];

/// The index of the procedure named `name`.
pub fn index_of(name: &str) -> usize {
    CORPUS
        .iter()
        .position(|p| p.name == name)
        .unwrap_or_else(|| panic!("no procedure named {name:?}"))
}

/// A search index over the corpus, keyed by position.
pub fn corpus_index(embedder: Arc<dyn Embedder>) -> SearchIndex<u32> {
    let mut index = SearchIndex::new(embedder).unwrap();
    let docs: Vec<(u32, DocumentText<'_>)> = CORPUS
        .iter()
        .enumerate()
        .map(|(i, p)| {
            (
                i as u32,
                DocumentText {
                    name: p.name,
                    description: p.description,
                    tags: p.tags,
                    body: Some(p.body),
                },
            )
        })
        .collect();
    index.upsert_batch(&docs).unwrap();
    index
}
