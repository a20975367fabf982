//! The docs against the repository and the binary, so they cannot drift unnoticed: every
//! repository path README.md, ARCHITECTURE.md and protocol/WIRE.md name in backticks (or link
//! to) exists; every `knack ...` command README.md shows is a subcommand of the real `knack`
//! binary and every flag it shows is one that command takes; and README.md's lists of the
//! commands that take `--json` and `--space` are the ones clap defines. Reads files and runs
//! `knack ... --help` only: no node is started.

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::knack_bin;

/// The docs whose paths are checked, relative to the repository root.
const DOCS: [&str; 3] = ["README.md", "ARCHITECTURE.md", "protocol/WIRE.md"];

/// Paths the docs name that a fresh clone does not hold: the path, the `.gitignore` that keeps
/// it out and the line that does.
const NOT_IN_A_CLONE: [(&str, &str, &str); 1] = [
    // Built on the host for the container image's `prebuilt` target.
    ("deploy/prebuilt/knack", "deploy/.gitignore", "prebuilt/"),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(doc: &str) -> String {
    std::fs::read_to_string(root().join(doc)).unwrap()
}

/// A document split into its fenced code blocks and the rest (prose with inline code).
struct Doc {
    /// The lines of every fenced block.
    fenced: Vec<String>,
    /// Everything outside fenced blocks.
    prose: String,
}

impl Doc {
    fn of(text: &str) -> Doc {
        let (mut fenced, mut prose, mut inside) = (Vec::new(), String::new(), false);
        for line in text.lines() {
            if line.trim_start().starts_with("```") {
                inside = !inside;
            } else if inside {
                fenced.push(line.to_owned());
            } else {
                prose.push_str(line);
                prose.push('\n');
            }
        }
        Doc { fenced, prose }
    }

    /// The inline code spans of the prose (they may wrap over a line break).
    fn spans(&self) -> impl Iterator<Item = &str> {
        self.prose.split('`').skip(1).step_by(2)
    }

    /// The targets of the prose's Markdown links (`[text](target)`).
    fn links(&self) -> Vec<&str> {
        self.prose
            .split("](")
            .skip(1)
            .filter_map(|rest| rest.split(')').next())
            .collect()
    }
}

/// The top-level directories of the repository (crates, tools, deploy, .ci, ...).
fn top_level_dirs() -> BTreeSet<String> {
    std::fs::read_dir(root())
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.file_type().unwrap().is_dir())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name != ".git" && name != "target")
        .collect()
}

/// The repository paths a span names: words that start with a top-level directory and hold
/// no placeholder (`{space}`, `<time>`, `$VAR`, `*`, `...`).
fn paths_in(span: &str, dirs: &BTreeSet<String>) -> Vec<String> {
    span.split(|c: char| c.is_whitespace() || matches!(c, ',' | '(' | ')' | '"' | '\''))
        .map(|word| word.trim_end_matches(['.', ':', ';']))
        .filter(|word| {
            word.split_once('/')
                .is_some_and(|(first, _)| dirs.contains(first))
        })
        .filter(|word| !word.contains(['{', '}', '<', '>', '$', '*']) && !word.contains("..."))
        .map(|word| word.split('#').next().unwrap_or(word).to_owned())
        .collect()
}

#[test]
fn every_repository_path_the_docs_name_exists() {
    let dirs = top_level_dirs();
    assert!(dirs.contains("crdt") && dirs.contains("node"), "{dirs:?}");
    let mut missing = Vec::new();
    let mut checked = 0;
    for doc in DOCS {
        let parsed = Doc::of(&read(doc));
        for span in parsed.spans() {
            for path in paths_in(span, &dirs) {
                if NOT_IN_A_CLONE.iter().any(|(p, ..)| *p == path) {
                    continue;
                }
                checked += 1;
                if !root().join(&path).exists() {
                    missing.push(format!("{doc}: `{path}`"));
                }
            }
        }
        let base = Path::new(doc).parent().unwrap();
        for link in parsed.links() {
            if link.contains("://") || link.starts_with('#') {
                continue;
            }
            let target = link.split('#').next().unwrap();
            checked += 1;
            if !root().join(base).join(target).exists() {
                missing.push(format!("{doc}: link ({link})"));
            }
        }
    }
    assert!(
        checked > 50,
        "only {checked} paths found: is the parser broken?"
    );
    assert!(missing.is_empty(), "named but absent: {missing:#?}");
}

