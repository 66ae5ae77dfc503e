//! Issue 5: `sessionkit_cookie::CookieStore` end to end, next to the `cookie` crate's jars with
//! serde_json doing the same work.
//!
//! - `save`: a loaded session is saved and its cookie value read — through `Session::save`
//!   (encode the record, seal it into the value) for sessionkit; for the peer, the same map is
//!   serialized with serde_json and added to a fresh `CookieJar` through its signed or private
//!   child jar, and the value read back.
//! - `load`: a cookie value becomes a session and one value is read — `Sessions::load` and
//!   `Session::get` for sessionkit; for the peer, the value is added to a fresh jar as the
//!   request's cookie, verified (or decrypted) by the child jar and deserialized with
//!   serde_json into a map.
//!
//! Implementations: `cookie-signed` and `cookie-encrypted` (sessionkit defaults),
//! `cookie-signed-deflate` (sessionkit with `Compression::WhenSmaller`, Django's
//! compress-if-smaller, to show its cost), `cookie-crate-signed` and `cookie-crate-private`
//! (cookie 0.18 `SignedJar` (HMAC-SHA256) / `PrivateJar` (AES-256-GCM) + serde_json).
//!
//! - `request_cycle` (issue 14): a cookie value loaded, one value changed, saved into a new
//!   value — next to `raw-ring-hmac` and `raw-ring-aes-gcm`, ring and base64 alone doing the
//!   same cryptography on the same bytes (decode, verify or open, change a byte, sign or seal
//!   with a fresh nonce, encode): the floor.
//!
//! ```text
//! cargo bench -p sessionkit-benches --bench cookie
//! cargo bench -p sessionkit-benches --bench cookie -- 'load/1.5KB/1tasks'
//! ```

use std::hint::black_box;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use cookie::{Cookie, CookieJar, Key};
use criterion::{criterion_group, criterion_main, Criterion};
use ring::rand::{self, SystemRandom};
use ring::{aead, hmac};
use serde_json::{Map, Value};
use sessionkit_benches::{
    Op, Payload, Session, Sessions, Suite, Workload, CHANGED_KEY, SESSIONS_PER_TASK, TASK_COUNTS,
};
use sessionkit_cookie::{Compression, CookieConfig, CookieStore, Protection};

const SECRET: &str = "benchmark-secret-0123456789abcdef-0123456789";
const COOKIE_NAME: &str = "sessionid";
/// The value every `load` reads: the user id.
const READ_KEY: &str = "_auth_user_id";

/// The sessionkit side: [`Op::Save`] and [`Op::Load`] through `Sessions`/`Session`.
#[derive(Debug)]
struct SessionkitCookie {
    sessions: Sessions,
    op: Op,
    payload: Payload,
}

#[derive(Debug)]
struct SessionkitTask {
    /// The task's sessions, loaded from their cookies (for `save`).
    sessions: Vec<Session>,
    /// Their cookie values (for `load` and the request cycle).
    cookies: Vec<String>,
    next: usize,
    counter: u64,
}

impl SessionkitCookie {
    fn new(config: CookieConfig, op: Op, payload: &Payload) -> Self {
        let store = CookieStore::new(config).expect("a valid cookie configuration");
        Self {
            sessions: Sessions::new(store),
            op,
            payload: payload.clone(),
        }
    }
}

impl Workload for SessionkitCookie {
    type Task = SessionkitTask;

    async fn setup(&self, index: usize) -> SessionkitTask {
        let mut sessions = Vec::with_capacity(SESSIONS_PER_TASK);
        let mut cookies = Vec::with_capacity(SESSIONS_PER_TASK);
        for i in 0..SESSIONS_PER_TASK {
            let mut s = self.sessions.create();
            self.payload.fill(&mut s);
            s.insert(CHANGED_KEY, distinct(index, i)).expect("insert");
            s.save().await.expect("save");
            let cookie = s.key().expect("saved").as_str().to_owned();
            let loaded = self.sessions.load(Some(&cookie)).await.expect("load");
            assert!(loaded.key().is_some(), "the cookie verifies");
            sessions.push(loaded);
            cookies.push(cookie);
        }
        SessionkitTask {
            sessions,
            cookies,
            next: 0,
            counter: 0,
        }
    }

    async fn run(&self, t: &mut SessionkitTask) {
        let i = t.next;
        t.next = (t.next + 1) % SESSIONS_PER_TASK;
        match self.op {
            Op::Save => {
                let s = &mut t.sessions[i];
                s.save().await.expect("save");
                black_box(s.key().expect("saved").as_str());
            }
            Op::Load => {
                let s = self.sessions.load(Some(&t.cookies[i])).await.expect("load");
                let id: Option<String> = s.get(READ_KEY).expect("a string");
                black_box(id.expect("the session verified"));
            }
            Op::RequestCycle => {
                let mut s = self.sessions.load(Some(&t.cookies[i])).await.expect("load");
                assert!(s.key().is_some(), "the cookie verified");
                t.counter += 1;
                s.insert(CHANGED_KEY, t.counter).expect("insert");
                s.save().await.expect("save");
                t.cookies[i] = s.key().expect("saved").as_str().to_owned();
            }
            other => unreachable!("{other:?} is not benchmarked for cookies"),
        }
    }
}

