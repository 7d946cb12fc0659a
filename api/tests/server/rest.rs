//! The REST API.

use axum::http::StatusCode;
use serde_json::{Value, json};
use weft::store::Scope;

use super::Bed;

pub fn hello() -> Value {
    serde_json::from_str(include_str!("../../../examples/hello.json")).unwrap()
}

async fn project(bed: &Bed, slug: &str) {
    let (status, body) = bed
        .admin("POST", "/v1/projects", Some(json!({"slug": slug})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

pub async fn auth_is_enforced(bed: Bed) {
    project(&bed, "demo").await;
    // Missing, malformed and unknown tokens: 401.
    let (status, body) = bed.call("GET", "/v1/projects/demo", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthorized");
    let (status, _) = bed
        .call("GET", "/v1/projects/demo", Some("wft_not-a-token"), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A read token: reads, but may not write or touch another project.
    let read = bed.token(&[Scope::ProjectRead("demo".into())]).await;
    let (status, _) = bed
        .call("GET", "/v1/projects/demo", Some(&read), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = bed
        .call(
            "PUT",
            "/v1/projects/demo/flows/hello",
            Some(&read),
            Some(hello()),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("project:demo:write")
    );
    let (status, _) = bed
        .call("GET", "/v1/projects/other", Some(&read), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Only admins create projects or tokens.
    let write = bed.token(&[Scope::ProjectWrite("demo".into())]).await;
    let (status, _) = bed
        .call(
            "POST",
            "/v1/projects",
            Some(&write),
            Some(json!({"slug": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = bed.call("GET", "/v1/tokens", Some(&write), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Listing shows only readable projects.
    project(&bed, "other").await;
    let (_, body) = bed.call("GET", "/v1/projects", Some(&read), None).await;
    assert_eq!(body["projects"].as_array().unwrap().len(), 1);
    // Revoked tokens stop working.
    let (status, body) = bed
        .admin(
            "POST",
            "/v1/tokens",
            Some(json!({"name": "ci", "scopes": ["project:demo:read"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let token = body["token"].as_str().unwrap().to_string();
    let id = body["info"]["id"].as_str().unwrap().to_string();
    let (status, _) = bed
        .call("GET", "/v1/projects/demo", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = bed.admin("DELETE", &format!("/v1/tokens/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = bed
        .call("GET", "/v1/projects/demo", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Probes are open.
    let (status, _) = bed.call("GET", "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = bed.call("GET", "/readyz", None, None).await;
    assert_eq!(status, StatusCode::OK);
}

pub async fn projects_and_flow_versions(bed: Bed) {
    project(&bed, "demo").await;
    let (status, body) = bed
        .admin("POST", "/v1/projects", Some(json!({"slug": "demo"})))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = bed
        .admin("POST", "/v1/projects", Some(json!({"slug": "Not A Slug"})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    let path = "/v1/projects/demo/flows/hello";
    let (status, first) = bed.admin("PUT", path, Some(hello())).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["version"]["number"], 1);
    // Same content: the same version, 200.
    let (status, again) = bed.admin("PUT", path, Some(hello())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["created"], false);
    assert_eq!(again["version"]["id"], first["version"]["id"]);
    // Changed content: version 2.
    let mut changed = hello();
    changed["description"] = json!("changed");
    let (status, second) = bed.admin("PUT", path, Some(changed)).await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    assert_eq!(second["version"]["number"], 2);
    let (_, versions) = bed.admin("GET", &format!("{path}/versions"), None).await;
    assert_eq!(versions["versions"].as_array().unwrap().len(), 2);
    let (status, v1) = bed.admin("GET", &format!("{path}/versions/1"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v1["document"], hello());
    let (_, latest) = bed.admin("GET", path, None).await;
    assert_eq!(latest["number"], 2);
    let (status, body) = bed.admin("GET", &format!("{path}/versions/9"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (_, flows) = bed.admin("GET", "/v1/projects/demo/flows", None).await;
    assert_eq!(flows["flows"][0]["name"], "hello");
    // The node catalogue.
    let (status, nodes) = bed.admin("GET", "/v1/nodes", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        nodes["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["type"] == "text.template")
    );
    // Deleting the project removes its flows.
    let (status, _) = bed.admin("DELETE", "/v1/projects/demo", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = bed.admin("GET", path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

pub async fn invalid_flows_get_every_diagnostic(bed: Bed) {
    project(&bed, "demo").await;
    let bad = json!({"weft": 1, "name": "bad",
        "nodes": [{"id": "a", "type": "nope"}, {"id": "b", "type": "text.upper"}],
        "edges": [{"from": "a.x", "to": "b.text"}],
        "outputs": {"o": "missing.port"}});
    let (status, body) = bed
        .admin("PUT", "/v1/projects/demo/flows/bad", Some(bad))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "invalid_flow");
    let diags = body["error"]["details"]["diagnostics"].as_array().unwrap();
    assert!(diags.len() >= 2, "{body}");
    assert!(diags.iter().all(|d| d["line"].as_u64().is_some()), "{body}");
    // Nothing was stored.
    let (status, _) = bed.admin("GET", "/v1/projects/demo/flows/bad", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Not JSON at all: 422 with the position, too.
    let (status, body) = bed
        .admin("PUT", "/v1/projects/demo/flows/bad", Some(json!("{")))
        .await;
    assert!(status.is_client_error(), "{status} {body}");
}

pub async fn publish_unpublish_and_rollback(bed: Bed) {
    project(&bed, "demo").await;
    let path = "/v1/projects/demo/flows/hello";
    bed.admin("PUT", path, Some(hello())).await;
    let mut changed = hello();
    changed["description"] = json!("v2");
    bed.admin("PUT", path, Some(changed)).await;
    let (status, body) = bed
        .admin(
            "POST",
            &format!("{path}/publish"),
            Some(json!({"stage": "prod"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, live) = bed
        .admin("GET", "/v1/projects/demo/stages/prod", None)
        .await;
    assert_eq!(live["flows"][0]["version"]["number"], 2, "{live}");
    // Rollback: publish version 1.
    let (status, _) = bed
        .admin(
            "POST",
            &format!("{path}/publish"),
            Some(json!({"stage": "prod", "version": "1"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, live) = bed
        .admin("GET", "/v1/projects/demo/stages/prod", None)
        .await;
    assert_eq!(live["flows"][0]["version"]["number"], 1);
    let (_, history) = bed
        .admin(
            "GET",
            "/v1/projects/demo/stages/prod/flows/hello/history",
            None,
        )
        .await;
    assert!(
        history["publications"].as_array().unwrap().len() >= 2,
        "{history}"
    );
    // A run of the stage's live version.
    let (status, run) = bed
        .admin(
            "POST",
            &format!("{path}/runs"),
            Some(json!({"stage": "prod", "inputs": {"name": "Ada"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    let (_, record) = bed
        .admin(
            "GET",
            &format!("/v1/runs/{}", run["run"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(record["run"]["version_number"], 1);
    // Unpublish; twice is 404.
    let (status, _) = bed
        .admin(
            "POST",
            &format!("{path}/unpublish"),
            Some(json!({"stage": "prod"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = bed
        .admin(
            "POST",
            &format!("{path}/unpublish"),
            Some(json!({"stage": "prod"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, live) = bed
        .admin("GET", "/v1/projects/demo/stages/prod", None)
        .await;
    assert_eq!(live["flows"], json!([]));
    let (_, stages) = bed.admin("GET", "/v1/projects/demo/stages", None).await;
    assert_eq!(stages["stages"][0]["name"], "prod");
}

/// A flow whose one node sleeps `ms` (the `test.sleep` guest).
pub fn sleeper(ms: u64) -> Value {
    json!({"weft": 1, "name": "sleepy",
           "nodes": [{"id": "nap", "type": "test.sleep", "config": {"ms": ms}}],
           "outputs": {"slept": "nap.slept"}})
}

pub async fn runs_sync_async_and_history(bed: Bed) {
    project(&bed, "demo").await;
    let path = "/v1/projects/demo/flows/hello";
    bed.admin("PUT", path, Some(hello())).await;
    // Synchronous: the outputs.
    let (status, run) = bed
        .admin(
            "POST",
            &format!("{path}/runs"),
            Some(json!({"inputs": {"name": "Ada"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!(run["status"], "succeeded");
    assert_eq!(run["outputs"]["greeting"], "HELLO ADA!");
    let id = run["run"].as_str().unwrap().to_string();
    // The record, with per-node inputs and outputs.
    let (_, record) = bed.admin("GET", &format!("/v1/runs/{id}"), None).await;
    assert_eq!(record["run"]["status"], "succeeded");
    let nodes = record["nodes"].as_array().unwrap();
    let greet = nodes.iter().find(|n| n["node"] == "greet").unwrap();
    assert_eq!(greet["inputs"]["name"], "Ada");
    assert_eq!(greet["outputs"]["text"], "Hello Ada!");
    assert_eq!(greet["status"], "succeeded");
    // Stored events, gap-free, and one output in full.
    let (_, events) = bed
        .admin("GET", &format!("/v1/runs/{id}/events?after_seq=2"), None)
        .await;
    let seqs: Vec<u64> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs.first(), Some(&3));
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    let (status, value) = bed
        .admin(
            "GET",
            &format!("/v1/runs/{id}/nodes/shout/outputs/text"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(value, json!("HELLO ADA!"));
    // Bad inputs: 400 naming each, and no run is made.
    let (status, refused) = bed
        .admin(
            "POST",
            &format!("{path}/runs"),
            Some(json!({"inputs": {"name": 5, "extra": true}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused["error"]["code"], "invalid_inputs", "{refused}");
    let problems = refused["error"]["details"]["inputs"].as_array().unwrap();
    assert_eq!(problems.len(), 2, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("input `name`: expected string"),
        "{refused}"
    );
    // Asynchronous: 202 with the id, then cancel.
    bed.admin(
        "PUT",
        "/v1/projects/demo/flows/sleepy",
        Some(sleeper(20_000)),
    )
    .await;
    let (status, started) = bed
        .admin(
            "POST",
            "/v1/projects/demo/flows/sleepy/runs",
            Some(json!({"wait": false})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let slow = started["run"].as_str().unwrap().to_string();
    let (_, record) = bed.admin("GET", &format!("/v1/runs/{slow}"), None).await;
    assert_eq!(record["run"]["status"], "running");
    let (status, _) = bed
        .admin("POST", &format!("/v1/runs/{slow}/cancel"), None)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let mut status_now = Value::Null;
    for _ in 0..100 {
        let (_, record) = bed.admin("GET", &format!("/v1/runs/{slow}"), None).await;
        status_now = record["run"]["status"].clone();
        if status_now != "running" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(status_now, "cancelled");
    let (status, _) = bed
        .admin("POST", &format!("/v1/runs/{slow}/cancel"), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    // Listing and filters.
    let (_, list) = bed
        .admin("GET", "/v1/projects/demo/runs?flow=hello", None)
        .await;
    assert_eq!(list["runs"].as_array().unwrap().len(), 1);
    let (_, list) = bed
        .admin("GET", "/v1/projects/demo/runs?status=cancelled", None)
        .await;
    assert_eq!(list["runs"].as_array().unwrap().len(), 1);
    let (status, _) = bed
        .admin("GET", "/v1/projects/demo/runs?status=bogus", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Metrics counted them.
    let (status, _) = bed.call("GET", "/metrics", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let text = bed.state.metrics.render(0);
    assert!(
        text.contains("weft_runs_finished_total{status=\"cancelled\"} 1"),
        "{text}"
    );
    // Every run's start and end went through the history journal, none
    // refused; a transaction carries one write or more.
    let value = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {text}"))
    };
    let stored = value("weft_history_writes_total{result=\"stored\"}");
    let transactions = value("weft_history_transactions_total");
    assert!(stored >= 4, "{text}");
    assert!((1..=stored).contains(&transactions), "{text}");
    assert_eq!(
        value("weft_history_writes_total{result=\"failed\"}"),
        0,
        "{text}"
    );
}

pub async fn secrets_are_write_only(bed: Bed) {
    project(&bed, "demo").await;
    let (status, body) = bed
        .admin(
            "PUT",
            "/v1/projects/demo/secrets/API_KEY",
            Some(json!({"value": "sk-very-secret-123"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, list) = bed.admin("GET", "/v1/projects/demo/secrets", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["secrets"][0]["name"], "API_KEY");
    assert!(!list.to_string().contains("sk-very-secret-123"));
    let (status, _) = bed
        .admin("DELETE", "/v1/projects/demo/secrets/API_KEY", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, list) = bed.admin("GET", "/v1/projects/demo/secrets", None).await;
    assert_eq!(list["secrets"], json!([]));
}

pub async fn openapi_lists_every_route(bed: Bed) {
    let (status, doc) = bed.call("GET", "/v1/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    for (method, path, ..) in weft::server::openapi::OPERATIONS {
        assert!(doc["paths"][path][method].is_object(), "{method} {path}");
    }
    // Every documented route answers something other than 404/405.
    for (method, path, ..) in weft::server::openapi::OPERATIONS {
        if *path == "/v1/editor" {
            continue;
        }
        let concrete = path
            .replace("{project}", "nope")
            .replace("{flow}", "f")
            .replace("{version}", "1")
            .replace("{stage}", "s")
            .replace("{run}", "r")
            .replace("{node}", "n")
            .replace("{port}", "p")
            .replace("{name}", "N")
            .replace("{id}", "i");
        let (status, body) = bed.admin(&method.to_uppercase(), &concrete, None).await;
        assert_ne!(
            status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}: {body}"
        );
        if status == StatusCode::NOT_FOUND {
            assert!(
                body["error"]["code"].is_string(),
                "{method} {path}: an unrouted 404"
            );
        }
    }
}

/// A local server that answers the `authorization` header it received.
async fn echo_server() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use axum::http::HeaderMap;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let app = axum::Router::new().route(
        "/echo",
        axum::routing::get(move |headers: HeaderMap| {
            let log = log.clone();
            async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                log.lock().unwrap().push(auth.clone());
                axum::Json(json!({ "auth": auth }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), seen)
}

pub async fn project_secrets_reach_runs_and_never_leak(bed: Bed) {
    project(&bed, "demo").await;
    let (base, seen) = echo_server().await;
    let flow = json!({"weft": 1, "name": "secret",
        "capabilities": {"http": [base], "secrets": ["API_TOKEN"]},
        "nodes": [{"id": "get", "type": "http.request", "config": {
            "url": format!("{base}/echo"),
            "headers": {"authorization": "Bearer {{ secret.API_TOKEN }}"}}}],
        "outputs": {"body": "get.body"}});
    let path = "/v1/projects/demo/flows/secret";
    bed.admin("PUT", path, Some(flow)).await;
    // Not set yet: the run fails, naming the secret.
    let (_, run) = bed
        .admin("POST", &format!("{path}/runs"), Some(json!({})))
        .await;
    assert_eq!(run["status"], "failed", "{run}");
    assert!(
        run["error"]["message"]
            .as_str()
            .unwrap()
            .contains("API_TOKEN"),
        "{run}"
    );
    // Project-wide, and a different value for `prod`.
    for (stage, value) in [
        (None, "project-wide-s3cret"),
        (Some("prod"), "prod-only-s3cret"),
    ] {
        let mut body = json!({"value": value});
        if let Some(stage) = stage {
            body["stage"] = json!(stage);
        }
        let (status, _) = bed
            .admin("PUT", "/v1/projects/demo/secrets/API_TOKEN", Some(body))
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    bed.admin(
        "POST",
        &format!("{path}/publish"),
        Some(json!({"stage": "prod"})),
    )
    .await;
    let (_, plain) = bed
        .admin("POST", &format!("{path}/runs"), Some(json!({})))
        .await;
    assert_eq!(plain["status"], "succeeded", "{plain}");
    let (_, prod) = bed
        .admin(
            "POST",
            &format!("{path}/runs"),
            Some(json!({"stage": "prod"})),
        )
        .await;
    assert_eq!(prod["status"], "succeeded", "{prod}");
    assert_eq!(
        *seen.lock().unwrap(),
        ["Bearer project-wide-s3cret", "Bearer prod-only-s3cret"]
    );
    // Nothing the server stored or answers holds either value.
    for run in [&plain, &prod] {
        let id = run["run"].as_str().unwrap();
        let (_, record) = bed.admin("GET", &format!("/v1/runs/{id}"), None).await;
        let (_, events) = bed
            .admin("GET", &format!("/v1/runs/{id}/events"), None)
            .await;
        let everything = format!("{run}{record}{events}");
        assert!(!everything.contains("s3cret"), "{everything}");
        assert!(everything.contains("[redacted]"));
    }
}

pub async fn retention_keeps_the_newest_runs(bed: Bed) {
    // The harness passes `retention: max_runs 2` for this test.
    project(&bed, "demo").await;
    let path = "/v1/projects/demo/flows/hello";
    bed.admin("PUT", path, Some(hello())).await;
    let mut ids = Vec::new();
    for name in ["a", "b", "c", "d"] {
        let (_, run) = bed
            .admin(
                "POST",
                &format!("{path}/runs"),
                Some(json!({"inputs": {"name": name}})),
            )
            .await;
        ids.push(run["run"].as_str().unwrap().to_string());
    }
    // Pruning follows each run's end; give the last one a moment.
    let mut left = Vec::new();
    for _ in 0..50 {
        let (_, list) = bed.admin("GET", "/v1/projects/demo/runs", None).await;
        left = list["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect();
        if left.len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(left, [ids[3].clone(), ids[2].clone()]);
    let (status, _) = bed
        .admin("GET", &format!("/v1/runs/{}/events", ids[0]), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
