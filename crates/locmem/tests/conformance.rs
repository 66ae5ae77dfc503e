//! The shared behaviour every sessionkit back end must show, run against the in-process store.

sessionkit_conformance::suite!(async {
    sessionkit_locmem::LocMemStore::new(sessionkit_locmem::LocMemConfig::new())
});
