//! Start, ping, kill, restart and drop every server kind that is installed.
//!
//! A kind whose programs are missing is skipped with a message, unless
//! `SESSIONKIT_TESTKIT_REQUIRE_SERVERS` is set (the `testkit` matrix cell sets it), which turns a
//! missing program into a failure.

use std::net::{Ipv4Addr, TcpStream};
use std::path::PathBuf;

use sessionkit_testkit::{
    Error, MariadbServer, MemcachedServers, PostgresServer, RedisCluster, RedisReply, RedisServer,
    Service, ThrowawayServer, CLUSTER_MASTERS,
};

/// The started server, or `None` (with a message) when its programs are not installed here.
fn started<T>(result: Result<T, Error>) -> Option<T> {
    match result {
        Err(e)
            if e.is_missing_binary()
                && std::env::var_os("SESSIONKIT_TESTKIT_REQUIRE_SERVERS").is_none() =>
        {
            eprintln!("skipped: {e}");
            None
        }
        Err(e) => panic!("{e}"),
        Ok(server) => Some(server),
    }
}

fn ok<T>(result: Result<T, Error>) -> T {
    result.unwrap_or_else(|e| panic!("{e}"))
}

fn accepts_connections(port: u16) -> bool {
    TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok()
}

fn port_of(url: &str) -> u16 {
    let rest = url.split("127.0.0.1:").nth(1).expect("url names 127.0.0.1");
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().expect("url has a port")
}

/// Drops the server and checks that its processes and directory are gone.
fn dropped(server: impl ThrowawayServer) {
    let dir: PathBuf = server.dir().to_owned();
    let ports: Vec<u16> = server.urls().iter().map(|u| port_of(u)).collect();
    assert!(dir.is_dir(), "{} exists while running", dir.display());
    drop(server);
    assert!(!dir.exists(), "{} removed on drop", dir.display());
    for port in ports {
        assert!(!accepts_connections(port), "port {port} closed on drop");
    }
}

#[test]
fn redis_starts_answers_dies_and_comes_back_on_the_same_port() {
    let Some(mut redis) = started(RedisServer::start()) else {
        return;
    };
    assert_eq!(redis.url(), format!("redis://127.0.0.1:{}/", redis.port()));
    assert_eq!(redis.urls(), [redis.url()]);
    assert_eq!(redis.kind(), "redis");
    ok(redis.ping());
    assert_eq!(
        ok(redis.command(&["SET", "greeting", "hello"])),
        RedisReply::Status("OK".to_owned())
    );
    assert_eq!(
        ok(redis.command(&["GET", "greeting"])),
        RedisReply::Bulk(Some(b"hello".to_vec()))
    );

    ok(redis.kill());
    assert!(redis.ping().is_err(), "a killed redis must not answer");
    assert!(!accepts_connections(redis.port()));

    let port = redis.port();
    ok(redis.restart());
    assert_eq!(redis.port(), port);
    ok(redis.ping());
    // Nothing is kept on disk: a restarted server is empty.
    assert_eq!(
        ok(redis.command(&["GET", "greeting"])),
        RedisReply::Bulk(None)
    );

    // Restarting a running server works too.
    ok(redis.restart());
    ok(redis.ping());
    dropped(redis);
}

/// Which node owns `key`: exactly one node accepts the write, the others answer `MOVED`.
fn owner(cluster: &RedisCluster, key: &str) -> usize {
    let mut owners = Vec::new();
    for (i, port) in cluster.ports().into_iter().enumerate() {
        let reply = ok(sessionkit_testkit::redis_command(
            port,
            &["SET", key, "v"],
            std::time::Duration::from_secs(5),
        )
        .map_err(|detail| Error::Unreachable {
            server: "redis cluster node",
            address: port.to_string(),
            detail,
        }));
        match reply {
            RedisReply::Status(s) if s == "OK" => owners.push(i),
            RedisReply::Error(e) if e.starts_with("MOVED ") => {}
            other => panic!("node {i} answered SET with {other:?}"),
        }
    }
    assert_eq!(owners.len(), 1, "exactly one node owns {key}: {owners:?}");
    owners[0]
}

