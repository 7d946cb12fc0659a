//! Failing fast while the database is away.
//!
//! Without this, every request during an outage waits the pool's acquire
//! timeout (5 s) before its 503. The first answer that found the database
//! unreachable (an [`ApiError`] from [`StoreError::Unavailable`], marked
//! with the [`DatabaseDown`] response extension) trips the guard; while it
//! is tripped, requests that need the database get their 503 at once,
//! naming the last failure, and a probe task checks the database on a
//! connection of its own every [`PROBE_EVERY`]. The first probe that gets
//! an answer resets the guard.
//!
//! A pool that is merely exhausted (a load spike, not an outage) trips it
//! too, but the probe then answers at once, so it costs one probe interval.
//! Routes that do not touch the database (`/healthz`, `/metrics`,
//! `/v1/openapi.json`) are never refused.
//!
//! [`StoreError::Unavailable`]: crate::store::StoreError::Unavailable

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::{ApiError, DatabaseDown};
use crate::store::Store;

/// How often a tripped guard checks the database.
pub const PROBE_EVERY: Duration = Duration::from_millis(200);
/// How long one probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether the database is known to be away (see the module docs).
#[derive(Debug, Default)]
pub struct DbGuard {
    down: AtomicBool,
    /// When it went away and the last failure's message.
    since: Mutex<Option<(Instant, String)>>,
}

impl DbGuard {
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    /// The 503 for a request refused while the database is away.
    fn refusal(&self) -> ApiError {
        let (ago, last) = match self.since.lock().ok().and_then(|s| s.clone()) {
            Some((at, message)) => (at.elapsed(), message),
            None => (Duration::ZERO, String::new()),
        };
        let last = last
            .strip_prefix("the database is unavailable: ")
            .unwrap_or(&last);
        let mut error = ApiError::unavailable(format!(
            "the database is unavailable (for {:.1} s, checked every {} ms); last error: {last}",
            ago.as_secs_f64(),
            PROBE_EVERY.as_millis()
        ));
        error.database_down = true;
        error
    }

    /// Marks the database away (once) and starts probing it.
    fn trip(self: &std::sync::Arc<Self>, store: &Store, message: String) {
        if self.down.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Ok(mut since) = self.since.lock() {
            *since = Some((Instant::now(), message));
        }
        tracing::warn!("the database is unavailable: answering 503 until it is back");
        let (guard, store) = (self.clone(), store.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(PROBE_EVERY).await;
                match store.probe(PROBE_TIMEOUT).await {
                    Ok(()) => break,
                    Err(e) => {
                        if let Ok(mut since) = guard.since.lock()
                            && let Some((_, last)) = since.as_mut()
                        {
                            *last = e.to_string();
                        }
                    }
                }
            }
            let away = guard
                .since
                .lock()
                .ok()
                .and_then(|mut s| s.take())
                .map(|(at, _)| at.elapsed());
            guard.down.store(false, Ordering::Release);
            tracing::info!(?away, "the database is back");
        });
    }
}

/// Routes answered without the database.
fn needs_database(path: &str) -> bool {
    !matches!(path, "/healthz" | "/metrics" | "/v1/openapi.json")
}

/// The middleware: refuse at once while tripped; trip on a
/// [`DatabaseDown`] answer.
pub async fn guard(State(app): State<AppState>, request: Request, next: Next) -> Response {
    if !needs_database(request.uri().path()) {
        return next.run(request).await;
    }
    if app.db_guard.is_down() {
        return app.db_guard.refusal().into_response();
    }
    let response = next.run(request).await;
    if let Some(DatabaseDown(message)) = response.extensions().get::<DatabaseDown>() {
        app.db_guard.trip(&app.store, message.clone());
    }
    response
}
