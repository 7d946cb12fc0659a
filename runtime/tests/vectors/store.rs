//! The store-level checks, against the [`VectorStore`] trait:
//! dimensions, missing collections, invalid requests, replacement,
//! ordering, thresholds, top-k, filters and concurrent first upserts.

use super::*;

pub(crate) async fn dimension_mismatch(b: Backend) {
    let bed = Bed::new(b).await;
    let s = &bed.store;
    s.upsert("docs", &[rec("a", &[1.0, 0.0, 0.0], "", json!({}))])
        .await
        .unwrap();

    let m = invalid(
        s.upsert("docs", &[rec("b", &[1.0, 0.0, 0.0, 0.0], "", json!({}))])
            .await
            .unwrap_err(),
    );
    assert!(
        m.contains("`docs`") && m.contains("3 dimensions") && m.contains("has 4"),
        "{m}"
    );
    assert!(m.contains("`b`"), "names the record: {m}");

    let m = invalid(s.search(&req("docs", &[1.0, 0.0], 5)).await.unwrap_err());
    assert!(
        m.contains("`docs`") && m.contains("3 dimensions") && m.contains("has 2"),
        "{m}"
    );

    // Within one call.
    let m = invalid(
        s.upsert(
            "fresh",
            &[
                rec("x", &[1.0, 2.0], "", json!({})),
                rec("y", &[1.0], "", json!({})),
            ],
        )
        .await
        .unwrap_err(),
    );
    assert!(m.contains("`y`") && m.contains("1 dimensions"), "{m}");
    // ... which created nothing.
    assert!(matches!(
        s.search(&req("fresh", &[1.0, 2.0], 1)).await,
        Err(VectorError::NotFound(_))
    ));

    // The collection keeps its dimension for a new store on the same data.
    let again = bed.reopen().await;
    let m = invalid(
        again
            .upsert("docs", &[rec("c", &[1.0; 5], "", json!({}))])
            .await
            .unwrap_err(),
    );
    assert!(m.contains("3 dimensions") && m.contains("has 5"), "{m}");
    again
        .upsert("docs", &[rec("c", &[0.0, 1.0, 0.0], "", json!({}))])
        .await
        .unwrap();
    assert_eq!(
        ids(&again
            .search(&req("docs", &[1.0, 0.0, 0.0], 5))
            .await
            .unwrap()),
        ["a", "c"]
    );
}

pub(crate) async fn missing_collection(b: Backend) {
    let bed = Bed::new(b).await;
    let s = &bed.store;
    match s.search(&req("nope", &[1.0], 3)).await {
        Err(VectorError::NotFound(m)) => assert!(m.contains("`nope`"), "{m}"),
        other => panic!("expected not-found, got {other:?}"),
    }
    // An empty upsert writes nothing and creates nothing.
    s.upsert("ghost", &[]).await.unwrap();
    assert!(matches!(
        s.search(&req("ghost", &[1.0], 3)).await,
        Err(VectorError::NotFound(_))
    ));
    // Names are case-sensitive: `Docs` is not `docs`.
    s.upsert("docs", &[rec("a", &[1.0], "", json!({}))])
        .await
        .unwrap();
    assert!(matches!(
        s.search(&req("Docs", &[1.0], 3)).await,
        Err(VectorError::NotFound(_))
    ));
    s.upsert("Docs", &[rec("A", &[1.0, 1.0], "", json!({}))])
        .await
        .unwrap();
    assert_eq!(
        ids(&s.search(&req("Docs", &[1.0, 1.0], 3)).await.unwrap()),
        ["A"]
    );
    assert_eq!(
        ids(&s.search(&req("docs", &[1.0], 3)).await.unwrap()),
        ["a"]
    );
}

