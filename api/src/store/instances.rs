//! Which processes are alive, so that the runs of those that are not can be
//! failed: several processes (`weft serve`, `weft router` replicas) may run
//! flows on one database, and none may fail a run another is still running.
//!
//! Each process that runs flows registers an [`Instance`] at start: a
//! random id recorded on every run it starts, and a lock held for as long
//! as the process lives: a PostgreSQL session advisory lock on a connection
//! of its own, or an exclusive lock on a file beside the SQLite database
//! (`<database>.instances/<id>.lock`). The database server or the operating
//! system releases the lock the moment the process dies, so a dead
//! instance is told from a live one exactly, with no heartbeat and no
//! timeout. [`Store::recover_orphans`] fails, as `interrupted`, the runs
//! left `running` by instances whose lock is free (and those of a Weft
//! from before instances, which recorded none): at start-up, and every
//! [`SWEEP`] after, so that a crashed replica's runs do not wait for a
//! restart.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use sqlx::{Connection, PgConnection, Row};
use tokio::sync::Mutex;

use super::error::db;
use super::runs::interrupted_error;
use super::{Backend, Result, Store, StoreError, json_text, now_ms};

/// How often a server looks for runs of dead instances.
pub const SWEEP: Duration = Duration::from_secs(5);

/// The first key of PostgreSQL advisory locks held by instances
/// (`pg_advisory_lock(int, int)`): `WEFT` in ASCII.
const LOCK_CLASS: i32 = 0x5745_4654;

/// This process, as a runner of flows; alive while held.
#[derive(Debug)]
pub struct Instance {
    id: i64,
    hold: Hold,
}

#[derive(Debug)]
enum Hold {
    /// The connection holding `pg_advisory_lock(LOCK_CLASS, id)`, and how
    /// to open another if it drops.
    Postgres {
        conn: Mutex<Option<PgConnection>>,
        url: String,
    },
    /// The locked file.
    Sqlite { _file: std::fs::File, path: PathBuf },
}

impl Instance {
    /// The id recorded on this process's runs.
    pub fn id(&self) -> i64 {
        self.id
    }

