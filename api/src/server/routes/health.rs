//! Probes, metrics and the node catalogue.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{Value, json};

use crate::server::AppState;
use crate::server::auth::Caller;
use crate::server::error::ApiError;

/// Alive (the process answers).
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Ready: the database answers (503 with the reason otherwise).
pub async fn readyz(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    app.store.ping().await?;
    Ok(Json(json!({"status": "ready"})))
}

pub async fn metrics(State(app): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(app.runner.running()),
    )
}

/// The node catalogue, for the editor's palette.
pub async fn nodes(State(app): State<AppState>, _caller: Caller) -> Json<Value> {
    let catalog = app.runner.engine().registry().catalog().await;
    Json(json!({ "nodes": catalog }))
}