pub(crate) async fn invalid_requests(b: Backend) {
    let bed = Bed::new(b).await;
    let s = &bed.store;
    let r = || rec("a", &[1.0, 0.0], "", json!({}));
    for name in [
        "",
        "a b",
        "x'; DROP TABLE weft_vector_collections; --",
        "é",
        &"x".repeat(65),
    ] {
        let m = invalid(s.upsert(name, &[r()]).await.unwrap_err());
        assert!(m.contains("not a valid collection name"), "{m}");
        let m = invalid(s.search(&req(name, &[1.0], 1)).await.unwrap_err());
        assert!(m.contains("not a valid collection name"), "{m}");
    }
    s.upsert(&"x".repeat(64), &[r()]).await.unwrap();
    s.upsert("with-dash_and_9", &[r()]).await.unwrap();

    let m = invalid(
        s.upsert("docs", &[rec("z", &[0.0, 0.0], "", json!({}))])
            .await
            .unwrap_err(),
    );
    assert!(m.contains("all zeros") && m.contains("`z`"), "{m}");
    let m = invalid(
        s.upsert("docs", &[rec("n", &[1.0, f32::NAN], "", json!({}))])
            .await
            .unwrap_err(),
    );
    assert!(m.contains("element 1"), "{m}");
    let m = invalid(
        s.upsert("docs", &[rec("", &[1.0], "", json!({}))])
            .await
            .unwrap_err(),
    );
    assert!(m.contains("empty id"), "{m}");
    let m = invalid(s.search(&req("docs", &[], 1)).await.unwrap_err());
    assert!(m.contains("empty"), "{m}");
    s.upsert("docs", &[r()]).await.unwrap();
    let m = invalid(s.search(&req("docs", &[0.0, 0.0], 1)).await.unwrap_err());
    assert!(m.contains("all zeros"), "{m}");
    let m = invalid(
        s.search(&with_filter(
            req("docs", &[1.0, 0.0], 1),
            json!({"tags": ["a"]}),
        ))
        .await
        .unwrap_err(),
    );
    assert!(m.contains("`tags`"), "{m}");
}

pub(crate) async fn upsert_replaces(b: Backend) {
    let bed = Bed::new(b).await;
    let s = &bed.store;
    s.upsert(
        "docs",
        &[
            rec("a", &[1.0, 0.0], "old", json!({"v": 1, "gone": true})),
            rec("b", &[0.6, 0.8], "bee", json!({})),
        ],
    )
    .await
    .unwrap();
    s.upsert(
        "docs",
        &[rec(
            "a",
            &[0.0, 1.0],
            "new",
            json!({"z": 2, "a": [1, {"x": null}]}),
        )],
    )
    .await
    .unwrap();

    let found = s.search(&req("docs", &[0.0, 1.0], 10)).await.unwrap();
    assert_eq!(ids(&found), ["a", "b"], "still two records");
    let a = &found[0];
    assert!(close(a.score, 1.0), "{a:?}");
    assert_eq!(a.text, "new");
    assert_eq!(
        Value::Object(a.metadata.clone()),
        json!({"z": 2, "a": [1, {"x": null}]})
    );
    // Metadata comes back as written, key order included.
    assert_eq!(a.metadata.keys().collect::<Vec<_>>(), ["z", "a"]);
    // The old vector is gone: along it, `a` is now orthogonal.
    let found = s.search(&req("docs", &[1.0, 0.0], 10)).await.unwrap();
    assert_eq!(ids(&found), ["b", "a"]);
    assert!(close(found[1].score, 0.0), "{found:?}");

    // A repeated id within one call keeps the last record.
    s.upsert(
        "docs",
        &[
            rec("c", &[1.0, 0.0], "first", json!({})),
            rec("c", &[-1.0, 0.0], "last", json!({"n": 3})),
        ],
    )
    .await
    .unwrap();
    let found = s.search(&req("docs", &[-1.0, 0.0], 1)).await.unwrap();
    assert_eq!(
        (found[0].id.as_str(), found[0].text.as_str()),
        ("c", "last")
    );
    assert_eq!(Value::Object(found[0].metadata.clone()), json!({"n": 3}));
    assert_eq!(
        s.search(&req("docs", &[1.0, 0.0], 10)).await.unwrap().len(),
        3
    );
}

/// Unit-length and scaled copies of a few directions, for exact scores.
pub(crate) async fn directions(s: &Arc<dyn VectorStore>) {
    s.upsert(
        "dirs",
        &[
            rec("x", &[1.0, 0.0], "x", json!({})),
            rec("neg", &[-1.0, 0.0], "", json!({})),
            rec("y", &[0.0, 1.0], "", json!({})),
            rec("diag", &[1.0, 1.0], "", json!({})),
            rec("b-tie", &[2.0, 0.0], "", json!({})),
            rec("a-tie", &[3.0, 0.0], "", json!({})),
            rec("Z-tie", &[5.0, 0.0], "", json!({})),
        ],
    )
    .await
    .unwrap();
}

