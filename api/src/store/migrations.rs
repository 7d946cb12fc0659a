//! The schema migrations, one set per database, embedded in the binary
//! (`api/migrations/{sqlite,postgres}/NNNN_name.sql`) and applied by
//! [`super::Store::open`]. Adding a migration: write the file for both
//! databases and add one line to each list below. Applied migrations are
//! recorded in `weft_schema_migrations` (sqlx's format; the name keeps it
//! apart from anything else living in the same SQLite file).

use std::borrow::Cow;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

use super::Backend;

const SQLITE: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../../migrations/sqlite/0001_init.sql"),
    ),
    (
        2,
        "stage routes version",
        include_str!("../../migrations/sqlite/0002_stage_routes_version.sql"),
    ),
    (
        3,
        "api keys",
        include_str!("../../migrations/sqlite/0003_api_keys.sql"),
    ),
    (
        4,
        "run instances",
        include_str!("../../migrations/sqlite/0004_run_instances.sql"),
    ),
];

const POSTGRES: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        "stage routes version",
        include_str!("../../migrations/postgres/0002_stage_routes_version.sql"),
    ),
    (
        3,
        "api keys",
        include_str!("../../migrations/postgres/0003_api_keys.sql"),
    ),
    (
        4,
        "run instances",
        include_str!("../../migrations/postgres/0004_run_instances.sql"),
    ),
];

/// The migrator for `backend`.
pub(crate) fn migrator(backend: Backend) -> Migrator {
    let set = match backend {
        Backend::Sqlite => SQLITE,
        Backend::Postgres => POSTGRES,
    };
    let migrations = set
        .iter()
        .map(|&(version, description, sql)| {
            Migration::new(
                version,
                Cow::Borrowed(description),
                MigrationType::Simple,
                sql.into_sql_str(),
                false,
            )
        })
        .collect();
    let mut migrator = Migrator::with_migrations(migrations);
    migrator.dangerous_set_table_name("weft_schema_migrations");
    migrator
}
