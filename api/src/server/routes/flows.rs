//! Flows, their versions, publishing to stages.
//!
//! `PUT /v1/projects/{project}/flows/{flow}` takes a flow document,
//! validates it exactly like `weft validate` (422 with every diagnostic,
//! located by line and column in the body) and stores a new immutable
//! version when its content changed (201), or returns the existing one
//! (200).
//!
//! Publishing refuses (409) a version whose HTTP routes would collide with
//! those of another flow live on the stage ([`weft_router::publish_conflicts`]).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::server::AppState;
use crate::server::auth::{Access, Caller};
use crate::server::error::ApiError;
use weft_editor_protocol::flow::FlowDocument;

use crate::store::{FlowVersion, LiveFlow, PublishCheck, StoreError};

type Json422<T> = Result<Json<T>, axum::extract::rejection::JsonRejection>;

pub async fn save(
    State(app): State<AppState>,
    caller: Caller,
    Path((project, flow)): Path<(String, String)>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.check(&project, Access::Write)?;
    app.store.get_project(&project).await?;
    let text = std::str::from_utf8(&body)
        .map_err(|e| ApiError::bad_request(format!("the body is not UTF-8: {e}")))?;
    if let Err(diags) = app.runner.engine().validate_text(text).await {
        return Err(ApiError::invalid_flow(&diags));
    }
    let document: Value = serde_json::from_str(text)
        .map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))?;
    let (version, created) = app.store.save_version(&project, &flow, &document).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(json!({"created": created, "version": version.summary()})),
    ))
}

pub async fn list(
    State(app): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.check(&project, Access::Read)?;
    app.store.get_project(&project).await?;
    Ok(Json(
        json!({"flows": app.store.list_flows(&project).await?}),
    ))
}

/// The latest version, with its document.
pub async fn get(
    State(app): State<AppState>,
    caller: Caller,
    Path((project, flow)): Path<(String, String)>,
) -> Result<Json<FlowVersion>, ApiError> {
    caller.check(&project, Access::Read)?;
    Ok(Json(app.store.latest_version(&project, &flow).await?))
}

pub async fn versions(
    State(app): State<AppState>,
    caller: Caller,
    Path((project, flow)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    caller.check(&project, Access::Read)?;
    let versions = app.store.list_versions(&project, &flow).await?;
    Ok(Json(json!({ "versions": versions })))
}

/// One version by number, id or `latest`.
pub async fn version(
    State(app): State<AppState>,
    caller: Caller,
    Path((project, flow, version)): Path<(String, String, String)>,
) -> Result<Json<FlowVersion>, ApiError> {
    caller.check(&project, Access::Read)?;
    Ok(Json(
        app.store.get_version(&project, &flow, &version).await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Publish {
    pub stage: String,
    /// Number, id or `latest` (the default).
    #[serde(default)]
    pub version: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unpublish {
    pub stage: String,
}

/// Makes a version live on a stage (publishing an older one is a rollback).
pub async fn publish(
    State(app): State<AppState>,
    caller: Caller,
    Path((project, flow)): Path<(String, String)>,
    body: Json422<Publish>,
) -> Result<Json<LiveFlow>, ApiError> {
    caller.check(&project, Access::Write)?;
    let Json(body) = body?;
    let version = body.version.as_deref().unwrap_or("latest");
    let live = app
        .store
        .publish_checked(&project, &body.stage, &flow, version, route_check)
        .await?;
    app.gateway
        .changed(&app.store, &project, &body.stage)
        .await?;
    Ok(Json(live))
}

/// Refuses a publish whose routes no request could tell apart from those
/// of another flow live on the stage (409 naming both flows and routes).
fn route_check(c: PublishCheck<'_>) -> Result<(), StoreError> {
    let parse = |doc: &Value| serde_json::from_value::<FlowDocument>(doc.clone()).ok();
    let Some(doc) = parse(c.document) else {
        // Stored versions were validated; one that no longer parses has
        // no routes this check could compare.
        return Ok(());
    };
    let live: Vec<(String, FlowDocument)> = c
        .live
        .iter()
        .filter_map(|(flow, doc)| Some((flow.clone(), parse(doc)?)))
        .collect();
    let conflicts = weft_router::publish_conflicts(c.flow, &doc, &live);
    if conflicts.is_empty() {
        return Ok(());
    }
    let listed: Vec<String> = conflicts.iter().map(ToString::to_string).collect();
    Err(StoreError::conflict(format!(
        "publishing flow `{}` to stage `{}` would give it routes no request could tell apart \
         from those of another flow: {}",
        c.flow,
        c.stage,
        listed.join("; ")
    )))
}

pub async fn unpublish(
    State(app): State<AppState>,
    caller: Caller,
    Path((project, flow)): Path<(String, String)>,
    body: Json422<Unpublish>,
) -> Result<StatusCode, ApiError> {
    caller.check(&project, Access::Write)?;
    let Json(body) = body?;
    if app.store.unpublish(&project, &body.stage, &flow).await? {
        app.gateway
            .changed(&app.store, &project, &body.stage)
            .await?;
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "flow `{flow}` is not published on stage `{}`",
            body.stage
        )))
    }
}

pub async fn stages(
    State(app): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.check(&project, Access::Read)?;
    app.store.get_project(&project).await?;
    Ok(Json(
        json!({"stages": app.store.list_stages(&project).await?}),
    ))
}

/// What is live on a stage.
pub async fn stage(
    State(app): State<AppState>,
    caller: Caller,
    Path((project, stage)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    caller.check(&project, Access::Read)?;
    let live = app.store.live(&project, &stage).await?;
    Ok(Json(json!({"stage": stage, "flows": live})))
}

pub async fn history(
    State(app): State<AppState>,
    caller: Caller,
    Path((project, stage, flow)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    caller.check(&project, Access::Read)?;
    let history = app
        .store
        .publication_history(&project, &stage, &flow)
        .await?;
    Ok(Json(
        json!({"stage": stage, "flow": flow, "publications": history}),
    ))
}
