//! `GET /v1/openapi.json`: the REST API as an OpenAPI 3.1 document, built
//! from the route table below and the wire types' JSON Schemas (the same
//! schemas `editor-protocol/schema/` holds). A test checks that every
//! route the router serves is listed here.

use axum::Json;
use schemars::schema_for;
use serde_json::{Map, Value, json};
use weft_editor_protocol::FlowDocument;
use weft_editor_protocol::events::RunEvent;

/// `(method, path, summary, request body schema, success status)`.
pub const OPERATIONS: &[(&str, &str, &str, Option<&str>, u16)] = &[
    ("get", "/healthz", "Liveness probe", None, 200),
    (
        "get",
        "/readyz",
        "Readiness: the database answers (503 otherwise)",
        None,
        200,
    ),
    ("get", "/metrics", "Prometheus metrics", None, 200),
    ("get", "/v1/nodes", "The node catalogue", None, 200),
    (
        "get",
        "/v1/projects",
        "Projects the token may read",
        None,
        200,
    ),
    (
        "post",
        "/v1/projects",
        "Create a project (admin)",
        Some("NewProject"),
        201,
    ),
    ("get", "/v1/projects/{project}", "A project", None, 200),
    (
        "patch",
        "/v1/projects/{project}",
        "Rename a project",
        Some("Rename"),
        200,
    ),
    (
        "delete",
        "/v1/projects/{project}",
        "Delete a project and everything in it (admin)",
        None,
        204,
    ),
    (
        "get",
        "/v1/projects/{project}/flows",
        "Flows of a project",
        None,
        200,
    ),
    (
        "put",
        "/v1/projects/{project}/flows/{flow}",
        "Save a flow document: 201 new version, 200 unchanged, 422 with every diagnostic",
        Some("FlowDocument"),
        201,
    ),
    (
        "get",
        "/v1/projects/{project}/flows/{flow}",
        "The latest version with its document",
        None,
        200,
    ),
    (
        "get",
        "/v1/projects/{project}/flows/{flow}/versions",
        "Versions of a flow",
        None,
        200,
    ),
    (
        "get",
        "/v1/projects/{project}/flows/{flow}/versions/{version}",
        "A version (number, id or `latest`)",
        None,
        200,
    ),
    (
        "post",
        "/v1/projects/{project}/flows/{flow}/publish",
        "Make a version live on a stage (an older one: rollback); 409 if its HTTP routes collide with another live flow's",
        Some("Publish"),
        200,
    ),
    (
        "post",
        "/v1/projects/{project}/flows/{flow}/unpublish",
        "Take a flow off a stage",
        Some("Unpublish"),
        204,
    ),
    (
        "get",
        "/v1/projects/{project}/stages",
        "Stages of a project",
        None,
        200,
    ),
    (
        "get",
        "/v1/projects/{project}/stages/{stage}",
        "What is live on a stage",
        None,
        200,
    ),
    (
        "get",
        "/v1/projects/{project}/stages/{stage}/flows/{flow}/history",
        "Publication history",
        None,
        200,
    ),
    (
        "post",
        "/v1/projects/{project}/flows/{flow}/runs",
        "Run a flow: wait for its outputs, or 202 with the run id (`wait: false`)",
        Some("StartRun"),
        200,
    ),
    (
        "get",
        "/v1/projects/{project}/runs",
        "Runs, newest first (filters: flow, status, limit, before)",
        None,
        200,
    ),
    (
        "get",
        "/v1/runs/{run}",
        "A run with its node records",
        None,
        200,
    ),
    (
        "post",
        "/v1/runs/{run}/cancel",
        "Cancel a running run",
        None,
        202,
    ),
    (
        "get",
        "/v1/runs/{run}/events",
        "Stored events after `after_seq`",
        None,
        200,
    ),
    (
        "get",
        "/v1/runs/{run}/nodes/{node}/outputs/{port}",
        "A node output's full value",
        None,
        200,
    ),
    (
        "get",
        "/v1/projects/{project}/secrets",
        "Secret names (never values)",
        None,
        200,
    ),
    (
        "put",
        "/v1/projects/{project}/secrets/{name}",
        "Set a secret (optionally for one stage)",
        Some("SetSecret"),
        204,
    ),
    (
        "delete",
        "/v1/projects/{project}/secrets/{name}",
        "Delete a secret (`?stage=`)",
        None,
        204,
    ),
    (
        "get",
        "/v1/projects/{project}/api-keys",
        "API keys for the project's published flows (without secrets)",
        None,
        200,
    ),
    (
        "post",
        "/v1/projects/{project}/api-keys",
        "Create an API key for some or all stages; the answer holds it once",
        Some("NewApiKey"),
        201,
    ),
    (
        "delete",
        "/v1/projects/{project}/api-keys/{id}",
        "Revoke an API key",
        None,
        204,
    ),
    ("get", "/v1/tokens", "API tokens (admin)", None, 200),
    (
        "post",
        "/v1/tokens",
        "Create an API token; the answer holds it once (admin)",
        Some("NewToken"),
        201,
    ),
    (
        "delete",
        "/v1/tokens/{id}",
        "Revoke a token (admin)",
        None,
        204,
    ),
    (
        "get",
        "/v1/editor",
        "The editor websocket (see the ClientMessage / ServerMessage schemas)",
        None,
        101,
    ),
    ("get", "/v1/openapi.json", "This document", None, 200),
];

