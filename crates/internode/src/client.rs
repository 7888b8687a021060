//! The connecting side: one multiplexed connection per peer address, made on first use
//! and re-made after a failure with exponential backoff (100 ms to 5 s); calls carry a
//! deadline. This module must never let a call wait past its deadline, nor queue without
//! bound.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use crate::frame::{self, RESPONSE_ERR, RESPONSE_OK};
use crate::{Identity, NetError, auth};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);
const OUT_QUEUE: usize = 1024;
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Vec<u8>, NetError>>>>>;

struct Conn {
    tx: mpsc::Sender<Vec<u8>>,
    pending: Pending,
    next_id: AtomicU64,
    alive: Arc<AtomicBool>,
}

#[derive(Default)]
struct Slot {
    conn: Option<Arc<Conn>>,
    /// Earliest time of the next attempt after a failure, and the current backoff.
    retry_at: Option<(Instant, Duration)>,
    /// Why the last attempt failed (answered while backing off).
    last: Option<NetError>,
}

/// Connections to the other nodes of the cluster.
pub struct Peers {
    me: Identity,
    /// The local address connections leave from (this node's internode address), so that a
    /// node's traffic is told apart by address on a shared host (firewall rules, logs).
    source: Option<std::net::IpAddr>,
    slots: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Slot>>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Peers {
    pub fn new(me: Identity) -> Arc<Self> {
        Self::with_source(me, None)
    }

    /// Connections that leave from `source` (an address of this machine).
    pub fn with_source(me: Identity, source: Option<std::net::IpAddr>) -> Arc<Self> {
        Arc::new(Self { me, source: source.filter(|ip| !ip.is_unspecified()), slots: Mutex::new(HashMap::new()) })
    }

    pub fn identity(&self) -> &Identity {
        &self.me
    }

    async fn conn(&self, addr: &str) -> Result<Arc<Conn>, NetError> {
        let slot = lock(&self.slots).entry(addr.to_string()).or_default().clone();
        let mut s = slot.lock().await;
        if let Some(c) = &s.conn
            && c.alive.load(Ordering::Acquire)
        {
            return Ok(c.clone());
        }
        s.conn = None;
        if let Some((at, _)) = s.retry_at
            && Instant::now() < at
        {
            return Err(match &s.last {
                Some(e @ NetError::NotRunning(_)) => e.clone(),
                _ => NetError::Unreachable(addr.into(), "reconnecting after a failure (backoff)".into()),
            });
        }
        match connect(&self.me, self.source, addr).await {
            Ok(c) => {
                s.retry_at = None;
                s.last = None;
                s.conn = Some(c.clone());
                Ok(c)
            }
            Err(e) => {
                let wait = s.retry_at.map_or(BACKOFF_MIN, |(_, w)| (w * 2).min(BACKOFF_MAX));
                s.retry_at = Some((Instant::now() + wait, wait));
                s.last = Some(e.clone());
                Err(e)
            }
        }
    }

    /// A request to the node at `addr`; its answer, or an error by `timeout`.
    pub async fn call(&self, addr: &str, kind: u16, body: &[u8], timeout: Duration) -> Result<Vec<u8>, NetError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let c =
            tokio::time::timeout_at(deadline, self.conn(addr)).await.map_err(|_| NetError::Timeout(addr.into()))??;
        let id = c.next_id.fetch_add(1, Ordering::Relaxed);
        let raw = frame::encode(id, kind, body)?;
        let (tx, rx) = oneshot::channel();
        lock(&c.pending).insert(id, tx);
        if !c.alive.load(Ordering::Acquire) {
            lock(&c.pending).remove(&id);
            return Err(NetError::Disconnected(addr.into()));
        }
        let sent = tokio::time::timeout_at(deadline, c.tx.send(raw)).await;
        if !matches!(sent, Ok(Ok(()))) {
            lock(&c.pending).remove(&id);
            return Err(match sent {
                Err(_) => NetError::Timeout(addr.into()),
                _ => NetError::Disconnected(addr.into()),
            });
        }
        match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(NetError::Disconnected(addr.into())),
            Err(_) => {
                lock(&c.pending).remove(&id);
                Err(NetError::Timeout(addr.into()))
            }
        }
    }

    /// A one-way message to the node at `addr` (dropped, with an error, when the connection
    /// cannot take it now: callers such as Raft tolerate lost messages).
    pub async fn send(&self, addr: &str, kind: u16, body: &[u8]) -> Result<(), NetError> {
        let c = tokio::time::timeout(CONNECT_TIMEOUT + HANDSHAKE_TIMEOUT, self.conn(addr))
            .await
            .map_err(|_| NetError::Timeout(addr.into()))??;
        let raw = frame::encode(0, kind, body)?;
        c.tx.try_send(raw).map_err(|_| NetError::Disconnected(addr.into()))
    }
}

async fn open(source: Option<std::net::IpAddr>, addr: &str) -> std::io::Result<TcpStream> {
    let Some(ip) = source else { return TcpStream::connect(addr).await };
    let mut last = std::io::Error::other(format!("{addr} resolves to no address"));
    for target in tokio::net::lookup_host(addr).await? {
        let sock = if target.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
        if target.is_ipv4() == ip.is_ipv4() {
            sock.bind(std::net::SocketAddr::new(ip, 0))?;
        }
        match sock.connect(target).await {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

async fn connect(me: &Identity, source: Option<std::net::IpAddr>, addr: &str) -> Result<Arc<Conn>, NetError> {
    let mut sock = tokio::time::timeout(CONNECT_TIMEOUT, open(source, addr))
        .await
        .map_err(|_| NetError::Unreachable(addr.into(), "connect timed out".into()))?
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::ConnectionRefused => NetError::NotRunning(addr.into()),
            _ => NetError::Unreachable(addr.into(), e.to_string()),
        })?;
    crate::tune(&sock);
    tokio::time::timeout(HANDSHAKE_TIMEOUT, auth::client(&mut sock, me, addr))
        .await
        .map_err(|_| NetError::Unreachable(addr.into(), "handshake timed out".into()))??;
    let (mut rd, mut wr) = sock.into_split();
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(OUT_QUEUE);
    let pending: Pending = Arc::default();
    let alive = Arc::new(AtomicBool::new(true));
    let (a, p) = (alive.clone(), pending.clone());
    tokio::spawn(async move {
        while let Some(f) = rx.recv().await {
            if frame::write(&mut wr, &f).await.is_err() {
                break;
            }
        }
        a.store(false, Ordering::Release);
    });
    let (a, peer) = (alive.clone(), addr.to_string());
    tokio::spawn(async move {
        while let Ok(Some(f)) = frame::read(&mut rd).await {
            let res = match f.kind {
                RESPONSE_OK => Ok(f.body),
                RESPONSE_ERR => Err(NetError::Remote(String::from_utf8_lossy(&f.body).into())),
                _ => continue,
            };
            if let Some(w) = lock(&p).remove(&f.id) {
                let _ = w.send(res);
            }
        }
        a.store(false, Ordering::Release);
        // Every call still waiting learns the connection is gone.
        for (_, w) in lock(&p).drain() {
            let _ = w.send(Err(NetError::Disconnected(peer.clone())));
        }
    });
    Ok(Arc::new(Conn { tx, pending, next_id: AtomicU64::new(1), alive }))
}
