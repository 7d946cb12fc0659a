//! API keys: what a caller presents to a project's published flows on
//! routes with `auth: api_key` (`Authorization: Bearer <key>` or
//! `x-api-key`).
//!
//! A key is `wfk_` followed by 32 random bytes in base64url, shown once by
//! [`Store::create_api_key`]; the store keeps only its SHA-256, like API
//! tokens. Each key belongs to one project and is scoped to some of its
//! stages, or to all of them. [`Store::check_api_key`] tells a router
//! whether a key may call (project, stage): allowed, known but not for
//! this stage (403), or unknown (401; a key of another project is
//! unknown here). Revoking deletes.

use base64::Engine as _;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::error::db;
use super::tokens::{UsedTable, random_bytes, token_hash};
use super::{Result, Store, StoreError, now_ms, project_id, validate_stage};

/// A key, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKeyInfo {
    pub id: String,
    pub project: String,
    pub name: String,
    /// The stages it may call; `None`: every stage of the project.
    pub stages: Option<Vec<String>>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

impl ApiKeyInfo {
    pub fn allows(&self, stage: &str) -> bool {
        self.stages
            .as_ref()
            .is_none_or(|stages| stages.iter().any(|s| s == stage))
    }
}

/// What [`Store::check_api_key`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyCheck {
    /// A key of the project, for this stage.
    Allowed(ApiKeyInfo),
    /// A key of the project, but not for this stage (HTTP 403).
    WrongStage(ApiKeyInfo),
    /// No such key in this project (HTTP 401).
    Unknown,
}

fn key_info(project: &str, row: &AnyRow) -> Result<ApiKeyInfo> {
    let context = "reading an API key";
    let stages: Option<String> = row.try_get("stages").map_err(db(context))?;
    let stages = match stages {
        Some(text) => Some(
            serde_json::from_str::<Vec<String>>(&text)
                .map_err(|e| StoreError::corrupt(context, e))?,
        ),
        None => None,
    };
    Ok(ApiKeyInfo {
        id: row.try_get("id").map_err(db(context))?,
        project: project.to_string(),
        name: row.try_get("name").map_err(db(context))?,
        stages,
        created_at: row.try_get("created_at").map_err(db(context))?,
        last_used_at: row.try_get("last_used_at").map_err(db(context))?,
    })
}

impl Store {
    /// Creates a key of `project` for `stages` (`None`: every stage);
    /// returns it with its plaintext, which is not stored and cannot be
    /// shown again.
    pub async fn create_api_key(
        &self,
        project: &str,
        name: &str,
        stages: Option<&[String]>,
    ) -> Result<(ApiKeyInfo, String)> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(StoreError::invalid(
                "an API key's name must have 1 to 100 characters",
            ));
        }
        let stages_json = match stages {
            Some([]) => {
                return Err(StoreError::invalid(
                    "`stages` is empty: list at least one stage, or leave it out for every stage",
                ));
            }
            Some(stages) => {
                for stage in stages {
                    validate_stage(stage)?;
                }
                let mut sorted = stages.to_vec();
                sorted.sort();
                sorted.dedup();
                Some(
                    serde_json::to_string(&sorted).map_err(|e| {
                        StoreError::invalid(format!("stages do not serialize: {e}"))
                    })?,
                )
            }
            None => None,
        };
        let key = format!(
            "wfk_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>()?)
        );
        let id = format!("key_{}", hex::encode(random_bytes::<8>()?));
        let context = format!("storing API key `{name}` of `{project}`");
        let pid = project_id(&self.pool, project).await?;
        let _turn = self.write_turn().await;
        sqlx::query(
            "INSERT INTO weft_api_keys (id, project_id, name, key_hash, stages, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(pid)
        .bind(name)
        .bind(token_hash(&key))
        .bind(stages_json)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .map_err(db(&context))?;
        let info = self
            .list_api_keys(project)
            .await?
            .into_iter()
            .find(|k| k.id == id)
            .ok_or_else(|| StoreError::not_found(format!("API key `{id}`")))?;
        Ok((info, key))
    }

    /// The project's keys (without secrets), oldest first.
    pub async fn list_api_keys(&self, project: &str) -> Result<Vec<ApiKeyInfo>> {
        let pid = project_id(&self.pool, project).await?;
        let rows = sqlx::query(
            "SELECT id, name, stages, created_at, last_used_at FROM weft_api_keys \
             WHERE project_id = $1 ORDER BY created_at, id",
        )
        .bind(pid)
        .fetch_all(&self.pool)
        .await
        .map_err(db(format!("listing the API keys of `{project}`")))?;
        rows.iter().map(|r| key_info(project, r)).collect()
    }

    /// Revokes (deletes) key `id` of `project`.
    pub async fn revoke_api_key(&self, project: &str, id: &str) -> Result<()> {
        let pid = project_id(&self.pool, project).await?;
        let _turn = self.write_turn().await;
        let done = sqlx::query("DELETE FROM weft_api_keys WHERE project_id = $1 AND id = $2")
            .bind(pid)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db(format!("revoking API key `{id}`")))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!(
                "API key `{id}` of project `{project}`"
            )));
        }
        Ok(())
    }

    /// Whether `key` may call `project`'s flows on `stage`.
    pub async fn check_api_key(&self, project: &str, stage: &str, key: &str) -> Result<KeyCheck> {
        let context = "checking an API key";
        let row = sqlx::query(
            "SELECT k.id, k.name, k.stages, k.created_at, k.last_used_at \
             FROM weft_api_keys k JOIN weft_projects p ON p.id = k.project_id \
             WHERE k.key_hash = $1 AND p.slug = $2",
        )
        .bind(token_hash(key))
        .bind(project)
        .fetch_optional(&self.pool)
        .await
        .map_err(db(context))?;
        let Some(row) = row else {
            return Ok(KeyCheck::Unknown);
        };
        let mut info = key_info(project, &row)?;
        if !info.allows(stage) {
            return Ok(KeyCheck::WrongStage(info));
        }
        info.last_used_at = self
            .touch(UsedTable::ApiKeys, &info.id, info.last_used_at, context)
            .await?;
        Ok(KeyCheck::Allowed(info))
    }
}