#[test]
fn redis_cluster_forms_loses_a_node_and_heals() {
    let Some(mut cluster) = started(RedisCluster::start()) else {
        return;
    };
    let urls = cluster.urls();
    assert_eq!(urls.len(), CLUSTER_MASTERS);
    assert_eq!(ThrowawayServer::urls(&cluster), urls);
    let mut distinct = urls.clone();
    distinct.dedup();
    assert_eq!(distinct.len(), CLUSTER_MASTERS, "{urls:?}");
    ok(cluster.ping());

    // Slots are spread over all three masters.
    let owners: std::collections::HashSet<usize> = (0..60)
        .map(|i| owner(&cluster, &format!("key-{i}")))
        .collect();
    assert_eq!(owners.len(), CLUSTER_MASTERS);

    let port = cluster.ports()[1];
    ok(cluster.kill_node(1));
    assert!(!accepts_connections(port));
    assert!(cluster.ping().is_err());
    ok(cluster.restart_node(1));
    assert_eq!(cluster.ports()[1], port);
    ok(cluster.ping());
    assert!(matches!(
        cluster.kill_node(3),
        Err(Error::NoSuchNode { .. })
    ));

    ok(cluster.kill());
    assert!(cluster.ping().is_err());
    ok(cluster.restart());
    ok(cluster.ping());
    assert_eq!(cluster.urls(), urls, "same ports after a full restart");
    dropped(cluster);
}

#[test]
fn memcached_servers_are_independent_and_restart_empty() {
    let Some(mut servers) = started(MemcachedServers::start(3)) else {
        return;
    };
    let urls = servers.urls();
    assert_eq!(urls.len(), 3);
    for (url, port) in urls.iter().zip(servers.ports()) {
        assert_eq!(url, &format!("memcached://127.0.0.1:{port}"));
    }
    ok(servers.ping());

    assert_eq!(ok(servers.command(0, "set k 0 0 5\r\nhello")), ["STORED"]);
    assert_eq!(
        ok(servers.command(0, "get k")),
        ["VALUE k 0 5", "hello", "END"]
    );
    assert_eq!(
        ok(servers.command(1, "get k")),
        ["END"],
        "servers share nothing"
    );

    ok(servers.kill_node(0));
    assert!(servers.ping().is_err());
    ok(servers.command(1, "version"));
    ok(servers.restart_node(0));
    ok(servers.ping());
    assert_eq!(ok(servers.command(0, "get k")), ["END"], "restarted empty");
    assert_eq!(servers.urls(), urls);
    dropped(servers);
}

#[test]
fn postgres_keeps_its_data_across_a_crash() {
    let Some(mut pg) = started(PostgresServer::start()) else {
        return;
    };
    assert_eq!(
        pg.url(),
        format!("postgres://postgres@127.0.0.1:{}/postgres", pg.port())
    );
    ok(pg.ping());
    assert_eq!(ok(pg.query("select 1 + 1")).trim(), "2");
    ok(pg.query("create table kept (v text); insert into kept values ('before the crash')"));

    ok(pg.kill());
    assert!(pg.ping().is_err(), "a killed postgres must not answer");
    assert!(!accepts_connections(pg.port()));
    ok(pg.restart());
    ok(pg.ping());
    assert_eq!(
        ok(pg.query("select v from kept")).trim(),
        "before the crash"
    );
    assert!(pg.query("select * from no_such_table").is_err());
    dropped(pg);
}

#[test]
fn mariadb_keeps_its_data_across_a_crash() {
    let Some(mut db) = started(MariadbServer::start()) else {
        return;
    };
    assert_eq!(
        db.url(),
        format!("mysql://root@127.0.0.1:{}/test", db.port())
    );
    ok(db.ping());
    assert_eq!(ok(db.query("select database()")).trim(), "test");
    ok(db.query(
        "create table kept (v varchar(40)) engine=InnoDB; insert into kept values ('before the crash')",
    ));

    ok(db.kill());
    assert!(db.ping().is_err(), "a killed mariadb must not answer");
    assert!(!accepts_connections(db.port()));
    ok(db.restart());
    ok(db.ping());
    assert_eq!(
        ok(db.query("select v from kept")).trim(),
        "before the crash"
    );
    dropped(db);
}

