//! Cross-origin access to published routes, from each trigger's `cors`.
//!
//! - **Preflight** (`OPTIONS` with `Origin` and
//!   `Access-Control-Request-Method`): answered here, without running
//!   anything and without a key (browsers send none), for the route the
//!   requested method would reach: 204 with the allowed origin, the
//!   route's methods, the trigger's `headers` and `max_age_secs`; 403 when
//!   the route has no `cors`, the origin is not listed or a requested
//!   header is not allowed.
//! - **Requests** with an `Origin` the route allows get
//!   `Access-Control-Allow-Origin` (the origin itself, or `*` for `["*"]`
//!   without credentials), `Access-Control-Expose-Headers` and
//!   `Access-Control-Allow-Credentials` as configured, on every answer of
//!   that route, errors included. Others get no CORS headers, and
//!   browsers keep the answer from the page.
//!
//! Every answer of a route with `cors` says `Vary: Origin`, so caches keep
//! answers for different origins apart.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use weft_editor_protocol::trigger::Cors;
use weft_router::Methods;

use crate::server::error::ApiError;

/// Whether `headers` make a CORS preflight request.
pub fn is_preflight(method: &axum::http::Method, headers: &HeaderMap) -> bool {
    method == axum::http::Method::OPTIONS
        && headers.contains_key(header::ORIGIN)
        && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// The method a preflight asks about.
pub fn requested_method(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::ACCESS_CONTROL_REQUEST_METHOD)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn origin(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::ORIGIN).and_then(|v| v.to_str().ok())
}

/// The `Access-Control-Allow-Origin` value for `origin`, if allowed.
fn allowed_origin<'a>(cors: &Cors, origin: &'a str) -> Option<&'a str> {
    if cors.origins.iter().any(|o| o == "*") {
        return Some(if cors.credentials { origin } else { "*" });
    }
    cors.origins
        .iter()
        .any(|o| o.eq_ignore_ascii_case(origin))
        .then_some(origin)
}

/// The answer to a preflight for a route with `cors` (or none) answering
/// `methods`.
pub fn preflight(cors: Option<&Cors>, methods: Methods, headers: &HeaderMap) -> Response {
    let refuse =
        |why: String| ApiError::new(StatusCode::FORBIDDEN, "cors_refused", why).into_response();
    let Some(cors) = cors else {
        return refuse("this route does not allow cross-origin calls".into());
    };
    let Some(origin) = origin(headers) else {
        return refuse("a preflight without Origin".into());
    };
    let Some(allow) = allowed_origin(cors, origin) else {
        return with_vary(refuse(format!(
            "origin `{}` may not call this route",
            origin.escape_default()
        )));
    };
    let asked: Vec<String> = headers
        .get_all(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect();
    if let Some(bad) = asked
        .iter()
        .find(|h| !cors.headers.iter().any(|a| a.eq_ignore_ascii_case(h)))
    {
        return with_vary(refuse(format!(
            "header `{}` is not allowed on this route",
            bad.escape_default()
        )));
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    let out = response.headers_mut();
    set(out, header::ACCESS_CONTROL_ALLOW_ORIGIN, allow);
    let methods: Vec<&str> = methods.iter().map(|m| m.as_str()).collect();
    set(
        out,
        header::ACCESS_CONTROL_ALLOW_METHODS,
        &methods.join(", "),
    );
    if !cors.headers.is_empty() {
        set(
            out,
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            &cors.headers.join(", "),
        );
    }
    if cors.credentials {
        set(out, header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true");
    }
    if let Some(secs) = cors.max_age_secs {
        set(out, header::ACCESS_CONTROL_MAX_AGE, &secs.to_string());
    }
    with_vary(response)
}

/// Adds the CORS headers of a route with `cors` to its answer to a request
/// from `request`'s origin.
pub fn decorate(cors: &Cors, request: &HeaderMap, mut response: Response) -> Response {
    if let Some(allow) = origin(request).and_then(|o| allowed_origin(cors, o)) {
        let out = response.headers_mut();
        set(out, header::ACCESS_CONTROL_ALLOW_ORIGIN, allow);
        if !cors.expose_headers.is_empty() {
            set(
                out,
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                &cors.expose_headers.join(", "),
            );
        }
        if cors.credentials {
            set(out, header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true");
        }
    }
    with_vary(response)
}

fn with_vary(mut response: Response) -> Response {
    response
        .headers_mut()
        .append(header::VARY, HeaderValue::from_static("origin"));
    response
}

fn set(headers: &mut HeaderMap, name: header::HeaderName, value: &str) {
    // Values come from validated triggers or from the request's own
    // (already valid) Origin header.
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}
