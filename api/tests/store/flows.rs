//! Projects, flow versions, stages and publications.

use serde_json::Value;
use weft::store::*;

use super::{Db, doc, draft_run, event};

pub async fn projects_crud_and_cascade(db: Db) {
    let s = &db.store;
    let p = s.create_project("acme", Some("Acme Inc")).await.unwrap();
    assert_eq!((p.slug.as_str(), p.name.as_str()), ("acme", "Acme Inc"));
    assert!(matches!(
        s.create_project("acme", None).await,
        Err(StoreError::Conflict { .. })
    ));
    assert!(matches!(
        s.create_project("Bad_Slug", None).await,
        Err(StoreError::Invalid { .. })
    ));
    s.create_project("beta", None).await.unwrap();
    let slugs: Vec<_> = s
        .list_projects()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.slug)
        .collect();
    assert_eq!(slugs, ["acme", "beta"]);
    assert_eq!(s.get_project("beta").await.unwrap().name, "beta");
    assert_eq!(s.rename_project("acme", "ACME").await.unwrap().name, "ACME");
    assert!(matches!(
        s.get_project("nope").await,
        Err(StoreError::NotFound { .. })
    ));

    // Everything the project owns goes with it.
    let s = s.clone().with_secret_key(SecretKey::from_bytes([3; 32]));
    s.save_version("acme", "hello", &doc("hello", "Hi"))
        .await
        .unwrap();
    s.publish("acme", "prod", "hello", "latest").await.unwrap();
    s.create_run(draft_run("r1", "acme", "hello"))
        .await
        .unwrap();
    s.append_events("r1", &[event("r1", 1)]).await.unwrap();
    s.set_secret("acme", None, "KEY", "v").await.unwrap();
    s.delete_project("acme").await.unwrap();
    assert!(matches!(
        s.get_run("r1").await,
        Err(StoreError::NotFound { .. })
    ));
    let raw = db.raw().await;
    for table in [
        "weft_flows",
        "weft_flow_versions",
        "weft_stages",
        "weft_publications",
        "weft_runs",
        "weft_run_events",
        "weft_secrets",
    ] {
        let n: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                .fetch_one(&raw)
                .await
                .unwrap();
        assert_eq!(n, 0, "{table} still has rows");
    }
    s.create_project("acme", None).await.unwrap();
    assert!(s.list_flows("acme").await.unwrap().is_empty());
    assert!(matches!(
        s.delete_project("acme-x").await,
        Err(StoreError::NotFound { .. })
    ));
}

pub async fn identical_content_returns_the_same_version(db: Db) {
    let s = &db.store;
    s.create_project("p", None).await.unwrap();
    let a = doc("hello", "Hello {{ name }}!");
    let (v1, created) = s.save_version("p", "hello", &a).await.unwrap();
    assert!(created);
    assert_eq!(v1.number, 1);
    assert_eq!(v1.id, format!("v1-{}", &v1.hash[..8]));
    assert_eq!(v1.hash, content_hash(&a));

    // Same content, other key order: the same version.
    let reordered = match &a {
        Value::Object(m) => Value::Object(
            m.iter()
                .rev()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        _ => unreachable!(),
    };
    assert_ne!(reordered.to_string(), a.to_string());
    assert_eq!(content_hash(&reordered), v1.hash);
    let (again, created) = s.save_version("p", "hello", &reordered).await.unwrap();
    assert!(!created);
    assert_eq!(again, v1);

    let b = doc("hello", "Bonjour {{ name }}!");
    let (v2, created) = s.save_version("p", "hello", &b).await.unwrap();
    assert!(created);
    assert_eq!(v2.number, 2);
    // Reverting to the first content makes a new latest version.
    let (v3, created) = s.save_version("p", "hello", &a).await.unwrap();
    assert!(created);
    assert_eq!((v3.number, v3.hash.as_str()), (3, v1.hash.as_str()));
    assert_ne!(v3.id, v1.id);

    // Versions are immutable: v1 reads back exactly as saved.
    assert_eq!(s.get_version("p", "hello", "1").await.unwrap(), v1);
    assert_eq!(s.get_version("p", "hello", &v2.id).await.unwrap(), v2);
    assert_eq!(s.latest_version("p", "hello").await.unwrap(), v3);
    assert_eq!(s.get_version("p", "hello", "latest").await.unwrap(), v3);
    let numbers: Vec<_> = s
        .list_versions("p", "hello")
        .await
        .unwrap()
        .iter()
        .map(|v| v.number)
        .collect();
    assert_eq!(numbers, [3, 2, 1]);

    s.save_version("p", "bye", &doc("bye", "Bye"))
        .await
        .unwrap();
    let flows = s.list_flows("p").await.unwrap();
    assert_eq!(flows.len(), 2);
    assert_eq!(flows[0].name, "bye");
    assert_eq!(flows[1].latest.as_ref().map(|v| v.number), Some(3));

    for missing in [
        s.get_version("p", "hello", "9").await,
        s.get_version("p", "hello", "v9-00000000").await,
        s.get_version("p", "nope", "1").await,
        s.get_version("nope", "hello", "1").await,
    ] {
        assert!(
            matches!(missing, Err(StoreError::NotFound { .. })),
            "{missing:?}"
        );
    }
    assert!(matches!(
        s.save_version("nope", "hello", &a).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        s.save_version("p", "bad name", &a).await,
        Err(StoreError::Invalid { .. })
    ));
}

pub async fn concurrent_saves_get_distinct_numbers(db: Db) {
    db.store.create_project("p", None).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let s = db.store.clone();
        tasks.push(tokio::spawn(async move {
            s.save_version("p", "f", &doc("f", &format!("t{i}")))
                .await
                .unwrap()
                .0
                .number
        }));
    }
    let mut numbers = Vec::new();
    for t in tasks {
        numbers.push(t.await.unwrap());
    }
    numbers.sort();
    assert_eq!(numbers, (1..=8).collect::<Vec<_>>());
}

