//! A space's replicated settings as the HTTP API returns them and the CLI prints them
//! (`knack settings`), and the patch that changes them (`PATCH /v1/spaces/{space}/settings`).

use knack_crdt::{CrdtError, Fraction, SpaceSettings};
use serde::{Deserialize, Serialize};

/// A space's settings in effect (replicated: every replica of the space uses the same).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SettingsView {
    /// The space.
    pub space: String,
    /// The peer id of the author whose settings are in effect; absent while the defaults
    /// apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_by: Option<String>,
    /// Contagion factor (0..=1): a use of a related procedure counts as this fraction of a
    /// use in a procedure's prior, times the path weight.
    pub contagion_factor: f64,
    /// How many hops contagion travels over `similar` and `context` edges (0: off; at most 6).
    pub contagion_hops: u8,
    /// Whether neighbours' failures may rank a procedure below its own evidence.
    pub negative_contagion: bool,
    /// Half-life of the contagion prior in milliseconds (0: no decay).
    pub contagion_half_life_ms: u64,
    /// Most pseudo-uses the contagion prior may add up to.
    pub contagion_prior_max: u32,
    /// Fewest outcomes before a procedure can crystallize.
    pub crystallize_min_outcomes: u64,
    /// Wilson lower bound of the success rate needed to crystallize (0..=1).
    pub crystallize_confidence: f64,
    /// Fewest distinct agents with successes needed to crystallize.
    pub crystallize_min_agents: u32,
    /// A crystallized procedure melts when its confidence falls below this (0..=
    /// `crystallize_confidence`).
    pub melt_confidence: f64,
    /// Bodies up to this many bytes travel inline in operations (at most 262144).
    pub inline_max_bytes: u32,
    /// Whether agents' reports count with weights derived from their agreement with other
    /// agents (rankings and crystallization use the weighted counts).
    pub evidence_weighting: bool,
}

impl SettingsView {
    /// The view of `settings` in `space`, set by `set_by` (none: the defaults).
    pub fn new(space: String, set_by: Option<String>, settings: &SpaceSettings) -> Self {
        SettingsView {
            space,
            set_by,
            contagion_factor: settings.contagion_factor.as_f64(),
            contagion_hops: settings.contagion_hops,
            negative_contagion: settings.negative_contagion,
            contagion_half_life_ms: settings.contagion_half_life_ms,
            contagion_prior_max: settings.contagion_prior_max,
            crystallize_min_outcomes: settings.crystallize_min_outcomes,
            crystallize_confidence: settings.crystallize_confidence.as_f64(),
            crystallize_min_agents: settings.crystallize_min_agents,
            melt_confidence: settings.melt_confidence.as_f64(),
            inline_max_bytes: settings.inline_max_bytes,
            evidence_weighting: settings.evidence_weighting,
        }
    }
}

/// `PATCH /v1/spaces/{space}/settings`: the fields to change; the others keep their value.
/// Unknown fields are refused, so a misspelt name is an error rather than a silent no-op.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    /// See [`SettingsView::contagion_factor`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contagion_factor: Option<f64>,
    /// See [`SettingsView::contagion_hops`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contagion_hops: Option<u8>,
    /// See [`SettingsView::negative_contagion`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub negative_contagion: Option<bool>,
    /// See [`SettingsView::contagion_half_life_ms`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contagion_half_life_ms: Option<u64>,
    /// See [`SettingsView::contagion_prior_max`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contagion_prior_max: Option<u32>,
    /// See [`SettingsView::crystallize_min_outcomes`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crystallize_min_outcomes: Option<u64>,
    /// See [`SettingsView::crystallize_confidence`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crystallize_confidence: Option<f64>,
    /// See [`SettingsView::crystallize_min_agents`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crystallize_min_agents: Option<u32>,
    /// See [`SettingsView::melt_confidence`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub melt_confidence: Option<f64>,
    /// See [`SettingsView::inline_max_bytes`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline_max_bytes: Option<u32>,
    /// See [`SettingsView::evidence_weighting`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence_weighting: Option<bool>,
}

impl SettingsPatch {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == SettingsPatch::default()
    }

    /// `settings` with this patch's fields replaced, checked as a whole (fractions in 0..=1,
    /// hysteresis the right way round, bounded hops and inline size).
    pub fn apply(&self, settings: &SpaceSettings) -> Result<SpaceSettings, CrdtError> {
        let mut next = settings.clone();
        let fraction = |field: &'static str, value: Option<f64>, current: Fraction| match value {
            Some(v) => Fraction::from_f64(field, v),
            None => Ok(current),
        };
        next.contagion_factor = fraction(
            "contagion_factor",
            self.contagion_factor,
            next.contagion_factor,
        )?;
        next.crystallize_confidence = fraction(
            "crystallize_confidence",
            self.crystallize_confidence,
            next.crystallize_confidence,
        )?;
        next.melt_confidence = fraction(
            "melt_confidence",
            self.melt_confidence,
            next.melt_confidence,
        )?;
        if let Some(v) = self.contagion_hops {
            next.contagion_hops = v;
        }
        if let Some(v) = self.negative_contagion {
            next.negative_contagion = v;
        }
        if let Some(v) = self.contagion_half_life_ms {
            next.contagion_half_life_ms = v;
        }
        if let Some(v) = self.contagion_prior_max {
            next.contagion_prior_max = v;
        }
        if let Some(v) = self.crystallize_min_outcomes {
            next.crystallize_min_outcomes = v;
        }
        if let Some(v) = self.crystallize_min_agents {
            next.crystallize_min_agents = v;
        }
        if let Some(v) = self.inline_max_bytes {
            next.inline_max_bytes = v;
        }
        if let Some(v) = self.evidence_weighting {
            next.evidence_weighting = v;
        }
        next.validate()?;
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patch_changes_only_its_fields_and_is_checked_as_a_whole() {
        let defaults = SpaceSettings::default();
        let patch = SettingsPatch {
            evidence_weighting: Some(true),
            crystallize_confidence: Some(0.8),
            ..SettingsPatch::default()
        };
        let next = patch.apply(&defaults).unwrap();
        assert!(next.evidence_weighting);
        assert_eq!(next.crystallize_confidence.as_f64(), 0.8);
        assert_eq!(next.contagion_hops, defaults.contagion_hops);
        assert_eq!(next.melt_confidence, defaults.melt_confidence);

        // melt above crystallize: refused even though each value alone is a fraction.
        let inverted = SettingsPatch {
            melt_confidence: Some(0.95),
            ..SettingsPatch::default()
        };
        assert!(matches!(
            inverted.apply(&defaults),
            Err(CrdtError::OutOfRange {
                field: "melt_confidence",
                ..
            })
        ));
        let too_big = SettingsPatch {
            contagion_factor: Some(1.5),
            ..SettingsPatch::default()
        };
        assert!(too_big.apply(&defaults).is_err());
        assert!(SettingsPatch::default().is_empty());
        assert!(!patch.is_empty());
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = serde_json::from_str::<SettingsPatch>(r#"{"evidence_weight": true}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `evidence_weight`"), "{err}");
    }
}
