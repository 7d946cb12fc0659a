//! Secrets per project, for all stages or one stage, encrypted at rest.
//!
//! Each value is sealed with XChaCha20-Poly1305 under the server's 32-byte
//! [`SecretKey`], with a fresh random 24-byte nonce and the associated data
//! `weft-secret\0<project>\0<stage>\0<name>` (stage empty for "all
//! stages"), so a ciphertext copied to another row does not decrypt. Each
//! row also records the key's id (a hash prefix, not the key) so that a
//! wrong key is reported as such. Values are never listed: only
//! [`Store::resolve_secrets`] decrypts, for running flows.
//!
//! The key comes from `WEFT_SECRET_KEY` (64 hex digits, or base64 /
//! base64url, padded or not, of 32 bytes) or else from a key file
//! (`weft-data/secret.key` next to the SQLite database: 64 hex digits),
//! generated with mode 0600 when missing ([`SecretKey::from_env_or_file`]).

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::error::db;
use super::{Result, Store, StoreError, now_ms, project_id, validate_stage};

/// The environment variable holding the secret key.
pub const SECRET_KEY_ENV: &str = "WEFT_SECRET_KEY";
/// The key file's name in the data directory.
pub const SECRET_KEY_FILE: &str = "secret.key";
/// The largest secret value, in bytes.
pub const MAX_SECRET_BYTES: usize = 64 * 1024;

/// The 32-byte key secrets are encrypted with. `Debug` shows its id only.
#[derive(Clone)]
pub struct SecretKey {
    bytes: [u8; 32],
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey({})", self.id())
    }
}

/// Where [`SecretKey::from_env_or_file`] found the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `WEFT_SECRET_KEY`.
    Env,
    /// An existing key file.
    File(PathBuf),
    /// A key file generated just now.
    Generated(PathBuf),
}

fn key_error(message: impl Into<String>) -> StoreError {
    StoreError::SecretKey {
        message: message.into(),
    }
}

impl SecretKey {
    pub fn from_bytes(bytes: [u8; 32]) -> SecretKey {
        SecretKey { bytes }
    }

    /// A new random key.
    pub fn generate() -> Result<SecretKey> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)
            .map_err(|e| key_error(format!("no randomness for a secret key: {e}")))?;
        Ok(SecretKey { bytes })
    }

    /// Parses 64 hex digits, or base64 / base64url (padded or not) of 32
    /// bytes.
    pub fn parse(text: &str) -> Result<SecretKey> {
        use base64::engine::general_purpose::{
            STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD,
        };
        let text = text.trim();
        let decoded = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).ok()
        } else {
            [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
                .iter()
                .find_map(|engine| engine.decode(text).ok())
        };
        match decoded.map(<[u8; 32]>::try_from) {
            Some(Ok(bytes)) => Ok(SecretKey { bytes }),
            _ => Err(key_error(
                "a secret key must be 32 bytes written as 64 hex digits or in base64",
            )),
        }
    }

    /// The key from `WEFT_SECRET_KEY` if set, else from the file at `path`
    /// (generated, mode 0600, if missing).
    pub fn from_env_or_file(path: &Path) -> Result<(SecretKey, KeySource)> {
        let env = std::env::var(SECRET_KEY_ENV).ok();
        SecretKey::from_value_or_file(env.as_deref(), path)
    }

    /// [`SecretKey::from_env_or_file`] with the variable's value passed in.
    pub fn from_value_or_file(value: Option<&str>, path: &Path) -> Result<(SecretKey, KeySource)> {
        if let Some(value) = value.filter(|v| !v.trim().is_empty()) {
            let key =
                SecretKey::parse(value).map_err(|e| key_error(format!("{SECRET_KEY_ENV}: {e}")))?;
            return Ok((key, KeySource::Env));
        }
        let read = |path: &Path| -> Result<SecretKey> {
            let text = std::fs::read_to_string(path).map_err(|e| {
                key_error(format!("cannot read the key file {}: {e}", path.display()))
            })?;
            warn_if_readable_by_others(path);
            SecretKey::parse(&text)
                .map_err(|e| key_error(format!("the key file {}: {e}", path.display())))
        };
        if path.exists() {
            return Ok((read(path)?, KeySource::File(path.to_path_buf())));
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                key_error(format!(
                    "cannot create the directory {}: {e}",
                    dir.display()
                ))
            })?;
        }
        let key = SecretKey::generate()?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(path) {
            Ok(mut file) => {
                writeln!(file, "{}", key.to_hex())
                    .and_then(|()| file.sync_all())
                    .map_err(|e| {
                        key_error(format!("cannot write the key file {}: {e}", path.display()))
                    })?;
                Ok((key, KeySource::Generated(path.to_path_buf())))
            }
            // Another process generated it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Ok((read(path)?, KeySource::File(path.to_path_buf())))
            }
            Err(e) => Err(key_error(format!(
                "cannot create the key file {}: {e}",
                path.display()
            ))),
        }
    }

    /// The key as 64 hex digits (what the key file holds).
    pub fn to_hex(&self) -> String {
        hex::encode(self.bytes)
    }

    /// A short public fingerprint of the key (16 hex digits), stored with
    /// each secret to recognize a wrong key.
    pub fn id(&self) -> String {
        let mut hash = Sha256::new();
        hash.update(b"weft-secret-key-id\0");
        hash.update(self.bytes);
        hex::encode(&hash.finalize()[..8])
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&self.bytes.into())
    }

    fn seal(&self, aad: &[u8], value: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut nonce)
            .map_err(|e| key_error(format!("no randomness for a nonce: {e}")))?;
        let sealed = self
            .cipher()
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: value, aad })
            .map_err(|_| key_error("encrypting a secret failed"))?;
        Ok((nonce.to_vec(), sealed))
    }

    fn open(&self, aad: &[u8], nonce: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        if nonce.len() != 24 {
            return None;
        }
        self.cipher()
            .decrypt(XNonce::from_slice(nonce), Payload { msg: sealed, aad })
            .ok()
    }
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            file = %path.display(),
            "the secret key file is readable by other users; chmod 600 it"
        );
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_: &Path) {}