pub async fn publish_unpublish_and_rollback(db: Db) {
    let s = &db.store;
    s.create_project("p", None).await.unwrap();
    let (v1, _) = s.save_version("p", "f", &doc("f", "one")).await.unwrap();
    let (v2, _) = s.save_version("p", "f", &doc("f", "two")).await.unwrap();
    s.save_version("p", "g", &doc("g", "g")).await.unwrap();

    let live = s.publish("p", "prod", "f", &v1.id).await.unwrap();
    assert_eq!(live.version, v1.summary());
    s.publish("p", "prod", "g", "latest").await.unwrap();
    s.publish("p", "prod", "f", "2").await.unwrap();
    let now: Vec<_> = s
        .live("p", "prod")
        .await
        .unwrap()
        .into_iter()
        .map(|l| (l.flow, l.version.number))
        .collect();
    assert_eq!(now, [("f".to_string(), 2), ("g".to_string(), 1)]);

    // Rollback: publish the older version again.
    s.publish("p", "prod", "f", "1").await.unwrap();
    let f = s.live_version("p", "prod", "f").await.unwrap().unwrap();
    assert_eq!(f.version, v1.summary());

    assert!(s.unpublish("p", "prod", "f").await.unwrap());
    assert!(!s.unpublish("p", "prod", "f").await.unwrap());
    assert_eq!(s.live_version("p", "prod", "f").await.unwrap(), None);
    let flows: Vec<_> = s
        .live("p", "prod")
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.flow)
        .collect();
    assert_eq!(flows, ["g"]);

    let history: Vec<_> = s
        .publication_history("p", "prod", "f")
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.version.map(|v| v.number))
        .collect();
    assert_eq!(history, [None, Some(1), Some(2), Some(1)]);
    assert_eq!(v2.number, 2);

    // Stages: created by publishing, or explicitly.
    s.create_stage("p", "dev").await.unwrap();
    assert!(matches!(
        s.create_stage("p", "dev").await,
        Err(StoreError::Conflict { .. })
    ));
    let stages: Vec<_> = s
        .list_stages("p")
        .await
        .unwrap()
        .into_iter()
        .map(|st| st.name)
        .collect();
    assert_eq!(stages, ["dev", "prod"]);
    assert!(s.live("p", "dev").await.unwrap().is_empty());
    for missing in [
        s.live("p", "staging").await.map(|_| ()),
        s.publish("p", "prod", "f", "7").await.map(|_| ()),
        s.publish("p", "prod", "nope", "1").await.map(|_| ()),
    ] {
        assert!(
            matches!(missing, Err(StoreError::NotFound { .. })),
            "{missing:?}"
        );
    }
}

