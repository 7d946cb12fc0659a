//! Secrets, tokens, and a database that is unavailable.

use std::time::Duration;

use weft::store::*;

use super::Db;
use super::pg::admin as pg_admin;

pub async fn secrets_are_encrypted_at_rest(db: Db) {
    let key = SecretKey::from_bytes([9; 32]);
    let s = db.store.clone().with_secret_key(key.clone());
    s.create_project("p", None).await.unwrap();
    let value = "sk-very-secret-value-4242";
    s.set_secret("p", None, "OPENAI_KEY", value).await.unwrap();
    s.set_secret("p", Some("prod"), "OPENAI_KEY", "prod-value-1234567")
        .await
        .unwrap();
    s.set_secret("p", None, "OTHER", "o").await.unwrap();

    let listed: Vec<_> = s
        .list_secrets("p")
        .await
        .unwrap()
        .into_iter()
        .map(|i| (i.name, i.stage))
        .collect();
    assert_eq!(
        listed,
        [
            ("OPENAI_KEY".to_string(), None),
            ("OPENAI_KEY".to_string(), Some("prod".to_string())),
            ("OTHER".to_string(), None),
        ]
    );
    let dev = s.resolve_secrets("p", Some("dev")).await.unwrap();
    assert_eq!(dev.get("OPENAI_KEY").map(String::as_str), Some(value));
    let prod = s.resolve_secrets("p", Some("prod")).await.unwrap();
    assert_eq!(
        prod.get("OPENAI_KEY").map(String::as_str),
        Some("prod-value-1234567")
    );
    assert_eq!(prod.get("OTHER").map(String::as_str), Some("o"));

    // The stored bytes never contain the value.
    let raw = db.raw().await;
    let rows: Vec<(String, String, Vec<u8>, Vec<u8>)> =
        sqlx::query_as("SELECT name, key_id, nonce, ciphertext FROM weft_secrets")
            .fetch_all(&raw)
            .await
            .unwrap();
    assert_eq!(rows.len(), 3);
    let contains =
        |hay: &[u8], needle: &str| hay.windows(needle.len()).any(|w| w == needle.as_bytes());
    for (_, key_id, nonce, sealed) in &rows {
        assert_eq!(key_id, &key.id());
        assert!(!contains(sealed, value) && !contains(nonce, value));
        assert!(!contains(sealed, "prod-value"));
    }
    raw.close().await;
    if let Some(file) = &db.file {
        s.close().await;
        for path in [file.clone(), file.with_extension("db-wal")] {
            if let Ok(bytes) = std::fs::read(&path) {
                assert!(
                    !contains(&bytes, value),
                    "{} holds the value",
                    path.display()
                );
            }
        }
    }
    let s = db.reopen().await.with_secret_key(key.clone());

    // A wrong key fails clearly; no key fails clearly.
    let wrong = s.clone().with_secret_key(SecretKey::from_bytes([8; 32]));
    match wrong.resolve_secrets("p", None).await {
        Err(StoreError::SecretKey { message }) => {
            assert!(message.contains("encrypted with key"), "{message}");
            assert!(message.contains(&key.id()), "{message}");
        }
        other => panic!("expected a key error, got {other:?}"),
    }
    let keyless = db.reopen().await;
    assert!(matches!(
        keyless.resolve_secrets("p", None).await,
        Err(StoreError::SecretKey { .. })
    ));
    assert!(keyless.list_secrets("p").await.is_ok());

    s.delete_secret("p", Some("prod"), "OPENAI_KEY")
        .await
        .unwrap();
    assert!(matches!(
        s.delete_secret("p", Some("prod"), "OPENAI_KEY").await,
        Err(StoreError::NotFound { .. })
    ));
    let prod = s.resolve_secrets("p", Some("prod")).await.unwrap();
    assert_eq!(prod.get("OPENAI_KEY").map(String::as_str), Some(value));
    assert!(matches!(
        s.set_secret("p", None, "bad name", "x").await,
        Err(StoreError::Invalid { .. })
    ));

    // The key file: generated once (mode 0600), then read back.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("weft-data").join("secret.key");
    let (k1, src) = SecretKey::from_value_or_file(None, &path).unwrap();
    assert_eq!(src, KeySource::Generated(path.clone()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let (k2, src) = SecretKey::from_value_or_file(None, &path).unwrap();
    assert_eq!((k2.id(), src), (k1.id(), KeySource::File(path.clone())));
    let (k3, src) = SecretKey::from_value_or_file(Some(&key.to_hex()), &path).unwrap();
    assert_eq!((k3.id(), src), (key.id(), KeySource::Env));
    assert!(SecretKey::from_value_or_file(Some("nope"), &path).is_err());
}

pub async fn tokens_are_hashed(db: Db) {
    let s = &db.store;
    let (info, token) = s
        .create_token("ci", &[Scope::ProjectWrite("acme".into())])
        .await
        .unwrap();
    assert!(
        token.starts_with("wft_") && token.len() == 4 + 43,
        "{token}"
    );
    assert!(info.can_write("acme") && !info.is_admin());

    let raw = db.raw().await;
    let stored: Vec<(String, String)> =
        sqlx::query_as("SELECT token_hash, scopes FROM weft_api_tokens")
            .fetch_all(&raw)
            .await
            .unwrap();
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].0.contains(&token[4..]) && stored[0].0.len() == 64);
    assert_eq!(stored[0].1, r#"["project:acme:write"]"#);

    let verified = s.verify_token(&token).await.unwrap().unwrap();
    assert_eq!(verified.id, info.id);
    assert_eq!(verified.scopes, info.scopes);
    assert!(verified.last_used_at.is_some());
    assert_eq!(s.verify_token("wft_nope").await.unwrap(), None);
    assert_eq!(
        s.verify_token(&token[..token.len() - 1]).await.unwrap(),
        None
    );

    let admin = s
        .import_token("admin", "a-long-admin-token-from-env", &[Scope::Admin])
        .await
        .unwrap();
    let again = s
        .import_token("admin", "a-long-admin-token-from-env", &[Scope::Admin])
        .await
        .unwrap();
    assert_eq!(admin.id, again.id);
    assert!(
        s.verify_token("a-long-admin-token-from-env")
            .await
            .unwrap()
            .is_some_and(|t| t.is_admin())
    );
    assert!(matches!(
        s.import_token("short", "abc", &[Scope::Admin]).await,
        Err(StoreError::Invalid { .. })
    ));
    assert_eq!(s.list_tokens().await.unwrap().len(), 2);

    s.revoke_token(&info.id).await.unwrap();
    assert_eq!(s.verify_token(&token).await.unwrap(), None);
    assert!(matches!(
        s.revoke_token(&info.id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(s.list_tokens().await.unwrap().len(), 1);
}

pub async fn unavailable_database(db: Db) {
    let quick = StoreOptions {
        max_connections: 2,
        acquire_timeout: Duration::from_secs(2),
    };
    let unreachable = match db.file {
        // A directory is not a database file.
        Some(_) => {
            let dir = tempfile::tempdir().unwrap();
            Store::open_with(&format!("sqlite://{}", dir.path().display()), &quick).await
        }
        // Nothing listens on port 1.
        None => Store::open_with("postgres://postgres@127.0.0.1:1/weft", &quick).await,
    };
    match unreachable {
        Err(e @ StoreError::Unavailable { .. }) => assert!(e.is_unavailable()),
        other => panic!("expected Unavailable, got {other:?}"),
    }

    // A store whose database goes away: calls fail with Unavailable.
    db.store.create_project("p", None).await.unwrap();
    if db.file.is_none() {
        let name = db.url.rsplit('/').next().unwrap().to_string();
        let mut admin = pg_admin().await;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE {name} WITH (FORCE)"
        )))
        .execute(&mut admin)
        .await
        .unwrap();
        let gone = db.store.get_project("p").await;
        assert!(
            matches!(gone, Err(StoreError::Unavailable { .. })),
            "{gone:?}"
        );
        assert!(db.store.ping().await.is_err());
    }
    db.store.close().await;
    let closed = db.store.get_project("p").await;
    assert!(
        matches!(closed, Err(StoreError::Unavailable { .. })),
        "{closed:?}"
    );
}

pub async fn api_keys_are_hashed_and_scoped(db: Db) {
    let s = &db.store;
    s.create_project("p", None).await.unwrap();
    s.create_project("q", None).await.unwrap();
    let prod = vec!["prod".to_string()];
    let (info, key) = s.create_api_key("p", "ci", Some(&prod)).await.unwrap();
    assert!(key.starts_with("wfk_") && key.len() > 40, "{key}");
    assert_eq!(info.stages.as_deref(), Some(&prod[..]));
    let (all, any_stage) = s.create_api_key("p", "ops", None).await.unwrap();
    assert_eq!(all.stages, None);
    // Allowed on its stage, 403 elsewhere, unknown to other projects.
    match s.check_api_key("p", "prod", &key).await.unwrap() {
        KeyCheck::Allowed(k) => {
            assert_eq!(k.id, info.id);
            assert!(k.last_used_at.is_some());
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        s.check_api_key("p", "dev", &key).await.unwrap(),
        KeyCheck::WrongStage(_)
    ));
    assert_eq!(
        s.check_api_key("q", "prod", &key).await.unwrap(),
        KeyCheck::Unknown
    );
    assert!(matches!(
        s.check_api_key("p", "dev", &any_stage).await.unwrap(),
        KeyCheck::Allowed(_)
    ));
    assert_eq!(
        s.check_api_key("p", "prod", "wfk_forged").await.unwrap(),
        KeyCheck::Unknown
    );
    // Only hashes are stored.
    let raw = db.raw().await;
    let stored: Vec<String> = sqlx::query_scalar("SELECT key_hash FROM weft_api_keys")
        .fetch_all(&raw)
        .await
        .unwrap();
    assert_eq!(stored.len(), 2);
    assert!(
        stored
            .iter()
            .all(|h| h.len() == 64 && *h != key && *h != any_stage)
    );
    // Bad requests say why.
    let e = s.create_api_key("p", " ", None).await.unwrap_err();
    assert!(e.to_string().contains("name"), "{e}");
    let e = s.create_api_key("p", "x", Some(&[])).await.unwrap_err();
    assert!(e.to_string().contains("at least one stage"), "{e}");
    let bad = vec!["pre-prod".to_string()];
    let e = s.create_api_key("p", "x", Some(&bad)).await.unwrap_err();
    assert!(e.to_string().contains("pre-prod"), "{e}");
    let e = s.create_api_key("nope", "x", None).await.unwrap_err();
    assert!(matches!(e, StoreError::NotFound { .. }), "{e}");
    // Listing shows no secret; revoking ends the key.
    let listed = s.list_api_keys("p").await.unwrap();
    assert_eq!(listed.len(), 2);
    s.revoke_api_key("p", &info.id).await.unwrap();
    assert_eq!(
        s.check_api_key("p", "prod", &key).await.unwrap(),
        KeyCheck::Unknown
    );
    let e = s.revoke_api_key("p", &info.id).await.unwrap_err();
    assert!(matches!(e, StoreError::NotFound { .. }), "{e}");
    // Keys go with their project.
    s.delete_project("p").await.unwrap();
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM weft_api_keys")
        .fetch_one(&raw)
        .await
        .unwrap();
    assert_eq!(left, 0);
}
