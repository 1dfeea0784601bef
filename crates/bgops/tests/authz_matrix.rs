//! The authorization matrix of SPEC §10 through HTTP against the real binary: for each route,
//! no token, a bad token, a Basic User on their own row and on another user's row, a user
//! without a custom API's execute privilege, impersonation with and without Delegate — each
//! with the exact status, code and message. Rows of one user never appear in another's queries,
//! counts, pages or status monitor. Users, roles and keys are set up over the Web API by the
//! bootstrap administrator, as an operator would.

mod common;

use std::time::Duration;

use common::custom_apis::{create_api, post, API, ECHO_PLUGIN};
use common::idp::{claims, sign_hs256, unix};
use common::users::{user, User, BASIC_USER, DELEGATE};
use common::Server;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};

const UNAUTHENTICATED: &str =
    "The request is not authenticated: send 'Authorization: Bearer {token}' with a valid API key.";

/// A server with Alice and Bob (Basic User), Dave (Basic User and Delegate), Nora (no role),
/// and `test_Echo` / `test_Delay` custom APIs anyone may execute.
struct Env {
    s: Server,
    alice: User,
    bob: User,
    dave: User,
    nora: User,
    /// Alice's Entra object id (for `CallerObjectId`).
    alice_oid: String,
}

fn with_key(s: &Server, method: Method, path: &str, key: Option<&str>) -> RequestBuilder {
    let r = s.client.request(method, s.url(path));
    match key {
        Some(k) => r.bearer_auth(k),
        None => r,
    }
}

async fn env() -> Env {
    let s = Server::start(&[]);
    create_api(&s, "test_Echo", ECHO_PLUGIN, ("Text", 10), "Text").await;
    create_api(
        &s,
        "test_Delay",
        "Bgops.Diagnostics.Delay",
        ("DelayMs", 7),
        "DelayedMs",
    )
    .await;
    let alice_oid = uuid::Uuid::new_v4().to_string();
    let alice = user(&s, "alice", &[BASIC_USER], Some(&alice_oid)).await;
    let bob = user(&s, "bob", &[BASIC_USER], None).await;
    let dave = user(&s, "dave", &[BASIC_USER, DELEGATE], None).await;
    let nora = user(&s, "nora", &[], None).await;
    Env {
        s,
        alice,
        bob,
        dave,
        nora,
        alice_oid,
    }
}

/// Asserts the exact status, code and message of an error.
async fn expect(resp: Response, status: u16, code: &str, message: &str, what: &str) {
    let got = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    assert_eq!(got, status, "{what}: status; body: {text}");
    let body: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text}"));
    assert_eq!(body["error"]["code"], code, "{what}: code; body: {text}");
    assert_eq!(body["error"]["message"], message, "{what}: message");
}

fn denied(user: &str, privilege: &str, entity: &str) -> String {
    format!(
        "Principal user (Id={user}, type=8) is missing {privilege} privilege on entity '{entity}'. Consider adding missing privilege to one of the principal (user/team) roles for the request to succeed."
    )
}

fn missing(user: &str, privilege: &str) -> String {
    format!(
        "Principal user (Id={user}, type=8) is missing {privilege} privilege. Consider adding missing privilege to one of the principal (user/team) roles for the request to succeed."
    )
}

/// Submits `api` in the background as `key` (with extra headers); returns the operation id.
async fn submit_as(
    s: &Server,
    key: &str,
    api: &str,
    body: Value,
    headers: &[(&str, &str)],
) -> String {
    let mut r = with_key(s, Method::POST, &format!("{API}/{api}"), Some(key))
        .header("Prefer", "respond-async")
        .json(&body);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let resp = r.send().await.unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::ACCEPTED,
        "{api}: {}",
        resp.text().await.unwrap_or_default()
    );
    resp.headers()["x-ms-dyn-backgroundoperationid"]
        .to_str()
        .unwrap()
        .to_owned()
}

async fn get_json(s: &Server, key: &str, path: &str) -> Value {
    let resp = with_key(s, Method::GET, path, Some(key))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "GET {path}: {text}");
    serde_json::from_str(&text).unwrap()
}

