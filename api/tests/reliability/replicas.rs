//! Router replicas agree within a second (issue 5 §5): a `weft serve` and
//! two `weft router` processes share one database; a publish, a new
//! version and an unpublish made through the first are answered by both
//! routers within 1 s. On PostgreSQL they learn of it from `LISTEN`; on a
//! shared SQLite file, from the version check every 250 ms; with the
//! routes in DynamoDB (moto), from its version items every 250 ms.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Db, Options, Server, nodes_dir, request};

/// How soon every replica must answer with the new routes.
const AGREE_WITHIN: Duration = Duration::from_secs(1);

fn greeter(template: &str) -> Value {
    json!({
        "weft": 1,
        "name": "greet",
        "inputs": {"name": "string"},
        "nodes": [{"id": "greet", "type": "text.template", "config": {"template": template}}],
        "edges": [{"from": "input.name", "to": "greet.name"}],
        "outputs": {"greeting": "greet.text"},
        "triggers": [{"kind": "http", "path": "/hello", "auth": "public"}]
    })
}

/// Creates project `demo`.
async fn project(serve: &Server) {
    serve
        .ok("POST", "/v1/projects", Some(json!({"slug": "demo"})), 201)
        .await;
}

/// Saves `doc` as a new version of flow `flow` of `demo`.
async fn save(serve: &Server, flow: &str, doc: Value) {
    let path = format!("/v1/projects/demo/flows/{flow}");
    serve.ok("PUT", &path, Some(doc), 201).await;
}

/// Publishes the latest version of `flow` to stage `prod`.
async fn publish(serve: &Server, flow: &str) {
    let path = format!("/v1/projects/demo/flows/{flow}/publish");
    serve
        .ok("POST", &path, Some(json!({"stage": "prod"})), 200)
        .await;
}

/// What `server` answers to `POST /demo/prod/hello` (the path fallback).
async fn hello(server: &Server) -> (u16, Value) {
    tokio::time::timeout(
        Duration::from_secs(30),
        request(
            server.addr,
            "POST",
            "/demo/prod/hello",
            Some(json!({"name": "Ada"})),
        ),
    )
    .await
    .expect("an answer within 30 s")
    .unwrap_or_else(|e| panic!("POST /demo/prod/hello: {e}\n{}", server.log()))
}

/// Polls every router until each answers `want` (status and greeting);
/// how long each took from `since`.
async fn until_all(
    routers: &[&Server],
    want: (u16, Option<&str>),
    since: Instant,
) -> Vec<Duration> {
    let mut took = Vec::new();
    for router in routers {
        loop {
            let (status, body) = hello(router).await;
            let greeting = body["greeting"].as_str();
            if status == want.0 && (want.1.is_none() || greeting == want.1) {
                took.push(since.elapsed());
                break;
            }
            assert!(
                since.elapsed() < Duration::from_secs(10),
                "a router still answers {status} {body} 10 s later, not {want:?}:\n{}",
                router.log()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    took
}

pub async fn replicas_agree_within_a_second(db: Db) {
    agree(db, None).await;
}

/// The same with the routes in DynamoDB (a real moto server,
/// `WEFT_TEST_MOTO_URL`): `weft serve` writes them on publish, the routers
/// read them and check the stages' version items every 250 ms.
pub async fn replicas_agree_through_dynamodb(db: Db) {
    let (url, table) = (moto_url(), fresh_table());
    agree(db, Some(dynamodb_args(&url, &table))).await;
}

/// The moto server's URL; fails saying how to start it when it is down.
fn moto_url() -> String {
    let url =
        std::env::var("WEFT_TEST_MOTO_URL").unwrap_or_else(|_| "http://127.0.0.1:5005".into());
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    assert!(
        std::net::TcpStream::connect(addr).is_ok(),
        "no moto server at {url} (WEFT_TEST_MOTO_URL); start it with `bash tests/testbeds.sh start` \
         and `eval \"$(bash tests/testbeds.sh env)\"`"
    );
    url
}

/// A table name of its own for this run (moto keeps tables while it runs).
fn fresh_table() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("weft-routes-{nanos}")
}

fn dynamodb_args(url: &str, table: &str) -> Vec<std::ffi::OsString> {
    [
        "--route-store",
        "dynamodb",
        "--dynamodb-endpoint",
        url,
        "--dynamodb-table",
        table,
        "--aws-region",
        "us-east-1",
    ]
    .iter()
    .map(Into::into)
    .collect()
}

fn aws_env() -> Vec<(String, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID".into(), "weft-test".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "weft-test".into()),
    ]
}

/// A DynamoDB route table that lost a stage (a publish made while it was
/// unreachable, say) is brought up to date by `weft serve`'s periodic pass
/// (`--route-reconcile-secs`) and when it starts.
pub async fn the_dynamodb_table_is_reconciled(db: Db) {
    let (url, table) = (moto_url(), fresh_table());
    let nodes = nodes_dir();
    let opts = Options {
        extra: dynamodb_args(&url, &table),
        env: aws_env(),
        ..Options::new(&db, nodes.path())
    };
    // Reconciles every second while it runs (60 s by default).
    let mut fast = opts.clone();
    fast.extra
        .extend(["--route-reconcile-secs".into(), "1".into()]);
    let serve = Server::start(&fast).await;
    project(&serve).await;
    save(&serve, "greet", greeter("v1 {{ name }}")).await;
    publish(&serve, "greet").await;
    let dynamo = weft_router::dynamodb::DynamoRoutes::with_credentials(
        table.clone(),
        "us-east-1",
        Some(&url),
        "weft-test",
        "weft-test",
    );
    assert!(dynamo.remove_stage("demo", "prod").await.unwrap() > 0);
    let router = Server::start(&Options {
        command: "router",
        ..opts.clone()
    })
    .await;
    // The running server puts it back on its next pass.
    until_all(&[&router], (200, Some("v1 Ada")), Instant::now()).await;
    // A restart does at once (its next pass is a minute away).
    serve.sigkill();
    assert!(dynamo.remove_stage("demo", "prod").await.unwrap() > 0);
    until_all(&[&router], (404, None), Instant::now()).await;
    let _serve = Server::start(&opts).await;
    until_all(&[&router], (200, Some("v1 Ada")), Instant::now()).await;
}

async fn agree(db: Db, extra: Option<Vec<std::ffi::OsString>>) {
    let nodes = nodes_dir();
    let mut opts = Options::new(&db, nodes.path());
    if let Some(extra) = extra {
        opts.extra = extra;
        opts.env = aws_env();
    }
    let serve = Server::start(&opts).await;
    let router = Options {
        command: "router",
        ..opts.clone()
    };
    let (a, b) = tokio::join!(Server::start(&router), Server::start(&router));
    // A router serves no management API.
    let (status, body) = a.call("GET", "/v1/projects", None).await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("weft router"),
        "{body}"
    );
    let (status, _) = a.call("GET", "/healthz", None).await;
    assert_eq!(status, 200);

    project(&serve).await;
    save(&serve, "greet", greeter("v1 {{ name }}")).await;
    // Before anything is published the routers know no stage `prod`; they
    // hold no table then, so this checks the first build, not a change.
    assert_eq!(hello(&a).await.0, 404);
    publish(&serve, "greet").await;
    until_all(&[&a, &b], (200, Some("v1 Ada")), Instant::now()).await;

    // A new version: both routers hold the old table, and must drop it.
    save(&serve, "greet", greeter("v2 {{ name }}")).await;
    publish(&serve, "greet").await;
    let since = Instant::now();
    let took = until_all(&[&a, &b], (200, Some("v2 Ada")), since).await;
    eprintln!("a new version reached both routers in {took:?}");
    for t in &took {
        assert!(
            *t <= AGREE_WITHIN,
            "a router took {t:?} to see the new version"
        );
    }

    // Unpublished: both answer 404.
    serve
        .ok(
            "POST",
            "/v1/projects/demo/flows/greet/unpublish",
            Some(json!({"stage": "prod"})),
            204,
        )
        .await;
    let since = Instant::now();
    let took = until_all(&[&a, &b], (404, None), since).await;
    eprintln!("an unpublish reached both routers in {took:?}");
    for t in &took {
        assert!(
            *t <= AGREE_WITHIN,
            "a router took {t:?} to see the unpublish"
        );
    }
}

