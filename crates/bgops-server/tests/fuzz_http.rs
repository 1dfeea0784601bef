//! Fuzzing the HTTP surface in process: arbitrary methods, paths, OData query options
//! (`$filter`, `$select`, `$skiptoken`, aliases…), `Prefer` headers, bearer tokens (API keys and
//! JWTs with arbitrary headers and claims), parameter JSON and FetchXML go through the real
//! router over a real SQLite store. Whatever arrives, the answer is never a 5xx and never a
//! panic, and every error is in the Dataverse shape.
//!
//! Run longer with `PROPTEST_CASES=100000 cargo test -p bgops-server --test fuzz_http`; CI runs
//! the default number of cases (bounded: well under a minute).

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{Method, Request};
use base64::Engine as _;
use bgops_core::catalogue::Catalogue;
use bgops_core::outbound_url::UrlPolicy;
use bgops_core::signing::WebhookSecret;
use bgops_core::SystemClock;
use bgops_engine::{Engine, EngineConfig, Outbound, RandomJitter, Registry};
use bgops_server::edge::{Edge, EdgeSettings};
use bgops_server::jwt::JwtSettings;
use bgops_server::{AppState, ServerConfig};
use proptest::prelude::*;
use tower::ServiceExt;

const ADMIN: &str = "fuzz-admin-token";
const ISSUER: &str = "https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/";

/// The router over a fresh SQLite store, built once for the whole run, with its runtime.
fn harness() -> &'static (tokio::runtime::Runtime, axum::Router, tempfile::TempDir) {
    static H: OnceLock<(tokio::runtime::Runtime, axum::Router, tempfile::TempDir)> =
        OnceLock::new();
    H.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let dir = tempfile::tempdir().expect("tempdir");
        let router = rt.block_on(async {
            let store = bgops_store::open(&format!("sqlite://{}", dir.path().join("f.db").display()))
                .await
                .expect("store");
            let now = bgops_core::Clock::now(&SystemClock);
            store
                .bootstrap_admin(
                    bgops_store::AdminKey::Set(bgops_server::auth::hash_token(ADMIN)),
                    now,
                )
                .await
                .expect("admin");
            // The ES256 public key of RFC 7515 appendix A.3: tokens naming it fail to verify
            // (nobody here holds the private key), which is the point.
            let jwks = dir.path().join("jwks.json");
            std::fs::write(
                &jwks,
                r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"1","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#,
            )
            .expect("jwks");
            let edge = Edge::build(
                &EdgeSettings {
                    jwt: JwtSettings {
                        issuers: vec![ISSUER.to_owned()],
                        audiences: vec!["https://contoso.crm.dynamics.com".to_owned()],
                        jwks_file: Some(jwks),
                        dev_hs256_secret: Some("fuzz-dev-secret".to_owned()),
                        auto_provision: true,
                        ..JwtSettings::default()
                    },
                    rate_limits: Some(bgops_server::limiter::RateLimits {
                        requests: Some(1_000_000),
                        window: std::time::Duration::from_secs(300),
                        concurrent: Some(1_000),
                    }),
                    proxies: trusted_proxies_for_fuzz(),
                    ..EdgeSettings::default()
                },
                store.clone(),
            )
            .expect("edge");
            let secret = WebhookSecret::from_bytes(&[7u8; 32]).expect("secret");
            let config = EngineConfig {
                outbound: Some(Arc::new(
                    Outbound::new(UrlPolicy::default(), secret).expect("outbound"),
                )),
                ..EngineConfig::default()
            };
            let engine = Engine::new(
                store,
                Arc::new(Registry::with_builtins()),
                Arc::new(Catalogue::standard()),
                config,
                Arc::new(SystemClock),
                Arc::new(RandomJitter),
            );
            bgops_server::router(AppState::new(engine, ServerConfig::default()).with_edge(edge))
        });
        (rt, router, dir)
    })
}

/// Every forwarding header is believed from anywhere, so they are parsed on every request.
fn trusted_proxies_for_fuzz() -> bgops_server::forwarded::ProxyPolicy {
    bgops_server::forwarded::ProxyPolicy {
        trusted: vec!["0.0.0.0/0".parse().unwrap(), "::/0".parse().unwrap()],
        public_url: None,
    }
}

