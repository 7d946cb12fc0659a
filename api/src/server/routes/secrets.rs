//! Secrets per project (and optionally per stage): set, delete, list
//! names. Values are write-only: no route ever returns one.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::server::AppState;
use crate::server::auth::{Access, Caller};
use crate::server::error::ApiError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetSecret {
    pub value: String,
    /// Only for this stage; every stage when absent.
    #[serde(default)]
    pub stage: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageQuery {
    #[serde(default)]
    pub stage: Option<String>,
}

pub async fn list(
    State(app): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.check(&project, Access::Read)?;
    app.store.get_project(&project).await?;
    Ok(Json(
        json!({"secrets": app.store.list_secrets(&project).await?}),
    ))
}

pub async fn set(
    State(app): State<AppState>,
    caller: Caller,
    Path((project, name)): Path<(String, String)>,
    body: Result<Json<SetSecret>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    caller.check(&project, Access::Write)?;
    let Json(body) = body?;
    app.store
        .set_secret(&project, body.stage.as_deref(), &name, &body.value)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn delete(
    State(app): State<AppState>,
    caller: Caller,
    Path((project, name)): Path<(String, String)>,
    query: Result<Query<StageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<StatusCode, ApiError> {
    caller.check(&project, Access::Write)?;
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    app.store
        .delete_secret(&project, q.stage.as_deref(), &name)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
