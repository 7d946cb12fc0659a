//! Bearer-token authentication and scope checks.
//!
//! Every management route takes a [`Caller`] extractor: no
//! `Authorization: Bearer <token>` or an unknown token is 401; a token
//! without the scope a route needs is 403. Scopes: `admin` (everything,
//! including projects and tokens), `project:<slug>:write` (read and change
//! one project: flows, publishing, runs, secrets) and `project:<slug>:read`.
//!
//! The admin token comes from `WEFT_ADMIN_TOKEN` (imported on start) or is
//! generated on the first start of an empty database and printed once
//! ([`bootstrap_admin`]).

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;

use super::AppState;
use super::error::ApiError;
use crate::store::{Scope, Store, TokenInfo};

/// What a route needs of a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// The authenticated token of a request.
#[derive(Debug, Clone)]
pub struct Caller(pub TokenInfo);

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.0.is_admin()
    }

    /// 403 unless the token may `access` `project`.
    pub fn check(&self, project: &str, access: Access) -> Result<(), ApiError> {
        let ok = self.0.scopes.iter().any(|s| match s {
            Scope::Admin => true,
            Scope::ProjectWrite(p) => p == project,
            Scope::ProjectRead(p) => p == project && access == Access::Read,
        });
        if ok {
            return Ok(());
        }
        let need = match access {
            Access::Read => format!("`project:{project}:read`"),
            Access::Write => format!("`project:{project}:write`"),
        };
        Err(ApiError::forbidden(format!(
            "token `{}` may not do this: it needs {need} or `admin`",
            self.0.name
        )))
    }

    /// 403 unless the token is an admin token.
    pub fn admin(&self) -> Result<(), ApiError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "token `{}` may not do this: it needs `admin`",
                self.0.name
            )))
        }
    }
}

/// The token of `Authorization: Bearer <token>`, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Checks a token against the store.
pub async fn verify(app: &AppState, token: &str) -> Result<Caller, ApiError> {
    match app.store.verify_token(token).await? {
        Some(info) => Ok(Caller(info)),
        None => Err(ApiError::unauthorized(
            "the token is not valid (unknown or revoked)",
        )),
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Caller, ApiError> {
        let Some(token) = bearer(&parts.headers) else {
            return Err(ApiError::unauthorized(
                "this route needs `Authorization: Bearer <token>`",
            ));
        };
        verify(app, token).await
    }
}

/// How the admin token was set up on this start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminToken {
    /// Imported from `WEFT_ADMIN_TOKEN`.
    FromEnv,
    /// Generated now (the database had no token): print it once.
    Generated(String),
    /// Tokens exist already.
    Existing,
}

/// Makes sure an admin token exists: `WEFT_ADMIN_TOKEN` (imported if not
/// yet known), or a new one when the database has no token at all.
pub async fn bootstrap_admin(
    store: &Store,
    from_env: Option<&str>,
) -> Result<AdminToken, ApiError> {
    if let Some(token) = from_env.filter(|t| !t.is_empty()) {
        if store.verify_token(token).await?.is_none() {
            store
                .import_token("admin (WEFT_ADMIN_TOKEN)", token, &[Scope::Admin])
                .await?;
        }
        return Ok(AdminToken::FromEnv);
    }
    if store.list_tokens().await?.is_empty() {
        let (_, token) = store.create_token("admin", &[Scope::Admin]).await?;
        return Ok(AdminToken::Generated(token));
    }
    Ok(AdminToken::Existing)
}