/// Request bodies that are not wire-contract types.
fn local_schemas() -> Map<String, Value> {
    let object = |props: Value, required: &[&str]| json!({"type": "object", "properties": props, "required": required, "additionalProperties": false});
    let mut m = Map::new();
    m.insert(
        "NewProject".into(),
        object(
            json!({"slug": {"type": "string"}, "name": {"type": "string"}}),
            &["slug"],
        ),
    );
    m.insert(
        "Rename".into(),
        object(json!({"name": {"type": "string"}}), &["name"]),
    );
    m.insert(
        "Publish".into(),
        object(
            json!({"stage": {"type": "string"}, "version": {"type": "string"}}),
            &["stage"],
        ),
    );
    m.insert(
        "Unpublish".into(),
        object(json!({"stage": {"type": "string"}}), &["stage"]),
    );
    m.insert("StartRun".into(), object(json!({"inputs": {"type": "object"}, "version": {"type": "string"}, "stage": {"type": "string"}, "wait": {"type": "boolean", "default": true}}), &[]));
    m.insert(
        "SetSecret".into(),
        object(
            json!({"value": {"type": "string"}, "stage": {"type": "string"}}),
            &["value"],
        ),
    );
    m.insert("NewApiKey".into(), object(json!({"name": {"type": "string"}, "stages": {"type": "array", "items": {"type": "string"}}}), &["name"]));
    m.insert("NewToken".into(), object(json!({"name": {"type": "string"}, "scopes": {"type": "array", "items": {"type": "string"}}}), &["name", "scopes"]));
    m.insert("Error".into(), object(json!({"error": object(json!({"code": {"type": "string"}, "message": {"type": "string"}, "details": {}}), &["code", "message"])}), &["error"]));
    m
}

/// The whole document.
pub fn build() -> Value {
    let mut schemas = local_schemas();
    for (name, schema) in [
        (
            "FlowDocument",
            serde_json::to_value(schema_for!(FlowDocument)),
        ),
        ("RunEvent", serde_json::to_value(schema_for!(RunEvent))),
        (
            "ClientMessage",
            serde_json::to_value(schema_for!(weft_editor_protocol::ws::ClientMessage)),
        ),
        (
            "ServerMessage",
            serde_json::to_value(schema_for!(weft_editor_protocol::ws::ServerMessage)),
        ),
    ] {
        schemas.insert(name.into(), schema.unwrap_or(Value::Null));
    }
    let mut paths = Map::new();
    for (method, path, summary, body, status) in OPERATIONS {
        let params: Vec<Value> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        let open = matches!(
            *path,
            "/healthz" | "/readyz" | "/metrics" | "/v1/openapi.json"
        );
        let mut op = json!({
            "summary": summary,
            "parameters": params,
            "responses": {
                status.to_string(): {"description": "success"},
                "default": {"description": "an error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            }
        });
        if !open {
            op["security"] = json!([{"bearer": []}]);
        }
        if let Some(body) = body {
            op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{body}")}}}});
        }
        let entry = paths
            .entry(path.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        entry[*method] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Weft", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Weft's management API and editor websocket. Errors are {\"error\": {\"code\", \"message\", \"details\"}}."},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}
        }
    })
}

pub async fn document() -> Json<Value> {
    Json(build())
}
