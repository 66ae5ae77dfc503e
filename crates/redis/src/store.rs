//! [`RedisStore`]: the [`SessionStore`] over one self-healing connection.

use std::fmt;
use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;
use redis::{Cmd, FromRedisValue, Pipeline, RedisResult, RedisWrite, ToRedisArgs, Value};
use sessionkit_core::{
    async_trait, Capabilities, Error, Expected, Housekeeping, KeyFormat, Loaded, Opened, Result,
    SessionKey, SessionStore, StoreStats, Stored, UnixTime, Version, ENVELOPE_LEN,
};

use crate::error::{self, BACKEND};
use crate::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_KEY_PREFIX, DEFAULT_RESPONSE_TIMEOUT};

/// The longest time to live sent to the server: 100 years. Longer expiries (up to
/// `i64::MAX` seconds can reach a store) are clamped, because redis rejects a TTL whose
/// millisecond form overflows, and a session that lives a century is a session that never ends.
pub const MAX_TTL_SECS: u64 = 100 * 365 * 24 * 60 * 60;

/// Values are [`Loaded::envelope`]s (`0x00`, the version's 8 bytes, the expiry's 8 bytes, the
/// record), so `GET` alone answers a load with the record, its version and its expiry. A bare
/// record written before versions loads as [`Version::UNTRACKED`]; it and the version-only
/// envelope written before expiries were kept get their expiry from a `PTTL`.
///
/// Compare-and-set, run by the server in one step: `KEYS[1]` the session, `ARGV[1]` the
/// expected version's 8 bytes, `ARGV[2]` the new value, `ARGV[3]` its TTL in seconds. Reads
/// only the envelope (`GETRANGE`), never the record. Returns 1 (stored), 0 (no record:
/// vanished), -1 (another version: conflict, nothing written).
const CAS_SCRIPT: &str = r#"
local head = redis.call('GETRANGE', KEYS[1], 0, 8)
if head == '' then return 0 end
local version = '\0\0\0\0\0\0\0\0'
if string.byte(head, 1) == 0 and #head == 9 then version = string.sub(head, 2, 9) end
if version ~= ARGV[1] then return -1 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
"#;

/// Touch, run by the server in one step: `KEYS[1]` the session, `ARGV[1]` the new TTL in
/// seconds, `ARGV[2]` the new expiry's 8 envelope bytes. Moves the TTL and, in a value with the
/// whole envelope (byte 10 is 0), the expiry it records (`SETRANGE` keeps the TTL). Returns 1
/// (touched) or 0 (no record: vanished; nothing is created).
const TOUCH_SCRIPT: &str = r#"
if redis.call('EXPIRE', KEYS[1], ARGV[1]) == 0 then return 0 end
local head = redis.call('GETRANGE', KEYS[1], 0, 9)
if #head == 10 and string.byte(head, 1) == 0 and string.byte(head, 10) == 0 then
  redis.call('SETRANGE', KEYS[1], 9, ARGV[2])
end
return 1
"#;

/// The connection a store sends its commands on.
#[derive(Clone)]
pub(crate) enum Connection {
    /// One multiplexed connection to a standalone server (or a proxy), replaced by a new one
    /// when it breaks.
    Single(ConnectionManager),
    /// One multiplexed connection per cluster master, routed by key slot.
    #[cfg(feature = "cluster")]
    Cluster(redis::cluster_async::ClusterConnection),
}

/// What the store sends in one round trip: one command, or several on the same key sent
/// together (their replies come back as a tuple).
#[derive(Clone, Copy)]
pub(crate) enum Request<'a> {
    /// One command.
    One(&'a Cmd),
    /// Commands sent back to back, read back together.
    Pipelined(&'a Pipeline),
}

impl<'a> From<&'a Cmd> for Request<'a> {
    fn from(cmd: &'a Cmd) -> Self {
        Request::One(cmd)
    }
}

impl<'a> From<&'a Pipeline> for Request<'a> {
    fn from(pipeline: &'a Pipeline) -> Self {
        Request::Pipelined(pipeline)
    }
}

