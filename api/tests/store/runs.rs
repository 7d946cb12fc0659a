//! Runs, node records, events, recovery after a restart, retention.

use std::time::Duration;

use serde_json::json;
use weft::store::*;
use weft_editor_protocol::events::RunEvent;

use super::{Db, doc, draft_run, event, finished};

pub async fn run_lifecycle_and_node_records(db: Db) {
    let s = &db.store;
    s.create_project("p", None).await.unwrap();
    let (v1, _) = s.save_version("p", "f", &doc("f", "one")).await.unwrap();
    let run = s
        .create_run(NewRun {
            id: "r-1".into(),
            project: "p".into(),
            flow: "f".into(),
            version: Some("latest".into()),
            document: None,
            stage: Some("prod".into()),
            trigger: "api".into(),
            inputs: json!({"name": "Ada"}),
            instance: None,
            started_at: None,
        })
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Running);
    assert_eq!(run.version_id.as_deref(), Some(v1.id.as_str()));
    assert!(!run.draft);
    assert_eq!(s.get_run("r-1").await.unwrap(), run);
    assert_eq!(s.run_document("r-1").await.unwrap(), None);

    let draft = s.create_run(draft_run("r-2", "p", "f")).await.unwrap();
    assert!(draft.draft && draft.version_id.is_none());
    assert_eq!(s.run_document("r-2").await.unwrap(), Some(doc("f", "Hi")));
    assert!(matches!(
        s.create_run(draft_run("r-2", "p", "f")).await,
        Err(StoreError::Conflict { .. })
    ));
    let mut both = draft_run("r-3", "p", "f");
    both.version = Some("1".into());
    assert!(matches!(
        s.create_run(both).await,
        Err(StoreError::Invalid { .. })
    ));

    let mut record = NodeRecord {
        node: "greet".into(),
        status: NodeStatus::Running,
        attempts: 1,
        started_at: Some(now_ms()),
        duration_ms: None,
        inputs: Some(json!({"name": "Ada"})),
        outputs: None,
        error: None,
    };
    s.upsert_node_record("r-1", &record).await.unwrap();
    record.status = NodeStatus::Succeeded;
    record.duration_ms = Some(0.25);
    record.outputs = Some(json!({"text": "Hello Ada!", "big": {"list": [1, 2, 3]}}));
    s.upsert_node_record("r-1", &record).await.unwrap();
    let skipped = NodeRecord {
        node: "other".into(),
        status: NodeStatus::Skipped,
        attempts: 0,
        started_at: None,
        duration_ms: None,
        inputs: None,
        outputs: None,
        error: Some(json!({"reason": "dead input"})),
    };
    s.upsert_node_record("r-1", &skipped).await.unwrap();
    let records = s.list_node_records("r-1").await.unwrap();
    assert_eq!(records.len(), 2);
    assert!(records.contains(&record) && records.contains(&skipped));
    assert_eq!(
        s.get_node_output("r-1", "greet", "big").await.unwrap(),
        json!({"list": [1, 2, 3]})
    );
    for missing in [
        s.get_node_output("r-1", "greet", "nope").await,
        s.get_node_output("r-1", "other", "text").await,
        s.get_node_output("r-9", "greet", "text").await,
    ] {
        assert!(
            matches!(missing, Err(StoreError::NotFound { .. })),
            "{missing:?}"
        );
    }
    // A NULL duration, then a real one, on one connection (regression:
    // sqlx's `Any` types a NULL f64 as float4 on PostgreSQL).
    let single = Store::open_with(
        &db.url,
        &StoreOptions {
            max_connections: 1,
            ..StoreOptions::default()
        },
    )
    .await
    .unwrap();
    for duration_ms in [None, Some(0.5), None, Some(2.0)] {
        let r = NodeRecord {
            node: "timed".into(),
            duration_ms,
            ..skipped.clone()
        };
        single.upsert_node_record("r-1", &r).await.unwrap();
    }
    single.close().await;
    let timed = s.list_node_records("r-1").await.unwrap();
    assert_eq!(
        timed
            .iter()
            .find(|r| r.node == "timed")
            .and_then(|r| r.duration_ms),
        Some(2.0)
    );

    let no_run = s.upsert_node_record("r-9", &record).await;
    assert!(
        matches!(no_run, Err(StoreError::NotFound { .. })),
        "{no_run:?}"
    );

    s.finish_run("r-1", finished(RunStatus::Succeeded))
        .await
        .unwrap();
    assert!(matches!(
        s.finish_run("r-1", finished(RunStatus::Failed)).await,
        Err(StoreError::Conflict { .. })
    ));
    assert!(matches!(
        s.finish_run("r-9", finished(RunStatus::Failed)).await,
        Err(StoreError::NotFound { .. })
    ));
    let done = s.get_run("r-1").await.unwrap();
    assert_eq!(done.status, RunStatus::Succeeded);
    assert_eq!(done.outputs, Some(json!({"greeting": "Hi Ada"})));
    assert_eq!(done.duration_ms, Some(1.5));
    assert!(done.finished_at.is_some());

    // Listing: newest first, filters, cursor.
    for i in 3..8 {
        s.create_run(draft_run(&format!("r-{i}"), "p", "g"))
            .await
            .unwrap();
    }
    let ids = |runs: Vec<Run>| runs.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let all = ids(s
        .list_runs(&RunFilter {
            project: "p".into(),
            limit: 100,
            ..RunFilter::default()
        })
        .await
        .unwrap());
    assert_eq!(all, ["r-7", "r-6", "r-5", "r-4", "r-3", "r-2", "r-1"]);
    let page = ids(s
        .list_runs(&RunFilter {
            project: "p".into(),
            flow: Some("g".into()),
            limit: 2,
            before: Some("r-6".into()),
            ..RunFilter::default()
        })
        .await
        .unwrap());
    assert_eq!(page, ["r-5", "r-4"]);
    let succeeded = ids(s
        .list_runs(&RunFilter {
            project: "p".into(),
            status: Some(RunStatus::Succeeded),
            limit: 10,
            ..RunFilter::default()
        })
        .await
        .unwrap());
    assert_eq!(succeeded, ["r-1"]);
}