pub(crate) async fn cosine_order_and_ties(b: Backend) {
    let bed = Bed::new(b).await;
    let s = &bed.store;
    directions(s).await;
    let found = s.search(&req("dirs", &[1.0, 0.0], 10)).await.unwrap();
    // Same direction (score 1) first, ties by id in byte order.
    assert_eq!(
        ids(&found),
        ["Z-tie", "a-tie", "b-tie", "x", "diag", "y", "neg"]
    );
    let scores: Vec<f32> = found.iter().map(|m| m.score).collect();
    let expected = [
        1.0,
        1.0,
        1.0,
        1.0,
        std::f32::consts::FRAC_1_SQRT_2,
        0.0,
        -1.0,
    ];
    for (got, want) in scores.iter().zip(expected) {
        assert!(close(*got, want), "{scores:?}");
    }
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    assert_eq!(found[3].text, "x");

    // A cut inside a tie keeps the smallest ids.
    let top2 = s.search(&req("dirs", &[1.0, 0.0], 2)).await.unwrap();
    assert_eq!(ids(&top2), ["Z-tie", "a-tie"]);
    let top1 = s.search(&req("dirs", &[7.0, 0.0], 1)).await.unwrap();
    assert_eq!(ids(&top1), ["Z-tie"]);
    // The magnitude of the query does not matter.
    let other = s.search(&req("dirs", &[0.0, 0.5], 2)).await.unwrap();
    assert_eq!(ids(&other), ["y", "diag"]);
}

pub(crate) async fn min_score(b: Backend) {
    let bed = Bed::new(b).await;
    let s = &bed.store;
    directions(s).await;
    let search = |min: f32| {
        let mut r = req("dirs", &[1.0, 0.0], 10);
        r.min_score = Some(min);
        async move { s.search(&r).await.unwrap() }
    };
    // `>=`: the orthogonal `y` (exactly 0) stays at 0.
    assert_eq!(
        ids(&search(0.0).await),
        ["Z-tie", "a-tie", "b-tie", "x", "diag", "y"]
    );
    assert_eq!(
        ids(&search(0.5).await),
        ["Z-tie", "a-tie", "b-tie", "x", "diag"]
    );
    assert_eq!(ids(&search(1.0).await), ["Z-tie", "a-tie", "b-tie", "x"]);
    assert!(search(1.5).await.is_empty());
    assert_eq!(search(-1.0).await.len(), 7);
    // With top-k: the cut applies to what passes.
    let mut r = req("dirs", &[0.0, 1.0], 2);
    r.min_score = Some(0.9);
    assert_eq!(ids(&s.search(&r).await.unwrap()), ["y"]);
}

/// `n` records whose scores against `[1, 0]` fall as their number rises.
fn fan(n: usize, metadata: impl Fn(usize) -> Value) -> Vec<VectorRecord> {
    (0..n)
        .map(|i| {
            let angle = (i as f32) * std::f32::consts::PI / (n as f32 + 1.0);
            rec(
                &format!("r{i:03}"),
                &[angle.cos(), angle.sin(), 0.25],
                &format!("record {i}"),
                metadata(i),
            )
        })
        .collect()
}

pub(crate) async fn top_k(b: Backend) {
    let bed = Bed::new(b).await;
    let s = &bed.store;
    s.upsert("fan", &fan(60, |_| json!({}))).await.unwrap();
    let q = [1.0, 0.0, 0.25];
    let found = s.search(&req("fan", &q, 5)).await.unwrap();
    assert_eq!(ids(&found), ["r000", "r001", "r002", "r003", "r004"]);
    assert!(close(found[0].score, 1.0));
    assert!(found.windows(2).all(|w| w[0].score > w[1].score));
    // More than pgvector's default `ef_search` (40).
    let found = s.search(&req("fan", &q, 50)).await.unwrap();
    let want: Vec<String> = (0..50).map(|i| format!("r{i:03}")).collect();
    assert_eq!(ids(&found), want);
    // More than there are.
    assert_eq!(s.search(&req("fan", &q, 1000)).await.unwrap().len(), 60);
    for bad in [0, 1001] {
        let m = invalid(s.search(&req("fan", &q, bad)).await.unwrap_err());
        assert!(m.contains("top-k"), "{m}");
    }
}

