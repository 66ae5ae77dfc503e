//! The shared conformance suite against encrypted cookies.

use sessionkit_cookie::{CookieConfig, CookieStore, Protection};

sessionkit_conformance::client_side_suite!(async {
    CookieStore::new(
        CookieConfig::new("conformance-encrypted-secret-0123456789abcdef")
            .with_protection(Protection::Encrypted),
    )
    .expect("a valid configuration")
});
