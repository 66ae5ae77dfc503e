//! The shared conformance suite against one memcached server: the first entry of
//! `SESSIONKIT_MEMCACHED_URLS`, or a throwaway server per test when it is unset.

mod common;

sessionkit_conformance::suite!(async { common::store(1).await });