pub(crate) async fn filters(b: Backend) {
    let bed = Bed::new(b).await;
    let s = &bed.store;
    s.upsert(
        "f",
        &[
            rec(
                "en1",
                &[1.0, 0.0],
                "",
                json!({"lang": "en", "year": 2024, "draft": false}),
            ),
            rec(
                "en2",
                &[0.9, 0.1],
                "",
                json!({"lang": "en", "year": 2023.0, "draft": true}),
            ),
            rec(
                "fr1",
                &[0.8, 0.2],
                "",
                json!({"lang": "fr", "year": 2024.0, "draft": false}),
            ),
            rec(
                "one",
                &[0.7, 0.3],
                "",
                json!({"flag": 1, "n": "1", "we.ird \"key\"": "v"}),
            ),
            rec(
                "tru",
                &[0.6, 0.4],
                "",
                json!({"flag": true, "n": 1, "nested": {"lang": "en"}}),
            ),
            rec("bare", &[0.5, 0.5], "", json!({})),
        ],
    )
    .await
    .unwrap();
    let q = [1.0, 0.0];
    let search = |filter: Value| {
        let r = with_filter(req("f", &q, 10), filter);
        async move { s.search(&r).await.unwrap() }
    };
    assert_eq!(
        ids(&search(json!({})).await),
        ["en1", "en2", "fr1", "one", "tru", "bare"]
    );
    assert_eq!(ids(&search(json!({"lang": "en"})).await), ["en1", "en2"]);
    assert_eq!(
        ids(&search(json!({"lang": "en", "draft": false})).await),
        ["en1"]
    );
    // Numbers compare as numbers (2024 matches 2024.0), in either direction.
    assert_eq!(ids(&search(json!({"year": 2024})).await), ["en1", "fr1"]);
    assert_eq!(ids(&search(json!({"year": 2023})).await), ["en2"]);
    assert_eq!(ids(&search(json!({"year": 2024.0})).await), ["en1", "fr1"]);
    // Types matter: `true` is not `1`, the string "1" is not the number 1.
    assert_eq!(ids(&search(json!({"flag": true})).await), ["tru"]);
    assert_eq!(ids(&search(json!({"flag": 1})).await), ["one"]);
    assert_eq!(ids(&search(json!({"n": 1})).await), ["tru"]);
    assert_eq!(ids(&search(json!({"n": "1"})).await), ["one"]);
    assert_eq!(
        ids(&search(json!({"draft": "false"})).await),
        Vec::<&str>::new()
    );
    // Only top-level fields; any key.
    assert_eq!(
        ids(&search(json!({"lang": "de"})).await),
        Vec::<&str>::new()
    );
    assert_eq!(
        ids(&search(json!({"missing": "x"})).await),
        Vec::<&str>::new()
    );
    assert_eq!(ids(&search(json!({"we.ird \"key\"": "v"})).await), ["one"]);
    // With min-score and top-k.
    let mut r = with_filter(req("f", &q, 1), json!({"lang": "en"}));
    assert_eq!(ids(&s.search(&r).await.unwrap()), ["en1"]);
    r.top_k = 10;
    r.min_score = Some(0.999);
    assert_eq!(ids(&s.search(&r).await.unwrap()), ["en1"]);
}

pub(crate) async fn filter_does_not_starve_top_k(b: Backend) {
    let bed = Bed::new(b).await;
    let s = &bed.store;
    // 50 records; only the 5 least similar to the query have group "rare".
    let records = fan(50, |i| {
        let group = if i >= 45 { "rare" } else { "common" };
        json!({"group": group, "i": i})
    });
    s.upsert("many", &records).await.unwrap();
    let q = [1.0, 0.0, 0.25];
    let r = with_filter(req("many", &q, 3), json!({"group": "rare"}));
    let found = s.search(&r).await.unwrap();
    assert_eq!(ids(&found), ["r045", "r046", "r047"]);
    assert!(found.iter().all(|m| m.metadata["group"] == "rare"));
    let r = with_filter(req("many", &q, 10), json!({"group": "rare"}));
    assert_eq!(s.search(&r).await.unwrap().len(), 5);
    let r = with_filter(req("many", &q, 3), json!({"group": "rare", "i": 49}));
    assert_eq!(ids(&s.search(&r).await.unwrap()), ["r049"]);
}

pub(crate) async fn concurrent_first_upserts(b: Backend) {
    let bed = Bed::new(b).await;
    let s = &bed.store;
    let one = bed.reopen().await;
    let two = bed.reopen().await;
    let (ra, rb) = (
        [rec("a", &[1.0, 0.0], "", json!({}))],
        [rec("b", &[0.0, 1.0], "", json!({}))],
    );
    let (a, b2) = tokio::join!(one.upsert("race", &ra), two.upsert("race", &rb));
    a.unwrap();
    b2.unwrap();
    assert_eq!(
        ids(&s.search(&req("race", &[1.0, 0.0], 5)).await.unwrap()),
        ["a", "b"]
    );
    // Different dimensions: exactly one wins.
    let rb = [rec("b", &[0.0, 1.0, 0.0], "", json!({}))];
    let (a, b2) = tokio::join!(one.upsert("race2", &ra), two.upsert("race2", &rb));
    assert!(a.is_ok() != b2.is_ok(), "{a:?} {b2:?}");
    let err = a.err().or(b2.err()).unwrap();
    assert!(matches!(err, VectorError::Invalid(_)), "{err:?}");
}
