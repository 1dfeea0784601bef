//! The public origin of a request and its client's address. Behind a reverse proxy the URLs
//! bgops returns (`Location`, `@odata.nextLink`, callbacks' `location`) must carry the URL the
//! client used, not the proxy's view: `--public-url` sets it outright; otherwise, only when the
//! connection comes from a `--trusted-proxy` network, `Forwarded` (RFC 7239) or else
//! `X-Forwarded-Proto`/`-Host`/`-For` are honoured. Chains are read from the right: each hop is
//! believed only while the hop that reported it is trusted, so a client cannot forge its way in.

use std::net::IpAddr;

use axum::http::{header, HeaderMap};
use ipnet::IpNet;

/// How a request's origin is found.
#[derive(Clone, Debug, Default)]
pub struct ProxyPolicy {
    /// `--trusted-proxy`: peers whose forwarding headers are believed. Empty: none.
    pub trusted: Vec<IpNet>,
    /// `--public-url`: the origin (and path prefix) of every absolute URL, without a trailing
    /// `/`.
    pub public_url: Option<String>,
}

/// What [`ProxyPolicy::resolve`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// `{scheme}://{host}[/prefix]`: the root of every absolute URL of the answer.
    pub root: String,
    /// The client's address: the peer, or the first untrusted hop of a trusted chain.
    pub client: Option<IpAddr>,
}

impl ProxyPolicy {
    /// Whether `ip` is a trusted proxy.
    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.trusted.iter().any(|net| net.contains(&ip))
    }

    /// The client of a request from `peer` with `headers`: what every request needs (the
    /// audit log, service protection); the whole [`Origin`] is worked out only by the
    /// handlers that write URLs.
    pub fn client(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        self.walk(peer, headers).0
    }

    /// The origin of a request from `peer` with `headers`, served with `scheme`.
    pub fn resolve(&self, peer: Option<IpAddr>, headers: &HeaderMap, scheme: &str) -> Origin {
        let (client, proto, host) = self.walk(peer, headers);
        let root = match &self.public_url {
            Some(url) => url.clone(),
            None => {
                let host = host
                    .or_else(|| {
                        headers
                            .get(header::HOST)
                            .and_then(|h| h.to_str().ok())
                            .and_then(valid_host)
                    })
                    .unwrap_or_else(|| "localhost".to_owned());
                format!("{}://{host}", proto.as_deref().unwrap_or(scheme))
            }
        };
        Origin { root, client }
    }

    /// The client, and the scheme and host trusted proxies forwarded.
    fn walk(
        &self,
        peer: Option<IpAddr>,
        headers: &HeaderMap,
    ) -> (Option<IpAddr>, Option<String>, Option<String>) {
        let mut client = peer.map(canonical);
        let mut proto: Option<String> = None;
        let mut host: Option<String> = None;
        if client.is_some_and(|p| self.trusts(p)) {
            if headers.contains_key(header::FORWARDED) {
                for element in forwarded_elements(headers).iter().rev() {
                    if let Some(p) = element.proto.as_deref().and_then(valid_proto) {
                        proto = Some(p);
                    }
                    if let Some(h) = element.host.as_deref().and_then(valid_host) {
                        host = Some(h);
                    }
                    match element.for_ip {
                        Some(ip) => {
                            client = Some(ip);
                            if !self.trusts(ip) {
                                break;
                            }
                        }
                        // `unknown` or an obfuscated name: nothing further left is believed.
                        None => break,
                    }
                }
            } else {
                for ip in list(headers, "x-forwarded-for").iter().rev() {
                    let Some(ip) = node_ip(ip) else { break };
                    client = Some(ip);
                    if !self.trusts(ip) {
                        break;
                    }
                }
                proto = list(headers, "x-forwarded-proto")
                    .last()
                    .and_then(|p| valid_proto(p));
                host = list(headers, "x-forwarded-host")
                    .last()
                    .and_then(|h| valid_host(h));
            }
        }
        (client, proto, host)
    }
}

