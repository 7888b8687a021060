#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The transport over real sockets on 127.0.0.1: calls, one-way messages in order, refusal
//! of a wrong secret or another cluster, reconnection after the peer restarts.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rustfs_internode::{Handler, Identity, NetError, Peers, Server};

#[derive(Default)]
struct Echo {
    messages: Mutex<Vec<(u64, u16, Vec<u8>)>>,
}

#[async_trait]
impl Handler for Echo {
    async fn call(&self, from: u64, kind: u16, body: Vec<u8>) -> Result<Vec<u8>, String> {
        match kind {
            1 => Ok([from.to_be_bytes().as_slice(), &body].concat()),
            2 => {
                tokio::time::sleep(Duration::from_secs(2)).await;
                Ok(body)
            }
            _ => Err(format!("no service {kind}")),
        }
    }
    async fn message(&self, from: u64, kind: u16, body: Vec<u8>) {
        self.messages.lock().unwrap().push((from, kind, body));
    }
}

fn id(node: u64, secret: &str, cluster: &str) -> Identity {
    Identity { cluster_id: cluster.into(), node_id: node, secret: secret.into() }
}

#[tokio::test]
async fn calls_messages_and_timeouts() {
    let h = Arc::new(Echo::default());
    let srv = Server::bind("127.0.0.1:0", id(1, "s3cret", "c1"), h.clone()).await.unwrap();
    let addr = srv.local_addr().to_string();
    let peers = Peers::new(id(2, "s3cret", "c1"));
    let r = peers.call(&addr, 1, b"hi", Duration::from_secs(2)).await.unwrap();
    assert_eq!(r, [2u64.to_be_bytes().as_slice(), b"hi"].concat());
    assert_eq!(peers.call(&addr, 9, b"", Duration::from_secs(2)).await, Err(NetError::Remote("no service 9".into())));
    // Many concurrent calls share the connection.
    let calls: Vec<_> = (0..200u32)
        .map(|i| {
            let (p, a) = (peers.clone(), addr.clone());
            tokio::spawn(async move { p.call(&a, 1, &i.to_be_bytes(), Duration::from_secs(5)).await })
        })
        .collect();
    for (i, c) in calls.into_iter().enumerate() {
        assert_eq!(c.await.unwrap().unwrap()[8..], (i as u32).to_be_bytes());
    }
    for i in 0..100u8 {
        peers.send(&addr, 7, &[i]).await.unwrap();
    }
    for _ in 0..100 {
        if h.messages.lock().unwrap().len() == 100 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let got: Vec<u8> = h.messages.lock().unwrap().iter().map(|m| m.2[0]).collect();
    assert_eq!(got, (0..100).collect::<Vec<u8>>(), "one-way messages arrive in order");
    assert_eq!(peers.call(&addr, 2, b"slow", Duration::from_millis(200)).await, Err(NetError::Timeout(addr.clone())));
}

#[tokio::test]
async fn wrong_secret_or_cluster_is_refused_both_ways() {
    let h = Arc::new(Echo::default());
    let srv = Server::bind("127.0.0.1:0", id(1, "right", "c1"), h.clone()).await.unwrap();
    let addr = srv.local_addr().to_string();
    let wrong = Peers::new(id(2, "wrong", "c1"));
    // The server proves itself first: the client finds the server does not share its secret.
    assert!(matches!(wrong.call(&addr, 1, b"x", Duration::from_secs(2)).await, Err(NetError::Refused(_, _))));
    let other = Peers::new(id(2, "right", "c2"));
    match other.call(&addr, 1, b"x", Duration::from_secs(2)).await {
        Err(NetError::Refused(_, why)) => assert!(why.contains("cluster c1"), "{why}"),
        r => panic!("{r:?}"),
    }
    assert!(h.messages.lock().unwrap().is_empty());
    // Nothing reached the handler, and a right peer still gets through.
    let ok = Peers::new(id(3, "right", "c1"));
    assert!(ok.call(&addr, 1, b"x", Duration::from_secs(2)).await.is_ok());
}

#[tokio::test]
async fn reconnects_after_the_peer_restarts() {
    let h = Arc::new(Echo::default());
    let srv = Server::bind("127.0.0.1:0", id(1, "s", "c"), h.clone()).await.unwrap();
    let addr = srv.local_addr().to_string();
    let peers = Peers::new(id(2, "s", "c"));
    assert!(peers.call(&addr, 1, b"a", Duration::from_secs(2)).await.is_ok());
    drop(srv);
    // The peer is gone: calls fail (the connection is lost, then nobody listens).
    let mut errors = Vec::new();
    for _ in 0..50 {
        match peers.call(&addr, 1, b"a", Duration::from_secs(2)).await {
            Err(e) => errors.push(e),
            Ok(_) => panic!("a call succeeded with the peer down"),
        }
        if matches!(errors.last(), Some(NetError::NotRunning(_))) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Nobody listens: the call says the peer is not running (and keeps saying so while
    // the client backs off before its next attempt).
    assert!(matches!(errors.last(), Some(NetError::NotRunning(_))), "{errors:?}");
    assert!(matches!(peers.call(&addr, 1, b"a", Duration::from_secs(2)).await, Err(NetError::NotRunning(_))));
    // Back on the same address: the next attempt after the backoff connects again.
    let _srv2 = Server::bind(&addr, id(1, "s", "c"), h.clone()).await.unwrap();
    let mut ok = false;
    for _ in 0..100 {
        if peers.call(&addr, 1, b"b", Duration::from_secs(2)).await.is_ok() {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "reconnected");
}

/// A peer that has not proved the secret cannot make the server allocate a large frame:
/// a handshake frame declaring 16 MiB closes the connection at once.
#[tokio::test]
async fn an_unauthenticated_peer_gets_no_large_frame() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let h = Arc::new(Echo::default());
    let srv = Server::bind("127.0.0.1:0", id(1, "s", "c"), h.clone()).await.unwrap();
    let mut raw = tokio::net::TcpStream::connect(srv.local_addr()).await.unwrap();
    raw.write_all(&(16u32 << 20).to_be_bytes()).await.unwrap();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(5), raw.read(&mut buf)).await.unwrap().unwrap_or(0);
    assert_eq!(n, 0, "the server closed the connection");
    let ok = Peers::new(id(2, "s", "c"));
    assert!(ok.call(&srv.local_addr().to_string(), 1, b"x", Duration::from_secs(2)).await.is_ok());
}
