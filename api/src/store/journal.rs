//! Group commit: the run-history writes of many runs in one transaction.
//!
//! A run costs the database a few writes: its creation, its events, its
//! node records and its end (or, for a short run recorded once it is over,
//! all of them in one [`JournalOp::Record`]). Done one run at a time, each
//! is a transaction of several statements, and every statement is a round
//! trip (to PostgreSQL, or to SQLite's worker thread).
//! [`Store::write_group`] takes the writes of many runs ([`JournalOp`]) and
//! stores them in one transaction of a few multi-row statements: every
//! creation, every finished run, then every event, every node record, and
//! every end.
//!
//! The ops of one group must be independent of each other (the server's
//! journal only groups writes whose callers are all waiting, and a run
//! waits for each of its writes before making the next). When the group's
//! transaction fails, or finds anything the single-run calls would refuse
//! (a missing version, an event already stored, a run already finished),
//! it is rolled back and each op is written alone by the single-run call
//! with the same meaning ([`Store::create_run`], [`Store::append_events`],
//! [`Store::finish_run_with`]): one bad op never fails the others, and
//! each gets the error it would have got alone.

use std::sync::Arc;

use weft_editor_protocol::events::RunEvent;

use super::error::db;
use super::events::insert_event_rows;
use super::flows::Selector;
use super::runs::{check_finish, check_new_run, upsert_records};
use super::{NewRun, NodeRecord, Result, RunFinish, Store, json_text, now_ms};

/// One run-history write.
#[derive(Debug, Clone)]
pub enum JournalOp {
    /// [`Store::create_run`].
    Create(NewRun),
    /// [`Store::append_events`].
    Append {
        run: String,
        events: Vec<Arc<RunEvent>>,
    },
    /// [`Store::finish_run_with`].
    Finish {
        run: String,
        events: Vec<Arc<RunEvent>>,
        records: Vec<NodeRecord>,
        finish: RunFinish,
    },
    /// A run not recorded while it ran, recorded whole once it is over:
    /// [`Store::record_run`].
    Record {
        new: Box<NewRun>,
        events: Vec<Arc<RunEvent>>,
        records: Vec<NodeRecord>,
        finish: RunFinish,
    },
}

/// Rows per multi-row statement (at most 10 values each: well within
/// SQLite's and PostgreSQL's limits on bound parameters).
pub(super) const INSERT_ROWS: usize = 100;

/// `($1, $2, $3), ($4, $5, $6)` for `rows` rows of `columns` values, or
/// `(?, ?, ?), (?, ?, ?)` on SQLite: there a numbered parameter costs sqlx
/// a lookup of its name per bind, and SQLite finds a name by walking the
/// list of names, so a statement of n numbered parameters took O(n^2)
/// (about 5 % of a loaded server's CPU with 500-parameter inserts).
pub(super) fn placeholders(conn: &sqlx::AnyConnection, rows: usize, columns: usize) -> String {
    numbered_or_not(conn.backend_name() != "SQLite", rows, columns)
}

fn numbered_or_not(numbered: bool, rows: usize, columns: usize) -> String {
    let mut sql = String::with_capacity(rows * columns * 5);
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..columns {
            if column > 0 {
                sql.push_str(", ");
            }
            if numbered {
                sql.push('$');
                sql.push_str(&(row * columns + column + 1).to_string());
            } else {
                sql.push('?');
            }
        }
        sql.push(')');
    }
    sql
}

impl Store {
    /// Writes `ops` (independent of each other), all in one transaction
    /// when it can, else one by one; one result per op, in order.
    pub async fn write_group(&self, ops: &[JournalOp]) -> Vec<Result<()>> {
        if ops.len() > 1 && ops.iter().all(groupable) {
            match self.try_group(ops).await {
                Ok(true) => return ops.iter().map(|_| Ok(())).collect(),
                Ok(false) => {}
                // The database is away: every op would fail alike.
                Err(e) if e.is_unavailable() => {
                    return ops.iter().map(|_| Err(e.clone())).collect();
                }
                Err(e) => tracing::debug!(error = %e, "group write refused; writing one by one"),
            }
        }
        let mut results = Vec::with_capacity(ops.len());
        for op in ops {
            results.push(self.write_one(op).await);
        }
        results
    }

