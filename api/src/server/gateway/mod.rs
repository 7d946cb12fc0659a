//! Published flows answering HTTP: `{project}-{stage}.{base_domain}/path`
//! (or a custom domain, or `/{project}/{stage}/path` on other hosts) runs
//! the flow whose trigger's route matches, and answers with its
//! `http.respond` node's response or its outputs as JSON.
//!
//! - **Dispatch** ([`dispatch`], a middleware in front of the API): a Host
//!   under a base domain or a custom domain is always a published flow's;
//!   on other hosts, `/v1/...`, `/healthz`, `/readyz` and `/metrics` are
//!   the API's, and any other path is `/{project}/{stage}/...`.
//! - **Routes**: each (project, stage)'s table is built from its live
//!   documents' triggers ([`weft_router::flow_routes`]) on first use and
//!   kept in a [`RouteCache`], stamped with the stage's routes version;
//!   this server's publishes and unpublishes drop it ([`Gateway::changed`]).
//! - **Auth**: `auth: api_key` routes take `Authorization: Bearer <key>` or
//!   `x-api-key` (401 missing or unknown, 403 not for this stage).
//! - **Inputs**: each flow input is filled from the path parameter of its
//!   name (typed), else the JSON body's field, else the query's single
//!   value; an input named `request` gets the whole request (method, path,
//!   params, query, headers, body). Bad inputs: 400 naming each.
//! - **Answer**: the `response` output of an `http.respond` node when the
//!   flow has one that ran, else 200 with the outputs. A failed run: 500
//!   with its id and nothing else about it. Every answer has
//!   `x-request-id`. Only the `sync` mode is served so far: `Accept:
//!   text/event-stream` and `Prefer: respond-async` get 501.

use std::sync::Arc;

use axum::body::to_bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method as HttpMethod, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use weft_editor_protocol::flow::FlowDocument;
use weft_editor_protocol::trigger::HttpAuth;
use weft_router::{
    Cached, FlowRoute, HostConfig, HostResolver, Lookup, Method, ParamValue, Route, RouteCache,
    RouteTable, Via,
};

use super::AppState;
use super::error::ApiError;
use super::runner::RunRequest;
use crate::store::{KeyCheck, StoreError};

/// A route's target: the trigger and the published version it runs.
#[derive(Debug, Clone)]
pub struct Published {
    pub route: FlowRoute,
    pub version: String,
    pub document: Value,
}

/// The router part of a server.
#[derive(Debug)]
pub struct Gateway {
    resolver: HostResolver,
    cache: RouteCache<Published>,
}

impl Gateway {
    pub fn new(hosts: HostConfig) -> Result<Gateway, weft_router::ConfigError> {
        Ok(Gateway {
            resolver: HostResolver::new(hosts)?,
            cache: RouteCache::default(),
        })
    }