impl Connection {
    /// Sends a request and reads its reply: one round trip. Both connection kinds are cheap
    /// handles (an `Arc` or a channel sender) that pipeline the commands of concurrent callers
    /// on the same socket, so the clone costs a reference count, not a connection.
    async fn query<T: FromRedisValue>(&self, request: Request<'_>) -> RedisResult<T> {
        match (self, request) {
            (Connection::Single(c), Request::One(cmd)) => cmd.query_async(&mut c.clone()).await,
            (Connection::Single(c), Request::Pipelined(p)) => p.query_async(&mut c.clone()).await,
            #[cfg(feature = "cluster")]
            (Connection::Cluster(c), Request::One(cmd)) => cmd.query_async(&mut c.clone()).await,
            #[cfg(feature = "cluster")]
            (Connection::Cluster(c), Request::Pipelined(p)) => p.query_async(&mut c.clone()).await,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Connection::Single(_) => "single",
            #[cfg(feature = "cluster")]
            Connection::Cluster(_) => "cluster",
        }
    }
}

/// A session store in redis (6.0 or newer), a Redis Cluster, or anything speaking the same
/// protocol (Valkey, KeyDB, Dragonfly).
///
/// Each session is one string key, `<prefix><session key>`, holding the encoded record, with
/// the record's expiry as the key's TTL so the server drops it by itself. Every operation is
/// one command and one round trip; concurrent operations share one multiplexed connection
/// (one per master in a cluster), which pipelines them.
///
/// | operation | command | reply checked |
/// |---|---|---|
/// | `load` | `GET k` (and `PTTL k` for a value written before expiries were kept in it; with plain values, `GET k` and `PTTL k` pipelined in one round trip) | nil = no session |
/// | `create` | `SET k v NX EX ttl` | nil = [collision](sessionkit_core::Error::is_collision) (never an overwrite) |
/// | `update` | `SET k v XX EX ttl` | nil = [vanished](sessionkit_core::Error::is_vanished) (never a resurrection) |
/// | `update` with a version | `EVALSHA` of a script: compare the version, `SET … EX` | 0 = vanished, -1 = conflict |
/// | `touch` | `EVALSHA` of a script: `EXPIRE k ttl`, then the envelope's expiry in place | 0 = vanished |
/// | `delete` | `DEL k` | — |
/// | `exists` | `EXISTS k` | — |
/// | `clear_expired` | none | always `Ok(0)`: the server expires keys itself |
///
/// A record whose expiry has already passed is never stored: `create` only checks that the
/// key is free (`EXISTS`; taken = collision) and returns the key, since a record that is dead
/// on arrival is indistinguishable from one that expired at once; `update` and `touch` delete
/// the record instead (`DEL`; nothing deleted = vanished).
///
/// Build one with [`RedisConfig`](crate::RedisConfig), [`RedisStore::connect`], or from a
/// connection you made yourself ([`RedisStore::from_connection_manager`],
/// [`RedisStore::from_cluster_connection`]). Cloning is cheap and shares the connection.
#[derive(Clone)]
pub struct RedisStore {
    conn: Connection,
    prefix: Arc<str>,
    limit: Limit,
    plain: bool,
}

/// How the store bounds the time of one operation.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Limit {
    /// The connection was built with connect and response timeouts whose sum is this: they
    /// bound every call by themselves, so no timer of ours is armed on the hot path; only the
    /// second attempt after a refused connection gets what is left of this.
    Connection(Duration),
    /// A timer armed around every call (connections built elsewhere, whose timeouts we do not
    /// know).
    Timer(Duration),
    /// No bound beyond whatever the connection has.
    None,
}

impl Limit {
    fn total(self) -> Option<Duration> {
        match self {
            Limit::Connection(d) | Limit::Timer(d) => Some(d),
            Limit::None => None,
        }
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The connection's own Debug shows its address; credentials are left to redis-rs, which
        // redacts them, so print only what is ours.
        f.debug_struct("RedisStore")
            .field("connection", &self.conn.kind())
            .field("prefix", &self.prefix)
            .field("operation_timeout", &self.limit.total())
            .field("plain_values", &self.plain)
            .finish()
    }
}

impl RedisStore {
    pub(crate) fn new(conn: Connection, prefix: &str, limit: Limit) -> Self {
        Self {
            conn,
            prefix: prefix.into(),
            limit,
            plain: false,
        }
    }

    /// Connects to the redis server at `url` with the default settings (see
    /// [`RedisConfig`](crate::RedisConfig)): key prefix `sessionkit:`, 1 s connect timeout,
    /// 1 s response timeout.
    ///
    /// The URL is `redis://[[user]:password@]host[:port][/db]`, `rediss://...` for TLS (with
    /// the `tls-rustls` feature), or `redis+unix:///path/to/socket[?db=N]`.
    pub async fn connect(url: &str) -> Result<Self> {
        crate::RedisConfig::new(url).connect().await
    }

