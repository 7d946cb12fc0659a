//! Projects: the top-level namespace (flows, stages, runs and secrets
//! belong to one). A project is named by its slug, which never changes;
//! its display name can.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::error::{db, is_unique_violation};
use super::{Result, Store, StoreError, now_ms, validate_slug};

/// A project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Project {
    /// Lowercase letters, digits and hyphens (see [`validate_slug`]).
    pub slug: String,
    /// The display name (the slug unless given).
    pub name: String,
    pub created_at: i64,
    pub updated_at: i64,
}

fn project(row: &AnyRow) -> Result<Project> {
    let get = || -> Result<Project, sqlx::Error> {
        Ok(Project {
            slug: row.try_get("slug")?,
            name: row.try_get("name")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    };
    get().map_err(db("reading a project"))
}

impl Store {
    /// Creates project `slug` (display name `name`, else the slug).
    /// [`StoreError::Conflict`] if it exists, [`StoreError::Invalid`] for a
    /// bad slug or an empty name.
    pub async fn create_project(&self, slug: &str, name: Option<&str>) -> Result<Project> {
        validate_slug("project slug", slug)?;
        let name = check_name(name.unwrap_or(slug))?;
        let now = now_ms();
        let _turn = self.write_turn().await;
        sqlx::query(
            "INSERT INTO weft_projects (slug, name, created_at, updated_at) \
             VALUES ($1, $2, $3, $3)",
        )
        .bind(slug)
        .bind(name)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::conflict(format!("project `{slug}` already exists"))
            } else {
                db(format!("creating project `{slug}`"))(e)
            }
        })?;
        Ok(Project {
            slug: slug.to_string(),
            name: name.to_string(),
            created_at: now,
            updated_at: now,
        })
    }

    /// Project `slug`, or [`StoreError::NotFound`].
    pub async fn get_project(&self, slug: &str) -> Result<Project> {
        let row = sqlx::query(
            "SELECT slug, name, created_at, updated_at FROM weft_projects WHERE slug = $1",
        )
        .bind(slug)
        .fetch_optional(&self.pool)
        .await
        .map_err(db(format!("reading project `{slug}`")))?
        .ok_or_else(|| StoreError::not_found(format!("project `{slug}`")))?;
        project(&row)
    }

    /// Every project, by slug.
    pub async fn list_projects(&self) -> Result<Vec<Project>> {
        let rows = sqlx::query(
            "SELECT slug, name, created_at, updated_at FROM weft_projects ORDER BY slug",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db("listing projects"))?;
        rows.iter().map(project).collect()
    }

    /// Changes project `slug`'s display name.
    pub async fn rename_project(&self, slug: &str, name: &str) -> Result<Project> {
        let name = check_name(name)?;
        let row = sqlx::query(
            "UPDATE weft_projects SET name = $2, updated_at = $3 WHERE slug = $1 \
             RETURNING slug, name, created_at, updated_at",
        )
        .bind(slug)
        .bind(name)
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await
        .map_err(db(format!("renaming project `{slug}`")))?
        .ok_or_else(|| StoreError::not_found(format!("project `{slug}`")))?;
        project(&row)
    }

    /// Deletes project `slug` and everything it owns (flows, versions,
    /// stages, publications, runs with their events and node records,
    /// secrets), in one transaction.
    pub async fn delete_project(&self, slug: &str) -> Result<()> {
        let context = format!("deleting project `{slug}`");
        let mut tx = self.begin(&context).await?;
        let id = super::project_id(&mut *tx, slug).await?;
        // The schema cascades; the runs' children are deleted explicitly
        // so that a connection without foreign keys enforced cannot leave
        // orphans behind.
        for statement in [
            "DELETE FROM weft_run_events WHERE run_id IN \
             (SELECT id FROM weft_runs WHERE project_id = $1)",
            "DELETE FROM weft_run_nodes WHERE run_id IN \
             (SELECT id FROM weft_runs WHERE project_id = $1)",
            "DELETE FROM weft_runs WHERE project_id = $1",
            "DELETE FROM weft_projects WHERE id = $1",
        ] {
            sqlx::query(statement)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db(&context))?;
        }
        tx.commit().await.map_err(db(&context))
    }
}

/// A display name: not blank, at most 200 characters.
fn check_name(name: &str) -> Result<&str> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(StoreError::invalid(
            "a project name must have 1 to 200 characters",
        ));
    }
    Ok(name)
}
