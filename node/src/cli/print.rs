//! Human-readable output of the CLI.

use std::io::Write;

use knack_node::status::{PeerView, StatusView};
use knack_node::views::{ProcedureView, RankedView};

/// Prints a ranking as a table.
pub(crate) fn ranking(out: &mut impl Write, rows: &[RankedView]) -> std::io::Result<()> {
    if rows.is_empty() {
        return writeln!(out, "(no procedures)");
    }
    writeln!(
        out,
        "{:<4} {:<16} {:>6} {:>6} {:>6} {:>5} {:>5}  name",
        "#", "id", "score", "conf", "boost", "succ", "fail"
    )?;
    for (i, row) in rows.iter().enumerate() {
        writeln!(
            out,
            "{:<4} {:<16} {:>6.3} {:>6.3} {:>6.3} {:>5} {:>5}  {}{}{}",
            i + 1,
            &row.id[..16.min(row.id.len())],
            row.score,
            row.confidence,
            row.boost,
            row.successes,
            row.failures,
            clean(&row.name, false),
            if row.crystallized {
                "  [crystallized]"
            } else {
                ""
            },
            row.draw
                .map_or(String::new(), |d| format!("  (drew {d:.3})"))
        )?;
        if let Some(e) = &row.explain {
            let num = |k: &str| e.get(k).and_then(serde_json::Value::as_f64);
            let rank = |k: &str| {
                e.get(k)
                    .and_then(serde_json::Value::as_u64)
                    .map_or("-".to_owned(), |r| r.to_string())
            };
            let opt = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.3}"));
            writeln!(
                out,
                "     similarity {} (vector rank {}), lexical rank {} (bm25 {}), relevance {}, \
                 evidence {}, rate {}, context rate {}, boost {}, final {}",
                opt(num("cosine")),
                rank("vector_rank"),
                rank("lexical_rank"),
                opt(num("bm25")),
                opt(num("relevance")),
                opt(num("evidence_term")),
                opt(num("success_rate")),
                opt(num("context_rate")),
                opt(num("boost")),
                opt(num("final_score")),
            )?;
        }
    }
    Ok(())
}

/// Prints one procedure.
pub(crate) fn procedure(out: &mut impl Write, p: &ProcedureView) -> std::io::Result<()> {
    writeln!(
        out,
        "{}  {}",
        clean(&p.name, false),
        if p.crystallized { "[crystallized]" } else { "" }
    )?;
    writeln!(out, "  id          {}", p.id)?;
    writeln!(out, "  space       {}", p.space)?;
    writeln!(out, "  kind        {}", clean(&p.kind, false))?;
    if !p.description.is_empty() {
        writeln!(out, "  description {}", clean(&p.description, true))?;
    }
    writeln!(out, "  tags        {}", clean(&p.tags.join(", "), false))?;
    writeln!(
        out,
        "  outcomes    {} successes, {} failures ({} agents with successes), mean {:.0} ms",
        p.successes, p.failures, p.success_agents, p.mean_duration_ms
    )?;
    writeln!(
        out,
        "  score       {:.3} = confidence {:.3} + boost {:.3} (rate {:.3})",
        p.score, p.confidence, p.boost, p.rate
    )?;
    for (tag, c) in &p.contexts {
        writeln!(
            out,
            "  context     {}: {} s / {} f",
            clean(tag, false),
            c.successes,
            c.failures
        )?;
    }
    for r in &p.relations {
        let other = if r.from == p.id { &r.to } else { &r.from };
        writeln!(
            out,
            "  relation    {} {:.2} {}",
            r.kind,
            r.strength,
            &other[..16.min(other.len())]
        )?;
    }
    if let Some(body) = &p.body {
        writeln!(
            out,
            "  body        {} bytes, blake3 {}",
            body.size,
            &body.blake3[..16]
        )?;
        if let Some(cid) = &body.cid {
            writeln!(out, "  ipfs        {cid}")?;
        }
        if let Some(text) = &body.text {
            writeln!(out, "---")?;
            writeln!(out, "{}", clean(text, true))?;
        }
    }
    Ok(())
}