    /// The routes of (project, stage) changed (a publish or unpublish).
    pub fn changed(&self, project: &str, stage: &str) {
        self.cache.invalidate(project, stage);
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
    let response = serve(&app, &project, &stage, &route_path, request)
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

/// The table of (project, stage), built on first use.
async fn table(
    app: &AppState,
    project: &str,
    stage: &str,
) -> Result<Arc<Cached<Published>>, ApiError> {
    if let Some(cached) = app.gateway.cache.get(project, stage) {
        return Ok(cached);
    }
    let live = match app.store.stage_routes(project, stage).await {
        Ok(live) => live,
        Err(StoreError::NotFound { .. }) => {
            return Err(ApiError::not_found(format!(
                "nothing is published on stage `{stage}` of project `{project}`"
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let mut routes: Vec<Route<Published>> = Vec::new();
    for flow in &live.flows {
        let Ok(doc) = serde_json::from_value::<FlowDocument>(flow.document.clone()) else {
            tracing::warn!(flow = %flow.flow, "a live document no longer parses; it has no routes");
            continue;
        };
        let (found, skipped) = weft_router::flow_routes(&flow.flow, &doc);
        for s in skipped {
            tracing::warn!("route left out: {s}");
        }
        routes.extend(found.into_iter().map(|r| Route {
            id: r.id,
            flow: r.flow,
            methods: r.methods,
            pattern: r.pattern,
            target: Published {
                route: r.target,
                version: flow.version.clone(),
                document: flow.document.clone(),
            },
        }));
    }
    let table = match RouteTable::build(routes) {
        Ok(table) => table,
        Err(conflicts) => {
            // Publishing refuses conflicts; a stage with some predates that.
            tracing::error!(?conflicts, "conflicting routes on {project}/{stage}");
            return Err(ApiError::internal(
                "the stage's routes conflict; republish to fix",
            ));
        }
    };
    Ok(app.gateway.cache.put(project, stage, live.version, table))
}

async fn serve(
    app: &AppState,
    project: &str,
    stage: &str,
    path: &str,
    request: Request,
) -> Result<Response, ApiError> {
    let table = table(app, project, stage).await?;
    let method: Method = request.method().as_str().parse().map_err(|_| {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "unsupported method",
        )
    })?;
    let lookup = table
        .table
        .lookup(method, path)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let (route, params) = match lookup {
        Lookup::Found { route, params } => (route, params),
        Lookup::MethodNotAllowed { allow } => {
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
    let published = &route.target;
    let headers = request.headers().clone();
    if published.route.http.auth == HttpAuth::ApiKey {
        check_key(app, project, stage, &headers).await?;
    }
    if wants(&headers, header::ACCEPT, "text/event-stream")
        || wants(&headers, HeaderName::from_static("prefer"), "respond-async")
    {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "not_implemented",
            "streaming and async answers are not served yet; call without `Accept: text/event-stream` or `Prefer: respond-async`",
        ));
    }
    let params: Map<String, Value> = params
        .iter()
        .map(|(name, v)| (name.to_string(), param_value(v)))
        .collect();
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
    let inputs = flow_inputs(&published.document, &params, &query, &body, whole);
    let started = app
        .runner
        .start(RunRequest {
            project: project.to_string(),
            flow: published.route.flow.clone(),
            version: Some(published.version.clone()),
            document: published.document.clone(),
            stage: Some(stage.to_string()),
            trigger: "http".into(),
            inputs,
            ..RunRequest::default()
        })
        .await?;
    let run = started.id.clone();
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
    Ok(respond(&published.document, &outcome))
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

fn wants(headers: &HeaderMap, name: HeaderName, needle: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains(needle))
}

fn param_value(v: &ParamValue) -> Value {
    match v {
        ParamValue::Str(s) | ParamValue::Uuid(s) => json!(s),
        ParamValue::Int(i) => json!(i),
    }
}

/// `?a=1&a=2&b` as `{"a": ["1", "2"], "b": [""]}` (percent-decoded).
fn query_map(query: Option<&str>) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if let Value::Array(values) = out.entry(k.into_owned()).or_insert_with(|| json!([])) {
            values.push(json!(v));
        }
    }
    out
}

fn header_map(headers: &HeaderMap) -> Map<String, Value> {
    let mut out = Map::new();
    for (name, value) in headers {
        if name == header::AUTHORIZATION || name.as_str() == "x-api-key" || name == header::COOKIE {
            continue; // credentials never reach the flow
        }
        if let Ok(v) = value.to_str() {
            out.insert(name.as_str().to_string(), json!(v));
        }
    }
    out
}

/// The body by its content type: JSON (400 with the position when it does
/// not parse), a form, text, or bytes (base64).
fn parse_body(headers: &HeaderMap, bytes: &[u8]) -> Result<Value, ApiError> {
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    let kind = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if kind.starts_with("application/json") || kind.contains("+json") {
        return serde_json::from_slice(bytes).map_err(|e| {
            ApiError::bad_request(format!(
                "the body is not valid JSON: {e} (line {}, column {})",
                e.line(),
                e.column()
            ))
        });
    }
    if kind.starts_with("application/x-www-form-urlencoded") {
        let text = String::from_utf8_lossy(bytes);
        return Ok(Value::Object(query_map(Some(&text))));
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(json!(text)),
        Err(_) => {
            use base64::Engine as _;
            Ok(json!({"base64": base64::engine::general_purpose::STANDARD.encode(bytes)}))
        }
    }
}

/// Each declared input from the path parameter of its name, else the JSON
/// body's field, else the query's single value; `request` gets `whole`.
fn flow_inputs(
    document: &Value,
    params: &Map<String, Value>,
    query: &Map<String, Value>,
    body: &Value,
    whole: impl Fn() -> Value,
) -> Map<String, Value> {
    let mut inputs = Map::new();
    let Some(declared) = document.get("inputs").and_then(Value::as_object) else {
        return inputs;
    };
    for name in declared.keys() {
        let value = if name == "request" {
            Some(whole())
        } else if let Some(v) = params.get(name) {
            Some(v.clone())
        } else if let Some(v) = body.get(name) {
            Some(v.clone())
        } else {
            match query.get(name).and_then(Value::as_array) {
                Some(values) if values.len() == 1 => Some(values[0].clone()),
                Some(values) => Some(Value::Array(values.clone())),
                None => None,
            }
        };
        if let Some(v) = value {
            inputs.insert(name.clone(), v);
        }
    }
    inputs
}

/// The `http.respond` node's response when one ran, else the outputs.
fn respond(document: &Value, outcome: &weft_runtime::RunOutcome) -> Response {
    let responder = document
        .get("nodes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|n| {
            n.get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| t == "http.respond" || t.starts_with("http.respond@"))
        })
        .filter_map(|n| n.get("id").and_then(Value::as_str))
        .find_map(|id| outcome.nodes.get(id)?.outputs.get("response").cloned());
    let Some(response) = responder else {
        return (
            StatusCode::OK,
            axum::Json(Value::Object(outcome.outputs.clone().into_iter().collect())),
        )
            .into_response();
    };
    let status = response
        .get("status")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let body = response.get("body").cloned().unwrap_or(Value::Null);
    let mut out = match &body {
        Value::String(text) => (status, text.clone()).into_response(),
        other => (status, axum::Json(other.clone())).into_response(),
    };
    if let Some(headers) = response.get("headers").and_then(Value::as_object) {
        for (name, value) in headers {
            // Header names and values were checked by the node; anything
            // that is still not a valid header is dropped, never sent raw.
            if let (Ok(n), Some(Ok(v))) = (
                HeaderName::from_bytes(name.as_bytes()),
                value.as_str().map(HeaderValue::from_str),
            ) {
                out.headers_mut().insert(n, v);
            }
        }
    }
    out
}
