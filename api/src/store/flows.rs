//! Flows and their immutable versions.
//!
//! A flow is created by its first saved version. Each version has a number
//! (1, 2, 3, ... per flow), an id `v<number>-<first 8 hex digits of its
//! hash>` (e.g. `v3-1a2b3c4d`), the flow document as it was sent, and a
//! content hash: the SHA-256 of the document's canonical JSON
//! ([`canonical_json`]: object keys sorted, no whitespace), so key order
//! and formatting never make a new version.
//!
//! Saving a document whose hash equals the flow's **latest** version
//! returns that version (`created = false`); any other content makes a new
//! version, even one equal to an older version (reverting to it makes it
//! the latest again, as a new number). Versions are never changed or
//! deleted, except with their project.

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

use super::error::db;
use super::{Result, Store, StoreError, json_text, now_ms, parse_json, project_id};

/// A stored version with its document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlowVersion {
    pub project: String,
    pub flow: String,
    /// `v<number>-<hash prefix>`.
    pub id: String,
    /// 1, 2, 3, ... within the flow.
    pub number: i64,
    /// Hex SHA-256 of the canonical JSON of `document`.
    pub hash: String,
    pub document: Value,
    pub created_at: i64,
}

/// A version without its document (listings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionSummary {
    pub id: String,
    pub number: i64,
    pub hash: String,
    pub created_at: i64,
}

impl FlowVersion {
    /// The version without its document.
    pub fn summary(&self) -> VersionSummary {
        VersionSummary {
            id: self.id.clone(),
            number: self.number,
            hash: self.hash.clone(),
            created_at: self.created_at,
        }
    }
}

/// A flow of a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowInfo {
    pub name: String,
    pub created_at: i64,
    /// When the latest version was saved.
    pub updated_at: i64,
    pub latest: Option<VersionSummary>,
}

/// The canonical JSON text of `value`: compact, object keys sorted by
/// their UTF-8 bytes, strings and numbers as serde_json writes them.
pub fn canonical_json(value: &Value) -> String {
    fn write(out: &mut String, value: &Value) {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                out.push('{');
                for (i, (key, value)) in entries.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(key.clone()).to_string());
                    out.push(':');
                    write(out, value);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(out, item);
                }
                out.push(']');
            }
            scalar => {
                let _ = write!(out, "{scalar}");
            }
        }
    }
    let mut out = String::new();
    write(&mut out, value);
    out
}

/// Hex SHA-256 of [`canonical_json`].
pub fn content_hash(value: &Value) -> String {
    hex::encode(Sha256::digest(canonical_json(value).as_bytes()))
}

/// Checks a flow name: 1 to 100 ASCII letters, digits, `-`, `_` and `.`,
/// starting with a letter, digit or `_`.
pub fn validate_flow_name(name: &str) -> Result<()> {
    let ok = (1..=100).contains(&name.len())
        && !name.starts_with(['-', '.'])
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::invalid(format!(
            "invalid flow name `{name}`: use 1 to 100 letters, digits, `-`, `_` and `.`, \
             starting with a letter, a digit or `_`"
        )))
    }
}

pub(crate) fn summary(row: &AnyRow) -> Result<VersionSummary> {
    let get = || -> Result<VersionSummary, sqlx::Error> {
        Ok(VersionSummary {
            id: row.try_get("version_id")?,
            number: row.try_get("number")?,
            hash: row.try_get("hash")?,
            created_at: row.try_get("created_at")?,
        })
    };
    get().map_err(db("reading a version"))
}

fn full(project: &str, flow: &str, row: &AnyRow) -> Result<FlowVersion> {
    let s = summary(row)?;
    let text: String = row.try_get("document").map_err(db("reading a version"))?;
    Ok(FlowVersion {
        project: project.to_string(),
        flow: flow.to_string(),
        document: parse_json("reading a version", &text)?,
        id: s.id,
        number: s.number,
        hash: s.hash,
        created_at: s.created_at,
    })
}

