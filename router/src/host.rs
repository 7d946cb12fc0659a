//! Which project and stage a request is for: the Host header, custom
//! domains, and the path fallback.
//!
//! In order, for a Host header (its port ignored, lower-cased, one
//! trailing dot dropped):
//! 1. a configured custom domain (exact name) → its (project, stage);
//! 2. `{project}-{stage}.{base}` for a configured base domain (the longest
//!    that fits) → the first label split at its **last** hyphen (project
//!    slugs may contain hyphens, stage names may not). A name below a base
//!    domain that is not of this form is an error, never a fallback;
//! 3. any other host (a base domain itself, `localhost`, an IP address)
//!    → with the path fallback on (the default), `/{project}/{stage}/...`
//!    with the rest of the path as the route path; else an error.
//!
//! Project slugs follow the store's rules (1 to 63 lowercase ASCII
//! letters, digits and hyphens, not starting with a hyphen: see
//! `validate_slug` in `api/src/store`). Stage names here are 1 to 63
//! lowercase letters and digits: a hyphenated stage could not be told
//! apart from the project in a host name.
//!
//! Hosts are checked byte by byte (ASCII only, length and label limits
//! first), so any input gives a [`HostError`], never a panic.

use std::borrow::Cow;
use std::collections::HashMap;

use serde::Deserialize;

use crate::error::{ConfigError, HostError, SlugProblem, Source, shown};

/// The longest host name (RFC 1035), in bytes.
pub const MAX_HOST_LEN: usize = 253;
/// The longest DNS label, in bytes.
const MAX_LABEL_LEN: usize = 63;
/// The longest project slug or stage name.
const MAX_SLUG_LEN: usize = 63;

/// The router's host configuration, as read from the server's config.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    /// Domains under which `{project}-{stage}.{base}` is served.
    #[serde(default)]
    pub base_domains: Vec<String>,
    /// Whole host names mapped to one (project, stage).
    #[serde(default)]
    pub custom_domains: Vec<CustomDomain>,
    /// Whether other hosts take `/{project}/{stage}/...` from the path.
    #[serde(default = "default_true")]
    pub path_fallback: bool,
}

fn default_true() -> bool {
    true
}

impl Default for HostConfig {
    fn default() -> HostConfig {
        HostConfig {
            base_domains: Vec::new(),
            custom_domains: Vec::new(),
            path_fallback: true,
        }
    }
}

/// A host name that serves one project's stage.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomDomain {
    pub domain: String,
    pub project: String,
    pub stage: String,
}

/// How a [`Target`] was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// `{project}-{stage}.{base}`.
    Host,
    /// A custom domain.
    CustomDomain,
    /// `/{project}/{stage}/...`.
    Path,
}

/// The project and stage a request is for, and the path to route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target<'a> {
    pub project: Cow<'a, str>,
    pub stage: Cow<'a, str>,
    /// The path to match routes against: the request path, or what follows
    /// `/{project}/{stage}` (at least `/`) for [`Via::Path`].
    pub path: &'a str,
    pub via: Via,
}

/// Resolves requests to a [`Target`]; built once from a [`HostConfig`].
#[derive(Debug, Clone)]
pub struct HostResolver {
    /// Lower-case, longest first.
    base_domains: Vec<String>,
    /// Lower-case host name → (project, stage).
    custom_domains: HashMap<String, (String, String)>,
    path_fallback: bool,
}

impl HostResolver {
    /// Checks `config`: every domain a valid host name, every custom
    /// domain's project and stage valid, no custom domain twice.
    pub fn new(config: HostConfig) -> Result<HostResolver, ConfigError> {
        let mut base_domains = Vec::new();
        for domain in config.base_domains {
            match config_domain(&domain) {
                Ok(name) => base_domains.push(name),
                Err(reason) => return Err(ConfigError::BaseDomain { domain, reason }),
            }
        }
        base_domains.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        base_domains.dedup();
        let mut custom_domains = HashMap::new();
        for custom in config.custom_domains {
            let checked = config_domain(&custom.domain).and_then(|name| {
                check_project(&custom.project, Source::Config)?;
                check_stage(&custom.stage, Source::Config)?;
                Ok(name)
            });
            let name = match checked {
                Ok(name) => name,
                Err(reason) => {
                    return Err(ConfigError::CustomDomain {
                        domain: custom.domain,
                        reason,
                    });
                }
            };
            if custom_domains
                .insert(name, (custom.project, custom.stage))
                .is_some()
            {
                return Err(ConfigError::DuplicateCustomDomain {
                    domain: custom.domain,
                });
            }
        }
        Ok(HostResolver {
            base_domains,
            custom_domains,
            path_fallback: config.path_fallback,
        })
    }

