//! [`TowerSessionsStore`]: any sessionkit back end as a tower-sessions store, for applications
//! already built on tower-sessions (and axum-login on top of it).

use std::collections::HashMap;

use sessionkit_core::{
    Error, Expected, Expiry, Record as SkRecord, SessionKey, SessionStore as _, Sessions, UnixTime,
};
use time::OffsetDateTime;
use tower_sessions_core_014::session::{Id, Record};
use tower_sessions_core_014::session_store::{self, SessionStore};

/// How many fresh ids a create tries before giving up (a collision of 128-bit ids means a
/// broken store, as in sessionkit's own create).
const CREATE_ATTEMPTS: usize = 10;

/// A tower-sessions (0.14, the version axum-login and the tower-sessions store crates use)
/// `SessionStore` over any server-side sessionkit back end: memcached, redis and Redis Cluster,
/// the databases, cached-db, locmem. An application on tower-sessions switches by changing
/// the store it gives `SessionManagerLayer::new`:
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use axum_login::tower_sessions::SessionManagerLayer;
/// use sessionkit_tower::TowerSessionsStore;
///
/// let sessions = sessionkit::connect("memcached://10.0.0.1,10.0.0.2").await?;
/// let layer = SessionManagerLayer::new(TowerSessionsStore::new(sessions)?);
/// # let _ = layer; Ok(()) }
/// ```
///
/// What the store keeps is a sessionkit record (its codec, its expiry), under a sessionkit key
/// made from the tower-sessions id (the id in base 36, 32 characters), so sessionkit's own
/// rules hold: a create never overwrites (a taken id is drawn again), expired records are
/// never served, hostile ids never reach the server. tower-sessions' `save` is an upsert: a
/// session deleted meanwhile is written again, as with its own stores. Cookie sessions cannot
/// be used (tower-sessions keeps only an id in its cookie): [`new`](Self::new) refuses them.
#[derive(Debug, Clone)]
pub struct TowerSessionsStore {
    sessions: Sessions,
}

impl TowerSessionsStore {
    /// The store of `sessions` (and its codecs) behind tower-sessions' trait; a
    /// [`Config`](sessionkit_core::ErrorKind::Config) error for a cookie store.
    pub fn new(sessions: Sessions) -> sessionkit_core::Result<Self> {
        if !sessions.store().key_format().is_server_side() {
            return Err(Error::config(
                "tower-sessions",
                "a cookie store cannot back tower-sessions, whose cookie holds only an id: use a \
                 server-side back end, or sessionkit's own SessionLayer for cookie sessions",
            ));
        }
        Ok(Self { sessions })
    }

    fn encode(&self, record: &Record) -> session_store::Result<(Vec<u8>, UnixTime)> {
        let expires_at = UnixTime::from_secs(record.expiry_date.unix_timestamp());
        let data = record
            .data
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let sk = SkRecord {
            expires_at,
            expiry: Expiry::Default,
            data,
        };
        let bytes = self
            .sessions
            .config()
            .codecs()
            .encode(sk.as_ref())
            .map_err(backend)?;
        Ok((bytes, expires_at))
    }
}

/// The sessionkit key of a tower-sessions id: its 128 bits in base 36, left-padded to 32
/// characters of `[a-z0-9]`.
fn key_of(id: &Id) -> SessionKey {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut n = id.0 as u128;
    let mut out = [b'0'; 32];
    let mut i = out.len();
    while n > 0 {
        i -= 1;
        out[i] = DIGITS[(n % 36) as usize];
        n /= 36;
    }
    let text = std::str::from_utf8(&out).expect("ASCII");
    SessionKey::parse(text, sessionkit_core::KeyFormat::Random)
        .expect("32 characters of [a-z0-9] are a session key")
}

fn backend(e: Error) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

#[sessionkit_core::async_trait]
impl SessionStore for TowerSessionsStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let (bytes, expires_at) = self.encode(record)?;
        for _ in 0..CREATE_ATTEMPTS {
            match self
                .sessions
                .store()
                .create(&key_of(&record.id), &bytes, expires_at)
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if e.is_collision() => record.id = Id::default(),
                Err(e) => return Err(backend(e)),
            }
        }
        Err(session_store::Error::Backend(format!(
            "{CREATE_ATTEMPTS} fresh session ids in a row were reported taken"
        )))
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let (bytes, expires_at) = self.encode(record)?;
        let store = self.sessions.store();
        let key = key_of(&record.id);
        // tower-sessions' save is an upsert with no version to compare: the last one wins.
        match store.update(&key, &bytes, expires_at, Expected::Any).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_vanished() => store
                .create(&key, &bytes, expires_at)
                .await
                .map(|_| ())
                .map_err(backend),
            Err(e) => Err(backend(e)),
        }
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let Some(loaded) = self
            .sessions
            .store()
            .load(&key_of(id))
            .await
            .map_err(backend)?
        else {
            return Ok(None);
        };
        let record = match self.sessions.config().codecs().decode_owned(loaded.record) {
            Ok(record) => record,
            Err(e) => {
                tracing::warn!(error = %e, "sessionkit-tower: a stored session does not decode; treating it as absent");
                return Ok(None);
            }
        };
        let expiry_date = OffsetDateTime::from_unix_timestamp(record.expires_at.as_secs())
            .map_err(|e| session_store::Error::Decode(e.to_string()))?;
        let data: HashMap<String, serde_json::Value> = record
            .data
            .iter()
            .map(|(k, v)| (k.to_owned(), v.clone()))
            .collect();
        Ok(Some(Record {
            id: *id,
            data,
            expiry_date,
        }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.sessions
            .store()
            .delete(&key_of(id))
            .await
            .map_err(backend)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_map_to_distinct_valid_keys() {
        for id in [0i128, 1, -1, i128::MAX, i128::MIN, 42] {
            let key = key_of(&Id(id));
            assert_eq!(key.as_str().len(), 32);
        }
        assert_ne!(key_of(&Id(1)).as_str(), key_of(&Id(-1)).as_str());
        assert_eq!(key_of(&Id(35)).as_str(), format!("{}z", "0".repeat(31)));
        assert_eq!(key_of(&Id(-1)).as_str(), "0000000f5lxx1zz5pnorynqglhzmsp33");
    }
}
