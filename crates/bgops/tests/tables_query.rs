//! OData queries over the tables of the Web API, black-box: `$select`, `$filter` (every
//! operator, literal and escaping), aliases, percent-encoding, `$orderby`, `$top`, counts,
//! FormattedValue annotations, refusals and limits, and keyset paging through 12,000 rows.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};

use common::{assert_json_headers, expect_error, Server};
use reqwest::header::HeaderMap;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

const API: &str = "/api/data/v9.2";
const FORMATTED: &str = "OData.Community.Display.V1.FormattedValue";
const LOOKUP_NAME: &str = "Microsoft.Dynamics.CRM.lookuplogicalname";

/// A server on a fresh database without the demo accounts, so tests see only their own rows.
fn start() -> Server {
    let mut args = common::FAST.to_vec();
    args.extend(["--demo-data", "false"]);
    Server::start(&args)
}

// ---------------------------------------------------------------------------------------------
// Helpers.

/// Percent-encodes a query value (everything but the unreserved characters).
fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

async fn get(s: &Server, path: &str, prefer: Option<&str>) -> Response {
    let mut rb = s.req(Method::GET, path);
    if let Some(p) = prefer {
        rb = rb.header("Prefer", p);
    }
    rb.send().await.unwrap()
}

/// GET that must answer 200 JSON; returns headers and body.
async fn get_ok(s: &Server, path: &str, prefer: Option<&str>) -> (HeaderMap, Value) {
    let resp = get(s, path, prefer).await;
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "GET {path}: {text}");
    assert_json_headers(&headers, path);
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"));
    (headers, body)
}

