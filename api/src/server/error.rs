//! [`ApiError`]: every failed request answers
//! `{"error": {"code", "message", "details"}}` with a fitting status.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use weft_editor_protocol::Diagnostic;

use crate::store::StoreError;

/// An error answer.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    /// Machine-readable, snake_case: `not_found`, `invalid_flow`, ...
    pub code: &'static str,
    pub message: String,
    pub details: Option<Value>,
    /// The database could not be reached: the answer carries a
    /// [`DatabaseDown`] extension, which trips the
    /// [`DbGuard`](super::dbguard::DbGuard).
    pub database_down: bool,
}

/// Response extension: this answer is a 503 because the database could
/// not be reached (the message says why).
#[derive(Debug, Clone)]
pub struct DatabaseDown(pub String);

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
            database_down: false,
        }
    }

    pub fn with_details(mut self, details: Value) -> ApiError {
        self.details = Some(details);
        self
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// 422 with every diagnostic of an invalid flow (as `weft validate`
    /// reports them) in `details.diagnostics`.
    pub fn invalid_flow(diagnostics: &[Diagnostic]) -> ApiError {
        let n = diagnostics.len();
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_flow",
            format!("the flow has {n} problem{}", if n == 1 { "" } else { "s" }),
        )
        .with_details(json!({
            "diagnostics": diagnostics,
            "text": diagnostics.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
        }))
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(details) = &self.details {
            error["details"] = details.clone();
        }
        json!({ "error": error })
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.status, self.code, self.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body())).into_response();
        if self.database_down {
            response
                .extensions_mut()
                .insert(DatabaseDown(self.message.clone()));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match &e {
            StoreError::NotFound { .. } => ApiError::not_found(e.to_string()),
            StoreError::Conflict { .. } => {
                ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())
            }
            StoreError::Invalid { .. } => ApiError::bad_request(e.to_string()),
            StoreError::Unavailable { .. } => ApiError {
                database_down: true,
                ..ApiError::unavailable(e.to_string())
            },
            StoreError::SecretKey { .. } => {
                tracing::error!(error = %e, "secret key problem");
                ApiError::internal(e.to_string())
            }
            StoreError::Database { .. } => {
                // Details go to the log, not to the caller.
                tracing::error!(error = %e, "database error");
                ApiError::internal("a database error occurred; the server log has the details")
            }
        }
    }
}

/// A JSON body that did not parse: 400 naming the line and column.
impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(e: axum::extract::rejection::JsonRejection) -> ApiError {
        ApiError::new(e.status(), "bad_request", e.body_text())
    }
}
