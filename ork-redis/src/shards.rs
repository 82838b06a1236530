//! The router: which shard of a namespace holds a job, a key or a
//! schedule (the rules are in the crate docs, "Shards").
//!
//! Every shard is an [`Inner`] of its own (its [`Keys`](crate::keys::Keys)
//! under its own hash tag), sharing the backend's connections. A script
//! call always goes to one shard: code that adds an operation picks the
//! shard with [`Router::for_job`], [`Router::for_key`] or
//! [`Router::for_name`] and calls the shard's `Inner` as before.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;

use ork_core::backend::Claimed;
use ork_core::job::JobRecord;

use crate::backend::Inner;

/// How many roots living away from their id's shard a backend remembers
/// (the oldest half is forgotten past this).
const MOVED_CAP: usize = 1 << 16;

/// The shards of one namespace, and where things live among them.
pub(crate) struct Router {
    shards: Vec<Arc<Inner>>,
    /// Roots (ids before their first `.`) whose jobs live in another shard
    /// than their id hashes to, learnt when one of their jobs is claimed:
    /// a job with a unique or idempotency key, a schedule's tick, a job
    /// stored before the shard count changed. Shared with the
    /// [`standalone`](ork_core::Backend::standalone) copies, so a lease
    /// renewed from the lease thread goes to the same shard.
    moved: Arc<Mutex<Moved>>,
    /// Where the next claim starts its round.
    next: AtomicUsize,
}

#[derive(Default)]
pub(crate) struct Moved {
    at: HashMap<String, usize>,
    order: VecDeque<String>,
}

impl Router {
    pub(crate) fn new(shards: Vec<Arc<Inner>>) -> Self {
        Router::sharing(shards, Arc::default())
    }

    /// A router over other connections to the same shards, sharing what
    /// this one learnt.
    pub(crate) fn sharing(shards: Vec<Arc<Inner>>, moved: Arc<Mutex<Moved>>) -> Self {
        assert!(!shards.is_empty(), "a namespace has at least one shard");
        Router {
            shards,
            moved,
            next: AtomicUsize::new(0),
        }
    }

    pub(crate) fn moved(&self) -> Arc<Mutex<Moved>> {
        self.moved.clone()
    }

    /// How many shards.
    pub(crate) fn count(&self) -> usize {
        self.shards.len()
    }

    /// Shard `i`.
    pub(crate) fn shard(&self, i: usize) -> &Arc<Inner> {
        &self.shards[i]
    }

    /// Every shard, shard 0 first.
    pub(crate) fn all(&self) -> &[Arc<Inner>] {
        &self.shards
    }

    /// The shard that holds shared state of the namespace (the worker
    /// registry, the audit trail): shard 0.
    pub(crate) fn home(&self) -> &Arc<Inner> {
        &self.shards[0]
    }

    /// The shard of a job: its root's, as learnt at claim, or where the
    /// root hashes.
    pub(crate) fn for_job(&self, id: &str) -> usize {
        if self.shards.len() == 1 {
            return 0;
        }
        let root = root_of(id);
        if let Some(&at) = self.lock().at.get(root) {
            return at;
        }
        shard_of(root, self.shards.len())
    }

    /// The shard of a unique or idempotency key.
    pub(crate) fn for_key(&self, key: &str) -> usize {
        shard_of(key, self.shards.len())
    }

    /// The shard of a schedule (and of its ticks).
    pub(crate) fn for_name(&self, name: &str) -> usize {
        shard_of(name, self.shards.len())
    }

    /// Where a new record goes: a child or workflow node with its root; a
    /// root of a task with a named limiter in the limiter's shard, of a
    /// task with a running cap or a rate in the task's shard, so that one
    /// shard holds the limit's whole state; else a root with a concurrency
    /// key or a rate key in that key's shard; else one with an idempotency
    /// key or a unique key in that key's shard (the idempotency key first);
    /// any other job where its id hashes.
    pub(crate) fn for_record(&self, r: &JobRecord) -> usize {
        let id = r.id.as_str();
        if r.parent.is_some() || id.contains('.') {
            return self.for_job(id);
        }
        if let Some(limiter) = &r.limiter {
            return self.for_key(&format!("l:{limiter}"));
        }
        if r.max_running.is_some() || r.rate.is_some() {
            return self.for_key(&format!("t:{}", r.task));
        }
        let keyed = r
            .concurrency_key
            .as_ref()
            .or(r.rate_key.as_ref())
            .or(r.idempotency_key.as_ref())
            .or(r.unique.as_ref());
        match keyed {
            Some(key) => self.for_key(key),
            None => self.for_job(id),
        }
    }