/// IPv4-mapped IPv6 addresses as IPv4, so `10.0.0.0/8` matches `::ffff:10.1.2.3`.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// One element of `Forwarded`.
#[derive(Debug, Default, PartialEq, Eq)]
struct Element {
    /// `for`, when it is an address (not `unknown` or obfuscated).
    for_ip: Option<IpAddr>,
    /// `proto`.
    proto: Option<String>,
    /// `host`.
    host: Option<String>,
}

/// The elements of every `Forwarded` header, in order (several headers are one list).
fn forwarded_elements(headers: &HeaderMap) -> Vec<Element> {
    let mut out = Vec::new();
    for value in headers.get_all(header::FORWARDED) {
        let Ok(text) = value.to_str() else {
            continue;
        };
        for element in split_outside_quotes(text, ',') {
            let mut e = Element::default();
            for pair in split_outside_quotes(&element, ';') {
                let Some((k, v)) = pair.split_once('=') else {
                    continue;
                };
                let v = unquote(v.trim());
                match k.trim().to_ascii_lowercase().as_str() {
                    "for" => e.for_ip = node_ip(&v),
                    "proto" => e.proto = Some(v),
                    "host" => e.host = Some(v),
                    _ => {}
                }
            }
            out.push(e);
        }
    }
    out
}

/// Splits at `sep` where it is not inside a quoted string.
fn split_outside_quotes(s: &str, sep: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            current.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => {
                current.push(c);
                escaped = true;
            }
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            c if c == sep && !quoted => parts.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    parts.push(current);
    parts
}

/// A token or a quoted string's content.
fn unquote(v: &str) -> String {
    match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => {
            let mut out = String::new();
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    if let Some(next) = chars.next() {
                        out.push(next);
                    }
                } else {
                    out.push(c);
                }
            }
            out
        }
        None => v.to_owned(),
    }
}

