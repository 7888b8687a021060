//! The node's state machine: a `metadata::LocalKv` in `<dir>`, swapped whole when a
//! snapshot is installed. An install fills a fresh store in `<dir>.incoming`, syncs it,
//! marks it complete, then renames it into place; a crash before the mark leaves the old
//! store (consistent with the log) and the incoming one is dropped at start, a crash after
//! it finishes the swap at start.
//!
//! This module must never let a partly installed snapshot become the state machine.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use metadata::{KvOptions, LocalKv};

use crate::error::{ReplError, Result};

const COMPLETE: &str = "SNAPSHOT-COMPLETE";

fn err(e: impl std::fmt::Display) -> ReplError {
    ReplError::Storage(e.to_string())
}

fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let mut s = dir.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn sync_dir(p: &Path) {
    if let Ok(f) = std::fs::File::open(p) {
        let _ = f.sync_all();
    }
}

pub struct StateMachine {
    dir: PathBuf,
    opts: KvOptions,
    current: RwLock<Arc<LocalKv>>,
}

impl StateMachine {
    /// Opens the store at `dir`, first finishing or dropping an interrupted install. Must run
    /// inside a tokio runtime (surrealkv starts tasks).
    pub fn open(dir: &Path, opts: KvOptions) -> Result<Self> {
        let incoming = sibling(dir, ".incoming");
        let old = sibling(dir, ".old");
        if incoming.exists() {
            if incoming.join(COMPLETE).exists() {
                tracing::info!(dir = %dir.display(), "finishing a snapshot install a restart interrupted");
                if dir.exists() {
                    let _ = std::fs::remove_dir_all(&old);
                    std::fs::rename(dir, &old).map_err(err)?;
                }
                std::fs::rename(&incoming, dir).map_err(err)?;
            } else {
                tracing::warn!(dir = %incoming.display(), "dropping a snapshot install a restart interrupted");
                std::fs::remove_dir_all(&incoming).map_err(err)?;
            }
            if let Some(p) = dir.parent() {
                sync_dir(p);
            }
        }
        let _ = std::fs::remove_dir_all(&old);
        let kv = LocalKv::open_with(dir, opts)?;
        Ok(Self { dir: dir.to_path_buf(), opts, current: RwLock::new(Arc::new(kv)) })
    }

    pub fn current(&self) -> Arc<LocalKv> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// A fresh, empty store to install a snapshot into (inside a tokio runtime).
    pub fn begin_install(&self) -> Result<(PathBuf, LocalKv)> {
        let incoming = sibling(&self.dir, ".incoming");
        if incoming.exists() {
            std::fs::remove_dir_all(&incoming).map_err(err)?;
        }
        let kv = LocalKv::open_with(&incoming, self.opts)?;
        Ok((incoming, kv))
    }

    /// Makes a filled and closed incoming store the state machine.
    pub async fn complete_install(&self, incoming: &Path) -> Result<()> {
        let mark = incoming.join(COMPLETE);
        std::fs::write(&mark, b"1").map_err(err)?;
        std::fs::File::open(&mark).and_then(|f| f.sync_all()).map_err(err)?;
        sync_dir(incoming);
        // The store being replaced is closed before its folder moves: a tree writes its last
        // tables by path when it closes, and would write them into the new store's folder.
        // Reads meanwhile fail (and are retried by their callers); nothing applies meanwhile.
        let previous = self.current();
        if let Err(e) = previous.close().await {
            tracing::warn!(error = %e, "closing the replaced state machine");
        }
        let old = sibling(&self.dir, ".old");
        let _ = std::fs::remove_dir_all(&old);
        std::fs::rename(&self.dir, &old).map_err(err)?;
        std::fs::rename(incoming, &self.dir).map_err(err)?;
        if let Some(p) = self.dir.parent() {
            sync_dir(p);
        }
        let _ = std::fs::remove_file(self.dir.join(COMPLETE));
        let fresh = Arc::new(LocalKv::open_with(&self.dir, self.opts)?);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        let _ = std::fs::remove_dir_all(&old);
        Ok(())
    }
}
