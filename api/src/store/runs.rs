//! Runs and their per-node records.
//!
//! A run is created `running` ([`Store::create_run`]) and finished once
//! ([`Store::finish_run`]). It runs either a stored version (`version_id`
//! and `version_number` set) or a draft document sent by the editor
//! (`draft`; the document is kept with the run, [`Store::run_document`]).
//! Run ids are chosen by the caller. Each node of a run has one record,
//! replaced on every [`Store::upsert_node_record`] (keyed by the node id;
//! nested frames share their node's record), holding the node's full
//! inputs and outputs (`{port: value}` objects).
//!
//! At startup [`Store::mark_interrupted`] fails every run still `running`
//! (and its running nodes) with the `interrupted` error.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::error::{db, is_fk_violation, is_unique_violation};
use super::flows::{Selector, find_version, flow_pk, validate_flow_name};
use super::journal::{INSERT_ROWS, placeholders};
use weft_editor_protocol::events::RunEvent;

use super::{Result, Store, StoreError, json_text, now_ms, parse_json, parse_json_opt, project_id};

/// A run's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<RunStatus> {
        Some(match text {
            "running" => RunStatus::Running,
            "succeeded" => RunStatus::Succeeded,
            "failed" => RunStatus::Failed,
            "cancelled" => RunStatus::Cancelled,
            _ => return None,
        })
    }
}

impl From<weft_editor_protocol::events::RunStatus> for RunStatus {
    fn from(status: weft_editor_protocol::events::RunStatus) -> RunStatus {
        use weft_editor_protocol::events::RunStatus as S;
        match status {
            S::Succeeded => RunStatus::Succeeded,
            S::Failed => RunStatus::Failed,
            S::Cancelled => RunStatus::Cancelled,
        }
    }
}

/// A node's status within a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    Running,
    Succeeded,
    Failed,
    Skipped,
    Cancelled,
}

impl NodeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeStatus::Running => "running",
            NodeStatus::Succeeded => "succeeded",
            NodeStatus::Failed => "failed",
            NodeStatus::Skipped => "skipped",
            NodeStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<NodeStatus> {
        Some(match text {
            "running" => NodeStatus::Running,
            "succeeded" => NodeStatus::Succeeded,
            "failed" => NodeStatus::Failed,
            "skipped" => NodeStatus::Skipped,
            "cancelled" => NodeStatus::Cancelled,
            _ => return None,
        })
    }
}

/// What [`Store::create_run`] needs.
#[derive(Debug, Clone)]
pub struct NewRun {
    /// Chosen by the caller (1 to 128 characters), unique.
    pub id: String,
    pub project: String,
    pub flow: String,
    /// The stored version to run (number, id or `"latest"`, resolved and
    /// stored as the version's id and number); `None` for a draft.
    pub version: Option<String>,
    /// The draft document to run, when `version` is `None`.
    pub document: Option<Value>,
    /// The stage it runs on, if any.
    pub stage: Option<String>,
    /// What started it: `api`, `editor`, `http`, ...
    pub trigger: String,
    pub inputs: Value,
    /// The process running it ([`super::Instance::id`]); `None` for a run
    /// no process will finish unless told (tests, tools).
    pub instance: Option<i64>,
    /// When it started (ms since the epoch), for a run recorded after it
    /// began; `None`: when it is recorded.
    pub started_at: Option<i64>,
}

/// How a run ended, for [`Store::finish_run`].
#[derive(Debug, Clone)]
pub struct RunFinish {
    /// Not [`RunStatus::Running`].
    pub status: RunStatus,
    pub outputs: Option<Value>,
    pub error: Option<Value>,
    pub finished_at: i64,
    pub duration_ms: f64,
}

/// A stored run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Run {
    pub id: String,
    pub project: String,
    pub flow: String,
    pub version_id: Option<String>,
    pub version_number: Option<i64>,
    /// A draft run (no stored version; see [`Store::run_document`]).
    pub draft: bool,
    pub stage: Option<String>,
    pub trigger: String,
    pub status: RunStatus,
    pub inputs: Value,
    pub outputs: Option<Value>,
    pub error: Option<Value>,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub duration_ms: Option<f64>,
}

