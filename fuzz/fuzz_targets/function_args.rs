//! Function calls in the URL. The input is `ARGS?QUERY` for
//! `GET /api/data/v9.2/Fuzz_Everything(ARGS)?QUERY` — e.g. `String='a',Integer=@p?@p=1` —
//! against a definition with a parameter of every type: `function_parameters` with the query
//! decoded as the handler does, and `literal_to_json` on the argument text as one literal.
#![no_main]

use bgops_core::function_args::{function_parameters, literal_to_json};
use bgops_fuzz::everything_api;
use bgops_server::query_pairs;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let (args, query) = text.split_once('?').unwrap_or((text, ""));
    if let Err(e) = literal_to_json(args) {
        assert!(e.status < 500, "{e:?}");
    }
    match function_parameters(everything_api(), args, &query_pairs(query)) {
        Ok(inputs) => {
            let _ = inputs.to_key_value_json();
        }
        Err(e) => assert!(e.status < 500, "{e:?}"),
    }
});
