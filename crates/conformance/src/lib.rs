//! The behaviour every sessionkit back end must show, written once.
//!
//! Each behaviour is one `pub async fn` in [`behaviours`] taking a [`Harness`] (the store under
//! test). The [`suite!`] macro turns the whole list into one
//! `#[tokio::test]` per behaviour, so a back end runs everything with one line and a failure
//! names the behaviour:
//!
//! ```ignore
//! // crates/<backend>/tests/conformance.rs
//! sessionkit_conformance::suite!(async { my_backend::Store::new(/* unique prefix per call */) });
//! ```
//!
//! The expression is evaluated once per test, so it must produce a store that does not share
//! records with other tests (its own key prefix, table or database), or tests may see each
//! other's sessions. Back ends need `tokio` (features `macros`, `rt-multi-thread`) as a
//! dev-dependency.
//!
//! The behaviours are Django 5.2's `SessionTestsMixin` (every one of its 65 tests that applies
//! to an async Rust API; the sync/async twins collapse into one) plus what Django lacks:
//! atomic create and update, expiry that is never served, corrupted bytes, concurrency, and
//! hostile keys. Behaviours that only make sense for a store that keeps sessions on the server
//! (revocation, collisions, vanished records, compare-and-set) are registered by [`suite!`] and
//! not by [`client_side_suite!`], the cookie store's. The behaviours of the session API that
//! never reach a store (typed access, flags, expiry arithmetic) are `sessionkit-core`'s own
//! tests.
//!
//! ```ignore
//! // crates/cookie/tests/conformance.rs
//! sessionkit_conformance::client_side_suite!(async { CookieStore::new(config()).unwrap() });
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use sessionkit_core::{
    Capabilities, Expected, Housekeeping, KeyFormat, Loaded, Result, SessionConfig, SessionKey,
    SessionStore, Sessions, StoreStats, Stored, UnixTime,
};

pub mod behaviours;
mod conflicts;
mod contract;
#[cfg(feature = "http")]
pub mod http;
pub mod outage;
pub mod soak;
mod warnings;

pub use warnings::WarningCounter;

/// The store under test. What it can do comes from the store itself
/// ([`SessionStore::capabilities`], [`SessionStore::housekeeping`]), never from the test file.
#[derive(Debug, Clone)]
pub struct Harness {
    /// The store under test.
    pub store: Arc<dyn SessionStore>,
}

impl Harness {
    /// Wraps a store.
    pub fn new(store: impl SessionStore) -> Self {
        Self {
            store: Arc::new(store),
        }
    }

    /// Whether `clear_expired` reports what it removed: not for stores whose server expires
    /// records by itself (redis, memcached) or that keep nothing (cookies), which return 0.
    pub fn clear_expired_counts(&self) -> bool {
        matches!(
            self.store.housekeeping(),
            Housekeeping::ClearExpired | Housekeeping::InProcess
        )
    }

    /// The stored bytes under `key` (without their version), as the store returns them.
    pub async fn bytes(&self, key: &SessionKey) -> Option<Vec<u8>> {
        stored(&*self.store, key).await
    }

    /// Whether the store compares and sets ([`Capabilities::compare_and_set`]).
    pub fn compare_and_set(&self) -> bool {
        self.store.capabilities().compare_and_set
    }

    /// Sessions over the store with Django's default settings.
    pub fn sessions(&self) -> Sessions {
        self.sessions_with(SessionConfig::default())
    }

    /// Sessions over the store with `config`.
    pub fn sessions_with(&self, config: SessionConfig) -> Sessions {
        Sessions::from_arc(self.store.clone(), config)
    }

    /// Whether the store keeps sessions on the server.
    pub fn server_side(&self) -> bool {
        self.store.key_format().is_server_side()
    }
}

/// Runs every behaviour in [`behaviours`] as its own `#[tokio::test]`, for a store that keeps
/// sessions on the server ([`KeyFormat::Random`]): the behaviours of every store and those of
/// server-side stores (delete, expiry, collisions, compare-and-set). A store that turns out to
/// keep sessions in the client fails every test, naming [`client_side_suite!`].
///
/// `suite!(store_future)`, where `store_future` is an expression (usually an `async { ... }`
/// block) evaluated anew in each test that yields the store under test.
#[macro_export]
macro_rules! suite {
    ($make:expr) => {
        $crate::__for_each_behaviour!($crate::__emit_server_side_test, $make);
        $crate::__for_each_server_side_behaviour!($crate::__emit_server_side_test, $make);
    };
}

