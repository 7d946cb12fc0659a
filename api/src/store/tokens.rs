//! API tokens.
//!
//! A token is `wft_` followed by 32 random bytes in base64url (no
//! padding), shown once by [`Store::create_token`]; the store keeps only
//! its SHA-256 (hex), so a database dump reveals no usable token. Tokens
//! given from outside (e.g. `WEFT_ADMIN_TOKEN`) are registered with
//! [`Store::import_token`] and hashed the same way. Revoking deletes.
//!
//! Scopes ([`Scope`]), written as strings:
//! - `admin`: everything;
//! - `project:<slug>:read`: read project `<slug>` (flows, versions, runs,
//!   stages, secret names);
//! - `project:<slug>:write`: read and change it, run its flows.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::error::db;
use super::{Result, Store, StoreError, now_ms, validate_slug};

/// What a token may do.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Scope {
    Admin,
    ProjectRead(String),
    ProjectWrite(String),
}

impl Scope {
    /// Parses `admin`, `project:<slug>:read` or `project:<slug>:write`.
    pub fn parse(text: &str) -> Result<Scope> {
        if text == "admin" {
            return Ok(Scope::Admin);
        }
        let bad = || {
            StoreError::invalid(format!(
                "invalid scope `{text}`: use `admin`, `project:<slug>:read` or \
                 `project:<slug>:write`"
            ))
        };
        let rest = text.strip_prefix("project:").ok_or_else(bad)?;
        let (slug, access) = rest.rsplit_once(':').ok_or_else(bad)?;
        validate_slug("project slug", slug).map_err(|_| bad())?;
        match access {
            "read" => Ok(Scope::ProjectRead(slug.to_string())),
            "write" => Ok(Scope::ProjectWrite(slug.to_string())),
            _ => Err(bad()),
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::Admin => f.write_str("admin"),
            Scope::ProjectRead(slug) => write!(f, "project:{slug}:read"),
            Scope::ProjectWrite(slug) => write!(f, "project:{slug}:write"),
        }
    }
}

impl TryFrom<String> for Scope {
    type Error = StoreError;
    fn try_from(text: String) -> Result<Scope> {
        Scope::parse(&text)
    }
}

impl From<Scope> for String {
    fn from(scope: Scope) -> String {
        scope.to_string()
    }
}

/// A token, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    /// `tok_` + 16 hex digits; names the token for listing and revoking.
    pub id: String,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub created_at: i64,
    /// Updated by [`Store::verify_token`], at most once a minute.
    pub last_used_at: Option<i64>,
}

impl TokenInfo {
    pub fn is_admin(&self) -> bool {
        self.scopes.contains(&Scope::Admin)
    }

    /// May read project `slug`.
    pub fn can_read(&self, slug: &str) -> bool {
        self.scopes.iter().any(|s| match s {
            Scope::Admin => true,
            Scope::ProjectRead(p) | Scope::ProjectWrite(p) => p == slug,
        })
    }

    /// May change project `slug` and run its flows.
    pub fn can_write(&self, slug: &str) -> bool {
        self.scopes.iter().any(|s| match s {
            Scope::Admin => true,
            Scope::ProjectWrite(p) => p == slug,
            Scope::ProjectRead(_) => false,
        })
    }
}

/// Hex SHA-256 of a token, as stored.
/// A table whose rows record when they were last used.
#[derive(Debug, Clone, Copy)]
pub(crate) enum UsedTable {
    Tokens,
    ApiKeys,
}

impl Store {
    /// Records a use of row `id` now, at most once a minute (a busy token
    /// must not mean a write per request); the `last_used_at` to report.
    pub(crate) async fn touch(
        &self,
        table: UsedTable,
        id: &str,
        last_used_at: Option<i64>,
        context: &str,
    ) -> Result<Option<i64>> {
        let now = now_ms();
        if last_used_at.is_some_and(|t| now - t < 60_000) {
            return Ok(last_used_at);
        }
        let sql = match table {
            UsedTable::Tokens => "UPDATE weft_api_tokens SET last_used_at = $2 WHERE id = $1",
            UsedTable::ApiKeys => "UPDATE weft_api_keys SET last_used_at = $2 WHERE id = $1",
        };
        let _turn = self.write_turn().await;
        sqlx::query(sql)
            .bind(id)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(db(context))?;
        Ok(Some(now))
    }
}

pub(crate) fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| StoreError::Database {
        context: "generating a token".into(),
        message: format!("no randomness: {e}"),
    })?;
    Ok(bytes)
}

