//! The response decision of Django's `SessionMiddleware.process_response`, as one pure
//! function: [`decide`].

/// What the request did with its session, captured when the response is ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Outcome {
    /// The request carried the session cookie (whatever its value).
    pub had_cookie: bool,
    /// The handler read or changed the session.
    pub accessed: bool,
    /// The handler changed the session.
    pub modified: bool,
    /// Django's `is_empty()`: the session has no key and no values. A session the handler
    /// never loaded is empty only if the cookie was absent or malformed (no load needed to
    /// know).
    pub empty: bool,
    /// The cookie should end with the browser session (no `Max-Age`, no `Expires`).
    pub expire_at_browser_close: bool,
    /// Seconds until the session expires, from now.
    pub expiry_age: i64,
}

/// How a session that must be saved is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Write {
    /// The session changed: store the whole record.
    Full,
    /// Unchanged, renewed only because of `SESSION_SAVE_EVERY_REQUEST`: move the stored expiry
    /// forward ([`Session::touch`](sessionkit_core::Session::touch)), without rewriting it.
    Touch,
}

/// What the middleware does with the cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Nothing: no save, no cookie.
    Nothing,
    /// The request had a cookie and the session is empty (logged out, or the cookie named
    /// nothing): send the deletion cookie.
    DeleteCookie,
    /// Save the session, then set the cookie to its key.
    SaveAndSetCookie {
        /// How to write it.
        write: Write,
        /// The cookie's `Max-Age` in seconds (and `Expires` that far from now); `None` for a
        /// cookie that ends with the browser session.
        max_age: Option<i64>,
    },
}

/// [`decide`]'s answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Decision {
    /// What to do with the session and the cookie.
    pub action: Action,
    /// Whether the response depends on the cookie, so caches must key on it: append
    /// `Cookie` to `Vary`.
    pub vary_cookie: bool,
}

/// Django 5.2's `SessionMiddleware.process_response` decision (the table of the reference's
/// §3), including the CVE-2026-35192 fix (a cookie set only because of
/// `SESSION_SAVE_EVERY_REQUEST` gets `Vary: Cookie` too) and "any status ≥ 500 skips the save".
///
/// | cookie on the request | empty | modified or save every request | status | action | `Vary: Cookie` |
/// |---|---|---|---|---|---|
/// | yes | yes | any | any | delete the cookie | yes |
/// | any | no | yes | < 500 | save, then set the cookie | yes |
/// | any | no | yes | ≥ 500 | nothing | if accessed |
/// | any | any | no | any | nothing | if accessed |
/// | no | yes | any | any | nothing | if accessed |
pub fn decide(outcome: &Outcome, status: u16, save_every_request: bool) -> Decision {
    if outcome.had_cookie && outcome.empty {
        return Decision {
            action: Action::DeleteCookie,
            vary_cookie: true,
        };
    }
    let renew = outcome.modified || save_every_request;
    if renew && !outcome.empty && status < 500 {
        return Decision {
            action: Action::SaveAndSetCookie {
                write: if outcome.modified {
                    Write::Full
                } else {
                    Write::Touch
                },
                max_age: (!outcome.expire_at_browser_close).then_some(outcome.expiry_age),
            },
            vary_cookie: true,
        };
    }
    Decision {
        action: Action::Nothing,
        vary_cookie: outcome.accessed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Django's `process_response`, transcribed line by line from the reference (§3) with its
    /// nesting kept, as the oracle for every combination.
    fn django(o: &Outcome, status: u16, save_every_request: bool) -> Decision {
        let mut action = Action::Nothing;
        let need_vary_cookie;
        if o.had_cookie && o.empty {
            action = Action::DeleteCookie;
            need_vary_cookie = true;
        } else {
            let mut vary = o.accessed;
            if (o.modified || save_every_request) && !o.empty {
                let max_age = if o.expire_at_browser_close {
                    None
                } else {
                    Some(o.expiry_age)
                };
                if status < 500 {
                    let write = if o.modified {
                        Write::Full
                    } else {
                        Write::Touch
                    };
                    action = Action::SaveAndSetCookie { write, max_age };
                    vary = true;
                }
            }
            need_vary_cookie = vary;
        }
        Decision {
            action,
            vary_cookie: need_vary_cookie,
        }
    }

    #[test]
    fn every_combination_matches_django() {
        let mut seen = 0;
        for bits in 0u32..64 {
            let bit = |i: u32| bits & (1 << i) != 0;
            for age in [-10, 0, 1_209_600] {
                let o = Outcome {
                    had_cookie: bit(0),
                    accessed: bit(1),
                    modified: bit(2),
                    empty: bit(3),
                    expire_at_browser_close: bit(4),
                    expiry_age: age,
                };
                for status in [100, 200, 302, 404, 499, 500, 503, 599] {
                    let every = bit(5);
                    assert_eq!(
                        decide(&o, status, every),
                        django(&o, status, every),
                        "{o:?} status {status} save_every_request {every}"
                    );
                    seen += 1;
                }
            }
        }
        assert_eq!(seen, 64 * 3 * 8);
    }

    #[test]
    fn the_five_rows_of_the_table() {
        let base = Outcome {
            expiry_age: 1_209_600,
            ..Outcome::default()
        };
        // Cookie present, session empty (logout): delete, Vary.
        let logout = Outcome {
            had_cookie: true,
            empty: true,
            ..base
        };
        assert_eq!(decide(&logout, 200, false).action, Action::DeleteCookie);
        assert!(decide(&logout, 500, false).vary_cookie);
        // Modified, not empty, < 500: save and set, Vary.
        let changed = Outcome {
            accessed: true,
            modified: true,
            ..base
        };
        assert_eq!(
            decide(&changed, 200, false),
            Decision {
                action: Action::SaveAndSetCookie {
                    write: Write::Full,
                    max_age: Some(1_209_600)
                },
                vary_cookie: true
            }
        );
        // The same with 5xx: nothing saved; Vary because it was accessed.
        for status in [500, 502, 503] {
            assert_eq!(
                decide(&changed, status, false),
                Decision {
                    action: Action::Nothing,
                    vary_cookie: true
                }
            );
        }
        // Untouched: nothing, no Vary.
        let untouched = Outcome {
            had_cookie: true,
            ..base
        };
        assert_eq!(
            decide(&untouched, 200, false),
            Decision {
                action: Action::Nothing,
                vary_cookie: false
            }
        );
        // No cookie, empty, even if "modified" (a flush of a new session): nothing is
        // created; Vary if accessed.
        let flushed_new = Outcome {
            accessed: true,
            modified: true,
            empty: true,
            ..base
        };
        assert_eq!(
            decide(&flushed_new, 200, false),
            Decision {
                action: Action::Nothing,
                vary_cookie: true
            }
        );
        // CVE-2026-35192: renewed only by SAVE_EVERY_REQUEST, untouched by the handler: the
        // cookie is set and Vary is added; the write is a touch.
        assert_eq!(
            decide(&untouched, 200, true),
            Decision {
                action: Action::SaveAndSetCookie {
                    write: Write::Touch,
                    max_age: Some(1_209_600)
                },
                vary_cookie: true
            }
        );
        // Browser-close sessions have no Max-Age.
        let browser = Outcome {
            expire_at_browser_close: true,
            ..changed
        };
        assert_eq!(
            decide(&browser, 200, false).action,
            Action::SaveAndSetCookie {
                write: Write::Full,
                max_age: None
            }
        );
    }
}
