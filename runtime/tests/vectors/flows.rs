//! The checks through the real `vector.upsert` / `vector.search` nodes:
//! grants, a flow that upserts then searches, and node errors.

use super::*;

pub(crate) fn upsert_flow(collection: &str, grant: &str) -> Value {
    json!({
        "weft": 1, "name": "upsert", "inputs": {"records": "any"},
        "capabilities": {"vectors": [grant]},
        "nodes": [{"id": "up", "type": "vector.upsert", "config": {"collection": collection}}],
        "edges": [{"from": "input.records", "to": "up.records"}],
        "outputs": {"count": "up.count"}
    })
}

pub(crate) fn search_flow(collection: &str, grant: &str, config: Value) -> Value {
    let mut config = config;
    config["collection"] = json!(collection);
    json!({
        "weft": 1, "name": "search",
        "inputs": {"vector": "embedding", "filter": {"type": "object", "default": {}}},
        "capabilities": {"vectors": [grant]},
        "nodes": [{"id": "s", "type": "vector.search", "config": config}],
        "edges": [{"from": "input.vector", "to": "s.vector"},
                  {"from": "input.filter", "to": "s.filter"}],
        "outputs": {"matches": "s.matches", "count": "s.count"}
    })
}

pub(crate) async fn ungranted_collection(b: Backend) {
    let bed = Bed::new(b).await;
    let engine = bed.engine().await;
    // Refused at validation, naming the node, the collection and the grant.
    let refused = |flow: Value| {
        let engine = &engine;
        async move {
            match engine.compile_text(&flow.to_string()).await {
                Err(weft_runtime::EngineError::Invalid(diags)) => diags
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join("\n"),
                Ok(_) => panic!("an ungranted collection was accepted"),
                Err(e) => panic!("{e}"),
            }
        }
    };
    for flow in [
        upsert_flow("secret", "docs"),
        search_flow("secret", "docs", json!({})),
    ] {
        let message = refused(flow).await;
        assert!(
            message.contains("[capability_not_granted]")
                && message.contains("/config/collection")
                && message.contains("`secret`")
                && message.contains("capabilities.vectors"),
            "{message}"
        );
    }
    // Case-sensitive: `Docs` is not `docs`.
    let message = refused(upsert_flow("Docs", "docs")).await;
    assert!(message.contains("`Docs`"), "{message}");
    // Nothing was written.
    assert!(matches!(
        bed.store.search(&req("secret", &[1.0, 0.0], 1)).await,
        Err(VectorError::NotFound(_))
    ));
    // `*` grants every collection.
    let records = json!({"records": [{"id": "a", "vector": [1, 0]}]});
    let (outcome, _) = common::run(&engine, upsert_flow("secret", "*"), records).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    // The host checks again at run time (for nodes that do not declare
    // what they use).
    assert!(matches!(
        vectors::check_grant(&["docs".to_string()], "secret"),
        Err(VectorError::Denied(m)) if m.contains("`secret`")
    ));
}

pub(crate) async fn flow_upsert_then_search(b: Backend) {
    let bed = Bed::new(b).await;
    let engine = bed.engine().await;
    let (outcome, _) = common::run(
        &engine,
        upsert_flow("kb", "kb"),
        json!({"records": [
            {"id": "cats", "vector": [1, 0, 0], "text": "Cats purr.", "metadata": {"topic": "pets", "year": 2024}},
            {"id": "dogs", "vector": [0.8, 0.6, 0], "text": "Dogs bark.", "metadata": {"topic": "pets"}},
            {"id": "tax", "vector": [0, 0, 1], "text": "Taxes are due.", "metadata": {"topic": "money"}},
        ]}),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    assert_eq!(outcome.outputs["count"], json!(3));

    let (outcome, _) = common::run(
        &engine,
        search_flow("kb", "kb", json!({"top_k": 2})),
        json!({"vector": [1, 0, 0]}),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    assert_eq!(outcome.outputs["count"], json!(2));
    let mut matches = outcome.outputs["matches"].as_array().unwrap().clone();
    let scores: Vec<f64> = matches
        .iter_mut()
        .map(|m| {
            m.as_object_mut()
                .unwrap()
                .remove("score")
                .unwrap()
                .as_f64()
                .unwrap()
        })
        .collect();
    assert_eq!(
        matches,
        [
            json!({"id": "cats", "text": "Cats purr.", "metadata": {"topic": "pets", "year": 2024}}),
            json!({"id": "dogs", "text": "Dogs bark.", "metadata": {"topic": "pets"}}),
        ]
    );
    assert!(
        (scores[0] - 1.0).abs() < 1e-6 && (scores[1] - 0.8).abs() < 1e-6,
        "{scores:?}"
    );

    // The filter input, merged over the configured filter; min_score.
    let (outcome, _) = common::run(
        &engine,
        search_flow(
            "kb",
            "*",
            json!({"filter": {"topic": "pets"}, "min_score": 0.9}),
        ),
        json!({"vector": [0.8, 0.6, 0]}),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    let ids: Vec<&Value> = outcome.outputs["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["id"])
        .collect();
    assert_eq!(ids, [&json!("dogs")]);
    let (outcome, _) = common::run(
        &engine,
        search_flow("kb", "kb", json!({"filter": {"topic": "pets"}})),
        json!({"vector": [0, 0, 1], "filter": {"topic": "money"}}),
    )
    .await;
    assert_eq!(outcome.outputs["count"], json!(1), "{:?}", outcome.error);
    assert_eq!(outcome.outputs["matches"][0]["id"], json!("tax"));
}

pub(crate) async fn flow_errors(b: Backend) {
    let bed = Bed::new(b).await;
    let engine = bed.engine().await;
    let (outcome, _) = common::run(
        &engine,
        search_flow("empty", "*", json!({})),
        json!({"vector": [1, 0]}),
    )
    .await;
    let error = outcome.error.expect("an error");
    assert_eq!(error.code, "capability.not-found", "{error:?}");
    assert!(error.message.contains("`empty`"), "{error:?}");

    let (outcome, _) = common::run(
        &engine,
        upsert_flow("kb", "kb"),
        json!({"records": [{"id": "a", "vector": [1, 0]}]}),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    let (outcome, _) = common::run(
        &engine,
        upsert_flow("kb", "kb"),
        json!({"records": [{"id": "b", "vector": [1, 0, 0]}]}),
    )
    .await;
    let error = outcome.error.expect("an error");
    assert_eq!(error.code, "capability.invalid", "{error:?}");
    assert!(
        error.message.contains("`kb`")
            && error.message.contains("2 dimensions")
            && error.message.contains("has 3"),
        "{error:?}"
    );
    let (outcome, _) = common::run(
        &engine,
        search_flow("kb", "kb", json!({})),
        json!({"vector": [1, 0, 0, 0]}),
    )
    .await;
    let error = outcome.error.expect("an error");
    assert_eq!(error.code, "capability.invalid", "{error:?}");
    assert!(error.message.contains("has 4"), "{error:?}");
}
