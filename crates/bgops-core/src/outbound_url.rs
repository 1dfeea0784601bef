//! Outbound URL safety (SPEC §8, §9): the rules every URL bgops POSTs to must pass — completion
//! callbacks and HTTP plug-in endpoints alike — and the address ranges it must never reach.
//!
//! [`OutboundUrl`] can only hold a URL that passed the rules ("parse, don't validate"). Host
//! names are not resolved here (no I/O in this crate): the outbound client resolves them at
//! connection time and refuses every address [`is_forbidden_ip`] rejects, so a DNS answer that
//! changes after the check still cannot reach an internal address.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

use crate::error::{ApiError, ErrorCode};

/// The longest outbound URL accepted, in bytes (as written and once normalised).
pub const MAX_URL_LEN: usize = 2048;

/// The message of `0x80097328`.
pub const NOT_HTTPS_MESSAGE: &str = "Provided CallbackUri does not follow https scheme.";
/// The message of `0x80097329`.
pub const HASH_MESSAGE: &str =
    "Symbol # was used in callback URL query string which could lead to injection attacks.";
/// The message of `0x80040203` for a URL that reaches a forbidden address.
pub const FORBIDDEN_ADDRESS_MESSAGE: &str =
    "Callback URL resolves to a private or loopback address.";

/// Which relaxations of the outbound URL rules are switched on (`--callback-allow-http`,
/// `--callback-allow-private`); both are off by default, the safe setting for a service
/// reachable by untrusted callers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UrlPolicy {
    /// Accept `http://` as well as `https://` (local development, test receivers).
    pub allow_http: bool,
    /// Accept hosts that are or resolve to loopback, private, link-local and other internal
    /// addresses (a receiver on the same machine or network).
    pub allow_private: bool,
}

impl UrlPolicy {
    /// Everything allowed: for tests and local set-ups with receivers on loopback.
    pub const PERMISSIVE: Self = Self {
        allow_http: true,
        allow_private: true,
    };

    /// Whether a connection to `ip` is refused under this policy.
    pub fn refuses(&self, ip: IpAddr) -> bool {
        !self.allow_private && is_forbidden_ip(ip)
    }
}

/// Why a URL is not acceptable as an outbound target.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Longer than [`MAX_URL_LEN`].
    #[error("the URL is {0} bytes long; at most {MAX_URL_LEN} are accepted")]
    TooLong(usize),
    /// Not an absolute URL.
    #[error("'{0}' is not an absolute URL")]
    Malformed(String),
    /// Not `https` (or `http` when allowed).
    #[error("the URL scheme '{0}' is not accepted: use https")]
    NotHttps(String),
    /// Contains `#`.
    #[error("the URL contains '#', which is not accepted")]
    Hash,
    /// Has no host.
    #[error("the URL has no host")]
    NoHost,
    /// Carries a user name or password.
    #[error("the URL carries a user name or password, which is not accepted")]
    UserInfo,
    /// The host is, or resolves to, a forbidden address.
    #[error(
        "the URL's host is or resolves to {0}, a private, loopback or otherwise internal address"
    )]
    ForbiddenAddress(IpAddr),
}

impl UrlError {
    /// The error a Web API caller gets for a refused callback URL (SPEC §9): 400 with
    /// `0x80097328`, `0x80097329`, or `0x80040203` for the rest.
    pub fn api_error(&self) -> ApiError {
        match self {
            Self::NotHttps(_) => {
                ApiError::new(400, ErrorCode::CALLBACK_NOT_HTTPS, NOT_HTTPS_MESSAGE)
            }
            Self::Hash => ApiError::new(400, ErrorCode::CALLBACK_HASH, HASH_MESSAGE),
            Self::ForbiddenAddress(_) => {
                ApiError::new(400, ErrorCode::INVALID_ARGUMENT, FORBIDDEN_ADDRESS_MESSAGE)
            }
            other => ApiError::invalid_argument(format!("Invalid callback URL: {other}.")),
        }
    }
}

