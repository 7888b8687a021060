//! One internode port for every service of a node: `Router` is the server's `Handler` and
//! hands each request or message to the service registered for its kind (Raft's kinds
//! `0x01xx`, the shard RPC's `0x02xx`, ...). Services may register after the server
//! started (the metadata group starts after the drives are opened). This module must never
//! hand a frame to a service whose range does not hold its kind.

use std::ops::RangeInclusive;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;

use crate::Handler;

type Routes = Vec<(RangeInclusive<u16>, Arc<dyn Handler>)>;

#[derive(Default)]
pub struct Router {
    routes: RwLock<Routes>,
}

impl Router {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Sends the kinds in `kinds` to `handler` (replacing the handler of exactly that range, a
    /// restarted service); refused if they overlap another registered range.
    pub fn register(&self, kinds: RangeInclusive<u16>, handler: Arc<dyn Handler>) -> Result<(), String> {
        let mut routes = self.routes.write().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = routes.iter_mut().find(|(r, _)| *r == kinds) {
            slot.1 = handler;
            return Ok(());
        }
        if let Some((r, _)) = routes.iter().find(|(r, _)| r.start() <= kinds.end() && kinds.start() <= r.end()) {
            return Err(format!("internode kinds {kinds:#x?} overlap the registered {r:#x?}"));
        }
        routes.push((kinds, handler));
        Ok(())
    }

    fn handler(&self, kind: u16) -> Option<Arc<dyn Handler>> {
        let routes = self.routes.read().unwrap_or_else(|e| e.into_inner());
        routes.iter().find(|(r, _)| r.contains(&kind)).map(|(_, h)| h.clone())
    }
}

#[async_trait]
impl Handler for Router {
    async fn call(&self, from: u64, kind: u16, body: Vec<u8>) -> Result<Vec<u8>, String> {
        match self.handler(kind) {
            Some(h) => h.call(from, kind, body).await,
            None => Err(format!("no internode service for kind {kind:#x} on this node")),
        }
    }

    async fn message(&self, from: u64, kind: u16, body: Vec<u8>) {
        if let Some(h) = self.handler(kind) {
            h.message(from, kind, body).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Echo(&'static str, Mutex<Vec<u16>>);

    #[async_trait]
    impl Handler for Echo {
        async fn call(&self, _from: u64, kind: u16, _body: Vec<u8>) -> Result<Vec<u8>, String> {
            Ok(format!("{}:{kind:#x}", self.0).into_bytes())
        }
        async fn message(&self, _from: u64, kind: u16, _body: Vec<u8>) {
            self.1.lock().unwrap().push(kind);
        }
    }

    #[tokio::test]
    async fn kinds_go_to_their_service_and_ranges_do_not_overlap() {
        let r = Router::new();
        let raft = Arc::new(Echo("raft", Mutex::default()));
        let disk = Arc::new(Echo("disk", Mutex::default()));
        r.register(0x0100..=0x01ff, raft.clone()).unwrap();
        assert!(r.register(0x01f0..=0x0210, disk.clone()).is_err(), "overlap refused");
        r.register(0x0200..=0x02ff, raft.clone()).unwrap();
        r.register(0x0200..=0x02ff, disk.clone()).unwrap();
        assert_eq!(r.call(1, 0x0101, vec![]).await.unwrap(), b"raft:0x101");
        assert_eq!(r.call(1, 0x0200, vec![]).await.unwrap(), b"disk:0x200");
        assert!(r.call(1, 0x0300, vec![]).await.unwrap_err().contains("no internode service"));
        r.message(1, 0x0100, vec![]).await;
        r.message(1, 0x0300, vec![]).await;
        assert_eq!(*raft.1.lock().unwrap(), vec![0x0100]);
        assert!(disk.1.lock().unwrap().is_empty());
    }
}
