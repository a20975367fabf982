//! Latency injection under libp2p: a raw connection whose inbound bytes are released late.
//!
//! libp2p has no latency transport, so the harness wraps the raw connection of an in-memory
//! transport before the noise / yamux upgrade ([`delay`] runs in `Transport::and_then`). Both
//! ends first exchange their node index (4 bytes, little-endian, not delayed), so each end
//! knows the link and its one-way latency `L` (the simulator's `base_latency_us` for the pair).
//! Then a task reads every inbound chunk as it arrives and stamps it `due = now + L`; reads by
//! libp2p see each chunk only once it is due. Outbound bytes go straight through. Each end
//! delays its own inbound direction, so every byte takes `L` one way, as in the simulator.
//!
//! Chunks keep their order (a link's latency is constant). Timer resolution is tokio's, 1 ms:
//! a chunk is released up to ~1 ms after it is due.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use libp2p::futures::io::{ReadHalf, WriteHalf};
use libp2p::futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, Sleep};

/// Largest chunk the reading task takes from the raw connection at once.
const READ_CHUNK: usize = 64 * 1024;
/// Chunks in flight on one direction of a link before the reading task waits (backpressure on
/// the sender, as a full TCP window would give).
const IN_FLIGHT_CHUNKS: usize = 4096;

/// One node's one-way latencies to every other node, indexed by node.
#[derive(Clone, Debug)]
pub(crate) struct LatencyRow {
    /// This node's index.
    pub(crate) me: u32,
    /// Latency of the link to each node (the entry for `me` is unused).
    pub(crate) to: Arc<[Duration]>,
}

/// A connection whose inbound bytes are released `L` after they arrived.
pub(crate) struct Delayed<S> {
    inbound: mpsc::Receiver<(Instant, Vec<u8>)>,
    /// The chunk being read: when it is due, its bytes, how many were read.
    chunk: Option<(Instant, Vec<u8>, usize)>,
    sleep: Pin<Box<Sleep>>,
    out: WriteHalf<S>,
    reader: JoinHandle<()>,
}

impl<S> Drop for Delayed<S> {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Exchanges node indices over `raw`, then wraps it so that what it receives is delayed by the
/// latency of the link to the remote node. Must run inside a tokio runtime.
pub(crate) async fn delay<S>(mut raw: S, row: LatencyRow) -> io::Result<Delayed<S>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    raw.write_all(&row.me.to_le_bytes()).await?;
    raw.flush().await?;
    let mut peer = [0u8; 4];
    raw.read_exact(&mut peer).await?;
    let peer = u32::from_le_bytes(peer);
    let latency = row
        .to
        .get(peer as usize)
        .copied()
        .filter(|_| peer != row.me)
        .ok_or_else(|| io::Error::other(format!("unknown peer node index {peer}")))?;
    let (read, out) = raw.split();
    let (tx, inbound) = mpsc::channel(IN_FLIGHT_CHUNKS);
    let reader = tokio::spawn(pump(read, tx, latency));
    Ok(Delayed {
        inbound,
        chunk: None,
        sleep: Box::pin(tokio::time::sleep(Duration::ZERO)),
        out,
        reader,
    })
}

/// Reads `read` until it ends, stamping each chunk with the instant it is due.
async fn pump<S: AsyncRead>(
    mut read: ReadHalf<S>,
    tx: mpsc::Sender<(Instant, Vec<u8>)>,
    latency: Duration,
) {
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        match read.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if tx
                    .send((Instant::now() + latency, buf[..n].to_vec()))
                    .await
                    .is_err()
                {
                    break;
                }
            }
        }
    }
}

impl<S> AsyncRead for Delayed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            let Some((due, data, read)) = &mut this.chunk else {
                match ready!(this.inbound.poll_recv(cx)) {
                    Some((due, data)) => this.chunk = Some((due, data, 0)),
                    // The raw connection ended (EOF or error): end of stream.
                    None => return Poll::Ready(Ok(0)),
                }
                continue;
            };
            if Instant::now() < *due {
                if this.sleep.deadline() != *due {
                    this.sleep.as_mut().reset(*due);
                }
                ready!(this.sleep.as_mut().poll(cx));
            }
            let n = buf.len().min(data.len() - *read);
            buf[..n].copy_from_slice(&data[*read..*read + n]);
            *read += n;
            if *read == data.len() {
                this.chunk = None;
            }
            return Poll::Ready(Ok(n));
        }
    }
}

impl<S: AsyncWrite> AsyncWrite for Delayed<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().out).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().out).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().out).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libp2p::core::transport::memory::Channel;
    use libp2p::core::transport::{
        DialOpts, ListenerId, MemoryTransport, PortUse, Transport, TransportEvent,
    };

    /// Two ends of an in-memory libp2p connection.
    async fn memory_pair() -> (Channel<Vec<u8>>, Channel<Vec<u8>>) {
        let mut listener = MemoryTransport::default();
        let addr: libp2p::Multiaddr = "/memory/0".parse().unwrap();
        listener.listen_on(ListenerId::next(), addr).unwrap();
        let addr = loop {
            let event = std::future::poll_fn(|cx| Pin::new(&mut listener).poll(cx)).await;
            if let TransportEvent::NewAddress { listen_addr, .. } = event {
                break listen_addr;
            }
        };
        let opts = DialOpts {
            role: libp2p::core::Endpoint::Dialer,
            port_use: PortUse::New,
        };
        let dial = MemoryTransport::default().dial(addr, opts).unwrap();
        let accept = async {
            loop {
                let event = std::future::poll_fn(|cx| Pin::new(&mut listener).poll(cx)).await;
                if let TransportEvent::Incoming { upgrade, .. } = event {
                    return upgrade.await.unwrap();
                }
            }
        };
        let (x, y) = tokio::join!(dial, accept);
        (x.unwrap(), y)
    }

    #[tokio::test]
    async fn bytes_arrive_in_order_after_the_link_latency() {
        let (x, y) = memory_pair().await;
        let row = |me| LatencyRow {
            me,
            to: Arc::from(vec![Duration::from_millis(30); 2]),
        };
        let (dx, dy) = tokio::join!(delay(x, row(0)), delay(y, row(1)));
        let (mut dx, mut dy) = (dx.unwrap(), dy.unwrap());
        let start = Instant::now();
        dx.write_all(b"hello").await.unwrap();
        dx.write_all(b" world").await.unwrap();
        dx.flush().await.unwrap();
        let mut got = [0u8; 11];
        dy.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"hello world");
        // A lower bound only: the delay is never shorter than the link's latency.
        assert!(start.elapsed() >= Duration::from_millis(30));
    }

    #[tokio::test]
    async fn an_unknown_peer_index_is_an_error() {
        let (x, y) = memory_pair().await;
        let row = |me| LatencyRow {
            me,
            to: Arc::from(vec![Duration::from_millis(1); 1]),
        };
        let (dx, _dy) = tokio::join!(delay(x, row(0)), delay(y, row(5)));
        assert!(dx.is_err());
    }
}
