//! `fleet fmt` on arbitrary text: no panic; a formatted result formats to itself; the
//! formatter never reports that its own output changed the meaning (`FmtError::Changed` is a
//! bug in fmt by its own definition). Non-UTF-8 input stops at `read_to_string` in the CLI.
#![no_main]

use fleet::internals::fmt::{format_text, FmtError};
use fleet::internals::source::FileId;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match format_text(FileId(0), text) {
        Ok(out) => match format_text(FileId(0), &out) {
            Ok(again) => assert_eq!(again, out, "fmt is not idempotent"),
            Err(FmtError::Syntax(d)) => panic!("fmt output does not parse: {}", d[0].message),
            Err(FmtError::Changed(why)) => panic!("fmt output formats differently: {why}"),
        },
        Err(FmtError::Syntax(_)) => {}
        Err(FmtError::Changed(why)) => panic!("fmt would change the meaning: {why}"),
    }
});
