//! A session's own expiry setting (Django's `set_expiry`).

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::UnixTime;

/// When a session expires, as set by [`Session::set_expiry`](crate::Session::set_expiry).
///
/// | Django `set_expiry(v)` | here |
/// |---|---|
/// | `None` | [`Expiry::Default`] |
/// | `0` | [`Expiry::AtBrowserClose`] (or [`Expiry::from_secs(0)`](Expiry::from_secs)) |
/// | `int` N | [`Expiry::AfterInactivity`]`(N)` — N may be negative: already expired when saved |
/// | `datetime` | [`Expiry::At`] ([`Expiry::at`]) |
/// | `timedelta` d | [`Expiry::At`]`(now + d)`: Django turns it into a fixed time when it is set ([`Expiry::after`] is sliding, like an `int`) |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expiry {
    /// Follow the configuration: `cookie_age` on the server, and
    /// `expire_at_browser_close` for the cookie.
    #[default]
    Default,
    /// The cookie lasts until the browser closes; the server keeps the record for `cookie_age`.
    AtBrowserClose,
    /// Expires this many seconds after the last save (sliding).
    AfterInactivity(i64),
    /// Expires at a fixed time.
    At(UnixTime),
}

impl Expiry {
    /// Django's integer form: `0` is [`AtBrowserClose`](Expiry::AtBrowserClose), anything else
    /// [`AfterInactivity`](Expiry::AfterInactivity).
    pub fn from_secs(secs: i64) -> Self {
        if secs == 0 {
            Expiry::AtBrowserClose
        } else {
            Expiry::AfterInactivity(secs)
        }
    }

    /// Expires `d` after the last save (sliding, like Django's integer; Django's `timedelta` is
    /// a fixed time: `Expiry::At(now.add_secs(d))`); whole seconds, saturating.
    pub fn after(d: Duration) -> Self {
        Expiry::AfterInactivity(i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    }

    /// Expires at `t` (rounded down to the second).
    pub fn at(t: SystemTime) -> Self {
        Expiry::At(UnixTime::from_system_time(t))
    }
}