/// Pieces requests are made of: valid ones reach deep into each parser, broken ones probe its
/// edges.
const SEGMENTS: &[&str] = &[
    "backgroundoperations",
    "backgroundoperations(0190a0b1-0000-7000-8000-000000000001)",
    "backgroundoperations(nope)",
    "backgroundoperations()",
    "accounts",
    "accounts(0190a0b1-0000-7000-8000-000000000002)",
    "contacts",
    "annotations",
    "customapis",
    "customapirequestparameters",
    "plugintypes",
    "systemusers",
    "roles",
    "sdkmessageprocessingsteps",
    "serviceendpoints",
    "asyncoperations",
    "bgops_Echo",
    "bgops_Fail",
    "ExecuteBackgroundOperation",
    "sample_ExportDataUsingFetchXmlToAnnotation",
    "sample_CleanupExportedDataAnnotations",
    "WhoAmI()",
    "WhoAmI",
    "bgops_Echo(Text=@t)",
    "bgops_Echo()",
    "EntityDefinitions",
    "EntityDefinitions(LogicalName='account')",
    "EntityDefinitions(LogicalName='nosuch')",
    "EntityDefinitions(LogicalName='account')/Attributes",
    "Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata",
    "$metadata",
    "$count",
    "",
    "%zz",
    "%00",
    "..",
    "(",
    "')",
];

const OPTION_NAMES: &[&str] = &[
    "$filter",
    "$select",
    "$top",
    "$orderby",
    "$count",
    "$skiptoken",
    "$expand",
    "$skip",
    "$search",
    "$format",
    "$apply",
    "@t",
    "@p1",
    "@p2",
    "$Filter",
    "",
    "=",
];

const OPTION_VALUES: &[&str] = &[
    "name eq 'x'",
    "name eq 'it''s'",
    "contains(name,'a') and not (numberofemployees gt 5 or revenue le 1.5)",
    "startswith(name,@p1)",
    "backgroundoperationstatecode eq 3",
    "createdon ge 2024-01-01T00:00:00Z",
    "_createdby_value eq 0190a0b1-0000-7000-8000-000000000003",
    "accountid ne null",
    "name,numberofemployees",
    "name desc,createdon",
    "5000",
    "-1",
    "99999999999999999999",
    "true",
    "'quoted'",
    "AAAA",
    "eyJ2IjoxfQ",
    "primarycontactid($select=fullname)",
    "OptionSet($select=Options)",
    "((((((((((",
    "name eq",
    "'unterminated",
    "\u{0}",
];

const PREFER: &[&str] = &[
    "respond-async",
    "respond-async, odata.callback; url=\"https://203.0.113.5/cb\"",
    "respond-async,odata.callback;url=\"https://[::1]/cb\"",
    "odata.callback; url=\"https://203.0.113.5/cb#x\"",
    "odata.maxpagesize=2",
    "odata.maxpagesize=0",
    "odata.maxpagesize=-7",
    "odata.maxpagesize=99999999999999999999",
    "odata.include-annotations=\"*\"",
    "odata.include-annotations=\"OData.Community.Display.V1.FormattedValue\"",
    "return=representation",
    "wait=5",
    "x=\"unterminated",
    ";;;,,,",
    "respond-async; respond-async",
];

const KEYS: &[&str] = &[
    "Text",
    "Number",
    "Flag",
    "FailTimes",
    "ErrorCode",
    "Message",
    "Permanent",
    "Request",
    "RequestName",
    "Parameters",
    "CallbackUri",
    "FetchXml",
    "name",
    "uniquename",
    "backgroundoperationstatecode",
    "backgroundoperationstatuscode",
    "bindingtype",
    "isfunction",
    "PluginTypeId@odata.bind",
    "CustomAPIRequestParameters",
    "description",
    "@odata.type",
];

const FETCHXML: &[&str] = &[
    r#"<fetch top="2"><entity name="account"><attribute name="name"/><filter><condition attribute="name" operator="like" value="%a%"/></filter></entity></fetch>"#,
    r#"<fetch><entity name="account"><all-attributes/><order attribute="name" descending="true"/></entity></fetch>"#,
    r#"<fetch page="-1" count="0"><entity name="nosuch"/></fetch>"#,
    r#"<fetch><entity name="account"><filter type="or"><condition attribute="numberofemployees" operator="in"><value>1</value><value>x</value></condition></filter></entity></fetch>"#,
    r#"<fetch><link-entity/></fetch>"#,
    r#"<!DOCTYPE x [<!ENTITY a "aaaa">]><fetch>&a;</fetch>"#,
    "<fetch",
    "",
];

