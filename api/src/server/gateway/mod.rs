//! Published flows answering HTTP: `{project}-{stage}.{base_domain}/path`
//! (or a custom domain, or `/{project}/{stage}/path` on other hosts) runs
//! the flow whose trigger's route matches, and answers with its
//! `http.respond` node's response or its outputs as JSON.
//!
//! - **Dispatch** ([`dispatch`], a middleware in front of the API): a Host
//!   under a base domain or a custom domain is always a published flow's;
//!   on other hosts, `/v1/...`, `/healthz`, `/readyz` and `/metrics` are
//!   the API's, and any other path is `/{project}/{stage}/...`.
//! - **Routes** ([`tables`]): each (project, stage)'s table is built from
//!   the route store's records on first use and kept in a [`RouteCache`],
//!   stamped with the stage's routes version; this server's publishes and
//!   unpublishes drop it ([`Gateway::changed`]), and [`tables::watch`]
//!   drops it when another process changes the stage.
//! - **Auth**: `auth: api_key` routes take `Authorization: Bearer <key>` or
//!   `x-api-key` (401 missing or unknown, 403 not for this stage).
//! - **Inputs**: each flow input is filled from the path parameter of its
//!   name (typed), else the JSON body's field, else the query's single
//!   value; an input named `request` gets the whole request (method, path,
//!   params, query, headers, body). Bad inputs: 400 naming each.
//! - **Answer**: the `response` output of an `http.respond` node when the
//!   flow has one that ran, else 200 with the outputs. A failed run: 500
//!   with its id and nothing else about it. Every answer has
//!   `x-request-id`.
//! - **Modes** ([`modes`]): `Accept: text/event-stream` streams the run
//!   as server-sent events, `Prefer: respond-async` answers 202 with a
//!   status URL under `/_weft/runs/`, when the trigger allows it (406
//!   otherwise).
//! - **CORS** ([`cors`]) from the trigger's `cors`; preflights are
//!   answered here. A GET route answers HEAD too.
//!
//! ## Layout
//! - this module: [`Gateway`], [`dispatch`] and a request's way through.
//! - [`tables`]: route tables, published documents, change watching.
//! - [`modes`]: stream and async answers, run status URLs.
//! - [`cors`]: preflights and the CORS headers of answers.
//! - [`request`]: the request as the flow's inputs.
//! - [`respond`]: the finished run as the answer.

pub mod cors;
pub mod modes;
pub mod request;
pub mod respond;
pub mod tables;

use std::sync::Arc;

use axum::body::to_bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method as HttpMethod, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use dashmap::DashMap;
use serde_json::{Map, Value, json};
use weft_editor_protocol::trigger::{HttpAuth, TriggerMode};
use weft_router::{
    HostConfig, HostResolver, Lookup, Method, RouteCache, RouteRecord, RouteStore, Via,
};

use super::AppState;
use super::error::ApiError;
use super::runner::RunRequest;
use crate::store::{KeyCheck, Store};
use request::{flow_inputs, header_map, param_value, parse_body, query_map};

/// The router part of a server.
#[derive(Debug)]
pub struct Gateway {
    resolver: HostResolver,
    /// Where routes are read from (the SQL database, or DynamoDB).
    routes: Arc<dyn RouteStore>,
    cache: RouteCache<RouteRecord>,
    /// Published documents by (project, flow, version).
    documents: DashMap<(String, String, String), Arc<Value>>,
}

impl Gateway {
    pub fn new(
        hosts: HostConfig,
        routes: Arc<dyn RouteStore>,
    ) -> Result<Gateway, weft_router::ConfigError> {
        Ok(Gateway {
            resolver: HostResolver::new(hosts)?,
            routes,
            cache: RouteCache::default(),
            documents: DashMap::new(),
        })
    }

    /// The routes of (project, stage) changed (a publish or unpublish in
    /// `store`): this server's table goes, and a mirror route store
    /// (DynamoDB) is brought up to date. The publication is recorded
    /// either way; a mirror that cannot be written is a 503 saying so.
    pub async fn changed(&self, store: &Store, project: &str, stage: &str) -> Result<(), ApiError> {
        self.cache.invalidate(project, stage);
        if !self.routes.is_mirror() {
            return Ok(());
        }
        let failed = |e: String| {
            tracing::error!(project, stage, error = %e, "updating the {} route store", self.routes.kind());
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "route_store_unavailable",
                format!(
                    "the change is recorded, but the {} route table could not be updated, so \
                     routers do not see it yet: {e}; publish again to retry",
                    self.routes.kind()
                ),
            )
        };
        self.mirror(store, project, stage).await.map_err(failed)?;
        Ok(())
    }

    /// The route store's kind (`sql`, `dynamodb`).
    pub fn route_store(&self) -> &'static str {
        self.routes.kind()
    }

    /// Whether publishes are mirrored to another route store (DynamoDB),
    /// which [`Gateway::reconcile`] brings up to date.
    pub fn is_mirrored(&self) -> bool {
        self.routes.is_mirror()
    }
}

