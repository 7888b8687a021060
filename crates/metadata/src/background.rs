//! One way to run background work: a `Worker` does a unit of work at a time (or says it is
//! idle and waits for more), and the `Runner` runs every worker of a server, skips the
//! leader-only ones on nodes that are not the metadata group's leader, reports what each
//! is doing, and stops them all cleanly (a unit in progress finishes, up to a deadline).
//! On-demand jobs (a heal walk, a migrator pass, a validation, cleanup, rebuild-kv) run on
//! the same runner with `spawn_job`: the job calls `JobCtx::unit` after each unit, which
//! counts it and tells it to stop at shutdown (or, leader-only, when the node lost the lead).
//! It lives in this crate because every crate with background work depends on it; each
//! worker and job lives in the crate that owns its data.
//!
//! This module must never run a leader-only worker's unit while its node is not the leader,
//! and never start a unit after shutdown began.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What a unit of work found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WorkerState {
    /// There is more to do at once.
    Busy,
    /// Nothing to do until `wait_for_work` returns.
    Idle,
    /// Finished for good.
    Done,
}

#[async_trait]
pub trait Worker: Send + 'static {
    fn name(&self) -> String;

    /// Runs only on the metadata group's leader (work that must happen once per cluster).
    fn leader_only(&self) -> bool {
        false
    }

    /// Does one unit of work (short: shutdown waits for it). An error is counted and logged,
    /// and the worker then waits for work.
    async fn work(&mut self) -> Result<WorkerState, String>;

    /// Waits until there may be work again (a queued item, a timer).
    async fn wait_for_work(&mut self);
}

/// What the admin API shows of one worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerInfo {
    pub name: String,
    /// `busy`, `idle`, `paused` (leader-only, not the leader), `done`, `stopped`.
    pub state: String,
    pub leader_only: bool,
    pub units: u64,
    pub errors: u64,
    pub last_error: Option<String>,
}

struct Entry {
    info: Arc<Mutex<WorkerInfo>>,
    handle: JoinHandle<()>,
}

/// Runs workers; see the module documentation.
pub struct Runner {
    entries: Mutex<Vec<Entry>>,
    stop_tx: watch::Sender<bool>,
    stopping: AtomicBool,
    is_leader: Arc<dyn Fn() -> bool + Send + Sync>,
    units: AtomicU64,
}

fn set(info: &Mutex<WorkerInfo>, f: impl FnOnce(&mut WorkerInfo)) {
    f(&mut info.lock().unwrap_or_else(|e| e.into_inner()));
}

impl Runner {
    /// `is_leader` tells whether this node leads the metadata group now.
    pub fn new(is_leader: Arc<dyn Fn() -> bool + Send + Sync>) -> Arc<Self> {
        let (stop_tx, _) = watch::channel(false);
        Arc::new(Self {
            entries: Mutex::new(Vec::new()),
            stop_tx,
            stopping: AtomicBool::new(false),
            is_leader,
            units: AtomicU64::new(0),
        })
    }

