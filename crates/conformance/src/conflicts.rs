//! Concurrent requests on one session: versioned records, compare-and-set, and what
//! [`Session::save`](sessionkit_core::Session::save) makes of a conflict under each
//! [`ConflictPolicy`]. Every server-side store must compare and set; a client-side store (the
//! cookie, where each response carries the whole session) cannot, and these behaviours are not
//! registered for it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::json;
use sessionkit_core::{
    ConflictPolicy, Expected, SessionConfig, SessionKey, Sessions, UnixTime, Version,
};

use crate::{Harness, Recording};

/// Concurrent tasks of the load-change-save behaviours.
const TASKS: usize = 8;
/// Load-change-save cycles per task.
const CYCLES: u64 = 1_000;

/// Every server-side store must compare and set: one that does not declare
/// [`compare_and_set`](sessionkit_core::Capabilities::compare_and_set) fails here.
fn assert_compare_and_set(h: &Harness) {
    assert!(
        h.compare_and_set(),
        "a server-side store must compare and set (declare Capabilities::compare_and_set)"
    );
}

fn sessions_with(h: &Harness, policy: ConflictPolicy) -> Sessions {
    h.sessions_with(SessionConfig::default().with_conflict_policy(policy))
}

/// A stored session holding `base`, for the tasks to share.
async fn shared_session(sessions: &Sessions) -> SessionKey {
    let mut s = sessions.create();
    s.insert("base", "kept").unwrap();
    s.save().await.unwrap();
    s.key().cloned().expect("saved")
}

/// No lost updates: [`TASKS`] tasks × [`CYCLES`] load-increment-save cycles on one session,
/// each task its own counter, under the default policy (merge): every counter ends exactly at
/// `CYCLES`, and the value no task touched is still there.
pub async fn concurrent_saves_of_different_keys_lose_nothing(h: Harness) {
    assert_compare_and_set(&h);
    let sessions = h.sessions();
    let key = shared_session(&sessions).await;
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let (sessions, key) = (sessions.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            let name = format!("counter-{task}");
            for _ in 0..CYCLES {
                let mut s = sessions.load(Some(key.as_str())).await.unwrap();
                assert_eq!(s.key(), Some(&key), "the session was lost");
                let n: u64 = s.get(&name).unwrap().unwrap_or(0);
                s.insert(&name, n + 1).unwrap();
                s.save().await.expect("a merged save succeeds");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let s = sessions.load(Some(key.as_str())).await.unwrap();
    for task in 0..TASKS {
        assert_eq!(
            s.get::<u64>(&format!("counter-{task}")).unwrap(),
            Some(CYCLES),
            "task {task} lost increments"
        );
    }
    assert_eq!(s.get::<String>("base").unwrap().as_deref(), Some("kept"));
    h.store.delete(&key).await.unwrap();
}

/// No starving within a process: one slow request (it pauses between loading the session and
/// saving it) saves the session [`SLOW_SAVES`] times while the other tasks save it as fast as
/// they can. The saves of one session take turns within a process, so each slow save loses at
/// most one round (to the saves that landed during its pause) and takes at most two updates.
pub async fn a_slow_request_is_not_starved_by_fast_ones(h: Harness) {
    const SLOW_SAVES: usize = 20;
    assert_compare_and_set(&h);
    let recording = Arc::new(Recording::new(h.store.clone()));
    let sessions = Sessions::from_arc(recording.clone(), SessionConfig::default());
    let key = shared_session(&sessions).await;
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut fast = Vec::new();
    for task in 1..TASKS {
        let (sessions, key, done) = (sessions.clone(), key.clone(), done.clone());
        fast.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !done.load(Ordering::SeqCst) {
                let mut s = sessions.load(Some(key.as_str())).await.unwrap();
                n += 1;
                s.insert(&format!("fast-{task}"), n).unwrap();
                s.save().await.expect("a merged save succeeds");
                tokio::task::yield_now().await;
            }
        }));
    }
    Recording::marked(async {
        for n in 0..SLOW_SAVES {
            let mut s = sessions.load(Some(key.as_str())).await.unwrap();
            s.insert("slow", n).unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            s.save().await.expect("the slow save succeeds");
        }
    })
    .await;
    done.store(true, Ordering::SeqCst);
    for t in fast {
        t.await.unwrap();
    }
    let updates = recording.marked_updates();
    assert!(
        updates <= 2 * SLOW_SAVES,
        "{updates} updates for {SLOW_SAVES} slow saves: the slow request lost more than one \
         round per save"
    );
    h.store.delete(&key).await.unwrap();
}

