//! What the tests against a real Django share: the Django peer script and a login-shaped
//! session.

#![allow(dead_code, unreachable_pub)]

use std::io::Write as _;
use std::process::{Command, Stdio};

use serde_json::{json, Value};
use sessionkit_core::Data;
use sessionkit_testkit::{django_python, DJANGO_VERSION};

/// The Django peer: the formats, and Django's engines on the matrix's servers.
const PEER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/django_peer.py");

/// One request to the Django peer: its answer.
pub fn django(request: &Value) -> Value {
    let python = django_python()
        .unwrap_or_else(|e| panic!("no Django {DJANGO_VERSION} for the interop tests: {e}"));
    let mut child = Command::new(python)
        .arg(PEER)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the Django peer");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the Django peer failed on {request}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the peer answers JSON")
}

/// A login-shaped session: non-ASCII text, nested objects (keys in sorted order, as
/// `serde_json` keeps them), lists, numbers, a float, booleans, null.
pub fn payload() -> Value {
    json!({
        "_auth_user_id": "42",
        "_auth_user_backend": "openstack_auth.backend.KeystoneBackend",
        "_auth_user_hash": "586ff4feba90de7b3a3d30ab458792e32e1f5050ed0ac562fe7f7018c535c498",
        "user_name": "Zoë Ångström ☕ 😀",
        "token": {"expires": "2030-01-02T03:04:05Z", "id": "gAAAA", "roles": ["admin", "member"]},
        "horizon_pagesize": 20,
        "quota": 2.5,
        "big": 1_180_591_620_717_411_303_424u128 as f64,
        "is_admin": true,
        "region": null,
        "services_region": "RegionOne"
    })
}

/// `v`'s entries as session values.
pub fn data_of(v: &Value) -> Data {
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Session values as one JSON object (key order does not matter when compared).
pub fn object_of<'a>(entries: impl IntoIterator<Item = (&'a str, &'a Value)>) -> Value {
    Value::Object(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.clone()))
            .collect(),
    )
}