    /// Starts a worker (not once shutdown began).
    pub fn spawn(self: &Arc<Self>, mut w: impl Worker) {
        if self.stopping.load(Ordering::SeqCst) {
            return;
        }
        let info = Arc::new(Mutex::new(WorkerInfo {
            name: w.name(),
            state: "idle".into(),
            leader_only: w.leader_only(),
            units: 0,
            errors: 0,
            last_error: None,
        }));
        let mut stop = self.stop_tx.subscribe();
        let me = Arc::downgrade(self);
        let i = info.clone();
        let handle = tokio::spawn(async move {
            loop {
                if *stop.borrow() {
                    break;
                }
                let Some(runner) = me.upgrade() else { break };
                if w.leader_only() && !(runner.is_leader)() {
                    drop(runner);
                    set(&i, |s| s.state = "paused".into());
                    tokio::select! {
                        _ = stop.changed() => {}
                        () = tokio::time::sleep(Duration::from_millis(500)) => {}
                    }
                    continue;
                }
                set(&i, |s| s.state = "busy".into());
                let res = w.work().await;
                runner.units.fetch_add(1, Ordering::Relaxed);
                drop(runner);
                let state = match res {
                    Ok(s) => {
                        set(&i, |x| x.units += 1);
                        s
                    }
                    Err(e) => {
                        tracing::warn!(worker = %w.name(), error = %e, "background work failed");
                        set(&i, |x| {
                            x.units += 1;
                            x.errors += 1;
                            x.last_error = Some(e);
                        });
                        WorkerState::Idle
                    }
                };
                match state {
                    WorkerState::Busy => {}
                    WorkerState::Done => {
                        set(&i, |s| s.state = "done".into());
                        return;
                    }
                    WorkerState::Idle => {
                        set(&i, |s| s.state = "idle".into());
                        tokio::select! {
                            _ = stop.changed() => {}
                            () = w.wait_for_work() => {}
                        }
                    }
                }
            }
            set(&i, |s| s.state = "stopped".into());
        });
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).push(Entry { info, handle });
    }

    /// Runs the on-demand job `f` under `name` (replacing the entry of a finished job of that
    /// name). It shows as `busy` while it runs, then `done` (its error, if any, in
    /// `last_error`) or `stopped`. Returns `false` (and runs nothing) once shutdown began.
    pub fn spawn_job<F, Fut>(self: &Arc<Self>, name: &str, leader_only: bool, f: F) -> bool
    where
        F: FnOnce(JobCtx) -> Fut,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        if self.stopping.load(Ordering::SeqCst) {
            return false;
        }
        let info = Arc::new(Mutex::new(WorkerInfo {
            name: name.to_string(),
            state: "busy".into(),
            leader_only,
            units: 0,
            errors: 0,
            last_error: None,
        }));
        let ctx = JobCtx {
            info: info.clone(),
            stop: self.stop_tx.subscribe(),
            is_leader: leader_only.then(|| self.is_leader.clone()),
            runner: Arc::downgrade(self),
        };
        let fut = f(ctx);
        let i = info.clone();
        let handle = tokio::spawn(async move {
            let res = fut.await;
            set(&i, |s| match res {
                Ok(()) => s.state = "done".into(),
                Err(e) if e.starts_with(STOPPED) => {
                    s.state = "stopped".into();
                    s.last_error = Some(e);
                }
                Err(e) => {
                    s.state = "done".into();
                    s.errors += 1;
                    s.last_error = Some(e);
                }
            });
        });
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|e| !(e.handle.is_finished() && e.info.lock().unwrap_or_else(|p| p.into_inner()).name == name));
        entries.push(Entry { info, handle });
        true
    }

    /// Every worker's state.
    pub fn workers(&self) -> Vec<WorkerInfo> {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|e| e.info.lock().unwrap_or_else(|p| p.into_inner()).clone())
            .collect()
    }

    /// Units of work done by every worker so far.
    pub fn units(&self) -> u64 {
        self.units.load(Ordering::Relaxed)
    }

    /// Stops every worker: no new unit starts, units in progress finish, and what has not
    /// finished by `deadline` is cancelled. Returns how many had to be cancelled.
    pub async fn shutdown(&self, deadline: Duration) -> usize {
        self.stopping.store(true, Ordering::SeqCst);
        let _ = self.stop_tx.send(true);
        let entries: Vec<Entry> = std::mem::take(&mut *self.entries.lock().unwrap_or_else(|e| e.into_inner()));
        let until = tokio::time::Instant::now() + deadline;
        let mut cancelled = 0;
        for mut e in entries {
            if tokio::time::timeout_at(until, &mut e.handle).await.is_err() {
                e.handle.abort();
                cancelled += 1;
                set(&e.info, |s| s.state = "stopped".into());
            }
        }
        cancelled
    }
}

/// How a stopped job's error begins (see `JobCtx::unit`).
const STOPPED: &str = "stopped: ";

/// What an on-demand job holds of its runner: see `Runner::spawn_job`.
pub struct JobCtx {
    info: Arc<Mutex<WorkerInfo>>,
    stop: watch::Receiver<bool>,
    /// Set for a leader-only job.
    is_leader: Option<Arc<dyn Fn() -> bool + Send + Sync>>,
    runner: std::sync::Weak<Runner>,
}

impl JobCtx {
    /// Counts a unit of work done, and says whether the job may go on: `Err` (its text
    /// starts with `stopped: `) once the server shuts down or, for a leader-only job, once
    /// this node no longer leads the metadata group. The job returns that error.
    pub fn unit(&self) -> Result<(), String> {
        set(&self.info, |s| s.units += 1);
        if let Some(r) = self.runner.upgrade() {
            r.units.fetch_add(1, Ordering::Relaxed);
        }
        self.may_go_on()
    }