/// A replica's runs are its own: `weft serve` restarting leaves a run a
/// router is running alone, and when the router dies, `weft serve` fails
/// that run as `interrupted` within a few seconds (its sweep), without a
/// restart.
pub async fn a_replica_runs_its_own_runs(db: Db) {
    let nodes = nodes_dir();
    let opts = Options::new(&db, nodes.path());
    let serve = Server::start(&opts).await;
    let router = Server::start(&Options {
        command: "router",
        ..opts.clone()
    })
    .await;
    project(&serve).await;
    let slow = json!({
        "weft": 1, "name": "slow",
        "nodes": [{"id": "nap", "type": "test.sleep", "config": {"ms": 600_000}}],
        "outputs": {"slept": "nap.slept"},
        "triggers": [{"kind": "http", "path": "/slow", "auth": "public"}]
    });
    save(&serve, "slow", slow).await;
    publish(&serve, "slow").await;
    // A run on the router (its caller waits; nobody reads the answer).
    let addr = router.addr;
    tokio::spawn(async move { request(addr, "POST", "/demo/prod/slow", None).await });
    let run = wait_for_run(&serve, "running").await;

    // `weft serve` restarts: the router's run goes on.
    serve.sigkill();
    let serve = Server::start(&opts).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let now = serve.run(&run).await;
    assert_eq!(now["run"]["status"], "running", "{now}");

    // The router dies: `weft serve` fails its run without restarting.
    let since = Instant::now();
    router.sigkill();
    loop {
        let now = serve.run(&run).await;
        if now["run"]["status"] != "running" {
            assert_eq!(now["run"]["status"], "failed", "{now}");
            assert_eq!(now["run"]["error"]["code"], "interrupted", "{now}");
            break;
        }
        assert!(
            since.elapsed() < Duration::from_secs(20),
            "the dead router's run is still running after 20 s:\n{}",
            serve.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("a dead router's run was failed after {:?}", since.elapsed());
}

/// The id of the first run of project `demo` with this status.
async fn wait_for_run(server: &Server, status: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let list = server.ok("GET", "/v1/projects/demo/runs", None, 200).await;
        if let Some(run) = list["runs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["status"] == status)
        {
            return run["id"].as_str().unwrap().to_string();
        }
        assert!(Instant::now() < deadline, "no {status} run: {list}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
