//! The `--custom-apis` TOML file: `custom_api_file::parse` on arbitrary text, then the rows a
//! declared API and plug-in type become.
#![no_main]

use bgops_core::custom_api_file::parse;
use bgops_core::custom_api_rows::Source;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let Ok(defs) = parse(text) else {
        return;
    };
    for plugin in &defs.plugintypes {
        let _ = plugin.row(Source::File);
    }
    for api in &defs.customapis {
        let _ = api.rows(None, Source::File);
    }
});