    /// Shard `first`, then every other one: the order a lookup by id
    /// tries them in.
    pub(crate) fn probe_order(&self, first: usize) -> impl Iterator<Item = usize> {
        let n = self.shards.len();
        std::iter::once(first).chain((0..n).filter(move |&i| i != first))
    }

    /// The shard a claim round starts with (each round starts one further).
    pub(crate) fn next_start(&self) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed) % self.shards.len()
    }

    /// Remembers the shard of claimed jobs whose root hashes elsewhere, so
    /// their heartbeats, finishes and children go straight there.
    pub(crate) fn note_claimed(&self, shard: usize, claimed: &[Claimed]) {
        let n = self.shards.len();
        if n == 1 {
            return;
        }
        let away: Vec<&str> = claimed
            .iter()
            .map(|c| root_of(c.record.id.as_str()))
            .filter(|root| shard_of(root, n) != shard)
            .collect();
        if away.is_empty() {
            return;
        }
        let mut moved = self.lock();
        for root in away {
            if moved.at.insert(root.to_owned(), shard).is_none() {
                moved.order.push_back(root.to_owned());
            }
        }
        if moved.order.len() > MOVED_CAP {
            for _ in 0..MOVED_CAP / 2 {
                if let Some(old) = moved.order.pop_front() {
                    moved.at.remove(&old);
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Moved> {
        self.moved.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The root of a job id: the part before the first `.` (a child's id is
/// `<parent>.<n>`, a workflow node's `<workflow>.<n>`).
pub(crate) fn root_of(id: &str) -> &str {
    id.split_once('.').map_or(id, |(root, _)| root)
}

/// The shard of `text` among `shards`: 64-bit FNV-1a of its UTF-8 bytes,
/// modulo the shard count. Stored data depends on it: it never changes.
pub(crate) fn shard_of(text: &str, shards: usize) -> usize {
    if shards <= 1 {
        return 0;
    }
    (fnv1a(text.as_bytes()) % shards as u64) as usize
}

/// 64-bit FNV-1a.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// The Redis Cluster slot of a key: CRC16 (XMODEM) of its hash tag, modulo
/// 16384, as the cluster computes it.
pub(crate) fn slot_of(key: &str) -> u16 {
    let bytes = key.as_bytes();
    let tagged = bytes.iter().position(|&b| b == b'{').and_then(|open| {
        let close = bytes[open + 1..].iter().position(|&b| b == b'}')?;
        (close > 0).then(|| &bytes[open + 1..open + 1 + close])
    });
    crc16(tagged.unwrap_or(bytes)) % 16384
}

fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in bytes {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The shard count a backend is built with: at least the one asked for
/// and at least the namespace's recorded count (so no shard holding work
/// is left out); without one asked for, the recorded count, else
/// `default`. A count above the recorded one (and above 1) is recorded.
pub(crate) async fn settle_count(
    home: &Inner,
    asked: Option<usize>,
    default: impl Future<Output = ork_core::Result<usize>>,
) -> ork_core::Result<usize> {
    let key = home.keys.shard_count();
    let mut conn = home.pool.get();
    let recorded: Option<usize> = match redis::cmd("ZSCORE")
        .arg(&key)
        .arg("count")
        .query_async::<Option<f64>>(&mut conn)
        .await
    {
        Ok(score) => score.map(|s| s.max(1.0) as usize),
        Err(e) => {
            tracing::debug!(error = %e, "could not read the namespace's shard count");
            None
        }
    };
    let count = match (asked, recorded) {
        (Some(n), Some(r)) => n.max(r),
        (Some(n), None) => n,
        (None, Some(r)) => r,
        (None, None) => default.await?,
    };
    if count > recorded.unwrap_or(1) {
        // `GT`: concurrent builders leave the highest count.
        let stored: redis::RedisResult<i64> = redis::cmd("ZADD")
            .arg(&key)
            .arg("GT")
            .arg(count)
            .arg("count")
            .query_async(&mut conn)
            .await;
        if let Err(e) = stored {
            tracing::warn!(error = %e, shards = count, "could not record the namespace's shard count: clients built without .shards(n) may not see every shard");
        }
    }
    Ok(count)
}

/// The default shard count on a Redis Cluster: twice the primaries, raised
/// one by one (up to eight times the primaries) until every primary holds
/// a shard.
pub(crate) async fn cluster_default(inner: &Inner, ns: &str) -> ork_core::Result<usize> {
    let mut conn = inner.pool.get();
    let slots: redis::Value = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query_async(&mut conn)
        .await
        .map_err(crate::backend::backend_error)?;
    let ranges = slot_ranges(&slots);
    Ok(default_count(&ranges, ns))
}

/// (first slot, last slot, primary) of each range of a `CLUSTER SLOTS`
/// reply; the primary is named by its address.
fn slot_ranges(reply: &redis::Value) -> Vec<(u16, u16, String)> {
    use crate::record::{array_of, bytes_of, int_of};
    array_of(reply.clone())
        .into_iter()
        .filter_map(|range| {
            let mut parts = array_of(range).into_iter();
            let first = int_of(&parts.next()?)?;
            let last = int_of(&parts.next()?)?;
            let node = array_of(parts.next()?);
            let host = String::from_utf8_lossy(&bytes_of(node.first()?)?).into_owned();
            let port = int_of(node.get(1)?)?;
            Some((first as u16, last as u16, format!("{host}:{port}")))
        })
        .collect()
}

/// The primary holding a slot, among `ranges`.
fn owner(ranges: &[(u16, u16, String)], slot: u16) -> Option<&str> {
    ranges
        .iter()
        .find(|(a, b, _)| (*a..=*b).contains(&slot))
        .map(|(_, _, node)| node.as_str())
}

/// The slot of shard `i` of namespace `ns`.
pub(crate) fn shard_slot(ns: &str, i: usize) -> u16 {
    slot_of(crate::keys::Keys::shard(ns, i).prefix())
}

fn default_count(ranges: &[(u16, u16, String)], ns: &str) -> usize {
    let primaries: std::collections::BTreeSet<&str> =
        ranges.iter().map(|(_, _, n)| n.as_str()).collect();
    let p = primaries.len().max(1);
    let mut count = 2 * p;
    while count < 8 * p {
        let held: std::collections::BTreeSet<&str> = (0..count)
            .filter_map(|i| owner(ranges, shard_slot(ns, i)))
            .collect();
        if held.len() >= primaries.len() {
            break;
        }
        count += 1;
    }
    count
}

/// A boxed future, for running one per shard.
pub(crate) type ShardFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Runs the futures concurrently; their outputs in the order given.
pub(crate) async fn join_all<T>(mut futures: Vec<ShardFuture<'_, T>>) -> Vec<T> {
    if futures.len() == 1 {
        let only = futures.pop().expect("one future");
        return vec![only.await];
    }
    let mut out: Vec<Option<T>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (slot, f) in out.iter_mut().zip(futures.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => *slot = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    out.into_iter()
        .map(|v| v.expect("every future ran"))
        .collect()
}

/// Runs the futures concurrently until the first one ends: its index and
/// output (the others are dropped).
pub(crate) async fn first_of<T>(mut futures: Vec<ShardFuture<'_, T>>) -> (usize, T) {
    std::future::poll_fn(|cx| {
        for (i, f) in futures.iter_mut().enumerate() {
            if let Poll::Ready(v) = f.as_mut().poll(cx) {
                return Poll::Ready((i, v));
            }
        }
        Poll::Pending
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots() {
        assert_eq!(root_of("abc"), "abc");
        assert_eq!(root_of("abc.1"), "abc");
        assert_eq!(root_of("abc.1.7"), "abc");
    }

    /// The hash is part of the stored format: these values never change.
    #[test]
    fn the_hash_is_fixed() {
        assert_eq!(shard_of("anything", 1), 0);
        let spread: Vec<usize> = ["a", "b", "c", "job-1", "job-2", "welcome:42"]
            .iter()
            .map(|t| shard_of(t, 6))
            .collect();
        assert_eq!(spread, FIXED);
    }
    const FIXED: [usize; 6] = [4, 1, 0, 0, 5, 1];

    /// FNV-1a's published test values.
    #[test]
    fn fnv_1a() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    /// The same slots as `CLUSTER KEYSLOT` (values from the Redis docs and
    /// the cluster spec).
    #[test]
    fn slots_match_redis() {
        assert_eq!(slot_of("123456789"), 0x31c3);
        assert_eq!(slot_of("{user1000}.following"), slot_of("user1000"));
        assert_eq!(slot_of("foo{}{bar}"), slot_of("foo{}{bar}"));
        assert_eq!(slot_of("{ns:3}:queues"), slot_of("ns:3"));
    }

    #[test]
    fn default_counts() {
        let three = vec![
            (0, 5460, "a".to_owned()),
            (5461, 10922, "b".to_owned()),
            (10923, 16383, "c".to_owned()),
        ];
        for ns in ["ork", "billing", "c0", "x"] {
            let n = default_count(&three, ns);
            assert!((6..24).contains(&n), "{ns}: {n}");
            let held: std::collections::BTreeSet<_> = (0..n)
                .filter_map(|i| owner(&three, shard_slot(ns, i)))
                .collect();
            assert_eq!(held.len(), 3, "{ns}");
        }
        assert_eq!(default_count(&[(0, 16383, "a".to_owned())], "ork"), 2);
    }
}
