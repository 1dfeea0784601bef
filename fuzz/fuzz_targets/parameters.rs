//! Custom API parameter JSON: a request body (arbitrary bytes read by serde_json as the server
//! reads it) checked by `CustomApi::validate_request` against a definition with a parameter of
//! every type; accepted inputs must survive the stored Key/Value form the engine reads back
//! (`to_key_value_json` → `parse_key_value_json` → `from_storage_string`) with their type; and
//! `parse_key_value_json` on arbitrary stored text.
#![no_main]

use bgops_core::params::{parse_key_value_json, ParamValue};
use bgops_fuzz::everything_api;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_key_value_json(text);
    }
    let Ok(body) = serde_json::from_slice::<Map<String, Value>>(data) else {
        return;
    };
    let api = everything_api();
    let inputs = match api.validate_request(&body) {
        Ok(inputs) => inputs,
        Err(e) => {
            assert!(e.status < 500, "{e:?}");
            return;
        }
    };
    // What the engine hands the plug-in after a restart is what the caller sent.
    let stored = inputs.to_key_value_json();
    let back = parse_key_value_json(&stored);
    assert_eq!(back.len(), inputs.0.len(), "{stored}");
    for ((name, value), (stored_name, text)) in inputs.0.iter().zip(&back) {
        assert_eq!(name, stored_name);
        let ty = value.param_type();
        let read = ParamValue::from_storage_string(ty, text);
        match (value, &read) {
            // Stored to the second, as the Web API shows date-times.
            (ParamValue::DateTime(t), Some(ParamValue::DateTime(r))) => {
                assert_eq!(t.to_dataverse(), r.to_dataverse(), "{name}: {text}")
            }
            _ => assert_eq!(Some(value), read.as_ref(), "{name} stored as {text:?}"),
        }
        let _ = value.to_json();
    }
    let _ = inputs.to_json_text();
});