/// Which runs [`Store::list_runs`] returns: newest first.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub project: String,
    pub flow: Option<String>,
    pub status: Option<RunStatus>,
    /// At most this many (clamped to 1..=1000).
    pub limit: u32,
    /// Only runs created before this run (by id): the cursor for the next
    /// page is the last id of the previous one. An unknown id gives an
    /// empty page.
    pub before: Option<String>,
}

/// One node's record within a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeRecord {
    pub node: String,
    pub status: NodeStatus,
    pub attempts: u32,
    pub started_at: Option<i64>,
    pub duration_ms: Option<f64>,
    /// `{port: value}`, full values.
    pub inputs: Option<Value>,
    /// `{port: value}`, full values.
    pub outputs: Option<Value>,
    pub error: Option<Value>,
}

/// The columns [`run`] reads, plus `$tail` (a `WHERE` clause, ...).
macro_rules! run_sql {
    ($tail:literal $(,)?) => {
        concat!(
            "SELECT r.id, p.slug AS project, r.flow, r.version_id, \
             r.version_number, r.stage, r.run_trigger, r.status, r.inputs, r.outputs, r.error, \
             r.started_at, r.finished_at, r.duration_ms \
             FROM weft_runs r JOIN weft_projects p ON p.id = r.project_id",
            $tail
        )
    };
}

fn run(row: &AnyRow) -> Result<Run> {
    let context = "reading a run";
    let get = || -> Result<_, sqlx::Error> {
        Ok((
            row.try_get::<String, _>("status")?,
            row.try_get::<String, _>("inputs")?,
            row.try_get::<Option<String>, _>("outputs")?,
            row.try_get::<Option<String>, _>("error")?,
        ))
    };
    let (status, inputs, outputs, error) = get().map_err(db(context))?;
    let get = || -> Result<Run, sqlx::Error> {
        let version_id: Option<String> = row.try_get("version_id")?;
        Ok(Run {
            id: row.try_get("id")?,
            project: row.try_get("project")?,
            flow: row.try_get("flow")?,
            draft: version_id.is_none(),
            version_id,
            version_number: row.try_get("version_number")?,
            stage: row.try_get("stage")?,
            trigger: row.try_get("run_trigger")?,
            status: RunStatus::Running,
            inputs: Value::Null,
            outputs: None,
            error: None,
            started_at: row.try_get("started_at")?,
            finished_at: row.try_get("finished_at")?,
            duration_ms: row.try_get("duration_ms")?,
        })
    };
    let mut run = get().map_err(db(context))?;
    run.status = RunStatus::parse(&status)
        .ok_or_else(|| StoreError::corrupt(context, format!("run status `{status}`")))?;
    run.inputs = parse_json(context, &inputs)?;
    run.outputs = parse_json_opt(context, outputs)?;
    run.error = parse_json_opt(context, error)?;
    Ok(run)
}

fn node_record(row: &AnyRow) -> Result<NodeRecord> {
    let context = "reading a node record";
    let get = || -> Result<_, sqlx::Error> {
        Ok((
            row.try_get::<String, _>("status")?,
            row.try_get::<i64, _>("attempts")?,
            row.try_get::<Option<String>, _>("inputs")?,
            row.try_get::<Option<String>, _>("outputs")?,
            row.try_get::<Option<String>, _>("error")?,
            row.try_get::<String, _>("node")?,
            row.try_get::<Option<i64>, _>("started_at")?,
            row.try_get::<Option<f64>, _>("duration_ms")?,
        ))
    };
    let (status, attempts, inputs, outputs, error, node, started_at, duration_ms) =
        get().map_err(db(context))?;
    Ok(NodeRecord {
        node,
        status: NodeStatus::parse(&status)
            .ok_or_else(|| StoreError::corrupt(context, format!("node status `{status}`")))?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        started_at,
        duration_ms,
        inputs: parse_json_opt(context, inputs)?,
        outputs: parse_json_opt(context, outputs)?,
        error: parse_json_opt(context, error)?,
    })
}

/// The error every interrupted run gets.
pub fn interrupted_error() -> Value {
    json!({
        "code": "interrupted",
        "message": "the server stopped while this run was in progress",
    })
}

