//! The accepting side: a listener on the internode port; each connection is authenticated
//! (see `auth`), then its requests go to the `Handler` (concurrently, a bounded number per
//! connection) and its one-way messages go to it in arrival order. This module must never
//! hand the handler a frame from a connection whose handshake did not complete.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;

use crate::frame::{self, RESPONSE_ERR, RESPONSE_OK};
use crate::{Identity, auth};

/// Requests in progress per connection at most.
const IN_FLIGHT: usize = 256;
/// Frames queued for writing per connection at most.
const OUT_QUEUE: usize = 1024;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections not yet authenticated at once at most (more are closed at once).
const HANDSHAKES: usize = 64;

/// What serves the requests and messages of authenticated peers.
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    /// A request from node `from`: the answer, or an error for the caller.
    async fn call(&self, from: u64, kind: u16, body: Vec<u8>) -> Result<Vec<u8>, String>;
    /// A one-way message from node `from` (delivered in the order the peer sent them).
    async fn message(&self, from: u64, kind: u16, body: Vec<u8>);
}

pub struct Server {
    addr: SocketAddr,
    accept: JoinHandle<()>,
    conns: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Server {
    /// Listens on `addr` (port 0 picks a free one).
    pub async fn bind(addr: &str, me: Identity, handler: Arc<dyn Handler>) -> std::io::Result<Server> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let me = Arc::new(me);
        let conns: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let tracked = conns.clone();
        let handshakes = Arc::new(Semaphore::new(HANDSHAKES));
        let accept = tokio::spawn(async move {
            loop {
                let (sock, peer) = match listener.accept().await {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, "internode accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                crate::tune(&sock);
                let Ok(slot) = handshakes.clone().try_acquire_owned() else {
                    tracing::warn!(peer = %peer, "too many internode handshakes at once: connection closed");
                    continue;
                };
                let task = tokio::spawn(serve(sock, peer, me.clone(), handler.clone(), slot));
                let mut c = tracked.lock().unwrap_or_else(|e| e.into_inner());
                c.retain(|h| !h.is_finished());
                c.push(task.abort_handle());
            }
        });
        Ok(Server { addr, accept, conns })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections and closes the open ones.
    pub fn shutdown(&self) {
        self.accept.abort();
        for c in self.conns.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
            c.abort();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

async fn serve(
    mut sock: TcpStream,
    peer: SocketAddr,
    me: Arc<Identity>,
    handler: Arc<dyn Handler>,
    handshake: tokio::sync::OwnedSemaphorePermit,
) {
    let peer_s = peer.to_string();
    let shaken = tokio::time::timeout(HANDSHAKE_TIMEOUT, auth::server(&mut sock, &me, &peer_s)).await;
    drop(handshake);
    let node = match shaken {
        Ok(Ok(n)) => n,
        Ok(Err(e)) => {
            tracing::debug!(peer = %peer_s, error = %e, "internode handshake failed");
            return;
        }
        Err(_) => {
            tracing::warn!(peer = %peer_s, "internode handshake timed out");
            return;
        }
    };
    let (mut rd, mut wr) = sock.into_split();
    let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(OUT_QUEUE);
    let writer = tokio::spawn(async move {
        while let Some(f) = out_rx.recv().await {
            if frame::write(&mut wr, &f).await.is_err() {
                break;
            }
        }
    });
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    loop {
        let f = match frame::read(&mut rd).await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                tracing::debug!(peer = %peer_s, node, error = %e, "internode connection closed");
                break;
            }
        };
        if f.id == 0 {
            handler.message(node, f.kind, f.body).await;
            continue;
        }
        let Ok(permit) = slots.clone().acquire_owned().await else { break };
        let (h, tx) = (handler.clone(), out_tx.clone());
        tokio::spawn(async move {
            let reply = match h.call(node, f.kind, f.body).await {
                Ok(b) => frame::encode(f.id, RESPONSE_OK, &b),
                Err(e) => frame::encode(f.id, RESPONSE_ERR, e.as_bytes()),
            };
            let reply = reply.or_else(|e| frame::encode(f.id, RESPONSE_ERR, e.to_string().as_bytes()));
            if let Ok(r) = reply {
                let _ = tx.send(r).await;
            }
            drop(permit);
        });
    }
    drop(out_tx);
    let _ = writer.await;
}
