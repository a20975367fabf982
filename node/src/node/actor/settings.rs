//! A space's replicated settings in the actor: reading them and signing a change.

use knack_crdt::SpaceName;

use super::Actor;
use super::members::peer_string;
use crate::error::NodeError;
use crate::settings::{SettingsPatch, SettingsView};

impl Actor {
    /// The settings in effect in `space`, with the author that set them.
    pub(super) fn settings_view(&self, space: &SpaceName) -> Result<SettingsView, NodeError> {
        let replica = self.replica(space)?;
        let set_by = replica
            .space
            .settings_register()
            .map(|r| peer_string(&r.stamp.agent));
        Ok(SettingsView::new(
            space.to_string(),
            set_by,
            replica.space.settings(),
        ))
    }

    /// Signs `patch` applied to the settings in effect as this node's new settings (refused
    /// unless this node is an admin of a members-only space). New thresholds can call for
    /// crystallization transitions no outcome has proposed yet: those are proposed at once
    /// (a pass over the space's procedures, on an admin's rare request).
    pub(super) fn update_settings(
        &mut self,
        space: &SpaceName,
        patch: &SettingsPatch,
    ) -> Result<(), NodeError> {
        let next = patch.apply(self.replica(space)?.space.settings())?;
        self.write(space, |s, me, at| s.update_settings(me, at, next))?;
        let ids: Vec<knack_crdt::ProcedureId> = self
            .replica(space)?
            .space
            .procedures()
            .map(|p| p.id())
            .collect();
        self.propose_crystal_transitions(space, &ids);
        Ok(())
    }
}
