//! Publishing flows with HTTP triggers: routes that no request could tell
//! apart are refused (409) naming both flows.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::Bed;
use super::rest::hello;

/// `hello.json` as flow `name` with these triggers.
fn with_triggers(name: &str, triggers: Value) -> Value {
    let mut doc = hello();
    doc["name"] = json!(name);
    doc["triggers"] = triggers;
    doc
}

pub async fn publish_refuses_route_conflicts(bed: Bed) {
    let (status, _) = bed
        .admin("POST", "/v1/projects", Some(json!({"slug": "demo"})))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let greet = json!([{"kind": "http", "id": "greet", "path": "/hello/{name}", "auth": "public"}]);
    let rival = json!([
        {"kind": "http", "id": "list", "methods": ["GET"], "path": "/hello"},
        {"kind": "http", "id": "hi", "methods": ["POST", "PUT"], "path": "/hello/{who}"}
    ]);
    let other =
        json!([{"kind": "http", "id": "hi", "methods": ["POST"], "path": "/hello/{n:int}"}]);
    for (flow, triggers) in [("a", greet), ("b", rival), ("c", other)] {
        let path = format!("/v1/projects/demo/flows/{flow}");
        let (status, body) = bed
            .admin("PUT", &path, Some(with_triggers(flow, triggers)))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let bed = &bed;
    let publish = |flow: &str, stage: &str| {
        let path = format!("/v1/projects/demo/flows/{flow}/publish");
        let body = json!({"stage": stage});
        async move { bed.admin("POST", &path, Some(body)).await }
    };
    assert_eq!(publish("a", "prod").await.0, StatusCode::OK);
    // A typed parameter is more specific than a plain one: no conflict.
    assert_eq!(publish("c", "prod").await.0, StatusCode::OK);
    // `b`'s POST /hello/{who} is `a`'s POST /hello/{name}.
    let (status, body) = publish("b", "prod").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "conflict", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    for needle in [
        "flow `a`",
        "flow `b`",
        "`greet`",
        "`hi`",
        "/hello/{who}",
        "POST",
    ] {
        assert!(message.contains(needle), "{needle}: {message}");
    }
    // Nothing changed on the stage.
    let (_, stage) = bed
        .admin("GET", "/v1/projects/demo/stages/prod", None)
        .await;
    let live: Vec<&str> = stage["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["flow"].as_str().unwrap())
        .collect();
    assert_eq!(live, ["a", "c"], "{stage}");
    // Another stage is another table.
    assert_eq!(publish("b", "dev").await.0, StatusCode::OK);
    // Once `a` is off the stage, `b` fits; republishing `a` then conflicts.
    let (status, _) = bed
        .admin(
            "POST",
            "/v1/projects/demo/flows/a/unpublish",
            Some(json!({"stage": "prod"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(publish("b", "prod").await.0, StatusCode::OK);
    let (status, body) = publish("a", "prod").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    // Republishing a flow over itself is no conflict.
    assert_eq!(publish("b", "prod").await.0, StatusCode::OK);
}