#[test]
fn an_address_in_the_environment_wins() {
    let provided = ok(Service::Memcached { nodes: 3 }
        .from_value_or_start(Some(" memcached://127.0.0.1:1 ,memcached://127.0.0.1:2,")));
    assert!(!provided.is_throwaway());
    assert!(provided.server().is_none());
    assert_eq!(
        provided.urls(),
        ["memcached://127.0.0.1:1", "memcached://127.0.0.1:2"]
    );
    assert_eq!(
        provided.env(),
        (
            "SESSIONKIT_MEMCACHED_URLS",
            "memcached://127.0.0.1:1,memcached://127.0.0.1:2".to_owned()
        )
    );
    assert_eq!(provided.service(), Service::Memcached { nodes: 3 });
}

#[test]
fn no_address_starts_a_throwaway_server() {
    for value in [None, Some(""), Some(" , ")] {
        let Some(mut provided) = started(Service::Redis.from_value_or_start(value)) else {
            return;
        };
        assert!(provided.is_throwaway());
        assert_eq!(provided.env().0, "SESSIONKIT_REDIS_URL");
        let url = provided.url().to_owned();
        let server = provided.server_mut().expect("a throwaway server");
        assert_eq!(server.urls(), [url]);
        ok(server.ping());
        let port = port_of(provided.url());
        drop(provided);
        assert!(!accepts_connections(port), "stopped with its handle");
    }
}

#[test]
fn every_service_has_its_variable_and_start() {
    let services = [
        (Service::Redis, "SESSIONKIT_REDIS_URL", "redis"),
        (
            Service::RedisCluster,
            "SESSIONKIT_REDIS_CLUSTER_URLS",
            "redis-cluster",
        ),
        (
            Service::Memcached { nodes: 2 },
            "SESSIONKIT_MEMCACHED_URLS",
            "memcached",
        ),
        (Service::Postgres, "SESSIONKIT_POSTGRES_URL", "postgres"),
        (Service::Mysql, "SESSIONKIT_MYSQL_URL", "mariadb"),
    ];
    for (service, var, kind) in services {
        assert_eq!(service.env_var(), var);
        if started(service.check_installed()).is_none() {
            continue;
        }
        let server = ok(service.start());
        assert_eq!(server.kind(), kind);
        ok(server.ping());
        let expected_nodes = match service {
            Service::RedisCluster => CLUSTER_MASTERS,
            Service::Memcached { nodes } => nodes,
            _ => 1,
        };
        assert_eq!(server.urls().len(), expected_nodes, "{service}");
    }
}

/// Pauses a server (every process of it), checks that it answers nothing, thaws it, checks that
/// it answers again, then drops it while paused (which must still stop it and clean up).
fn pause_resume_and_drop_paused(mut server: impl ThrowawayServer) {
    ok(server.ping());
    ok(server.pause());
    assert!(
        server.ping().is_err(),
        "a paused {} must not answer",
        server.kind()
    );
    ok(server.resume());
    ok(server.ping());
    ok(server.pause());
    dropped(server);
}

#[test]
fn paused_postgres_answers_nothing_until_resumed() {
    if let Some(pg) = started(PostgresServer::start()) {
        pause_resume_and_drop_paused(pg);
    }
}

#[test]
fn paused_mariadb_answers_nothing_until_resumed() {
    if let Some(db) = started(MariadbServer::start()) {
        pause_resume_and_drop_paused(db);
    }
}

#[test]
fn paused_redis_answers_nothing_until_resumed() {
    if let Some(redis) = started(RedisServer::start()) {
        pause_resume_and_drop_paused(redis);
    }
}

#[test]
fn mariadb_servers_start_side_by_side() {
    // Several tests of one binary may each start their own server at the same moment.
    let servers: Vec<_> = (0..3)
        .map(|_| std::thread::spawn(MariadbServer::start))
        .collect();
    for server in servers {
        let Some(db) = started(server.join().expect("a start thread panicked")) else {
            return;
        };
        ok(db.ping());
        dropped(db);
    }
}