    /// A store over a connection manager you built yourself (your own retry or TLS settings),
    /// with the default key prefix and an operation timeout of 2 s (the default connect plus
    /// response timeouts), enforced by a timer around every call since this store cannot see
    /// the manager's own timeouts. Change them with [`with_key_prefix`](Self::with_key_prefix)
    /// and [`with_operation_timeout`](Self::with_operation_timeout).
    pub fn from_connection_manager(manager: ConnectionManager) -> Self {
        Self::new(
            Connection::Single(manager),
            DEFAULT_KEY_PREFIX,
            Limit::Timer(DEFAULT_CONNECT_TIMEOUT + DEFAULT_RESPONSE_TIMEOUT),
        )
    }

    /// A store over a cluster connection you built yourself, with the default key prefix and
    /// an operation timeout of 2 s (see [`from_connection_manager`](Self::from_connection_manager)).
    #[cfg(feature = "cluster")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cluster")))]
    pub fn from_cluster_connection(connection: redis::cluster_async::ClusterConnection) -> Self {
        Self::new(
            Connection::Cluster(connection),
            DEFAULT_KEY_PREFIX,
            Limit::Timer(DEFAULT_CONNECT_TIMEOUT + DEFAULT_RESPONSE_TIMEOUT),
        )
    }

    /// The same store with another key prefix (see
    /// [`RedisConfig::key_prefix`](crate::RedisConfig::key_prefix)).
    #[must_use]
    pub fn with_key_prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The same store with a hard operation timeout: a timer armed around every call, so no
    /// operation takes longer than `timeout` whatever the connection's own settings, failing
    /// with [`Error::is_timeout`] instead. `None` leaves only the connection's own timeouts.
    ///
    /// Stores made by [`RedisConfig`](crate::RedisConfig) do not need this: the connect and
    /// response timeouts they configure already bound every operation to their sum, without a
    /// timer of ours on every call.
    #[must_use]
    pub fn with_operation_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.limit = match timeout {
            Some(d) => Limit::Timer(d),
            None => Limit::None,
        };
        self
    }

    /// The same store keeping each value exactly as the codec wrote it, without the version
    /// envelope: for values another program reads and writes too (Django's cache engine, with
    /// `sessionkit-django`). The store then cannot compare and set (a save replaces whatever
    /// is stored, as Django's does), and a load asks the server for the TTL too (`PTTL`,
    /// pipelined with the `GET`: still one round trip).
    #[must_use]
    pub fn with_plain_values(mut self, plain: bool) -> Self {
        self.plain = plain;
        self
    }

    /// Whether values are stored without the version envelope.
    pub fn plain_values(&self) -> bool {
        self.plain
    }

    /// The prefix put in front of every session key.
    pub fn key_prefix(&self) -> &str {
        &self.prefix
    }

    /// The longest any one operation may take (`None`: only what the connection enforces).
    pub fn operation_timeout(&self) -> Option<Duration> {
        self.limit.total()
    }

    /// Whether this store talks to a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        !matches!(self.conn, Connection::Single(_))
    }

    /// The name redis stores the session under: the prefix followed by the key.
    pub fn redis_key(&self, key: &SessionKey) -> String {
        let mut name = String::with_capacity(self.prefix.len() + key.as_str().len());
        name.push_str(&self.prefix);
        name.push_str(key.as_str());
        name
    }

    /// A command `name` on the session key, with room for `more` bytes of further arguments.
    fn command(&self, name: &'static str, key: &SessionKey, args: usize, more: usize) -> Cmd {
        let key = PrefixedKey {
            prefix: &self.prefix,
            key: key.as_str(),
        };
        let mut cmd = Cmd::with_capacity(
            1 + args,
            name.len() + self.prefix.len() + key.key.len() + more,
        );
        cmd.arg(name).arg(key);
        cmd
    }

    /// One `PING`, as `connect` sends it: a missing or wrong password, or a database the server
    /// does not have, fails here rather than at the first request.
    pub(crate) async fn verify(&self) -> Result<()> {
        let _: String = self.run(&redis::cmd("PING")).await?;
        Ok(())
    }

    /// Runs one request (a command or a pipeline) within the operation timeout and maps its
    /// errors.
    async fn run<'a, T: FromRedisValue>(&self, request: impl Into<Request<'a>>) -> Result<T> {
        let request = request.into();
        match self.limit {
            Limit::Timer(limit) => tokio::time::timeout(limit, self.query(request))
                .await
                .map_err(error::deadline)?,
            Limit::Connection(_) | Limit::None => self.query(request).await,
        }
    }

    /// Sends `request`; if it failed because the last connection attempt was refused (so the
    /// command never left this process), sends it once more on the connection that failure
    /// started, within what is left of the operation timeout. After a server restart this lets
    /// the first request succeed instead of reporting the refusal of an attempt made while the
    /// server was still down.
    async fn query<T: FromRedisValue>(&self, request: Request<'_>) -> Result<T> {
        let started = Instant::now();
        match self.conn.query(request).await {
            Ok(reply) => Ok(reply),
            Err(e) if e.is_connection_refusal() => {
                let again = self.conn.query(request);
                let reply = match self.limit.total() {
                    Some(limit) => {
                        let left = limit.saturating_sub(started.elapsed());
                        tokio::time::timeout(left, again)
                            .await
                            .map_err(error::deadline)?
                    }
                    None => again.await,
                };
                reply.map_err(error::map)
            }
            Err(e) => Err(error::map(e)),
        }
    }

    /// `SET k <version + record> <NX|XX> EX ttl`: whether the server stored the value (nil =
    /// the condition failed).
    async fn set(
        &self,
        key: &SessionKey,
        value: Enveloped<'_>,
        condition: &str,
        ttl: u64,
    ) -> Result<bool> {
        let room = ENVELOPE_LEN + value.record.len() + 2 + 2 + 20;
        let mut cmd = self.command("SET", key, 5, room);
        cmd.arg(value).arg(condition).arg("EX").arg(ttl);
        match self.run::<Value>(&cmd).await? {
            Value::Okay => Ok(true),
            Value::SimpleString(s) if s == "OK" => Ok(true),
            Value::Nil => Ok(false),
            _ => Err(error::unexpected("SET")),
        }
    }

    /// [`CAS_SCRIPT`] on `key`: 1 stored, 0 vanished, -1 conflict.
    async fn compare_and_set(
        &self,
        key: &SessionKey,
        expected: Version,
        value: Enveloped<'_>,
        ttl: u64,
    ) -> Result<i64> {
        let room = ENVELOPE_LEN + value.record.len() + 40;
        self.eval(&CAS, key, room, |cmd| {
            cmd.arg(&expected.get().to_be_bytes()[..])
                .arg(&value)
                .arg(ttl);
        })
        .await
    }

    /// `script` on `key` by its SHA-1 (`EVALSHA`), or by its text (`EVAL`, which also caches
    /// it) when the server does not know it yet (first use, restart, `SCRIPT FLUSH`, a
    /// failover to a replica that never saw it). `args` adds the `ARGV`s, which take about
    /// `room` bytes.
    async fn eval(
        &self,
        script: &ServerScript,
        key: &SessionKey,
        room: usize,
        args: impl Fn(&mut Cmd),
    ) -> Result<i64> {
        let room = room + self.prefix.len() + key.as_str().len() + script.text.len() + 20;
        let invocation = |by_text: bool| {
            let mut cmd = Cmd::with_capacity(7, room);
            if by_text {
                cmd.arg("EVAL").arg(script.text);
            } else {
                cmd.arg("EVALSHA").arg(script.sha());
            }
            cmd.arg(1).arg(PrefixedKey {
                prefix: &self.prefix,
                key: key.as_str(),
            });
            args(&mut cmd);
            cmd
        };
        match self.run::<i64>(&invocation(false)).await {
            Err(e) if error::is_noscript(&e) => self.run(&invocation(true)).await,
            other => other,
        }
    }

    /// What a write stored under `key`: `version`, or no version for a plain value.
    fn stored(&self, key: &SessionKey, version: Version) -> Stored {
        if self.plain {
            Stored::untracked(key.clone())
        } else {
            Stored::new(key.clone(), version)
        }
    }

    /// `DEL k`: how many keys were removed (0 or 1).
    async fn del(&self, key: &SessionKey) -> Result<u64> {
        self.run(&self.command("DEL", key, 1, 0)).await
    }
}

