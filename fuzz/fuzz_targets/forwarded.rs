//! The request's public origin behind trusted proxies. The input is a peer address on the
//! first line, then `Name: value` header lines (`Forwarded`, `X-Forwarded-For/-Proto/-Host`,
//! `Host`); proxies in 10.0.0.0/8 and fd00::/8 are trusted. `ProxyPolicy::resolve` must give
//! `http(s)://` and an authority, nothing more, so the URLs built on it stay on that host; and
//! an untrusted peer's headers change nothing.
#![no_main]

use std::net::IpAddr;
use std::sync::OnceLock;

use bgops_server::forwarded::ProxyPolicy;
use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;

fn policy() -> &'static ProxyPolicy {
    static P: OnceLock<ProxyPolicy> = OnceLock::new();
    P.get_or_init(|| ProxyPolicy {
        trusted: vec!["10.0.0.0/8".parse().unwrap(), "fd00::/8".parse().unwrap()],
        public_url: None,
    })
}

/// What the policy trusts, written out (IPv4-mapped addresses count as IPv4).
fn trusted(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.octets()[0] == 10,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.octets()[0] == 10,
            None => v6.octets()[0] == 0xfd,
        },
    }
}

fuzz_target!(|text: &str| {
    let mut lines = text.split('\n');
    let peer: Option<IpAddr> = lines.next().and_then(|l| l.trim().parse().ok());
    let mut headers = HeaderMap::new();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.trim().as_bytes()),
            HeaderValue::from_str(value.trim()),
        ) else {
            continue;
        };
        headers.append(name, value);
    }
    let origin = policy().resolve(peer, &headers, "https");
    let authority = origin
        .root
        .strip_prefix("https://")
        .or_else(|| origin.root.strip_prefix("http://"))
        .unwrap_or_else(|| panic!("root {:?} has no http(s) scheme", origin.root));
    let uri: http::Uri = format!("{}/api/data/v9.2/", origin.root)
        .parse()
        .unwrap_or_else(|e| panic!("root {:?} does not make a URL: {e}", origin.root));
    assert_eq!(uri.authority().map(|a| a.as_str()), Some(authority));
    assert_eq!(uri.path(), "/api/data/v9.2/");
    if let Some(peer) = peer.filter(|p| !trusted(*p)) {
        headers.remove("forwarded");
        headers.remove("x-forwarded-for");
        headers.remove("x-forwarded-proto");
        headers.remove("x-forwarded-host");
        assert_eq!(policy().resolve(Some(peer), &headers, "https"), origin);
    }
});