fn ids(page: &Value) -> Vec<String> {
    let mut out: Vec<String> = page["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["backgroundoperationid"].as_str().unwrap().to_owned())
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn every_route_answers_each_kind_of_caller_exactly() {
    let e = env().await;
    let s = &e.s;
    let echo = json!({"Text": "hi"});
    let a1 = submit_as(s, &e.alice.key, "test_Echo", echo.clone(), &[]).await;
    let absent = uuid::Uuid::new_v4().to_string();
    let monitor = |id: &str| format!("/api/backgroundoperation/{id}");
    let row = |id: &str| format!("{API}/backgroundoperations({id})");

    // Routes that need a token, with none and with a bad one: 401, the same answer everywhere.
    let routes: Vec<(Method, String)> = vec![
        (Method::GET, monitor(&a1)),
        (Method::DELETE, monitor(&a1)),
        (Method::GET, format!("{API}/backgroundoperations")),
        (Method::GET, format!("{API}/backgroundoperations/$count")),
        (Method::GET, row(&a1)),
        (Method::PATCH, row(&a1)),
        (Method::POST, format!("{API}/test_Echo")),
        (Method::GET, format!("{API}/accounts")),
        (Method::POST, format!("{API}/customapis")),
        (Method::GET, format!("{API}/WhoAmI()")),
    ];
    for (method, path) in &routes {
        for key in [None, Some("bgops_not-a-key")] {
            let resp = with_key(s, method.clone(), path, key)
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            assert_eq!(
                resp.headers()
                    .get("www-authenticate")
                    .and_then(|v| v.to_str().ok()),
                Some("Bearer"),
                "{method} {path}"
            );
            expect(
                resp,
                401,
                "0x80044306",
                UNAUTHENTICATED,
                &format!("{method} {path} with {key:?}"),
            )
            .await;
        }
    }

    // Status monitor: the owner reads it; another Basic User gets exactly the 404 of an
    // absent id; a user without a role gets the 403 naming the privilege.
    let resp = with_key(s, Method::GET, &monitor(&a1), Some(&e.alice.key))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let not_found = |id: &str| format!("Could not find item '{id}'.");
    for (key, id) in [(&e.bob.key, &a1), (&e.bob.key, &absent)] {
        let resp = with_key(s, Method::GET, &monitor(id), Some(key))
            .send()
            .await
            .unwrap();
        expect(resp, 404, "0x80040217", &not_found(id), "bob GET monitor").await;
        let resp = with_key(s, Method::DELETE, &monitor(id), Some(key))
            .send()
            .await
            .unwrap();
        expect(
            resp,
            404,
            "0x80040217",
            &not_found(id),
            "bob DELETE monitor",
        )
        .await;
    }
    let resp = with_key(s, Method::GET, &monitor(&a1), Some(&e.nora.key))
        .send()
        .await
        .unwrap();
    expect(
        resp,
        403,
        "0x80040220",
        &denied(
            &e.nora.id,
            "prvReadbackgroundoperation",
            "backgroundoperation",
        ),
        "nora GET monitor",
    )
    .await;
    let resp = with_key(s, Method::DELETE, &monitor(&a1), Some(&e.nora.key))
        .send()
        .await
        .unwrap();
    expect(
        resp,
        403,
        "0x80040220",
        &denied(
            &e.nora.id,
            "prvWritebackgroundoperation",
            "backgroundoperation",
        ),
        "nora DELETE monitor",
    )
    .await;

    // The row over the Web API: the owner reads it, another user gets the absent row's 404
    // (read, cancel with PATCH).
    let got = get_json(s, &e.alice.key, &row(&a1)).await;
    assert_eq!(got["backgroundoperationid"], a1.as_str());
    let row_not_found = |id: &str| format!("backgroundoperation With Id = {id} Does Not Exist");
    for id in [&a1, &absent] {
        let resp = with_key(s, Method::GET, &row(id), Some(&e.bob.key))
            .send()
            .await
            .unwrap();
        expect(resp, 404, "0x80040217", &row_not_found(id), "bob GET row").await;
        let resp = with_key(s, Method::PATCH, &row(id), Some(&e.bob.key))
            .json(&json!({"backgroundoperationstatecode": 2, "backgroundoperationstatuscode": 22}))
            .send()
            .await
            .unwrap();
        expect(resp, 404, "0x80040217", &row_not_found(id), "bob PATCH row").await;
    }

    // Submissions: Basic Users may; a user without a role may not run in the background
    // (read first), but may call synchronously an API without an execute privilege; nobody but
    // an administrator runs the diagnostic APIs (their execute privilege).
    let resp = with_key(
        s,
        Method::POST,
        &format!("{API}/test_Echo"),
        Some(&e.nora.key),
    )
    .header("Prefer", "respond-async")
    .json(&echo)
    .send()
    .await
    .unwrap();
    expect(
        resp,
        403,
        "0x80040220",
        &denied(
            &e.nora.id,
            "prvReadbackgroundoperation",
            "backgroundoperation",
        ),
        "nora submits",
    )
    .await;
    let resp = with_key(
        s,
        Method::POST,
        &format!("{API}/test_Echo"),
        Some(&e.nora.key),
    )
    .json(&echo)
    .send()
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "nora calls synchronously");
    let resp = with_key(
        s,
        Method::POST,
        &format!("{API}/bgops_Echo"),
        Some(&e.alice.key),
    )
    .header("Prefer", "respond-async")
    .json(&echo)
    .send()
    .await
    .unwrap();
    expect(
        resp,
        403,
        "0x80040220",
        &missing(&e.alice.id, "prvBgopsDiagnostics"),
        "alice runs a diagnostic API",
    )
    .await;
    let resp = with_key(
        s,
        Method::POST,
        &format!("{API}/ExecuteBackgroundOperation"),
        Some(&e.alice.key),
    )
    .json(&json!({"Request": {"RequestName": "bgops_Echo", "Parameters": {}}}))
    .send()
    .await
    .unwrap();
    expect(
        resp,
        403,
        "0x80040220",
        &missing(&e.alice.id, "prvBgopsDiagnostics"),
        "alice ExecuteBackgroundOperation of a diagnostic API",
    )
    .await;

    // Other tables need their own privileges; metadata tables the System Administrator role.
    let resp = with_key(
        s,
        Method::GET,
        &format!("{API}/accounts"),
        Some(&e.alice.key),
    )
    .send()
    .await
    .unwrap();
    expect(
        resp,
        403,
        "0x80040220",
        &denied(&e.alice.id, "prvReadaccount", "account"),
        "alice reads accounts",
    )
    .await;
    let resp = with_key(
        s,
        Method::POST,
        &format!("{API}/customapis"),
        Some(&e.alice.key),
    )
    .json(&json!({"uniquename": "x_Evil", "name": "x_Evil"}))
    .send()
    .await
    .unwrap();
    expect(
        resp,
        403,
        "0x80040220",
        &denied(&e.alice.id, "prvCreatecustomapi", "customapi"),
        "alice creates a custom API",
    )
    .await;
    let resp = with_key(
        s,
        Method::POST,
        &format!(
            "{API}/systemusers({})/systemuserroles_association/$ref",
            e.alice.id
        ),
        Some(&e.alice.key),
    )
    .json(&json!({"@odata.id": format!("{API}/roles({DELEGATE})")}))
    .send()
    .await
    .unwrap();
    expect(
        resp,
        403,
        "0x80040220",
        &denied(&e.alice.id, "prvCreatesystemuserroles", "systemuserroles"),
        "alice gives herself Delegate",
    )
    .await;
}

#[tokio::test]
async fn rows_of_one_user_never_reach_another() {
    let e = env().await;
    let s = &e.s;
    let mut alice_rows = Vec::new();
    for i in 0..3 {
        alice_rows.push(
            submit_as(
                s,
                &e.alice.key,
                "test_Echo",
                json!({"Text": format!("a{i}")}),
                &[],
            )
            .await,
        );
    }
    let bob_row = submit_as(s, &e.bob.key, "test_Echo", json!({"Text": "b"}), &[]).await;
    alice_rows.sort();

    let set = format!("{API}/backgroundoperations");
    let page = get_json(s, &e.alice.key, &format!("{set}?$count=true")).await;
    assert_eq!(ids(&page), alice_rows);
    assert_eq!(page["@odata.count"], 3);
    let page = get_json(s, &e.bob.key, &format!("{set}?$count=true")).await;
    assert_eq!(ids(&page), vec![bob_row.clone()]);
    assert_eq!(page["@odata.count"], 1);
    // The administrator (Global) sees all four.
    let resp = s
        .req(Method::GET, &format!("{set}?$count=true"))
        .send()
        .await
        .unwrap();
    let all: Value = resp.json().await.unwrap();
    assert_eq!(all["@odata.count"], 4);

    // `/$count` and `$filter` that names the other's row.
    let resp = with_key(s, Method::GET, &format!("{set}/$count"), Some(&e.bob.key))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.text().await.unwrap(), "1");
    let filter = format!(
        "{set}?$filter=backgroundoperationid%20eq%20{}",
        alice_rows[0]
    );
    let page = get_json(s, &e.bob.key, &filter).await;
    assert!(ids(&page).is_empty(), "bob's $filter finds none of alice's");
    let page = get_json(
        s,
        &e.bob.key,
        &format!("{set}?$filter=name%20eq%20'test_Echo'&$count=true"),
    )
    .await;
    assert_eq!(page["@odata.count"], 1);

    // Pages: alice walks hers one at a time and sees only hers.
    let mut seen = Vec::new();
    let mut next = Some(s.url(&format!("{set}?$select=name")));
    while let Some(url) = next.take() {
        let resp = s
            .client
            .get(&url)
            .bearer_auth(&e.alice.key)
            .header("Prefer", "odata.maxpagesize=1")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let page: Value = resp.json().await.unwrap();
        seen.extend(ids(&page));
        next = page["@odata.nextLink"].as_str().map(str::to_owned);
        assert!(
            seen.len() <= 3,
            "alice's pages end after her rows: {seen:?}"
        );
    }
    seen.sort();
    assert_eq!(seen, alice_rows);

    // A page token of alice's is no key to bob's view.
    let resp = s
        .client
        .get(s.url(&format!("{set}?$select=name")))
        .bearer_auth(&e.alice.key)
        .header("Prefer", "odata.maxpagesize=1")
        .send()
        .await
        .unwrap();
    let page: Value = resp.json().await.unwrap();
    let link = page["@odata.nextLink"].as_str().unwrap().to_owned();
    let resp = s
        .client
        .get(&link)
        .bearer_auth(&e.bob.key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::BAD_REQUEST,
        "another view's skiptoken"
    );

    // The status monitor: each sees their own.
    for id in &alice_rows {
        let resp = with_key(
            s,
            Method::GET,
            &format!("/api/backgroundoperation/{id}"),
            Some(&e.bob.key),
        )
        .send()
        .await
        .unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    }
    let resp = with_key(
        s,
        Method::GET,
        &format!("/api/backgroundoperation/{bob_row}"),
        Some(&e.bob.key),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn cancelling_needs_the_row_in_reach() {
    let e = env().await;
    let s = &e.s;
    let long = submit_as(
        s,
        &e.alice.key,
        "test_Delay",
        json!({"DelayMs": 60_000}),
        &[],
    )
    .await;
    let path = format!("/api/backgroundoperation/{long}");
    let resp = with_key(s, Method::DELETE, &path, Some(&e.bob.key))
        .send()
        .await
        .unwrap();
    expect(
        resp,
        404,
        "0x80040217",
        &format!("Could not find item '{long}'."),
        "bob cancels alice's",
    )
    .await;
    let status = get_json(s, &e.alice.key, &path).await;
    assert_ne!(
        status["backgroundOperationStatusCode"], 22,
        "bob's cancel changed nothing"
    );
    let resp = with_key(s, Method::DELETE, &path, Some(&e.alice.key))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "alice cancels her own");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["backgroundOperationStatusCode"], 22);
    let done = s.wait_terminal(&long, Duration::from_secs(20)).await;
    assert_eq!(done["backgroundOperationStatusCode"], 32);
}