/// Whether a host name is `localhost` or a subdomain of it (RFC 6761), trailing dot or not.
fn is_localhost_name(host: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    h == "localhost" || h.ends_with(".localhost")
}

/// A URL bgops may send to: absolute, `https` (or `http` when the policy allows), without `#`,
/// user info or a forbidden literal IP host, at most [`MAX_URL_LEN`] bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct OutboundUrl(Url);

impl OutboundUrl {
    /// Checks `s` against the rules of `policy`.
    pub fn parse(s: &str, policy: &UrlPolicy) -> Result<OutboundUrl, UrlError> {
        if s.len() > MAX_URL_LEN {
            return Err(UrlError::TooLong(s.len()));
        }
        let url = Url::parse(s).map_err(|e| match e {
            url::ParseError::EmptyHost => UrlError::NoHost,
            _ => UrlError::Malformed(s.to_owned()),
        })?;
        match url.scheme() {
            "https" => {}
            "http" if policy.allow_http => {}
            other => return Err(UrlError::NotHttps(other.to_owned())),
        }
        if s.contains('#') || url.fragment().is_some() {
            return Err(UrlError::Hash);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlError::UserInfo);
        }
        let ip = match url.host() {
            None => return Err(UrlError::NoHost),
            Some(Host::Domain("")) => return Err(UrlError::NoHost),
            // RFC 6761: `localhost` and its subdomains are loopback by definition, whatever a
            // resolver answers (with or without the trailing dot).
            Some(Host::Domain(d)) if is_localhost_name(d) && !policy.allow_private => {
                return Err(UrlError::ForbiddenAddress(IpAddr::V4(
                    std::net::Ipv4Addr::LOCALHOST,
                )))
            }
            Some(Host::Domain(_)) => None,
            Some(Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
            Some(Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
        };
        if let Some(ip) = ip {
            if policy.refuses(ip) {
                return Err(UrlError::ForbiddenAddress(ip));
            }
        }
        if url.as_str().len() > MAX_URL_LEN {
            return Err(UrlError::TooLong(url.as_str().len()));
        }
        Ok(Self(url))
    }

    /// The parsed URL.
    pub fn url(&self) -> &Url {
        &self.0
    }

    /// The normalised URL text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The host when it is a literal IP address (the DNS resolver is not consulted for those,
    /// so the sender checks them itself).
    pub fn ip_host(&self) -> Option<IpAddr> {
        match self.0.host()? {
            Host::Domain(_) => None,
            Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
            Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
        }
    }
}

impl fmt::Display for OutboundUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

impl fmt::Debug for OutboundUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OutboundUrl({})", self.0.as_str())
    }
}

/// Whether `ip` is an address an outbound request must not reach unless private addresses are
/// allowed: loopback, unspecified, private (RFC 1918, RFC 4193), shared (CGNAT), link-local,
/// multicast, broadcast and reserved, documentation and benchmarking ranges. IPv6 forms that
/// carry an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64, 6to4) are judged by that address.
pub fn is_forbidden_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_forbidden_v4(v4),
        IpAddr::V6(v6) => is_forbidden_v6(v6),
    }
}

fn is_forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    a == 0 // 0.0.0.0/8 "this network", including the unspecified address
        || a == 10 // RFC 1918
        || (a == 100 && (64..128).contains(&b)) // 100.64.0.0/10 shared address space (CGNAT)
        || a == 127 // loopback
        || (a == 169 && b == 254) // link-local
        || (a == 172 && (16..32).contains(&b)) // RFC 1918
        || (a == 192 && b == 0 && c == 0) // 192.0.0.0/24 IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // TEST-NET-1
        || (a == 192 && b == 168) // RFC 1918
        || (a == 198 && (b == 18 || b == 19)) // 198.18.0.0/15 benchmarking
        || (a == 198 && b == 51 && c == 100) // TEST-NET-2
        || (a == 203 && b == 0 && c == 113) // TEST-NET-3
        || a >= 224 // multicast 224/4, reserved 240/4 and broadcast 255.255.255.255
}

