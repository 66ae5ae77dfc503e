//! tower-sessions' sqlx stores next to raw diesel: see `benches/sqlx.rs`.