/// By version id (the one-statement path), as published routes start
/// runs: the same run as the long way; a missing version or flow is
/// NotFound, a taken id a Conflict.
pub async fn runs_by_version_id(db: Db) {
    let s = &db.store;
    s.create_project("p", None).await.unwrap();
    let (v1, _) = s.save_version("p", "f", &doc("f", "one")).await.unwrap();
    let by_id = |id: &str, flow: &str, version: &str| NewRun {
        version: Some(version.into()),
        document: None,
        ..draft_run(id, "p", flow)
    };
    let run = s.create_run(by_id("byid-1", "f", &v1.id)).await.unwrap();
    assert_eq!(
        (run.version_id.as_deref(), run.version_number, run.draft),
        (Some(v1.id.as_str()), Some(1), false)
    );
    assert_eq!(s.get_run("byid-1").await.unwrap(), run);
    for (id, flow, version) in [
        ("byid-2", "f", "v9-deadbeef"),
        ("byid-3", "nope", v1.id.as_str()),
    ] {
        let missing = s.create_run(by_id(id, flow, version)).await;
        assert!(
            matches!(missing, Err(StoreError::NotFound { .. })),
            "{missing:?}"
        );
    }
    assert!(matches!(
        s.create_run(by_id("byid-1", "f", &v1.id)).await,
        Err(StoreError::Conflict { .. })
    ));
}

pub async fn events_append_and_replay(db: Db) {
    let s = &db.store;
    s.create_project("p", None).await.unwrap();
    s.create_run(draft_run("r", "p", "f")).await.unwrap();
    let first: Vec<_> = (1..=5).map(|i| event("r", i)).collect();
    let second: Vec<_> = (6..=10).map(|i| event("r", i)).collect();
    s.append_events("r", &first).await.unwrap();
    s.append_events("r", &second).await.unwrap();
    assert_eq!(s.last_event_seq("r").await.unwrap(), 10);

    let all = s.events_after("r", 0, 100).await.unwrap();
    assert_eq!(all, [first.clone(), second.clone()].concat());
    let seqs = |evs: Vec<RunEvent>| evs.into_iter().map(|e| e.seq).collect::<Vec<_>>();
    assert_eq!(seqs(s.events_after("r", 4, 3).await.unwrap()), [5, 6, 7]);
    assert!(s.events_after("r", 10, 10).await.unwrap().is_empty());

    // A reconnecting reader paging with after_seq sees every event once.
    let mut seen = Vec::new();
    let mut after = 0;
    loop {
        let page = s.events_after("r", after, 3).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.seq;
        seen.extend(page.into_iter().map(|e| e.seq));
    }
    assert_eq!(seen, (1..=10).collect::<Vec<_>>());

    // A duplicate seq rejects the whole batch.
    let dup = s
        .append_events("r", &[event("r", 10), event("r", 11)])
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict { .. })), "{dup:?}");
    assert_eq!(s.last_event_seq("r").await.unwrap(), 10);
    let dup = s.append_events("r", &[event("r", 11), event("r", 3)]).await;
    assert!(matches!(dup, Err(StoreError::Invalid { .. })), "{dup:?}");
    let wrong_run = s.append_events("r", &[event("other", 11)]).await;
    assert!(matches!(wrong_run, Err(StoreError::Invalid { .. })));
    let no_run = s.append_events("zz", &[event("zz", 1)]).await;
    assert!(
        matches!(no_run, Err(StoreError::NotFound { .. })),
        "{no_run:?}"
    );
    s.append_events("r", &[event("r", 11)]).await.unwrap();
    assert_eq!(s.last_event_seq("r").await.unwrap(), 11);
}

