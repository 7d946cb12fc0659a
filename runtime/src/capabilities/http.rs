//! Outbound HTTP for nodes, limited to the targets a flow allows.
//!
//! A flow lists allowed targets as `scheme://host[:port]` patterns
//! (`capabilities.http`): `https://api.example.com`,
//! `https://*.example.com` (one or more labels), `http://localhost:*` (any
//! port), `*://example.com`. No port means the scheme's default.
//!
//! Loopback, private, link-local (cloud metadata), CGNAT and unique-local
//! addresses are refused unless a pattern names them explicitly: an IP
//! literal in those ranges, or `localhost`. The check runs on the
//! **resolved** addresses of every connection (so a public name that
//! resolves to 127.0.0.1 is refused: no DNS-rebinding bypass), on IP
//! literals in URLs, and on every redirect (each of which must also match
//! the allow list). Responses are capped in size, requests in time, and
//! redirects in number.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Host-wide limits for outbound HTTP.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Largest response body accepted, in bytes (10 MiB).
    pub max_response_bytes: u64,
    /// Deadline when the node asks for none, and the most it may ask for.
    pub default_timeout: Duration,
    pub max_timeout: Duration,
    /// Redirects followed at most (5).
    pub max_redirects: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            max_response_bytes: 10 * 1024 * 1024,
            default_timeout: Duration::from_secs(30),
            max_timeout: Duration::from_secs(300),
            max_redirects: 5,
        }
    }
}

/// Why a request was not made or did not complete.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HttpError {
    #[error("{0}")]
    Denied(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Timeout(String),
    #[error("{0}")]
    Failed(String),
}

/// One allowed target.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    /// `None` for `*`.
    scheme: Option<String>,
    host: HostPattern,
    /// `None` for `*`.
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    /// `*.example.com`: `suffix` is `.example.com`.
    Suffix(String),
    Exact(String),
    Ip(IpAddr),
}

impl Pattern {
    fn parse(text: &str) -> Result<Pattern, String> {
        let bad = |why: &str| format!("`{text}` is not an allowed-target pattern: {why}");
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| bad("expected `scheme://host[:port]`"))?;
        let scheme = match scheme {
            "*" => None,
            "http" | "https" => Some(scheme.to_string()),
            _ => return Err(bad("the scheme must be http, https or *")),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('/') || rest.contains('?') || rest.contains('@') {
            return Err(bad(
                "no path, query or credentials; only scheme://host[:port]",
            ));
        }
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (addr, after) = v6.split_once(']').ok_or_else(|| bad("unclosed `[`"))?;
            (format!("[{addr}]"), after.strip_prefix(':'))
        } else {
            match rest.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (rest.to_string(), None),
            }
        };
        let port = match port {
            None => match scheme.as_deref() {
                Some("http") => Some(80),
                Some("https") => Some(443),
                _ => None,
            },
            Some("*") => None,
            Some(p) => Some(
                p.parse()
                    .map_err(|_| bad("the port must be a number or *"))?,
            ),
        };
        let host = host.to_ascii_lowercase();
        let host = if host == "*" {
            HostPattern::Any
        } else if let Some(suffix) = host.strip_prefix("*.") {
            HostPattern::Suffix(format!(".{suffix}"))
        } else if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse() {
            HostPattern::Ip(ip)
        } else if host.is_empty() || host.contains('*') {
            return Err(bad(
                "`*` may only stand for the whole host or its leading labels",
            ));
        } else {
            HostPattern::Exact(host)
        };
        Ok(Pattern { scheme, host, port })
    }

    fn matches(&self, url: &Url) -> bool {
        let scheme_ok = self.scheme.as_deref().is_none_or(|s| s == url.scheme());
        let port_ok = self
            .port
            .is_none_or(|p| Some(p) == url.port_or_known_default());
        let host_ok = match (&self.host, url.host()) {
            (HostPattern::Any, Some(_)) => true,
            (HostPattern::Suffix(s), Some(url::Host::Domain(d))) => d.ends_with(s.as_str()),
            (HostPattern::Exact(e), Some(url::Host::Domain(d))) => d.eq_ignore_ascii_case(e),
            (HostPattern::Ip(ip), Some(url::Host::Ipv4(a))) => *ip == IpAddr::V4(a),
            (HostPattern::Ip(ip), Some(url::Host::Ipv6(a))) => *ip == IpAddr::V6(a),
            _ => false,
        };
        scheme_ok && port_ok && host_ok
    }

    /// Whether this pattern names an internal address explicitly.
    fn allows_internal(&self, host: &str) -> bool {
        match &self.host {
            HostPattern::Ip(ip) => is_internal(*ip),
            HostPattern::Exact(e) => e == "localhost" && host.eq_ignore_ascii_case("localhost"),
            _ => false,
        }
    }
}

/// Loopback, private, link-local (incl. cloud metadata), CGNAT,
/// unspecified, unique-local and the like: never reachable by default.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1]))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
        }
    }
}

