//! The peer of `benches/db.rs`: tower-sessions' sqlx stores (tower-sessions-sqlx-store 0.15 on
//! sqlx 0.8 and tower-sessions-core 0.14: `PostgresStore`, `MySqlStore`, `SqliteStore`) through
//! their store trait, next to the same raw diesel workload as in `benches/db.rs`, the anchor
//! between the two runs. Same groups (`{op}/1.5KB/{tasks}tasks`), same ids (`{db}/...`), same
//! servers (`SESSIONKIT_POSTGRES_URL`, `SESSIONKIT_MYSQL_URL` or throwaway ones; SQLite in a
//! temporary file) and the same helpers (`sessionkit_benches`), so the figures line up.
//!
//! - `{db}/tower-sessions-sqlx`: the store on a sqlx pool of [`pool_size`] connections with
//!   sqlx's other defaults (as an application gets it), migrated by the store itself into its
//!   own table. load = `load` of a `Record`; save = `save` of a loaded `Record` (an upsert);
//!   create = `create` (a transaction: `SELECT EXISTS`, then the upsert) plus the `delete` that
//!   keeps the table's size; request cycle = load, insert one value, save.
//! - `{db}/raw-diesel`: `sessionkit_benches::db::RawDiesel`, sessionkit-db's statements on an
//!   r2d2 pool built like the store's.
//!
//! ```text
//! cargo bench --manifest-path benches/sqlx-peer/Cargo.toml
//! cargo bench --manifest-path benches/sqlx-peer/Cargo.toml -- 'request_cycle/1.5KB/32tasks'
//! ```

use criterion::{criterion_group, criterion_main, Criterion};
use sessionkit_benches::db::{pool_size, unique_table, Db, RawDiesel, RawPool, Style, Target, TTL};
use sessionkit_benches::{Group, Op, Payload, Suite, TowerStoreWorkload, TASK_COUNTS};
use tower_sessions_core_014::session::{Id, Record};
use tower_sessions_sqlx_store::sqlx;
use tower_sessions_sqlx_store::sqlx::types::time::OffsetDateTime;
use tower_sessions_sqlx_store::{MySqlStore, PostgresStore, SqliteStore};

/// tower-sessions' sqlx store for one database.
enum Tower {
    Pg(PostgresStore),
    My(MySqlStore),
    Lite(SqliteStore),
}

impl Tower {
    async fn connect(target: &Target, table: &str) -> Self {
        match target.db {
            Db::Postgres => {
                let pool = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(pool_size())
                    .connect(&target.url)
                    .await
                    .expect("connect sqlx to PostgreSQL");
                let store = PostgresStore::new(pool)
                    .with_table_name(table)
                    .expect("a valid table name");
                store
                    .migrate()
                    .await
                    .expect("migrate tower-sessions' table");
                Tower::Pg(store)
            }
            Db::Mysql => {
                let pool = sqlx::mysql::MySqlPoolOptions::new()
                    .max_connections(pool_size())
                    .connect(&target.url)
                    .await
                    .expect("connect sqlx to MySQL");
                // Its "schema" is a MySQL database: the URL's, rather than a new one.
                let store = MySqlStore::new(pool)
                    .with_schema_name(target.database_name())
                    .expect("a valid schema name")
                    .with_table_name(table)
                    .expect("a valid table name");
                store
                    .migrate()
                    .await
                    .expect("migrate tower-sessions' table");
                Tower::My(store)
            }
            Db::Sqlite => {
                let pool = sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(pool_size())
                    .connect(&format!("sqlite://{}?mode=rwc", target.url))
                    .await
                    .expect("open the SQLite file with sqlx");
                let store = SqliteStore::new(pool)
                    .with_table_name(table)
                    .expect("a valid table name");
                store
                    .migrate()
                    .await
                    .expect("migrate tower-sessions' table");
                Tower::Lite(store)
            }
        }
    }

    /// The record every created session copies: the payload, expiring in [`TTL`] seconds.
    fn template(payload: &Payload) -> Record {
        Record {
            id: Id::default(),
            data: payload.to_map(),
            expiry_date: OffsetDateTime::now_utc() + std::time::Duration::from_secs(TTL as u64),
        }
    }

    fn bench(&self, group: &mut Group<'_>, name: &str, op: Op, payload: &Payload) {
        let template = Self::template(payload);
        match self {
            Tower::Pg(s) => group.bench(name, TowerStoreWorkload::new(s.clone(), op, template)),
            Tower::My(s) => group.bench(name, TowerStoreWorkload::new(s.clone(), op, template)),
            Tower::Lite(s) => group.bench(name, TowerStoreWorkload::new(s.clone(), op, template)),
        }
    }
}

/// One database's implementations, set up for the whole run.
struct DbSetup {
    target: Target,
    raw: RawPool,
    raw_table: String,
    tower: Tower,
    tower_table: String,
}

impl DbSetup {
    fn new(suite: &Suite, db: Db) -> Self {
        let target = Target::new(db);
        println!("{}: {}", db.name(), target.url);
        let raw = RawPool::new(db, &target.url, true);
        let raw_table = unique_table("raw");
        raw.create_table(&raw_table);
        let tower_table = unique_table("tower");
        let tower = suite
            .runtime()
            .block_on(Tower::connect(&target, &tower_table));
        Self {
            target,
            raw,
            raw_table,
            tower,
            tower_table,
        }
    }

    fn bench(&self, group: &mut Group<'_>, op: Op, payload: &Payload) {
        let db = self.target.db.name();
        group.bench(
            &format!("{db}/raw-diesel"),
            RawDiesel::new(
                self.raw.clone(),
                &self.raw_table,
                op,
                Style::Prepared,
                payload,
            ),
        );
        self.tower
            .bench(group, &format!("{db}/tower-sessions-sqlx"), op, payload);
    }
}

impl Drop for DbSetup {
    fn drop(&mut self) {
        self.raw.drop_table(&self.raw_table);
        let tower_table = match self.target.db {
            // PostgresStore keeps its table in the schema `tower_sessions`.
            Db::Postgres => format!("tower_sessions.{}", self.tower_table),
            Db::Mysql | Db::Sqlite => self.tower_table.clone(),
        };
        self.raw.drop_table(&tower_table);
    }
}

fn sqlx_benches(c: &mut Criterion) {
    let suite = Suite::new("sqlx-peer");
    let payload = Payload::dashboard();
    println!(
        "payload {}: {} bytes encoded; pools of {}",
        payload.label(),
        payload.encoded_len(),
        pool_size()
    );
    let dbs: Vec<DbSetup> = sessionkit_benches::db::selected_dbs()
        .into_iter()
        .map(|db| DbSetup::new(&suite, db))
        .collect();
    for op in Op::ALL {
        for tasks in TASK_COUNTS {
            let mut group = suite.group(c, op, &payload, tasks);
            for db in &dbs {
                db.bench(&mut group, op, &payload);
            }
            group.finish();
        }
    }
}

criterion_group! {
    name = benches;
    config = sessionkit_benches::criterion_config();
    targets = sqlx_benches
}
criterion_main!(benches);