/// The expiry a `PTTL` reply means: `None` for -2 (the key is gone), the end of time for -1
/// (no TTL, which this store never writes), else now plus the whole seconds left.
fn expiry_from_pttl(ms: i64) -> Option<UnixTime> {
    match ms {
        -2 => None,
        -1 => Some(UnixTime::from_secs(i64::MAX)),
        ms => Some(UnixTime::now().add_secs(ms.div_euclid(1000))),
    }
}

/// A Lua script the store runs on the server, and its SHA-1 (computed once).
struct ServerScript {
    text: &'static str,
    sha: std::sync::OnceLock<String>,
}

impl ServerScript {
    const fn new(text: &'static str) -> Self {
        Self {
            text,
            sha: std::sync::OnceLock::new(),
        }
    }

    /// The SHA-1 in hex, as `EVALSHA` wants it.
    fn sha(&self) -> &str {
        self.sha
            .get_or_init(|| redis::Script::new(self.text).get_hash().to_owned())
    }
}

static CAS: ServerScript = ServerScript::new(CAS_SCRIPT);
static TOUCH: ServerScript = ServerScript::new(TOUCH_SCRIPT);

/// The time to live to send for `expires_at`, or `None` if the record is already expired.
fn ttl(expires_at: UnixTime) -> Option<u64> {
    expires_at
        .ttl_at(UnixTime::now())
        .map(|secs| secs.min(MAX_TTL_SECS))
}