/// Prints the status.
pub(crate) fn status(out: &mut impl Write, s: &StatusView) -> std::io::Result<()> {
    writeln!(out, "peer id   {}", s.peer_id)?;
    writeln!(out, "agent id  {}", s.agent_id)?;
    if let Some(api) = &s.api {
        writeln!(out, "api       http://{api}")?;
    }
    for addr in &s.listen_addrs {
        writeln!(out, "listen    {addr}")?;
    }
    writeln!(out, "peers     {}", s.peers.len())?;
    if let Some(private) = &s.private_network {
        writeln!(
            out,
            "network   private (swarm key fingerprint {}; TCP only)",
            private.fingerprint
        )?;
    }
    writeln!(out, "store     {} bytes", s.store_bytes)?;
    writeln!(
        out,
        "search    embedder {}{}",
        s.search.embedder,
        s.search
            .fallback
            .as_ref()
            .map_or(String::new(), |f| format!(" (fallback: {f})"))
    )?;
    let c = &s.content;
    writeln!(out, "content   {}", c.mode)?;
    writeln!(
        out,
        "  blobs   {} ({} of {} budget), {} downloading, {} pinned in IPFS",
        c.blobs,
        human_bytes(c.blob_bytes),
        human_bytes(c.blob_budget_bytes),
        c.downloads,
        c.pinned
    )?;
    if let Some(ipfs) = &c.ipfs {
        writeln!(
            out,
            "  ipfs    {} {}{}; {} pin jobs pending; {} pinned by this node",
            ipfs.endpoint,
            if ipfs.healthy {
                "healthy"
            } else {
                "UNREACHABLE"
            },
            ipfs.version
                .as_ref()
                .map_or(String::new(), |v| format!(" (version {v})")),
            ipfs.pending_jobs,
            ipfs.pinned_by_this_node
        )?;
        if let Some(e) = &ipfs.last_error {
            writeln!(out, "  last IPFS error: {e}")?;
        }
    }
    for space in &s.spaces {
        writeln!(
            out,
            "space     {}: {} procedures, {} ops from {} authors, digest {}",
            space.name,
            space.procedures,
            space.ops,
            space.version_vector.len(),
            &space.digest[..16]
        )?;
    }
    Ok(())
}

/// Prints peers.
pub(crate) fn peers(out: &mut impl Write, peers: &[PeerView]) -> std::io::Result<()> {
    if peers.is_empty() {
        return writeln!(out, "(no peers)");
    }
    for p in peers {
        writeln!(out, "{}  {}", p.peer_id, p.addrs.join(" "))?;
    }
    Ok(())
}

/// `text` safe for a terminal: control characters (a terminal escape sequence, a carriage
/// return that overwrites the line) are shown escaped (`\u{1b}`), never sent raw; newlines and
/// tabs are kept in multi-line text.
pub(crate) fn clean(text: &str, multi_line: bool) -> std::borrow::Cow<'_, str> {
    let keep = |c: char| !c.is_control() || (multi_line && matches!(c, '\n' | '\t'));
    if text.chars().all(keep) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if keep(c) {
            out.push(c);
        } else {
            out.extend(c.escape_default());
        }
    }
    std::borrow::Cow::Owned(out)
}

/// A byte count for people: B, KiB, MiB, GiB.
fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::clean;

    #[test]
    fn control_characters_are_printed_escaped() {
        assert_eq!(clean("plain name", false), "plain name");
        assert_eq!(clean("clear\u{1b}[2J", false), "clear\\u{1b}[2J");
        assert_eq!(clean("over\rwrite", false), "over\\rwrite");
        assert_eq!(clean("two\nlines", false), "two\\nlines");
        assert_eq!(clean("two\nlines\tand\u{7}", true), "two\nlines\tand\\u{7}");
    }
}