/// Runs the behaviours of every store, and only those, for a store that keeps sessions in the
/// client (the cookie store, [`KeyFormat::Token`]): what needs a server (revocation, collisions,
/// compare-and-set) is not registered at all, rather than passing without checking anything. A
/// store that turns out to be server-side fails every test, naming [`suite!`].
#[macro_export]
macro_rules! client_side_suite {
    ($make:expr) => {
        $crate::__for_each_behaviour!($crate::__emit_client_side_test, $make);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __emit_server_side_test {
    ($make:expr; $($name:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let harness = $crate::Harness::new($make.await);
                assert!(
                    harness.server_side(),
                    "suite! is for server-side stores; use client_side_suite! for this one"
                );
                $crate::behaviours::$name(harness).await;
            }
        )*
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __emit_client_side_test {
    ($make:expr; $($name:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let harness = $crate::Harness::new($make.await);
                assert!(
                    !harness.server_side(),
                    "client_side_suite! is for client-side stores; use suite! for this one"
                );
                $crate::behaviours::$name(harness).await;
            }
        )*
    };
}

/// The bytes `store` holds under `key` (without their version), for tests; panics if the
/// store fails.
pub async fn stored<S: SessionStore + ?Sized>(store: &S, key: &SessionKey) -> Option<Vec<u8>> {
    store.load(key).await.expect("load").map(|l| l.record)
}

/// A store that keeps something alive as long as it lives — typically the throwaway server it
/// talks to — and otherwise is the store it wraps, unchanged.
#[derive(Debug)]
pub struct Guarded<S, G> {
    /// The store under test.
    pub store: S,
    _guard: std::sync::Mutex<G>,
}

impl<S, G> Guarded<S, G> {
    /// Wraps `store`, keeping `guard` until the wrapper is dropped. (The guard sits behind a
    /// mutex only so that a `Send`-only handle still makes a `Sync` store.)
    pub fn new(store: S, guard: G) -> Self {
        Self {
            store,
            _guard: std::sync::Mutex::new(guard),
        }
    }
}

#[async_trait]
impl<S: SessionStore, G: std::fmt::Debug + Send + 'static> SessionStore for Guarded<S, G> {
    fn key_format(&self) -> KeyFormat {
        self.store.key_format()
    }
    fn capabilities(&self) -> Capabilities {
        self.store.capabilities()
    }
    async fn load(&self, key: &SessionKey) -> Result<Option<Loaded>> {
        self.store.load(key).await
    }
    async fn create(
        &self,
        key: &SessionKey,
        record: &[u8],
        expires_at: UnixTime,
    ) -> Result<Stored> {
        self.store.create(key, record, expires_at).await
    }
    async fn update(
        &self,
        key: &SessionKey,
        record: &[u8],
        expires_at: UnixTime,
        expected: Expected,
    ) -> Result<Stored> {
        self.store.update(key, record, expires_at, expected).await
    }
    async fn touch(&self, key: &SessionKey, expires_at: UnixTime) -> Result<()> {
        self.store.touch(key, expires_at).await
    }
    async fn delete(&self, key: &SessionKey) -> Result<()> {
        self.store.delete(key).await
    }
    async fn exists(&self, key: &SessionKey) -> Result<bool> {
        self.store.exists(key).await
    }
    async fn clear_expired(&self) -> Result<u64> {
        self.store.clear_expired().await
    }
    async fn clear_expired_batch(&self, max: u64) -> Result<u64> {
        self.store.clear_expired_batch(max).await
    }
    fn housekeeping(&self) -> Housekeeping {
        self.store.housekeeping()
    }
    async fn stats(&self) -> Result<StoreStats> {
        self.store.stats().await
    }
}

/// A store wrapper that counts every call reaching the inner store: used to prove that
/// malformed keys never reach a back end.
#[derive(Debug)]
pub struct Recording {
    inner: Arc<dyn SessionStore>,
    calls: AtomicUsize,
    /// Updates made inside [`Recording::marked`].
    marked: AtomicUsize,
}

tokio::task_local! {
    static MARKED: ();
}

impl Recording {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn SessionStore>) -> Self {
        Self {
            inner,
            calls: AtomicUsize::new(0),
            marked: AtomicUsize::new(0),
        }
    }

    /// Runs `work`, counting the updates it makes apart ([`marked_updates`](Self::marked_updates)):
    /// one task's share of the calls while others use the store too.
    pub async fn marked<F: std::future::Future>(work: F) -> F::Output {
        MARKED.scope((), work).await
    }

    /// How many updates were made inside [`marked`](Self::marked).
    pub fn marked_updates(&self) -> usize {
        self.marked.load(Ordering::SeqCst)
    }

    /// How many calls reached the inner store.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn count(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl SessionStore for Recording {
    fn key_format(&self) -> KeyFormat {
        self.inner.key_format()
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn load(&self, key: &SessionKey) -> Result<Option<Loaded>> {
        self.count();
        self.inner.load(key).await
    }
    async fn create(
        &self,
        key: &SessionKey,
        record: &[u8],
        expires_at: UnixTime,
    ) -> Result<Stored> {
        self.count();
        self.inner.create(key, record, expires_at).await
    }
    async fn update(
        &self,
        key: &SessionKey,
        record: &[u8],
        expires_at: UnixTime,
        expected: Expected,
    ) -> Result<Stored> {
        self.count();
        if MARKED.try_with(|_| ()).is_ok() {
            self.marked.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.update(key, record, expires_at, expected).await
    }
    async fn touch(&self, key: &SessionKey, expires_at: UnixTime) -> Result<()> {
        self.count();
        self.inner.touch(key, expires_at).await
    }
    async fn delete(&self, key: &SessionKey) -> Result<()> {
        self.count();
        self.inner.delete(key).await
    }
    async fn exists(&self, key: &SessionKey) -> Result<bool> {
        self.count();
        self.inner.exists(key).await
    }
    async fn clear_expired(&self) -> Result<u64> {
        self.count();
        self.inner.clear_expired().await
    }
    async fn clear_expired_batch(&self, max: u64) -> Result<u64> {
        self.count();
        self.inner.clear_expired_batch(max).await
    }
    fn housekeeping(&self) -> Housekeeping {
        self.inner.housekeeping()
    }
    async fn stats(&self) -> Result<StoreStats> {
        self.count();
        self.inner.stats().await
    }
}