/// `prefix` and `key` written as one command argument, without building a `String` first.
struct PrefixedKey<'a> {
    prefix: &'a str,
    key: &'a str,
}

/// A record behind its version envelope ([`Loaded::envelope`]) written as one command argument,
/// without building the value first.
struct Enveloped<'a> {
    version: Version,
    expires_at: UnixTime,
    record: &'a [u8],
    /// Write the record alone ([`RedisStore::with_plain_values`]).
    plain: bool,
}

impl ToRedisArgs for Enveloped<'_> {
    fn write_redis_args<W: ?Sized + RedisWrite>(&self, out: &mut W) {
        let mut arg = out.writer_for_next_arg();
        // The writer appends to a Vec, which cannot fail.
        if !self.plain {
            let _ = arg.write_all(&Loaded::envelope_header(self.version, self.expires_at));
        }
        let _ = arg.write_all(self.record);
    }
}

impl ToRedisArgs for PrefixedKey<'_> {
    fn write_redis_args<W: ?Sized + RedisWrite>(&self, out: &mut W) {
        let mut arg = out.writer_for_next_arg();
        // The writer appends to a Vec, which cannot fail.
        let _ = arg.write_all(self.prefix.as_bytes());
        let _ = arg.write_all(self.key.as_bytes());
    }
}

#[async_trait]
impl SessionStore for RedisStore {
    fn key_format(&self) -> KeyFormat {
        KeyFormat::Random
    }

    /// Versions live in the value's envelope; a conditional update is one `EVALSHA`.
    fn capabilities(&self) -> Capabilities {
        Capabilities::new().with_compare_and_set(!self.plain)
    }

    async fn load(&self, key: &SessionKey) -> Result<Option<Loaded>> {
        if self.plain {
            // No envelope, so no expiry in the value: ask for the TTL in the same round trip.
            let mut both = redis::pipe();
            both.add_command(self.command("GET", key, 1, 0))
                .add_command(self.command("PTTL", key, 1, 0));
            let (value, ms): (Option<Vec<u8>>, i64) = self.run(&both).await?;
            return Ok(value.and_then(|record| {
                let expires_at = expiry_from_pttl(ms)?;
                Some(Loaded::untracked(record, expires_at))
            }));
        }
        // The reply's bytes are moved out of the parsed value, not copied.
        let value: Option<Vec<u8>> = self.run(&self.command("GET", key, 1, 0)).await?;
        let Some(value) = value else {
            return Ok(None);
        };
        match Loaded::from_envelope(value) {
            Opened::Whole(loaded) => Ok(Some(loaded)),
            Opened::WithoutExpiry { record, version } => {
                // Written before expiries were kept in the value: ask the server.
                let ms: i64 = self.run(&self.command("PTTL", key, 1, 0)).await?;
                Ok(expiry_from_pttl(ms).map(|at| Loaded::new(record, version, at)))
            }
        }
    }

    async fn create(
        &self,
        key: &SessionKey,
        record: &[u8],
        expires_at: UnixTime,
    ) -> Result<Stored> {
        let Some(ttl) = ttl(expires_at) else {
            // Dead on arrival: store nothing, but still never hand out a key someone holds.
            let taken: u64 = self.run(&self.command("EXISTS", key, 1, 0)).await?;
            return if taken > 0 {
                Err(Error::collision(BACKEND))
            } else {
                Ok(Stored::untracked(key.clone()))
            };
        };
        let version = Version::fresh();
        let value = Enveloped {
            version,
            expires_at,
            record,
            plain: self.plain,
        };
        if self.set(key, value, "NX", ttl).await? {
            Ok(self.stored(key, version))
        } else {
            Err(Error::collision(BACKEND))
        }
    }