#[test]
fn the_paths_kept_out_of_a_clone_are_ignored_by_git() {
    for (path, ignore_file, line) in NOT_IN_A_CLONE {
        let ignore = read(ignore_file);
        assert!(
            ignore.lines().any(|l| l.trim() == line),
            "{path}: {ignore_file} has no line {line:?}"
        );
        let dir = Path::new(ignore_file).parent().unwrap();
        assert!(
            Path::new(path).starts_with(dir.join(line)),
            "{path} is not under {ignore_file}'s {line:?}"
        );
    }
}

/// `knack ARGS --help`: its text, or `None` when the binary refuses the command.
fn help(args: &[&str]) -> Option<String> {
    let out = Command::new(knack_bin())
        .args(args)
        .arg("--help")
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8(out.stdout).unwrap())
}

/// The subcommands a help text lists (without `help`).
fn subcommands(help: &str) -> Vec<String> {
    let Some((_, rest)) = help.split_once("Commands:\n") else {
        return Vec::new();
    };
    rest.lines()
        .take_while(|line| !line.trim().is_empty())
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

/// The long flags a help text lists (in its option lines, not in descriptions).
fn flags(help: &str) -> BTreeSet<String> {
    help.lines()
        .map(str::trim_start)
        .filter(|line| line.starts_with('-'))
        .filter_map(|line| {
            line.split([' ', ',', '='])
                .find(|word| word.starts_with("--"))
        })
        .map(str::to_owned)
        .collect()
}

/// One command of the binary.
struct Subcommand {
    /// Its `--help`.
    help: String,
    /// The long flags it takes.
    flags: BTreeSet<String>,
}

/// The binary's commands by path (`["space", "join"]`), and its top-level subcommands in
/// clap's (declaration) order.
struct Cli {
    commands: BTreeMap<Vec<String>, Subcommand>,
    order: Vec<String>,
}

impl Cli {
    fn of_binary() -> Cli {
        let order = subcommands(&help(&[]).unwrap());
        let mut commands = BTreeMap::new();
        let mut add = |path: Vec<String>, help: String| {
            let flags = flags(&help);
            commands.insert(path, Subcommand { help, flags });
        };
        for sub in &order {
            let text = help(&[sub]).unwrap();
            for nested in subcommands(&text) {
                add(
                    vec![sub.clone(), nested.clone()],
                    help(&[sub, &nested]).unwrap(),
                );
            }
            add(vec![sub.clone()], text);
        }
        Cli { commands, order }
    }

    fn get(&self, path: &[&str]) -> Option<&Subcommand> {
        let path: Vec<String> = path.iter().map(|s| (*s).to_owned()).collect();
        self.commands.get(&path)
    }

    /// Whether `name` or, for a command with subcommands, every subcommand takes `flag`.
    fn takes(&self, name: &str, flag: &str) -> bool {
        let nested: Vec<&Subcommand> = self
            .commands
            .iter()
            .filter(|(path, _)| path.len() == 2 && path[0] == name)
            .map(|(_, command)| command)
            .collect();
        if nested.is_empty() {
            self.get(&[name]).is_some_and(|c| c.flags.contains(flag))
        } else {
            nested.iter().all(|c| c.flags.contains(flag))
        }
    }

    /// The top-level commands `keep` selects, in clap's order, as README.md lists them.
    fn listed(&self, keep: impl Fn(&str) -> bool) -> String {
        let names: Vec<&str> = self
            .order
            .iter()
            .map(String::as_str)
            .filter(|name| keep(name))
            .collect();
        names.join(" ")
    }
}

/// Every `knack ...` command line README.md shows: in its shell blocks and inline code.
fn readme_commands() -> Vec<String> {
    let readme = Doc::of(&read("README.md"));
    let mut lines: Vec<String> = readme
        .fenced
        .iter()
        .filter(|line| !line.trim_start().starts_with('#'))
        .map(|line| line.split(" #").next().unwrap_or(line).to_owned())
        .collect();
    lines.extend(readme.spans().map(|span| span.replace('\n', " ")));
    let mut commands = Vec::new();
    for line in lines {
        // `knack` as a word followed by a space: not `knack-sim`, `knack_search`, `knack.toml`.
        let mut pieces = line.split("knack ");
        let first = pieces.next().unwrap_or_default();
        let mut after_word = first.is_empty() || first.ends_with([' ', '(', '`', '&']);
        for piece in pieces {
            if after_word {
                commands.push(piece.split("&&").next().unwrap_or(piece).trim().to_owned());
            }
            after_word = piece.is_empty() || piece.ends_with([' ', '(', '&']);
        }
    }
    commands
}

#[test]
fn every_command_and_flag_the_readme_shows_is_the_binarys() {
    let cli = Cli::of_binary();
    let mut wrong = Vec::new();
    let commands = readme_commands();
    assert!(
        commands.len() > 30,
        "only {} commands found",
        commands.len()
    );
    for command in &commands {
        let mut words = command
            .split_whitespace()
            .map(|word| word.trim_matches(['[', ']', '(', ')', '`']))
            .peekable();
        // The global option may come first: `knack --dir /tmp/b init`, `knack [--dir DIR] mcp`.
        if words.peek() == Some(&"--dir") {
            words.next();
            words.next();
        }
        let Some(sub) = words.next() else { continue };
        if sub.starts_with('-') {
            continue; // `cargo run --bin knack -- init`: cargo's separator, not a command
        }
        let rest: Vec<&str> = words.collect();
        let mut path = vec![sub];
        if let Some(nested) = rest.first()
            && cli.get(&[sub, nested]).is_some()
        {
            path.push(nested);
        }
        let Some(found) = cli.get(&path) else {
            wrong.push(format!("`knack {command}`: no subcommand {sub:?}"));
            continue;
        };
        for word in rest {
            let flag = word.split('=').next().unwrap_or(word);
            if flag.starts_with("--") && flag.len() > 2 && !found.flags.contains(flag) {
                wrong.push(format!("`knack {command}`: {path:?} takes no {flag}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn the_readme_lists_the_commands_that_take_json_and_space() {
    let cli = Cli::of_binary();
    let no_json = cli.listed(|sub| !cli.takes(sub, "--json"));
    let default_space = cli.listed(|sub| {
        cli.get(&[sub]).is_some_and(|c| {
            c.help
                .lines()
                .any(|l| l.contains("--space <SPACE>") && l.contains("[default: default]"))
        })
    });
    // What this test's reading of clap's help finds, so an empty list cannot pass.
    assert!(no_json.starts_with("init run "), "{no_json}");
    assert!(default_space.starts_with("add edit "), "{default_space}");
    let prose = Doc::of(&read("README.md")).prose.replace('\n', " ");
    for claim in [
        format!("All but `{no_json}` take `--json`"),
        format!("`--space NAME` (default `default`) picks the space of `{default_space}`"),
    ] {
        assert!(prose.contains(&claim), "README.md should say: {claim}");
    }
    // `members` requires `--space` (no default) on each subcommand; `run --space` joins one.
    for sub in ["add", "remove", "list"] {
        let members = cli.get(&["members", sub]).unwrap();
        assert!(members.help.contains("--space <SPACE>"), "members {sub}");
        assert!(
            !members.help.contains("[default: default]"),
            "members {sub}"
        );
    }
    assert!(cli.get(&["run"]).unwrap().help.contains("--space <SPACES>"));
}