#[tokio::test]
async fn impersonation_needs_delegate() {
    let e = env().await;
    let s = &e.s;
    // Dave (Delegate) acts as Alice: the row runs as Alice, was created by Dave, and is Alice's.
    let id = submit_as(
        s,
        &e.dave.key,
        "test_Echo",
        json!({"Text": "on behalf"}),
        &[("MSCRMCallerID", &e.alice.id)],
    )
    .await;
    let row = s.row(&id).await;
    assert_eq!(row["runas"], e.alice.id.as_str());
    assert_eq!(row["_createdby_value"], e.dave.id.as_str());
    let resp = with_key(
        s,
        Method::GET,
        &format!("/api/backgroundoperation/{id}"),
        Some(&e.alice.key),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "alice sees the row run as her"
    );
    let resp = with_key(
        s,
        Method::GET,
        &format!("/api/backgroundoperation/{id}"),
        Some(&e.dave.key),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::NOT_FOUND,
        "dave, as himself, does not"
    );

    // By Entra object id.
    let who = with_key(
        s,
        Method::GET,
        &format!("{API}/WhoAmI()"),
        Some(&e.dave.key),
    )
    .header("CallerObjectId", &e.alice_oid)
    .send()
    .await
    .unwrap();
    assert_eq!(who.status(), StatusCode::OK);
    let who: Value = who.json().await.unwrap();
    assert_eq!(who["UserId"], e.alice.id.as_str());

    // Without Delegate: 403, nothing stored.
    for (header, value) in [
        ("MSCRMCallerID", e.bob.id.as_str()),
        ("CallerObjectId", e.alice_oid.as_str()),
    ] {
        let resp = with_key(
            s,
            Method::POST,
            &format!("{API}/test_Echo"),
            Some(&e.alice.key),
        )
        .header("Prefer", "respond-async")
        .header(header, value)
        .json(&json!({"Text": "x"}))
        .send()
        .await
        .unwrap();
        expect(
            resp,
            403,
            "0x8004a110",
            "User does not have the privilege to act on behalf another user.",
            &format!("alice impersonates with {header}"),
        )
        .await;
    }
    let resp = s
        .req(Method::GET, &format!("{API}/backgroundoperations/$count"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.text().await.unwrap(),
        "1",
        "only dave's submission is stored"
    );

    // An unknown or malformed user.
    let ghost = uuid::Uuid::new_v4().to_string();
    let resp = with_key(
        s,
        Method::GET,
        &format!("{API}/WhoAmI()"),
        Some(&e.dave.key),
    )
    .header("MSCRMCallerID", &ghost)
    .send()
    .await
    .unwrap();
    expect(
        resp,
        404,
        "0x80040217",
        &format!("systemuser With Id = {ghost} Does Not Exist"),
        "unknown user",
    )
    .await;
    let resp = with_key(
        s,
        Method::GET,
        &format!("{API}/WhoAmI()"),
        Some(&e.dave.key),
    )
    .header("MSCRMCallerID", "not-a-guid")
    .send()
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    // The audit log names who acted as whom, and every refusal.
    let log = std::fs::read_to_string(&s.log).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("bgops::audit") && l.contains("impersonation"))
        .expect("an impersonation line");
    assert!(
        line.contains(&e.dave.id) && line.contains(&e.alice.id),
        "{line}"
    );
    assert!(line.contains("127.0.0.1"), "from where: {line}");
    let denial = log
        .lines()
        .find(|l| l.contains("privilege_denied") && l.contains("act on behalf"))
        .expect("the refused impersonation");
    assert!(denial.contains(&e.alice.id), "{denial}");
}

