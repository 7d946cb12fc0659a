#![cfg(feature = "dynamodb")]
//! The DynamoDB route store against a real moto server at
//! `WEFT_TEST_MOTO_URL` (default `http://127.0.0.1:5005`), which
//! `bash tests/testbeds.sh start` runs. Without it these tests fail.
//! Each test makes its own table and deletes it afterwards, so they run in
//! parallel.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::json;
use weft_router::dynamodb::DynamoRoutes;
use weft_router::{
    Lookup, Method, RouteCache, RouteRecord, RouteStore, RouteStoreError, StageKey, StageRoutes,
    stage_table,
};

const DEFAULT_MOTO_URL: &str = "http://127.0.0.1:5005";

/// The moto server's URL; fails the test when nothing listens there.
fn moto_url() -> String {
    let url = std::env::var("WEFT_TEST_MOTO_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_MOTO_URL.to_string());
    let authority = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or_default();
    let reachable = authority
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .is_some_and(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok());
    assert!(
        reachable,
        "no moto server at {url} (WEFT_TEST_MOTO_URL, default {DEFAULT_MOTO_URL}).\n\
         These tests need one: start it with `bash tests/testbeds.sh start` and \
         `eval \"$(bash tests/testbeds.sh env)\"` (`bash tests/run.sh` does both)."
    );
    url
}

/// Runs `test` with a store in a new table, then deletes the table, also
/// when the test panics.
async fn with_table<F, Fut>(test: F)
where
    F: FnOnce(DynamoRoutes) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let suffix = RandomState::new().hash_one(std::process::id());
    let table = format!("weft-routes-test-{suffix:016x}");
    let store =
        DynamoRoutes::with_credentials(table, "us-east-1", Some(&moto_url()), "weft", "weft");
    store.ensure_table().await.expect("creating the table");
    let outcome = tokio::spawn(test(store.clone())).await;
    let deleted = (store.client().delete_table())
        .table_name(store.table())
        .send()
        .await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
    deleted.expect("deleting the table");
}

fn record(flow: &str, trigger: &str, version: &str, http: serde_json::Value) -> RouteRecord {
    serde_json::from_value(json!({
        "flow": flow, "trigger": trigger, "version": version, "http": http
    }))
    .unwrap()
}

/// Two flows, three triggers: one public with CORS and every option, one
/// with the default id and options, one of another flow.
fn three_routes() -> Vec<RouteRecord> {
    vec![
        record(
            "hello",
            "greet",
            "hello-v1",
            json!({"id": "greet", "methods": ["POST", "PUT"], "path": "/hello/{name}",
                   "auth": "public", "modes": ["sync", "stream", "async"],
                   "cors": {"origins": ["https://app.example.com"], "headers": ["content-type"],
                            "expose_headers": ["x-run-id"], "credentials": true,
                            "max_age_secs": 600}}),
        ),
        record("hello", "http-1", "hello-v1", json!({"path": "/hello"})),
        record(
            "orders",
            "list",
            "orders-v7",
            json!({"id": "list", "methods": ["GET", "HEAD"], "path": "/orders/{id:int}",
                   "auth": "api_key", "modes": ["async"]}),
        ),
    ]
}

/// `n` routes of flow `flow`, at `/{flow}/{i}`.
fn many_routes(flow: &str, n: usize, version: &str) -> Vec<RouteRecord> {
    (0..n)
        .map(|i| {
            let path = format!("/{flow}/{i}");
            record(flow, &format!("r{i:03}"), version, json!({"path": path}))
        })
        .collect()
}

fn stage(version: i64, routes: Vec<RouteRecord>) -> StageRoutes {
    StageRoutes { version, routes }
}

/// Every item of (project, stage), by `sk`, read around the store.
async fn raw_items(
    store: &DynamoRoutes,
    project: &str,
    stage: &str,
) -> Vec<HashMap<String, AttributeValue>> {
    let out = (store.client().query())
        .table_name(store.table())
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S(format!("{project}#{stage}")))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    assert!(out.last_evaluated_key().is_none(), "more than a page");
    out.items.unwrap_or_default()
}

fn text<'a>(item: &'a HashMap<String, AttributeValue>, attr: &str) -> &'a str {
    item[attr].as_s().unwrap()
}

