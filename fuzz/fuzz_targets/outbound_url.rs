//! Callback and plug-in URLs (`Prefer: odata.callback; url="…"`, `bgops_endpointurl`):
//! `OutboundUrl::parse` on arbitrary text under each policy. A URL accepted under the strict
//! policy is https, has no user info or fragment, and no forbidden literal IP host.
#![no_main]

use bgops_core::outbound_url::{is_forbidden_ip, OutboundUrl, UrlPolicy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(url) = OutboundUrl::parse(text, &UrlPolicy::default()) {
        assert_eq!(url.url().scheme(), "https", "{text}");
        assert!(
            url.url().username().is_empty() && url.url().password().is_none(),
            "{text}"
        );
        assert!(url.url().fragment().is_none(), "{text}");
        assert!(!url.ip_host().is_some_and(is_forbidden_ip), "{text}");
        // What is stored is accepted again.
        assert!(
            OutboundUrl::parse(url.as_str(), &UrlPolicy::default()).is_ok(),
            "{text}"
        );
    }
    for policy in [
        UrlPolicy::PERMISSIVE,
        UrlPolicy {
            allow_http: true,
            allow_private: false,
        },
    ] {
        if let Err(e) = OutboundUrl::parse(text, &policy) {
            let _ = e.api_error();
        }
    }
});