fn rows(body: &Value) -> &Vec<Value> {
    body["value"]
        .as_array()
        .unwrap_or_else(|| panic!("no value array: {body}"))
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().expect("object").keys().cloned().collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

async fn create(s: &Server, set: &str, body: Value) -> String {
    let resp = s
        .req(Method::POST, &format!("{API}/{set}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "create {set} {body}: {:?}",
        resp.text().await
    );
    let url = headers["odata-entityid"].to_str().unwrap();
    let id = url
        .rsplit_once('(')
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("OData-EntityId {url}"));
    id.to_owned()
}

/// The five accounts most query tests run on; name → id.
async fn seed(s: &Server) -> BTreeMap<String, String> {
    let accounts = [
        json!({"name": "Alpha", "numberofemployees": 10, "revenue": 100.50,
               "creditonhold": false, "address1_city": "Seattle", "accountnumber": "A-1",
               "telephone1": "555-0001"}),
        json!({"name": "Beta", "numberofemployees": 20, "revenue": 2000,
               "creditonhold": true, "address1_city": "Redmond", "accountnumber": "B-2"}),
        json!({"name": "Gamma", "numberofemployees": 30, "revenue": null,
               "creditonhold": false, "address1_city": "Redmond", "accountnumber": "G-3"}),
        json!({"name": "O'Brien", "numberofemployees": 40, "revenue": 10.25,
               "creditonhold": true, "address1_city": "seattle", "accountnumber": "O-4"}),
        json!({"name": "delta corp", "revenue": 500,
               "creditonhold": false, "address1_city": "Boston", "accountnumber": "D_5%"}),
    ];
    let mut out = BTreeMap::new();
    for a in accounts {
        let name = a["name"].as_str().unwrap().to_owned();
        out.insert(name, create(s, "accounts", a).await);
    }
    out
}

/// The names of the accounts a raw query string returns (the query is sent as written).
async fn names_raw(s: &Server, query: &str) -> BTreeSet<String> {
    let (_, body) = get_ok(s, &format!("{API}/accounts?{query}"), None).await;
    rows(&body)
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect()
}

/// The names of the accounts `$filter` keeps (the filter is percent-encoded here).
async fn names(s: &Server, filter: &str) -> BTreeSet<String> {
    names_raw(s, &format!("$select=name&$filter={}", enc(filter))).await
}

/// The names in the order a query returns them.
async fn ordered(s: &Server, query: &str) -> Vec<String> {
    let (_, body) = get_ok(s, &format!("{API}/accounts?{query}"), None).await;
    rows(&body)
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn check_filters(s: &Server, cases: &[(&str, &[&str])]) {
    for (filter, expected) in cases {
        assert_eq!(names(s, filter).await, set(expected), "$filter={filter}");
    }
}

// ---------------------------------------------------------------------------------------------
// $select and the envelope.

#[tokio::test]
async fn select_returns_the_selected_columns_the_key_and_the_etag() {
    let s = start();
    let ids = seed(&s).await;
    for query in ["$select=name,revenue", "%24select=name%2Crevenue"] {
        let (_, body) = get_ok(&s, &format!("{API}/accounts?{query}"), None).await;
        assert_eq!(
            body["@odata.context"],
            format!("{}{API}/$metadata#accounts(name,revenue)", s.base),
            "{query}"
        );
        assert_eq!(rows(&body).len(), 5, "{query}: {body}");
        for row in rows(&body) {
            assert_eq!(
                keys(row),
                set(&["@odata.etag", "accountid", "name", "revenue"]),
                "{query}: {row}"
            );
            let etag = row["@odata.etag"].as_str().unwrap();
            assert!(
                etag.starts_with("W/\"") && etag.ends_with('"'),
                "etag {etag}"
            );
            let name = row["name"].as_str().unwrap();
            assert_eq!(row["accountid"], ids[name].as_str());
        }
        let alpha = rows(&body).iter().find(|r| r["name"] == "Alpha").unwrap();
        assert_eq!(alpha["revenue"].as_f64(), Some(100.5));
        let gamma = rows(&body).iter().find(|r| r["name"] == "Gamma").unwrap();
        assert_eq!(gamma["revenue"], Value::Null);
    }

    // Without $select: every column, and the context names only the set.
    let (_, body) = get_ok(&s, &format!("{API}/accounts"), None).await;
    assert_eq!(
        body["@odata.context"],
        format!("{}{API}/$metadata#accounts", s.base)
    );
    let row = &rows(&body)[0];
    for c in [
        "@odata.etag",
        "accountid",
        "name",
        "revenue",
        "numberofemployees",
        "creditonhold",
        "address1_city",
        "statecode",
        "statuscode",
        "createdon",
        "modifiedon",
        "_createdby_value",
    ] {
        assert!(row.get(c).is_some(), "{c} missing: {row}");
    }
}

// ---------------------------------------------------------------------------------------------
// $filter.

#[tokio::test]
async fn filter_comparison_operators() {
    let s = start();
    seed(&s).await;
    check_filters(
        &s,
        &[
            ("numberofemployees eq 20", &["Beta"]),
            // `ne` never matches null (delta corp has no numberofemployees).
            ("numberofemployees ne 20", &["Alpha", "Gamma", "O'Brien"]),
            ("numberofemployees gt 20", &["Gamma", "O'Brien"]),
            ("numberofemployees ge 20", &["Beta", "Gamma", "O'Brien"]),
            ("numberofemployees lt 20", &["Alpha"]),
            ("numberofemployees le 20", &["Alpha", "Beta"]),
            ("name eq 'Gamma'", &["Gamma"]),
            (
                "name ne 'Gamma'",
                &["Alpha", "Beta", "O'Brien", "delta corp"],
            ),
            ("name gt 'Beta'", &["Gamma", "O'Brien", "delta corp"]),
            ("name lt 'Beta'", &["Alpha"]),
            ("name le 'beta'", &["Alpha", "Beta"]),
            ("name ge 'GAMMA'", &["Gamma", "O'Brien"]),
            ("numberofemployees eq 99", &[]),
        ],
    )
    .await;
}

#[tokio::test]
async fn filter_logic_and_parentheses() {
    let s = start();
    seed(&s).await;
    check_filters(
        &s,
        &[
            (
                "numberofemployees gt 10 and creditonhold eq true",
                &["Beta", "O'Brien"],
            ),
            (
                "numberofemployees eq 10 or numberofemployees eq 40",
                &["Alpha", "O'Brien"],
            ),
            (
                "not (numberofemployees eq 10)",
                &["Beta", "Gamma", "O'Brien"],
            ),
            // `and` binds tighter than `or`.
            (
                "name eq 'Alpha' or name eq 'Beta' and creditonhold eq false",
                &["Alpha"],
            ),
            (
                "(name eq 'Alpha' or name eq 'Beta') and creditonhold eq true",
                &["Beta"],
            ),
            (
                "((address1_city eq 'Redmond') and (not (numberofemployees lt 25))) or name eq 'delta corp'",
                &["Gamma", "delta corp"],
            ),
            (
                "not (address1_city eq 'Seattle' or address1_city eq 'Redmond')",
                &["delta corp"],
            ),
            (
                "creditonhold eq false and (revenue gt 200 or revenue eq null)",
                &["Gamma", "delta corp"],
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn filter_string_functions_case_and_escaping() {
    let s = start();
    seed(&s).await;
    check_filters(
        &s,
        &[
            ("contains(name,'ET')", &["Beta"]),
            (
                "contains(name, 'a')",
                &["Alpha", "Beta", "Gamma", "delta corp"],
            ),
            ("startswith(name,'g')", &["Gamma"]),
            ("endswith(name,'CORP')", &["delta corp"]),
            ("endswith(name,'a')", &["Alpha", "Beta", "Gamma"]),
            ("not contains(name,'a')", &["O'Brien"]),
            (
                "not startswith(name,'a') and endswith(name,'a')",
                &["Beta", "Gamma"],
            ),
            // Case-insensitive equality.
            ("name eq 'ALPHA'", &["Alpha"]),
            ("address1_city eq 'SEATTLE'", &["Alpha", "O'Brien"]),
            // '' is a quote.
            ("name eq 'O''Brien'", &["O'Brien"]),
            ("contains(name,'''')", &["O'Brien"]),
            ("startswith(name,'o''b')", &["O'Brien"]),
            // SQL wildcards in the value are just characters.
            ("contains(name,'%')", &[]),
            ("contains(name,'_')", &[]),
            ("endswith(accountnumber,'_5%')", &["delta corp"]),
            (
                "contains(accountnumber,'-')",
                &["Alpha", "Beta", "Gamma", "O'Brien"],
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn filter_null_and_literals_of_every_type() {
    let s = start();
    let ids = seed(&s).await;
    check_filters(
        &s,
        &[
            // null
            ("revenue eq null", &["Gamma"]),
            (
                "revenue ne null",
                &["Alpha", "Beta", "O'Brien", "delta corp"],
            ),
            ("numberofemployees eq null", &["delta corp"]),
            ("telephone1 ne null", &["Alpha"]),
            // integers
            (
                "numberofemployees ge -5",
                &["Alpha", "Beta", "Gamma", "O'Brien"],
            ),
            // decimals (money)
            ("revenue gt 100.4", &["Alpha", "Beta", "delta corp"]),
            ("revenue eq 100.50", &["Alpha"]),
            ("revenue eq 100.5", &["Alpha"]),
            ("revenue lt 100.5", &["O'Brien"]),
            ("revenue le 10.25", &["O'Brien"]),
            ("revenue ge 500", &["Beta", "delta corp"]),
            // booleans
            ("creditonhold eq true", &["Beta", "O'Brien"]),
            ("creditonhold eq false", &["Alpha", "Gamma", "delta corp"]),
            ("creditonhold ne true", &["Alpha", "Gamma", "delta corp"]),
            // dates (every row was created just now)
            (
                "createdon gt 2000-01-01",
                &["Alpha", "Beta", "Gamma", "O'Brien", "delta corp"],
            ),
            (
                "createdon ge 2000-01-01T00:00:00Z",
                &["Alpha", "Beta", "Gamma", "O'Brien", "delta corp"],
            ),
            ("createdon lt 2000-01-01T00:00:00Z", &[]),
            ("modifiedon gt 2999-12-31", &[]),
        ],
    )
    .await;

    // GUIDs.
    let beta = &ids["Beta"];
    assert_eq!(
        names(&s, &format!("accountid eq {beta}")).await,
        set(&["Beta"])
    );
    assert_eq!(
        names(&s, &format!("accountid eq {}", beta.to_uppercase())).await,
        set(&["Beta"]),
        "GUID literals are case-insensitive"
    );
    assert_eq!(
        names(
            &s,
            &format!("accountid ne {beta} and numberofemployees le 20")
        )
        .await,
        set(&["Alpha"])
    );
    assert_eq!(
        names(&s, &format!("accountid eq {}", uuid::Uuid::new_v4())).await,
        set(&[])
    );

    // Dates on a column the client sets: contacts' birthdate.
    let mk = |first: &str, birth: &str| json!({"firstname": first, "lastname": "Tester", "birthdate": birth});
    create(&s, "contacts", mk("Old", "1950-03-04T00:00:00Z")).await;
    create(&s, "contacts", mk("Mid", "1990-05-17T14:30:00Z")).await;
    create(&s, "contacts", mk("New", "2010-12-31T23:59:59Z")).await;
    let firsts = |filter: &str| {
        let s = &s;
        let filter = filter.to_owned();
        async move {
            let (_, body) = get_ok(
                s,
                &format!("{API}/contacts?$select=firstname&$filter={}", enc(&filter)),
                None,
            )
            .await;
            rows(&body)
                .iter()
                .map(|r| r["firstname"].as_str().unwrap().to_owned())
                .collect::<BTreeSet<_>>()
        }
    };
    assert_eq!(
        firsts("birthdate gt 1980-01-01").await,
        set(&["Mid", "New"])
    );
    assert_eq!(firsts("birthdate lt 1990-05-17").await, set(&["Old"]));
    assert_eq!(
        firsts("birthdate eq 1990-05-17T14:30:00Z").await,
        set(&["Mid"])
    );
    assert_eq!(
        firsts("birthdate gt 1990-05-17T14:30:00Z").await,
        set(&["New"])
    );
    assert_eq!(
        firsts("birthdate ge 1990-05-17T14:30:00Z and birthdate le 2010-12-31T23:59:59Z").await,
        set(&["Mid", "New"])
    );
}

#[tokio::test]
async fn filter_wrong_literal_types_are_400() {
    let s = start();
    seed(&s).await;
    for filter in [
        "numberofemployees eq 'ten'",
        "name eq 5",
        "creditonhold eq 'yes'",
        "accountid eq 'not-a-guid'",
        "createdon gt 'yesterday'",
        "contains(numberofemployees,'1')",
        "name eq 'unterminated",
        "name eq",
        "(name eq 'Alpha'",
        "name eq 'Alpha')",
        "name zz 'Alpha'",
    ] {
        let resp = get(&s, &format!("{API}/accounts?$filter={}", enc(filter)), None).await;
        expect_error(resp, 400, None, filter).await;
    }
}

#[tokio::test]
async fn filter_parameter_aliases() {
    let s = start();
    seed(&s).await;
    assert_eq!(
        names_raw(&s, "$select=name&$filter=name%20eq%20@p1&@p1=%27Beta%27").await,
        set(&["Beta"])
    );
    assert_eq!(
        names_raw(
            &s,
            "$select=name&$filter=numberofemployees%20gt%20@n%20and%20address1_city%20eq%20@c&@n=15&@c=%27redmond%27"
        )
        .await,
        set(&["Beta", "Gamma"])
    );
    assert_eq!(
        names_raw(
            &s,
            "$select=name&$filter=contains(name,@p1)&@p1=%27O%27%27B%27"
        )
        .await,
        set(&["O'Brien"])
    );
    // An alias that is used but never assigned is null.
    assert_eq!(
        names_raw(&s, "$select=name&$filter=revenue%20eq%20@missing").await,
        set(&["Gamma"])
    );
    // Aliases in $orderby.
    assert_eq!(
        ordered(
            &s,
            "$select=name&$filter=numberofemployees%20ne%20null&$orderby=@o%20desc&@o=numberofemployees"
        )
        .await,
        vec!["O'Brien", "Gamma", "Beta", "Alpha"]
    );
}

#[tokio::test]
async fn percent_encoded_names_and_values_and_plus_as_space() {
    let s = start();
    seed(&s).await;
    // Everything encoded, names included.
    assert_eq!(
        names_raw(
            &s,
            "%24select=name&%24filter=name%20eq%20%27delta%20corp%27"
        )
        .await,
        set(&["delta corp"])
    );
    // `+` is a space, in the expression and inside the string.
    assert_eq!(
        names_raw(&s, "$select=name&$filter=name+eq+'delta+corp'").await,
        set(&["delta corp"])
    );
    // An encoded `+` is a plus.
    assert_eq!(
        names_raw(&s, "$select=name&$filter=name+eq+'delta%2Bcorp'").await,
        set(&[])
    );
    // Encoded quotes, parentheses and commas.
    assert_eq!(
        names_raw(
            &s,
            "$select=name&$filter=contains%28name%2C%27O%27%27b%27%29"
        )
        .await,
        set(&["O'Brien"])
    );
    // Encoded $orderby and $top.
    assert_eq!(
        ordered(&s, "$select=name&%24orderby=name%20desc&%24top=2").await,
        vec!["O'Brien", "Gamma"]
    );
}

#[tokio::test]
async fn injection_attempts_are_just_data() {
    let s = start();
    seed(&s).await;
    let attack = "name eq 'x'' or 1 eq 1 or name eq ''y'";
    assert_eq!(names(&s, attack).await, set(&[]), "{attack}");
    for filter in [
        "name eq 'x''; DROP TABLE account; --'",
        "name eq 'Alpha'' --'",
        "contains(name,''') OR 1=1 --')",
    ] {
        let resp = get(
            &s,
            &format!("{API}/accounts?$select=name&$filter={}", enc(filter)),
            None,
        )
        .await;
        // Either no rows or a syntax error; never more rows, never a 500.
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert!(
            status == StatusCode::OK || status == StatusCode::BAD_REQUEST,
            "{filter}: {status} {text}"
        );
        if status == StatusCode::OK {
            let body: Value = serde_json::from_str(&text).unwrap();
            assert!(rows(&body).is_empty(), "{filter}: {body}");
        }
    }
    // The same text as a name is found exactly.
    create(
        &s,
        "accounts",
        json!({"name": "x' or 1 eq 1 or name eq 'y"}),
    )
    .await;
    assert_eq!(
        names(&s, attack).await,
        set(&["x' or 1 eq 1 or name eq 'y"])
    );
    // The table is intact.
    let (_, body) = get_ok(&s, &format!("{API}/accounts?$select=name"), None).await;
    assert_eq!(rows(&body).len(), 6);
}

// ---------------------------------------------------------------------------------------------
// $orderby, $top, $count.

#[tokio::test]
async fn orderby_ascending_descending_and_several_columns() {
    let s = start();
    seed(&s).await;
    let all = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        ordered(&s, "$select=name&$orderby=name").await,
        all(&["Alpha", "Beta", "delta corp", "Gamma", "O'Brien"]),
        "text sorts case-insensitively"
    );
    assert_eq!(
        ordered(&s, "$select=name&$orderby=name%20asc").await,
        all(&["Alpha", "Beta", "delta corp", "Gamma", "O'Brien"])
    );
    assert_eq!(
        ordered(&s, "$select=name&$orderby=name%20desc").await,
        all(&["O'Brien", "Gamma", "delta corp", "Beta", "Alpha"])
    );
    assert_eq!(
        ordered(&s, "$select=name&$orderby=address1_city%20desc,name%20asc").await,
        all(&["Alpha", "O'Brien", "Beta", "Gamma", "delta corp"])
    );
    assert_eq!(
        ordered(&s, "$select=name&$orderby=address1_city,name%20desc").await,
        all(&["delta corp", "Gamma", "Beta", "O'Brien", "Alpha"])
    );
    assert_eq!(
        ordered(
            &s,
            "$select=name&$orderby=creditonhold%20desc,revenue%20desc"
        )
        .await,
        all(&["Beta", "O'Brien", "delta corp", "Alpha", "Gamma"])
    );
    assert_eq!(
        ordered(
            &s,
            "$select=name&$filter=revenue%20ne%20null&$orderby=revenue"
        )
        .await,
        all(&["O'Brien", "Alpha", "delta corp", "Beta"]),
        "money sorts numerically"
    );
}

#[tokio::test]
async fn top_and_count() {
    let s = start();
    seed(&s).await;
    let (_, body) = get_ok(
        &s,
        &format!("{API}/accounts?$select=name&$orderby=name&$top=2"),
        None,
    )
    .await;
    let got: Vec<&str> = rows(&body)
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(got, vec!["Alpha", "Beta"]);
    assert!(body.get("@odata.nextLink").is_none(), "{body}");
    assert!(body.get("@odata.count").is_none(), "{body}");

    let (_, body) = get_ok(&s, &format!("{API}/accounts?$select=name&$top=0"), None).await;
    assert!(rows(&body).is_empty(), "{body}");

    let (_, body) = get_ok(
        &s,
        &format!("{API}/accounts?$select=name&$count=true"),
        None,
    )
    .await;
    assert_eq!(body["@odata.count"], 5, "{body}");
    assert_eq!(rows(&body).len(), 5);

    let (_, body) = get_ok(
        &s,
        &format!(
            "{API}/accounts?$select=name&$count=true&$top=1&$filter={}",
            enc("creditonhold eq false")
        ),
        None,
    )
    .await;
    assert_eq!(body["@odata.count"], 3, "$count ignores $top: {body}");
    assert_eq!(rows(&body).len(), 1);

    let (_, body) = get_ok(
        &s,
        &format!("{API}/accounts?$select=name&$count=false"),
        None,
    )
    .await;
    assert!(body.get("@odata.count").is_none(), "{body}");

    // /$count is text.
    let resp = get(&s, &format!("{API}/accounts/$count"), None).await;
    assert_eq!(resp.status(), 200);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("text/plain"), "Content-Type {ct}");
    assert_eq!(resp.text().await.unwrap().trim(), "5");
    let resp = get(&s, &format!("{API}/contacts/$count"), None).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap().trim(), "0");
}

// ---------------------------------------------------------------------------------------------
// Annotations.

#[tokio::test]
async fn formatted_values_only_when_asked() {
    let s = start();
    let ids = seed(&s).await;
    let alpha = &ids["Alpha"];
    create(
        &s,
        "contacts",
        json!({"firstname": "Ada", "lastname": "Lovelace",
               "birthdate": "1990-05-17T14:30:00Z",
               "parentcustomerid_account@odata.bind": format!("/accounts({alpha})")}),
    )
    .await;

    let prefer = format!("odata.include-annotations=\"{FORMATTED}\"");
    for p in [prefer.as_str(), "odata.include-annotations=\"*\""] {
        let resp = get(
            &s,
            &format!(
                "{API}/accounts?$select=name,statecode,creditonhold,createdon&$filter={}",
                enc("name eq 'Alpha'")
            ),
            Some(p),
        )
        .await;
        assert_eq!(resp.status(), 200);
        let applied = resp
            .headers()
            .get("preference-applied")
            .unwrap_or_else(|| panic!("{p}: no Preference-Applied"))
            .to_str()
            .unwrap()
            .to_owned();
        assert!(applied.contains(p), "Preference-Applied {applied} for {p}");
        let body: Value = resp.json().await.unwrap();
        let row = &rows(&body)[0];
        assert_eq!(row["statecode"], 0);
        assert_eq!(row[format!("statecode@{FORMATTED}")], "Active", "{row}");
        assert_eq!(row["creditonhold"], false);
        assert_eq!(row[format!("creditonhold@{FORMATTED}")], "No", "{row}");
        let created = row[format!("createdon@{FORMATTED}")]
            .as_str()
            .unwrap_or_else(|| panic!("createdon label: {row}"));
        assert!(
            created.ends_with(" AM") || created.ends_with(" PM"),
            "date label {created}"
        );
        assert!(
            created.contains('/') && created.contains(':'),
            "date label {created}"
        );
        assert!(
            row.get(format!("name@{FORMATTED}")).is_none(),
            "no label for text: {row}"
        );
    }

    // Contact: lookup label (the account's name), lookuplogicalname, date label.
    let resp = get(
        &s,
        &format!("{API}/contacts?$select=fullname,_parentcustomerid_value,birthdate,donotemail"),
        Some(&format!(
            "odata.include-annotations=\"{FORMATTED},{LOOKUP_NAME}\""
        )),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("preference-applied").is_some());
    let body: Value = resp.json().await.unwrap();
    let row = &rows(&body)[0];
    assert_eq!(row["_parentcustomerid_value"], alpha.as_str(), "{row}");
    assert_eq!(
        row[format!("_parentcustomerid_value@{FORMATTED}")],
        "Alpha",
        "{row}"
    );
    assert_eq!(
        row[format!("_parentcustomerid_value@{LOOKUP_NAME}")],
        "account",
        "{row}"
    );
    assert_eq!(
        row[format!("birthdate@{FORMATTED}")],
        "5/17/1990 2:30 PM",
        "{row}"
    );
    assert_eq!(row["fullname"], "Ada Lovelace");

    // "*" gives both.
    let (_, body) = get_ok(
        &s,
        &format!("{API}/contacts?$select=_parentcustomerid_value"),
        Some("odata.include-annotations=\"*\""),
    )
    .await;
    let row = &rows(&body)[0];
    assert_eq!(row[format!("_parentcustomerid_value@{FORMATTED}")], "Alpha");
    assert_eq!(
        row[format!("_parentcustomerid_value@{LOOKUP_NAME}")],
        "account"
    );

    // Without the preference: no annotations and no Preference-Applied.
    for path in [
        format!("{API}/accounts"),
        format!("{API}/contacts?$select=_parentcustomerid_value,birthdate"),
    ] {
        let resp = get(&s, &path, None).await;
        assert_eq!(resp.status(), 200);
        assert!(resp.headers().get("preference-applied").is_none(), "{path}");
        let body: Value = resp.json().await.unwrap();
        for row in rows(&body) {
            let annotated: Vec<&String> = row
                .as_object()
                .unwrap()
                .keys()
                .filter(|k| k.contains('@') && !k.starts_with("@odata."))
                .collect();
            assert!(annotated.is_empty(), "{path}: {annotated:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Refusals and limits.

#[tokio::test]
async fn unknown_columns_are_400_naming_them() {
    let s = start();
    seed(&s).await;
    for (query, column) in [
        ("$select=name,nosuchcolumn", "nosuchcolumn"),
        ("$filter=bogus_col%20eq%201", "bogus_col"),
        (
            "$filter=name%20eq%20'a'%20and%20missingcol%20eq%20null",
            "missingcol",
        ),
        ("$orderby=ghostcolumn%20desc", "ghostcolumn"),
        ("$filter=contains(phantomcol,'a')", "phantomcol"),
    ] {
        let resp = get(&s, &format!("{API}/accounts?{query}"), None).await;
        let msg = expect_error(resp, 400, None, query).await;
        assert!(
            msg.contains(column),
            "{query}: message names {column}: {msg}"
        );
    }
}

#[tokio::test]
async fn unsupported_options_are_400_saying_so() {
    let s = start();
    seed(&s).await;
    for query in [
        "$skip=1",
        "$search=alpha",
        "$format=json",
        "$apply=groupby((name))",
        "$expand=primarycontactid",
        "$select=name&$skip=2",
    ] {
        let resp = get(&s, &format!("{API}/accounts?{query}"), None).await;
        let msg = expect_error(resp, 400, None, query).await;
        let option = query
            .split('&')
            .find(|p| !p.starts_with("$select"))
            .unwrap()
            .split('=')
            .next()
            .unwrap();
        assert!(
            msg.to_lowercase().contains("not supported"),
            "{query}: {msg}"
        );
        assert!(msg.contains(option), "{query}: names {option}: {msg}");
    }
}

#[tokio::test]
async fn limits_are_400() {
    let s = start();
    seed(&s).await;

    // $top above 5,000; 5,000 itself is fine.
    let resp = get(&s, &format!("{API}/accounts?$top=5001"), None).await;
    expect_error(resp, 400, None, "$top=5001").await;
    let (_, body) = get_ok(&s, &format!("{API}/accounts?$top=5000"), None).await;
    assert_eq!(rows(&body).len(), 5);

    // Page size above 5,000.
    let resp = get(
        &s,
        &format!("{API}/accounts"),
        Some("odata.maxpagesize=5001"),
    )
    .await;
    expect_error(resp, 400, None, "odata.maxpagesize=5001").await;
    let resp = get(&s, &format!("{API}/accounts"), Some("odata.maxpagesize=0")).await;
    expect_error(resp, 400, None, "odata.maxpagesize=0").await;

    // A URL over 32 KB (a custom option the server would otherwise ignore); just under is fine.
    let long = "a".repeat(33 * 1024);
    let resp = get(&s, &format!("{API}/accounts?$select=name&x={long}"), None).await;
    expect_error(resp, 400, None, "URL over 32 KB").await;
    let shorter = "a".repeat(30 * 1024);
    let (_, body) = get_ok(
        &s,
        &format!("{API}/accounts?$select=name&x={shorter}"),
        None,
    )
    .await;
    assert_eq!(rows(&body).len(), 5);

    // $filter nesting: 10 levels are fine, 100 are not.
    let nested = |n: usize| format!("{}name eq 'Alpha'{}", "(".repeat(n), ")".repeat(n));
    assert_eq!(names(&s, &nested(10)).await, set(&["Alpha"]));
    let resp = get(
        &s,
        &format!("{API}/accounts?$filter={}", enc(&nested(100))),
        None,
    )
    .await;
    expect_error(resp, 400, None, "$filter nested 100 deep").await;
    let nots = format!("{}name eq 'Alpha'", "not ".repeat(100));
    let resp = get(&s, &format!("{API}/accounts?$filter={}", enc(&nots)), None).await;
    expect_error(resp, 400, None, "$filter with 100 nots").await;

    // A $filter longer than its limit (8,192 characters).
    let long_filter = format!("name eq '{}'", "z".repeat(9_000));
    let resp = get(
        &s,
        &format!("{API}/accounts?$filter={}", enc(&long_filter)),
        None,
    )
    .await;
    expect_error(resp, 400, None, "$filter over 8,192 characters").await;
}

// ---------------------------------------------------------------------------------------------
// Paging.

/// Inserts `n` accounts straight into the SQLite file (the server keeps running: WAL);
/// names repeat three times each. Returns the ids.
fn bulk_insert(s: &Server, n: usize) -> HashSet<String> {
    let mut conn = rusqlite::Connection::open(&s.db).expect("open db");
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let tx = conn.transaction().unwrap();
    let mut ids = HashSet::new();
    {
        let mut stmt = tx
            .prepare(
                "INSERT INTO account (accountid, name, numberofemployees, createdon, modifiedon, \
                 versionnumber, statecode, statuscode) VALUES (?1, ?2, ?3, ?4, ?4, ?5, 0, 1)",
            )
            .unwrap();
        for i in 0..n {
            let id = uuid::Uuid::new_v4().hyphenated().to_string();
            stmt.execute(rusqlite::params![
                id,
                format!("Bulk {:05}", i / 3),
                (i % 100) as i64,
                now,
                (i + 1) as i64
            ])
            .unwrap();
            ids.insert(id);
        }
    }
    tx.commit().unwrap();
    ids
}

/// `http://host:port/rest` → `{base}/rest`.
fn rehost(s: &Server, link: &str) -> String {
    let rest = link
        .strip_prefix("http://")
        .and_then(|r| r.split_once('/'))
        .map(|(_, p)| p)
        .unwrap_or_else(|| panic!("not an absolute http URL: {link}"));
    format!("{}/{rest}", s.base)
}

/// Follows `@odata.nextLink`s from `first`; returns the pages (rows).
async fn all_pages(s: &Server, first: &str, prefer: &str) -> Vec<Vec<Value>> {
    let mut pages = Vec::new();
    let mut url = s.url(first);
    loop {
        let resp = s
            .client
            .get(&url)
            .bearer_auth(common::TOKEN)
            .header("Prefer", prefer)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert_eq!(status, 200, "{url}: {text}");
        let body: Value = serde_json::from_str(&text).unwrap();
        pages.push(rows(&body).clone());
        match body.get("@odata.nextLink") {
            Some(link) => {
                let link = link.as_str().unwrap();
                assert!(
                    link.starts_with(&format!("{}{API}/accounts?", s.base)),
                    "nextLink {link}"
                );
                url = link.to_owned();
            }
            None => break,
        }
        assert!(pages.len() < 1000, "too many pages");
    }
    pages
}

#[tokio::test]
async fn paging_through_12000_rows() {
    let s = start();
    let inserted = bulk_insert(&s, 12_000);

    // First page: asked with another Host; $top is ignored with a page size.
    let prefer = "odata.maxpagesize=5000";
    let resp = s
        .req(Method::GET, &format!("{API}/accounts?$select=name&$top=10"))
        .header("Host", "bgops.example:1234")
        .header("Prefer", prefer)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()
            .get("preference-applied")
            .expect("Preference-Applied")
            .to_str()
            .unwrap(),
        "odata.maxpagesize=5000"
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["@odata.context"],
        format!("http://bgops.example:1234{API}/$metadata#accounts(name)")
    );
    let mut pages = vec![rows(&body).clone()];
    let mut link = body["@odata.nextLink"]
        .as_str()
        .unwrap_or_else(|| panic!("no nextLink on page 1"))
        .to_owned();
    assert!(
        link.starts_with(&format!("http://bgops.example:1234{API}/accounts?")),
        "nextLink built from the request's Host: {link}"
    );
    assert!(
        link.contains("$skiptoken=") || link.contains("%24skiptoken="),
        "{link}"
    );

    // The rest: the link followed with the same Host header, and again rewritten to our host.
    loop {
        let resp = s
            .client
            .get(rehost(&s, &link))
            .bearer_auth(common::TOKEN)
            .header("Host", "bgops.example:1234")
            .header("Prefer", prefer)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let applied = resp
            .headers()
            .get("preference-applied")
            .map(|v| v.to_str().unwrap().to_owned());
        let text = resp.text().await.unwrap();
        assert_eq!(status, 200, "{link}: {text}");
        assert_eq!(applied.as_deref(), Some("odata.maxpagesize=5000"));
        let body: Value = serde_json::from_str(&text).unwrap();
        pages.push(rows(&body).clone());
        match body.get("@odata.nextLink") {
            Some(l) => {
                link = l.as_str().unwrap().to_owned();
                assert!(
                    link.starts_with(&format!("http://bgops.example:1234{API}/accounts?")),
                    "{link}"
                );
            }
            None => break,
        }
        assert!(pages.len() < 10, "too many pages");
    }
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![5000, 5000, 2000]);
    let mut seen = HashSet::new();
    for row in pages.iter().flatten() {
        assert_eq!(
            keys(row),
            set(&["@odata.etag", "accountid", "name"]),
            "{row}"
        );
        let id = row["accountid"].as_str().unwrap().to_owned();
        assert!(seen.insert(id.clone()), "row {id} returned twice");
    }
    assert_eq!(seen, inserted, "every row exactly once");

    // Following the links with the real host works the same.
    let pages = all_pages(&s, &format!("{API}/accounts?$select=name"), prefer).await;
    let ids: HashSet<String> = pages
        .iter()
        .flatten()
        .map(|r| r["accountid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(pages.len(), 3);
    assert_eq!(ids, inserted);

    // Without a page size: 5,000 rows and a nextLink; $count and /$count stop at 5,000.
    let (_, body) = get_ok(
        &s,
        &format!("{API}/accounts?$select=name&$count=true"),
        None,
    )
    .await;
    assert_eq!(rows(&body).len(), 5000);
    assert_eq!(body["@odata.count"], 5000);
    let resp = get(&s, &format!("{API}/accounts/$count"), None).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap().trim(), "5000");
}

#[tokio::test]
async fn paging_in_descending_order_of_duplicate_names() {
    let s = start();
    let inserted = bulk_insert(&s, 12_000);
    // 1,000 is not a multiple of 3: page boundaries fall inside runs of equal names.
    let pages = all_pages(
        &s,
        &format!("{API}/accounts?$select=name&$orderby=name%20desc"),
        "odata.maxpagesize=1000",
    )
    .await;
    assert_eq!(pages.len(), 12);
    let all: Vec<&Value> = pages.iter().flatten().collect();
    let ids: Vec<String> = all
        .iter()
        .map(|r| r["accountid"].as_str().unwrap().to_owned())
        .collect();
    let unique: HashSet<String> = ids.iter().cloned().collect();
    assert_eq!(ids.len(), 12_000, "no row twice");
    assert_eq!(unique, inserted, "every row once");
    let names: Vec<&str> = all.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert!(
        names.windows(2).all(|w| w[0] >= w[1]),
        "descending by name across pages"
    );
    assert_eq!(names[0], "Bulk 03999");
    assert_eq!(names[11_999], "Bulk 00000");

    // A filtered (through an alias, which the links must carry), multi-column order with a
    // small page size and annotations.
    let pages = all_pages(
        &s,
        &format!(
            "{API}/accounts?$select=name,numberofemployees&$filter={}&$orderby=numberofemployees%20desc,name&@n=3",
            enc("numberofemployees lt @n")
        ),
        &format!("odata.maxpagesize=7, odata.include-annotations=\"{FORMATTED}\""),
    )
    .await;
    let all: Vec<&Value> = pages.iter().flatten().collect();
    assert_eq!(all.len(), 360, "3 of every 100 rows");
    let unique: HashSet<&str> = all
        .iter()
        .map(|r| r["accountid"].as_str().unwrap())
        .collect();
    assert_eq!(unique.len(), 360);
    let keys: Vec<(i64, &str)> = all
        .iter()
        .map(|r| {
            (
                r["numberofemployees"].as_i64().unwrap(),
                r["name"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(
        keys.windows(2)
            .all(|w| w[0].0 > w[1].0 || (w[0].0 == w[1].0 && w[0].1 <= w[1].1)),
        "ordered by numberofemployees desc, name asc"
    );
}

/// Splits a nextLink into its query pairs (still encoded).
fn link_query(link: &str) -> Vec<(String, String)> {
    let q = link.split_once('?').expect("a query").1;
    q.split('&')
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

fn skiptoken_of(link: &str) -> String {
    link_query(link)
        .into_iter()
        .find(|(k, _)| k == "$skiptoken" || k == "%24skiptoken")
        .unwrap_or_else(|| panic!("no $skiptoken in {link}"))
        .1
}

#[tokio::test]
async fn skiptokens_are_tamper_checked_and_bound_to_their_query() {
    let s = start();
    seed(&s).await;
    let prefer = "odata.maxpagesize=2";
    let filter = enc("numberofemployees ne null");
    let resp = s
        .req(
            Method::GET,
            &format!("{API}/accounts?$select=name&$filter={filter}&$orderby=name"),
        )
        .header("Prefer", prefer)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(rows(&body).len(), 2);
    let link = body["@odata.nextLink"]
        .as_str()
        .expect("nextLink")
        .to_owned();
    let token = skiptoken_of(&link);

    // The link itself works.
    let resp = s
        .client
        .get(&link)
        .bearer_auth(common::TOKEN)
        .header("Prefer", prefer)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let page2: Value = resp.json().await.unwrap();
    let got: Vec<&str> = rows(&page2)
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(got, vec!["Gamma", "O'Brien"]);

    // One character changed in the middle.
    let mut chars: Vec<char> = token.chars().collect();
    let mid = chars.len() / 2;
    // Stay off percent-escapes: move to a plain alphanumeric character.
    let pos = (mid..chars.len())
        .chain(0..mid)
        .find(|&i| {
            chars[i].is_ascii_alphanumeric()
                && (i < 1 || chars[i - 1] != '%')
                && (i < 2 || chars[i - 2] != '%')
        })
        .expect("an alphanumeric character");
    chars[pos] = if chars[pos] == 'A' { 'B' } else { 'A' };
    let tampered: String = chars.into_iter().collect();
    let bad_link = link.replace(&token, &tampered);
    assert_ne!(bad_link, link);
    let resp = s
        .client
        .get(&bad_link)
        .bearer_auth(common::TOKEN)
        .header("Prefer", prefer)
        .send()
        .await
        .unwrap();
    expect_error(resp, 400, None, "tampered $skiptoken").await;

    // Garbage.
    for junk in ["x", "%00%FF", "e30"] {
        let resp = s
            .req(
                Method::GET,
                &format!(
                    "{API}/accounts?$select=name&$filter={filter}&$orderby=name&$skiptoken={junk}"
                ),
            )
            .header("Prefer", prefer)
            .send()
            .await
            .unwrap();
        expect_error(resp, 400, None, &format!("$skiptoken={junk}")).await;
    }

    // The genuine token replayed on another $filter, and on another $orderby.
    for other in [
        format!(
            "$select=name&$filter={}&$orderby=name",
            enc("numberofemployees ne 10")
        ),
        format!("$select=name&$filter={filter}&$orderby=name%20desc"),
    ] {
        let resp = s
            .req(
                Method::GET,
                &format!("{API}/accounts?{other}&$skiptoken={token}"),
            )
            .header("Prefer", prefer)
            .send()
            .await
            .unwrap();
        expect_error(resp, 400, None, &format!("token replayed on {other}")).await;
    }

    // And on another table.
    let resp = s
        .req(
            Method::GET,
            &format!("{API}/contacts?$select=fullname&$skiptoken={token}"),
        )
        .header("Prefer", prefer)
        .send()
        .await
        .unwrap();
    expect_error(resp, 400, None, "token replayed on contacts").await;
}
