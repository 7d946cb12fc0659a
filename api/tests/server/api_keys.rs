//! API keys for published flows over REST: created once in plaintext,
//! listed without it, scoped to stages, revoked; project write access.

use axum::http::StatusCode;
use serde_json::json;
use weft::store::{KeyCheck, Scope};

use super::Bed;

pub async fn api_keys_over_rest(bed: Bed) {
    let (status, _) = bed
        .admin("POST", "/v1/projects", Some(json!({"slug": "demo"})))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let path = "/v1/projects/demo/api-keys";
    let (status, created) = bed
        .admin(
            "POST",
            path,
            Some(json!({"name": "ci", "stages": ["prod"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let key = created["key"].as_str().unwrap().to_string();
    let id = created["info"]["id"].as_str().unwrap().to_string();
    assert_eq!(created["info"]["stages"], json!(["prod"]));
    // The key works for its stage only.
    let store = &bed.state.store;
    assert!(matches!(
        store.check_api_key("demo", "prod", &key).await.unwrap(),
        KeyCheck::Allowed(_)
    ));
    assert!(matches!(
        store.check_api_key("demo", "dev", &key).await.unwrap(),
        KeyCheck::WrongStage(_)
    ));
    // Listed without its secret.
    let (status, listed) = bed.admin("GET", path, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["api_keys"][0]["id"], json!(id));
    assert!(!listed.to_string().contains(&key), "{listed}");
    // Bad bodies are 400 or 422 with the reason.
    let (status, body) = bed
        .admin("POST", path, Some(json!({"name": "x", "stages": ["Prod"]})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("Prod"));
    let (status, _) = bed
        .admin("POST", path, Some(json!({"name": "x", "scopes": []})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // A read-only token may not see or make keys.
    let reader = bed.token(&[Scope::ProjectRead("demo".into())]).await;
    let (status, _) = bed.call("GET", path, Some(&reader), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Revoking ends it; twice is 404.
    let one = format!("{path}/{id}");
    assert_eq!(
        bed.admin("DELETE", &one, None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        bed.admin("DELETE", &one, None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        store.check_api_key("demo", "prod", &key).await.unwrap(),
        KeyCheck::Unknown
    );
}