    /// `op` alone, by the single-run call.
    async fn write_one(&self, op: &JournalOp) -> Result<()> {
        match op {
            JournalOp::Create(new) => self.create_run(new.clone()).await.map(drop),
            JournalOp::Append { run, events } => self.append_events(run, events).await,
            JournalOp::Finish {
                run,
                events,
                records,
                finish,
            } => {
                self.finish_run_with(run, events, records, finish.clone())
                    .await
            }
            JournalOp::Record {
                new,
                events,
                records,
                finish,
            } => {
                if groupable(op) && self.try_group(std::slice::from_ref(op)).await? {
                    return Ok(());
                }
                self.create_run(NewRun::clone(new)).await?;
                self.finish_run_with(&new.id, events, records, finish.clone())
                    .await
            }
        }
    }

    /// Records a run that is over, with its events and node records: one
    /// transaction for a run of a version named by its id, else
    /// [`Store::create_run`] then [`Store::finish_run_with`] (which say
    /// what is missing or already there).
    pub async fn record_run(
        &self,
        new: NewRun,
        events: Vec<Arc<RunEvent>>,
        records: Vec<NodeRecord>,
        finish: RunFinish,
    ) -> Result<()> {
        self.write_one(&JournalOp::Record {
            new: Box::new(new),
            events,
            records,
            finish,
        })
        .await
    }

    /// The group in one transaction: `Ok(false)` (rolled back) when an op
    /// would not take effect as it would alone.
    async fn try_group(&self, ops: &[JournalOp]) -> Result<bool> {
        let context = format!("storing the history of {} runs", ops.len());
        let mut creates = Vec::new();
        let mut events: Vec<(&str, &RunEvent)> = Vec::new();
        let mut records: Vec<(&str, &NodeRecord)> = Vec::new();
        let mut finishes = Vec::new();
        let mut recorded = Vec::new();
        for op in ops {
            match op {
                JournalOp::Create(new) => creates.push((new, None)),
                JournalOp::Record {
                    new,
                    events: more,
                    records: recs,
                    finish,
                } => {
                    events.extend(more.iter().map(|e| (new.id.as_str(), &**e)));
                    records.extend(recs.iter().map(|r| (new.id.as_str(), r)));
                    recorded.push((&**new, Some(finish)));
                }
                JournalOp::Append { run, events: more } => {
                    events.extend(more.iter().map(|e| (run.as_str(), &**e)));
                }
                JournalOp::Finish {
                    run,
                    events: more,
                    records: recs,
                    finish,
                } => {
                    events.extend(more.iter().map(|e| (run.as_str(), &**e)));
                    records.extend(recs.iter().map(|r| (run.as_str(), r)));
                    finishes.push((run.as_str(), finish));
                }
            }
        }
        let mut tx = self.begin(&context).await?;
        let now = now_ms();
        // Running runs and finished ones in statements of their own.
        for chunk in creates
            .chunks(INSERT_ROWS)
            .chain(recorded.chunks(INSERT_ROWS))
        {
            if !insert_runs(&mut tx, chunk, now, &context).await? {
                tx.rollback().await.map_err(db(&context))?;
                return Ok(false);
            }
        }
        insert_event_rows(&mut tx, &events, &context).await?;
        upsert_records(&mut tx, &records, &context).await?;
        for chunk in finishes.chunks(INSERT_ROWS) {
            if !finish_runs(&mut tx, chunk, &context).await? {
                tx.rollback().await.map_err(db(&context))?;
                return Ok(false);
            }
        }
        tx.commit().await.map_err(db(&context))?;
        Ok(true)
    }
}

/// Whether `op` may take part in a group: what the single-run call would
/// refuse before touching the database is left to it, and only creations
/// of a version named by its id are grouped (a draft, or `latest`, takes
/// lookups of its own).
fn groupable(op: &JournalOp) -> bool {
    match op {
        JournalOp::Create(new) => creatable(new),
        JournalOp::Record {
            new,
            events,
            finish,
            ..
        } => creatable(new) && check_finish(finish).is_ok() && events_in_order(&new.id, events),
        JournalOp::Append { run, events } => events_in_order(run, events),
        JournalOp::Finish {
            run,
            events,
            finish,
            ..
        } => check_finish(finish).is_ok() && events_in_order(run, events),
    }
}

/// A creation the group statement can make: of a version named by its id.
fn creatable(new: &NewRun) -> bool {
    check_new_run(new).is_ok()
        && new.document.is_none()
        && matches!(
            new.version.as_deref().map(Selector::parse),
            Some(Selector::Id(_))
        )
}

/// `events` all belong to `run`, numbered upwards from 1 on.
fn events_in_order(run: &str, events: &[Arc<RunEvent>]) -> bool {
    let mut previous = 0;
    events.iter().all(|e| {
        let ok = e.run == run && e.seq > previous;
        previous = e.seq;
        ok
    })
}

