//! Several servers: every key on exactly one of them, spread evenly, and adding a server moves
//! only about its share. Uses four throwaway memcached processes of its own.

mod common;

use std::collections::HashMap;

use memcache::exp::AsyncMetaClient;
use sessionkit_core::{SessionKey, SessionStore, UnixTime};
use sessionkit_memcached::{memcache, MemcachedConfig, MemcachedStore};

const SESSIONS: usize = 1_200;

/// One raw client per server, to look inside each one directly.
async fn direct_clients(urls: &[String]) -> Vec<AsyncMetaClient> {
    let mut clients = Vec::new();
    for url in urls {
        let addr = url.trim_start_matches("memcached://").to_owned();
        clients.push(AsyncMetaClient::connect(addr).await.unwrap());
    }
    clients
}

async fn holders(clients: &[AsyncMetaClient], wire_key: &str) -> Vec<usize> {
    let mut found = Vec::new();
    for (i, client) in clients.iter().enumerate() {
        if client.get(wire_key).send().await.unwrap().hit() {
            found.push(i);
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_servers_each_key_on_exactly_one_and_a_fourth_moves_about_a_quarter() {
    let servers = common::own_servers(4).await;
    let urls = servers.urls();
    let prefix = common::unique_prefix("spread");
    let three = MemcachedStore::connect(MemcachedConfig::new(&urls[..3]).with_prefix(&prefix))
        .await
        .unwrap();
    let clients = direct_clients(&urls).await;
    let exp = UnixTime::now().add_secs(600);

    let mut keys = Vec::with_capacity(SESSIONS);
    let mut per_server: HashMap<usize, usize> = HashMap::new();
    for i in 0..SESSIONS {
        let key = SessionKey::generate();
        three
            .create(&key, format!("session {i}").as_bytes(), exp)
            .await
            .unwrap();
        let found = holders(&clients, &three.wire_key(&key)).await;
        assert_eq!(found.len(), 1, "session {i} is on servers {found:?}");
        let server = found[0];
        assert!(server < 3, "the fourth server is not configured yet");
        assert_eq!(
            three.server_for(&key),
            three.servers()[server],
            "server_for disagrees with where the key is"
        );
        *per_server.entry(server).or_default() += 1;
        keys.push(key);
    }
    // 400 expected each; a fair spread stays far inside these bounds.
    for server in 0..3 {
        let n = per_server.get(&server).copied().unwrap_or(0);
        assert!(
            (250..=550).contains(&n),
            "server {server} holds {n} of {SESSIONS}: {per_server:?}"
        );
    }

    // The same servers listed in another order place every key identically.
    let reordered: Vec<String> = vec![urls[2].clone(), urls[0].clone(), urls[1].clone()];
    let shuffled = MemcachedStore::connect(MemcachedConfig::new(&reordered).with_prefix(&prefix))
        .await
        .unwrap();
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(
            sessionkit_conformance::stored(&shuffled, key).await,
            Some(format!("session {i}").into_bytes())
        );
    }

    // Add a fourth server: only keys it now wins move (they are missing through the new
    // store); every other key is still found where it was.
    let four = MemcachedStore::connect(MemcachedConfig::new(&urls).with_prefix(&prefix))
        .await
        .unwrap();
    let mut moved = 0;
    for (i, key) in keys.iter().enumerate() {
        match sessionkit_conformance::stored(&four, key).await {
            Some(bytes) => {
                assert_eq!(bytes, format!("session {i}").into_bytes());
                assert_eq!(four.server_for(key), three.server_for(key));
            }
            None => {
                moved += 1;
                assert_eq!(
                    four.server_for(key),
                    four.servers()[3],
                    "a key moved between two of the old servers"
                );
            }
        }
    }
    // A quarter is expected (300 of 1,200); generous statistical bounds (about ±6 σ).
    assert!(
        (180..=420).contains(&moved),
        "adding a 4th server moved {moved} of {SESSIONS} sessions"
    );

    // Through the four-server store, new sessions land on all four, each on exactly one.
    let mut used = [false; 4];
    for _ in 0..200 {
        let key = SessionKey::generate();
        four.create(&key, b"new", exp).await.unwrap();
        let found = holders(&clients, &four.wire_key(&key)).await;
        assert_eq!(found.len(), 1, "{found:?}");
        used[found[0]] = true;
    }
    assert_eq!(used, [true; 4]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_server_fails_only_its_own_keys() {
    let servers = common::own_servers(3).await;
    let urls = servers.urls();
    let store = MemcachedStore::connect(
        MemcachedConfig::new(&urls).with_prefix(common::unique_prefix("down")),
    )
    .await
    .unwrap();
    let exp = UnixTime::now().add_secs(600);
    let mut keys = Vec::new();
    for _ in 0..150 {
        let key = SessionKey::generate();
        store.create(&key, b"x", exp).await.unwrap();
        keys.push(key);
    }
    let down = urls[1].trim_start_matches("memcached://").to_owned();
    let servers = tokio::task::spawn_blocking(move || {
        let mut servers = servers;
        servers.kill_node(1).unwrap();
        servers
    })
    .await
    .unwrap();
    let (mut failed, mut served) = (0, 0);
    for key in &keys {
        let result = store.load(key).await;
        if store.server_for(key) == down {
            let err = result.unwrap_err();
            assert!(err.is_unavailable(), "{err:?}");
            failed += 1;
        } else {
            assert_eq!(
                result.unwrap().map(|l| l.record).as_deref(),
                Some(&b"x"[..])
            );
            served += 1;
        }
    }
    assert!(failed > 0 && served > 0, "{failed} failed, {served} served");
    tokio::task::spawn_blocking(move || {
        let mut servers = servers;
        servers.restart_node(1).unwrap()
    })
    .await
    .unwrap();
}
