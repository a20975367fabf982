//! A node's gossipsub counters, read from its prometheus registry.
//!
//! `libp2p::gossipsub`'s metrics are write-only from outside the crate, so the registry is
//! encoded to the prometheus text format and the counters of the one topic are read back.
//! What each counter means (gossipsub 0.50.1, `behaviour.rs`):
//!
//! - `topic_msg_recv_counts_unfiltered`: every message frame that reaches
//!   `handle_received_message`, duplicates included;
//! - `topic_msg_recv_counts`: those that passed the duplicate cache (first receipts). With no
//!   invalid messages, unfiltered − filtered is exactly the number of duplicate receipts;
//! - `topic_msg_sent_counts`: messages queued to a peer (publish, forward, IWANT answers);
//! - `removed_queued_messages`: queued messages dropped before sending because the peer said
//!   IDONTWANT; sent − removed is the number of transmissions;
//! - `topic_iwant_msgs`: message ids this node asked for with IWANT;
//! - `idontwant_msgs`: IDONTWANT messages this node received.

use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;

use super::error::RealError;

/// The counters of one node at the end of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct NodeCounters {
    /// Messages received, duplicates included.
    pub(crate) received_unfiltered: u64,
    /// Messages received for the first time.
    pub(crate) received: u64,
    /// Messages queued to peers.
    pub(crate) sent: u64,
    /// Queued messages dropped on IDONTWANT.
    pub(crate) removed: u64,
    /// Message ids asked for with IWANT.
    pub(crate) iwant: u64,
    /// IDONTWANT messages received.
    pub(crate) idontwant: u64,
}

impl NodeCounters {
    /// Reads the counters from `registry`.
    pub(crate) fn read(registry: &Registry) -> Result<Self, RealError> {
        let mut text = String::new();
        encode(&mut text, registry).map_err(|e| RealError::Libp2p(format!("metrics: {e}")))?;
        Ok(Self::parse(&text))
    }

    /// Sums each counter of interest over its label sets in prometheus `text`.
    pub(crate) fn parse(text: &str) -> Self {
        let mut c = NodeCounters::default();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap_or_default();
            let Some(value) = line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) else {
                continue;
            };
            let value = value as u64;
            let slot = match name {
                "topic_msg_recv_counts_unfiltered_total" => &mut c.received_unfiltered,
                "topic_msg_recv_counts_total" => &mut c.received,
                "topic_msg_sent_counts_total" => &mut c.sent,
                "removed_queued_messages_total" => &mut c.removed,
                "topic_iwant_msgs_total" => &mut c.iwant,
                "idontwant_msgs_total" => &mut c.idontwant,
                _ => continue,
            };
            *slot += value;
        }
        c
    }

    /// Duplicate receipts.
    pub(crate) fn duplicates(&self) -> u64 {
        self.received_unfiltered.saturating_sub(self.received)
    }

    /// Messages actually sent.
    pub(crate) fn transmissions(&self) -> u64 {
        self.sent.saturating_sub(self.removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_labelled_and_plain_counters() {
        let text = "# HELP x\n\
            topic_msg_recv_counts_unfiltered_total{hash=\"knack/1/sim\"} 7\n\
            topic_msg_recv_counts_total{hash=\"knack/1/sim\"} 5\n\
            topic_msg_sent_counts_total{hash=\"knack/1/sim\"} 9\n\
            removed_queued_messages_total 1\n\
            topic_iwant_msgs_total{hash=\"knack/1/sim\"} 2\n\
            idontwant_msgs_total 3\n\
            topic_msg_recv_bytes_total{hash=\"knack/1/sim\"} 900\n\
            # EOF\n";
        let c = NodeCounters::parse(text);
        assert_eq!(c.duplicates(), 2);
        assert_eq!(c.transmissions(), 8);
        assert_eq!((c.iwant, c.idontwant), (2, 3));
    }
}
