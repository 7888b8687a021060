//! The gate in front of a `DualTrack`: in a cluster exactly one node runs the migration's
//! metadata operations at a time (the coordinator, see `forward`), because the per-key
//! locks, the write barrier and the shadow queue are in one process's memory. Every
//! operation enters the gate; closing it refuses new ones (`NotCoordinator`) and waits until
//! those inside have left, so that when another node opens its gate no operation of this
//! one is still running. A single node's gate is always open.
//!
//! This module must never let an operation in after `close` began, nor return from `close`
//! while one is inside.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::Notify;

use crate::error::{MetaError, Result};

#[derive(Debug)]
pub struct Gate {
    open: AtomicBool,
    inside: AtomicUsize,
    left: Notify,
}

/// An operation inside the gate; it leaves when dropped.
pub struct Pass<'a> {
    gate: &'a Gate,
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        if self.gate.inside.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.gate.left.notify_waiters();
        }
    }
}

impl Gate {
    /// An open gate (a single node), or a closed one (a cluster node until it coordinates).
    pub fn new(open: bool) -> Self {
        Self { open: AtomicBool::new(open), inside: AtomicUsize::new(0), left: Notify::new() }
    }

    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::SeqCst)
    }

    /// Lets an operation in, unless the gate is closed.
    pub fn enter(&self) -> Result<Pass<'_>> {
        self.inside.fetch_add(1, Ordering::SeqCst);
        let pass = Pass { gate: self };
        // Checked after counting in: `close` either sees this operation inside and waits
        // for it, or closed first and this check refuses it.
        if !self.open.load(Ordering::SeqCst) {
            return Err(MetaError::NotCoordinator("this node does not coordinate the migration now".into()));
        }
        Ok(pass)
    }

    pub fn open(&self) {
        self.open.store(true, Ordering::SeqCst);
    }

    /// Refuses new operations and waits until none is inside.
    pub async fn close(&self) {
        self.open.store(false, Ordering::SeqCst);
        loop {
            let left = self.left.notified();
            if self.inside.load(Ordering::SeqCst) == 0 {
                return;
            }
            left.await;
        }
    }

    /// Operations inside now.
    pub fn inside(&self) -> usize {
        self.inside.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn close_refuses_new_operations_and_waits_for_those_inside() {
        let g = Arc::new(Gate::new(false));
        assert!(matches!(g.enter(), Err(MetaError::NotCoordinator(_))));
        g.open();
        let inside = g.enter().unwrap();
        let closing = {
            let g = g.clone();
            tokio::spawn(async move { g.close().await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!closing.is_finished(), "close waits for the operation inside");
        assert!(g.enter().is_err(), "no new operation once closing began");
        drop(inside);
        tokio::time::timeout(Duration::from_secs(5), closing).await.unwrap().unwrap();
        assert_eq!(g.inside(), 0);
        g.open();
        assert!(g.enter().is_ok());
    }
}