/// A secret's name and scope (never its value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretInfo {
    pub name: String,
    /// The stage it applies to; `None` for every stage.
    pub stage: Option<String>,
    pub updated_at: i64,
}

/// Checks a secret name: 1 to 128 ASCII letters, digits, `_`, `-` and
/// `.`, starting with a letter or `_`.
pub fn validate_secret_name(name: &str) -> Result<()> {
    let ok = (1..=128).contains(&name.len())
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::invalid(format!(
            "invalid secret name `{name}`: use 1 to 128 letters, digits, `_`, `-` and `.`, \
             starting with a letter or `_`"
        )))
    }
}

/// `(name, stage, key_id, nonce, ciphertext)` of a stored secret.
type SealedRow = (String, String, String, Vec<u8>, Vec<u8>);

fn aad(project: &str, stage: &str, name: &str) -> Vec<u8> {
    format!("weft-secret\0{project}\0{stage}\0{name}").into_bytes()
}

fn stage_column(stage: Option<&str>) -> Result<&str> {
    match stage {
        Some(stage) => validate_stage(stage).map(|()| stage),
        None => Ok(""),
    }
}

impl Store {
    fn key(&self) -> Result<&SecretKey> {
        self.secret_key.as_deref().ok_or_else(|| {
            key_error("no secret key is configured (set WEFT_SECRET_KEY or use a key file)")
        })
    }

    /// Sets secret `name` of `project` for `stage` (`None`: every stage).
    pub async fn set_secret(
        &self,
        project: &str,
        stage: Option<&str>,
        name: &str,
        value: &str,
    ) -> Result<()> {
        validate_secret_name(name)?;
        let stage = stage_column(stage)?;
        if value.len() > MAX_SECRET_BYTES {
            return Err(StoreError::invalid(format!(
                "secret `{name}` is larger than {MAX_SECRET_BYTES} bytes"
            )));
        }
        let key = self.key()?;
        let (nonce, sealed) = key.seal(&aad(project, stage, name), value.as_bytes())?;
        let pid = project_id(&self.pool, project).await?;
        let _turn = self.write_turn().await;
        sqlx::query(
            "INSERT INTO weft_secrets (project_id, stage, name, key_id, nonce, ciphertext, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (project_id, stage, name) DO UPDATE SET key_id = excluded.key_id, \
             nonce = excluded.nonce, ciphertext = excluded.ciphertext, \
             updated_at = excluded.updated_at",
        )
        .bind(pid)
        .bind(stage)
        .bind(name)
        .bind(key.id())
        .bind(nonce)
        .bind(sealed)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .map_err(db(format!("setting secret `{name}`")))?;
        Ok(())
    }

