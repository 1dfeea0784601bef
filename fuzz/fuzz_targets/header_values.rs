//! Small header and value parsers, each on the whole input: `traceparent`
//! (`TraceParent::parse`, its printed form read back the same), RFC 3339 date-times
//! (`Timestamp::parse_rfc3339`, as parameters and filters carry them; shown with
//! `to_dataverse` and read back as the same second), and a receiver's `Retry-After`
//! (`callback::parse_retry_after`).
#![no_main]

use bgops_core::callback::parse_retry_after;
use bgops_core::clock::Timestamp;
use bgops_core::TraceParent;
use libfuzzer_sys::fuzz_target;

/// 2023-11-14T22:13:20Z.
const NOW: Timestamp = Timestamp(1_700_000_000_000);

fuzz_target!(|text: &str| {
    if let Ok(tp) = TraceParent::parse(text) {
        assert_eq!(TraceParent::parse(&tp.to_string()), Ok(tp), "{tp}");
        let _ = tp.trace_id_hex();
        let _ = tp.with_span([1; 8]);
    }
    if let Some(t) = Timestamp::parse_rfc3339(text) {
        let shown = t.to_dataverse();
        let second = Timestamp(t.0.div_euclid(1000) * 1000);
        assert_eq!(Timestamp::parse_rfc3339(&shown), Some(second), "{shown}");
    }
    let _ = parse_retry_after(text, NOW);
});
