//! Lexical search over a space: words of the query against names, tags and descriptions,
//! ranked by relevance, then by score. (Semantic search is a later issue.)

use knack_crdt::{Procedure, Ranked, Space};

/// Longest query accepted, in bytes.
pub const MAX_QUERY_BYTES: usize = 1024;

/// Weight of a query word found in the name.
const NAME_WEIGHT: f64 = 3.0;
/// Weight of a query word equal to a tag.
const TAG_WEIGHT: f64 = 2.0;
/// Weight of a query word found in the description.
const DESCRIPTION_WEIGHT: f64 = 1.0;
/// Share of a word's weight earned by a prefix match ("deploy" for "deployment").
const PREFIX_SHARE: f64 = 0.5;

/// The words of `text`: lowercase runs of letters and digits.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// How well `p` matches the query `terms`: weighted exact and prefix matches.
pub fn relevance(p: &Procedure<'_>, terms: &[String]) -> f64 {
    let name = words(p.name());
    let description = words(p.description());
    let tags: Vec<String> = p.tags().flat_map(words).collect();
    terms
        .iter()
        .map(|term| {
            field_match(&name, term) * NAME_WEIGHT
                + field_match(&tags, term) * TAG_WEIGHT
                + field_match(&description, term) * DESCRIPTION_WEIGHT
        })
        .sum()
}

fn field_match(field: &[String], term: &str) -> f64 {
    if field.iter().any(|w| w == term) {
        1.0
    } else if field
        .iter()
        .any(|w| w.starts_with(term) || term.starts_with(w.as_str()))
    {
        PREFIX_SHARE
    } else {
        0.0
    }
}

/// The `n` procedures of `space` most relevant to `query` at `now_ms`, with their relevance;
/// ties broken by score, then the ranking's order.
pub fn search(space: &Space, query: &str, n: usize, now_ms: u64) -> Vec<(Ranked, f64)> {
    let terms = words(query);
    if terms.is_empty() || n == 0 {
        return Vec::new();
    }
    let mut hits: Vec<(Ranked, f64)> = space
        .procedures()
        .filter_map(|p| {
            let r = relevance(&p, &terms);
            (r > 0.0).then(|| (Ranked::of(&p, None, now_ms), r))
        })
        .collect();
    hits.sort_by(|(a, ra), (b, rb)| {
        rb.total_cmp(ra)
            .then_with(|| b.score.total_cmp(&a.score))
            .then_with(|| a.id.cmp(&b.id))
    });
    hits.truncate(n);
    hits
}

#[cfg(test)]
mod tests {
    use knack_crdt::{AgentId, Body, Hlc, NewProcedure, ProcedureKind, SpaceName};

    use super::*;

    fn space() -> Space {
        let mut s = Space::new(SpaceName::new("s").unwrap());
        let items = [
            (
                "Deploy with helm",
                "roll out a chart to kubernetes",
                vec!["k8s"],
            ),
            (
                "Restore a postgres backup",
                "pg_restore from the nightly dump",
                vec!["db"],
            ),
            (
                "Rotate TLS certificates",
                "renew and deploy certs",
                vec!["tls"],
            ),
        ];
        for (i, (name, description, tags)) in items.into_iter().enumerate() {
            let new = NewProcedure {
                nonce: i as u64,
                name: name.into(),
                description: description.into(),
                kind: ProcedureKind::Steps,
                tags: tags.into_iter().map(String::from).collect(),
                body: Body::Inline(Vec::new()),
            };
            let (_, d) = s.add_procedure(AgentId([1; 32]), Hlc::at(1), new).unwrap();
            s.apply(&d);
        }
        s
    }

    #[test]
    fn name_matches_outrank_description_matches() {
        let s = space();
        let hits = search(&s, "deploy", 10, 0);
        let names: Vec<&str> = hits
            .iter()
            .map(|(r, _)| s.procedure(&r.id).unwrap().name())
            .collect();
        assert_eq!(names, vec!["Deploy with helm", "Rotate TLS certificates"]);
        assert!(hits[0].1 > hits[1].1);
    }

    #[test]
    fn tags_prefixes_and_empty_queries() {
        let s = space();
        let hits = search(&s, "DB", 10, 0);
        assert_eq!(hits.len(), 1);
        assert_eq!(
            s.procedure(&hits[0].0.id).unwrap().name(),
            "Restore a postgres backup"
        );
        assert_eq!(search(&s, "certif", 10, 0).len(), 1);
        assert!(search(&s, "  ", 10, 0).is_empty());
        assert!(search(&s, "nothing-matches-this", 10, 0).is_empty());
    }
}