/// The floor of a cookie request cycle: ring and base64 alone on the same bytes — the value
/// decoded, verified (HMAC-SHA256) or opened (AES-256-GCM), one byte of the record changed,
/// signed or sealed again (a fresh random nonce) and encoded. No session, no record format.
struct RawRing {
    mac: hmac::Key,
    aead: aead::LessSafeKey,
    encrypted: bool,
    /// A record as sessionkit seals it: the encoded payload and its 17-byte trailer.
    body: Vec<u8>,
    rng: SystemRandom,
}

impl std::fmt::Debug for RawRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawRing")
            .field("encrypted", &self.encrypted)
            .finish()
    }
}

impl RawRing {
    fn new(encrypted: bool, payload: &Payload) -> Self {
        let mut body = payload.record_bytes();
        body.extend_from_slice(&[0; 17]);
        let secret = SECRET.as_bytes();
        Self {
            mac: hmac::Key::new(hmac::HMAC_SHA256, secret),
            aead: aead::LessSafeKey::new(
                aead::UnboundKey::new(&aead::AES_256_GCM, &secret[..32]).expect("a 32-byte key"),
            ),
            encrypted,
            body,
            rng: SystemRandom::new(),
        }
    }

    fn seal(&self, body: &[u8]) -> String {
        let mut blob;
        if self.encrypted {
            let nonce: [u8; 12] = rand::generate(&self.rng).expect("random").expose();
            blob = Vec::with_capacity(12 + body.len() + 16);
            blob.extend_from_slice(&nonce);
            blob.extend_from_slice(body);
            let tag = self
                .aead
                .seal_in_place_separate_tag(
                    aead::Nonce::assume_unique_for_key(nonce),
                    aead::Aad::empty(),
                    &mut blob[12..],
                )
                .expect("seal");
            blob.extend_from_slice(tag.as_ref());
        } else {
            blob = Vec::with_capacity(body.len() + 32);
            blob.extend_from_slice(body);
            let tag = hmac::sign(&self.mac, body);
            blob.extend_from_slice(tag.as_ref());
        }
        B64.encode(blob)
    }

    /// The body inside `value` (verified or decrypted), in a buffer of its own.
    fn open(&self, value: &str) -> Vec<u8> {
        let mut blob = B64.decode(value).expect("base64url");
        if self.encrypted {
            let nonce: [u8; 12] = blob[..12].try_into().expect("a nonce");
            let len = self
                .aead
                .open_in_place(
                    aead::Nonce::assume_unique_for_key(nonce),
                    aead::Aad::empty(),
                    &mut blob[12..],
                )
                .expect("it decrypts")
                .len();
            blob.copy_within(12..12 + len, 0);
            blob.truncate(len);
        } else {
            let body = blob.len() - 32;
            hmac::verify(&self.mac, &blob[..body], &blob[body..]).expect("it verifies");
            blob.truncate(body);
        }
        blob
    }
}

/// A task's cookie values for [`RawRing`].
#[derive(Debug)]
struct RawRingTask {
    values: Vec<String>,
    next: usize,
    counter: u8,
}

impl Workload for RawRing {
    type Task = RawRingTask;

    async fn setup(&self, _index: usize) -> RawRingTask {
        RawRingTask {
            values: (0..SESSIONS_PER_TASK)
                .map(|_| self.seal(&self.body))
                .collect(),
            next: 0,
            counter: 0,
        }
    }

    async fn run(&self, t: &mut RawRingTask) {
        let i = t.next;
        t.next = (t.next + 1) % SESSIONS_PER_TASK;
        let mut body = self.open(&t.values[i]);
        t.counter = t.counter.wrapping_add(1);
        let at = body.len() - 18;
        body[at] = t.counter;
        t.values[i] = self.seal(&body);
    }
}

/// A value that makes each of a task's sessions differ, as real sessions do.
fn distinct(task: usize, session: usize) -> u64 {
    (task * SESSIONS_PER_TASK + session) as u64
}

/// The peer: the `cookie` crate's signed or private jar, with serde_json.
#[derive(Debug)]
struct CookieCrate {
    key: Key,
    private: bool,
    op: Op,
    map: Map<String, Value>,
}

impl CookieCrate {
    fn new(private: bool, op: Op, payload: &Payload) -> Self {
        let mut master = [0u8; 64];
        for (i, b) in master.iter_mut().enumerate() {
            *b = SECRET.as_bytes()[i % SECRET.len()] ^ (i as u8);
        }
        Self {
            key: Key::from(&master),
            private,
            op,
            map: payload.to_map(),
        }
    }