const API_PREFIXES: &[&str] = &["/v1/", "/healthz", "/readyz", "/metrics"];

fn is_api_path(path: &str) -> bool {
    path == "/v1" || API_PREFIXES.iter().any(|p| path.starts_with(p))
}

/// The middleware: published flows, or on to the API.
pub async fn dispatch(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned);
    let path = request.uri().path().to_owned();
    let target = app.gateway.resolver.resolve(host.as_deref(), &path);
    let (project, stage, route_path) = match target {
        Ok(t) if t.via != Via::Path || !is_api_path(&path) => (
            t.project.into_owned(),
            t.stage.into_owned(),
            t.path.to_owned(),
        ),
        _ if is_api_path(&path) => return next.run(request).await,
        Ok(_) => return next.run(request).await,
        Err(e) => return with_request_id(&HeaderMap::new(), bad_request(e.to_string())),
    };
    let request_headers = request.headers().clone();
    let base = path.strip_suffix(route_path.as_str()).unwrap_or("");
    let at = At {
        project: &project,
        stage: &stage,
        base,
        path: &route_path,
    };
    let response = serve(&app, at, request)
        .await
        .unwrap_or_else(IntoResponse::into_response);
    with_request_id(&request_headers, response)
}

fn bad_request(message: String) -> Response {
    ApiError::bad_request(message).into_response()
}

/// `x-request-id`: the caller's (when it is a sane token), else a new one.
fn with_request_id(request: &HeaderMap, mut response: Response) -> Response {
    let given = request
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (1..=128).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        })
        .map(str::to_owned);
    let id = given.unwrap_or_else(weft_runtime::executor::new_run_id);
    if let Ok(value) = HeaderValue::from_str(&id) {
        response
            .headers_mut()
            .insert(HeaderName::from_static("x-request-id"), value);
    }
    response
}

/// Where a request to a stage goes: `base` is what precedes the stage's
/// paths in the request (`/{project}/{stage}` on the path fallback).
#[derive(Debug, Clone, Copy)]
struct At<'a> {
    project: &'a str,
    stage: &'a str,
    base: &'a str,
    path: &'a str,
}

async fn serve(app: &AppState, at: At<'_>, request: Request) -> Result<Response, ApiError> {
    let (project, stage, path) = (at.project, at.stage, at.path);
    let table = app.gateway.table(project, stage).await?;
    if let Some(run) = path.strip_prefix(modes::STATUS_PREFIX) {
        return run_status(app, project, stage, &table, run, request.headers()).await;
    }
    let headers = request.headers();
    if cors::is_preflight(request.method(), headers) {
        let asked = cors::requested_method(headers).and_then(|m| m.parse::<Method>().ok());
        return Ok(match asked.map(|m| find(&table.table, m, path)) {
            Some(Ok(Lookup::Found { route, .. })) => {
                cors::preflight(route.target.http.cors.as_ref(), route.methods, headers)
            }
            _ => cors::preflight(None, weft_router::Methods::NONE, headers),
        });
    }
    let method: Method = request.method().as_str().parse().map_err(|_| {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "unsupported method",
        )
    })?;
    let lookup =
        find(&table.table, method, path).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let (route, params) = match lookup {
        Lookup::Found { route, params } => (route, params),
        Lookup::MethodNotAllowed { mut allow } => {
            if allow.contains(&Method::Get) && !allow.contains(&Method::Head) {
                allow.push(Method::Head);
            }
            let allow: Vec<&str> = allow.iter().map(|m| m.as_str()).collect();
            let mut response = ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("`{path}` answers {}", allow.join(", ")),
            )
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&allow.join(", ")) {
                response.headers_mut().insert(header::ALLOW, v);
            }
            return Ok(response);
        }
        Lookup::NotFound => {
            return Err(ApiError::not_found(format!(
                "no route of stage `{stage}` matches `{path}`"
            )));
        }
    };
    let params: Map<String, Value> = params
        .iter()
        .map(|(name, v)| (name.to_string(), param_value(v)))
        .collect();
    let record = &route.target;
    let origin_headers = record.http.cors.as_ref().map(|_| request.headers().clone());
    let head = request.method() == HttpMethod::HEAD;
    let mut answer = run_route(app, &at, record, params, request)
        .await
        .unwrap_or_else(IntoResponse::into_response);
    if head {
        *answer.body_mut() = axum::body::Body::empty();
    }
    Ok(match (&record.http.cors, origin_headers) {
        (Some(c), Some(h)) => cors::decorate(c, &h, answer),
        _ => answer,
    })
}

/// `lookup`, where a HEAD request a GET route answers is that route's.
fn find<'t>(
    table: &'t weft_router::RouteTable<RouteRecord>,
    method: Method,
    path: &str,
) -> Result<Lookup<'t, RouteRecord>, weft_router::PathError> {
    let found = table.lookup(method, path)?;
    if method == Method::Head
        && !matches!(found, Lookup::Found { .. })
        && let Ok(get @ Lookup::Found { .. }) = table.lookup(Method::Get, path)
    {
        return Ok(get);
    }
    Ok(found)
}

