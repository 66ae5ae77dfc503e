//! The formats against a real Django ([`DJANGO_VERSION`] from PyPI, in a virtualenv the testkit
//! makes): Django writes, sessionkit reads it equal; sessionkit writes, Django reads it equal;
//! tampering and key rotation behave the same on both sides; and the JSON is the same bytes.
//!
//! [`DJANGO_VERSION`]: sessionkit_testkit::DJANGO_VERSION

mod common;

use serde_json::{json, Value};
use sessionkit_core::{Expiry, UnixTime};
use sessionkit_django::json::write_object;
use sessionkit_django::session::{
    from_session_json, session_json, SessionData, EXPIRY_KEY, SIGNED_COOKIES_SALT,
};
use sessionkit_django::signing::Signer;

use common::{data_of, payload};

const SECRET: &str = "a django secret key for the sessionkit interop tests";
/// Django's SESSION_COOKIE_AGE default.
const COOKIE_AGE: i64 = 1_209_600;

/// One request to the format peer: its answer.
fn django(request: Value) -> Value {
    common::django(&request)
}

fn object_of(data: &sessionkit_core::Data) -> Value {
    common::object_of(data.iter())
}

#[test]
fn django_writes_session_data_sessionkit_reads_it_equal() {
    let answer = django(json!({
        "op": "encode", "secret": SECRET, "data": payload(), "expiry": {"timedelta": 3600}
    }));
    let (data, expiry) = SessionData::new(SECRET.as_bytes(), [])
        .decode(answer["value"].as_str().unwrap())
        .expect("sessionkit reads what Django wrote");
    assert_eq!(object_of(&data), payload());
    // Django turned the timedelta into a fixed time when it was set.
    let Expiry::At(at) = expiry else {
        panic!("a timedelta is a fixed expiry: {expiry:?}")
    };
    let lead = at.secs_after(UnixTime::now());
    assert!((3590..=3600).contains(&lead), "{lead}");
    assert!(answer["session"][EXPIRY_KEY].is_string());
}

#[test]
fn sessionkit_writes_session_data_django_reads_it_equal() {
    let format = SessionData::new(SECRET.as_bytes(), []);
    for (expiry, django_expiry) in [
        (Expiry::AfterInactivity(600), json!(600)),
        (Expiry::AtBrowserClose, json!(0)),
        (
            Expiry::At(UnixTime::from_secs(1_893_553_445)),
            json!("2030-01-02T03:04:05+00:00"),
        ),
    ] {
        let value = format.encode_at(&data_of(&payload()), expiry, UnixTime::now());
        let answer = django(json!({"op": "decode", "secret": SECRET, "value": value}));
        let mut expected = payload();
        expected[EXPIRY_KEY] = django_expiry;
        assert_eq!(answer["session"], expected, "{expiry:?}");
    }
}

#[test]
fn tampered_or_foreign_session_data_is_no_session_on_both_sides() {
    let format = SessionData::new(SECRET.as_bytes(), []);
    let ours = format.encode_at(&data_of(&payload()), Expiry::Default, UnixTime::now());
    let flipped = {
        let mut b = ours.clone().into_bytes();
        b[5] = if b[5] == b'A' { b'B' } else { b'A' };
        String::from_utf8(b).unwrap()
    };
    let answer = django(json!({"op": "decode", "secret": SECRET, "value": flipped}));
    assert_eq!(
        answer["session"],
        json!({}),
        "Django refuses our tampered value"
    );
    let other = django(json!({"op": "decode", "secret": "another secret entirely", "value": ours}));
    assert_eq!(
        other["session"],
        json!({}),
        "Django with another key refuses it"
    );

    let theirs = django(json!({"op": "encode", "secret": SECRET, "data": payload()}))["value"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(format.decode(&theirs.replacen(':', "x:", 1)).is_err());
    assert!(SessionData::new(b"another secret entirely", [])
        .decode(&theirs)
        .is_err());
}

#[test]
fn secret_key_fallbacks_rotate_on_both_sides() {
    let (old, new) = ("the old secret key of this deployment", SECRET);
    // Before the rotation sessionkit signs with the old key; Django, rotated, still reads it.
    let before = SessionData::new(old.as_bytes(), []).encode_at(
        &data_of(&payload()),
        Expiry::Default,
        UnixTime::now(),
    );
    let answer =
        django(json!({"op": "decode", "secret": new, "fallbacks": [old], "value": before}));
    assert_eq!(answer["session"], payload());
    // Django, rotated, signs with the new key; sessionkit rotated reads it, not rotated it
    // does not.
    let after =
        django(json!({"op": "encode", "secret": new, "fallbacks": [old], "data": payload()}))
            ["value"]
            .as_str()
            .unwrap()
            .to_owned();
    assert!(SessionData::new(new.as_bytes(), [old.as_bytes()])
        .decode(&after)
        .is_ok());
    assert!(SessionData::new(old.as_bytes(), []).decode(&after).is_err());
}

#[test]
fn signed_cookies_travel_both_ways() {
    let signer = Signer::new(SIGNED_COOKIES_SALT, SECRET.as_bytes(), []);
    // Django's cookie, read by sessionkit with Django's max age.
    let answer = django(json!({
        "op": "cookie_save", "secret": SECRET, "data": payload(), "expiry": {"seconds": 900}
    }));
    let cookie = answer["value"].as_str().unwrap();
    let (bytes, signed_at) = signer
        .loads_at(cookie, Some(COOKIE_AGE), UnixTime::now())
        .expect("sessionkit reads Django's cookie");
    assert!(signed_at.secs_after(UnixTime::now()).abs() <= 5);
    let (data, expiry) = from_session_json(&bytes).unwrap();
    assert_eq!(object_of(&data), payload());
    assert_eq!(expiry, Expiry::AfterInactivity(900));
    // The same cookie past the max age is no session for sessionkit, as for Django.
    assert!(signer
        .loads_at(
            cookie,
            Some(COOKIE_AGE),
            UnixTime::now().add_secs(COOKIE_AGE + 10)
        )
        .is_err());

    // sessionkit's cookie, read by Django.
    let json = session_json(&data_of(&payload()), Expiry::AfterInactivity(900));
    let ours = signer.dumps_at(json.as_bytes(), true, UnixTime::now());
    let answer = django(json!({"op": "cookie_load", "secret": SECRET, "value": ours}));
    let mut expected = payload();
    expected[EXPIRY_KEY] = json!(900);
    assert_eq!(answer["session"], expected);
    assert_eq!(answer["expiry_age"], json!(900));
    // Tampered: an empty session for Django.
    let tampered = ours.replacen('e', "f", 1);
    let answer = django(json!({"op": "cookie_load", "secret": SECRET, "value": tampered}));
    assert_eq!(answer["session"], json!({}));
}

#[test]
fn the_json_is_the_bytes_django_writes() {
    let mut ours = String::new();
    let data = data_of(&payload());
    let entries: Vec<(String, Value)> = data
        .iter()
        .map(|(k, v)| (k.to_owned(), v.clone()))
        .collect();
    write_object(entries.iter().map(|(k, v)| (k, v)), &mut ours);
    let theirs = django(json!({"op": "json", "secret": SECRET, "data": payload()}));
    assert_eq!(theirs["bytes"].as_str().unwrap(), ours);
    assert!(ours.is_ascii());
}