    /// The project and stage of a request with Host header `host` (`None`
    /// when absent) and path `path` (without its query string).
    pub fn resolve<'a>(
        &'a self,
        host: Option<&'a str>,
        path: &'a str,
    ) -> Result<Target<'a>, HostError> {
        let raw = host.ok_or(HostError::Missing)?;
        // `None` for an IP literal, which only the path fallback serves.
        if let Some(name) = host_name(raw)? {
            if let Some((project, stage)) = self.custom_domains.get(name.as_ref()) {
                return Ok(Target {
                    project: Cow::Borrowed(project),
                    stage: Cow::Borrowed(stage),
                    path,
                    via: Via::CustomDomain,
                });
            }
            for base in &self.base_domains {
                let Some(label) = name
                    .strip_suffix(base.as_str())
                    .and_then(|rest| rest.strip_suffix('.'))
                else {
                    continue;
                };
                if label.contains('.') {
                    return Err(HostError::NotOneLabel {
                        host: shown(raw),
                        base: base.clone(),
                    });
                }
                let Some(hyphen) = label.rfind('-') else {
                    return Err(HostError::NoStage {
                        host: shown(raw),
                        base: base.clone(),
                    });
                };
                let project = sub(&name, 0..hyphen);
                let stage = sub(&name, hyphen + 1..label.len());
                check_project(&project, Source::Host)?;
                check_stage(&stage, Source::Host)?;
                return Ok(Target {
                    project,
                    stage,
                    path,
                    via: Via::Host,
                });
            }
        }
        if !self.path_fallback {
            return Err(HostError::UnknownHost { host: shown(raw) });
        }
        from_path(raw, path)
    }
}

/// A domain in the configuration: a host name without port, lower-cased.
fn config_domain(domain: &str) -> Result<String, HostError> {
    let refuse = |ch| HostError::InvalidChar {
        host: shown(domain),
        ch,
    };
    if let Some(ch) = domain.chars().find(|c| *c == ':' || *c == '[') {
        return Err(refuse(ch));
    }
    host_name(domain)?
        .map(Cow::into_owned)
        .ok_or_else(|| refuse('['))
}

/// `name[range]`, borrowed when `name` is.
fn sub<'a>(name: &Cow<'a, str>, range: std::ops::Range<usize>) -> Cow<'a, str> {
    match name {
        Cow::Borrowed(s) => Cow::Borrowed(&s[range]),
        Cow::Owned(s) => Cow::Owned(s[range].to_string()),
    }
}

/// `/{project}/{stage}/rest` → the target, with `/rest` as the path.
fn from_path<'a>(host: &str, path: &'a str) -> Result<Target<'a>, HostError> {
    let bad = || HostError::FallbackPath {
        host: shown(host),
        path: shown(path),
    };
    let rest = path.strip_prefix('/').ok_or_else(bad)?;
    let (project, rest) = rest.split_once('/').ok_or_else(bad)?;
    let (stage, rest) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if project.is_empty() || stage.is_empty() {
        return Err(bad());
    }
    check_project(project, Source::Path)?;
    check_stage(stage, Source::Path)?;
    Ok(Target {
        project: Cow::Borrowed(project),
        stage: Cow::Borrowed(stage),
        path: rest,
        via: Via::Path,
    })
}

/// The host name of a Host header: port and one trailing dot dropped,
/// lower-cased; `None` for an IP literal (`[::1]:8080`).
fn host_name(raw: &str) -> Result<Option<Cow<'_, str>>, HostError> {
    if raw.is_empty() {
        return Err(HostError::Empty);
    }
    // Room for `:65535` and a trailing dot.
    if raw.len() > MAX_HOST_LEN + 7 {
        return Err(HostError::TooLong {
            len: raw.len(),
            max: MAX_HOST_LEN,
        });
    }
    if !raw.is_ascii() {
        return Err(HostError::NotAscii { host: shown(raw) });
    }
    let host = || shown(raw);
    if let Some(literal) = raw.strip_prefix('[') {
        let ok = literal.split_once(']').is_some_and(|(addr, rest)| {
            !addr.is_empty()
                && addr
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
                && (rest.is_empty() || rest.strip_prefix(':').is_some_and(port_ok))
        });
        return if ok {
            Ok(None)
        } else {
            Err(HostError::InvalidIpLiteral { host: host() })
        };
    }
    let name = match raw.rsplit_once(':') {
        Some((name, port)) if port_ok(port) => name,
        Some((_, port)) => {
            return Err(HostError::InvalidPort {
                host: host(),
                port: shown(port),
            });
        }
        None => raw,
    };
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() {
        return Err(HostError::Empty);
    }
    if name.len() > MAX_HOST_LEN {
        return Err(HostError::TooLong {
            len: name.len(),
            max: MAX_HOST_LEN,
        });
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err(HostError::EmptyLabel { host: host() });
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(HostError::LabelTooLong {
                host: host(),
                len: label.len(),
            });
        }
        if let Some(ch) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            return Err(HostError::InvalidChar { host: host(), ch });
        }
    }
    Ok(Some(if name.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        Cow::Borrowed(name)
    }))
}

