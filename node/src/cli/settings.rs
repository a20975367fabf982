//! `knack settings`: a space's replicated settings, shown or changed.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use super::SettingsArgs;
use super::client::Client;
use super::commands::{emit, path};
use crate::settings::SettingsView;

/// Runs `knack settings`: with `--set`, sends the changes as one patch (the node refuses
/// unknown keys and values out of range) and prints the settings after it.
pub(super) fn settings(dir: &Path, out: &mut impl Write, args: SettingsArgs) -> anyhow::Result<()> {
    let client = Client::from_dir(dir)?;
    let route = path(&args.space.space, "settings");
    let view: SettingsView = if args.set.is_empty() {
        client.get(&route)?
    } else {
        client.patch(&route, &patch_of(&args.set)?)?
    };
    emit(out, args.json.json, &view, |o| print(o, &view))?;
    Ok(())
}

/// The JSON patch `KEY=VALUE` pairs stand for: each value a JSON number or boolean.
fn patch_of(pairs: &[String]) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    let mut patch = serde_json::Map::new();
    for pair in pairs {
        let (key, value) = pair
            .split_once('=')
            .with_context(|| format!("--set {pair:?}: expected KEY=VALUE"))?;
        let value = serde_json::from_str::<serde_json::Value>(value.trim())
            .ok()
            .filter(|v| v.is_number() || v.is_boolean())
            .with_context(|| format!("--set {pair:?}: the value must be a number or true/false"))?;
        if patch.insert(key.trim().to_owned(), value).is_some() {
            anyhow::bail!("--set {key:?} given twice");
        }
    }
    Ok(patch)
}

fn print(o: &mut dyn Write, v: &SettingsView) -> std::io::Result<()> {
    let by = v.set_by.as_deref().unwrap_or("nobody: the defaults");
    writeln!(o, "{} (set by {by})", v.space)?;
    let rows: [(&str, String); 11] = [
        ("contagion_factor", v.contagion_factor.to_string()),
        ("contagion_hops", v.contagion_hops.to_string()),
        ("negative_contagion", v.negative_contagion.to_string()),
        (
            "contagion_half_life_ms",
            v.contagion_half_life_ms.to_string(),
        ),
        ("contagion_prior_max", v.contagion_prior_max.to_string()),
        (
            "crystallize_min_outcomes",
            v.crystallize_min_outcomes.to_string(),
        ),
        (
            "crystallize_confidence",
            v.crystallize_confidence.to_string(),
        ),
        (
            "crystallize_min_agents",
            v.crystallize_min_agents.to_string(),
        ),
        ("melt_confidence", v.melt_confidence.to_string()),
        ("inline_max_bytes", v.inline_max_bytes.to_string()),
        ("evidence_weighting", v.evidence_weighting.to_string()),
    ];
    for (key, value) in rows {
        writeln!(o, "  {key:<26} {value}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_become_a_typed_patch_and_bad_pairs_are_refused() {
        let patch = patch_of(&[
            "evidence_weighting=true".into(),
            "crystallize_confidence = 0.8".into(),
        ])
        .unwrap();
        assert_eq!(patch["evidence_weighting"], serde_json::json!(true));
        assert_eq!(patch["crystallize_confidence"], serde_json::json!(0.8));
        assert!(patch_of(&["evidence_weighting".into()]).is_err());
        assert!(patch_of(&["evidence_weighting=yes".into()]).is_err());
        assert!(patch_of(&["contagion_hops=2".into(), "contagion_hops=3".into()]).is_err());
    }
}