/// The run `new` is, once recorded, started at `now`.
fn started(new: NewRun, version_id: Option<String>, version_number: Option<i64>, now: i64) -> Run {
    Run {
        id: new.id,
        project: new.project,
        flow: new.flow,
        draft: version_id.is_none(),
        version_id,
        version_number,
        stage: new.stage,
        trigger: new.trigger,
        status: RunStatus::Running,
        inputs: new.inputs,
        outputs: None,
        error: None,
        started_at: now,
        finished_at: None,
        duration_ms: None,
    }
}

/// What [`Store::create_run`] refuses before asking the database.
pub(super) fn check_new_run(new: &NewRun) -> Result<()> {
    if new.id.is_empty() || new.id.len() > 128 {
        return Err(StoreError::invalid("a run id must have 1 to 128 bytes"));
    }
    if new.trigger.is_empty() || new.trigger.len() > 32 {
        return Err(StoreError::invalid("a run trigger must have 1 to 32 bytes"));
    }
    validate_flow_name(&new.flow)
}

/// What [`Store::finish_run_with`] refuses before asking the database.
pub(super) fn check_finish(finish: &RunFinish) -> Result<()> {
    if finish.status == RunStatus::Running {
        return Err(StoreError::invalid("a run cannot finish as `running`"));
    }
    Ok(())
}