#[tokio::test]
async fn disabled_users_and_revoked_keys_stop_at_once() {
    let e = env().await;
    let s = &e.s;
    let who = format!("{API}/WhoAmI()");
    let ok = with_key(s, Method::GET, &who, Some(&e.bob.key))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let resp = s
        .req(Method::PATCH, &format!("{API}/systemusers({})", e.bob.id))
        .header("If-Match", "*")
        .json(&json!({"isdisabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let resp = with_key(s, Method::GET, &who, Some(&e.bob.key))
        .send()
        .await
        .unwrap();
    expect(resp, 401, "0x80044306", UNAUTHENTICATED, "disabled bob").await;

    // A second key for alice, then revoked; the first keeps working.
    let resp = post(
        s,
        &format!("systemusers({})/bgops_apikeys", e.alice.id),
        &json!({"name": "laptop", "expireson": "2099-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let created: Value = resp.json().await.unwrap();
    let second = created["key"].as_str().unwrap().to_owned();
    let key_id = created["bgops_apikeyid"].as_str().unwrap().to_owned();
    assert_eq!(created["expireson"], "2099-01-01T00:00:00Z");
    let ok = with_key(s, Method::GET, &who, Some(&second))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let resp = s
        .req(
            Method::DELETE,
            &format!("{API}/systemusers({})/bgops_apikeys({key_id})", e.alice.id),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let resp = with_key(s, Method::GET, &who, Some(&second))
        .send()
        .await
        .unwrap();
    expect(resp, 401, "0x80044306", UNAUTHENTICATED, "revoked key").await;
    let ok = with_key(s, Method::GET, &who, Some(&e.alice.key))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);

    // The listing shows names and times, never a secret.
    let list: Value = s
        .req(
            Method::GET,
            &format!("{API}/systemusers({})/bgops_apikeys", e.alice.id),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys = list["value"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert!(keys.iter().all(|k| k.get("key").is_none()));
    assert!(!list.to_string().contains(&second));
    assert!(keys
        .iter()
        .any(|k| k["name"] == "laptop" && k["revokedon"].is_string()));

    // Taking Basic User from alice takes her privileges at once.
    let resp = s
        .req(
            Method::DELETE,
            &format!(
                "{API}/systemusers({})/systemuserroles_association({BASIC_USER})/$ref",
                e.alice.id
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let resp = with_key(
        s,
        Method::GET,
        &format!("{API}/backgroundoperations"),
        Some(&e.alice.key),
    )
    .send()
    .await
    .unwrap();
    expect(
        resp,
        403,
        "0x80040220",
        &denied(
            &e.alice.id,
            "prvReadbackgroundoperation",
            "backgroundoperation",
        ),
        "alice without a role",
    )
    .await;

    // Every one of these changes is in the audit log, and no key is.
    let log = std::fs::read_to_string(&s.log).unwrap();
    for event in [
        "key_created",
        "key_revoked",
        "role_disassociated",
        "user_changed",
        "authentication_failed",
        "privilege_denied",
    ] {
        assert!(log.contains(event), "audit log has {event}");
    }
    assert!(log.contains("bgops::audit"));
    assert!(
        !log.contains(&second) && !log.contains(&e.alice.key),
        "no key in the log"
    );
}

#[tokio::test]
async fn plug_ins_run_with_the_privileges_of_runas() {
    let e = env().await;
    let s = &e.s;
    // The sample export reads accounts through the plug-in's data access: Alice (Basic User)
    // may submit it, but the plug-in, running as Alice, may not read accounts.
    let fetch = json!({"FetchXml": "<fetch><entity name='account'><attribute name='name'/></entity></fetch>"});
    let api = "sample_ExportDataUsingFetchXmlToAnnotation";
    let id = submit_as(s, &e.alice.key, api, fetch.clone(), &[]).await;
    let done = s.wait_terminal(&id, Duration::from_secs(20)).await;
    assert_eq!(done["backgroundOperationStatusCode"], 31, "{done}");
    assert_eq!(
        done["backgroundOperationErrorCode"], -2147220960_i64,
        "{done}"
    );
    assert_eq!(
        done["backgroundOperationErrorMessage"],
        denied(&e.alice.id, "prvReadaccount", "account").as_str()
    );
    let row = s.row(&id).await;
    assert_eq!(row["retrycount"], 0, "a missing privilege is not retried");
    // The administrator's run of the same request succeeds.
    let id = s.submit(api, fetch).await;
    let done = s.wait_terminal(&id, Duration::from_secs(20)).await;
    assert_eq!(done["backgroundOperationStatusCode"], 30, "{done}");
}

/// The JWT rows of the matrix: a user provisioned on first sign-in (`--jwt-auto-provision`) is a
/// Basic User like a key user (submits, sees only their own rows; another user's row is the
/// absent row's 404), `CallerObjectId` finds them by their Entra object id, and an expired
/// token or one for another audience gets 401 on a protected route.
#[tokio::test]
async fn jwt_users_get_basic_user_rights_and_bad_tokens_are_refused() {
    const SECRET: &str = "dev-secret-of-at-least-some-length";
    const ISS: &str = "https://dev.example";
    const AUD: &str = "bgops";
    const TID: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    let oid = uuid::Uuid::new_v4().to_string();
    let s = Server::start(&[
        "--jwt-issuer",
        ISS,
        "--jwt-audience",
        AUD,
        "--jwt-dev-hs256-secret",
        SECRET,
        "--jwt-auto-provision",
    ]);
    create_api(&s, "test_Echo", ECHO_PLUGIN, ("Text", 10), "Text").await;
    let bob = user(&s, "bob", &[BASIC_USER], None).await;
    let dave = user(&s, "dave", &[BASIC_USER, DELEGATE], None).await;
    let good = claims(ISS, AUD, TID, &oid);
    let token = sign_hs256(SECRET, &good);

    // The first request provisions the user; as a Basic User it may submit.
    let who = get_json(&s, &token, &format!("{API}/WhoAmI()")).await;
    let jwt_user = who["UserId"].as_str().expect("UserId").to_owned();
    let own = submit_as(&s, &token, "test_Echo", json!({"Text": "jwt"}), &[]).await;
    let bobs = submit_as(&s, &bob.key, "test_Echo", json!({"Text": "bob"}), &[]).await;

    // Own rows only: the list holds its own row, another user's row is the absent row's 404.
    let page = get_json(&s, &token, &format!("{API}/backgroundoperations")).await;
    assert_eq!(
        ids(&page),
        vec![own.clone()],
        "a JWT user sees only their own rows"
    );
    get_json(&s, &token, &format!("{API}/backgroundoperations({own})")).await;
    for path in [
        format!("{API}/backgroundoperations({bobs})"),
        format!("/api/backgroundoperation/{bobs}"),
    ] {
        let resp = with_key(&s, Method::GET, &path, Some(&token))
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::NOT_FOUND,
            "GET {path} as the JWT user"
        );
    }
    // Bob does not see the JWT user's row either.
    let resp = with_key(
        &s,
        Method::GET,
        &format!("{API}/backgroundoperations({own})"),
        Some(&bob.key),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::NOT_FOUND,
        "bob GET the JWT user's row"
    );

    // CallerObjectId names the JWT user by the same look-up that signs them in.
    let resp = with_key(&s, Method::GET, &format!("{API}/WhoAmI()"), Some(&dave.key))
        .header("CallerObjectId", &oid)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "dave acting as the JWT user");
    let acting: Value = resp.json().await.unwrap();
    assert_eq!(acting["UserId"], jwt_user.as_str());

    // Expired, or for another audience: 401 on a protected route.
    let mut expired = good.clone();
    expired["exp"] = json!(unix(-3600));
    let mut other_audience = good.clone();
    other_audience["aud"] = json!("https://other.example");
    for (what, claims) in [("expired", expired), ("another audience", other_audience)] {
        let resp = with_key(
            &s,
            Method::GET,
            &format!("{API}/backgroundoperations"),
            Some(&sign_hs256(SECRET, &claims)),
        )
        .send()
        .await
        .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{what}");
    }
}
