//! The `file_line` provider: one line of an existing file replaced, inserted or removed
//! (LANGUAGE.md §5). The file is read and rewritten through the root's handles as the `file`
//! provider does (no symlink escape), atomically, its old content backed up first.

use std::io;

use regex::Regex;

use super::{Ctx, Params, Provider};
use crate::apply::error::Error;
use crate::apply::{Action, Change, Outcome};
use crate::catalog::json::ResourceDoc;
use crate::model::digest::sha256_hex;

pub(crate) struct FileLineProvider;

/// What the resource asks for.
struct Want {
    path: String,
    line: String,
    matcher: Option<Regex>,
    after: Option<Regex>,
    present: bool,
    multiple: bool,
}

impl Want {
    fn from(r: &ResourceDoc) -> Result<Want, Error> {
        let p = Params::new(r);
        let regex = |name: &str| -> Result<Option<Regex>, Error> {
            p.str(name)?
                .map(|s| {
                    Regex::new(&s)
                        .map_err(|e| Error::bad_catalog(format!("{name}: not a regex: {e}")))
                })
                .transpose()
        };
        let present = match p.str("ensure")?.as_deref() {
            None | Some("present") => true,
            Some("absent") => false,
            Some(other) => {
                return Err(Error::bad_catalog(format!(
                    "ensure: unknown value {other:?}"
                )))
            }
        };
        Ok(Want {
            path: p.str("path")?.ok_or("file_line needs a path")?,
            line: p.str("line")?.ok_or("file_line needs a line")?,
            matcher: regex("match")?,
            after: regex("after")?,
            present,
            multiple: p.bool("multiple", false)?,
        })
    }
}

/// `text` edited as `want` says (lines without their `\n`; a final newline kept or added).
fn edit(text: &str, want: &Want) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let is_match = |l: &str| want.matcher.as_ref().is_some_and(|m| m.is_match(l));
    if want.present {
        let mut replaced = false;
        for l in lines.iter_mut() {
            if is_match(l) && (want.multiple || !replaced) {
                l.clone_from(&want.line);
                replaced = true;
            }
        }
        if !replaced && !lines.contains(&want.line) {
            let at = want
                .after
                .as_ref()
                .and_then(|a| lines.iter().position(|l| a.is_match(l)))
                .map_or(lines.len(), |i| i + 1);
            lines.insert(at, want.line.clone());
        }
    } else if want.matcher.is_some() {
        let mut removed = false;
        lines.retain(|l| {
            let drop = is_match(l) && (want.multiple || !removed);
            removed |= drop;
            !drop
        });
    } else {
        lines.retain(|l| *l != want.line);
    }
    let mut out = lines.join("\n");
    if !lines.is_empty() {
        out.push('\n');
    }
    out
}

impl Provider for FileLineProvider {
    /// Only the file it edits changes.
    fn keeps_dirs(&self) -> bool {
        true
    }

    fn sync(&self, r: &ResourceDoc, cx: &Ctx) -> Result<Outcome, Error> {
        let want = Want::from(r)?;
        // The engine syncs independent resources in parallel, and several `file_line`s
        // often edit one file: each read-edit-write runs alone, so none is lost.
        static EDITING: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _alone = EDITING.lock().unwrap_or_else(|e| e.into_inner());
        let real = cx.resolve(&want.path).map_err(Error::from)?;
        let st = match real.lstat() {
            Ok(st) => st,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(format!(
                    "{} does not exist (a file_line edits an existing file)",
                    want.path
                )
                .into())
            }
            Err(e) => {
                return Err(Error::io(
                    format!("cannot read {}", want.path),
                    real.shown(),
                    e,
                ))
            }
        };
        if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
            return Err(format!("{} is not a regular file", want.path).into());
        }
        let old = real
            .read()
            .map_err(|e| Error::io(format!("cannot read {}", want.path), real.shown(), e))?;
        let text = String::from_utf8(old.clone())
            .map_err(|_| format!("{} is not UTF-8 text", want.path))?;
        let new = edit(&text, &want);
        if new == text {
            return Ok(Outcome::new(Action::None, Vec::new()));
        }
        let changes = vec![Change::new(
            "content",
            format!("sha256:{}", sha256_hex(&old)),
            format!("sha256:{}", sha256_hex(new.as_bytes())),
            if want.present {
                "line set"
            } else {
                "line removed"
            },
        )];
        let mut out = Outcome::new(Action::Change, changes);
        if cx.show_diff {
            out.diff = Some(super::file::unified_diff(&old, new.as_bytes(), &want.path));
        }
        if !cx.noop {
            let meta = (st.st_mode & 0o7777, st.st_uid, st.st_gid);
            cx.backups
                .save_file(&want.path, &old, Some(meta))
                .map_err(|e| Error::io(format!("cannot back up {}", want.path), &*want.path, e))?;
            super::file::write_atomic(
                &real,
                new.as_bytes(),
                meta.0,
                Some(meta.1),
                Some(meta.2),
                cx.fsync,
            )
            .map_err(|e| Error::io(format!("cannot write {}", want.path), real.shown(), e))?;
            cx.touched(&real);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn want(
        line: &str,
        m: Option<&str>,
        after: Option<&str>,
        present: bool,
        multiple: bool,
    ) -> Want {
        Want {
            path: "/x".into(),
            line: line.into(),
            matcher: m.map(|m| Regex::new(m).unwrap()),
            after: after.map(|a| Regex::new(a).unwrap()),
            present,
            multiple,
        }
    }

    #[test]
    fn edits() {
        let text = "a\nsession x\nb\nsession y\n";
        let w = want("session z", Some("^session"), None, true, false);
        assert_eq!(edit(text, &w), "a\nsession z\nb\nsession y\n");
        let w = want("session z", Some("^session"), None, true, true);
        assert_eq!(edit(text, &w), "a\nsession z\nb\nsession z\n");
        let w = want("new", None, Some("^a$"), true, false);
        assert_eq!(edit(text, &w), "a\nnew\nsession x\nb\nsession y\n");
        let w = want("new", None, None, true, false);
        assert_eq!(edit("a", &w), "a\nnew\n");
        let w = want("b", None, None, true, false);
        assert_eq!(edit(text, &w), text, "a present line is left alone");
        let w = want("", Some("^session"), None, false, true);
        assert_eq!(edit(text, &w), "a\nb\n");
        let w = want("b", None, None, false, false);
        assert_eq!(edit(text, &w), "a\nsession x\nsession y\n");
    }
}
