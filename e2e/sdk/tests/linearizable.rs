//! Linearizability of a 3-node metadata group of real `rustfs` processes, checked with
//! stateright's `LinearizabilityTester`: clients on every node write unique values to and
//! read a few small objects (each object a register) while a nemesis kills a node with
//! SIGKILL and restarts it, again and again. Every operation is recorded with its invoke
//! and return as the client saw them; a failed or timed-out operation stays "in flight"
//! (it may or may not have taken effect) and its client continues under a new identity.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap fails the test

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use rustfs_e2e_sdk::{binary, free_port};
use stateright::semantics::register::{Register, RegisterOp, RegisterRet};
use stateright::semantics::{ConsistencyTester, LinearizabilityTester};

const ACCESS: &str = "lin-root";
const SECRET: &str = "lin-root-secret";
const KEYS: usize = 2;

struct Node {
    id: u64,
    port: u16,
    data: PathBuf,
    peers: String,
    child: Option<Child>,
}

impl Node {
    fn start(&mut self) {
        let child = Command::new(binary())
            .args(["server", "--address", &format!("127.0.0.1:{}", self.port), "--data"])
            .arg(&self.data)
            .env("RUSTFS_ACCESS_KEY", ACCESS)
            .env("RUSTFS_SECRET_KEY", SECRET)
            .env("RUSTFS_NODE_ID", self.id.to_string())
            .env("RUSTFS_PEERS", &self.peers)
            .env("RUSTFS_CLUSTER_SECRET", "linearizability-secret")
            .env("RUSTFS_RAFT_ELECTION_TIMEOUT_MS", "500")
            .env("RUSTFS_RAFT_HEARTBEAT_INTERVAL_MS", "50")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn ready(&self) -> bool {
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else { return false };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let _ = s.write_all(b"GET /health/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out.starts_with("HTTP/1.1 200")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn client(port: u16) -> Client {
    rustfs_e2e_sdk::client(port, ACCESS, SECRET, false)
}

type Tester = LinearizabilityTester<u64, Register<Option<u32>>>;

/// Events of one register in the order they happened: invocations and returns. A read that
/// failed took no effect and is dropped from the history when it is checked; a write that
/// failed stays in flight.
enum Event {
    Invoke(u64, RegisterOp<Option<u32>>),
    Return(u64, RegisterRet<Option<u32>>),
    ReadFailed(u64),
}

fn check(events: &[Event]) -> (bool, usize) {
    // A failed read cancels its own invocation (the thread's last one before it).
    let mut cancelled = std::collections::HashSet::new();
    let mut last_invoke = std::collections::HashMap::new();
    for (i, e) in events.iter().enumerate() {
        match e {
            Event::Invoke(th, _) => {
                last_invoke.insert(*th, i);
            }
            Event::ReadFailed(th) => {
                if let Some(i) = last_invoke.get(th) {
                    cancelled.insert(*i);
                }
            }
            Event::Return(..) => {}
        }
    }
    let mut t: Tester = LinearizabilityTester::new(Register(None));
    for (i, e) in events.iter().enumerate() {
        match e {
            Event::Invoke(th, op) if !cancelled.contains(&i) => {
                t.on_invoke(*th, op.clone()).unwrap();
            }
            Event::Return(th, r) => {
                t.on_return(*th, r.clone()).unwrap();
            }
            _ => {}
        }
    }
    (t.is_consistent(), t.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn histories_under_kill9_are_linearizable() {
    let dir = tempfile::tempdir().unwrap();
    let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
    let peers =
        ports.iter().enumerate().map(|(i, (_, p))| format!("{}=127.0.0.1:{p}", i + 1)).collect::<Vec<_>>().join(",");
    let nodes: Vec<Arc<Mutex<Node>>> = ports
        .iter()
        .enumerate()
        .map(|(i, (s3, _))| {
            let mut n = Node {
                id: i as u64 + 1,
                port: *s3,
                data: dir.path().join(format!("n{}", i + 1)),
                peers: peers.clone(),
                child: None,
            };
            n.start();
            Arc::new(Mutex::new(n))
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !nodes.iter().all(|n| n.lock().unwrap().ready()) {
        assert!(Instant::now() < deadline, "the group did not become ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    client(ports[0].0).create_bucket().bucket("lin").send().await.unwrap();

    let testers: Vec<Arc<Mutex<Vec<Event>>>> = (0..KEYS).map(|_| Arc::new(Mutex::new(Vec::new()))).collect();
    let run_for = Duration::from_secs(10);
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..4u64 {
        let port = ports[(w % 3) as usize].0;
        let testers = testers.clone();
        workers.push(tokio::spawn(async move {
            let c = client(port);
            let mut generation = 0u64;
            let (mut ok, mut unknown) = (0u32, 0u32);
            let mut i = 0u32;
            while started.elapsed() < run_for {
                i += 1;
                let k = (rand::random::<u32>() as usize) % KEYS;
                let thread = w * 1_000_000 + generation;
                let write = rand::random::<bool>();
                let value = (w as u32) << 20 | i;
                let t = &testers[k];
                let op = if write { RegisterOp::Write(Some(value)) } else { RegisterOp::Read };
                t.lock().unwrap().push(Event::Invoke(thread, op));
                let key = format!("reg{k}");
                let ret = if write {
                    let f = c
                        .put_object()
                        .bucket("lin")
                        .key(&key)
                        .body(ByteStream::from(value.to_be_bytes().to_vec()))
                        .send();
                    match tokio::time::timeout(Duration::from_secs(5), f).await {
                        Ok(Ok(_)) => Some(RegisterRet::WriteOk),
                        _ => None,
                    }
                } else {
                    let f = c.get_object().bucket("lin").key(&key).send();
                    match tokio::time::timeout(Duration::from_secs(5), f).await {
                        Ok(Ok(o)) => match tokio::time::timeout(Duration::from_secs(5), o.body.collect()).await {
                            Ok(Ok(b)) => {
                                let b = b.into_bytes();
                                (b.len() == 4)
                                    .then(|| RegisterRet::ReadOk(Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))))
                            }
                            _ => None,
                        },
                        Ok(Err(e)) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {
                            Some(RegisterRet::ReadOk(None))
                        }
                        _ => None,
                    }
                };
                match ret {
                    Some(r) => {
                        t.lock().unwrap().push(Event::Return(thread, r));
                        ok += 1;
                    }
                    None => {
                        // Unknown outcome: a write stays in flight, a read is dropped; go on
                        // as a new client, after a pause (the group is electing a leader).
                        if !write {
                            t.lock().unwrap().push(Event::ReadFailed(thread));
                        } else {
                            unknown += 1;
                        }
                        generation += 1;
                        tokio::time::sleep(Duration::from_millis(300)).await;
                    }
                }
                tokio::time::sleep(Duration::from_millis(10 + u64::from(rand::random::<u8>() % 30))).await;
            }
            (ok, unknown)
        }));
    }
    // The nemesis: kill -9 a node, restart it, every few seconds.
    let mut kills = 0;
    while started.elapsed() < run_for - Duration::from_secs(2) {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let victim = nodes[kills % 3].clone();
        victim.lock().unwrap().kill9();
        kills += 1;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        victim.lock().unwrap().start();
    }
    let (mut ok, mut unknown) = (0, 0);
    for w in workers {
        let (o, u) = w.await.unwrap();
        ok += o;
        unknown += u;
    }
    assert!(kills >= 2, "the nemesis ran");
    assert!(ok > 100, "enough operations completed ({ok} ok, {unknown} unknown)");
    eprintln!("checking: {ok} operations completed, {unknown} writes with unknown outcome, {kills} kills");
    for (k, t) in testers.iter().enumerate() {
        let events = std::mem::take(&mut *t.lock().unwrap());
        let started = Instant::now();
        let (consistent, n) = check(&events);
        eprintln!("reg{k}: {n} operations checked in {:?}", started.elapsed());
        assert!(consistent, "the history of reg{k} is not linearizable ({n} operations)");
    }
    eprintln!("linearizable: {ok} operations completed, {unknown} with unknown outcome, {kills} kills");
}

/// The harness can fail: a stale read after an acknowledged write, and a value never
/// written, are caught; a read failing mid-way is dropped.
#[test]
fn the_checker_catches_a_stale_read() {
    use Event::*;
    let w = |v| RegisterOp::Write(Some(v));
    let stale = [
        Invoke(1, w(5)),
        Return(1, RegisterRet::WriteOk),
        Invoke(2, RegisterOp::Read),
        Return(2, RegisterRet::ReadOk(None)),
    ];
    assert!(!check(&stale).0);
    let invented = [Invoke(1, RegisterOp::Read), Return(1, RegisterRet::ReadOk(Some(9)))];
    assert!(!check(&invented).0);
    let fine = [
        Invoke(1, w(5)),
        Invoke(2, RegisterOp::Read),
        Return(2, RegisterRet::ReadOk(Some(5))),
        Invoke(3, RegisterOp::Read),
        ReadFailed(3),
    ];
    assert!(check(&fine).0, "an in-flight write may be seen; a failed read is dropped");
}
