//! One shard: a hash table of entries and an index of them by expiry.
//!
//! Everything here is synchronous and takes the current time as an argument, so the store calls
//! it under the shard's lock and the unit tests below can move time at will.

use std::collections::BTreeSet;
use std::hash::BuildHasher;
use std::hash::RandomState;

use hashbrown::HashTable;
use sessionkit_core::{Expected, Loaded, UnixTime, Version};

use crate::config::ENTRY_OVERHEAD;

/// A session key of the `Random` format: exactly 32 ASCII bytes.
pub(crate) type Key = [u8; 32];

/// How many expired entries each write removes from the front of its shard's expiry index
/// before doing its own work. More than one, so expired entries cannot pile up faster than
/// writes remove them.
pub(crate) const PURGE_PER_WRITE: usize = 8;

/// The per-shard bounds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_entries: usize,
    pub(crate) max_bytes: usize,
}

/// What a record of `len` bytes is charged against the byte budget.
pub(crate) fn cost(len: usize) -> usize {
    len.saturating_add(ENTRY_OVERHEAD)
}

/// Whether a buffer of `capacity` bytes should be reused for a record of `len` bytes: it is
/// large enough and would waste at most half the record plus 64 bytes.
fn reusable(capacity: usize, len: usize) -> bool {
    len <= capacity && capacity - len <= len / 2 + 64
}

/// Whether a record expiring at `expires_at` may be served at `now`: the same rule as
/// [`UnixTime::ttl_at`] (`expires_at` strictly in the future).
fn is_live(expires_at: UnixTime, now: UnixTime) -> bool {
    expires_at.ttl_at(now).is_some()
}

#[derive(Debug)]
struct Entry {
    key: Key,
    expires_at: UnixTime,
    /// Where the entry's node in the expiry index is: never later than `expires_at`. A write
    /// that moves the expiry later leaves the node where it is (no index work on the common
    /// path); the node is moved when it reaches the front of the index.
    indexed_at: UnixTime,
    /// Drawn from the shard's counter on every write: never reused, even after a delete.
    version: Version,
    /// The record; its capacity (not its length) is what is charged.
    data: Vec<u8>,
}

/// Why a write did not happen.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// `create` found a live record under the key.
    Collision,
    /// `update`/`touch` found no live record under the key.
    Vanished,
    /// `update` found a live record of another version than expected.
    Conflict,
}

/// What `update` writes, and the version it requires of the record it replaces.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Replacement<'a> {
    pub(crate) record: &'a [u8],
    pub(crate) expires_at: UnixTime,
    pub(crate) expected: Expected,
}

impl<'a> Replacement<'a> {
    /// `record` until `expires_at`, over whatever version is stored.
    #[cfg(test)]
    pub(crate) fn any(record: &'a [u8], expires_at: UnixTime) -> Self {
        Self {
            record,
            expires_at,
            expected: Expected::Any,
        }
    }
}

/// What a successful write did besides its own work, for the caller to act on after it has
/// released the lock.
#[derive(Debug, Default)]
pub(crate) struct Written {
    /// The record replaced or removed, dropped by the caller outside the lock.
    pub(crate) old: Option<Vec<u8>>,
    /// How many live entries were evicted to make room.
    pub(crate) evicted: u64,
    /// The version written (create, update).
    pub(crate) version: Version,
}

/// One shard of the store.
#[derive(Debug)]
pub(crate) struct Shard {
    table: HashTable<Entry>,
    /// Every entry of `table` once, as `(indexed_at, key)`: a lower bound of its expiry, so the
    /// front of the index, once [`soonest`](Self::soonest) has made it exact, is the entry
    /// expiring first.
    index: BTreeSet<(UnixTime, Key)>,
    /// Sum of `cost(capacity)` over the entries.
    bytes: usize,
    hasher: RandomState,
    /// The last version handed out.
    versions: Version,
}

impl Shard {
    /// An empty shard hashing with `hasher` (the store's, so a key hashes alike everywhere).
    pub(crate) fn new(hasher: RandomState) -> Self {
        Self {
            table: HashTable::new(),
            index: BTreeSet::new(),
            bytes: 0,
            hasher,
            versions: Version::UNTRACKED,
        }
    }

