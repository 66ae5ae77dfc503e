//! The shared conformance suite against three memcached servers, keys spread by rendezvous
//! hashing: `SESSIONKIT_MEMCACHED_URLS` must list three, or three throwaway servers are started
//! per test when it is unset.

mod common;

sessionkit_conformance::suite!(async { common::store(3).await });
