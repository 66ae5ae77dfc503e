//! Issue 13: what sharing a Django deployment's sessions costs (a bench binary, not criterion:
//! it prints wall time and client CPU per operation, and same-run ratios).
//!
//! - `codec`: encode and decode of the 1.5 KB dashboard session in each of Django's formats —
//!   pickled (the cache engines), signed (`session_data`), JSON (signed cookies) — next to
//!   sessionkit's own bincode record. One thread, no I/O: wall time is CPU time.
//! - `signing.dumps`: the signed format with and without its zlib step.
//! - `redis cycle`: the request cycle (load, change one value, save) on a `format=django` redis
//!   store, through `Sessions`/`Session` as an application uses it, next to redis-rs doing the
//!   same round trips on the same bytes (`GET` and `PTTL` pipelined, then `SET .. XX EX`: what
//!   Django's format makes a load and a save cost, without decoding or encoding anything). One task, one
//!   multiplexed connection each; the server is `SESSIONKIT_REDIS_URL` or a throwaway one.
//!
//! ```text
//! cargo bench -p sessionkit-benches --bench django
//! ```
//!
//! Rounds alternate between the two sides of each comparison, so both see the same machine
//! load; the figures printed are the medians of the rounds.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sessionkit::django::DjangoCodec;
use sessionkit_benches::{Payload, CHANGED_KEY};
use sessionkit_core::{Codecs, Data, Expiry, RecordRef, SessionConfig, UnixTime};
use sessionkit_redis::redis::{self, AsyncCommands};
use sessionkit_testkit::Service;

/// Rounds per comparison; the median is printed.
const ROUNDS: usize = 7;
/// Operations per round and side of the codec comparison.
const CODEC_OPS: usize = 20_000;
/// Request cycles per round and side of the redis comparison.
const CYCLES: usize = 2_000;
/// Sessions the cycles go round.
const SESSIONS: usize = 64;
const SECRET_ENV: &str = "SESSIONKIT_BENCH_DJANGO_SECRET_KEY";