/// Runs left `running` by a process that stopped are failed as
/// `interrupted` by another, and only those: a live process's runs, and
/// the finished ones, are left alone.
pub async fn runs_of_stopped_processes_are_interrupted(db: Db) {
    let s = &db.store;
    s.create_project("p", None).await.unwrap();
    let (a, b) = (
        s.register_instance().await.unwrap(),
        s.register_instance().await.unwrap(),
    );
    assert_ne!(a.id(), b.id());
    let run = |id: &str, instance: Option<i64>| NewRun {
        instance,
        ..draft_run(id, "p", "f")
    };
    for (id, instance) in [
        ("a1", Some(a.id())),
        ("a2", Some(a.id())),
        ("b1", Some(b.id())),
        ("old", None),
    ] {
        s.create_run(run(id, instance)).await.unwrap();
    }
    s.finish_run("a2", finished(RunStatus::Succeeded))
        .await
        .unwrap();
    s.upsert_node_record(
        "a1",
        &NodeRecord {
            node: "n".into(),
            status: NodeStatus::Running,
            attempts: 1,
            started_at: Some(now_ms()),
            duration_ms: None,
            inputs: None,
            outputs: None,
            error: None,
        },
    )
    .await
    .unwrap();
    // Both processes live: only the run from before instances goes.
    assert_eq!(s.recover_orphans(&b).await.unwrap(), ["old"]);
    assert_eq!(s.recover_orphans(&a).await.unwrap(), Vec::<String>::new());
    // Process `a` stops (its lock goes with it; PostgreSQL notices the
    // closed connection within moments).
    drop(a);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let recovered = loop {
        let got = s.recover_orphans(&b).await.unwrap();
        if !got.is_empty() || std::time::Instant::now() > deadline {
            break got;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(recovered, ["a1"]);
    for id in ["a1", "old"] {
        let run = s.get_run(id).await.unwrap();
        assert_eq!(run.status, RunStatus::Failed);
        assert_eq!(
            run.error,
            Some(json!({
                "code": "interrupted",
                "message": "the server stopped while this run was in progress"
            }))
        );
        assert!(run.finished_at.is_some() && run.duration_ms.is_some());
    }
    assert_eq!(s.get_run("a2").await.unwrap().status, RunStatus::Succeeded);
    assert_eq!(s.get_run("b1").await.unwrap().status, RunStatus::Running);
    let nodes = s.list_node_records("a1").await.unwrap();
    assert_eq!(nodes[0].status, NodeStatus::Failed);
    // A new process after a restart: `b` still lives, so nothing more.
    let c = s.register_instance().await.unwrap();
    assert!(s.recover_orphans(&c).await.unwrap().is_empty());
}

pub async fn retention_by_count_and_age(db: Db) {
    let s = &db.store;
    s.create_project("p", None).await.unwrap();
    // The oldest run of `f` is still running: never pruned.
    s.create_run(draft_run("f0", "p", "f")).await.unwrap();
    for i in 1..=5 {
        let id = format!("f{i}");
        s.create_run(draft_run(&id, "p", "f")).await.unwrap();
        s.append_events(&id, &[event(&id, 1), event(&id, 2)])
            .await
            .unwrap();
        s.finish_run(&id, finished(RunStatus::Succeeded))
            .await
            .unwrap();
    }
    for i in 1..=2 {
        let id = format!("g{i}");
        s.create_run(draft_run(&id, "p", "g")).await.unwrap();
        s.finish_run(&id, finished(RunStatus::Failed))
            .await
            .unwrap();
    }
    let keep_two = RetentionPolicy {
        max_runs: Some(2),
        max_age: None,
    };
    assert_eq!(s.prune("p", "f", &keep_two).await.unwrap(), 3);
    let left = |flow: &'static str| async move {
        s.list_runs(&RunFilter {
            project: "p".into(),
            flow: Some(flow.into()),
            limit: 100,
            ..RunFilter::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect::<Vec<_>>()
    };
    assert_eq!(left("f").await, ["f5", "f4", "f0"]);
    assert_eq!(left("g").await, ["g2", "g1"]);
    assert!(s.events_after("f1", 0, 10).await.unwrap().is_empty());
    assert_eq!(s.events_after("f5", 0, 10).await.unwrap().len(), 2);
    assert!(matches!(
        s.list_node_records("f1").await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(s.prune("p", "f", &keep_two).await.unwrap(), 0);
    assert_eq!(
        s.prune("p", "f", &RetentionPolicy::default())
            .await
            .unwrap(),
        0
    );

    tokio::time::sleep(Duration::from_millis(5)).await;
    let by_age = RetentionPolicy {
        max_runs: None,
        max_age: Some(Duration::ZERO),
    };
    assert_eq!(s.prune_all(&by_age).await.unwrap(), 4);
    assert_eq!(left("f").await, ["f0"]);
    assert!(left("g").await.is_empty());
    let raw = db.raw().await;
    let events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM weft_run_events")
        .fetch_one(&raw)
        .await
        .unwrap();
    assert_eq!(events, 0);
}
