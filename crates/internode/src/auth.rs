//! The handshake that opens every internode connection: mutual proof of the cluster secret.
//!
//! ```text
//! client -> HELLO     version 1, client node id, client nonce (32 bytes), cluster id
//! server -> CHALLENGE server nonce (32), HMAC(secret, "server" | cluster id | both nonces)
//! client -> PROOF     HMAC(secret, "client" | cluster id | both nonces)
//! server -> WELCOME   server node id            (or RESPONSE_ERR with the reason, then close)
//! ```
//! Both sides check in constant time; fresh nonces on both sides make a recorded
//! handshake useless for another connection. This module must never send the secret, nor
//! log it, nor accept a connection before the peer's proof checked.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::frame::{self, RESPONSE_ERR};
use crate::{Identity, NetError};

const VERSION: u8 = 1;
const HELLO: u16 = 1;
const CHALLENGE: u16 = 2;
const PROOF: u16 = 3;
const WELCOME: u16 = 4;
/// Handshake frames are small; a peer not yet authenticated gets no larger allocation.
const HANDSHAKE_FRAME: usize = 1024;

fn mac(secret: &str, role: &[u8], cluster: &str, nc: &[u8], ns: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length.
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
    m.update(role);
    m.update(&(cluster.len() as u32).to_be_bytes());
    m.update(cluster.as_bytes());
    m.update(nc);
    m.update(ns);
    m
}

fn nonce() -> [u8; 32] {
    rand::random()
}

fn io(peer: &str) -> impl Fn(std::io::Error) -> NetError + '_ {
    move |e| NetError::Unreachable(peer.to_string(), e.to_string())
}

async fn expect<R: AsyncRead + Unpin>(r: &mut R, kind: u16, peer: &str) -> Result<Vec<u8>, NetError> {
    match frame::read_max(r, HANDSHAKE_FRAME).await.map_err(io(peer))? {
        Some(f) if f.kind == kind => Ok(f.body),
        Some(f) if f.kind == RESPONSE_ERR => {
            Err(NetError::Refused(peer.into(), String::from_utf8_lossy(&f.body).into()))
        }
        Some(_) => Err(NetError::Refused(peer.into(), "unexpected handshake message".into())),
        None => Err(NetError::Disconnected(peer.into())),
    }
}

async fn send<W: AsyncWrite + Unpin>(w: &mut W, kind: u16, body: &[u8], peer: &str) -> Result<(), NetError> {
    frame::write(w, &frame::encode(0, kind, body)?).await.map_err(io(peer))
}

/// The connecting side. Returns the peer's node id.
pub async fn client<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S, me: &Identity, peer: &str) -> Result<u64, NetError> {
    let nc = nonce();
    let mut hello = vec![VERSION];
    hello.extend_from_slice(&me.node_id.to_be_bytes());
    hello.extend_from_slice(&nc);
    hello.extend_from_slice(me.cluster_id.as_bytes());
    send(s, HELLO, &hello, peer).await?;
    let ch = expect(s, CHALLENGE, peer).await?;
    if ch.len() != 64 {
        return Err(NetError::Refused(peer.into(), "malformed challenge".into()));
    }
    let (ns, proof) = ch.split_at(32);
    if mac(&me.secret, b"server", &me.cluster_id, &nc, ns).verify_slice(proof).is_err() {
        tracing::warn!(peer = %peer, "internode peer does not hold the cluster secret: connection dropped");
        return Err(NetError::Refused(peer.into(), "the peer does not hold the cluster secret".into()));
    }
    let mine = mac(&me.secret, b"client", &me.cluster_id, &nc, ns).finalize().into_bytes();
    send(s, PROOF, &mine, peer).await?;
    let w = expect(s, WELCOME, peer).await?;
    let id: [u8; 8] =
        w.as_slice().try_into().map_err(|_| NetError::Refused(peer.into(), "malformed welcome".into()))?;
    Ok(u64::from_be_bytes(id))
}

/// The accepting side. Returns the peer's node id; refuses (and says why) otherwise.
pub async fn server<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S, me: &Identity, peer: &str) -> Result<u64, NetError> {
    let hello = expect(s, HELLO, peer).await?;
    if hello.len() < 41 || hello[0] != VERSION {
        let _ = send(s, RESPONSE_ERR, b"unsupported internode protocol version", peer).await;
        return Err(NetError::Refused(peer.into(), "unsupported protocol version".into()));
    }
    let mut id = [0u8; 8];
    id.copy_from_slice(&hello[1..9]);
    let node = u64::from_be_bytes(id);
    let nc = &hello[9..41];
    let cluster = String::from_utf8_lossy(&hello[41..]).to_string();
    if cluster != me.cluster_id {
        tracing::warn!(peer = %peer, node, cluster = %cluster, "internode peer of another cluster refused");
        let _ = send(s, RESPONSE_ERR, format!("this node belongs to cluster {}", me.cluster_id).as_bytes(), peer).await;
        return Err(NetError::Refused(peer.into(), format!("another cluster ({cluster})")));
    }
    let ns = nonce();
    let mut ch = ns.to_vec();
    ch.extend_from_slice(&mac(&me.secret, b"server", &me.cluster_id, nc, &ns).finalize().into_bytes());
    send(s, CHALLENGE, &ch, peer).await?;
    let proof = match expect(s, PROOF, peer).await {
        Ok(p) => p,
        Err(e) => {
            // A client that finds this node's proof wrong hangs up here.
            tracing::warn!(peer = %peer, node, "internode peer left the handshake at the challenge (a wrong cluster secret?)");
            return Err(e);
        }
    };
    if mac(&me.secret, b"client", &me.cluster_id, nc, &ns).verify_slice(&proof).is_err() {
        tracing::warn!(peer = %peer, node, "internode peer with a wrong cluster secret refused");
        let _ = send(s, RESPONSE_ERR, b"wrong cluster secret", peer).await;
        return Err(NetError::Refused(peer.into(), "wrong cluster secret".into()));
    }
    send(s, WELCOME, &me.node_id.to_be_bytes(), peer).await?;
    Ok(node)
}
