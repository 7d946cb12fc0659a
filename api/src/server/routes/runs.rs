//! Runs over REST: start (wait for the outputs, or 202 with the run id),
//! list, get with per-node records, cancel, events, full node outputs.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::server::AppState;
use crate::server::auth::{Access, Caller};
use crate::server::error::ApiError;
use crate::server::runner::RunRequest;
use crate::store::{RunFilter, RunStatus};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartRun {
    #[serde(default)]
    pub inputs: Map<String, Value>,
    /// Number, id or `latest`; default: the version live on `stage` when
    /// given, else the latest.
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub stage: Option<String>,
    /// Wait for the run to end and answer its outputs (default), or answer
    /// 202 with its id at once.
    #[serde(default = "yes")]
    pub wait: bool,
}

fn yes() -> bool {
    true
}

pub async fn start(
    State(app): State<AppState>,
    caller: Caller,
    Path((project, flow)): Path<(String, String)>,
    body: Result<Json<StartRun>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    caller.check(&project, Access::Write)?;
    let Json(body) = body?;
    let version = match (&body.version, &body.stage) {
        (Some(v), _) => app.store.get_version(&project, &flow, v).await?,
        (None, Some(stage)) => {
            let live = app
                .store
                .live_version(&project, stage, &flow)
                .await?
                .ok_or_else(|| {
                    ApiError::not_found(format!(
                        "flow `{flow}` is not published on stage `{stage}`"
                    ))
                })?;
            app.store
                .get_version(&project, &flow, &live.version.id)
                .await?
        }
        (None, None) => app.store.latest_version(&project, &flow).await?,
    };
    let started = app
        .runner
        .start(RunRequest {
            project,
            flow,
            version: Some(version.id),
            document: Arc::new(version.document),
            stage: body.stage,
            trigger: "api".into(),
            inputs: body.inputs,
            ..RunRequest::default()
        })
        .await?;
    let url = format!("/v1/runs/{}", started.id);
    if !body.wait {
        return Ok((
            StatusCode::ACCEPTED,
            [(header::LOCATION, url.clone())],
            Json(json!({"run": started.id, "status": "running", "status_url": url})),
        )
            .into_response());
    }
    let outcome = started
        .done
        .await
        .map_err(|_| ApiError::internal("the run ended without reporting"))?;
    let status = RunStatus::from(outcome.status);
    Ok(Json(json!({
        "run": started.id,
        "status": status,
        "outputs": outcome.outputs,
        "error": outcome.error,
        "duration_ms": outcome.duration.as_secs_f64() * 1000.0,
        "status_url": url,
    }))
    .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    pub flow: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub limit: Option<u32>,
    /// The last run id of the previous page.
    #[serde(default)]
    pub before: Option<String>,
}

pub async fn list(
    State(app): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    caller.check(&project, Access::Read)?;
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(RunStatus::parse(s).ok_or_else(|| {
            ApiError::bad_request(format!(
                "status `{s}`: expected running, succeeded, failed or cancelled"
            ))
        })?),
    };
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let runs = app
        .store
        .list_runs(&RunFilter {
            project,
            flow: q.flow,
            status,
            limit,
            before: q.before,
        })
        .await?;
    let next = (runs.len() == limit as usize)
        .then(|| runs.last().map(|r| r.id.clone()))
        .flatten();
    Ok(Json(json!({"runs": runs, "next_before": next})))
}

/// The run and its node records (inputs, outputs, timings, status).
pub async fn get(
    State(app): State<AppState>,
    caller: Caller,
    Path(run): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let record = app.store.get_run(&run).await?;
    caller.check(&record.project, Access::Read)?;
    let nodes = app.store.list_node_records(&run).await?;
    Ok(Json(json!({"run": record, "nodes": nodes})))
}

pub async fn cancel(
    State(app): State<AppState>,
    caller: Caller,
    Path(run): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let record = app.store.get_run(&run).await?;
    caller.check(&record.project, Access::Write)?;
    if app.runner.cancel(&run) {
        Ok((
            StatusCode::ACCEPTED,
            Json(json!({"run": run, "status": "cancelling"})),
        ))
    } else {
        Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_running",
            format!(
                "run `{run}` is not running (status: {})",
                record.status.as_str()
            ),
        ))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    #[serde(default)]
    pub after_seq: u64,
    #[serde(default)]
    pub limit: Option<u32>,
}

/// Stored events after `after_seq`, in order.
pub async fn events(
    State(app): State<AppState>,
    caller: Caller,
    Path(run): Path<String>,
    query: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let record = app.store.get_run(&run).await?;
    caller.check(&record.project, Access::Read)?;
    let limit = q
        .limit
        .unwrap_or(1000)
        .clamp(1, crate::store::EVENTS_PAGE_MAX);
    let events = app.store.events_after(&run, q.after_seq, limit).await?;
    Ok(Json(json!({"run": run, "events": events})))
}

/// One node output's full value.
pub async fn output(
    State(app): State<AppState>,
    caller: Caller,
    Path((run, node, port)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    let record = app.store.get_run(&run).await?;
    caller.check(&record.project, Access::Read)?;
    Ok(Json(app.store.get_node_output(&run, &node, &port).await?))
}