fn token_info(row: &AnyRow) -> Result<TokenInfo> {
    let context = "reading a token";
    let get = || -> Result<_, sqlx::Error> {
        Ok((
            row.try_get::<String, _>("id")?,
            row.try_get::<String, _>("name")?,
            row.try_get::<String, _>("scopes")?,
            row.try_get::<i64, _>("created_at")?,
            row.try_get::<Option<i64>, _>("last_used_at")?,
        ))
    };
    let (id, name, scopes, created_at, last_used_at) = get().map_err(db(context))?;
    let scopes: Vec<Scope> =
        serde_json::from_str(&scopes).map_err(|e| StoreError::corrupt(context, e))?;
    Ok(TokenInfo {
        id,
        name,
        scopes,
        created_at,
        last_used_at,
    })
}

fn check(name: &str, scopes: &[Scope]) -> Result<String> {
    if name.trim().is_empty() || name.chars().count() > 200 {
        return Err(StoreError::invalid(
            "a token name must have 1 to 200 characters",
        ));
    }
    if scopes.is_empty() {
        return Err(StoreError::invalid("a token needs at least one scope"));
    }
    serde_json::to_string(scopes)
        .map_err(|e| StoreError::invalid(format!("scopes do not serialize: {e}")))
}

impl Store {
    /// Creates a token; returns it with its plaintext, which is not stored
    /// and cannot be shown again.
    pub async fn create_token(&self, name: &str, scopes: &[Scope]) -> Result<(TokenInfo, String)> {
        let token = format!(
            "wft_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>()?)
        );
        let info = self.import_token(name, &token, scopes).await?;
        Ok((info, token))
    }

    /// Registers `token`, a plaintext chosen elsewhere (at least 16
    /// characters), e.g. `WEFT_ADMIN_TOKEN`. Registering a token already
    /// known returns the stored one unchanged.
    pub async fn import_token(
        &self,
        name: &str,
        token: &str,
        scopes: &[Scope],
    ) -> Result<TokenInfo> {
        let scopes_json = check(name, scopes)?;
        if token.chars().count() < 16 {
            return Err(StoreError::invalid(
                "a token must have at least 16 characters",
            ));
        }
        let hash = token_hash(token);
        let id = format!("tok_{}", hex::encode(random_bytes::<8>()?));
        let now = now_ms();
        let context = format!("storing token `{name}`");
        let _turn = self.write_turn().await;
        sqlx::query(
            "INSERT INTO weft_api_tokens (id, name, token_hash, scopes, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (token_hash) DO NOTHING",
        )
        .bind(&id)
        .bind(name.trim())
        .bind(&hash)
        .bind(scopes_json)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(db(&context))?;
        let row = sqlx::query(
            "SELECT id, name, scopes, created_at, last_used_at FROM weft_api_tokens \
             WHERE token_hash = $1",
        )
        .bind(&hash)
        .fetch_one(&self.pool)
        .await
        .map_err(db(&context))?;
        token_info(&row)
    }

    /// The token `token` is, if it is a valid (not revoked) one.
    pub async fn verify_token(&self, token: &str) -> Result<Option<TokenInfo>> {
        let context = "verifying a token";
        let row = sqlx::query(
            "SELECT id, name, scopes, created_at, last_used_at FROM weft_api_tokens \
             WHERE token_hash = $1",
        )
        .bind(token_hash(token))
        .fetch_optional(&self.pool)
        .await
        .map_err(db(context))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let mut info = token_info(&row)?;
        info.last_used_at = self
            .touch(UsedTable::Tokens, &info.id, info.last_used_at, context)
            .await?;
        Ok(Some(info))
    }

    /// Every token (without secrets), oldest first.
    pub async fn list_tokens(&self) -> Result<Vec<TokenInfo>> {
        let rows = sqlx::query(
            "SELECT id, name, scopes, created_at, last_used_at FROM weft_api_tokens \
             ORDER BY created_at, id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db("listing tokens"))?;
        rows.iter().map(token_info).collect()
    }

    /// Revokes (deletes) token `id`.
    pub async fn revoke_token(&self, id: &str) -> Result<()> {
        let _turn = self.write_turn().await;
        let done = sqlx::query("DELETE FROM weft_api_tokens WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db(format!("revoking token `{id}`")))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("token `{id}`")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_round_trip() {
        for text in ["admin", "project:acme:read", "project:acme-2:write"] {
            let scope = Scope::parse(text);
            assert_eq!(scope.map(|s| s.to_string()).ok().as_deref(), Some(text));
        }
        for bad in [
            "",
            "root",
            "project:acme",
            "project:Acme:read",
            "project:a:delete",
        ] {
            assert!(Scope::parse(bad).is_err(), "{bad}");
        }
        let info = TokenInfo {
            id: "tok_1".into(),
            name: "t".into(),
            scopes: vec![
                Scope::ProjectRead("a".into()),
                Scope::ProjectWrite("b".into()),
            ],
            created_at: 0,
            last_used_at: None,
        };
        assert!(info.can_read("a") && !info.can_write("a"));
        assert!(info.can_read("b") && info.can_write("b"));
        assert!(!info.can_read("c") && !info.is_admin());
    }
}