fn port_ok(port: &str) -> bool {
    (1..=5).contains(&port.len()) && port.bytes().all(|b| b.is_ascii_digit())
}

/// Checks a project slug (the store's rules).
pub fn validate_project(slug: &str) -> Result<(), SlugProblem> {
    check_slug(slug, |c| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
    })?;
    if slug.starts_with('-') {
        return Err(SlugProblem::LeadingHyphen);
    }
    Ok(())
}

/// Checks a stage name as routed: lowercase letters and digits.
pub fn validate_stage(stage: &str) -> Result<(), SlugProblem> {
    check_slug(stage, |c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

fn check_slug(slug: &str, allowed: impl Fn(char) -> bool) -> Result<(), SlugProblem> {
    if slug.is_empty() {
        return Err(SlugProblem::Empty);
    }
    if let Some(ch) = slug.chars().find(|c| !allowed(*c)) {
        return Err(SlugProblem::InvalidChar { ch });
    }
    if slug.len() > MAX_SLUG_LEN {
        return Err(SlugProblem::TooLong { len: slug.len() });
    }
    Ok(())
}

fn check_project(project: &str, at: Source) -> Result<(), HostError> {
    validate_project(project).map_err(|problem| HostError::InvalidProject {
        project: shown(project),
        at,
        problem,
    })
}

fn check_stage(stage: &str, at: Source) -> Result<(), HostError> {
    validate_stage(stage).map_err(|problem| HostError::InvalidStage {
        stage: shown(stage),
        at,
        problem,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolver() -> HostResolver {
        HostResolver::new(HostConfig {
            base_domains: vec!["weft.run".into(), "EU.weft.run".into()],
            custom_domains: vec![CustomDomain {
                domain: "api.acme.com".into(),
                project: "acme".into(),
                stage: "prod".into(),
            }],
            path_fallback: true,
        })
        .unwrap()
    }

    #[test]
    fn borrows_when_it_can() {
        let r = resolver();
        let t = r.resolve(Some("my-shop-prod.weft.run:443"), "/x").unwrap();
        assert_eq!((&*t.project, &*t.stage, t.path), ("my-shop", "prod", "/x"));
        assert!(matches!(t.project, Cow::Borrowed(_)));
        let t = r.resolve(Some("My-Shop-Prod.EU.weft.run."), "/x").unwrap();
        assert_eq!((&*t.project, &*t.stage), ("my-shop", "prod"));
        assert!(matches!(t.project, Cow::Owned(_)));
    }

    #[test]
    fn config_errors() {
        let bad = |config: HostConfig| HostResolver::new(config).unwrap_err().to_string();
        let base = |d: &str| HostConfig {
            base_domains: vec![d.into()],
            ..HostConfig::default()
        };
        assert!(bad(base("weft..run")).contains("empty label"));
        assert!(bad(base("weft.run:80")).contains("invalid base domain"));
        let custom = |domain: &str, stage: &str| CustomDomain {
            domain: domain.into(),
            project: "acme".into(),
            stage: stage.into(),
        };
        let twice = HostConfig {
            custom_domains: vec![custom("a.com", "prod"), custom("A.com", "dev")],
            ..HostConfig::default()
        };
        assert!(bad(twice).contains("listed twice"));
        let hyphen = HostConfig {
            custom_domains: vec![custom("a.com", "pre-prod")],
            ..HostConfig::default()
        };
        assert!(bad(hyphen).contains("invalid stage `pre-prod`"));
    }

    #[test]
    fn deserializes_with_fallback_on_by_default() {
        let config: HostConfig = serde_json::from_str(r#"{"base_domains": ["weft.run"]}"#).unwrap();
        assert!(config.path_fallback && config.custom_domains.is_empty());
        assert!(serde_json::from_str::<HostConfig>(r#"{"base": []}"#).is_err());
    }
}
