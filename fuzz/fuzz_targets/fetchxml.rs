//! FetchXML (the `FetchXml` parameter of the export sample): `fetchxml::parse` on arbitrary
//! text, then, when it parses, `translate` against the standard catalogue, the paging
//! arithmetic and the `$skiptoken` fingerprint of the resulting plan. Every error renders.
#![no_main]

use bgops_core::fetchxml;
use bgops_core::odata::skiptoken;
use bgops_fuzz::catalogue;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|xml: &str| {
    let fetch = match fetchxml::parse(xml) {
        Ok(fetch) => fetch,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    match fetchxml::translate(&fetch, catalogue()) {
        Ok(query) => {
            let _ = query.paging.rows_to_skip();
            let _ = skiptoken::fingerprint(&query.table, &query.plan);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
