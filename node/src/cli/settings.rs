//! `knack settings`: a space's replicated settings, shown or changed.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use super::SettingsArgs;
use super::client::Client;
use super::commands::{emit, path};
use knack_node::settings::SettingsView;

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

/// The settings as `KEY VALUE` lines, the keys those `--set` takes (every field of the view
/// but `space` and `set_by`, so a new setting is listed without being named here).
fn print(o: &mut dyn Write, v: &SettingsView) -> std::io::Result<()> {
    let by = v.set_by.as_deref().unwrap_or("nobody: the defaults");
    writeln!(o, "{} (set by {by})", v.space)?;
    let fields = serde_json::to_value(v).map_err(std::io::Error::other)?;
    for (key, value) in fields.as_object().into_iter().flatten() {
        if key != "space" && key != "set_by" {
            writeln!(o, "  {key:<26} {value}")?;
        }
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
