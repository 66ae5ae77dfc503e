//! The whole conformance suite against a Redis Cluster: `SESSIONKIT_REDIS_CLUSTER_URLS`
//! (comma-separated node URLs), or a throwaway three-master cluster started with the testkit.
//! Every test gets its own key prefix.

mod common;

sessionkit_conformance::suite!(common::cluster_store());
