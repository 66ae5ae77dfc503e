//! A full store says how many live sessions it evicted, on the `sessionkit::locmem` target.

use std::sync::{Arc, Mutex};

use sessionkit_core::{SessionKey, SessionStore, UnixTime};
use sessionkit_locmem::{LocMemConfig, LocMemStore};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// Collects the `evicted` field of every WARN event on `sessionkit::locmem`.
struct Evictions(Arc<Mutex<Vec<u64>>>);

struct EvictedField(Option<u64>);

impl Visit for EvictedField {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "evicted" {
            self.0 = Some(value);
        }
    }
    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

impl Subscriber for Evictions {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target() == "sessionkit::locmem" && *metadata.level() == Level::WARN
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut field = EvictedField(None);
        event.record(&mut field);
        self.0.lock().unwrap().push(
            field
                .0
                .expect("eviction warning without an `evicted` field"),
        );
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[tokio::test(flavor = "current_thread")]
async fn evictions_are_logged_with_their_count() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let _guard = tracing::subscriber::set_default(Evictions(seen.clone()));
    let store = LocMemStore::new(LocMemConfig::new().with_max_entries(10));
    let exp = UnixTime::now().add_secs(600);
    for _ in 0..10 {
        store
            .create(&SessionKey::generate(), b"r", exp)
            .await
            .unwrap();
    }
    assert!(
        seen.lock().unwrap().is_empty(),
        "warned before anything was evicted"
    );

    store
        .create(&SessionKey::generate(), b"r", exp)
        .await
        .unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [1],
        "the first eviction is reported at once"
    );

    // Further evictions are reported at most once a second, with the count since the last
    // warning, so the reported counts never exceed what was evicted.
    for _ in 0..20 {
        store
            .create(&SessionKey::generate(), b"r", exp)
            .await
            .unwrap();
    }
    assert_eq!(store.evicted(), 21);
    let reported: u64 = seen.lock().unwrap().iter().sum();
    assert!((1..=21).contains(&reported), "{reported}");
}