    /// `unit` without counting one (for a check before any work).
    pub fn may_go_on(&self) -> Result<(), String> {
        if *self.stop.borrow() {
            return Err(format!("{STOPPED}the server is shutting down"));
        }
        if self.is_leader.as_ref().is_some_and(|l| !l()) {
            return Err(format!("{STOPPED}this node no longer leads the metadata group"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc;

    struct Counter {
        name: &'static str,
        rx: mpsc::Receiver<u32>,
        seen: Arc<AtomicU64>,
        leader_only: bool,
        pending: Option<u32>,
    }

    #[async_trait]
    impl Worker for Counter {
        fn name(&self) -> String {
            self.name.into()
        }
        fn leader_only(&self) -> bool {
            self.leader_only
        }
        async fn work(&mut self) -> Result<WorkerState, String> {
            let Some(n) = self.pending.take().or_else(|| self.rx.try_recv().ok()) else {
                return Ok(WorkerState::Idle);
            };
            if n == 0 {
                return Err("zero".into());
            }
            if n == u32::MAX {
                return Ok(WorkerState::Done);
            }
            self.seen.fetch_add(u64::from(n), Ordering::SeqCst);
            Ok(WorkerState::Busy)
        }
        async fn wait_for_work(&mut self) {
            self.pending = self.rx.recv().await;
        }
    }

    async fn until(f: impl Fn() -> bool) {
        for _ in 0..200 {
            if f() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("condition not reached");
    }

    #[tokio::test]
    async fn runs_pauses_off_leader_reports_and_stops() {
        let leader = Arc::new(AtomicBool::new(false));
        let l = leader.clone();
        let runner = Runner::new(Arc::new(move || l.load(Ordering::SeqCst)));
        let (tx_any, rx_any) = mpsc::channel(16);
        let (tx_lead, rx_lead) = mpsc::channel(16);
        let (any, lead) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        runner.spawn(Counter { name: "any", rx: rx_any, seen: any.clone(), leader_only: false, pending: None });
        runner.spawn(Counter { name: "lead", rx: rx_lead, seen: lead.clone(), leader_only: true, pending: None });
        tx_any.send(2).await.unwrap();
        tx_any.send(0).await.unwrap();
        tx_any.send(3).await.unwrap();
        tx_lead.send(7).await.unwrap();
        until(|| any.load(Ordering::SeqCst) == 5).await;
        until(|| runner.workers().iter().any(|w| w.name == "lead" && w.state == "paused")).await;
        assert_eq!(lead.load(Ordering::SeqCst), 0, "not the leader: leader-only work waits");
        leader.store(true, Ordering::SeqCst);
        until(|| lead.load(Ordering::SeqCst) == 7).await;
        let any_info = runner.workers().into_iter().find(|w| w.name == "any").unwrap();
        assert_eq!((any_info.errors, any_info.last_error.as_deref()), (1, Some("zero")));
        tx_any.send(u32::MAX).await.unwrap();
        until(|| runner.workers().iter().any(|w| w.name == "any" && w.state == "done")).await;
        assert_eq!(runner.shutdown(Duration::from_secs(5)).await, 0, "idle workers stop at once");
        assert!(runner.workers().is_empty());
    }

    fn job_state(runner: &Runner, name: &str) -> Option<WorkerInfo> {
        runner.workers().into_iter().find(|w| w.name == name)
    }

    /// A job runs to its end and reports; a leader-only job stops when the lead goes; every
    /// job stops at its next unit when the runner shuts down, and none starts after.
    #[tokio::test]
    async fn jobs_report_stop_off_leader_and_at_shutdown() {
        let leader = Arc::new(AtomicBool::new(true));
        let l = leader.clone();
        let runner = Runner::new(Arc::new(move || l.load(Ordering::SeqCst)));
        assert!(runner.spawn_job("short", false, |ctx| async move {
            for _ in 0..3 {
                ctx.unit()?;
            }
            Err("the third unit failed".into())
        }));
        until(|| job_state(&runner, "short").is_some_and(|w| w.state == "done")).await;
        let short = job_state(&runner, "short").unwrap();
        assert_eq!((short.units, short.errors, short.last_error.as_deref()), (3, 1, Some("the third unit failed")));
        // Again under the same name: the finished entry is replaced, not kept beside it.
        runner.spawn_job("short", false, |_ctx| async move { Ok(()) });
        until(|| job_state(&runner, "short").is_some_and(|w| w.state == "done" && w.errors == 0)).await;
        assert_eq!(runner.workers().iter().filter(|w| w.name == "short").count(), 1);

        let endless = |ctx: JobCtx| async move {
            loop {
                ctx.unit()?;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        runner.spawn_job("lead-only", true, endless);
        runner.spawn_job("anywhere", false, endless);
        until(|| job_state(&runner, "lead-only").is_some_and(|w| w.units > 3)).await;
        leader.store(false, Ordering::SeqCst);
        until(|| job_state(&runner, "lead-only").is_some_and(|w| w.state == "stopped")).await;
        let stopped = job_state(&runner, "lead-only").unwrap();
        assert!(stopped.last_error.unwrap().contains("no longer leads"));
        assert_eq!(job_state(&runner, "anywhere").unwrap().state, "busy", "a job for any node goes on");
        assert_eq!(runner.shutdown(Duration::from_secs(5)).await, 0, "a running job stops at its next unit");
        assert!(!runner.spawn_job("late", false, |_ctx| async move { Ok(()) }), "no job starts after shutdown");
    }
}