    fn next_version(&mut self) -> Version {
        self.versions = self.versions.next();
        self.versions
    }

    /// Number of entries, expired ones not yet removed included.
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// Bytes charged for the entries.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    fn hash(&self, key: &Key) -> u64 {
        self.hasher.hash_one(key)
    }

    /// Removes `key`'s entry, if any, and its index node.
    fn remove(&mut self, hash: u64, key: &Key) -> Option<Vec<u8>> {
        let entry = self.table.find_entry(hash, |e| e.key == *key).ok()?;
        let (entry, _) = entry.remove();
        self.index.remove(&(entry.indexed_at, entry.key));
        self.bytes -= cost(entry.data.capacity());
        Some(entry.data)
    }

    /// The expiry of the entry expiring soonest, if it is at or before `horizon`: `None` if
    /// the shard is empty, nothing expires by `horizon`, or `budget` index nodes had to be
    /// moved first. Nodes at or before `horizon` whose entry's expiry went later are moved to
    /// that expiry on the way (each move spends one of `budget`, which bounds the work under
    /// one lock); on `Some`, the front node is exact.
    fn soonest(&mut self, horizon: UnixTime, budget: &mut usize) -> Option<UnixTime> {
        loop {
            let &(indexed_at, key) = self.index.first()?;
            if indexed_at > horizon {
                return None;
            }
            let hash = self.hash(&key);
            let Some(entry) = self.table.find_mut(hash, |e| e.key == key) else {
                // Cannot happen (every node has its entry); dropping the node keeps it so.
                self.index.pop_first();
                continue;
            };
            if entry.expires_at == indexed_at {
                return Some(indexed_at);
            }
            if *budget == 0 {
                return None;
            }
            *budget -= 1;
            self.index.pop_first();
            entry.indexed_at = entry.expires_at;
            self.index.insert((entry.expires_at, key));
        }
    }

    /// Removes the entry of the front node (exact after [`soonest`](Self::soonest)).
    fn pop_front(&mut self) {
        let Some((_, key)) = self.index.pop_first() else {
            return;
        };
        let hash = self.hash(&key);
        if let Ok(entry) = self.table.find_entry(hash, |e| e.key == key) {
            let (entry, _) = entry.remove();
            self.bytes -= cost(entry.data.capacity());
        }
    }

    /// Removes up to `limit` expired entries, soonest-expired first; returns how many. Moves at
    /// most `limit` index nodes on the way.
    pub(crate) fn purge_expired(&mut self, now: UnixTime, limit: usize) -> usize {
        let mut purged = 0;
        let mut moves = limit;
        // Expired means expiring at or before `now` (see `is_live`).
        while purged < limit && self.soonest(now, &mut moves).is_some() {
            self.pop_front();
            purged += 1;
        }
        purged
    }

    /// Records that `entry`'s expiry is now `expires_at`: its index node moves only if the
    /// new expiry is earlier than where the node is.
    fn reindex(index: &mut BTreeSet<(UnixTime, Key)>, entry: &mut Entry, expires_at: UnixTime) {
        entry.expires_at = expires_at;
        if expires_at < entry.indexed_at {
            index.remove(&(entry.indexed_at, entry.key));
            index.insert((expires_at, entry.key));
            entry.indexed_at = expires_at;
        }
    }

    /// Gives memory back after the table has shrunk to a quarter of its capacity.
    pub(crate) fn shrink_if_sparse(&mut self) {
        let len = self.table.len();
        if self.table.capacity() > 64 && len < self.table.capacity() / 4 {
            let hasher = &self.hasher;
            self.table
                .shrink_to(len * 2, |e: &Entry| hasher.hash_one(e.key));
        }
    }

    /// Removes entries in expiry order (expired first, then those expiring soonest) until one
    /// more entry of `needed` bytes fits. Returns how many live entries went.
    fn make_room(&mut self, needed: usize, now: UnixTime, limits: Limits) -> u64 {
        let mut evicted = 0;
        while self.table.len() >= limits.max_entries
            || self.bytes.saturating_add(needed) > limits.max_bytes
        {
            let mut unbounded = usize::MAX;
            let Some(expires_at) = self.soonest(UnixTime::from_secs(i64::MAX), &mut unbounded)
            else {
                break;
            };
            self.pop_front();
            if is_live(expires_at, now) {
                evicted += 1;
            }
        }
        evicted
    }

    /// A copy of the live record under `key`; an expired one is removed on the way.
    ///
    /// The copy is made under the lock: for session-sized records (a few KB) it is a short
    /// `memcpy`, and it spares every read a shared reference count.
    pub(crate) fn get(&mut self, hash: u64, key: &Key, now: UnixTime) -> Option<Loaded> {
        let entry = self.table.find(hash, |e| e.key == *key)?;
        if is_live(entry.expires_at, now) {
            return Some(Loaded::new(
                entry.data.as_slice().to_vec(),
                entry.version,
                entry.expires_at,
            ));
        }
        self.remove(hash, key);
        None
    }

    /// Whether a live record is under `key`; an expired one is removed on the way.
    pub(crate) fn contains(&mut self, hash: u64, key: &Key, now: UnixTime) -> bool {
        match self.table.find(hash, |e| e.key == *key) {
            Some(entry) if is_live(entry.expires_at, now) => true,
            Some(_) => {
                self.remove(hash, key);
                false
            }
            None => false,
        }
    }

    /// Removes the record under `key`, live or not.
    pub(crate) fn delete(&mut self, hash: u64, key: &Key) -> Option<Vec<u8>> {
        self.remove(hash, key)
    }

    /// Stores `data` under `key` unless a live record is there. An already expired `expires_at`
    /// stores nothing (an expired record under the key is still removed).
    pub(crate) fn create(
        &mut self,
        hash: u64,
        key: &Key,
        data: Vec<u8>,
        expires_at: UnixTime,
        now: UnixTime,
        limits: Limits,
    ) -> Result<Written, Refused> {
        self.purge_expired(now, PURGE_PER_WRITE);
        let mut written = Written::default();
        if let Some(existing) = self.table.find(hash, |e| e.key == *key) {
            if is_live(existing.expires_at, now) {
                return Err(Refused::Collision);
            }
            written.old = self.remove(hash, key);
        }
        if !is_live(expires_at, now) {
            return Ok(written);
        }
        written.evicted = self.make_room(cost(data.capacity()), now, limits);
        written.version = self.insert_new(hash, *key, data, expires_at);
        Ok(written)
    }

    /// Adds an entry known to be absent; returns its version.
    fn insert_new(&mut self, hash: u64, key: Key, data: Vec<u8>, expires_at: UnixTime) -> Version {
        self.bytes += cost(data.capacity());
        self.index.insert((expires_at, key));
        let version = self.next_version();
        let hasher = &self.hasher;
        self.table.insert_unique(
            hash,
            Entry {
                key,
                expires_at,
                indexed_at: expires_at,
                version,
                data,
            },
            |e| hasher.hash_one(e.key),
        );
        version
    }

    /// Replaces the live record under `key` with a copy of `record`, in the record's own
    /// buffer when it fits there without much waste. An already expired `expires_at` removes
    /// the record instead.
    pub(crate) fn update(
        &mut self,
        hash: u64,
        key: &Key,
        new: Replacement<'_>,
        now: UnixTime,
        limits: Limits,
    ) -> Result<Written, Refused> {
        let Replacement {
            record,
            expires_at,
            expected,
        } = new;
        self.purge_expired(now, PURGE_PER_WRITE);
        let version = self.versions.next();
        let Ok(mut entry) = self.table.find_entry(hash, |e| e.key == *key) else {
            return Err(Refused::Vanished);
        };
        let old_expiry = entry.get().expires_at;
        if !is_live(old_expiry, now) {
            let (gone, _) = entry.remove();
            self.index.remove(&(gone.indexed_at, gone.key));
            self.bytes -= cost(gone.data.capacity());
            return Err(Refused::Vanished);
        }
        if matches!(expected, Expected::Version(v) if v != entry.get().version) {
            return Err(Refused::Conflict);
        }
        let capacity = entry.get().data.capacity();
        let old_cost = cost(capacity);
        let reuse = reusable(capacity, record.len());
        let new_cost = cost(if reuse { capacity } else { record.len() });
        let fits = self.bytes - old_cost + new_cost <= limits.max_bytes;
        if is_live(expires_at, now) && fits {
            // The common case: rewrite in place.
            let slot = entry.get_mut();
            Self::reindex(&mut self.index, slot, expires_at);
            slot.version = version;
            let old = if reuse {
                slot.data.clear();
                slot.data.extend_from_slice(record);
                None
            } else {
                Some(std::mem::replace(&mut slot.data, record.to_vec()))
            };
            self.bytes = self.bytes - old_cost + new_cost;
            self.versions = version;
            return Ok(Written {
                old,
                evicted: 0,
                version,
            });
        }
        // Expired on arrival, or growing past the budget: take the entry out (so it cannot
        // be evicted for its own sake), make room, put the new record in.
        let (gone, _) = entry.remove();
        self.index.remove(&(gone.indexed_at, gone.key));
        self.bytes -= old_cost;
        let mut written = Written {
            old: Some(gone.data),
            ..Written::default()
        };
        if is_live(expires_at, now) {
            written.evicted = self.make_room(cost(record.len()), now, limits);
            written.version = self.insert_new(hash, *key, record.to_vec(), expires_at);
        }
        Ok(written)
    }

    /// Moves the expiry of the live record under `key`. An already expired `expires_at`
    /// removes the record instead.
    pub(crate) fn touch(
        &mut self,
        hash: u64,
        key: &Key,
        expires_at: UnixTime,
        now: UnixTime,
    ) -> Result<Written, Refused> {
        self.purge_expired(now, PURGE_PER_WRITE);
        let Some(entry) = self.table.find_mut(hash, |e| e.key == *key) else {
            return Err(Refused::Vanished);
        };
        let old_expiry = entry.expires_at;
        if is_live(old_expiry, now) && is_live(expires_at, now) {
            Self::reindex(&mut self.index, entry, expires_at);
            return Ok(Written::default());
        }
        let old = self.remove(hash, key);
        if !is_live(old_expiry, now) {
            return Err(Refused::Vanished);
        }
        // Moved into the past: nothing may be served any more.
        Ok(Written {
            old,
            ..Written::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: UnixTime = UnixTime::from_secs(1_000_000);

    fn key(i: usize) -> Key {
        let mut k = [b'a'; 32];
        k[..8].copy_from_slice(format!("{i:08}").as_bytes());
        k
    }

    fn data(len: usize) -> Vec<u8> {
        vec![7u8; len]
    }

    struct Fixture {
        shard: Shard,
        limits: Limits,
    }

    impl Fixture {
        fn new(max_entries: usize, max_bytes: usize) -> Self {
            Self {
                shard: Shard::new(RandomState::new()),
                limits: Limits {
                    max_entries,
                    max_bytes,
                },
            }
        }
        fn h(&self, i: usize) -> u64 {
            self.shard.hash(&key(i))
        }
        fn create(&mut self, i: usize, len: usize, exp: UnixTime, now: UnixTime) -> Written {
            let h = self.h(i);
            self.shard
                .create(h, &key(i), data(len), exp, now, self.limits)
                .unwrap()
        }
        fn has(&mut self, i: usize, now: UnixTime) -> bool {
            let h = self.h(i);
            self.shard.contains(h, &key(i), now)
        }
        fn check(&self) {
            let s = &self.shard;
            assert_eq!(s.table.len(), s.index.len());
            let bytes: usize = s.table.iter().map(|e| cost(e.data.capacity())).sum();
            assert_eq!(s.bytes, bytes);
            for e in s.table.iter() {
                assert!(e.indexed_at <= e.expires_at);
                assert!(s.index.contains(&(e.indexed_at, e.key)));
            }
        }
    }

    #[test]
    fn expiry_is_enforced_on_read() {
        let mut f = Fixture::new(100, 1 << 20);
        f.create(1, 10, T0.add_secs(10), T0);
        let h = f.h(1);
        assert!(f.shard.get(h, &key(1), T0.add_secs(9)).is_some());
        assert!(f.shard.get(h, &key(1), T0.add_secs(10)).is_none());
        assert_eq!(f.shard.len(), 0, "the expired entry is removed by the read");
        f.check();
    }

    #[test]
    fn writes_purge_a_bounded_number_of_expired_entries() {
        let mut f = Fixture::new(1000, 1 << 20);
        for i in 0..20 {
            f.create(i, 10, T0.add_secs(5), T0);
        }
        let later = T0.add_secs(6);
        f.create(100, 10, later.add_secs(60), later);
        assert_eq!(f.shard.len(), 21 - PURGE_PER_WRITE);
        f.create(101, 10, later.add_secs(60), later);
        assert_eq!(f.shard.len(), 22 - 2 * PURGE_PER_WRITE);
        f.create(102, 10, later.add_secs(60), later);
        assert_eq!(f.shard.len(), 3, "only the live entries are left");
        f.check();
    }

    #[test]
    fn eviction_takes_expired_then_soonest_expiring() {
        let mut f = Fixture::new(5, 1 << 20);
        f.create(0, 10, T0.add_secs(50), T0);
        f.create(1, 10, T0.add_secs(1), T0);
        f.create(2, 10, T0.add_secs(40), T0);
        f.create(3, 10, T0.add_secs(2), T0);
        f.create(4, 10, T0.add_secs(30), T0);
        // At T0+1 entry 1 has expired: it goes first, no live entry is evicted, even though the
        // per-write purge is what removes it here.
        let now = T0.add_secs(1);
        let w = f.create(5, 10, now.add_secs(100), now);
        assert_eq!(w.evicted, 0);
        assert!(!f.has(1, now));
        // Full again: the live entry expiring soonest (3, at T0+2) is evicted next, then 4.
        let w = f.create(6, 10, now.add_secs(100), now);
        assert_eq!(w.evicted, 1);
        assert!(!f.has(3, now));
        let w = f.create(7, 10, now.add_secs(100), now);
        assert_eq!(w.evicted, 1);
        assert!(!f.has(4, now));
        for i in [0, 2, 5, 6, 7] {
            assert!(f.has(i, now), "{i}");
        }
        assert_eq!(f.shard.len(), 5);
        f.check();
    }

    #[test]
    fn expired_entries_go_before_any_live_one_when_full() {
        let c = cost(10);
        let mut f = Fixture::new(100, 20 * c);
        for i in 0..20 {
            // Entries 0..12 expire at T0+1, the others later.
            let exp = if i < 12 {
                T0.add_secs(1)
            } else {
                T0.add_secs(1000 + i as i64)
            };
            f.create(i, 10, exp, T0);
        }
        let now = T0.add_secs(2);
        // The write's own purge removes 8 expired entries; the record needs 11 slots' worth
        // of bytes, so 3 more must go: they are 3 of the 4 remaining expired ones.
        let w = f.create(100, 11 * c - ENTRY_OVERHEAD, now.add_secs(5000), now);
        assert_eq!(
            w.evicted, 0,
            "a live session was evicted while expired ones remained"
        );
        assert_eq!(f.shard.len(), 1 + 1 + 8);
        // The next write purges the last expired entry, then must evict live ones: the
        // soonest to expire (12, 13, ...), as many as needed and no more.
        let w = f.create(101, 6 * c - ENTRY_OVERHEAD, now.add_secs(5000), now);
        assert_eq!(w.evicted, 5);
        for i in 12..17 {
            assert!(!f.has(i, now), "{i}");
        }
        for i in [17, 18, 19, 100, 101] {
            assert!(f.has(i, now), "{i}");
        }
        assert_eq!(f.shard.bytes(), 20 * c);
        f.check();
    }

    #[test]
    fn byte_budget_evicts_enough_and_never_the_entry_written() {
        let per = cost(100);
        let mut f = Fixture::new(100, 4 * per);
        for i in 0..4 {
            f.create(i, 100, T0.add_secs(10 + i as i64), T0);
        }
        assert_eq!(f.shard.bytes(), 4 * per);
        // Entry 0 expires soonest; growing it to fill two slots must evict 1 (the soonest of
        // the others), not entry 0 itself.
        let h = f.h(0);
        let w = f
            .shard
            .update(
                h,
                &key(0),
                Replacement::any(&data(100 + per), T0.add_secs(10)),
                T0,
                f.limits,
            )
            .unwrap();
        assert_eq!(w.evicted, 1);
        assert!(f.has(0, T0));
        assert!(!f.has(1, T0));
        assert!(f.has(2, T0) && f.has(3, T0));
        assert_eq!(f.shard.bytes(), 4 * per);
        f.check();
    }

    #[test]
    fn create_update_touch_semantics() {
        let mut f = Fixture::new(100, 1 << 20);
        let h = f.h(1);
        let k = key(1);
        let lim = f.limits;
        let s = &mut f.shard;
        assert_eq!(
            s.update(h, &k, Replacement::any(&data(1), T0.add_secs(5)), T0, lim)
                .unwrap_err(),
            Refused::Vanished
        );
        assert_eq!(
            s.touch(h, &k, T0.add_secs(5), T0).unwrap_err(),
            Refused::Vanished
        );
        s.create(h, &k, data(1), T0.add_secs(5), T0, lim).unwrap();
        assert_eq!(
            s.create(h, &k, data(2), T0.add_secs(5), T0, lim)
                .unwrap_err(),
            Refused::Collision
        );
        s.touch(h, &k, T0.add_secs(20), T0).unwrap();
        // Past the original expiry, the touched record is still live.
        let now = T0.add_secs(10);
        assert_eq!(&*s.get(h, &k, now).unwrap().record, &[7u8][..]);
        s.update(h, &k, Replacement::any(&data(3), T0.add_secs(30)), now, lim)
            .unwrap();
        assert_eq!(s.get(h, &k, now).unwrap().record.len(), 3);
        // An expired key can be created again.
        let later = T0.add_secs(31);
        assert_eq!(
            s.update(
                h,
                &k,
                Replacement::any(&data(1), T0.add_secs(60)),
                later,
                lim
            )
            .unwrap_err(),
            Refused::Vanished
        );
        s.create(h, &k, data(4), T0.add_secs(60), later, lim)
            .unwrap();
        assert_eq!(s.get(h, &k, later).unwrap().record.len(), 4);
        f.check();
    }

    #[test]
    fn already_expired_writes_leave_nothing_servable() {
        let mut f = Fixture::new(100, 1 << 20);
        let h = f.h(1);
        let k = key(1);
        let lim = f.limits;
        let s = &mut f.shard;
        s.create(h, &k, data(1), T0, T0, lim).unwrap();
        assert_eq!(s.len(), 0);
        s.create(h, &k, data(1), T0.add_secs(5), T0, lim).unwrap();
        s.update(h, &k, Replacement::any(&data(1), T0.add_secs(-1)), T0, lim)
            .unwrap();
        assert!(s.get(h, &k, T0).is_none());
        assert_eq!(s.len(), 0);
        s.create(h, &k, data(1), T0.add_secs(5), T0, lim).unwrap();
        s.touch(h, &k, T0, T0).unwrap();
        assert!(!s.contains(h, &k, T0));
        assert_eq!(s.len(), 0);
        f.check();
    }

    #[test]
    fn updates_rewrite_in_place_and_charge_the_buffer() {
        let mut f = Fixture::new(100, 1 << 20);
        let h = f.h(1);
        let k = key(1);
        let lim = f.limits;
        let exp = T0.add_secs(60);
        f.shard.create(h, &k, data(1000), exp, T0, lim).unwrap();
        // Same size or a little smaller: the buffer is reused (nothing to free) and charged.
        let w = f
            .shard
            .update(h, &k, Replacement::any(&[1u8; 1000], exp), T0, lim)
            .unwrap();
        assert!(w.old.is_none());
        let w = f
            .shard
            .update(h, &k, Replacement::any(&[2u8; 900], exp), T0, lim)
            .unwrap();
        assert!(w.old.is_none());
        assert_eq!(f.shard.bytes(), cost(1000));
        assert_eq!(&*f.shard.get(h, &k, T0).unwrap().record, &[2u8; 900][..]);
        // Much smaller, or larger: a buffer of the record's size replaces it.
        let w = f
            .shard
            .update(h, &k, Replacement::any(&[3u8; 10], exp), T0, lim)
            .unwrap();
        assert_eq!(w.old.map(|v| v.capacity()), Some(1000));
        assert_eq!(f.shard.bytes(), cost(10));
        let w = f
            .shard
            .update(h, &k, Replacement::any(&[4u8; 2000], exp), T0, lim)
            .unwrap();
        assert!(w.old.is_some());
        assert_eq!(f.shard.bytes(), cost(2000));
        assert_eq!(&*f.shard.get(h, &k, T0).unwrap().record, &[4u8; 2000][..]);
        f.check();
    }

    #[test]
    fn delete_and_accounting() {
        let mut f = Fixture::new(100, 1 << 20);
        for i in 0..10 {
            f.create(i, i * 10, T0.add_secs(5), T0);
        }
        f.check();
        for i in 0..10 {
            let h = f.h(i);
            assert!(f.shard.delete(h, &key(i)).is_some());
            assert!(f.shard.delete(h, &key(i)).is_none());
        }
        assert_eq!((f.shard.len(), f.shard.bytes()), (0, 0));
        f.check();
    }

    #[test]
    fn expiry_moved_later_costs_no_index_work_and_order_holds() {
        let mut f = Fixture::new(2, 1 << 20);
        f.create(1, 10, T0.add_secs(10), T0);
        f.create(2, 10, T0.add_secs(20), T0);
        let h1 = f.h(1);
        let later = Replacement::any(b"again", T0.add_secs(30));
        f.shard.update(h1, &key(1), later, T0, f.limits).unwrap();
        f.shard.touch(h1, &key(1), T0.add_secs(40), T0).unwrap();
        // The node stays where it was: no index work on the common path.
        assert!(f.shard.index.contains(&(T0.add_secs(10), key(1))));
        f.check();
        // Past the node's time, 1 is still live and is not purged; its node moves.
        assert_eq!(f.shard.purge_expired(T0.add_secs(15), 8), 0);
        assert!(f.has(1, T0.add_secs(15)));
        assert!(f.shard.index.contains(&(T0.add_secs(40), key(1))));
        f.check();
        // Full: the soonest-expiring entry by its real expiry (2, at 20) goes, not 1.
        let w = f.create(3, 10, T0.add_secs(50), T0.add_secs(15));
        assert_eq!(w.evicted, 1);
        assert!(f.has(1, T0.add_secs(15)) && !f.has(2, T0.add_secs(15)));
        // Moving an expiry earlier moves the node at once.
        f.shard
            .touch(h1, &key(1), T0.add_secs(16), T0.add_secs(15))
            .unwrap();
        assert!(f.shard.index.contains(&(T0.add_secs(16), key(1))));
        assert_eq!(f.shard.purge_expired(T0.add_secs(16), 8), 1);
        f.check();
    }

    #[test]
    fn a_purge_moves_a_bounded_number_of_index_nodes() {
        let mut f = Fixture::new(1000, 1 << 20);
        for i in 0..100 {
            f.create(i, 10, T0.add_secs(10), T0);
            let h = f.h(i);
            f.shard.touch(h, &key(i), T0.add_secs(100), T0).unwrap();
        }
        f.create(100, 10, T0.add_secs(11), T0);
        // 100 stale nodes before the one expired entry: each purge moves at most 8.
        let mut rounds = 0;
        while f.shard.len() == 101 {
            assert!(f.shard.purge_expired(T0.add_secs(20), 8) <= 1);
            rounds += 1;
            assert!(rounds <= 13, "the purge is not bounded");
        }
        assert!(
            rounds >= 12,
            "the purge did more than its budget: {rounds} rounds"
        );
        assert!(!f.has(100, T0.add_secs(20)) && f.has(0, T0.add_secs(20)));
        f.check();
    }

    #[test]
    fn shrinks_after_mass_expiry() {
        let mut f = Fixture::new(100_000, usize::MAX);
        for i in 0..10_000 {
            f.create(i, 1, T0.add_secs(1), T0);
        }
        let cap = f.shard.table.capacity();
        assert_eq!(f.shard.purge_expired(T0.add_secs(1), usize::MAX), 10_000);
        f.shard.shrink_if_sparse();
        assert!(f.shard.table.capacity() < cap / 4);
        f.check();
    }
}
