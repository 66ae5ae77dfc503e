//! The shared conformance suite against signed cookies (the default protection).

use sessionkit_cookie::{CookieConfig, CookieStore};

sessionkit_conformance::client_side_suite!(async {
    CookieStore::new(CookieConfig::new(
        "conformance-signed-secret-0123456789abcdef",
    ))
    .expect("a valid configuration")
});