#[tokio::test]
async fn an_empty_store_knows_no_stage() {
    with_table(|store| async move {
        // Once more on an existing table: nothing to do.
        store.ensure_table().await.unwrap();
        assert_eq!(store.kind(), "dynamodb");
        assert_eq!(store.load("p", "prod").await.unwrap(), None);
        let keys: Vec<StageKey> = vec![("p".into(), "prod".into()), ("q".into(), "dev".into())];
        assert_eq!(store.versions(&keys).await.unwrap(), [None, None]);
        assert_eq!(store.versions(&[]).await.unwrap(), []);
        assert_eq!(store.remove_stage("p", "prod").await.unwrap(), 0);
    })
    .await;
}

#[tokio::test]
async fn a_synced_stage_loads_back_with_every_field() {
    with_table(|store| async move {
        let routes = stage(1, three_routes());
        assert!(store.sync_stage("p", "prod", &routes).await.unwrap());
        let loaded = store.load("p", "prod").await.unwrap().unwrap();
        assert_eq!(loaded, routes);
        // Another stage and project are untouched.
        assert_eq!(store.load("p", "dev").await.unwrap(), None);
        assert_eq!(store.load("q", "prod").await.unwrap(), None);

        // The items are as the module's header says.
        let items = raw_items(&store, "p", "prod").await;
        let sks: Vec<&str> = items.iter().map(|it| text(it, "sk")).collect();
        assert_eq!(
            sks,
            [
                "#version",
                "route#hello#greet",
                "route#hello#http-1",
                "route#orders#list"
            ]
        );
        assert_eq!(items[0]["routes_version"], AttributeValue::N("1".into()));
        let greet = &items[1];
        assert_eq!(text(greet, "pk"), "p#prod");
        assert_eq!(
            (
                text(greet, "flow"),
                text(greet, "trigger"),
                text(greet, "version")
            ),
            ("hello", "greet", "hello-v1")
        );
        assert_eq!(
            (text(greet, "pattern"), text(greet, "auth")),
            ("/hello/{name}", "public")
        );
        let methods: Vec<&str> = greet["methods"]
            .as_l()
            .unwrap()
            .iter()
            .map(|m| m.as_s().unwrap().as_str())
            .collect();
        assert_eq!(methods, ["POST", "PUT"]);
        assert_eq!(greet["modes"].as_l().unwrap().len(), 3);
        let cors: serde_json::Value = serde_json::from_str(text(greet, "cors")).unwrap();
        assert_eq!(cors["max_age_secs"], 600);
        assert_eq!(greet["routes_version"], AttributeValue::N("1".into()));
        let default_id = &items[2];
        assert!(!default_id.contains_key("cors") && !default_id.contains_key("id"));
        assert_eq!(text(default_id, "auth"), "api_key");

        // The records make a table that routes.
        let (table, skipped) = stage_table(loaded.routes);
        assert!(skipped.is_empty(), "{skipped:?}");
        let table = table.unwrap();
        let Lookup::Found { route, .. } = table.lookup(Method::Get, "/orders/42").unwrap() else {
            panic!("/orders/42 is not routed");
        };
        assert_eq!(route.target.version, "orders-v7");
    })
    .await;
}

