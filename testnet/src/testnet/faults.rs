//! Faults on a `--netns` testnet: partitions, heal, link shaping.

use super::Testnet;
use crate::error::{Result, TestnetError};
use crate::netns::{self, Shape};

impl Testnet {
    fn prefix(&self, what: &str) -> Result<String> {
        self.state.netns.clone().ok_or_else(|| {
            TestnetError::Unsupported(format!(
                "{what} needs network namespaces: run with --netns (Linux, root)"
            ))
        })
    }

    /// Cuts the testnet into `groups` of node names (nodes in no group stay together).
    pub fn partition(&mut self, groups: &[Vec<String>]) -> Result<()> {
        let prefix = self.prefix("a partition")?;
        let groups = groups
            .iter()
            .map(|g| {
                g.iter()
                    .map(|name| self.state.index(name).map(|i| i + 1))
                    .collect::<Result<Vec<usize>>>()
            })
            .collect::<Result<Vec<_>>>()?;
        netns::partition(&prefix, &groups)
    }

    /// Joins every node back onto one bridge.
    pub fn heal(&mut self) -> Result<()> {
        let prefix = self.prefix("heal")?;
        netns::heal(&prefix, self.state.nodes.len())
    }

    /// Shapes the egress of node `name` (an empty shape clears it).
    pub fn shape(&mut self, name: &str, shape: &Shape) -> Result<()> {
        let prefix = self.prefix("netem")?;
        let index = self.state.index(name)? + 1;
        netns::shape(&prefix, index, shape)
    }
}
