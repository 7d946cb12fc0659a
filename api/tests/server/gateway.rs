//! Published flows answering HTTP through the same router as the API:
//! Host `{project}-{stage}.localhost` or the `/{project}/{stage}` path,
//! typed parameters, API keys, 404/405/400, `x-request-id`, and the
//! table following publishes.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;
use weft::server::app;

use super::Bed;
use super::rest::hello;

/// One request with these headers; status, headers and JSON body (or the
/// text as a JSON string).
pub async fn send(
    bed: &Bed,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
    let res = app(bed.state.clone())
        .oneshot(req.body(body).unwrap())
        .await
        .unwrap();
    let (status, headers) = (res.status(), res.headers().clone());
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    let value =
        serde_json::from_slice(&bytes).unwrap_or_else(|_| json!(String::from_utf8_lossy(&bytes)));
    (status, headers, value)
}

const HOST: (&str, &str) = ("host", "demo-prod.localhost:8080");
const JSON: (&str, &str) = ("content-type", "application/json");

pub async fn published_flows_answer_http(bed: Bed) {
    let (status, _) = bed
        .admin("POST", "/v1/projects", Some(json!({"slug": "demo"})))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let mut doc = hello();
    doc["triggers"] = json!([
        {"kind": "http", "id": "by-path", "path": "/hello/{name}", "auth": "public"},
        {"kind": "http", "id": "by-body", "path": "/hello", "auth": "public"},
        {"kind": "http", "id": "typed", "methods": ["GET"], "path": "/n/{name:int}", "auth": "public"},
        {"kind": "http", "id": "private", "methods": ["GET"], "path": "/private/{name}"}
    ]);
    let (status, body) = bed
        .admin("PUT", "/v1/projects/demo/flows/hello", Some(doc))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let publish = json!({"stage": "prod"});
    let path = "/v1/projects/demo/flows/hello/publish";
    assert_eq!(
        bed.admin("POST", path, Some(publish)).await.0,
        StatusCode::OK
    );

    // By Host, with a typed path parameter; x-request-id on the answer.
    let (status, headers, v) = send(&bed, "POST", "/hello/Ada", &[HOST], None).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v, json!({"greeting": "HELLO ADA!"}));
    assert!(headers.contains_key("x-request-id"));
    // The run is stored whole before the answer goes out, recorded in one
    // write once it was over: events, node records, its own start time.
    let store = &bed.state.store;
    let filter = weft::store::RunFilter {
        project: "demo".into(),
        flow: Some("hello".into()),
        limit: 10,
        ..Default::default()
    };
    let runs = store.list_runs(&filter).await.unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let run = &runs[0];
    assert_eq!(run.status, weft::store::RunStatus::Succeeded, "{run:?}");
    assert_eq!(
        (run.trigger.as_str(), run.stage.as_deref()),
        ("http:by-path", Some("prod"))
    );
    assert_eq!(run.outputs, Some(json!({"greeting": "HELLO ADA!"})));
    let finished_at = run.finished_at.expect("a finished run has its end time");
    assert!(run.started_at <= finished_at, "{run:?}");
    let events = store.events_after(&run.id, 0, 100).await.unwrap();
    assert_eq!(
        events.last().map(|e| e.body.kind()),
        Some("run.finished"),
        "{events:?}"
    );
    let nodes = store.list_node_records(&run.id).await.unwrap();
    assert_eq!(nodes.len(), 2, "{nodes:?}");
    // By path on another host, from the JSON body; the caller's request id.
    let (status, headers, v) = send(
        &bed,
        "POST",
        "/demo/prod/hello",
        &[
            ("host", "127.0.0.1:8080"),
            JSON,
            ("x-request-id", "abc-123"),
        ],
        Some(r#"{"name": "Bob"}"#),
    )
    .await;
    assert_eq!(
        (status, &v),
        (StatusCode::OK, &json!({"greeting": "HELLO BOB!"}))
    );
    assert_eq!(headers["x-request-id"], "abc-123");
    // From the query, percent-decoded.
    let (status, _, v) = send(&bed, "POST", "/hello?name=Cy%20D&x=1", &[HOST], None).await;
    assert_eq!(
        (status, &v),
        (StatusCode::OK, &json!({"greeting": "HELLO CY D!"}))
    );
    // 405 with Allow, 404, bad JSON with its position, wrong input type.
    let (status, headers, _) = send(&bed, "GET", "/hello/Ada", &[HOST], None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers["allow"], "POST");
    let (status, _, v) = send(&bed, "POST", "/nope", &[HOST], None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    let (status, _, v) = send(&bed, "POST", "/hello", &[HOST, JSON], Some("{\"name\": ")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("line 1"),
        "{v}"
    );
    let (status, _, v) = send(&bed, "GET", "/n/42", &[HOST], None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"]["code"], "invalid_inputs", "{v}");
    let (status, _, _) = send(&bed, "GET", "/n/forty", &[HOST], None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // API keys: none 401, another stage's 403, this stage's 200.
    let (status, _, _) = send(&bed, "GET", "/private/Ada", &[HOST], None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let store = &bed.state.store;
    let dev = vec!["dev".to_string()];
    let (_, dev_key) = store
        .create_api_key("demo", "dev", Some(&dev))
        .await
        .unwrap();
    let (_, key) = store.create_api_key("demo", "all", None).await.unwrap();
    let bearer = format!("Bearer {dev_key}");
    let (status, _, _) = send(
        &bed,
        "GET",
        "/private/Ada",
        &[HOST, ("authorization", &bearer)],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, v) = send(
        &bed,
        "GET",
        "/private/Ada",
        &[HOST, ("x-api-key", &key)],
        None,
    )
    .await;
    assert_eq!(
        (status, &v),
        (StatusCode::OK, &json!({"greeting": "HELLO ADA!"}))
    );
    // A project host owns every path, /v1 included; other hosts keep the API.
    let (status, _, _) = send(&bed, "GET", "/v1/projects", &[HOST], None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let admin = format!("Bearer {}", bed.admin);
    let (status, _, _) = send(
        &bed,
        "GET",
        "/v1/projects",
        &[("host", "localhost"), ("authorization", &admin)],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // A bad Host is a 400 that says why.
    let (status, _, v) = send(
        &bed,
        "POST",
        "/hello/Ada",
        &[("host", "demo.localhost")],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    // Unpublishing takes the routes away at once.
    let unpublish = "/v1/projects/demo/flows/hello/unpublish";
    let (status, _) = bed
        .admin("POST", unpublish, Some(json!({"stage": "prod"})))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = send(&bed, "POST", "/hello/Ada", &[HOST], None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