    /// serde_json + jar: the cookie value for `map`.
    fn seal(&self, map: &Map<String, Value>) -> String {
        let json = serde_json::to_string(map).expect("serialize");
        let mut jar = CookieJar::new();
        let cookie = Cookie::new(COOKIE_NAME, json);
        if self.private {
            jar.private_mut(&self.key).add(cookie);
        } else {
            jar.signed_mut(&self.key).add(cookie);
        }
        jar.get(COOKIE_NAME).expect("just added").value().to_owned()
    }

    /// jar + serde_json: the map inside a presented cookie value.
    fn open(&self, value: &str) -> Map<String, Value> {
        let mut jar = CookieJar::new();
        jar.add_original(Cookie::new(COOKIE_NAME, value.to_owned()));
        let verified = if self.private {
            jar.private(&self.key).get(COOKIE_NAME)
        } else {
            jar.signed(&self.key).get(COOKIE_NAME)
        };
        serde_json::from_str(verified.expect("the cookie verifies").value()).expect("deserialize")
    }
}

/// A task's maps (for `save`) and their cookie values (for `load`).
#[derive(Debug)]
struct CookieCrateTask {
    maps: Vec<Map<String, Value>>,
    values: Vec<String>,
    next: usize,
}

impl Workload for CookieCrate {
    type Task = CookieCrateTask;

    async fn setup(&self, index: usize) -> CookieCrateTask {
        let mut maps = Vec::with_capacity(SESSIONS_PER_TASK);
        let mut values = Vec::with_capacity(SESSIONS_PER_TASK);
        for i in 0..SESSIONS_PER_TASK {
            let mut map = self.map.clone();
            map.insert(CHANGED_KEY.to_owned(), Value::from(distinct(index, i)));
            let value = self.seal(&map);
            assert_eq!(self.open(&value), map);
            maps.push(map);
            values.push(value);
        }
        CookieCrateTask {
            maps,
            values,
            next: 0,
        }
    }

    async fn run(&self, t: &mut CookieCrateTask) {
        let i = t.next;
        t.next = (t.next + 1) % SESSIONS_PER_TASK;
        match self.op {
            Op::Save => {
                black_box(self.seal(&t.maps[i]));
            }
            Op::Load => {
                let map = self.open(&t.values[i]);
                let id = map.get(READ_KEY).and_then(Value::as_str).map(str::to_owned);
                black_box(id.expect("the value is there"));
            }
            other => unreachable!("{other:?} is not benchmarked for cookies"),
        }
    }
}

fn cookie(c: &mut Criterion) {
    let suite = Suite::new("cookie");
    let payloads = [Payload::small(), Payload::dashboard()];
    for payload in &payloads {
        let store = CookieStore::new(CookieConfig::new(SECRET)).expect("config");
        let signed = store
            .seal(
                &payload.record_bytes(),
                sessionkit_core::UnixTime::now().add_secs(60),
            )
            .expect("seal");
        let peer = CookieCrate::new(false, Op::Save, payload).seal(&payload.to_map());
        println!(
            "payload {}: record {} bytes, sessionkit signed value {} bytes, cookie-crate signed \
             value {} bytes",
            payload.label(),
            payload.encoded_len(),
            signed.len(),
            peer.len()
        );
    }
    for op in [Op::Save, Op::Load] {
        for payload in &payloads {
            for tasks in TASK_COUNTS {
                let mut group = suite.group(c, op, payload, tasks);
                group.bench(
                    "cookie-signed",
                    SessionkitCookie::new(CookieConfig::new(SECRET), op, payload),
                );
                group.bench(
                    "cookie-encrypted",
                    SessionkitCookie::new(
                        CookieConfig::new(SECRET).with_protection(Protection::Encrypted),
                        op,
                        payload,
                    ),
                );
                group.bench(
                    "cookie-signed-deflate",
                    SessionkitCookie::new(
                        CookieConfig::new(SECRET).with_compression(Compression::WhenSmaller),
                        op,
                        payload,
                    ),
                );
                group.bench("cookie-crate-signed", CookieCrate::new(false, op, payload));
                group.bench("cookie-crate-private", CookieCrate::new(true, op, payload));
                group.finish();
            }
        }
    }
    // Issue 14: the request cycle (load, change one value, save) next to ring and base64
    // doing the same cryptography on the same bytes.
    for payload in &payloads {
        for tasks in TASK_COUNTS {
            let op = Op::RequestCycle;
            let mut group = suite.group(c, op, payload, tasks);
            group.bench(
                "cookie-signed",
                SessionkitCookie::new(CookieConfig::new(SECRET), op, payload),
            );
            group.bench("raw-ring-hmac", RawRing::new(false, payload));
            group.bench(
                "cookie-encrypted",
                SessionkitCookie::new(
                    CookieConfig::new(SECRET).with_protection(Protection::Encrypted),
                    op,
                    payload,
                ),
            );
            group.bench("raw-ring-aes-gcm", RawRing::new(true, payload));
            group.finish();
        }
    }
}

criterion_group! {
    name = benches;
    config = sessionkit_benches::criterion_config();
    targets = cookie
}
criterion_main!(benches);