/// A flow's allow list.
#[derive(Debug, Clone)]
pub struct AllowList {
    patterns: Vec<Pattern>,
}

impl AllowList {
    /// Parses every pattern; the error names the bad one.
    pub fn parse(patterns: &[String]) -> Result<AllowList, String> {
        Ok(AllowList {
            patterns: patterns
                .iter()
                .map(|p| Pattern::parse(p))
                .collect::<Result<_, _>>()?,
        })
    }

    /// Checks a URL before any connection: scheme, host and port must
    /// match a pattern, and an IP literal must not be internal unless a
    /// matching pattern names it.
    pub fn check_url(&self, url: &Url) -> Result<(), HttpError> {
        let matching: Vec<&Pattern> = self.patterns.iter().filter(|p| p.matches(url)).collect();
        if matching.is_empty() {
            return Err(HttpError::Denied(format!(
                "{} is not in the flow's allowed HTTP targets (capabilities.http)",
                origin(url)
            )));
        }
        let literal = match url.host() {
            Some(url::Host::Ipv4(a)) => Some(IpAddr::V4(a)),
            Some(url::Host::Ipv6(a)) => Some(IpAddr::V6(a)),
            _ => None,
        };
        if let Some(ip) = literal
            && is_internal(ip)
            && !matching.iter().any(|p| p.allows_internal(&ip.to_string()))
        {
            return Err(internal_refused(&ip.to_string(), ip));
        }
        Ok(())
    }

    /// Whether a host name may resolve to internal addresses.
    fn host_allows_internal(&self, host: &str) -> bool {
        self.patterns.iter().any(|p| p.allows_internal(host))
    }
}

fn origin(url: &Url) -> String {
    match url.port() {
        Some(p) => format!("{}://{}:{p}", url.scheme(), url.host_str().unwrap_or("")),
        None => format!("{}://{}", url.scheme(), url.host_str().unwrap_or("")),
    }
}

fn internal_refused(host: &str, ip: IpAddr) -> HttpError {
    HttpError::Denied(format!(
        "refusing to connect to {host}: {ip} is a loopback, private or link-local address \
         (allow it explicitly in capabilities.http, e.g. `http://{ip}:PORT`)"
    ))
}

/// Resolves names and drops internal addresses unless allowed, so every
/// connection (first request and each redirect) is checked on the address
/// it actually uses.
struct GuardedResolver {
    allow: Arc<AllowList>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self.allow.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> {
                    format!("cannot resolve {host}: {e}").into()
                })?
                .collect();
            if allow.host_allows_internal(&host) {
                return Ok(Box::new(addrs.into_iter()) as Addrs);
            }
            let public: Vec<SocketAddr> = addrs
                .iter()
                .copied()
                .filter(|a| !is_internal(a.ip()))
                .collect();
            if public.is_empty() {
                let ip = addrs
                    .first()
                    .map(|a| a.ip())
                    .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
                return Err(internal_refused(&host, ip).to_string().into());
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

/// A client and the allow list its resolver and redirect policy enforce.
type GuardedClient = (Arc<AllowList>, reqwest::Client);

/// One client per distinct allow list, shared by every run that uses it.
#[derive(Debug, Default)]
pub struct HttpClients {
    settings: HttpSettings,
    clients: Mutex<HashMap<Vec<String>, GuardedClient>>,
}

/// A request as the node sends it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub timeout: Option<Duration>,
}