pub async fn publish_checks_see_the_stage_and_can_refuse(db: Db) {
    let s = &db.store;
    s.create_project("p", None).await.unwrap();
    s.save_version("p", "f", &doc("f", "f")).await.unwrap();
    s.save_version("p", "g", &doc("g", "g1")).await.unwrap();
    s.save_version("p", "g", &doc("g", "g2")).await.unwrap();
    s.save_version("p", "h", &doc("h", "h")).await.unwrap();
    s.publish("p", "prod", "f", "latest").await.unwrap();
    s.publish("p", "prod", "g", "1").await.unwrap();
    // The check sees the version's document and every *other* live flow's.
    let mut seen = Vec::new();
    s.publish_checked("p", "prod", "g", "2", |c| {
        assert_eq!((c.flow, c.stage), ("g", "prod"));
        assert_eq!(c.document["nodes"][0]["config"]["template"], "g2");
        seen = c.live.iter().map(|(f, d)| (f.clone(), d.clone())).collect();
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(seen, [("f".to_string(), doc("f", "f"))]);
    // A refusal leaves the stage as it was.
    let refused = s
        .publish_checked("p", "prod", "h", "latest", |c| {
            assert_eq!(c.live.len(), 2);
            Err(StoreError::Conflict {
                what: "no room for h".into(),
            })
        })
        .await
        .unwrap_err();
    assert!(matches!(refused, StoreError::Conflict { .. }), "{refused}");
    assert_eq!(s.live_version("p", "prod", "h").await.unwrap(), None);
    let g = s.live_version("p", "prod", "g").await.unwrap().unwrap();
    assert_eq!(g.version.number, 2);
    // Unpublished flows are not shown.
    assert!(s.unpublish("p", "prod", "f").await.unwrap());
    s.publish_checked("p", "prod", "h", "latest", |c| {
        let names: Vec<&str> = c.live.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(names, ["g"]);
        Ok(())
    })
    .await
    .unwrap();
}

pub async fn routes_version_follows_publishes(db: Db) {
    let s = &db.store;
    s.create_project("p", None).await.unwrap();
    s.save_version("p", "f", &doc("f", "f")).await.unwrap();
    s.save_version("p", "g", &doc("g", "g")).await.unwrap();
    let listener = if db.file.is_none() {
        let mut l = sqlx::postgres::PgListener::connect(&db.url).await.unwrap();
        l.listen(ROUTES_CHANNEL).await.unwrap();
        Some(l)
    } else {
        None
    };
    s.publish("p", "prod", "f", "latest").await.unwrap();
    assert_eq!(s.routes_version("p", "prod").await.unwrap(), 1);
    s.publish("p", "prod", "g", "latest").await.unwrap();
    let routes = s.stage_documents("p", "prod").await.unwrap();
    assert_eq!(routes.version, 2);
    let flows: Vec<(&str, &Value)> = routes
        .flows
        .iter()
        .map(|l| (l.flow.as_str(), &l.document))
        .collect();
    assert_eq!(flows, [("f", &doc("f", "f")), ("g", &doc("g", "g"))]);
    // A refused publish changes nothing.
    let refused = s
        .publish_checked("p", "prod", "g", "latest", |_| {
            Err(StoreError::Conflict { what: "no".into() })
        })
        .await;
    assert!(refused.is_err());
    assert_eq!(s.routes_version("p", "prod").await.unwrap(), 2);
    // Unpublishing bumps it; unpublishing what is not live does not.
    assert!(s.unpublish("p", "prod", "f").await.unwrap());
    assert!(!s.unpublish("p", "prod", "f").await.unwrap());
    let routes = s.stage_documents("p", "prod").await.unwrap();
    assert_eq!(routes.version, 3);
    assert_eq!(routes.flows.len(), 1);
    assert_eq!(routes.flows[0].flow, "g");
    // An empty stage has a version and no flows; an unknown one is not found.
    assert!(s.unpublish("p", "prod", "g").await.unwrap());
    let routes = s.stage_documents("p", "prod").await.unwrap();
    assert_eq!((routes.version, routes.flows.len()), (4, 0));
    let missing = s.stage_documents("p", "nowhere").await.unwrap_err();
    assert!(matches!(missing, StoreError::NotFound { .. }), "{missing}");
    // Many stages' versions in one call, in order; unknown ones are None.
    let mut h = doc("h", "h");
    h["triggers"] = serde_json::json!([{"kind": "http", "path": "/h/{name}"}]);
    s.save_version("p", "h", &h).await.unwrap();
    s.publish("p", "dev", "h", "latest").await.unwrap();
    let key = |p: &str, st: &str| (p.to_string(), st.to_string());
    let keys = [
        key("p", "dev"),
        key("nope", "prod"),
        key("p", "prod"),
        key("p", "x"),
    ];
    assert_eq!(
        s.stage_versions(&keys).await.unwrap(),
        [Some(1), None, Some(4), None]
    );
    let many: Vec<_> = (0..450)
        .map(|i| key("p", &format!("s{i}")))
        .chain([key("p", "dev")])
        .collect();
    let versions = s.stage_versions(&many).await.unwrap();
    assert_eq!(versions.len(), 451);
    assert_eq!((versions[0], versions[450]), (None, Some(1)));
    // The SQL route store: the triggers of what is live, with the version.
    use weft_router::RouteStore as _;
    let dev = s.load("p", "dev").await.unwrap().expect("stage dev");
    assert_eq!(dev.version, 1);
    assert_eq!(dev.routes.len(), 1, "{:?}", dev.routes);
    assert_eq!(
        (dev.routes[0].flow.as_str(), dev.routes[0].trigger.as_str()),
        ("h", "http-0")
    );
    assert!(
        dev.routes[0].version.starts_with("v1-"),
        "{}",
        dev.routes[0].version
    );
    assert!(s.load("p", "nowhere").await.unwrap().is_none());
    // PostgreSQL announces each change when it commits.
    if let Some(mut l) = listener {
        let mut got = Vec::new();
        while got.len() < 4 {
            let n = tokio::time::timeout(std::time::Duration::from_secs(5), l.recv())
                .await
                .expect("a notification within 5 s")
                .unwrap();
            assert_eq!(n.channel(), ROUTES_CHANNEL);
            got.push(n.payload().to_string());
        }
        assert_eq!(got, ["p/prod/1", "p/prod/2", "p/prod/3", "p/prod/4"]);
    }
}