#[tokio::test]
async fn a_newer_sync_replaces_the_routes_and_an_older_one_changes_nothing() {
    with_table(|store| async move {
        assert!(
            store
                .sync_stage("p", "prod", &stage(1, three_routes()))
                .await
                .unwrap()
        );
        // Version 2: `greet` goes, `orders` goes, `hello`'s other route
        // runs a new flow version.
        let mut kept = three_routes().remove(1);
        kept.version = "hello-v2".into();
        let v2 = stage(2, vec![kept]);
        assert!(store.sync_stage("p", "prod", &v2).await.unwrap());
        assert_eq!(store.load("p", "prod").await.unwrap().unwrap(), v2);
        let items = raw_items(&store, "p", "prod").await;
        assert_eq!(
            items.len(),
            2,
            "the removed routes' items are deleted: {items:?}"
        );
        let key: StageKey = ("p".into(), "prod".into());
        assert_eq!(
            store.versions(std::slice::from_ref(&key)).await.unwrap(),
            [Some(2)]
        );

        // An older version, or the same one again, is refused and changes
        // nothing.
        for version in [1, 2] {
            let stale = stage(version, three_routes());
            assert!(!store.sync_stage("p", "prod", &stale).await.unwrap());
            assert_eq!(store.load("p", "prod").await.unwrap().unwrap(), v2);
            assert_eq!(raw_items(&store, "p", "prod").await, items);
        }
        // A stage may go empty, and comes back.
        assert!(
            store
                .sync_stage("p", "prod", &stage(3, vec![]))
                .await
                .unwrap()
        );
        assert_eq!(
            store.load("p", "prod").await.unwrap().unwrap(),
            stage(3, vec![])
        );
        assert!(
            store
                .sync_stage("p", "prod", &stage(4, three_routes()))
                .await
                .unwrap()
        );
        assert_eq!(
            store.load("p", "prod").await.unwrap().unwrap().routes.len(),
            3
        );
        // Removed: gone for readers.
        assert_eq!(store.remove_stage("p", "prod").await.unwrap(), 4);
        assert_eq!(store.load("p", "prod").await.unwrap(), None);
        assert_eq!(store.versions(&[key]).await.unwrap(), [None]);
        assert!(raw_items(&store, "p", "prod").await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn syncs_too_large_for_a_transaction_are_written_in_batches() {
    with_table(|store| async move {
        // 150 routes: 151 actions, past a transaction's 100.
        let v1 = stage(1, many_routes("big", 150, "big-v1"));
        assert!(store.sync_stage("p", "prod", &v1).await.unwrap());
        assert_eq!(store.load("p", "prod").await.unwrap().unwrap(), v1);
        // 60 kept (rewritten), 90 deleted: batches again.
        let v2 = stage(2, many_routes("big", 60, "big-v2"));
        assert!(store.sync_stage("p", "prod", &v2).await.unwrap());
        assert_eq!(store.load("p", "prod").await.unwrap().unwrap(), v2);
        assert_eq!(raw_items(&store, "p", "prod").await.len(), 61);
        // An older large sync is refused before anything is written.
        assert!(!store.sync_stage("p", "prod", &v1).await.unwrap());
        assert_eq!(store.load("p", "prod").await.unwrap().unwrap(), v2);
        // 30 kept, 30 deleted: one transaction.
        let v3 = stage(3, many_routes("big", 30, "big-v3"));
        assert!(store.sync_stage("p", "prod", &v3).await.unwrap());
        assert_eq!(store.load("p", "prod").await.unwrap().unwrap(), v3);
        assert_eq!(store.remove_stage("p", "prod").await.unwrap(), 31);
    })
    .await;
}

#[tokio::test]
async fn versions_of_many_stages_come_in_order() {
    with_table(|store| async move {
        // 150 stages over two projects; every third one never synced.
        let keys: Vec<StageKey> = (0..150)
            .map(|i| (format!("proj{}", i % 2), format!("s{i}")))
            .collect();
        let mut expected = Vec::new();
        for (i, (project, stage_name)) in keys.iter().enumerate() {
            if i % 3 == 0 {
                expected.push(None);
            } else {
                let version = 10 + i as i64;
                assert!(
                    store
                        .sync_stage(project, stage_name, &stage(version, vec![]))
                        .await
                        .unwrap()
                );
                expected.push(Some(version));
            }
        }
        assert_eq!(store.versions(&keys).await.unwrap(), expected);
        // Reversed, and with a stage named twice (one batch may not).
        let mut asked: Vec<StageKey> = keys.iter().rev().cloned().collect();
        asked.push(keys[1].clone());
        let mut wanted: Vec<Option<i64>> = expected.iter().rev().copied().collect();
        wanted.push(Some(11));
        assert_eq!(store.versions(&asked).await.unwrap(), wanted);
    })
    .await;
}

#[tokio::test]
async fn revalidation_drops_a_table_the_store_has_moved_past() {
    with_table(|store| async move {
        assert!(
            store
                .sync_stage("p", "prod", &stage(1, three_routes()))
                .await
                .unwrap()
        );
        let cache: RouteCache<RouteRecord> = RouteCache::default();
        let build = |routes: StageRoutes| {
            let (table, skipped) = stage_table(routes.routes);
            assert!(skipped.is_empty());
            cache.put("p", "prod", routes.version, table.unwrap());
        };
        build(store.load("p", "prod").await.unwrap().unwrap());
        // Fresh: kept.
        assert!(cache.revalidate(&store).await.unwrap().is_empty());
        assert_eq!(cache.get("p", "prod").unwrap().version, 1);
        // Stale: dropped.
        assert!(
            store
                .sync_stage("p", "prod", &stage(2, vec![]))
                .await
                .unwrap()
        );
        let key: StageKey = ("p".into(), "prod".into());
        assert_eq!(
            cache.revalidate(&store).await.unwrap(),
            std::slice::from_ref(&key)
        );
        assert!(cache.get("p", "prod").is_none());
        // Rebuilt from the new version: kept; the stage removed: dropped.
        build(store.load("p", "prod").await.unwrap().unwrap());
        assert_eq!(cache.get("p", "prod").unwrap().version, 2);
        assert!(cache.revalidate(&store).await.unwrap().is_empty());
        store.remove_stage("p", "prod").await.unwrap();
        assert_eq!(cache.revalidate(&store).await.unwrap(), [key]);
        assert!(cache.is_empty());
    })
    .await;
}

#[tokio::test]
async fn malformed_items_are_corrupt_and_named() {
    with_table(|store| async move {
        assert!(
            store
                .sync_stage("p", "prod", &stage(1, three_routes()))
                .await
                .unwrap()
        );
        let put = |attr: &'static str, value: Option<AttributeValue>, sk: &'static str| {
            let store = store.clone();
            async move {
                let mut item = raw_items(&store, "p", "prod")
                    .await
                    .into_iter()
                    .find(|it| text(it, "sk") == sk)
                    .unwrap();
                match value {
                    Some(value) => item.insert(attr.into(), value),
                    None => item.remove(attr),
                };
                (store.client().put_item())
                    .table_name(store.table())
                    .set_item(Some(item))
                    .send()
                    .await
                    .unwrap();
            }
        };
        let corrupt = |e: RouteStoreError| match e {
            RouteStoreError::Corrupt {
                store,
                stage,
                message,
            } => {
                assert_eq!((store, stage.as_str()), ("dynamodb", "p/prod"));
                message
            }
            other => panic!("not Corrupt: {other}"),
        };

        put(
            "methods",
            Some(AttributeValue::N("7".into())),
            "route#orders#list",
        )
        .await;
        let message = corrupt(store.load("p", "prod").await.unwrap_err());
        assert_eq!(
            message,
            "item pk=`p#prod` sk=`route#orders#list`: attribute `methods` is not a list of strings"
        );
        put(
            "methods",
            Some(AttributeValue::L(vec![])),
            "route#orders#list",
        )
        .await;
        put("pattern", None, "route#hello#greet").await;
        let message = corrupt(store.load("p", "prod").await.unwrap_err());
        assert!(
            message.contains("sk=`route#hello#greet`: attribute `pattern` is missing"),
            "{message}"
        );
        put(
            "pattern",
            Some(AttributeValue::S("/x".into())),
            "route#hello#greet",
        )
        .await;
        put(
            "cors",
            Some(AttributeValue::S("{not json".into())),
            "route#hello#greet",
        )
        .await;
        let message = corrupt(store.load("p", "prod").await.unwrap_err());
        assert!(message.contains("attribute `cors` is invalid"), "{message}");

        // A bad version item: for loads and version checks alike.
        put(
            "routes_version",
            Some(AttributeValue::S("1".into())),
            "#version",
        )
        .await;
        let message = corrupt(store.load("p", "prod").await.unwrap_err());
        assert!(
            message.contains("sk=`#version`: attribute `routes_version` is not a number"),
            "{message}"
        );
        let keys: Vec<StageKey> = vec![("p".into(), "prod".into())];
        let message = corrupt(store.versions(&keys).await.unwrap_err());
        assert!(
            message.contains("`routes_version` is not a number"),
            "{message}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_record_given_twice_is_refused() {
    with_table(|store| async move {
        let mut routes = three_routes();
        routes.push(routes[0].clone());
        let err = store
            .sync_stage("p", "prod", &stage(1, routes))
            .await
            .unwrap_err();
        assert!(matches!(err, RouteStoreError::Unavailable { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("flow `hello`, trigger `greet`: given twice"),
            "{err}"
        );
        assert_eq!(store.load("p", "prod").await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn concurrent_syncs_end_with_the_newest() {
    with_table(|store| async move {
        // Version k holds triggers k..k+3: each sync deletes what the one
        // before it wrote, so a sync that missed a change would leave some.
        let routes = |k: usize| {
            let all = many_routes("f", k + 3, &format!("f-v{k}"));
            stage(k as i64, all.into_iter().skip(k).collect())
        };
        let syncs: Vec<_> = (1..=8)
            .map(|k| {
                let store = store.clone();
                tokio::spawn(async move { store.sync_stage("p", "prod", &routes(k)).await })
            })
            .collect();
        for sync in syncs {
            sync.await.unwrap().unwrap();
        }
        assert_eq!(store.load("p", "prod").await.unwrap().unwrap(), routes(8));
        assert_eq!(raw_items(&store, "p", "prod").await.len(), 4);
    })
    .await;
}