/// Records the runs of `chunk` (each of a version named by its id, started
/// at its `started_at`, else `now`): `running` when they come without an
/// end, finished with it when they come with one (the rows of a chunk are
/// all of one kind: a mixed chunk binds the wrong number of values, which
/// the database refuses). False when some project, flow or version is
/// missing.
async fn insert_runs(
    conn: &mut sqlx::AnyConnection,
    chunk: &[(&NewRun, Option<&RunFinish>)],
    now: i64,
    context: &str,
) -> Result<bool> {
    // A finished run's end goes in the same row. Its columns are never
    // NULL floats: sqlx 0.9's `Any` binds `Option::<f64>::None` as a
    // PostgreSQL `float4` (see `upsert_records`).
    let finished = chunk.first().is_some_and(|(_, end)| end.is_some());
    let (end_values, end_columns, end_selected, status, columns) = if finished {
        (
            ", status, outputs, error, finished_at, duration_ms",
            ", outputs, error, finished_at, duration_ms",
            ", n.outputs, n.error, n.finished_at, n.duration_ms",
            "n.status",
            14,
        )
    } else {
        ("", "", "", "'running'", 9)
    };
    let sql = format!(
        "WITH n (id, slug, flow, version_id, stage, run_trigger, inputs, started_at, instance\
         {end_values}) AS (VALUES {}) \
         INSERT INTO weft_runs (id, project_id, flow, version_id, version_number, document, \
         stage, run_trigger, status, inputs, started_at, instance{end_columns}) \
         SELECT n.id, p.id, f.name, v.version_id, v.number, NULL, n.stage, n.run_trigger, \
         {status}, n.inputs, n.started_at, n.instance{end_selected} \
         FROM n JOIN weft_projects p ON p.slug = n.slug \
         JOIN weft_flows f ON f.project_id = p.id AND f.name = n.flow \
         JOIN weft_flow_versions v ON v.flow_id = f.id AND v.version_id = n.version_id",
        placeholders(conn, chunk.len(), columns)
    );
    // Only placeholders are spliced in; the values are bound.
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (new, end) in chunk {
        query = query
            .bind(&new.id)
            .bind(&new.project)
            .bind(&new.flow)
            .bind(new.version.clone())
            .bind(new.stage.clone())
            .bind(&new.trigger)
            .bind(json_text(&new.inputs))
            .bind(new.started_at.unwrap_or(now))
            .bind(new.instance);
        if let Some(end) = end {
            query = query
                .bind(end.status.as_str())
                .bind(end.outputs.as_ref().map(json_text))
                .bind(end.error.as_ref().map(json_text))
                .bind(end.finished_at)
                .bind(end.duration_ms);
        }
    }
    match query.execute(&mut *conn).await {
        Ok(done) => Ok(done.rows_affected() == chunk.len() as u64),
        // A run id already taken: the single calls say which.
        Err(e) if super::error::is_unique_violation(&e) => Ok(false),
        Err(e) => Err(db(context)(e)),
    }
}

/// Finishes the runs of `chunk`: false when one of them is not `running`.
async fn finish_runs(
    conn: &mut sqlx::AnyConnection,
    chunk: &[(&str, &RunFinish)],
    context: &str,
) -> Result<bool> {
    let sql = format!(
        "WITH v (id, status, outputs, error, finished_at, duration_ms) AS (VALUES {}) \
         UPDATE weft_runs SET status = v.status, outputs = v.outputs, error = v.error, \
         finished_at = v.finished_at, duration_ms = v.duration_ms \
         FROM v WHERE weft_runs.id = v.id AND weft_runs.status = 'running'",
        placeholders(conn, chunk.len(), 6)
    );
    // Only placeholders are spliced in; the values are bound.
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (run, finish) in chunk {
        query = query
            .bind(*run)
            .bind(finish.status.as_str())
            .bind(finish.outputs.as_ref().map(json_text))
            .bind(finish.error.as_ref().map(json_text))
            .bind(finish.finished_at)
            .bind(finish.duration_ms);
    }
    let done = query.execute(&mut *conn).await.map_err(db(context))?;
    Ok(done.rows_affected() == chunk.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::numbered_or_not;

    #[test]
    fn placeholders_number_rows_and_columns() {
        assert_eq!(numbered_or_not(true, 1, 1), "($1)");
        assert_eq!(numbered_or_not(true, 2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(numbered_or_not(false, 2, 2), "(?, ?), (?, ?)");
    }
}