/// The primary key of flow `flow` of project `project_id`, or NotFound.
pub(crate) async fn flow_pk<'e, E>(executor: E, project_id: i64, flow: &str) -> Result<i64>
where
    E: Executor<'e, Database = Any>,
{
    sqlx::query_scalar("SELECT id FROM weft_flows WHERE project_id = $1 AND name = $2")
        .bind(project_id)
        .bind(flow)
        .fetch_optional(executor)
        .await
        .map_err(db(format!("looking up flow `{flow}`")))?
        .ok_or_else(|| StoreError::not_found(format!("flow `{flow}`")))
}

/// How [`Store::get_version`] names a version.
pub(crate) enum Selector<'a> {
    Latest,
    Number(i64),
    Id(&'a str),
}

impl<'a> Selector<'a> {
    pub(crate) fn parse(text: &'a str) -> Selector<'a> {
        if text == "latest" {
            Selector::Latest
        } else if let Ok(n) = text.parse::<i64>() {
            Selector::Number(n)
        } else {
            Selector::Id(text)
        }
    }
}

/// The version of flow `flow_pk` that `selector` names, with its primary
/// key and document (NotFound when none).
pub(crate) async fn find_version<'e, E>(
    executor: E,
    flow_pk: i64,
    flow: &str,
    selector: &str,
) -> Result<AnyRow>
where
    E: Executor<'e, Database = Any>,
{
    let query = match Selector::parse(selector) {
        Selector::Latest => sqlx::query(
            "SELECT v.id AS pk, v.version_id, v.number, v.hash, v.created_at, v.document \
             FROM weft_flow_versions v JOIN weft_flows f ON f.id = v.flow_id \
             WHERE f.id = $1 AND v.number = f.latest_number",
        )
        .bind(flow_pk),
        Selector::Number(n) => sqlx::query(
            "SELECT id AS pk, version_id, number, hash, created_at, document \
             FROM weft_flow_versions WHERE flow_id = $1 AND number = $2",
        )
        .bind(flow_pk)
        .bind(n),
        Selector::Id(id) => sqlx::query(
            "SELECT id AS pk, version_id, number, hash, created_at, document \
             FROM weft_flow_versions WHERE flow_id = $1 AND version_id = $2",
        )
        .bind(flow_pk)
        .bind(id),
    };
    query
        .fetch_optional(executor)
        .await
        .map_err(db(format!("reading version `{selector}` of flow `{flow}`")))?
        .ok_or_else(|| StoreError::not_found(format!("version `{selector}` of flow `{flow}`")))
}

