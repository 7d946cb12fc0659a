//! The node registry: every node type this process can run, built-in
//! (embedded in the binary, built from `nodes/std`) or custom (loaded from a
//! `--nodes-dir`), resolved by `category.name[@version]`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use weft_editor_protocol::flow::NodeTypeRef;
use weft_editor_protocol::spec::{CatalogEntry, NodeSource};

use crate::host::component::semver_parts;
use crate::host::{Host, HostError, LoadedComponent};

/// The components built from `nodes/` by `build.rs`.
#[allow(dead_code)] // TEST_COMPONENTS is only used with the `test-guests` feature.
mod embedded {
    include!(concat!(env!("OUT_DIR"), "/components.rs"));
}

/// The built-in components embedded in this binary: (crate directory name
/// under `nodes/std`, component bytes).
pub fn builtin_components() -> &'static [(&'static str, &'static [u8])] {
    embedded::BUILTIN_COMPONENTS
}

/// Errors loading node components.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Host(#[from] HostError),
    #[error("cannot read nodes directory {}: {source}", path.display())]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read node component {}: {source}", path.display())]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("node type `{type_name}@{version}` from {new} is already provided by {existing}")]
    Duplicate {
        type_name: String,
        version: String,
        new: String,
        existing: String,
    },
}

/// A registered component and where it came from.
#[derive(Debug, Clone)]
pub struct Registered {
    pub component: Arc<LoadedComponent>,
    pub source: NodeSource,
}

/// All node types known to a host.
#[derive(Debug)]
pub struct Registry {
    host: Arc<Host>,
    /// By type name; versions newest first.
    types: BTreeMap<String, Vec<Registered>>,
}

impl Registry {
    /// An empty registry.
    pub fn empty(host: Arc<Host>) -> Registry {
        Registry {
            host,
            types: BTreeMap::new(),
        }
    }

    /// A registry with the built-in nodes.
    pub async fn with_builtins(host: Arc<Host>) -> Result<Registry, RegistryError> {
        let mut registry = Registry::empty(host);
        // Hashed at build time: with a warm cache the bytes are never read,
        // and a built-in's compiled code is read on its first use.
        let hashes = embedded::BUILTIN_HASHES.iter();
        for ((name, bytes), hash) in embedded::BUILTIN_COMPONENTS.iter().zip(hashes) {
            let component = registry
                .host
                .load_builtin(&format!("built-in {name}"), bytes, hash)
                .await?;
            registry.register(component, NodeSource::Builtin)?;
        }
        Ok(registry)
    }

    /// Adds the purpose-built test guests (`test.loop`, `test.trap`, ...).
    #[cfg(feature = "test-guests")]
    pub async fn add_test_guests(&mut self) -> Result<(), RegistryError> {
        for (name, bytes) in embedded::TEST_COMPONENTS {
            self.add(&format!("test guest {name}"), bytes, NodeSource::Custom)
                .await?;
        }
        Ok(())
    }

    /// Loads every `*.wasm` file in `dir` as a custom node.
    pub async fn load_dir(
        &mut self,
        dir: &Path,
    ) -> Result<Vec<Arc<LoadedComponent>>, RegistryError> {
        let entries = std::fs::read_dir(dir).map_err(|source| RegistryError::Dir {
            path: dir.to_path_buf(),
            source,
        })?;
        let mut paths: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "wasm") && p.is_file())
            .collect();
        paths.sort();
        let mut loaded = Vec::new();
        for path in paths {
            let bytes = std::fs::read(&path).map_err(|source| RegistryError::File {
                path: path.clone(),
                source,
            })?;
            loaded.push(
                self.add(&path.display().to_string(), &bytes, NodeSource::Custom)
                    .await?,
            );
        }
        Ok(loaded)
    }

    /// Loads one component and registers it under the type it declares.
    pub async fn add(
        &mut self,
        name: &str,
        bytes: &[u8],
        source: NodeSource,
    ) -> Result<Arc<LoadedComponent>, RegistryError> {
        let component = self.host.load(name, bytes).await?;
        self.register(component, source)
    }

    /// Adds a loaded component.
    fn register(
        &mut self,
        component: LoadedComponent,
        source: NodeSource,
    ) -> Result<Arc<LoadedComponent>, RegistryError> {
        let component = Arc::new(component);
        let name = component.source_name.clone();
        let versions = self
            .types
            .entry(component.info.type_name.clone())
            .or_default();
        if let Some(existing) = versions
            .iter()
            .find(|r| r.component.info.version == component.info.version)
        {
            return Err(RegistryError::Duplicate {
                type_name: component.info.type_name.clone(),
                version: component.info.version.clone(),
                new: name,
                existing: existing.component.source_name.clone(),
            });
        }
        versions.push(Registered {
            component: component.clone(),
            source,
        });
        versions.sort_by_key(|r| std::cmp::Reverse(semver_parts(&r.component.info.version)));
        Ok(component)
    }

    pub fn host(&self) -> &Arc<Host> {
        &self.host
    }

    /// The newest version that matches the reference.
    pub fn resolve(&self, r: &NodeTypeRef) -> Option<&Registered> {
        self.types
            .get(&r.name)?
            .iter()
            .find(|c| r.matches_version(&c.component.info.version))
    }

    /// The versions registered for a type name, newest first.
    pub fn versions(&self, name: &str) -> Vec<&str> {
        self.types
            .get(name)
            .map(|v| {
                v.iter()
                    .map(|r| r.component.info.version.as_str())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The closest known type name, for "did you mean" hints.
    pub fn suggest(&self, name: &str) -> Option<&str> {
        self.types
            .keys()
            .map(|k| (strsim::damerau_levenshtein(k, name), k))
            .filter(|(d, k)| *d <= 3.max(k.len() / 4))
            .min_by_key(|(d, _)| *d)
            .map(|(_, k)| k.as_str())
    }

    /// Every registered component (all versions), by type name.
    pub fn all(&self) -> impl Iterator<Item = &Registered> {
        self.types.values().flatten()
    }

    /// The catalogue: every node type and version, with its spec for an
    /// empty config.
    pub async fn catalog(&self) -> Vec<CatalogEntry> {
        let mut out = Vec::new();
        for r in self.all() {
            let c = &r.component;
            let (spec, needs_config) = match c.describe("{}").await {
                Ok(Ok(spec)) => (Some((*spec).clone()), None),
                Ok(Err(problems)) => (
                    None,
                    Some(
                        problems
                            .iter()
                            .map(|p| {
                                if p.path.is_empty() {
                                    p.message.clone()
                                } else {
                                    format!("{}: {}", p.path, p.message)
                                }
                            })
                            .collect::<Vec<_>>()
                            .join("; "),
                    ),
                ),
                Err(e) => (None, Some(e.to_string())),
            };
            out.push(CatalogEntry {
                info: c.info.clone(),
                source: r.source,
                spec,
                needs_config,
                config_schema: (*c.config_schema).clone(),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::embedded;

    /// The build-time hashes (the cache keys) are those of the embedded
    /// bytes: a mismatch would load another component's compiled code.
    #[test]
    fn builtin_hashes_are_the_bytes_hashes() {
        assert_eq!(
            embedded::BUILTIN_HASHES.len(),
            embedded::BUILTIN_COMPONENTS.len()
        );
        for ((name, bytes), hash) in embedded::BUILTIN_COMPONENTS
            .iter()
            .zip(embedded::BUILTIN_HASHES)
        {
            let actual: String = Sha256::digest(bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(&actual, hash, "built-in {name}");
        }
    }
}
