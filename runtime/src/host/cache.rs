//! Compiled components on disk.
//!
//! Key: the engine's precompile-compatibility hash (wasmtime version,
//! target, compiler settings) and the SHA-256 of the component bytes. A hit
//! is deserialized, never recompiled. Files are written to
//! a temporary name and renamed, so a crash never leaves a half-written
//! artifact under a real key.
//!
//! Beside each compiled component, a small `.info.json` sidecar keeps what
//! the component said of itself (`info`: type name, version, summary,
//! config schema). With both on disk a built-in is registered from the
//! sidecar alone and its compiled code is read on first use
//! ([`super::Host::load_builtin`]), so an idle process holds no compiled
//! code for nodes it never ran.
//!
//! The cache directory must be trusted: deserializing runs native code
//! produced by the compiler. It lives in the user's own cache directory by
//! default.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use super::HostError;

/// How a component was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Loaded from the disk cache without compiling.
    Hit,
    /// Registered from the cache's info sidecar; the compiled code is read
    /// on first use.
    Deferred,
    /// Compiled and stored in the cache.
    Compiled,
    /// Compiled; no cache configured or it could not be written.
    Uncached,
}

/// Feeds `Hash` output into SHA-256, so the key is stable across builds.
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

fn engine_key(engine: &Engine) -> String {
    let mut h = ShaHasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut h);
    hex(&h.0.finalize()[..8])
}

/// Returns the component, the hex SHA-256 of its bytes (`known`, when the
/// caller has it: then a hit never reads `bytes`), and where it came from.
pub(super) fn compile_cached(
    engine: &Engine,
    cache_dir: Option<&Path>,
    name: &str,
    bytes: &[u8],
    known: Option<&str>,
) -> Result<(Component, String, CacheOutcome), HostError> {
    let content_hash = match known {
        Some(hash) => hash.to_string(),
        None => hex(&Sha256::digest(bytes)),
    };
    let invalid = |e: wasmtime::Error| HostError::InvalidComponent {
        name: name.to_string(),
        message: super::one_line(&e),
    };

    let Some(dir) = cache_dir else {
        let component = Component::new(engine, bytes).map_err(invalid)?;
        return Ok((component, content_hash, CacheOutcome::Uncached));
    };
    let path = entry_path(engine, dir, &content_hash, "cwasm");

    if path.is_file() {
        match deserialize(engine, &path) {
            Ok(component) => return Ok((component, content_hash, CacheOutcome::Hit)),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "discarding unusable cached component");
                let _ = std::fs::remove_file(&path);
            }
        }
    }

    let component = Component::new(engine, bytes).map_err(invalid)?;
    let outcome = match store(&component, dir, &path) {
        Ok(()) => CacheOutcome::Compiled,
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "component cache not writable; continuing without it");
            CacheOutcome::Uncached
        }
    };
    Ok((component, content_hash, outcome))
}

/// The cache's file for the component with this content hash: its
/// compiled form (`cwasm`) or its info sidecar (`info.json`).
fn entry_path(engine: &Engine, dir: &Path, content_hash: &str, ext: &str) -> PathBuf {
    dir.join(format!("{}-{content_hash}.{ext}", engine_key(engine)))
}

/// What a component said of itself in `info`, kept beside its compiled
/// form.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct CachedInfo {
    pub type_name: String,
    pub version: String,
    pub summary: String,
    pub config_schema: serde_json::Value,
}

/// The sidecar of a cached component, when both it and the compiled form
/// are there and the sidecar parses. Anything else is `None`: the caller
/// then loads the component the long way (and writes a fresh sidecar).
pub(super) fn read_info(engine: &Engine, dir: &Path, content_hash: &str) -> Option<CachedInfo> {
    if !entry_path(engine, dir, content_hash, "cwasm").is_file() {
        return None;
    }
    let text = std::fs::read(entry_path(engine, dir, content_hash, "info.json")).ok()?;
    serde_json::from_slice(&text).ok()
}

/// Writes the sidecar (temporary name, then rename). A failure only costs
/// the next start a full load, so it is logged, not returned.
pub(super) fn write_info(engine: &Engine, dir: &Path, content_hash: &str, info: &CachedInfo) {
    let path = entry_path(engine, dir, content_hash, "info.json");
    let result = serde_json::to_vec(info)
        .map_err(std::io::Error::other)
        .and_then(|bytes| write_atomically(dir, &path, &bytes));
    if let Err(e) = result {
        tracing::warn!(path = %path.display(), error = %e, "cannot write a component's info to the cache");
    }
}

#[allow(unsafe_code)]
fn deserialize(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // Read into memory rather than memory-mapping: a file truncated or
    // rewritten under a running process must not be able to crash it.
    let bytes = std::fs::read(path)?;
    // SAFETY: the bytes were produced by `Component::serialize` for an
    // engine with the same compatibility hash (it is part of the file name,
    // and wasmtime re-checks the header), and live in the user's own cache
    // directory, which we treat as trusted like the binary itself.
    unsafe { Component::deserialize(engine, &bytes) }
}

fn store(component: &Component, dir: &Path, path: &Path) -> std::io::Result<()> {
    let bytes = component
        .serialize()
        .map_err(|e| std::io::Error::other(format!("{e:#}")))?;
    write_atomically(dir, path, &bytes)
}

/// Writes `bytes` to a temporary name in `dir`, then renames it to `path`,
/// so a reader never sees a half-written file under the real name.
fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("component"),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