/// This process's CPU time so far (user + system), from `/proc/self/stat` (clock ticks of
/// 10 ms: rounds are long enough for that).
fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name and state.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// Wall time and CPU time per operation of `ops` runs of `f`.
fn measure(ops: usize, mut f: impl FnMut()) -> (Duration, Duration) {
    let (t0, c0) = (Instant::now(), cpu());
    for _ in 0..ops {
        f();
    }
    let n = ops as u32;
    ((t0.elapsed()) / n, (cpu().saturating_sub(c0)) / n)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Prints the medians of `ours` and `theirs` (wall, CPU per op) and their ratio.
fn report(
    what: &str,
    ours: &str,
    theirs: &str,
    a: &[(Duration, Duration)],
    b: &[(Duration, Duration)],
) {
    let (aw, ac) = (
        median(a.iter().map(|x| x.0).collect()),
        median(a.iter().map(|x| x.1).collect()),
    );
    let (bw, bc) = (
        median(b.iter().map(|x| x.0).collect()),
        median(b.iter().map(|x| x.1).collect()),
    );
    let ratio = |x: Duration, y: Duration| x.as_secs_f64() / y.as_secs_f64().max(1e-12);
    println!(
        "{what}: {ours} {:.2} µs (CPU {:.2} µs) | {theirs} {:.2} µs (CPU {:.2} µs) | ratio wall ×{:.2}, CPU ×{:.2}",
        aw.as_secs_f64() * 1e6,
        ac.as_secs_f64() * 1e6,
        bw.as_secs_f64() * 1e6,
        bc.as_secs_f64() * 1e6,
        ratio(aw, bw),
        ratio(ac, bc),
    );
}

fn codecs() {
    let data: Data = Payload::dashboard().to_map();
    let record = RecordRef {
        expires_at: UnixTime::now().add_secs(3_600),
        expiry: Expiry::Default,
        data: &data,
    };
    let bincode = Codecs::default();
    let format = sessionkit::django::session::SessionData::new(b"a bench secret key", []);
    let django = [
        ("pickle", Codecs::only(Arc::new(DjangoCodec::pickle()))),
        (
            "signed",
            Codecs::only(Arc::new(DjangoCodec::signed(format))),
        ),
        ("json", Codecs::only(Arc::new(DjangoCodec::json()))),
    ];
    let ours_bytes = bincode.encode(record).unwrap();
    for (name, codec) in &django {
        let bytes = codec.encode(record).unwrap();
        let (mut enc_a, mut enc_b, mut dec_a, mut dec_b) = (vec![], vec![], vec![], vec![]);
        for _ in 0..ROUNDS {
            enc_a.push(measure(CODEC_OPS, || {
                drop(black_box(codec.encode(black_box(record))))
            }));
            enc_b.push(measure(CODEC_OPS, || {
                drop(black_box(bincode.encode(black_box(record))))
            }));
            // A decode that reads every value (bincode decodes values lazily).
            dec_a.push(measure(CODEC_OPS, || {
                let r = codec.decode(black_box(&bytes)).unwrap();
                black_box(r.data.iter().count());
            }));
            dec_b.push(measure(CODEC_OPS, || {
                let r = bincode.decode(black_box(&ours_bytes)).unwrap();
                black_box(r.data.iter().count());
            }));
        }
        println!(
            "codec {name}: {} bytes, bincode {} bytes",
            bytes.len(),
            ours_bytes.len()
        );
        report(
            &format!("codec {name} encode"),
            "django",
            "bincode",
            &enc_a,
            &enc_b,
        );
        report(
            &format!("codec {name} decode"),
            "django",
            "bincode",
            &dec_a,
            &dec_b,
        );
    }
    // Where the signed format's time goes: signing.dumps of the same JSON with and without
    // zlib (Django compresses when that is shorter).
    let json = sessionkit::django::session::session_json(&data, Expiry::Default);
    let signer = sessionkit::django::signing::Signer::new("salt", b"a bench secret key", []);
    let now = UnixTime::now();
    let (mut zipped, mut plain) = (vec![], vec![]);
    for _ in 0..ROUNDS {
        zipped.push(measure(CODEC_OPS, || {
            black_box(signer.dumps_at(black_box(json.as_bytes()), true, now));
        }));
        plain.push(measure(CODEC_OPS, || {
            black_box(signer.dumps_at(black_box(json.as_bytes()), false, now));
        }));
    }
    report(
        "signing.dumps",
        "compress=True",
        "compress=False",
        &zipped,
        &plain,
    );
}

fn redis_cycle() {
    let server = Service::Redis
        .shared()
        .unwrap_or_else(|e| panic!("no redis for the bench: {e} (set SESSIONKIT_REDIS_URL)"));
    let url = server.lock().unwrap().url().to_owned();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let prefix = sessionkit_testkit::unique_name("djbench");
    let store_url = format!("{url}?format=django&key_prefix={prefix}&secret_key_env={SECRET_ENV}");
    let sessions = rt
        .block_on(sessionkit::connect_with(&store_url, SessionConfig::new()))
        .unwrap();
    let payload = Payload::dashboard();
    let keys: Vec<String> = rt.block_on(async {
        let mut keys = Vec::new();
        for _ in 0..SESSIONS {
            let mut s = sessions.create();
            payload.fill(&mut s);
            s.save().await.unwrap();
            keys.push(s.key().unwrap().as_str().to_owned());
        }
        keys
    });
    // The raw side: the same pickled value, under keys of its own.
    let pickled = Codecs::only(Arc::new(DjangoCodec::pickle()))
        .encode(RecordRef {
            expires_at: UnixTime::now().add_secs(3_600),
            expiry: Expiry::Default,
            data: &payload.to_map(),
        })
        .unwrap();
    let mut conn = rt
        .block_on(async {
            redis::Client::open(url.as_str())?
                .get_multiplexed_async_connection()
                .await
        })
        .unwrap();
    let raw_keys: Vec<String> = (0..SESSIONS).map(|i| format!("{prefix}:raw:{i}")).collect();
    rt.block_on(async {
        for k in &raw_keys {
            let _: () = conn.set_ex(k, &pickled, 3_600).await.unwrap();
        }
    });

    let (mut ours, mut raw) = (vec![], vec![]);
    let (mut i, mut j) = (0usize, 0usize);
    for _ in 0..ROUNDS {
        ours.push(measure(CYCLES, || {
            let key = &keys[i % SESSIONS];
            i += 1;
            rt.block_on(async {
                let mut s = sessions.load(Some(key)).await.unwrap();
                s.insert(CHANGED_KEY, i as u64).unwrap();
                s.save().await.unwrap();
            });
        }));
        raw.push(measure(CYCLES, || {
            let key = &raw_keys[j % SESSIONS];
            j += 1;
            rt.block_on(async {
                let (value, ttl): (Vec<u8>, i64) = redis::pipe()
                    .get(key)
                    .pttl(key)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                black_box(ttl);
                let _: Option<String> = redis::cmd("SET")
                    .arg(key)
                    .arg(black_box(value))
                    .arg("XX")
                    .arg("EX")
                    .arg(3_600)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
            });
        }));
    }
    report(
        "redis cycle",
        "sessionkit format=django",
        "raw redis-rs",
        &ours,
        &raw,
    );
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument picks one comparison.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let wants = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    // Before any thread: the store reads the key when it opens.
    std::env::set_var(SECRET_ENV, "a bench secret key");
    if wants("codec") {
        codecs();
    }
    if wants("redis") {
        redis_cycle();
    }
}
