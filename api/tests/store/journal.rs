//! Group commit ([`Store::write_group`]): many runs' writes in one
//! transaction, and one bad write failing alone.

use std::sync::Arc;

use serde_json::json;
use weft::store::*;
use weft_editor_protocol::events::RunEvent;

use super::{Db, doc, draft_run, event, finished};

fn by_id(id: &str, flow: &str, version: &str) -> NewRun {
    NewRun {
        version: Some(version.into()),
        document: None,
        ..draft_run(id, "p", flow)
    }
}

fn record(node: &str, duration_ms: Option<f64>) -> NodeRecord {
    NodeRecord {
        node: node.into(),
        status: NodeStatus::Succeeded,
        attempts: 1,
        started_at: Some(now_ms()),
        duration_ms,
        inputs: Some(json!({"name": "Ada"})),
        outputs: Some(json!({"text": "Hi Ada"})),
        error: None,
    }
}

/// Events `seqs` of `run` and its two node records.
fn history(
    run: &str,
    seqs: std::ops::RangeInclusive<u64>,
) -> (Vec<Arc<RunEvent>>, Vec<NodeRecord>) {
    (
        seqs.map(|s| Arc::new(event(run, s))).collect(),
        vec![record("greet", Some(0.5)), record("shout", None)],
    )
}

fn finish(run: &str, seqs: std::ops::RangeInclusive<u64>) -> JournalOp {
    let (events, records) = history(run, seqs);
    JournalOp::Finish {
        run: run.into(),
        events,
        records,
        finish: finished(RunStatus::Succeeded),
    }
}

/// A group of creations, appends and ends stores each as the single-run
/// calls would; a group with bad ops among good ones fails only the bad
/// ones, each with the error it would get alone.
pub async fn group_commit_stores_runs_and_isolates_failures(db: Db) {
    let s = &db.store;
    s.create_project("p", None).await.unwrap();
    let (v1, _) = s.save_version("p", "f", &doc("f", "one")).await.unwrap();

    // Creations of 40 runs (a draft among them) in one group.
    let mut creates: Vec<JournalOp> = (0..40)
        .map(|i| JournalOp::Create(by_id(&format!("g-{i}"), "f", &v1.id)))
        .collect();
    creates.push(JournalOp::Create(draft_run("g-draft", "p", "f")));
    let results = s.write_group(&creates).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let run = s.get_run("g-7").await.unwrap();
    assert_eq!(run.status, RunStatus::Running);
    assert_eq!(
        (run.version_id.as_deref(), run.version_number, run.stage),
        (Some(v1.id.as_str()), Some(1), None)
    );
    assert_eq!(run.inputs, json!({"name": "Ada"}));
    assert!(s.get_run("g-draft").await.unwrap().draft);

    // Appends and ends of every run in one group.
    let mut ops: Vec<JournalOp> = (0..20)
        .map(|i| {
            let run = format!("g-{i}");
            JournalOp::Append {
                events: (1..=3).map(|seq| Arc::new(event(&run, seq))).collect(),
                run,
            }
        })
        .collect();
    ops.extend((20..40).map(|i| finish(&format!("g-{i}"), 1..=4)));
    let results = s.write_group(&ops).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(s.last_event_seq("g-3").await.unwrap(), 3);
    assert_eq!(s.get_run("g-3").await.unwrap().status, RunStatus::Running);
    let done = s.get_run("g-33").await.unwrap();
    assert_eq!(done.status, RunStatus::Succeeded);
    assert_eq!(done.outputs, Some(json!({"greeting": "Hi Ada"})));
    assert_eq!(done.duration_ms, Some(1.5));
    assert_eq!(s.events_after("g-33", 0, 100).await.unwrap().len(), 4);
    let records = s.list_node_records("g-33").await.unwrap();
    assert_eq!(records.len(), 2, "{records:?}");
    let shout = records.iter().find(|r| r.node == "shout").unwrap();
    assert_eq!(
        (shout.duration_ms, shout.status),
        (None, NodeStatus::Succeeded)
    );
    let greet = records.iter().find(|r| r.node == "greet").unwrap();
    assert_eq!(greet.duration_ms, Some(0.5));
    assert_eq!(greet.outputs, Some(json!({"text": "Hi Ada"})));

    // Bad ops among good ones: a missing version, a taken id, an event
    // stored already, a run finished already, an unknown run.
    let mixed = vec![
        JournalOp::Create(by_id("m-ok", "f", &v1.id)),
        JournalOp::Create(by_id("m-missing", "f", "v9-deadbeef")),
        JournalOp::Create(by_id("g-0", "f", &v1.id)),
        finish("g-0", 3..=5),
        finish("g-25", 5..=5),
        finish("g-1", 4..=6),
        JournalOp::Append {
            run: "nobody".into(),
            events: vec![Arc::new(event("nobody", 1))],
        },
    ];
    let results = s.write_group(&mixed).await;
    let kinds: Vec<&str> = results
        .iter()
        .map(|r| match r {
            Ok(()) => "ok",
            Err(StoreError::NotFound { .. }) => "not_found",
            Err(StoreError::Conflict { .. }) => "conflict",
            Err(_) => "other",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "ok",
            "not_found",
            "conflict",
            "conflict",
            "conflict",
            "ok",
            "not_found"
        ],
        "{results:?}"
    );
    assert_eq!(s.get_run("m-ok").await.unwrap().status, RunStatus::Running);
    assert_eq!(s.get_run("g-1").await.unwrap().status, RunStatus::Succeeded);
    assert_eq!(s.last_event_seq("g-1").await.unwrap(), 6);
    // The refused end of g-0 left nothing behind.
    assert_eq!(s.last_event_seq("g-0").await.unwrap(), 3);
    assert_eq!(s.get_run("g-0").await.unwrap().status, RunStatus::Running);
}

