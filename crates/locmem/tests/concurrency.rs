//! Many tasks and threads on one store: every task keeps its own sessions, atomic create and
//! update hold under races, and nothing deadlocks.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use sessionkit_core::{SessionKey, SessionStore, Sessions, UnixTime};
use sessionkit_locmem::{LocMemConfig, LocMemStore};

const TASKS: usize = 32;

fn record(task: usize, i: usize, version: usize) -> Vec<u8> {
    format!("task {task} session {i} version {version}").into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_tasks_keep_their_own_sessions() {
    let store = LocMemStore::default();
    let per_task = 200;
    let mut handles = Vec::new();
    for task in 0..TASKS {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            let exp = UnixTime::now().add_secs(600);
            let keys: Vec<SessionKey> = (0..per_task).map(|_| SessionKey::generate()).collect();
            for (i, k) in keys.iter().enumerate() {
                store.create(k, &record(task, i, 0), exp).await.unwrap();
            }
            for version in 1..3 {
                for (i, k) in keys.iter().enumerate() {
                    store
                        .update(
                            k,
                            &record(task, i, version),
                            exp,
                            sessionkit_core::Expected::Any,
                        )
                        .await
                        .unwrap();
                    tokio::task::yield_now().await;
                }
            }
            for (i, k) in keys.iter().enumerate() {
                let got = sessionkit_conformance::stored(&store, k).await;
                assert_eq!(got, Some(record(task, i, 2)), "task {task} session {i}");
                if i % 2 == 0 {
                    store.delete(k).await.unwrap();
                }
            }
            keys
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.push(h.await.unwrap());
    }
    assert_eq!(store.len(), TASKS * per_task / 2);
    for (task, keys) in all.iter().enumerate() {
        for (i, k) in keys.iter().enumerate() {
            let expected = (i % 2 == 1).then(|| record(task, i, 2));
            assert_eq!(sessionkit_conformance::stored(&store, k).await, expected);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_creates_admit_exactly_one() {
    let store = LocMemStore::default();
    let exp = UnixTime::now().add_secs(600);
    for round in 0..20 {
        let key = SessionKey::generate();
        let wins = Arc::new(AtomicUsize::new(0));
        let mut handles = Vec::new();
        for task in 0..TASKS {
            let (store, key, wins) = (store.clone(), key.clone(), wins.clone());
            handles.push(tokio::spawn(async move {
                match store.create(&key, &record(task, round, 0), exp).await {
                    Ok(_) => {
                        wins.fetch_add(1, Ordering::SeqCst);
                        Some(task)
                    }
                    Err(e) => {
                        assert!(e.is_collision(), "{e:?}");
                        None
                    }
                }
            }));
        }
        let mut winner = None;
        for h in handles {
            if let Some(task) = h.await.unwrap() {
                winner = Some(task);
            }
        }
        assert_eq!(wins.load(Ordering::SeqCst), 1, "round {round}");
        let winner = winner.unwrap();
        assert_eq!(
            sessionkit_conformance::stored(&store, &key).await,
            Some(record(winner, round, 0)),
            "a losing create overwrote the winner"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn updates_racing_a_delete_never_resurrect() {
    let store = LocMemStore::default();
    let exp = UnixTime::now().add_secs(600);
    for round in 0..20 {
        let key = SessionKey::generate();
        store.create(&key, b"initial", exp).await.unwrap();
        let mut handles = Vec::new();
        for task in 0..TASKS {
            let (store, key) = (store.clone(), key.clone());
            handles.push(tokio::spawn(async move {
                for i in 0..50 {
                    if task == 0 && i == 10 {
                        store.delete(&key).await.unwrap();
                        return;
                    }
                    match store
                        .update(
                            &key,
                            &record(task, round, i),
                            exp,
                            sessionkit_core::Expected::Any,
                        )
                        .await
                    {
                        Ok(_) => {}
                        Err(e) => assert!(e.is_vanished(), "{e:?}"),
                    }
                    match store.touch(&key, exp).await {
                        Ok(()) => {}
                        Err(e) => assert!(e.is_vanished(), "{e:?}"),
                    }
                }
            }));
        }
        for h in handles {
            h.await.unwrap();
        }
        assert_eq!(
            sessionkit_conformance::stored(&store, &key).await,
            None,
            "round {round}"
        );
    }
    assert_eq!(store.len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn request_cycles_through_sessions_from_32_tasks() {
    let store = LocMemStore::default();
    let sessions = Sessions::new(store.clone());
    let cycles = 100;
    let mut handles = Vec::new();
    for task in 0..TASKS {
        let sessions = sessions.clone();
        handles.push(tokio::spawn(async move {
            let mut session = sessions.create();
            session.insert("task", task).unwrap();
            session.insert("count", 0u32).unwrap();
            session.save().await.unwrap();
            let cookie = session.key().unwrap().as_str().to_owned();
            for _ in 0..cycles {
                let mut session = sessions.load(Some(&cookie)).await.unwrap();
                let count: u32 = session.get("count").unwrap().unwrap();
                session.insert("count", count + 1).unwrap();
                session.save().await.unwrap();
            }
            let session = sessions.load(Some(&cookie)).await.unwrap();
            assert_eq!(session.get::<usize>("task").unwrap(), Some(task));
            assert_eq!(session.get::<u32>("count").unwrap(), Some(cycles));
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    assert_eq!(store.len(), TASKS);
}

/// Sixteen OS threads, each with its own runtime, hammer a small bounded store with every
/// operation (evictions, purges and `clear_expired` included). A deadlock would hang the
/// threads; the watchdog turns that into a failure instead of a stuck test.
#[test]
fn many_threads_every_operation_no_deadlock() {
    let threads = 16;
    let max_entries = 2048;
    let max_bytes = 2048 * 400;
    let store = LocMemStore::new(
        LocMemConfig::new()
            .with_shards(2)
            .with_max_entries(max_entries)
            .with_max_bytes(max_bytes),
    );
    assert_eq!(store.shards(), 2);
    let (done_tx, done_rx) = mpsc::channel();
    for t in 0..threads {
        let store = store.clone();
        let done = done_tx.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            rt.block_on(async {
                let mut keys: Vec<SessionKey> = Vec::new();
                for i in 0..3000usize {
                    let now = UnixTime::now();
                    // Some sessions expire almost at once, so purges and evictions both run.
                    let exp = now.add_secs(if i % 3 == 0 { 1 } else { 60 + (i % 50) as i64 });
                    let body = vec![t as u8; 50 + (i * 37) % 300];
                    match i % 10 {
                        0..=3 => {
                            let k = SessionKey::generate();
                            store.create(&k, &body, exp).await.unwrap();
                            keys.push(k);
                        }
                        4 | 5 => {
                            if let Some(k) = keys.get(i % keys.len().max(1)) {
                                let _ = store.load(k).await.unwrap();
                                let _ = store.exists(k).await.unwrap();
                            }
                        }
                        6 => {
                            if let Some(k) = keys.last() {
                                if let Err(e) = store
                                    .update(k, &body, exp, sessionkit_core::Expected::Any)
                                    .await
                                {
                                    assert!(e.is_vanished(), "{e:?}");
                                }
                            }
                        }
                        7 => {
                            if let Some(k) = keys.first() {
                                if let Err(e) = store.touch(k, exp).await {
                                    assert!(e.is_vanished(), "{e:?}");
                                }
                            }
                        }
                        8 => {
                            if let Some(k) = keys.pop() {
                                store.delete(&k).await.unwrap();
                            }
                        }
                        _ => {
                            if i % 100 == 9 {
                                store.clear_expired().await.unwrap();
                            }
                            assert!(store.len() <= max_entries);
                            assert!(store.bytes() <= max_bytes);
                        }
                    }
                }
            });
            done.send(t).unwrap();
        });
    }
    drop(done_tx);
    for _ in 0..threads {
        done_rx
            .recv_timeout(Duration::from_secs(120))
            .expect("a thread neither finished nor panicked within 120 s: deadlock");
    }
    assert!(store.len() <= max_entries);
    assert!(store.bytes() <= max_bytes);
}
