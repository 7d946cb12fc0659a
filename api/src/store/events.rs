//! Run events: append-only, per run, keyed by (run, seq).
//!
//! Each row holds the event's sequence number, type (`node.finished`, ...),
//! timestamp and the whole event as JSON, so replaying returns exactly the
//! [`RunEvent`]s that were appended. A batch is stored all or nothing; a
//! sequence number already stored rejects the batch with
//! [`StoreError::Conflict`]. The producer numbers events 1, 2, 3, ...;
//! [`Store::events_after`] returns them in that order, so a client that
//! last saw `seq = n` asks for `after_seq = n` and misses nothing.

use std::borrow::Borrow;

use weft_editor_protocol::events::RunEvent;

use super::error::{db, is_fk_violation, is_unique_violation};
use super::journal::{INSERT_ROWS, placeholders};
use super::{Result, Store, StoreError};

/// The most events [`Store::events_after`] returns at once.
pub const EVENTS_PAGE_MAX: u32 = 10_000;

impl Store {
    /// Appends `events` (all of run `run_id`, in increasing `seq` order) in
    /// one transaction.
    pub async fn append_events<E: Borrow<RunEvent>>(
        &self,
        run_id: &str,
        events: &[E],
    ) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut previous = 0u64;
        for event in events {
            let event: &RunEvent = event.borrow();
            if event.run != run_id {
                return Err(StoreError::invalid(format!(
                    "event {} belongs to run `{}`, not `{run_id}`",
                    event.seq, event.run
                )));
            }
            if event.seq <= previous {
                return Err(StoreError::invalid(format!(
                    "event sequence numbers must start at 1 and increase (got {} after {previous})",
                    event.seq
                )));
            }
            previous = event.seq;
        }
        let context = format!("appending events to run `{run_id}`");
        let mut tx = self.begin(&context).await?;
        insert_events(&mut tx, run_id, events, &context).await?;
        tx.commit().await.map_err(db(&context))
    }

    /// The events of run `run_id` with `seq > after_seq`, in `seq` order,
    /// at most `limit` (clamped to 1..=[`EVENTS_PAGE_MAX`]). Empty for an
    /// unknown run.
    pub async fn events_after(
        &self,
        run_id: &str,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<RunEvent>> {
        let context = format!("reading the events of run `{run_id}`");
        let bodies: Vec<String> = sqlx::query_scalar(
            "SELECT body FROM weft_run_events WHERE run_id = $1 AND seq > $2 \
             ORDER BY seq LIMIT $3",
        )
        .bind(run_id)
        .bind(to_i64(after_seq)?)
        .bind(i64::from(limit.clamp(1, EVENTS_PAGE_MAX)))
        .fetch_all(&self.pool)
        .await
        .map_err(db(&context))?;
        bodies
            .iter()
            .map(|body| serde_json::from_str(body).map_err(|e| StoreError::corrupt(&context, e)))
            .collect()
    }

    /// The highest stored `seq` of run `run_id` (0 when it has none).
    pub async fn last_event_seq(&self, run_id: &str) -> Result<u64> {
        let seq: Option<i64> =
            sqlx::query_scalar("SELECT MAX(seq) FROM weft_run_events WHERE run_id = $1")
                .bind(run_id)
                .fetch_one(&self.pool)
                .await
                .map_err(db(format!("reading the last event of run `{run_id}`")))?;
        Ok(seq.and_then(|s| u64::try_from(s).ok()).unwrap_or(0))
    }
}

/// Inserts `events` of run `run_id` on `conn` (in the caller's
/// transaction).
pub(super) async fn insert_events<E: Borrow<RunEvent>>(
    conn: &mut sqlx::AnyConnection,
    run_id: &str,
    events: &[E],
    context: &str,
) -> Result<()> {
    let rows: Vec<(&str, &RunEvent)> = events.iter().map(|e| (run_id, e.borrow())).collect();
    insert_event_rows(conn, &rows, context).await
}

/// Inserts `(run, event)` rows on `conn` (in the caller's transaction).
pub(super) async fn insert_event_rows(
    conn: &mut sqlx::AnyConnection,
    rows: &[(&str, &RunEvent)],
    context: &str,
) -> Result<()> {
    // One statement per chunk of rows, not per event: each statement is a
    // round trip to the database (or to SQLite's worker thread).
    for chunk in rows.chunks(INSERT_ROWS) {
        let sql = format!(
            "INSERT INTO weft_run_events (run_id, seq, event_type, ts_ms, body) VALUES {}",
            placeholders(conn, chunk.len(), 5)
        );
        // Only placeholders are spliced in; the values are bound.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (run_id, event) in chunk {
            let body = serde_json::to_string(event).map_err(|e| {
                StoreError::invalid(format!("event {} does not serialize: {e}", event.seq))
            })?;
            query = query
                .bind(*run_id)
                .bind(to_i64(event.seq)?)
                .bind(event.body.kind())
                .bind(to_i64(event.ts_ms)?)
                .bind(body);
        }
        query.execute(&mut *conn).await.map_err(|e| {
            let (first, last) = (chunk[0], chunk[chunk.len() - 1]);
            if is_unique_violation(&e) {
                StoreError::conflict(if first.0 == last.0 {
                    format!(
                        "events {}..={} of run `{}` are (some of them) already stored",
                        first.1.seq, last.1.seq, first.0
                    )
                } else {
                    format!(
                        "events of runs `{}`..`{}` are already stored",
                        first.0, last.0
                    )
                })
            } else if is_fk_violation(&e) {
                StoreError::not_found(format!("run `{}`", first.0))
            } else {
                db(context)(e)
            }
        })?;
    }
    Ok(())
}

fn to_i64(n: u64) -> Result<i64> {
    i64::try_from(n).map_err(|_| StoreError::invalid(format!("{n} is too large to store")))
}