fn recorded(new: NewRun, seqs: std::ops::RangeInclusive<u64>) -> JournalOp {
    let (events, records) = history(&new.id, seqs);
    JournalOp::Record {
        new: Box::new(new),
        events,
        records,
        finish: finished(RunStatus::Succeeded),
    }
}

/// A run recorded once it is over ([`JournalOp::Record`], a published
/// route's short run): stored whole, with its own start time, in a group
/// or alone; what the single calls refuse is refused the same way, and a
/// refused record leaves nothing behind.
pub async fn runs_recorded_when_over(db: Db) {
    let s = &db.store;
    s.create_project("p", None).await.unwrap();
    let (v1, _) = s.save_version("p", "f", &doc("f", "one")).await.unwrap();
    let started_at = now_ms() - 5_000;
    let late = |id: &str| NewRun {
        started_at: Some(started_at),
        stage: Some("prod".into()),
        trigger: "http:hello".into(),
        ..by_id(id, "f", &v1.id)
    };

    // A group of records among creations.
    let mut ops: Vec<JournalOp> = (0..30)
        .map(|i| recorded(late(&format!("rec-{i}")), 1..=5))
        .collect();
    ops.push(JournalOp::Create(by_id("rec-running", "f", &v1.id)));
    let results = s.write_group(&ops).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let run = s.get_run("rec-17").await.unwrap();
    assert_eq!(run.status, RunStatus::Succeeded);
    assert_eq!(run.started_at, started_at);
    assert_eq!(run.duration_ms, Some(1.5));
    assert_eq!(run.outputs, Some(json!({"greeting": "Hi Ada"})));
    assert_eq!(
        (run.version_id.as_deref(), run.version_number),
        (Some(v1.id.as_str()), Some(1))
    );
    assert_eq!(
        (run.stage.as_deref(), run.trigger.as_str()),
        (Some("prod"), "http:hello")
    );
    assert_eq!(s.events_after("rec-17", 0, 100).await.unwrap().len(), 5);
    let records = s.list_node_records("rec-17").await.unwrap();
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(
        s.get_run("rec-running").await.unwrap().status,
        RunStatus::Running
    );

    // Alone, through the single call.
    let JournalOp::Record {
        new,
        events,
        records,
        finish,
    } = recorded(late("rec-alone"), 1..=3)
    else {
        unreachable!()
    };
    s.record_run(*new, events, records, finish).await.unwrap();
    assert_eq!(
        s.get_run("rec-alone").await.unwrap().status,
        RunStatus::Succeeded
    );
    assert_eq!(s.last_event_seq("rec-alone").await.unwrap(), 3);

    // Refused: a taken id, a missing version; the good one still lands.
    let mixed = vec![
        recorded(late("rec-3"), 1..=2),
        recorded(
            NewRun {
                started_at: Some(started_at),
                ..by_id("rec-missing", "f", "v9-deadbeef")
            },
            1..=2,
        ),
        recorded(late("rec-ok"), 1..=2),
    ];
    let results = s.write_group(&mixed).await;
    let kinds: Vec<&str> = results
        .iter()
        .map(|r| match r {
            Ok(()) => "ok",
            Err(StoreError::NotFound { .. }) => "not_found",
            Err(StoreError::Conflict { .. }) => "conflict",
            Err(_) => "other",
        })
        .collect();
    assert_eq!(kinds, ["conflict", "not_found", "ok"], "{results:?}");
    // The refused record of rec-3 changed nothing of the stored run.
    assert_eq!(s.last_event_seq("rec-3").await.unwrap(), 5);
    assert!(matches!(
        s.get_run("rec-missing").await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(
        s.get_run("rec-ok").await.unwrap().status,
        RunStatus::Succeeded
    );
}
