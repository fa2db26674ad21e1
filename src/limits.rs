//! Bounds on hostile input: how much one node evaluation, one template render, one file read
//! and one language-server message may cost. Generous by default (a 100,000-resource site is
//! far below every one), each tunable through an environment variable, read once per process
//! (README, "Limits"). Exceeding one is a `resource-limit` diagnostic, never an abort.

use std::io::{self, Read};
use std::path::Path;
use std::sync::OnceLock;

/// The limits of this process.
#[derive(Clone, Debug)]
pub(crate) struct Limits {
    /// Steps of one node's evaluation: loop iterations, function calls and elements built
    /// (`FLEET_MAX_EVAL_STEPS`).
    pub eval_steps: u64,
    /// Bytes of strings and arrays one node's evaluation may build in all
    /// (`FLEET_MAX_EVAL_BYTES`; an element of an Array counts as the size of a value).
    pub eval_bytes: u64,
    /// The largest string or array (bytes) one expression may build, and the largest
    /// template output (`FLEET_MAX_VALUE_BYTES`).
    pub value_bytes: u64,
    /// minijinja fuel of one template render, about one per instruction
    /// (`FLEET_MAX_TEMPLATE_FUEL`).
    pub template_fuel: u64,
    /// The largest file `file()`, `template()`, `source` and `import` read
    /// (`FLEET_MAX_FILE_BYTES`).
    pub file_bytes: u64,
    /// The largest message `fleet lsp` accepts (`FLEET_MAX_LSP_MESSAGE_BYTES`).
    pub lsp_message_bytes: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            eval_steps: 50_000_000,
            eval_bytes: 2 << 30,
            value_bytes: 256 << 20,
            template_fuel: 100_000_000,
            file_bytes: 256 << 20,
            lsp_message_bytes: 64 << 20,
        }
    }
}

/// The limits, from the environment on first use.
pub(crate) fn get() -> &'static Limits {
    static LIMITS: OnceLock<Limits> = OnceLock::new();
    LIMITS.get_or_init(|| {
        let d = Limits::default();
        let var = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().replace('_', "").parse::<u64>().ok())
                .filter(|&n| n > 0)
                .unwrap_or(default)
        };
        Limits {
            eval_steps: var("FLEET_MAX_EVAL_STEPS", d.eval_steps),
            eval_bytes: var("FLEET_MAX_EVAL_BYTES", d.eval_bytes),
            value_bytes: var("FLEET_MAX_VALUE_BYTES", d.value_bytes),
            template_fuel: var("FLEET_MAX_TEMPLATE_FUEL", d.template_fuel),
            file_bytes: var("FLEET_MAX_FILE_BYTES", d.file_bytes),
            lsp_message_bytes: var("FLEET_MAX_LSP_MESSAGE_BYTES", d.lsp_message_bytes),
        }
    })
}

/// Why [`read_file`] gave nothing.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// Not a regular file: what it is ("a directory", "a FIFO", "a character device", …).
    NotRegular(&'static str),
    /// Larger than the limit (given).
    TooBig(u64),
    Io(io::Error),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::NotRegular(what) => write!(f, "it is {what}, not a regular file"),
            ReadError::TooBig(cap) => write!(
                f,
                "it is larger than {cap} bytes (FLEET_MAX_FILE_BYTES raises the limit)"
            ),
            ReadError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> ReadError {
        ReadError::Io(e)
    }
}

/// A regular file's bytes (symlinks followed), at most [`Limits::file_bytes`] of them.
/// FIFOs, sockets and devices are refused without reading (and opened without blocking, so a
/// FIFO swapped in between the check and the open cannot hang the caller either).
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, ReadError> {
    read_file_capped(path, get().file_bytes)
}

/// [`read_file`] with an explicit limit.
pub(crate) fn read_file_capped(path: &Path, cap: u64) -> Result<Vec<u8>, ReadError> {
    let file = open_regular(path)?;
    let meta = file.metadata()?;
    if meta.len() > cap {
        return Err(ReadError::TooBig(cap));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(cap + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(ReadError::TooBig(cap));
    }
    Ok(bytes)
}

/// Opens a regular file for reading (symlinks followed) without blocking on a FIFO swapped in
/// after the check; anything else is refused as what it is.
pub(crate) fn open_regular(path: &Path) -> Result<std::fs::File, ReadError> {
    use std::os::unix::fs::OpenOptionsExt;
    regular(&std::fs::metadata(path)?)?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    regular(&file.metadata()?)?;
    Ok(file)
}

/// `Ok` for a regular file, else what it is.
pub(crate) fn regular(meta: &std::fs::Metadata) -> Result<(), ReadError> {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    let what = if t.is_file() {
        return Ok(());
    } else if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else {
        "a special file"
    };
    Err(ReadError::NotRegular(what))
}