    async fn update(
        &self,
        key: &SessionKey,
        record: &[u8],
        expires_at: UnixTime,
        expected: Expected,
    ) -> Result<Stored> {
        let version = Version::fresh();
        let value = Enveloped {
            version,
            expires_at,
            record,
            plain: self.plain,
        };
        let outcome = match (ttl(expires_at), expected) {
            (Some(ttl), Expected::Any) => i64::from(self.set(key, value, "XX", ttl).await?),
            (Some(ttl), Expected::Version(old)) => {
                self.compare_and_set(key, old, value, ttl).await?
            }
            // Replacing a live record by an expired one removes it.
            (None, _) => i64::from(self.del(key).await? > 0),
        };
        match outcome {
            1 => Ok(self.stored(key, version)),
            0 => Err(Error::vanished(BACKEND)),
            -1 => Err(Error::conflict(BACKEND)),
            _ => Err(error::unexpected("EVALSHA")),
        }
    }

    async fn touch(&self, key: &SessionKey, expires_at: UnixTime) -> Result<()> {
        let live = match ttl(expires_at) {
            Some(ttl) => {
                let expiry = Loaded::envelope_expiry(expires_at);
                let touched = self
                    .eval(&TOUCH, key, 40, |cmd| {
                        cmd.arg(ttl).arg(&expiry[..]);
                    })
                    .await?;
                touched > 0
            }
            // Moving the expiry into the past ends the session now.
            None => self.del(key).await? > 0,
        };
        if live {
            Ok(())
        } else {
            Err(Error::vanished(BACKEND))
        }
    }

    async fn delete(&self, key: &SessionKey) -> Result<()> {
        self.del(key).await.map(drop)
    }

    async fn exists(&self, key: &SessionKey) -> Result<bool> {
        let n: u64 = self.run(&self.command("EXISTS", key, 1, 0)).await?;
        Ok(n > 0)
    }

    async fn clear_expired(&self) -> Result<u64> {
        Ok(0)
    }

    fn housekeeping(&self) -> Housekeeping {
        Housekeeping::ServerExpires
    }

    /// `INFO` (version, memory, evictions) and `DBSIZE`. In a cluster these go to one node,
    /// so the figures are that node's.
    async fn stats(&self) -> Result<StoreStats> {
        let mut stats = StoreStats::new(BACKEND);
        stats.housekeeping = Some(Housekeeping::ServerExpires);
        let info: String = self.run(&redis::cmd("INFO")).await?;
        let field = |name: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .map(str::trim)
        };
        let number = |name: &str| field(name).and_then(|v| v.parse::<u64>().ok());
        stats.server_version = field("redis_version").map(|v| format!("redis {v}"));
        stats.memory_bytes = number("used_memory");
        stats.memory_limit_bytes = number("maxmemory").filter(|m| *m > 0);
        stats.evictions = number("evicted_keys");
        if !self.is_cluster() {
            stats.items = Some(self.run(&redis::cmd("DBSIZE")).await?);
        }
        Ok(stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixed_key_is_one_argument() {
        let key = SessionKey::parse("abcdefgh12345678abcdefgh12345678", KeyFormat::Random)
            .expect("valid key");
        let mut cmd = Cmd::new();
        cmd.arg("GET").arg(PrefixedKey {
            prefix: "app:",
            key: key.as_str(),
        });
        let args: Vec<Vec<u8>> = cmd
            .args_iter()
            .map(|a| match a {
                redis::Arg::Simple(b) => b.to_vec(),
                _ => Vec::new(),
            })
            .collect();
        assert_eq!(
            args,
            vec![
                b"GET".to_vec(),
                b"app:abcdefgh12345678abcdefgh12345678".to_vec()
            ]
        );
    }

    #[test]
    fn ttl_is_none_when_expired_and_clamped_when_absurd() {
        let now = UnixTime::now();
        assert_eq!(ttl(now), None);
        assert_eq!(ttl(now.add_secs(-1)), None);
        assert_eq!(ttl(UnixTime::from_secs(i64::MAX)), Some(MAX_TTL_SECS));
        let t = ttl(now.add_secs(100)).expect("in the future");
        assert!((99..=100).contains(&t), "{t}");
    }
}
