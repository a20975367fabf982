//! Agents and libp2p identities: an agent is its ed25519 public key, and so is its peer id.
//!
//! An ed25519 libp2p peer id is the *identity* multihash of the protobuf encoding of the public
//! key (36 bytes: `08 01 12 20 || key`), so the agent id can be read back from a peer id without
//! any lookup. Other key types (RSA, secp256k1, ECDSA) cannot author knack ops.

use ed25519_dalek::{Signature as DalekSignature, VerifyingKey};
use knack_crdt::AgentId;
use libp2p_identity::{Keypair, PeerId, PublicKey};
use serde::{Deserialize, Serialize};

use crate::error::ProtocolError;

/// Multihash code of the identity hash (the key itself is the digest).
const IDENTITY_MULTIHASH: u8 = 0x00;
/// Length of the protobuf encoding of an ed25519 public key.
const ED25519_PROTOBUF_LEN: u8 = 36;

/// An ed25519 signature, 64 bytes (stored as two halves so serde needs no custom code: on the
/// wire it is the 64 bytes, no length prefix).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Signature([[u8; 32]; 2]);

impl Signature {
    /// The signature from its 64 bytes.
    pub fn from_bytes(bytes: [u8; 64]) -> Self {
        let mut halves = [[0u8; 32]; 2];
        halves[0].copy_from_slice(&bytes[..32]);
        halves[1].copy_from_slice(&bytes[32..]);
        Signature(halves)
    }

    /// The signature's 64 bytes.
    pub fn to_bytes(&self) -> [u8; 64] {
        let mut bytes = [0u8; 64];
        bytes[..32].copy_from_slice(&self.0[0]);
        bytes[32..].copy_from_slice(&self.0[1]);
        bytes
    }
}

impl std::fmt::Debug for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signature(")?;
        for b in &self.0[0][..6] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "..)")
    }
}

/// The agent of an ed25519 keypair; `None` for other key types.
pub fn agent_id(keypair: &Keypair) -> Option<AgentId> {
    keypair
        .public()
        .try_into_ed25519()
        .ok()
        .map(|key| AgentId(key.to_bytes()))
}

/// The libp2p peer id of an agent; fails when the agent id is not an ed25519 public key.
pub fn peer_id(agent: &AgentId) -> Result<PeerId, ProtocolError> {
    let key = libp2p_identity::ed25519::PublicKey::try_from_bytes(&agent.0)
        .map_err(|_| ProtocolError::WrongAuthor(format!("{agent} is not an ed25519 public key")))?;
    Ok(PublicKey::from(key).to_peer_id())
}

/// The agent behind a peer id, when the peer id embeds an ed25519 key (identity multihash).
pub fn agent_of(peer: &PeerId) -> Option<AgentId> {
    let bytes = peer.to_bytes();
    match bytes.as_slice() {
        [IDENTITY_MULTIHASH, ED25519_PROTOBUF_LEN, key @ ..] => PublicKey::try_decode_protobuf(key)
            .ok()?
            .try_into_ed25519()
            .ok()
            .map(|key| AgentId(key.to_bytes())),
        _ => None,
    }
}

/// Checks that `agent` is a usable ed25519 public key: a valid curve point, not of small order.
pub fn check_agent(agent: &AgentId) -> Result<(), ProtocolError> {
    verifying_key(agent).map(|_| ())
}

/// Signs `message` with `keypair` (ed25519 only; ed25519 signatures are deterministic).
pub fn sign(keypair: &Keypair, message: &[u8]) -> Result<Signature, ProtocolError> {
    let keypair = keypair
        .clone()
        .try_into_ed25519()
        .map_err(|_| ProtocolError::UnsupportedKey)?;
    let bytes: [u8; 64] = keypair
        .sign(message)
        .try_into()
        .map_err(|_| ProtocolError::UnsupportedKey)?;
    Ok(Signature::from_bytes(bytes))
}

/// Verifies `signature` of `message` by `agent` with the strict ed25519 rules (canonical `s`,
/// no small-order keys or `R`), so a signature cannot be altered into another valid one.
pub fn verify(agent: &AgentId, message: &[u8], signature: &Signature) -> Result<(), ProtocolError> {
    let key = verifying_key(agent)?;
    let signature = DalekSignature::from_bytes(&signature.to_bytes());
    key.verify_strict(message, &signature)
        .map_err(|_| ProtocolError::BadSignature)
}

/// The verifying key of `agent`.
fn verifying_key(agent: &AgentId) -> Result<VerifyingKey, ProtocolError> {
    let key = VerifyingKey::from_bytes(&agent.0)
        .map_err(|_| ProtocolError::WrongAuthor(format!("{agent} is not an ed25519 public key")))?;
    if key.is_weak() {
        return Err(ProtocolError::WrongAuthor(format!(
            "{agent} is a weak (small-order) ed25519 key"
        )));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keypair(seed: u8) -> Keypair {
        Keypair::ed25519_from_bytes([seed; 32]).unwrap()
    }

    #[test]
    fn agent_and_peer_ids_map_both_ways() {
        let kp = keypair(7);
        let agent = agent_id(&kp).unwrap();
        let peer = peer_id(&agent).unwrap();
        assert_eq!(peer, kp.public().to_peer_id());
        assert_eq!(agent_of(&peer), Some(agent));
    }

    #[test]
    fn non_ed25519_peers_have_no_agent() {
        let hashed = PeerId::from_bytes(&{
            let mut b = vec![0x12, 32];
            b.extend_from_slice(&[9; 32]);
            b
        })
        .unwrap();
        assert_eq!(agent_of(&hashed), None);
    }

    #[test]
    fn invalid_keys_are_refused() {
        // The identity point (small order) and a y-coordinate with no curve point.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(matches!(
            check_agent(&AgentId(identity)),
            Err(ProtocolError::WrongAuthor(_))
        ));
        // About half of all y-coordinates have no point on the curve.
        let off_curve = (2u8..40).filter(|y| {
            let mut bytes = [0u8; 32];
            bytes[0] = *y;
            match check_agent(&AgentId(bytes)) {
                Err(ProtocolError::WrongAuthor(m)) => {
                    assert!(m.contains("is not an ed25519 public key"), "{m}");
                    true
                }
                Err(other) => panic!("{other:?}"),
                Ok(()) => false,
            }
        });
        assert!(off_curve.count() > 5);
        assert!(check_agent(&agent_id(&keypair(1)).unwrap()).is_ok());
    }

    #[test]
    fn signatures_verify_and_detect_tampering() {
        let kp = keypair(3);
        let agent = agent_id(&kp).unwrap();
        let sig = sign(&kp, b"hello").unwrap();
        assert_eq!(Signature::from_bytes(sig.to_bytes()), sig);
        assert!(verify(&agent, b"hello", &sig).is_ok());
        assert_eq!(
            verify(&agent, b"hellp", &sig),
            Err(ProtocolError::BadSignature)
        );
        let other = agent_id(&keypair(4)).unwrap();
        assert_eq!(
            verify(&other, b"hello", &sig),
            Err(ProtocolError::BadSignature)
        );
    }
}