/// Runs the flow of `record` for `request`, in the mode it asks for.
async fn run_route(
    app: &AppState,
    at: &At<'_>,
    record: &RouteRecord,
    params: Map<String, Value>,
    request: Request,
) -> Result<Response, ApiError> {
    let (project, stage, path) = (at.project, at.stage, at.path);
    let headers = request.headers().clone();
    if record.http.auth == HttpAuth::ApiKey {
        check_key(app, project, stage, &headers).await?;
    }
    let mode = modes::choose(&headers, &record.http, &record.trigger)?;
    let http_method: HttpMethod = request.method().clone();
    let query = query_map(request.uri().query());
    let limit = app.config.max_body_bytes;
    let bytes = to_bytes(request.into_body(), limit).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body is larger than {limit} bytes"),
        )
    })?;
    let body = parse_body(&headers, &bytes)?;
    // The whole request, only for a flow that asks for it.
    let whole = || {
        json!({
            "method": http_method.as_str(),
            "path": path,
            "params": params,
            "query": query,
            "headers": header_map(&headers),
            "body": body,
        })
    };
    let document = app.gateway.document(&app.store, project, record).await?;
    let inputs = flow_inputs(&document, &params, &query, &body, whole);
    let started = app
        .runner
        .start(RunRequest {
            project: project.to_string(),
            flow: record.flow.clone(),
            version: Some(record.version.clone()),
            document: document.clone(),
            stage: Some(stage.to_string()),
            trigger: format!("http:{}", record.trigger),
            inputs,
            // The caller learns the run's id with its answer, except in
            // async mode, where the status URL must find it at once.
            record_late: mode != TriggerMode::Async,
            ..RunRequest::default()
        })
        .await?;
    let run = started.id.clone();
    match mode {
        TriggerMode::Async => return Ok(modes::accepted(&run, at.base)),
        TriggerMode::Stream => {
            let nodes = modes::wants_node_events(&headers);
            return Ok(modes::stream(app, run, started.live, nodes));
        }
        TriggerMode::Sync => {}
    }
    let outcome = started
        .done
        .await
        .map_err(|_| ApiError::internal(format!("run `{run}` ended without an outcome")))?;
    if outcome.status != weft_editor_protocol::events::RunStatus::Succeeded {
        return Ok((
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(json!({"error": {
                "code": "run_failed",
                "message": format!("the flow did not succeed; its owner can look up run `{run}`"),
                "run": run,
            }})),
        )
            .into_response());
    }
    Ok(respond::respond(&document, &outcome))
}

/// `GET <stage>/_weft/runs/{run}`: the status of a run the stage's routes
/// started, as JSON or followed over SSE. The key rule of the route that
/// started it applies (a key when that route is gone); a run of another
/// stage, or no run, is 404 alike.
async fn run_status(
    app: &AppState,
    project: &str,
    stage: &str,
    table: &weft_router::Cached<RouteRecord>,
    run: &str,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let missing = || ApiError::not_found(format!("no run `{run}` on stage `{stage}`"));
    let stored = match app.store.get_run(run).await {
        Ok(r) => r,
        Err(crate::store::StoreError::NotFound { .. }) => return Err(missing()),
        Err(e) => return Err(e.into()),
    };
    let Some(trigger) = stored.trigger.strip_prefix("http:") else {
        return Err(missing());
    };
    if stored.project != project || stored.stage.as_deref() != Some(stage) {
        return Err(missing());
    }
    let public = table.table.routes().iter().any(|r| {
        r.target.flow == stored.flow
            && r.target.trigger == trigger
            && r.target.http.auth == HttpAuth::Public
    });
    if !public {
        check_key(app, project, stage, headers).await?;
    }
    if request::wants(headers, header::ACCEPT, "text/event-stream") {
        let nodes = modes::wants_node_events(headers);
        return Ok(modes::follow_stored(app, stored.id, nodes));
    }
    Ok(axum::Json(modes::status_body(&stored)).into_response())
}

/// 401 without a key or with an unknown one, 403 with one of another stage.
async fn check_key(
    app: &AppState,
    project: &str,
    stage: &str,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    let key = super::auth::bearer(headers)
        .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| {
            ApiError::unauthorized(
                "this route needs an API key: `Authorization: Bearer <key>` or `x-api-key`",
            )
        })?;
    match app.store.check_api_key(project, stage, key).await? {
        KeyCheck::Allowed(_) => Ok(()),
        KeyCheck::WrongStage(k) => Err(ApiError::forbidden(format!(
            "API key `{}` is not for stage `{stage}`",
            k.name
        ))),
        KeyCheck::Unknown => Err(ApiError::unauthorized("unknown API key")),
    }
}
