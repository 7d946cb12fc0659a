//! The REST routes, one module per resource. Every `/v1` route but the
//! OpenAPI document takes a [`Caller`](super::auth::Caller) (401/403);
//! `/healthz`, `/readyz` and `/metrics` are open (for probes and scrapers).

pub mod api_keys;
pub mod flows;
pub mod health;
pub mod projects;
pub mod runs;
pub mod secrets;
pub mod tokens;

use axum::Router;
use axum::routing::{get, post, put};

use super::AppState;

/// The probes: `/healthz`, `/readyz`, `/metrics`.
pub fn probes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
}

/// The probes and the management API.
pub fn router() -> Router<AppState> {
    probes()
        .route("/v1/nodes", get(health::nodes))
        .route("/v1/projects", get(projects::list).post(projects::create))
        .route(
            "/v1/projects/{project}",
            get(projects::get)
                .patch(projects::rename)
                .delete(projects::delete),
        )
        .route("/v1/projects/{project}/flows", get(flows::list))
        .route(
            "/v1/projects/{project}/flows/{flow}",
            put(flows::save).get(flows::get),
        )
        .route(
            "/v1/projects/{project}/flows/{flow}/versions",
            get(flows::versions),
        )
        .route(
            "/v1/projects/{project}/flows/{flow}/versions/{version}",
            get(flows::version),
        )
        .route(
            "/v1/projects/{project}/flows/{flow}/publish",
            post(flows::publish),
        )
        .route(
            "/v1/projects/{project}/flows/{flow}/unpublish",
            post(flows::unpublish),
        )
        .route("/v1/projects/{project}/stages", get(flows::stages))
        .route("/v1/projects/{project}/stages/{stage}", get(flows::stage))
        .route(
            "/v1/projects/{project}/stages/{stage}/flows/{flow}/history",
            get(flows::history),
        )
        .route(
            "/v1/projects/{project}/flows/{flow}/runs",
            post(runs::start),
        )
        .route("/v1/projects/{project}/runs", get(runs::list))
        .route("/v1/runs/{run}", get(runs::get))
        .route("/v1/runs/{run}/cancel", post(runs::cancel))
        .route("/v1/runs/{run}/events", get(runs::events))
        .route(
            "/v1/runs/{run}/nodes/{node}/outputs/{port}",
            get(runs::output),
        )
        .route("/v1/projects/{project}/secrets", get(secrets::list))
        .route(
            "/v1/projects/{project}/secrets/{name}",
            put(secrets::set).delete(secrets::delete),
        )
        .route(
            "/v1/projects/{project}/api-keys",
            get(api_keys::list).post(api_keys::create),
        )
        .route(
            "/v1/projects/{project}/api-keys/{id}",
            axum::routing::delete(api_keys::revoke),
        )
        .route("/v1/tokens", get(tokens::list).post(tokens::create))
        .route("/v1/tokens/{id}", axum::routing::delete(tokens::revoke))
}
