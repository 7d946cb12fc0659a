//! `/v1/projects`: create, list, get, rename, delete (admin for create and
//! delete; project scopes for the rest).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::server::AppState;
use crate::server::auth::{Access, Caller};
use crate::server::error::ApiError;
use crate::store::Project;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewProject {
    pub slug: String,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rename {
    pub name: String,
}

pub async fn create(
    State(app): State<AppState>,
    caller: Caller,
    body: Result<Json<NewProject>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Project>), ApiError> {
    caller.admin()?;
    let Json(body) = body?;
    let project = app
        .store
        .create_project(&body.slug, body.name.as_deref())
        .await?;
    Ok((StatusCode::CREATED, Json(project)))
}

/// The projects the caller may read.
pub async fn list(State(app): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let projects: Vec<Project> = app
        .store
        .list_projects()
        .await?
        .into_iter()
        .filter(|p| caller.check(&p.slug, Access::Read).is_ok())
        .collect();
    Ok(Json(json!({ "projects": projects })))
}

pub async fn get(
    State(app): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
) -> Result<Json<Project>, ApiError> {
    caller.check(&project, Access::Read)?;
    Ok(Json(app.store.get_project(&project).await?))
}

pub async fn rename(
    State(app): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
    body: Result<Json<Rename>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Project>, ApiError> {
    caller.check(&project, Access::Write)?;
    let Json(body) = body?;
    Ok(Json(app.store.rename_project(&project, &body.name).await?))
}

pub async fn delete(
    State(app): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.admin()?;
    app.store.delete_project(&project).await?;
    Ok(StatusCode::NO_CONTENT)
}