/// Arbitrary JSON, a few levels deep.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
            .map_or(serde_json::Value::Null, serde_json::Value::Number)),
        ".{0,12}".prop_map(serde_json::Value::from),
        prop::sample::select(FETCHXML).prop_map(serde_json::Value::from),
        prop::sample::select(OPTION_VALUES).prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..5).prop_map(|kv| {
                serde_json::Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

/// A request body: a JSON object of known keys, any JSON, or bytes.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec((prop::sample::select(KEYS), json_value()), 0..6).prop_map(|kv| {
            serde_json::Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
                .to_string()
                .into_bytes()
        }),
        json_value().prop_map(|v| v.to_string().into_bytes()),
        prop::collection::vec(any::<u8>(), 0..64),
    ]
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A bearer token: the administrator's key, a JWT of arbitrary header and claims (some signed
/// with the dev HS256 secret, so they pass the signature and reach the claims and the store),
/// or junk.
fn authorization() -> impl Strategy<Value = Option<String>> {
    let header = prop_oneof![
        Just(r#"{"alg":"HS256","typ":"JWT"}"#.to_owned()),
        Just(r#"{"alg":"ES256","kid":"1"}"#.to_owned()),
        Just(r#"{"alg":"RS256","kid":"nope"}"#.to_owned()),
        Just(r#"{"alg":"none"}"#.to_owned()),
        Just(r#"{"alg":"HS512"}"#.to_owned()),
        json_value().prop_map(|v| v.to_string()),
    ];
    let claims = prop_oneof![
        (any::<i32>(), ".{0,8}", prop::option::of("[0-9a-f-]{0,40}")).prop_map(
            |(exp, sub, oid)| {
                serde_json::json!({"iss": ISSUER, "aud": "https://contoso.crm.dynamics.com",
                "exp": 4_000_000_000i64 + exp as i64, "sub": sub, "oid": oid,
                "tid": "72f988bf-86f1-41af-91ab-2d7cd011db47", "name": sub})
            }
        ),
        json_value(),
    ];
    prop_oneof![
        4 => Just(Some(format!("Bearer {ADMIN}"))),
        2 => (header, claims, any::<bool>()).prop_map(|(h, c, sign)| {
            if sign && h.contains("HS256") {
                let key = jsonwebtoken::EncodingKey::from_secret(b"fuzz-dev-secret");
                let token = jsonwebtoken::encode(
                    &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
                    &c,
                    &key,
                )
                .unwrap_or_default();
                Some(format!("Bearer {token}"))
            } else {
                Some(format!("Bearer {}.{}.{}", b64(h.as_bytes()), b64(c.to_string().as_bytes()), "c2ln"))
            }
        }),
        1 => "[ -~]{0,40}".prop_map(Some),
        1 => Just(None),
    ]
}

/// Percent-encodes all but unreserved characters (and OData punctuation), so any text makes a
/// valid URI.
fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~$@(),='".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[derive(Debug, Clone)]
struct Fuzzed {
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    prefer: Vec<&'static str>,
    authorization: Option<String>,
    forwarded: Option<String>,
    if_match: Option<String>,
    body: Vec<u8>,
}

fn request() -> impl Strategy<Value = Fuzzed> {
    let method = prop::sample::select(vec![
        Method::GET,
        Method::POST,
        Method::PATCH,
        Method::DELETE,
        Method::PUT,
        Method::OPTIONS,
    ]);
    let path = prop_oneof![
        4 => (prop::sample::select(SEGMENTS), prop::option::of(prop::sample::select(SEGMENTS)))
            .prop_map(|(a, b)| match b {
                Some(b) => format!("/api/data/v9.2/{a}/{b}"),
                None => format!("/api/data/v9.2/{a}"),
            }),
        1 => prop_oneof![
            Just("0190a0b1-0000-7000-8000-000000000001".to_owned()),
            "[ -~]{0,40}".prop_map(|s| encode(&s)),
        ].prop_map(|id| format!("/api/backgroundoperation/{id}")),
        1 => "[ -~]{0,30}".prop_map(|s| format!("/{}", encode(&s))),
        1 => Just("/health".to_owned()),
    ];
    let query = prop::collection::vec(
        (
            prop_oneof![
                prop::sample::select(OPTION_NAMES).prop_map(str::to_owned),
                ".{0,6}"
            ],
            prop_oneof![
                3 => prop::sample::select(OPTION_VALUES).prop_map(str::to_owned),
                1 => ".{0,24}",
            ],
        ),
        0..4,
    );
    let forwarded = prop::option::of(prop_oneof![
        Just("for=198.51.100.7;proto=https;host=ops.example".to_owned()),
        Just(r#"for="[2001:db8::1]:80";host="a:1", for=unknown"#.to_owned()),
        "[ -~]{0,40}",
    ]);
    (
        method,
        path,
        query,
        prop::collection::vec(prop::sample::select(PREFER), 0..3),
        authorization(),
        forwarded,
        prop::option::of(prop_oneof![
            Just("*".to_owned()),
            "W/\"[0-9]{1,3}\"",
            "[ -~]{0,10}"
        ]),
        body(),
    )
        .prop_map(
            |(method, path, query, prefer, authorization, forwarded, if_match, body)| Fuzzed {
                method,
                path,
                query,
                prefer,
                authorization,
                forwarded,
                if_match,
                body,
            },
        )
}

/// Sends `f` through the router; returns the status and body.
fn send(f: &Fuzzed) -> Option<(u16, Vec<u8>)> {
    let (rt, router, _) = harness();
    let mut uri = f.path.clone();
    if !f.query.is_empty() {
        uri.push('?');
        let q: Vec<String> = f
            .query
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        uri.push_str(&q.join("&"));
    }
    let mut builder = Request::builder().method(f.method.clone()).uri(&uri);
    builder = builder.header("host", "bgops.test");
    if !f.prefer.is_empty() {
        builder = builder.header("prefer", f.prefer.join(", "));
    }
    if let Some(a) = &f.authorization {
        builder = builder.header("authorization", a);
    }
    if let Some(v) = &f.forwarded {
        builder = builder.header("forwarded", v);
        builder = builder.header("x-forwarded-host", v);
    }
    if let Some(v) = &f.if_match {
        builder = builder.header("if-match", v);
    }
    if !f.body.is_empty() {
        builder = builder.header("content-type", "application/json");
    }
    // Text the HTTP types refuse never reaches bgops (hyper refuses it on the wire too).
    let mut req = builder.body(Body::from(f.body.clone())).ok()?;
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(bgops_server::edge::PeerAddr(
            "10.1.2.3:4567".parse().unwrap(),
        )));
    Some(rt.block_on(async {
        let resp = router.clone().oneshot(req).await.expect("infallible");
        let status = resp.status().as_u16();
        let body = axum::body::to_bytes(resp.into_body(), 16 * 1024 * 1024)
            .await
            .expect("body");
        (status, body.to_vec())
    }))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(4000)
    ))]

    /// No request makes the service answer 5xx or panic (a panic would be a 500 from the
    /// panic guard), and every error is `{"error":{"code":"0x…","message":"…"}}`.
    #[test]
    fn no_request_gets_a_5xx(f in request()) {
        if let Some((status, body)) = send(&f) {
            prop_assert!(status < 500, "HTTP {status} for {f:?}: {}", String::from_utf8_lossy(&body));
            if status >= 400 && f.method != Method::HEAD {
                let v: serde_json::Value = serde_json::from_slice(&body)
                    .map_err(|e| TestCaseError::fail(format!("error body not JSON ({e}) for {f:?}")))?;
                let code = v["error"]["code"].as_str().unwrap_or("");
                prop_assert!(code.starts_with("0x"), "error shape for {f:?}: {v}");
                prop_assert!(v["error"]["message"].is_string(), "error shape for {f:?}: {v}");
            }
        }
    }
}

/// The harness reaches the handlers (so the property above is not passing on 401s alone): the
/// administrator's key, a dev-signed JWT and a trusted proxy's header all work through it.
#[test]
fn the_harness_reaches_the_handlers() {
    let base = Fuzzed {
        method: Method::GET,
        path: "/api/data/v9.2/WhoAmI()".to_owned(),
        query: vec![],
        prefer: vec![],
        authorization: Some(format!("Bearer {ADMIN}")),
        forwarded: None,
        if_match: None,
        body: vec![],
    };
    assert_eq!(send(&base).expect("sent").0, 200);
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &serde_json::json!({"iss": ISSUER, "aud": "https://contoso.crm.dynamics.com",
            "exp": 4_000_000_000i64, "oid": "2a4b1c0e-5d3f-4e6a-8b7c-9d0e1f2a3b4c",
            "tid": "72f988bf-86f1-41af-91ab-2d7cd011db47"}),
        &jsonwebtoken::EncodingKey::from_secret(b"fuzz-dev-secret"),
    )
    .unwrap();
    let jwt = Fuzzed {
        authorization: Some(format!("Bearer {token}")),
        ..base.clone()
    };
    assert_eq!(send(&jwt).expect("sent").0, 200);
    let submit = Fuzzed {
        method: Method::POST,
        path: "/api/data/v9.2/bgops_Echo".to_owned(),
        prefer: vec!["respond-async"],
        forwarded: Some("for=198.51.100.7;proto=https;host=ops.example".to_owned()),
        body: br#"{"Text":"hi"}"#.to_vec(),
        ..base.clone()
    };
    assert_eq!(send(&submit).expect("sent").0, 202);
    let query = Fuzzed {
        path: "/api/data/v9.2/backgroundoperations".to_owned(),
        query: vec![
            ("$filter".to_owned(), "name eq 'bgops_Echo'".to_owned()),
            ("$select".to_owned(), "name".to_owned()),
        ],
        ..base
    };
    let (status, body) = send(&query).expect("sent");
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(
        v["@odata.context"]
            .as_str()
            .unwrap()
            .starts_with("http://bgops.test/api/data/v9.2/$metadata#backgroundoperations"),
        "{v}"
    );
    assert!(!v["value"].as_array().unwrap().is_empty(), "{v}");
}
