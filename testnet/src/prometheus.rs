//! Reading the few counters the report needs out of a node's `/metrics` text.

use serde::{Deserialize, Serialize};

/// The series of envelopes refused as replays.
const REPLAYED: &str = "knack_envelopes_rejected_total{reason=\"replayed\"}";

/// Counters of one node, summed over its runs (a restart resets a node's counters, so the
/// runner scrapes before it stops a node and adds the figures up).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    /// Gossip messages received.
    pub gossip_messages_in: f64,
    /// Gossip messages sent.
    pub gossip_messages_out: f64,
    /// Gossip payload bytes received.
    pub gossip_bytes_in: f64,
    /// Gossip payload bytes sent.
    pub gossip_bytes_out: f64,
    /// Ops applied.
    pub ops_applied: f64,
    /// Anti-entropy rounds.
    pub sync_rounds: f64,
    /// Envelopes received by anti-entropy.
    pub sync_envelopes_in: f64,
    /// Envelopes refused as replays of ops already held (duplicates: gossip and
    /// anti-entropy both delivered them). Harmless.
    pub envelopes_replayed: f64,
    /// Envelopes rejected for any other reason (invalid): should stay 0 in a testnet.
    pub envelopes_rejected: f64,
}

impl Counters {
    /// Parses the counters out of Prometheus text.
    pub fn parse(text: &str) -> Counters {
        Counters {
            gossip_messages_in: sum(text, "knack_gossip_messages_total{direction=\"in\"}"),
            gossip_messages_out: sum(text, "knack_gossip_messages_total{direction=\"out\"}"),
            gossip_bytes_in: sum(text, "knack_gossip_bytes_total{direction=\"in\"}"),
            gossip_bytes_out: sum(text, "knack_gossip_bytes_total{direction=\"out\"}"),
            ops_applied: sum(text, "knack_ops_applied_total"),
            sync_rounds: sum(text, "knack_sync_rounds_total"),
            sync_envelopes_in: sum(text, "knack_sync_envelopes_in_total"),
            envelopes_replayed: sum(text, REPLAYED),
            envelopes_rejected: sum(text, "knack_envelopes_rejected_total") - sum(text, REPLAYED),
        }
    }

    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &Counters) {
        self.gossip_messages_in += other.gossip_messages_in;
        self.gossip_messages_out += other.gossip_messages_out;
        self.gossip_bytes_in += other.gossip_bytes_in;
        self.gossip_bytes_out += other.gossip_bytes_out;
        self.ops_applied += other.ops_applied;
        self.sync_rounds += other.sync_rounds;
        self.sync_envelopes_in += other.sync_envelopes_in;
        self.envelopes_replayed += other.envelopes_replayed;
        self.envelopes_rejected += other.envelopes_rejected;
    }
}

/// The sum of every sample whose series starts with `series` (name, and labels if given).
pub fn sum(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(series)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
                || (series.ends_with('}') && l.starts_with(series))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_series_with_and_without_labels() {
        let text = "# HELP x\nknack_gossip_messages_total{direction=\"in\"} 3\n\
                    knack_gossip_messages_total{direction=\"out\"} 4\n\
                    knack_envelopes_rejected_total{reason=\"replayed\"} 5\n\
                    knack_envelopes_rejected_total{reason=\"a\"} 1\n\
                    knack_envelopes_rejected_total{reason=\"b\"} 2\n\
                    knack_ops_applied_total 7\nknack_ops_applied_total_x 100\n";
        let c = Counters::parse(text);
        assert_eq!(c.gossip_messages_in, 3.0);
        assert_eq!(c.gossip_messages_out, 4.0);
        assert_eq!(c.envelopes_rejected, 3.0);
        assert_eq!(c.envelopes_replayed, 5.0);
        assert_eq!(c.ops_applied, 7.0);
    }
}
