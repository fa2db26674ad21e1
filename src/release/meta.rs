//! Deploy metadata (`releases/.<id>.json`), the release listing and the `current` link.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::spec::check_id;

/// One release as `fleet release list` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReleaseInfo {
    pub id: String,
    /// `current` points at it.
    pub current: bool,
    /// Deploy order: higher is newer; 0 for a release without metadata.
    pub seq: u64,
    /// When it was deployed (RFC 3339, UTC), or its directory's mtime without metadata.
    pub deployed: Option<String>,
    pub content_sha256: Option<String>,
    pub commit: Option<String>,
}

/// The metadata file's format (version 1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct MetaDoc {
    pub format: u32,
    pub id: String,
    pub seq: u64,
    pub deployed: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

pub(crate) fn releases_dir(root: &Path) -> PathBuf {
    root.join("releases")
}

pub(crate) fn meta_path(releases: &Path, id: &str) -> PathBuf {
    releases.join(format!(".{id}.json"))
}

/// Writes the metadata atomically (a temporary file renamed into place).
pub(crate) fn write_meta(releases: &Path, doc: &MetaDoc) -> io::Result<()> {
    let path = meta_path(releases, &doc.id);
    let tmp = releases.join(format!(".tmp-{}-{}.json", doc.id, std::process::id()));
    let mut text = serde_json::to_string_pretty(doc).map_err(io::Error::other)?;
    text.push('\n');
    fs::write(&tmp, text)?;
    fs::rename(&tmp, &path)
}

fn read_meta(releases: &Path, id: &str) -> Option<MetaDoc> {
    let text = fs::read_to_string(meta_path(releases, id)).ok()?;
    serde_json::from_str::<MetaDoc>(&text)
        .ok()
        .filter(|d| d.id == id)
}

/// The release id `root/current` points at, if it is a link into `releases/`.
pub(crate) fn read_current(root: &Path) -> Option<String> {
    let target = fs::read_link(root.join("current")).ok()?;
    let id = target.file_name()?.to_str()?.to_string();
    let parent = target.parent()?.file_name()?;
    (parent == "releases" && check_id(&id).is_ok()).then_some(id)
}

/// Every complete release under `root` (whose `releases/` is `releases`, already resolved;
/// `None`: there is none), newest first.
pub(crate) fn read_all(root: &Path, releases: Option<&Path>) -> io::Result<Vec<ReleaseInfo>> {
    let Some(releases) = releases else {
        return Ok(Vec::new());
    };
    let entries = match fs::read_dir(releases) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let current = read_current(root);
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry?;
        let Some(id) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if check_id(&id).is_err() || !entry.file_type()?.is_dir() {
            continue;
        }
        let info = match read_meta(releases, &id) {
            Some(doc) => ReleaseInfo {
                current: current.as_deref() == Some(&id),
                id,
                seq: doc.seq,
                deployed: Some(doc.deployed),
                content_sha256: doc.content_sha256,
                commit: doc.commit,
            },
            None => ReleaseInfo {
                current: current.as_deref() == Some(&id),
                id,
                seq: 0,
                deployed: entry.metadata()?.modified().ok().map(rfc3339),
                content_sha256: None,
                commit: None,
            },
        };
        out.push(info);
    }
    out.sort_by(|a, b| (b.seq, &b.deployed, &b.id).cmp(&(a.seq, &a.deployed, &a.id)));
    Ok(out)
}

/// `2026-11-27T03:04:05.123456789Z`: fixed width, so text order is time order.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        d.subsec_nanos()
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_times() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
        let t = UNIX_EPOCH + Duration::new(1_795_748_645, 7);
        assert_eq!(rfc3339(t), "2026-11-27T03:04:05.000000007Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000000000Z");
    }
}
