//! A private network: the swarm key loaded before anything starts, and the configuration
//! narrowed to what a pre-shared key can protect (TCP only).

use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;
use libp2p::pnet::PreSharedKey;

use crate::config::Config;
use crate::error::NodeError;

/// The private network a node joins: its pre-shared key and the key's fingerprint.
#[derive(Clone, Debug)]
pub(crate) struct PrivateNetwork {
    /// The pre-shared key (never logged: its `Debug` shows the fingerprint only).
    pub(crate) key: PreSharedKey,
    /// The key's fingerprint (hex), what logs and the status show.
    pub(crate) fingerprint: String,
}

impl PrivateNetwork {
    /// Loads the swarm key of `config` (none without `swarm_key`) and narrows `config` to TCP:
    /// QUIC off, `/quic-v1` listen and bootstrap addresses dropped, each with a warning. A bad
    /// key file, or listen addresses that are all QUIC, are errors: the node does not start.
    pub(crate) fn from_config(config: &mut Config) -> Result<Option<PrivateNetwork>, NodeError> {
        let Some(path) = config.swarm_key.clone() else {
            return Ok(None);
        };
        let key = crate::swarm_key::load(&path)?;
        restrict_to_tcp(config)?;
        let fingerprint = crate::swarm_key::fingerprint(&key);
        tracing::info!(
            swarm_key = %path.display(),
            %fingerprint,
            "private network: only peers with the same swarm key can connect (TCP only)"
        );
        Ok(Some(PrivateNetwork { key, fingerprint }))
    }
}

/// Whether `addr` is a QUIC address.
fn is_quic(addr: &Multiaddr) -> bool {
    addr.iter()
        .any(|p| matches!(p, Protocol::QuicV1 | Protocol::Quic))
}

/// Turns QUIC off and drops QUIC addresses: `pnet` wraps a byte stream before the security
/// handshake, and QUIC brings its own (TLS inside the transport), which no pre-shared key
/// can wrap. A listen list of QUIC addresses only would leave the node unreachable: refused.
fn restrict_to_tcp(config: &mut Config) -> Result<(), NodeError> {
    if config.quic {
        tracing::warn!("QUIC is off in a private network: a swarm key protects TCP only");
        config.quic = false;
    }
    let (quic, tcp): (Vec<Multiaddr>, Vec<Multiaddr>) = config.listen.drain(..).partition(is_quic);
    if !quic.is_empty() && tcp.is_empty() {
        return Err(NodeError::Config {
            path: "listen".into(),
            reason: format!(
                "every listen address is QUIC ({}), but a private network (swarm_key) runs \
                 over TCP only: listen on a TCP address, e.g. /ip4/127.0.0.1/tcp/0",
                join(&quic)
            ),
        });
    }
    for addr in &quic {
        tracing::warn!(%addr, "not listening on a QUIC address in a private network");
    }
    config.listen = tcp;
    let (quic, tcp): (Vec<Multiaddr>, Vec<Multiaddr>) =
        config.bootstrap.drain(..).partition(is_quic);
    for addr in &quic {
        tracing::warn!(%addr, "not dialing a QUIC bootstrap address in a private network");
    }
    config.bootstrap = tcp;
    Ok(())
}

/// Addresses separated by commas.
fn join(addrs: &[Multiaddr]) -> String {
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn addrs(list: &[&str]) -> Vec<Multiaddr> {
        list.iter().map(|a| a.parse().unwrap()).collect()
    }

    #[test]
    fn a_private_network_keeps_tcp_and_drops_quic() {
        let mut config = Config {
            listen: addrs(&["/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"]),
            bootstrap: addrs(&[
                "/ip4/127.0.0.1/udp/7300/quic-v1",
                "/dns4/knack-0.knack/tcp/7300",
            ]),
            quic: true,
            ..Config::default()
        };
        restrict_to_tcp(&mut config).unwrap();
        assert!(!config.quic);
        assert_eq!(config.listen, addrs(&["/ip4/127.0.0.1/tcp/0"]));
        assert_eq!(config.bootstrap, addrs(&["/dns4/knack-0.knack/tcp/7300"]));
    }

    #[test]
    fn quic_only_listen_addresses_are_refused() {
        let mut config = Config {
            listen: addrs(&["/ip4/127.0.0.1/udp/0/quic-v1"]),
            ..Config::default()
        };
        let error = restrict_to_tcp(&mut config).unwrap_err().to_string();
        assert!(error.contains("TCP only"), "{error}");
        assert!(error.contains("/udp/0/quic-v1"), "{error}");
    }
}
