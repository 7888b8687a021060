//! The conformance suite every `Kv` implementation passes (as Garage tests its db engines):
//! point reads, range scans (bounds, order, limits, odd bytes), conditional batches
//! (all-or-nothing, every condition, absent keys) and concurrent compare-and-set without a
//! lost update. `LocalKv`'s tests run it, and so do the replicated `Kv`'s.
//!
//! Each check returns `Err(what went wrong)`; it writes only keys under the prefix it is
//! given, so one store can run the suite more than once. This module does nothing but call
//! the `Kv` it is handed.

use std::sync::Arc;

use crate::kv::{Kv, WriteBatch, WriteOutcome};

type Check = Result<(), String>;

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

fn k(prefix: &[u8], s: &[u8]) -> Vec<u8> {
    let mut v = prefix.to_vec();
    v.extend_from_slice(s);
    v
}

async fn write(kv: &dyn Kv, b: WriteBatch) -> Result<WriteOutcome, String> {
    kv.write(b).await.map_err(|e| format!("write failed: {e}"))
}

async fn get(kv: &dyn Kv, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
    kv.get(key).await.map_err(|e| format!("get failed: {e}"))
}

/// Puts, overwrites, deletes and reads single keys.
pub async fn point_reads(kv: &dyn Kv, p: &[u8]) -> Check {
    ensure!(get(kv, &k(p, b"missing")).await?.is_none(), "a missing key reads as absent");
    let mut b = WriteBatch::new();
    b.put(k(p, b"a"), b"1".to_vec()).put(k(p, b"empty"), Vec::new());
    ensure!(write(kv, b).await? == WriteOutcome::Applied, "an unconditional batch applies");
    ensure!(get(kv, &k(p, b"a")).await? == Some(b"1".to_vec()), "a put reads back");
    ensure!(get(kv, &k(p, b"empty")).await? == Some(Vec::new()), "an empty value is a value");
    let mut b = WriteBatch::new();
    b.put(k(p, b"a"), b"2".to_vec()).delete(k(p, b"empty")).delete(k(p, b"never"));
    write(kv, b).await?;
    ensure!(get(kv, &k(p, b"a")).await? == Some(b"2".to_vec()), "an overwrite reads back");
    ensure!(get(kv, &k(p, b"empty")).await?.is_none(), "a delete removes");
    ensure!(write(kv, WriteBatch::new()).await? == WriteOutcome::Applied, "an empty batch applies");
    Ok(())
}

/// Range scans: `[start, end)`, ascending byte order, limits, and keys holding 0x00/0xFF.
pub async fn scans(kv: &dyn Kv, p: &[u8]) -> Check {
    let names: Vec<Vec<u8>> =
        vec![vec![0], vec![0, 0], b"a".to_vec(), b"a\x00".to_vec(), b"a\xff".to_vec(), b"b".to_vec(), vec![0xff, 0xff]];
    let mut b = WriteBatch::new();
    for (i, n) in names.iter().enumerate() {
        b.put(k(p, n), vec![i as u8]);
    }
    write(kv, b).await?;
    let mut end = p.to_vec();
    end.push(0xff);
    end.push(0xff);
    end.push(0xff);
    let all = kv.scan(p, &end, 100).await.map_err(|e| e.to_string())?;
    let mut want: Vec<Vec<u8>> = names.iter().map(|n| k(p, n)).collect();
    want.sort();
    ensure!(all.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>() == want, "scan order/contents: {all:?}");
    let some = kv.scan(p, &end, 3).await.map_err(|e| e.to_string())?;
    ensure!(some.len() == 3 && some[..] == all[..3], "a limit returns the first keys");
    let from_a = kv.scan(&k(p, b"a"), &k(p, b"b"), 100).await.map_err(|e| e.to_string())?;
    let got: Vec<Vec<u8>> = from_a.iter().map(|(k, _)| k.clone()).collect();
    ensure!(got == vec![k(p, b"a"), k(p, b"a\x00"), k(p, b"a\xff")], "start is inclusive, end exclusive: {got:?}");
    ensure!(kv.scan(&k(p, b"b"), &k(p, b"a"), 10).await.map_err(|e| e.to_string())?.is_empty(), "start > end: empty");
    ensure!(kv.scan(p, &end, 0).await.map_err(|e| e.to_string())?.is_empty(), "limit 0: empty");
    let (key, value) = &all[0];
    ensure!(get(kv, key).await?.as_ref() == Some(value), "scan values are the stored values");
    Ok(())
}

