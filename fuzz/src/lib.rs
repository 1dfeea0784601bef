//! What several fuzz targets share: the standard catalogue, built once, and a custom API with a
//! request parameter of every type.

use std::sync::OnceLock;

use bgops_core::catalogue::Catalogue;
use bgops_core::custom_api::{CustomApi, RequestParameter};
use bgops_core::params::ParamType;

/// The standard catalogue, built once per process.
pub fn catalogue() -> &'static Catalogue {
    static C: OnceLock<Catalogue> = OnceLock::new();
    C.get_or_init(Catalogue::standard)
}

/// `Fuzz_Everything`: one request parameter of every type, named after its type label
/// (`String`, `Integer`, `Decimal`, `Boolean`, `DateTime`, `Guid`, `EntityReference`,
/// `StringArray`, …). Only `String` is required, so most bodies the fuzzer writes get past the
/// check for missing parameters to the values themselves.
pub fn everything_api() -> &'static CustomApi {
    static API: OnceLock<CustomApi> = OnceLock::new();
    API.get_or_init(|| CustomApi {
        unique_name: "Fuzz_Everything".into(),
        display_name: "Fuzz everything".into(),
        is_function: false,
        request_parameters: ParamType::ALL
            .iter()
            .map(|t| RequestParameter {
                name: t.label().to_owned(),
                param_type: *t,
                optional: *t != ParamType::String,
            })
            .collect(),
        response_properties: Vec::new(),
        plugin_type: "Fuzz".into(),
        execute_privilege: None,
        attempt_timeout: None,
        max_retries: None,
    })
}