    /// Makes sure the lock is still held: on PostgreSQL, a dropped
    /// connection (which released it) is opened again and the lock taken
    /// again. Meanwhile another process may have taken this instance for
    /// dead; its runs then end `interrupted` (their later finish is
    /// ignored), which is logged.
    pub async fn keep(&self) -> Result<()> {
        let Hold::Postgres { conn, url } = &self.hold else {
            return Ok(());
        };
        let mut held = conn.lock().await;
        if let Some(c) = held.as_mut()
            && c.ping().await.is_ok()
        {
            return Ok(());
        }
        tracing::warn!(
            instance = self.id,
            "the instance lock's connection dropped; taking it again"
        );
        *held = Some(lock_postgres(url, self.id).await?);
        Ok(())
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Hold::Sqlite { path, .. } = &self.hold {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A random id in 1..2^31: the second key of the instance's PostgreSQL
/// lock, as `pg_locks.objid` shows it.
fn new_id() -> Result<i64> {
    let mut bytes = [0u8; 4];
    getrandom::fill(&mut bytes).map_err(|e| StoreError::Unavailable {
        message: format!("no randomness for an instance id: {e}"),
    })?;
    Ok(i64::from(u32::from_le_bytes(bytes) & 0x7fff_ffff).max(1))
}

async fn lock_postgres(url: &str, id: i64) -> Result<PgConnection> {
    let context = "holding this process's instance lock";
    let mut conn = PgConnection::connect(url).await.map_err(db(context))?;
    sqlx::query("SELECT pg_advisory_lock($1, $2)")
        .bind(LOCK_CLASS)
        // Ids are below 2^31 (`new_id`).
        .bind(id as i32)
        .execute(&mut conn)
        .await
        .map_err(db(context))?;
    Ok(conn)
}

impl Store {
    /// Registers this process as a runner of flows (see the module header).
    pub async fn register_instance(&self) -> Result<Instance> {
        let id = new_id()?;
        let hold = match self.backend {
            Backend::Postgres => Hold::Postgres {
                conn: Mutex::new(Some(lock_postgres(&self.probe.0, id).await?)),
                url: self.probe.0.clone(),
            },
            Backend::Sqlite => {
                let path = self.instances_dir()?.join(format!("{id}.lock"));
                let file = std::fs::File::create(&path).map_err(|e| StoreError::Unavailable {
                    message: format!("cannot create {}: {e}", path.display()),
                })?;
                file.try_lock().map_err(|e| StoreError::Unavailable {
                    message: format!("cannot lock {}: {e}", path.display()),
                })?;
                Hold::Sqlite { _file: file, path }
            }
        };
        tracing::info!(instance = id, "registered");
        Ok(Instance { id, hold })
    }

    /// `<database>.instances/`, created if needed (SQLite only).
    fn instances_dir(&self) -> Result<PathBuf> {
        let file = self.name.strip_prefix("sqlite:").unwrap_or(&self.name);
        let dir = PathBuf::from(format!("{file}.instances"));
        std::fs::create_dir_all(&dir).map_err(|e| StoreError::Unavailable {
            message: format!("cannot create {}: {e}", dir.display()),
        })?;
        Ok(dir)
    }

    /// Whether instance `id` is alive (its lock is held).
    async fn alive(&self, id: i64, live_keys: &HashSet<i64>) -> bool {
        match self.backend {
            Backend::Postgres => live_keys.contains(&id),
            Backend::Sqlite => {
                let Ok(dir) = self.instances_dir() else {
                    return true; // cannot tell: leave its runs alone
                };
                let path = dir.join(format!("{id}.lock"));
                match std::fs::File::open(&path) {
                    Ok(file) => match file.try_lock() {
                        Ok(()) => {
                            // Dead: its lock was free. Tidy up.
                            drop(file);
                            let _ = std::fs::remove_file(&path);
                            false
                        }
                        Err(_) => true,
                    },
                    Err(_) => false,
                }
            }
        }
    }

    /// The instance keys whose PostgreSQL locks are held now.
    async fn live_keys(&self) -> Result<HashSet<i64>> {
        if self.backend != Backend::Postgres {
            return Ok(HashSet::new());
        }
        let rows = sqlx::query(
            "SELECT objid::bigint AS key FROM pg_locks WHERE locktype = 'advisory' AND granted \
             AND objsubid = 2 AND classid::bigint = $1 \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        .bind(i64::from(LOCK_CLASS))
        .fetch_all(&self.pool)
        .await
        .map_err(db("listing live instances"))?;
        rows.iter()
            .map(|r| {
                r.try_get::<i64, _>("key")
                    .map_err(db("listing live instances"))
            })
            .collect()
    }

    /// Fails, as `interrupted`, every run left `running` by an instance
    /// that is not alive (and by none: runs from before instances), never
    /// `own`'s; returns their ids.
    pub async fn recover_orphans(&self, own: &Instance) -> Result<Vec<String>> {
        let context = "recovering runs of stopped processes";
        let rows = sqlx::query("SELECT DISTINCT instance FROM weft_runs WHERE status = 'running'")
            .fetch_all(&self.pool)
            .await
            .map_err(db(context))?;
        let mut others = Vec::with_capacity(rows.len());
        for row in &rows {
            let instance: Option<i64> = row.try_get("instance").map_err(db(context))?;
            if instance != Some(own.id) {
                others.push(instance);
            }
        }
        // The usual case, every 5 s: nothing runs but this process's runs.
        if others.is_empty() {
            return Ok(Vec::new());
        }
        let live = self.live_keys().await?;
        let mut dead: Vec<Option<i64>> = Vec::new();
        for instance in others {
            match instance {
                Some(id) if self.alive(id, &live).await => {}
                other => dead.push(other),
            }
        }
        let mut failed = Vec::new();
        for instance in dead {
            failed.extend(self.fail_runs_of(instance).await?);
        }
        Ok(failed)
    }

    /// Fails the running runs of `instance` (of none: `NULL`).
    async fn fail_runs_of(&self, instance: Option<i64>) -> Result<Vec<String>> {
        let context = "failing interrupted runs";
        let mut tx = self.begin(context).await?;
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM weft_runs WHERE status = 'running' \
             AND (instance = $1 OR ($1 IS NULL AND instance IS NULL)) ORDER BY n",
        )
        .bind(instance)
        .fetch_all(&mut *tx)
        .await
        .map_err(db(context))?;
        let error = json_text(&interrupted_error());
        for id in &ids {
            sqlx::query(
                "UPDATE weft_run_nodes SET status = 'failed', error = $1 \
                 WHERE run_id = $2 AND status = 'running'",
            )
            .bind(&error)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db(context))?;
            sqlx::query(
                "UPDATE weft_runs SET status = 'failed', error = $1, finished_at = $2, \
                 duration_ms = $2 - started_at WHERE id = $3 AND status = 'running'",
            )
            .bind(&error)
            .bind(now_ms())
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db(context))?;
        }
        tx.commit().await.map_err(db(context))?;
        if !ids.is_empty() {
            tracing::warn!(
                runs = ids.len(),
                instance = ?instance,
                "runs left running by a stopped process marked failed: interrupted"
            );
        }
        Ok(ids)
    }
}
