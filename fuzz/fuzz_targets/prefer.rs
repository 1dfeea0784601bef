//! The `Prefer` request header: `prefer::parse` on arbitrary header text and every question
//! the handlers ask of the result (`respond-async`, callback URLs, annotations, `wait`,
//! `return=representation`). A bad `wait` must be a 4xx.
#![no_main]

use bgops_server::prefer::{self, Prefer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|header: &str| {
    let prefer = Prefer(prefer::parse(header));
    for p in &prefer.0 {
        assert_eq!(p.name, p.name.to_ascii_lowercase());
    }
    let _ = prefer.respond_async();
    let _ = prefer.callback_urls();
    let _ = prefer.include_annotations();
    let _ = prefer.return_representation();
    match prefer.wait() {
        Ok(Some(wait)) => assert!(wait <= prefer::MAX_WAIT),
        Ok(None) => {}
        Err(e) => assert!(e.status < 500, "{e:?}"),
    }
});