    /// Deletes secret `name` of `project` for `stage` (NotFound if absent).
    pub async fn delete_secret(
        &self,
        project: &str,
        stage: Option<&str>,
        name: &str,
    ) -> Result<()> {
        let column = stage_column(stage)?;
        let pid = project_id(&self.pool, project).await?;
        let _turn = self.write_turn().await;
        let done = sqlx::query(
            "DELETE FROM weft_secrets WHERE project_id = $1 AND stage = $2 AND name = $3",
        )
        .bind(pid)
        .bind(column)
        .bind(name)
        .execute(&self.pool)
        .await
        .map_err(db(format!("deleting secret `{name}`")))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(match stage {
                Some(stage) => format!("secret `{name}` of stage `{stage}`"),
                None => format!("secret `{name}`"),
            }));
        }
        Ok(())
    }

    /// The secrets of `project` (names and scopes only), by name then
    /// stage (project-wide first).
    pub async fn list_secrets(&self, project: &str) -> Result<Vec<SecretInfo>> {
        let pid = project_id(&self.pool, project).await?;
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT name, stage, updated_at FROM weft_secrets WHERE project_id = $1 \
             ORDER BY name, stage",
        )
        .bind(pid)
        .fetch_all(&self.pool)
        .await
        .map_err(db(format!("listing the secrets of `{project}`")))?;
        Ok(rows
            .into_iter()
            .map(|(name, stage, updated_at)| SecretInfo {
                name,
                stage: (!stage.is_empty()).then_some(stage),
                updated_at,
            })
            .collect())
    }

    /// The decrypted secrets a run of `project` on `stage` sees: the
    /// project-wide ones, overridden by the stage's own.
    pub async fn resolve_secrets(
        &self,
        project: &str,
        stage: Option<&str>,
    ) -> Result<HashMap<String, String>> {
        let key = self.key()?;
        let stage = stage_column(stage)?;
        let pid = project_id(&self.pool, project).await?;
        // Project-wide rows ('') sort first, so stage rows overwrite them.
        let rows: Vec<SealedRow> = sqlx::query_as(
            "SELECT name, stage, key_id, nonce, ciphertext FROM weft_secrets \
             WHERE project_id = $1 AND (stage = '' OR stage = $2) ORDER BY stage, name",
        )
        .bind(pid)
        .bind(stage)
        .fetch_all(&self.pool)
        .await
        .map_err(db(format!("reading the secrets of `{project}`")))?;
        let mut out = HashMap::with_capacity(rows.len());
        for (name, row_stage, key_id, nonce, sealed) in rows {
            let plain = key.open(&aad(project, &row_stage, &name), &nonce, &sealed);
            let Some(plain) = plain else {
                return Err(key_error(if key_id != key.id() {
                    format!(
                        "secret `{name}` of project `{project}` cannot be decrypted: it was \
                         encrypted with key {key_id} but the configured key is {} \
                         (did WEFT_SECRET_KEY or the key file change?)",
                        key.id()
                    )
                } else {
                    format!(
                        "secret `{name}` of project `{project}` cannot be decrypted: \
                         the stored value is corrupt"
                    )
                }));
            };
            let value = String::from_utf8(plain).map_err(|_| {
                key_error(format!(
                    "secret `{name}` of project `{project}` is not UTF-8"
                ))
            })?;
            out.insert(name, value);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_from_hex_and_base64() {
        let key = SecretKey::from_bytes([7; 32]);
        let hex = key.to_hex();
        let b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([7u8; 32]);
        for text in [hex.as_str(), b64.as_str(), b64url.as_str()] {
            assert_eq!(SecretKey::parse(text).map(|k| k.id()).ok(), Some(key.id()));
        }
        assert!(SecretKey::parse("short").is_err());
        assert!(format!("{key:?}").contains(&key.id()));
        assert!(!format!("{key:?}").contains(&hex));
    }

    #[test]
    fn sealing_binds_the_associated_data() {
        let key = SecretKey::from_bytes([1; 32]);
        let (nonce, sealed) = key.seal(b"a", b"value").unwrap_or_default();
        assert_eq!(
            key.open(b"a", &nonce, &sealed).as_deref(),
            Some(&b"value"[..])
        );
        assert_eq!(key.open(b"b", &nonce, &sealed), None);
        assert_eq!(
            SecretKey::from_bytes([2; 32]).open(b"a", &nonce, &sealed),
            None
        );
    }
}