/// The address of a node: `192.0.2.1`, `192.0.2.1:8080`, `[2001:db8::1]`, `[2001:db8::1]:80`
/// or a bare IPv6 address (as `X-Forwarded-For` writes it); `None` for `unknown` and names.
fn node_ip(node: &str) -> Option<IpAddr> {
    let node = node.trim();
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Some(rest) = node.strip_prefix('[') {
        let (ip, _) = rest.split_once(']')?;
        return ip.parse::<IpAddr>().ok().map(canonical);
    }
    let (ip, port) = node.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    ip.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

/// The comma-separated values of every `name` header, trimmed.
fn list(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// `http` or `https`, lower-cased.
fn valid_proto(p: &str) -> Option<String> {
    let p = p.trim().to_ascii_lowercase();
    matches!(p.as_str(), "http" | "https").then_some(p)
}

/// A host and optional port, nothing else (no user info, path or spaces).
fn valid_host(h: &str) -> Option<String> {
    let h = h.trim();
    if h.is_empty() || h.len() > 255 || h.contains(['/', '@', ' ', '"', '\\', '?', '#']) {
        return None;
    }
    h.parse::<axum::http::uri::Authority>()
        .ok()
        .map(|a| a.as_str().to_owned())
}

/// Checks `--public-url`: an absolute http(s) URL with a host and no query or fragment;
/// returns it without a trailing `/`.
pub fn parse_public_url(s: &str) -> Result<String, String> {
    let uri: axum::http::Uri = s
        .parse()
        .map_err(|e| format!("--public-url '{s}' is not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => {
            return Err(format!(
                "--public-url '{s}' must start with https:// or http://"
            ))
        }
    }
    if uri.authority().is_none_or(|a| a.host().is_empty()) {
        return Err(format!("--public-url '{s}' has no host"));
    }
    if uri.query().is_some() || s.contains('#') || s.contains('@') {
        return Err(format!(
            "--public-url '{s}' must not have a query, fragment or user"
        ));
    }
    Ok(s.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    fn policy(trusted: &[&str]) -> ProxyPolicy {
        ProxyPolicy {
            trusted: trusted.iter().map(|n| n.parse().unwrap()).collect(),
            public_url: None,
        }
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn untrusted_peers_get_their_host_header_and_no_forwarding() {
        let h = headers(&[
            ("host", "bgops.internal:8080"),
            ("forwarded", "for=203.0.113.9;proto=https;host=evil.example"),
            ("x-forwarded-host", "evil.example"),
        ]);
        let o = policy(&[]).resolve(ip("10.0.0.5"), &h, "http");
        assert_eq!(o.root, "http://bgops.internal:8080");
        assert_eq!(o.client, ip("10.0.0.5"));
        let o = policy(&["192.168.0.0/16"]).resolve(ip("10.0.0.5"), &h, "http");
        assert_eq!(o.root, "http://bgops.internal:8080");
    }

    #[test]
    fn a_trusted_proxy_sets_scheme_host_and_client() {
        let h = headers(&[
            ("host", "bgops.internal:8080"),
            (
                "forwarded",
                "for=198.51.100.7;proto=https;host=ops.contoso.example",
            ),
        ]);
        let o = policy(&["10.0.0.0/8"]).resolve(ip("10.0.0.5"), &h, "http");
        assert_eq!(o.root, "https://ops.contoso.example");
        assert_eq!(o.client, ip("198.51.100.7"));
    }

    #[test]
    fn chains_are_read_from_the_right_and_stop_at_the_first_untrusted_hop() {
        // The client forged the first element; the edge proxy (10.0.0.9) appended the second
        // with what it saw; the inner proxy (10.0.0.5, the peer) appended the third.
        let h = headers(&[(
            "forwarded",
            "for=1.2.3.4;host=forged.example;proto=http, for=198.51.100.7;host=ops.contoso.example;proto=https, for=10.0.0.9;host=inner:8080;proto=http",
        )]);
        let o = policy(&["10.0.0.0/8"]).resolve(ip("10.0.0.5"), &h, "http");
        assert_eq!(o.client, ip("198.51.100.7"));
        assert_eq!(o.root, "https://ops.contoso.example");
    }

    #[test]
    fn x_forwarded_headers_from_a_trusted_peer() {
        let h = headers(&[
            ("host", "inner:8080"),
            ("x-forwarded-for", "1.2.3.4, 198.51.100.7, 10.0.0.9"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "ops.contoso.example:8443"),
        ]);
        let o = policy(&["10.0.0.0/8"]).resolve(ip("10.0.0.5"), &h, "http");
        assert_eq!(o.client, ip("198.51.100.7"));
        assert_eq!(o.root, "https://ops.contoso.example:8443");
    }

    #[test]
    fn quoted_ipv6_nodes_obfuscated_ones_and_bad_values() {
        let h = headers(&[(
            "forwarded",
            r#"for="[2001:db8:cafe::17]:4711";proto=HTTPS;host="ops.example", for=_hidden;host="bad/host""#,
        )]);
        let o = policy(&["::1/128"]).resolve(ip("::1"), &h, "http");
        // `_hidden` stops the walk at once; its bad host is ignored anyway.
        assert_eq!(o.client, ip("::1"));
        assert_eq!(o.root, "http://localhost");
        let h = headers(&[(
            "forwarded",
            r#"for="[2001:db8:cafe::17]:4711";proto=HTTPS;host="ops.example""#,
        )]);
        let o = policy(&["::1/128"]).resolve(ip("::1"), &h, "http");
        assert_eq!(o.client, ip("2001:db8:cafe::17"));
        assert_eq!(o.root, "https://ops.example");
    }

    #[test]
    fn the_public_url_wins_and_is_checked() {
        let mut p = policy(&[]);
        p.public_url = Some(parse_public_url("https://ops.contoso.example/bgops/").unwrap());
        let o = p.resolve(ip("10.0.0.5"), &headers(&[("host", "inner")]), "http");
        assert_eq!(o.root, "https://ops.contoso.example/bgops");
        assert!(parse_public_url("ftp://x").is_err());
        assert!(parse_public_url("https://x/?a=b").is_err());
        assert!(parse_public_url("not a url").is_err());
    }
}