/// One shared counter under [`ConflictPolicy::Fail`]: every save either succeeds or reports
/// a conflict (nothing else), and the final value is exactly the number of successes — a
/// conflict never wrote anything.
pub async fn concurrent_saves_of_one_key_with_fail_policy_count_exactly(h: Harness) {
    assert_compare_and_set(&h);
    let sessions = sessions_with(&h, ConflictPolicy::Fail);
    let key = shared_session(&sessions).await;
    let (succeeded, conflicted) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let (sessions, key) = (sessions.clone(), key.clone());
        let (succeeded, conflicted) = (succeeded.clone(), conflicted.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..CYCLES / 4 {
                let mut s = sessions.load(Some(key.as_str())).await.unwrap();
                let n: u64 = s.get("n").unwrap().unwrap_or(0);
                s.insert("n", n + 1).unwrap();
                match s.save().await {
                    Ok(()) => succeeded.fetch_add(1, Ordering::Relaxed),
                    Err(e) if e.is_conflict() => conflicted.fetch_add(1, Ordering::Relaxed),
                    Err(e) => panic!("a save failed otherwise than by a conflict: {e:?}"),
                };
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let s = sessions.load(Some(key.as_str())).await.unwrap();
    let total = TASKS as u64 * (CYCLES / 4);
    let ok = succeeded.load(Ordering::Relaxed);
    assert_eq!(ok + conflicted.load(Ordering::Relaxed), total);
    assert_eq!(
        s.get::<u64>("n").unwrap(),
        Some(ok),
        "a conflicting save wrote"
    );
    h.store.delete(&key).await.unwrap();
}

/// [`ConflictPolicy::Merge`], exactly: of two requests that loaded one version, the second to
/// save keeps the first's changes to other keys, applies its own sets and removals on top, and
/// keeps everything neither touched; a whole-session change (`clear`) replaces it all.
pub async fn merge_keeps_other_keys_and_applies_own_changes(h: Harness) {
    assert_compare_and_set(&h);
    let sessions = h.sessions();
    let mut s = sessions.create();
    for (k, v) in [("kept", 0), ("a", 1), ("b", 2), ("c", 3)] {
        s.insert(k, v).unwrap();
    }
    s.save().await.unwrap();
    let key = s.key().cloned().unwrap();
    let mut first = sessions.load(Some(key.as_str())).await.unwrap();
    let mut second = sessions.load(Some(key.as_str())).await.unwrap();
    first.insert("a", 10).unwrap();
    first.remove("b");
    first.save().await.unwrap();
    second.insert("c", 30).unwrap();
    second.remove("kept");
    second.insert("new", 40).unwrap();
    second.save().await.unwrap();
    let got = sessions.load(Some(key.as_str())).await.unwrap();
    let pairs: Vec<(String, serde_json::Value)> =
        got.iter().map(|(k, v)| (k.to_owned(), v.clone())).collect();
    assert_eq!(
        pairs,
        vec![
            ("a".to_owned(), json!(10)),
            ("c".to_owned(), json!(30)),
            ("new".to_owned(), json!(40)),
        ],
        "merged: the first request's a and b, the second's c, kept and new"
    );
    // Whole-session: a clear replaces what the other request stored.
    let mut third = sessions.load(Some(key.as_str())).await.unwrap();
    let mut fourth = sessions.load(Some(key.as_str())).await.unwrap();
    third.insert("a", 11).unwrap();
    third.save().await.unwrap();
    fourth.clear();
    fourth.insert("only", 1).unwrap();
    fourth.save().await.unwrap();
    let got = sessions.load(Some(key.as_str())).await.unwrap();
    assert_eq!(got.keys().collect::<Vec<_>>(), ["only"]);
    h.store.delete(&key).await.unwrap();
}

/// [`ConflictPolicy::Overwrite`] is the last write wins, as Django: the second save replaces
/// the first's changes.
pub async fn overwrite_policy_is_last_write_wins(h: Harness) {
    assert_compare_and_set(&h);
    let sessions = sessions_with(&h, ConflictPolicy::Overwrite);
    let key = shared_session(&sessions).await;
    let mut first = sessions.load(Some(key.as_str())).await.unwrap();
    let mut second = sessions.load(Some(key.as_str())).await.unwrap();
    first.insert("a", 1).unwrap();
    first.save().await.unwrap();
    second.insert("b", 2).unwrap();
    second.save().await.unwrap();
    let got = sessions.load(Some(key.as_str())).await.unwrap();
    assert_eq!(got.get::<u64>("a").unwrap(), None, "overwritten");
    assert_eq!(got.get::<u64>("b").unwrap(), Some(2));
    h.store.delete(&key).await.unwrap();
}

/// The store's compare-and-set itself: an update at the loaded version succeeds and returns a
/// new version; an update at an older one is a conflict and writes nothing; the same bytes
/// saved again at the current version are neither a conflict nor vanished; a missing record is
/// vanished whatever the version.
pub async fn update_at_a_stale_version_is_a_conflict_and_writes_nothing(h: Harness) {
    assert_compare_and_set(&h);
    let exp = UnixTime::now().add_secs(600);
    let key = SessionKey::generate();
    let created = h.store.create(&key, b"\x01one", exp).await.unwrap();
    let loaded = h.store.load(&key).await.unwrap().expect("stored");
    assert_eq!(
        loaded.version, created.version,
        "load returns the created version"
    );
    let second = h
        .store
        .update(&key, b"\x01two", exp, Expected::Version(loaded.version))
        .await
        .unwrap();
    assert_ne!(
        second.version, created.version,
        "a write changes the version"
    );
    let err = h
        .store
        .update(&key, b"\x01three", exp, Expected::Version(created.version))
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "stale version: {err:?}");
    let now = h.store.load(&key).await.unwrap().expect("still stored");
    assert_eq!(now.record, b"\x01two", "a conflict wrote");
    assert_eq!(now.version, second.version);
    // Identical bytes at the current version: a plain success, twice.
    let third = h
        .store
        .update(&key, b"\x01two", exp, Expected::Version(second.version))
        .await
        .expect("an identical update is no conflict");
    h.store
        .update(&key, b"\x01two", exp, Expected::Version(third.version))
        .await
        .expect("and again");
    h.store.delete(&key).await.unwrap();
    let err = h
        .store
        .update(&key, b"\x01four", exp, Expected::Version(third.version))
        .await
        .unwrap_err();
    assert!(err.is_vanished(), "missing record: {err:?}");
    let err = h
        .store
        .update(
            &key,
            b"\x01four",
            exp,
            Expected::Version(Version::UNTRACKED),
        )
        .await
        .unwrap_err();
    assert!(
        err.is_vanished(),
        "missing record, untracked version: {err:?}"
    );
    assert!(h.store.load(&key).await.unwrap().is_none(), "resurrected");
}

/// A logout racing saves of the same session: once the flush has returned, the session never
/// loads again — no merging save brings it back.
pub async fn saves_racing_a_flush_never_resurrect(h: Harness) {
    assert_compare_and_set(&h);
    let sessions = h.sessions();
    let key = shared_session(&sessions).await;
    let mut savers = Vec::new();
    for task in 0..TASKS {
        let (sessions, key) = (sessions.clone(), key.clone());
        savers.push(tokio::spawn(async move {
            for i in 0..50u64 {
                let mut s = sessions.load(Some(key.as_str())).await.unwrap();
                if s.key().is_none() {
                    return; // logged out: a new, empty session
                }
                s.insert(&format!("t{task}"), i).unwrap();
                match s.save().await {
                    Ok(()) => {}
                    Err(e) if e.is_vanished() => return,
                    Err(e) => panic!("{e:?}"),
                }
            }
        }));
    }
    tokio::task::yield_now().await;
    let mut logout = sessions.load(Some(key.as_str())).await.unwrap();
    logout.flush().await.unwrap();
    for t in savers {
        t.await.unwrap();
    }
    assert!(
        h.store.load(&key).await.unwrap().is_none(),
        "a save resurrected a logged-out session"
    );
}

/// Creates racing for one key: exactly one succeeds, every other is a collision, and the
/// winner's record is the one stored.
pub async fn racing_creates_admit_exactly_one(h: Harness) {
    assert_compare_and_set(&h);
    let exp = UnixTime::now().add_secs(600);
    let key = SessionKey::generate();
    let mut tasks = Vec::new();
    for task in 0..TASKS as u8 {
        let (store, key) = (h.store.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            (task, store.create(&key, &[0x01, task], exp).await)
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            (task, Ok(_)) => winners.push(task),
            (_, Err(e)) => assert!(e.is_collision(), "{e:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    let stored = h.store.load(&key).await.unwrap().expect("stored");
    assert_eq!(stored.record, [0x01, winners[0]]);
    h.store.delete(&key).await.unwrap();
}