/// The response the node gets.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpClients {
    pub fn new(settings: HttpSettings) -> HttpClients {
        HttpClients {
            settings,
            clients: Mutex::new(HashMap::new()),
        }
    }

    fn client(&self, grants: &[String]) -> Result<GuardedClient, HttpError> {
        let mut clients = self
            .clients
            .lock()
            .map_err(|_| HttpError::Failed("HTTP client cache poisoned".into()))?;
        if let Some(c) = clients.get(grants) {
            return Ok(c.clone());
        }
        let allow = Arc::new(AllowList::parse(grants).map_err(HttpError::Invalid)?);
        let redirect_allow = allow.clone();
        let max_redirects = self.settings.max_redirects;
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver {
                allow: allow.clone(),
            }))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() > max_redirects {
                    return attempt.error(format!("more than {max_redirects} redirects"));
                }
                match redirect_allow.check_url(attempt.url()) {
                    Ok(()) => attempt.follow(),
                    Err(e) => attempt.error(format!("redirect refused: {e}")),
                }
            }))
            .no_proxy()
            .user_agent(concat!("weft/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| HttpError::Failed(format!("cannot build the HTTP client: {e}")))?;
        clients.insert(grants.to_vec(), (allow.clone(), client.clone()));
        Ok((allow, client))
    }

    /// Sends a request on behalf of a flow whose `capabilities.http` is
    /// `grants`.
    pub async fn send(&self, grants: &[String], req: Request) -> Result<Response, HttpError> {
        if grants.is_empty() {
            return Err(HttpError::Denied(
                "the flow does not grant outbound HTTP (capabilities.http is empty)".into(),
            ));
        }
        let url = Url::parse(&req.url)
            .map_err(|e| HttpError::Invalid(format!("invalid URL `{}`: {e}", req.url)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(HttpError::Invalid(format!(
                "unsupported URL scheme `{}` (http or https)",
                url.scheme()
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(HttpError::Invalid(
                "credentials in URLs are not allowed; send an Authorization header".into(),
            ));
        }
        let (allow, client) = self.client(grants)?;
        allow.check_url(&url)?;
        let method = reqwest::Method::from_bytes(req.method.to_ascii_uppercase().as_bytes())
            .map_err(|_| HttpError::Invalid(format!("invalid HTTP method `{}`", req.method)))?;
        let timeout = req
            .timeout
            .unwrap_or(self.settings.default_timeout)
            .min(self.settings.max_timeout);
        let mut builder = client.request(method, url.clone()).timeout(timeout);
        for (name, value) in &req.headers {
            let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| HttpError::Invalid(format!("invalid header name `{name}`")))?;
            let value = reqwest::header::HeaderValue::from_str(value)
                .map_err(|_| HttpError::Invalid(format!("invalid value for header `{name}`")))?;
            builder = builder.header(name, value);
        }
        if let Some(body) = req.body {
            builder = builder.body(body);
        }
        let response = builder.send().await.map_err(|e| transport_error(&url, e))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let max = self.settings.max_response_bytes;
        if response.content_length().is_some_and(|n| n > max) {
            return Err(too_large(&url, max));
        }
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| transport_error(&url, e))?;
            if body.len() as u64 + chunk.len() as u64 > max {
                return Err(too_large(&url, max));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

fn too_large(url: &Url, max: u64) -> HttpError {
    HttpError::Failed(format!(
        "the response from {} is larger than the {} MiB limit",
        origin(url),
        max / (1024 * 1024)
    ))
}

/// A reqwest error as one line naming the target, and the right kind.
fn transport_error(url: &Url, e: reqwest::Error) -> HttpError {
    let mut causes = Vec::new();
    let mut source: Option<&dyn std::error::Error> = Some(&e);
    while let Some(err) = source {
        let text = err.to_string();
        if !causes.iter().any(|c: &String| c.contains(&text)) {
            causes.push(text);
        }
        source = err.source();
    }
    let detail = causes.join(": ");
    let target = origin(url);
    if e.is_timeout() {
        return HttpError::Timeout(format!("request to {target} timed out"));
    }
    if detail.contains("refusing to connect") || detail.contains("redirect refused") {
        return HttpError::Denied(format!("request to {target}: {detail}"));
    }
    HttpError::Failed(format!("request to {target} failed: {detail}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(p: &[&str]) -> AllowList {
        AllowList::parse(&p.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn patterns_match_scheme_host_and_port() {
        let a = allow(&[
            "https://api.example.com",
            "https://*.example.org",
            "http://localhost:*",
        ]);
        assert!(a.check_url(&url("https://api.example.com/v1?x=1")).is_ok());
        assert!(a.check_url(&url("https://api.example.com:443/")).is_ok());
        assert!(
            a.check_url(&url("http://api.example.com/")).is_err(),
            "scheme"
        );
        assert!(
            a.check_url(&url("https://api.example.com:8443/")).is_err(),
            "port"
        );
        assert!(a.check_url(&url("https://a.b.example.org/")).is_ok());
        assert!(
            a.check_url(&url("https://example.org/")).is_err(),
            "suffix needs a label"
        );
        assert!(a.check_url(&url("https://evilexample.org/")).is_err());
        assert!(a.check_url(&url("http://localhost:8080/")).is_ok());
    }

    #[test]
    fn internal_literals_need_an_explicit_pattern() {
        let a = allow(&["http://*:*"]);
        for target in [
            "http://127.0.0.1:80/",
            "http://10.1.2.3/",
            "http://172.16.0.1/",
            "http://192.168.1.1/",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/",
            "http://[fd00::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://0.0.0.0/",
        ] {
            let e = a.check_url(&url(target)).unwrap_err();
            assert!(matches!(e, HttpError::Denied(_)), "{target}: {e:?}");
        }
        assert!(a.check_url(&url("http://93.184.216.34/")).is_ok());
        let explicit = allow(&["http://127.0.0.1:8080"]);
        assert!(explicit.check_url(&url("http://127.0.0.1:8080/x")).is_ok());
        assert!(explicit.check_url(&url("http://127.0.0.1:9090/x")).is_err());
    }

    #[test]
    fn bad_patterns_are_named() {
        for bad in [
            "example.com",
            "ftp://x",
            "https://x/path",
            "https://ex*ample.com",
            "https://x:port",
        ] {
            let e = AllowList::parse(&[bad.to_string()]).unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
    }
}
