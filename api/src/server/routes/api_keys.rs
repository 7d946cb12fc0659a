//! API keys of a project, for its published flows (routes with `auth:
//! api_key`): create (the plaintext is in this answer and nowhere else),
//! list, revoke. Project write access.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::server::AppState;
use crate::server::auth::{Access, Caller};
use crate::server::error::ApiError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    pub name: String,
    /// The stages the key may call; every stage when left out.
    pub stages: Option<Vec<String>>,
}

pub async fn create(
    State(app): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
    body: Result<Json<NewApiKey>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.check(&project, Access::Write)?;
    let Json(body) = body?;
    let (info, key) = app
        .store
        .create_api_key(&project, &body.name, body.stages.as_deref())
        .await?;
    Ok((StatusCode::CREATED, Json(json!({"key": key, "info": info}))))
}

pub async fn list(
    State(app): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.check(&project, Access::Write)?;
    Ok(Json(
        json!({"api_keys": app.store.list_api_keys(&project).await?}),
    ))
}

pub async fn revoke(
    State(app): State<AppState>,
    caller: Caller,
    Path((project, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    caller.check(&project, Access::Write)?;
    app.store.revoke_api_key(&project, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
