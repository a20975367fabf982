//! What knack's two request-response protocols share: the inner `request_response` behaviour
//! over [`FrameCodec`], its one timeout, and the `NetworkBehaviour` plumbing that hands
//! connections to it (the protocol behaviours wrap it as rust-libp2p's own protocols wrap
//! theirs).

use std::time::Duration;

use libp2p::StreamProtocol;
use libp2p::request_response::{self, ProtocolSupport};

use super::{FrameCodec, MAX_FRAME_BYTES};

/// A request-response exchange may take this long (sync and blob protocols alike; the sync
/// engine's own round timeout is the same constant).
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The inner behaviour: length-prefixed frames of bytes.
pub(crate) type Inner = request_response::Behaviour<FrameCodec>;

/// What the inner behaviour emits.
pub(crate) type InnerEvent = request_response::Event<Vec<u8>, Vec<u8>>;

/// A request-response behaviour for `protocol` (both directions), timing out after `timeout`
/// ([`REQUEST_TIMEOUT`] but in tests).
pub(crate) fn inner(protocol: &'static str, timeout: Duration) -> Inner {
    request_response::Behaviour::with_codec(
        FrameCodec::new(MAX_FRAME_BYTES),
        [(StreamProtocol::new(protocol), ProtocolSupport::Full)],
        request_response::Config::default().with_request_timeout(timeout),
    )
}

/// Implements `NetworkBehaviour` for a protocol behaviour with an `inner: Inner` field, an
/// `on_inner(&mut self, InnerEvent)` method that takes in the inner behaviour's events, an
/// `events` queue of what it has to emit and a `waker` of the swarm task that polled it last;
/// and gives it `wake` (after queueing outside a poll) and `take_event`. Connections are the
/// inner behaviour's; its events never leave the wrapper.
macro_rules! wrap_request_response {
    ($behaviour:ty, $event:ty) => {
        impl $behaviour {
            /// Wakes the swarm task to poll again (what was queued outside a poll).
            fn wake(&mut self) {
                if let Some(waker) = self.waker.take() {
                    waker.wake();
                }
            }

            /// The next event to hand the swarm.
            fn take_event(
                &mut self,
            ) -> Option<libp2p::swarm::ToSwarm<$event, libp2p::swarm::THandlerInEvent<$crate::net::request_response::Inner>>> {
                self.events.pop_front()
            }
        }

        impl libp2p::swarm::NetworkBehaviour for $behaviour {
            type ConnectionHandler = <$crate::net::request_response::Inner as libp2p::swarm::NetworkBehaviour>::ConnectionHandler;
            type ToSwarm = $event;

            fn handle_pending_inbound_connection(
                &mut self,
                connection_id: libp2p::swarm::ConnectionId,
                local_addr: &libp2p::Multiaddr,
                remote_addr: &libp2p::Multiaddr,
            ) -> Result<(), libp2p::swarm::ConnectionDenied> {
                self.inner.handle_pending_inbound_connection(connection_id, local_addr, remote_addr)
            }

            fn handle_established_inbound_connection(
                &mut self,
                connection_id: libp2p::swarm::ConnectionId,
                peer: libp2p::PeerId,
                local_addr: &libp2p::Multiaddr,
                remote_addr: &libp2p::Multiaddr,
            ) -> Result<libp2p::swarm::THandler<Self>, libp2p::swarm::ConnectionDenied> {
                self.inner.handle_established_inbound_connection(
                    connection_id,
                    peer,
                    local_addr,
                    remote_addr,
                )
            }

            fn handle_pending_outbound_connection(
                &mut self,
                connection_id: libp2p::swarm::ConnectionId,
                maybe_peer: Option<libp2p::PeerId>,
                addresses: &[libp2p::Multiaddr],
                effective_role: libp2p::core::Endpoint,
            ) -> Result<Vec<libp2p::Multiaddr>, libp2p::swarm::ConnectionDenied> {
                self.inner.handle_pending_outbound_connection(
                    connection_id,
                    maybe_peer,
                    addresses,
                    effective_role,
                )
            }

            fn handle_established_outbound_connection(
                &mut self,
                connection_id: libp2p::swarm::ConnectionId,
                peer: libp2p::PeerId,
                addr: &libp2p::Multiaddr,
                role_override: libp2p::core::Endpoint,
                port_use: libp2p::core::transport::PortUse,
            ) -> Result<libp2p::swarm::THandler<Self>, libp2p::swarm::ConnectionDenied> {
                self.inner.handle_established_outbound_connection(
                    connection_id,
                    peer,
                    addr,
                    role_override,
                    port_use,
                )
            }

            fn on_swarm_event(&mut self, event: libp2p::swarm::FromSwarm) {
                self.inner.on_swarm_event(event);
            }

            fn on_connection_handler_event(
                &mut self,
                peer: libp2p::PeerId,
                connection_id: libp2p::swarm::ConnectionId,
                event: libp2p::swarm::THandlerOutEvent<Self>,
            ) {
                self.inner.on_connection_handler_event(peer, connection_id, event);
            }

            fn poll(
                &mut self,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<libp2p::swarm::ToSwarm<Self::ToSwarm, libp2p::swarm::THandlerInEvent<Self>>>
            {
                loop {
                    if let Some(out) = self.take_event() {
                        return std::task::Poll::Ready(out);
                    }
                    match self.inner.poll(cx) {
                        std::task::Poll::Ready(libp2p::swarm::ToSwarm::GenerateEvent(event)) => {
                            self.on_inner(event)
                        }
                        std::task::Poll::Ready(other) => {
                            return std::task::Poll::Ready(other.map_out(|_| {
                                unreachable!("the inner behaviour's events are taken in above")
                            }));
                        }
                        std::task::Poll::Pending => {
                            self.waker = Some(cx.waker().clone());
                            return std::task::Poll::Pending;
                        }
                    }
                }
            }
        }
    };
}

pub(crate) use wrap_request_response;