impl Store {
    /// Stores `document` as the next version of `flow` in `project`
    /// (creating the flow), unless it equals the latest version, which is
    /// returned instead with `created = false`. The caller validates the
    /// document first.
    pub async fn save_version(
        &self,
        project: &str,
        flow: &str,
        document: &Value,
    ) -> Result<(FlowVersion, bool)> {
        validate_flow_name(flow)?;
        let hash = content_hash(document);
        let context = format!("saving a version of flow `{flow}`");
        let mut tx = self.begin(&context).await?;
        let pid = project_id(&mut *tx, project).await?;
        let now = now_ms();
        sqlx::query(
            "INSERT INTO weft_flows (project_id, name, latest_number, created_at, updated_at) \
             VALUES ($1, $2, 0, $3, $3) ON CONFLICT (project_id, name) DO NOTHING",
        )
        .bind(pid)
        .bind(flow)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db(&context))?;
        // A no-op update: on PostgreSQL it locks the flow's row until
        // commit, so concurrent saves of one flow take turns.
        let (flow_pk, latest): (i64, i64) = sqlx::query_as(
            "UPDATE weft_flows SET latest_number = latest_number \
             WHERE project_id = $1 AND name = $2 RETURNING id, latest_number",
        )
        .bind(pid)
        .bind(flow)
        .fetch_one(&mut *tx)
        .await
        .map_err(db(&context))?;
        if latest > 0 {
            let row = find_version(&mut *tx, flow_pk, flow, "latest").await?;
            let existing = full(project, flow, &row)?;
            if existing.hash == hash {
                tx.rollback().await.map_err(db(&context))?;
                return Ok((existing, false));
            }
        }
        let number = latest + 1;
        let version = FlowVersion {
            project: project.to_string(),
            flow: flow.to_string(),
            id: format!("v{number}-{}", &hash[..8]),
            number,
            hash,
            document: document.clone(),
            created_at: now,
        };
        sqlx::query(
            "INSERT INTO weft_flow_versions \
             (flow_id, number, version_id, hash, document, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(flow_pk)
        .bind(number)
        .bind(&version.id)
        .bind(&version.hash)
        .bind(json_text(document))
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db(&context))?;
        sqlx::query("UPDATE weft_flows SET latest_number = $2, updated_at = $3 WHERE id = $1")
            .bind(flow_pk)
            .bind(number)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db(&context))?;
        tx.commit().await.map_err(db(&context))?;
        Ok((version, true))
    }

    /// The flows of `project`, by name, each with its latest version.
    pub async fn list_flows(&self, project: &str) -> Result<Vec<FlowInfo>> {
        let context = format!("listing the flows of project `{project}`");
        let pid = project_id(&self.pool, project).await?;
        let rows = sqlx::query(
            "SELECT f.name, f.created_at AS flow_created, f.updated_at, \
             v.version_id, v.number, v.hash, v.created_at \
             FROM weft_flows f LEFT JOIN weft_flow_versions v \
             ON v.flow_id = f.id AND v.number = f.latest_number \
             WHERE f.project_id = $1 ORDER BY f.name",
        )
        .bind(pid)
        .fetch_all(&self.pool)
        .await
        .map_err(db(&context))?;
        rows.iter()
            .map(|row| {
                let version_id: Option<String> = row.try_get("version_id").map_err(db(&context))?;
                Ok(FlowInfo {
                    name: row.try_get("name").map_err(db(&context))?,
                    created_at: row.try_get("flow_created").map_err(db(&context))?,
                    updated_at: row.try_get("updated_at").map_err(db(&context))?,
                    latest: match version_id {
                        Some(_) => Some(summary(row)?),
                        None => None,
                    },
                })
            })
            .collect()
    }

    /// The versions of `flow`, newest first.
    pub async fn list_versions(&self, project: &str, flow: &str) -> Result<Vec<VersionSummary>> {
        let pid = project_id(&self.pool, project).await?;
        let fid = flow_pk(&self.pool, pid, flow).await?;
        let rows = sqlx::query(
            "SELECT version_id, number, hash, created_at FROM weft_flow_versions \
             WHERE flow_id = $1 ORDER BY number DESC",
        )
        .bind(fid)
        .fetch_all(&self.pool)
        .await
        .map_err(db(format!("listing the versions of flow `{flow}`")))?;
        rows.iter().map(summary).collect()
    }

    /// A version of `flow`: `selector` is its number (`"3"`), its id
    /// (`"v3-1a2b3c4d"`) or `"latest"`.
    pub async fn get_version(
        &self,
        project: &str,
        flow: &str,
        selector: &str,
    ) -> Result<FlowVersion> {
        let pid = project_id(&self.pool, project).await?;
        let fid = flow_pk(&self.pool, pid, flow).await?;
        let row = find_version(&self.pool, fid, flow, selector).await?;
        full(project, flow, &row)
    }

    /// The latest version of `flow` (NotFound when the flow does not exist).
    pub async fn latest_version(&self, project: &str, flow: &str) -> Result<FlowVersion> {
        self.get_version(project, flow, "latest").await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let a = json!({"b": 1, "a": {"d": [1, {"y": 2, "x": "é\n"}], "c": null}});
        let b: Value = serde_json::from_str(r#"{"a":{"c":null,"d":[1,{"x":"é\n","y":2}]},"b":1}"#)
            .unwrap_or_default();
        assert_eq!(
            canonical_json(&a),
            r#"{"a":{"c":null,"d":[1,{"x":"é\n","y":2}]},"b":1}"#
        );
        assert_eq!(content_hash(&a), content_hash(&b));
        assert_ne!(content_hash(&a), content_hash(&json!({"b": 2})));
    }

    #[test]
    fn flow_names() {
        for ok in ["hello", "rag-ask", "My_Flow.v2", "_x"] {
            assert!(validate_flow_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", ".a", "a b", "a/b", &"a".repeat(101)] {
            assert!(validate_flow_name(bad).is_err(), "{bad}");
        }
    }
}
