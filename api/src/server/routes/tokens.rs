//! API tokens (admin only): create (the plaintext is in this answer and
//! nowhere else), list, revoke.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::server::AppState;
use crate::server::auth::Caller;
use crate::server::error::ApiError;
use crate::store::Scope;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    pub name: String,
    /// `admin`, `project:<slug>:read`, `project:<slug>:write`.
    pub scopes: Vec<String>,
}

pub async fn create(
    State(app): State<AppState>,
    caller: Caller,
    body: Result<Json<NewToken>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.admin()?;
    let Json(body) = body?;
    let scopes = body
        .scopes
        .iter()
        .map(|s| Scope::parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    let (info, token) = app.store.create_token(&body.name, &scopes).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"token": token, "info": info})),
    ))
}

pub async fn list(State(app): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.admin()?;
    Ok(Json(json!({"tokens": app.store.list_tokens().await?})))
}

pub async fn revoke(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.admin()?;
    app.store.revoke_token(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}
