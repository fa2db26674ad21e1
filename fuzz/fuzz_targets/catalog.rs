//! The catalog reader of `fleet apply --catalog FILE.json`: parse and format check
//! (`CatalogDoc::read`), then the engine's input (edges resolved, duplicates refused). A
//! catalog that reads must also survive being written and read again unchanged.
#![no_main]

use fleet::internals::apply::engine::Input;
use fleet::internals::catalog::json::CatalogDoc;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The CLI reads the file with `read_to_string`: non-UTF-8 is an IO error there.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(doc) = CatalogDoc::read(text) else {
        return;
    };
    let _ = Input::from_doc(&doc);
    let again = CatalogDoc::read(&doc.to_pretty()).expect("a written catalog reads back");
    assert_eq!(again, doc, "a catalog changed through a write and a read");
});
