//! Counting the security warnings sessionkit logs, to assert that corrupted data is reported.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::DefaultGuard;
use tracing::{Event, Level, Metadata, Subscriber};

/// A tracing subscriber, installed for the current thread, that counts WARN events logged on the
/// `sessionkit::security` target (Django logs "Session data corrupted" on
/// `django.security.SuspiciousSession`).
#[derive(Debug)]
pub struct WarningCounter {
    count: Arc<AtomicUsize>,
    _guard: DefaultGuard,
}

impl WarningCounter {
    /// Starts counting on this thread until dropped.
    pub fn install() -> Self {
        let count = Arc::new(AtomicUsize::new(0));
        let guard = tracing::subscriber::set_default(Counter(count.clone()));
        Self {
            count,
            _guard: guard,
        }
    }

    /// Security warnings seen so far.
    pub fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}

struct Counter(Arc<AtomicUsize>);

impl Subscriber for Counter {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target() == "sessionkit::security" && *metadata.level() <= Level::WARN
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        if self.enabled(event.metadata()) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}
