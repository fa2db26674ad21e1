//! What plans and reports may say about sensitive and private resources.
//!
//! A parameter the catalog marks sensitive (`{"sensitive": value}`, LANGUAGE.md §6) is never
//! shown: its change reads `content changed (sensitive)` (no diff, even with `--show-diff`),
//! other values `[sensitive]`. A file is **private** when its content is sensitive or its
//! `mode` gives others no read bit (`0600`, `0640`, `0750`): the sha256 sums of a private
//! file's old and new contents are not put in plans or reports as they are (a short secret's
//! sum is guessable by trying candidates), but as `hmac-sha256:<hex>`, an HMAC-SHA256 of the
//! sum keyed with the state directory's `report-key` (32 random bytes, mode 0600, made by the
//! first real run): two runs on one machine still show whether a content came back, and no
//! one without the key can test a guess. A noop run on a machine without a state directory
//! uses a key of its own (it creates nothing).

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::Outcome;
use crate::catalog::json::ResourceDoc;
use crate::model::digest::hex;

/// The key that private contents' sums are hashed with in reports.
#[derive(Clone)]
pub(crate) struct ReportKey([u8; 32]);

impl std::fmt::Debug for ReportKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReportKey([sensitive])")
    }
}

impl ReportKey {
    /// `STATE/report-key`, made (0600) when missing and `create`; without it, a key for
    /// this run only.
    pub(crate) fn for_state(state: &Path, create: bool) -> ReportKey {
        if let Some(key) = read_key(state) {
            return key;
        }
        let key = ReportKey(random());
        if create && super::state::create_state_file(state, "report-key", &key.0).is_err() {
            // Another run made it first: use that one.
            return read_key(state).unwrap_or(key);
        }
        key
    }

    /// HMAC-SHA256 (RFC 2104) of `data` under this key, as lower-case hex.
    pub(crate) fn hmac_hex(&self, data: &[u8]) -> String {
        let mut ipad = [0x36u8; 64];
        let mut opad = [0x5cu8; 64];
        for (i, b) in self.0.iter().enumerate() {
            ipad[i] ^= b;
            opad[i] ^= b;
        }
        let inner = Sha256::new()
            .chain_update(ipad)
            .chain_update(data)
            .finalize();
        hex(&Sha256::new()
            .chain_update(opad)
            .chain_update(inner)
            .finalize())
    }

    /// `sha256:<hex>` as `hmac-sha256:<hex>`; any other value as it is.
    fn veil(&self, v: &mut Option<String>) {
        if let Some(s) = v {
            if s.starts_with("sha256:") {
                *s = format!("hmac-sha256:{}", self.hmac_hex(s.as_bytes()));
            }
        }
    }
}

fn read_key(state: &Path) -> Option<ReportKey> {
    let bytes = super::state::read_state_file(state, "report-key").ok()?;
    Some(ReportKey(bytes.try_into().ok()?))
}

/// 32 bytes from the kernel's random source (never fails on Linux; a fallback from the
/// clock and the process keeps a run going if /dev/urandom cannot be read).
fn random() -> [u8; 32] {
    let mut key = [0u8; 32];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut key));
    if read.is_err() {
        let seed = format!(
            "{:?}{}{:p}",
            std::time::SystemTime::now(),
            std::process::id(),
            &key
        );
        key.copy_from_slice(&Sha256::digest(seed.as_bytes()));
    }
    key
}

/// Whether a file resource is private: sensitive content, or a mode without o+r.
pub(crate) fn is_private(r: &ResourceDoc) -> bool {
    if r.kind != "file" {
        return false;
    }
    if r.is_sensitive("content") {
        return true;
    }
    let p = super::providers::Params::new(r);
    let mode = match p.raw("mode") {
        Some(serde_json::Value::String(s)) => {
            u32::from_str_radix(s.strip_prefix("0o").unwrap_or(s), 8).ok()
        }
        Some(serde_json::Value::Number(n)) => n.as_u64().map(|m| m as u32),
        _ => None,
    };
    mode.is_some_and(|m| m & 0o004 == 0)
}

/// Takes out of a resource's outcome what must not be shown: sensitive parameters' values
/// and diffs, and private contents' plain sums (see the module's comment).
pub(crate) fn redact(r: &ResourceDoc, outcome: &mut Outcome, key: &ReportKey) {
    let private = is_private(r);
    let password = r.kind == "user";
    for c in &mut outcome.changes {
        let sensitive = r.is_sensitive(&c.property) || (password && c.property == "password");
        if sensitive {
            c.sensitive = true;
            if !c.message.ends_with("(sensitive)") {
                c.message = format!("{} (sensitive)", c.message);
            }
        }
        if c.property == "content" && (private || sensitive) {
            key.veil(&mut c.from);
            key.veil(&mut c.to);
        } else if sensitive {
            for v in [&mut c.from, &mut c.to] {
                if v.is_some() {
                    *v = Some("[sensitive]".into());
                }
            }
        }
    }
    if r.is_sensitive("content") {
        outcome.diff = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_case_1() {
        // RFC 4231 test case 1 has a 20-byte key; ours are 32 bytes: the same key
        // padded with zeros gives the same HMAC (a short key is zero-padded to the block).
        let mut k = [0u8; 32];
        k[..20].copy_from_slice(&[0x0b; 20]);
        assert_eq!(
            ReportKey(k).hmac_hex(b"Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
    }

    #[test]
    fn a_key_is_made_once_and_kept_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let none = ReportKey::for_state(&state, false);
        assert!(!state.exists(), "a noop makes nothing");
        let a = ReportKey::for_state(&state, true);
        let b = ReportKey::for_state(&state, false);
        assert_eq!(a.0, b.0);
        assert_ne!(a.0, none.0);
        let mode = std::fs::metadata(state.join("report-key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