/// Conditional batches: every condition must hold, and a failed one writes nothing.
pub async fn conditions(kv: &dyn Kv, p: &[u8]) -> Check {
    let mut b = WriteBatch::new();
    b.require(k(p, b"x"), None).put(k(p, b"x"), b"v1".to_vec()).put(k(p, b"side"), b"s1".to_vec());
    ensure!(write(kv, b).await? == WriteOutcome::Applied, "absent-key condition on an absent key holds");
    let mut b = WriteBatch::new();
    b.require(k(p, b"x"), None).put(k(p, b"x"), b"v2".to_vec());
    ensure!(write(kv, b).await? == WriteOutcome::ConditionFailed, "absent-key condition on a present key fails");
    let mut b = WriteBatch::new();
    b.require(k(p, b"x"), Some(b"v1".to_vec()))
        .require(k(p, b"side"), Some(b"wrong".to_vec()))
        .put(k(p, b"x"), b"v2".to_vec())
        .delete(k(p, b"side"))
        .put(k(p, b"new"), b"n".to_vec());
    ensure!(write(kv, b).await? == WriteOutcome::ConditionFailed, "one false condition fails the batch");
    ensure!(get(kv, &k(p, b"x")).await? == Some(b"v1".to_vec()), "a failed batch writes nothing");
    ensure!(get(kv, &k(p, b"side")).await? == Some(b"s1".to_vec()), "a failed batch deletes nothing");
    ensure!(get(kv, &k(p, b"new")).await?.is_none(), "a failed batch adds nothing");
    let mut b = WriteBatch::new();
    b.require(k(p, b"x"), Some(b"v1".to_vec()))
        .require(k(p, b"side"), Some(b"s1".to_vec()))
        .require(k(p, b"nothing"), None)
        .put(k(p, b"x"), b"v2".to_vec())
        .delete(k(p, b"side"));
    ensure!(write(kv, b).await? == WriteOutcome::Applied, "all conditions true: applied");
    ensure!(get(kv, &k(p, b"x")).await? == Some(b"v2".to_vec()) && get(kv, &k(p, b"side")).await?.is_none(), "applied");
    Ok(())
}

/// `tasks` writers each add 1 to a counter `rounds` times with read + compare-and-set:
/// no increment is lost, none counted twice.
pub async fn no_lost_updates(kv: Arc<dyn Kv>, p: &[u8], tasks: usize, rounds: usize) -> Check {
    let key = k(p, b"counter");
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let kv = kv.clone();
        let key = key.clone();
        handles.push(tokio::spawn(async move {
            for _ in 0..rounds {
                loop {
                    let cur = kv.get(&key).await.map_err(|e| e.to_string())?;
                    let n = cur.as_deref().map_or(0u64, |v| u64::from_be_bytes(v.try_into().unwrap_or([0; 8])));
                    let mut b = WriteBatch::new();
                    b.require(key.clone(), cur).put(key.clone(), (n + 1).to_be_bytes().to_vec());
                    match kv.write(b).await {
                        Ok(WriteOutcome::Applied) => break,
                        Ok(WriteOutcome::ConditionFailed) => continue,
                        Err(e) => return Err(e.to_string()),
                    }
                }
            }
            Ok::<(), String>(())
        }));
    }
    for h in handles {
        h.await.map_err(|e| e.to_string())??;
    }
    let v = get(kv.as_ref(), &key).await?.unwrap_or_default();
    let n = u64::from_be_bytes(v.as_slice().try_into().unwrap_or([0; 8]));
    ensure!(n == (tasks * rounds) as u64, "counter is {n}, expected {}", tasks * rounds);
    Ok(())
}

/// One writer sets a key to 1, 2, ... `rounds` while `readers` read it: a read never returns
/// less than what a write acknowledged before the read started (no stale cached value).
pub async fn reads_follow_writes(kv: Arc<dyn Kv>, p: &[u8], readers: usize, rounds: u64) -> Check {
    use std::sync::atomic::{AtomicU64, Ordering};
    let key = k(p, b"seq");
    let acked = Arc::new(AtomicU64::new(0));
    let decode = |v: Option<Vec<u8>>| v.map_or(0u64, |v| u64::from_be_bytes(v.try_into().unwrap_or([0; 8])));
    let mut handles = Vec::new();
    for _ in 0..readers {
        let (kv, key, acked) = (kv.clone(), key.clone(), acked.clone());
        handles.push(tokio::spawn(async move {
            loop {
                let floor = acked.load(Ordering::SeqCst);
                let n = decode(kv.get(&key).await.map_err(|e| e.to_string())?);
                if n < floor {
                    return Err(format!("read {n} after write {floor} was acknowledged"));
                }
                if floor == rounds {
                    return Ok::<(), String>(());
                }
                tokio::task::yield_now().await;
            }
        }));
    }
    for n in 1..=rounds {
        let mut b = WriteBatch::new();
        b.put(key.clone(), n.to_be_bytes().to_vec());
        ensure!(write(kv.as_ref(), b).await? == WriteOutcome::Applied, "a put applies");
        acked.store(n, Ordering::SeqCst);
    }
    for h in handles {
        h.await.map_err(|e| e.to_string())??;
    }
    Ok(())
}

/// Every check, each under its own prefix below `prefix`.
pub async fn run_all(kv: Arc<dyn Kv>, prefix: &[u8]) -> Check {
    point_reads(kv.as_ref(), &k(prefix, b"point/")).await?;
    scans(kv.as_ref(), &k(prefix, b"scan/")).await?;
    conditions(kv.as_ref(), &k(prefix, b"cond/")).await?;
    no_lost_updates(kv.clone(), &k(prefix, b"cas/"), 8, 25).await?;
    reads_follow_writes(kv, &k(prefix, b"seq/"), 4, 50).await?;
    Ok(())
}