impl Store {
    /// Records a new run, `running`, started now.
    pub async fn create_run(&self, new: NewRun) -> Result<Run> {
        check_new_run(&new)?;
        let context = format!("creating run `{}`", new.id);
        // A stored version named by its id (published routes): one
        // statement. Anything it does not find takes the long way below,
        // which says what is missing.
        if let (Some(selector), None) = (&new.version, &new.document)
            && let Selector::Id(version_id) = Selector::parse(selector)
            && let Some((number, now)) = self
                .insert_run_of_version(&new, version_id, &context)
                .await?
        {
            let version_id = Some(version_id.to_string());
            return Ok(started(new, version_id, Some(number), now));
        }
        let mut tx = self.begin(&context).await?;
        let pid = project_id(&mut *tx, &new.project).await?;
        let (version_id, version_number, document) = match (&new.version, &new.document) {
            (Some(selector), None) => {
                let fid = flow_pk(&mut *tx, pid, &new.flow).await?;
                let row = find_version(&mut *tx, fid, &new.flow, selector).await?;
                let id: String = row.try_get("version_id").map_err(db(&context))?;
                let number: i64 = row.try_get("number").map_err(db(&context))?;
                (Some(id), Some(number), None)
            }
            (None, Some(document)) => (None, None, Some(json_text(document))),
            _ => {
                return Err(StoreError::invalid(
                    "a run needs either a stored version or a draft document, not both",
                ));
            }
        };
        let now = new.started_at.unwrap_or_else(now_ms);
        sqlx::query(
            "INSERT INTO weft_runs (id, project_id, flow, version_id, version_number, document, \
             stage, run_trigger, status, inputs, started_at, instance) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'running', $9, $10, $11)",
        )
        .bind(&new.id)
        .bind(pid)
        .bind(&new.flow)
        .bind(version_id.clone())
        .bind(version_number)
        .bind(document)
        .bind(new.stage.clone())
        .bind(&new.trigger)
        .bind(json_text(&new.inputs))
        .bind(now)
        .bind(new.instance)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::conflict(format!("run `{}` already exists", new.id))
            } else {
                db(&context)(e)
            }
        })?;
        tx.commit().await.map_err(db(&context))?;
        Ok(started(new, version_id, version_number, now))
    }

    /// [`Store::create_run`] of version `version_id` in one statement:
    /// the version's number and the start time, or `None` when the
    /// project, flow or version is not there.
    async fn insert_run_of_version(
        &self,
        new: &NewRun,
        version_id: &str,
        context: &str,
    ) -> Result<Option<(i64, i64)>> {
        let now = new.started_at.unwrap_or_else(now_ms);
        let _turn = self.write_turn().await;
        let number: Option<i64> = sqlx::query_scalar(
            "INSERT INTO weft_runs (id, project_id, flow, version_id, version_number, document, \
             stage, run_trigger, status, inputs, started_at, instance) \
             SELECT $1, p.id, f.name, v.version_id, v.number, NULL, $5, $6, 'running', $7, $8, $9 \
             FROM weft_projects p \
             JOIN weft_flows f ON f.project_id = p.id AND f.name = $3 \
             JOIN weft_flow_versions v ON v.flow_id = f.id AND v.version_id = $4 \
             WHERE p.slug = $2 \
             RETURNING version_number",
        )
        .bind(&new.id)
        .bind(&new.project)
        .bind(&new.flow)
        .bind(version_id)
        .bind(new.stage.clone())
        .bind(&new.trigger)
        .bind(json_text(&new.inputs))
        .bind(now)
        .bind(new.instance)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::conflict(format!("run `{}` already exists", new.id))
            } else {
                db(context)(e)
            }
        })?;
        Ok(number.map(|n| (n, now)))
    }

    /// Records how run `id` ended. [`StoreError::Conflict`] if it has
    /// already finished (e.g. marked interrupted).
    pub async fn finish_run(&self, id: &str, finish: RunFinish) -> Result<()> {
        self.finish_run_with::<RunEvent>(id, &[], &[], finish).await
    }

    /// Stores the last events and the node records of run `id` and how it
    /// ended, in one transaction: what a run's end costs the database.
    /// [`StoreError::Conflict`] if it has already finished, or if one of
    /// the events is already stored (nothing is written then).
    pub async fn finish_run_with<E: std::borrow::Borrow<RunEvent>>(
        &self,
        id: &str,
        events: &[E],
        records: &[NodeRecord],
        finish: RunFinish,
    ) -> Result<()> {
        check_finish(&finish)?;
        let context = format!("finishing run `{id}`");
        let mut tx = self.begin(&context).await?;
        super::events::insert_events(&mut tx, id, events, &context).await?;
        let records: Vec<(&str, &NodeRecord)> = records.iter().map(|r| (id, r)).collect();
        upsert_records(&mut tx, &records, &context).await?;
        let done = sqlx::query(
            "UPDATE weft_runs SET status = $2, outputs = $3, error = $4, finished_at = $5, \
             duration_ms = $6 WHERE id = $1 AND status = 'running'",
        )
        .bind(id)
        .bind(finish.status.as_str())
        .bind(finish.outputs.as_ref().map(json_text))
        .bind(finish.error.as_ref().map(json_text))
        .bind(finish.finished_at)
        .bind(finish.duration_ms)
        .execute(&mut *tx)
        .await
        .map_err(db(&context))?;
        if done.rows_affected() == 1 {
            return tx.commit().await.map_err(db(&context));
        }
        tx.rollback().await.map_err(db(&context))?;
        let status = self.get_run(id).await?.status;
        Err(StoreError::conflict(format!(
            "run `{id}` has already finished ({})",
            status.as_str()
        )))
    }

    /// Run `id`.
    pub async fn get_run(&self, id: &str) -> Result<Run> {
        let row = sqlx::query(run_sql!(" WHERE r.id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db(format!("reading run `{id}`")))?
            .ok_or_else(|| StoreError::not_found(format!("run `{id}`")))?;
        run(&row)
    }

    /// The draft document run `id` ran (`None` for a stored version).
    pub async fn run_document(&self, id: &str) -> Result<Option<Value>> {
        let context = format!("reading the document of run `{id}`");
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT document FROM weft_runs WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(db(&context))?;
        let (text,) = row.ok_or_else(|| StoreError::not_found(format!("run `{id}`")))?;
        parse_json_opt(&context, text)
    }

    /// Runs of a project, newest first (see [`RunFilter`]).
    pub async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<Run>> {
        let pid = project_id(&self.pool, &filter.project).await?;
        let rows = sqlx::query(run_sql!(
            " WHERE r.project_id = $1 AND ($2 IS NULL OR r.flow = $2) \
             AND ($3 IS NULL OR r.status = $3) \
             AND ($4 IS NULL OR r.n < (SELECT n FROM weft_runs WHERE id = $4)) \
             ORDER BY r.n DESC LIMIT $5",
        ))
        .bind(pid)
        .bind(filter.flow.clone())
        .bind(filter.status.map(|s| s.as_str().to_string()))
        .bind(filter.before.clone())
        .bind(i64::from(filter.limit.clamp(1, 1000)))
        .fetch_all(&self.pool)
        .await
        .map_err(db(format!("listing the runs of `{}`", filter.project)))?;
        rows.iter().map(run).collect()
    }

    /// Stores (or replaces) the record of one node of run `run_id`.
    pub async fn upsert_node_record(&self, run_id: &str, record: &NodeRecord) -> Result<()> {
        let context = format!("recording node `{}` of run `{run_id}`", record.node);
        let _turn = self.write_turn().await;
        let mut conn = self.pool.acquire().await.map_err(db(&context))?;
        upsert_records(&mut conn, &[(run_id, record)], &context).await
    }

    /// The node records of run `run_id`, by start time then node id
    /// (NotFound when the run does not exist).
    pub async fn list_node_records(&self, run_id: &str) -> Result<Vec<NodeRecord>> {
        let context = format!("reading the nodes of run `{run_id}`");
        let exists: Option<i64> = sqlx::query_scalar("SELECT n FROM weft_runs WHERE id = $1")
            .bind(run_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db(&context))?;
        if exists.is_none() {
            return Err(StoreError::not_found(format!("run `{run_id}`")));
        }
        let rows = sqlx::query(
            "SELECT node, status, attempts, started_at, duration_ms, inputs, outputs, error \
             FROM weft_run_nodes WHERE run_id = $1 ORDER BY started_at, node",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db(&context))?;
        rows.iter().map(node_record).collect()
    }

    /// The full value node `node` of run `run_id` set on output `port`
    /// (NotFound when the run, the node's record or that output is missing).
    pub async fn get_node_output(&self, run_id: &str, node: &str, port: &str) -> Result<Value> {
        let context = format!("reading output `{node}.{port}` of run `{run_id}`");
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT outputs FROM weft_run_nodes WHERE run_id = $1 AND node = $2")
                .bind(run_id)
                .bind(node)
                .fetch_optional(&self.pool)
                .await
                .map_err(db(&context))?;
        let missing = || StoreError::not_found(format!("output `{node}.{port}` of run `{run_id}`"));
        let (outputs,) = row.ok_or_else(missing)?;
        match parse_json_opt(&context, outputs)? {
            Some(Value::Object(mut map)) => map.remove(port).ok_or_else(missing),
            _ => Err(missing()),
        }
    }
}

/// Stores (or replaces) the node records of `(run, record)` rows on
/// `conn`, a run's node at most once.
pub(super) async fn upsert_records(
    conn: &mut sqlx::AnyConnection,
    rows: &[(&str, &NodeRecord)],
    context: &str,
) -> Result<()> {
    for chunk in rows.chunks(INSERT_ROWS) {
        let sql = format!(
            "INSERT INTO weft_run_nodes (run_id, node, status, attempts, started_at, \
             duration_ms, inputs, outputs, error) \
             SELECT r.column1, r.column2, r.column3, r.column4, r.column5, \
             CASE WHEN r.column10 = 1 THEN r.column6 ELSE NULL END, \
             r.column7, r.column8, r.column9 \
             FROM (VALUES {}) AS r \
             WHERE true \
             ON CONFLICT (run_id, node) DO UPDATE SET status = excluded.status, \
             attempts = excluded.attempts, started_at = excluded.started_at, \
             duration_ms = excluded.duration_ms, inputs = excluded.inputs, \
             outputs = excluded.outputs, error = excluded.error",
            placeholders(conn, chunk.len(), 10)
        );
        // Only placeholders are spliced in; the values are bound.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (run_id, record) in chunk {
            query = query
                .bind(*run_id)
                .bind(&record.node)
                .bind(record.status.as_str())
                .bind(i64::from(record.attempts))
                .bind(record.started_at)
                // Never a NULL float: sqlx 0.9's `Any` binds
                // `Option::<f64>::None` as a PostgreSQL `float4`, and the
                // statement, cached with that type, then rejects a real
                // `f64` on the same connection.
                .bind(record.duration_ms.unwrap_or(0.0))
                .bind(record.inputs.as_ref().map(json_text))
                .bind(record.outputs.as_ref().map(json_text))
                .bind(record.error.as_ref().map(json_text))
                .bind(i64::from(record.duration_ms.is_some()));
        }
        query.execute(&mut *conn).await.map_err(|e| {
            if is_fk_violation(&e) {
                StoreError::not_found(format!("run `{}`", chunk[0].0))
            } else {
                db(context)(e)
            }
        })?;
    }
    Ok(())
}