fn is_forbidden_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = embedded_v4(ip) {
        return is_forbidden_v4(v4);
    }
    let s = ip.segments();
    ip.is_unspecified()
        || ip.is_loopback()
        || (s[0] & 0xfe00) == 0xfc00 // fc00::/7 unique local (RFC 4193)
        || (s[0] & 0xffc0) == 0xfe80 // fe80::/10 link-local
        || (s[0] & 0xffc0) == 0xfec0 // fec0::/10 deprecated site-local
        || (s[0] & 0xff00) == 0xff00 // ff00::/8 multicast
        || (s[0] == 0x2001 && s[1] == 0x0db8) // 2001:db8::/32 documentation
        || (s[0] == 0x0064 && s[1] == 0xff9b && s[2] == 0x0001) // 64:ff9b:1::/48 local NAT64
        || (s[0] == 0x0100 && s[1] == 0 && s[2] == 0 && s[3] == 0) // 100::/64 discard-only
}

/// The IPv4 address an IPv6 address stands for, if it is one of the forms that reach IPv4:
/// IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d` (not `::` or `::1`), NAT64
/// `64:ff9b::a.b.c.d`, or 6to4 `2002:aabb:ccdd::/48`.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(low),
        [0, 0, 0, 0, 0, 0, 0, 0 | 1] => None,
        [0, 0, 0, 0, 0, 0, _, _] => Some(low),
        [0x0064, 0xff9b, 0, 0, 0, 0, _, _] => Some(low),
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: UrlPolicy = UrlPolicy {
        allow_http: false,
        allow_private: false,
    };

    fn forbidden(s: &str) -> bool {
        is_forbidden_ip(s.parse().unwrap())
    }

    #[test]
    fn ipv4_forbidden_ranges_and_their_edges() {
        let cases = [
            // (range, first, last, just outside)
            ("0.0.0.0/8", "0.0.0.0", "0.255.255.255", "1.0.0.0"),
            ("10/8", "10.0.0.0", "10.255.255.255", "11.0.0.0"),
            ("100.64/10", "100.64.0.0", "100.127.255.255", "100.128.0.0"),
            ("127/8", "127.0.0.1", "127.255.255.255", "128.0.0.0"),
            (
                "169.254/16",
                "169.254.0.0",
                "169.254.255.255",
                "169.255.0.0",
            ),
            ("172.16/12", "172.16.0.0", "172.31.255.255", "172.32.0.0"),
            ("192.0.0/24", "192.0.0.0", "192.0.0.255", "192.0.1.0"),
            ("192.0.2/24", "192.0.2.0", "192.0.2.255", "192.0.3.0"),
            (
                "192.168/16",
                "192.168.0.0",
                "192.168.255.255",
                "192.169.0.0",
            ),
            ("198.18/15", "198.18.0.0", "198.19.255.255", "198.20.0.0"),
            (
                "198.51.100/24",
                "198.51.100.0",
                "198.51.100.255",
                "198.51.101.0",
            ),
            (
                "203.0.113/24",
                "203.0.113.0",
                "203.0.113.255",
                "203.0.114.0",
            ),
            (
                "multicast 224/4",
                "224.0.0.0",
                "239.255.255.255",
                "223.255.255.255",
            ),
            (
                "reserved 240/4",
                "240.0.0.0",
                "255.255.255.254",
                "223.0.0.1",
            ),
            ("broadcast", "255.255.255.255", "255.255.255.255", "8.8.8.8"),
        ];
        for (range, first, last, outside) in cases {
            assert!(forbidden(first), "{range}: {first}");
            assert!(forbidden(last), "{range}: {last}");
            assert!(!forbidden(outside), "{range}: {outside} is public");
        }
        assert!(forbidden("100.100.1.1"));
        assert!(!forbidden("100.63.255.255"));
        assert!(!forbidden("172.15.255.255"));
        assert!(!forbidden("169.253.255.255"));
        assert!(!forbidden("93.184.216.34"));
    }

    #[test]
    fn ipv6_forbidden_ranges() {
        for ip in [
            "::",
            "::1",
            "fc00::1",
            "fdff:ffff::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "ff0e::1",
            "2001:db8::1",
            "2001:db8:ffff::1",
            "64:ff9b:1::1",
            "100::1",
        ] {
            assert!(forbidden(ip), "{ip}");
        }
        for ip in [
            "2001:4860:4860::8888",
            "2606:4700::1111",
            "fbff::1",
            "fe00::1",
            "2001:db9::1",
        ] {
            assert!(!forbidden(ip), "{ip} is public");
        }
    }

    #[test]
    fn ipv6_forms_carrying_ipv4_are_judged_as_ipv4() {
        for ip in [
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:169.254.169.254",
            "::ffff:0.0.0.0",
            "::127.0.0.1",
            "::192.168.0.1",
            "64:ff9b::127.0.0.1",
            "64:ff9b::10.0.0.1",
            "2002:7f00:1::",
            "2002:c0a8:101::1",
        ] {
            assert!(forbidden(ip), "{ip}");
        }
        for ip in [
            "::ffff:8.8.8.8",
            "::8.8.8.8",
            "64:ff9b::8.8.8.8",
            "2002:808:808::1",
        ] {
            assert!(!forbidden(ip), "{ip} is public");
        }
    }

    #[test]
    fn accepts_public_https_urls() {
        for s in [
            "https://example.com/hook",
            "https://example.com:8443/a/b?x=1&y=2",
            "https://8.8.8.8/x",
            "https://[2001:4860:4860::8888]/x",
        ] {
            let u = OutboundUrl::parse(s, &STRICT).unwrap();
            assert_eq!(u.as_str(), s);
        }
        let u = OutboundUrl::parse("https://8.8.8.8/x", &STRICT).unwrap();
        assert_eq!(u.ip_host(), Some("8.8.8.8".parse().unwrap()));
        assert_eq!(
            OutboundUrl::parse("https://example.com", &STRICT)
                .unwrap()
                .ip_host(),
            None
        );
    }

    #[test]
    fn http_needs_the_switch() {
        let e = OutboundUrl::parse("http://example.com/x", &STRICT).unwrap_err();
        assert_eq!(e, UrlError::NotHttps("http".into()));
        let api = e.api_error();
        assert_eq!((api.status, api.code), (400, ErrorCode::CALLBACK_NOT_HTTPS));
        assert_eq!(api.message, NOT_HTTPS_MESSAGE);
        let relaxed = UrlPolicy {
            allow_http: true,
            allow_private: false,
        };
        assert!(OutboundUrl::parse("http://example.com/x", &relaxed).is_ok());
        for s in ["ftp://example.com/x", "file:///etc/passwd", "gopher://x/"] {
            assert!(
                matches!(OutboundUrl::parse(s, &relaxed), Err(UrlError::NotHttps(_))),
                "{s}"
            );
        }
    }

    #[test]
    fn hash_is_refused_anywhere() {
        for s in [
            "https://example.com/x?a=1#b",
            "https://example.com/x#",
            "https://example.com/#frag",
        ] {
            let e = OutboundUrl::parse(s, &STRICT).unwrap_err();
            assert_eq!(e, UrlError::Hash, "{s}");
            let api = e.api_error();
            assert_eq!((api.status, api.code), (400, ErrorCode::CALLBACK_HASH));
            assert_eq!(api.message, HASH_MESSAGE);
        }
    }

    #[test]
    fn malformed_hostless_and_userinfo_urls_are_refused() {
        for s in [
            "",
            "example.com/x",
            "/relative",
            "https//example.com",
            "https://exa mple.com/",
        ] {
            assert!(
                matches!(OutboundUrl::parse(s, &STRICT), Err(UrlError::Malformed(_))),
                "{s}"
            );
        }
        assert_eq!(
            OutboundUrl::parse("https://", &STRICT),
            Err(UrlError::NoHost)
        );
        assert_eq!(
            OutboundUrl::parse("https://:443/x", &STRICT),
            Err(UrlError::NoHost)
        );
        for s in [
            "https://user@example.com/",
            "https://user:pw@example.com/",
            "https://:pw@example.com/",
        ] {
            assert_eq!(
                OutboundUrl::parse(s, &STRICT),
                Err(UrlError::UserInfo),
                "{s}"
            );
        }
        let api = UrlError::UserInfo.api_error();
        assert_eq!((api.status, api.code), (400, ErrorCode::INVALID_ARGUMENT));
    }

    #[test]
    fn length_is_bounded() {
        let base = "https://example.com/";
        let ok = format!("{base}{}", "a".repeat(MAX_URL_LEN - base.len()));
        assert!(OutboundUrl::parse(&ok, &STRICT).is_ok());
        let long = format!("{ok}a");
        assert_eq!(
            OutboundUrl::parse(&long, &STRICT),
            Err(UrlError::TooLong(MAX_URL_LEN + 1))
        );
        // Percent-encoding can make the normalised form longer than what was written.
        let spaces = format!("{base}{}x", " ".repeat(1000));
        assert!(matches!(
            OutboundUrl::parse(&spaces, &STRICT),
            Err(UrlError::TooLong(_))
        ));
    }

    #[test]
    fn forbidden_literal_hosts_are_refused_unless_allowed() {
        for s in [
            "https://127.0.0.1/x",
            "https://127.1/x",
            "https://2130706433/x",
            "https://0x7f000001/x",
            "https://10.0.0.1/x",
            "https://169.254.169.254/latest/meta-data",
            "https://0.0.0.0/",
            "https://[::1]/x",
            "https://[::ffff:127.0.0.1]/x",
            "https://[::ffff:7f00:1]/x",
            "https://[fd00::1]/x",
            "https://[fe80::1]/x",
            "https://[64:ff9b::a00:1]/x",
        ] {
            let e = OutboundUrl::parse(s, &STRICT).unwrap_err();
            assert!(matches!(e, UrlError::ForbiddenAddress(_)), "{s}: {e:?}");
            let api = e.api_error();
            assert_eq!((api.status, api.code), (400, ErrorCode::INVALID_ARGUMENT));
            assert_eq!(api.message, FORBIDDEN_ADDRESS_MESSAGE);
            assert!(OutboundUrl::parse(s, &UrlPolicy::PERMISSIVE).is_ok(), "{s}");
        }
        // Other names are resolved (and checked) at connection time, not here.
        assert!(OutboundUrl::parse("https://example.com/x", &STRICT).is_ok());
    }

    #[test]
    fn policy_refuses_only_without_allow_private() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(STRICT.refuses(ip));
        assert!(!UrlPolicy::PERMISSIVE.refuses(ip));
        assert!(!STRICT.refuses("1.1.1.1".parse().unwrap()));
        assert_eq!(UrlPolicy::default(), STRICT);
    }

    #[test]
    fn localhost_names_are_loopback_by_definition() {
        let strict = UrlPolicy::default();
        for u in [
            "https://localhost/x",
            "https://localhost./x",
            "https://a.b.LOCALHOST/x",
        ] {
            assert!(
                matches!(
                    OutboundUrl::parse(u, &strict),
                    Err(UrlError::ForbiddenAddress(_))
                ),
                "{u}"
            );
        }
        assert!(OutboundUrl::parse("https://localhost./x", &UrlPolicy::PERMISSIVE).is_ok());
        assert!(OutboundUrl::parse("https://notlocalhost.example/x", &strict).is_ok());
    }
}
