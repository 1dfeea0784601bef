//! Service protection (`--rate-limit-*`): per user, more than N requests in the sliding window
//! or more than C at once get 429 with `Retry-After` and Dataverse's codes and messages; a
//! client that waits `Retry-After` then succeeds; other users are not affected.

mod common;

use std::time::Duration;

use common::idp::{sign_hs256, unix};
use common::{expect_error, Server};
use reqwest::StatusCode;
use serde_json::json;

const DEV_SECRET: &str = "service-protection-dev-secret";

/// A second user: a JWT user provisioned on first sight (HS256 with the dev flag).
fn jwt_flags() -> Vec<&'static str> {
    vec![
        "--jwt-issuer",
        "https://dev.example",
        "--jwt-audience",
        "bgops",
        "--jwt-dev-hs256-secret",
        DEV_SECRET,
        "--jwt-auto-provision",
    ]
}

fn other_user_token() -> String {
    sign_hs256(
        DEV_SECRET,
        &json!({"iss": "https://dev.example", "aud": "bgops", "sub": "bob", "exp": unix(600)}),
    )
}

async fn who_am_i(server: &Server, token: &str) -> reqwest::Response {
    server
        .client
        .get(server.url("/api/data/v9.2/WhoAmI()"))
        .bearer_auth(token)
        .send()
        .await
        .expect("WhoAmI")
}

/// Sends `send` until it is not a 429, sleeping `Retry-After` seconds after each 429, as a
/// well-behaved Dataverse client does; returns the final response and how many 429s it saw.
async fn honouring_retry_after<F, Fut>(send: F) -> (reqwest::Response, usize)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = reqwest::Response>,
{
    let mut throttled = 0;
    loop {
        let resp = send().await;
        if resp.status() != StatusCode::TOO_MANY_REQUESTS {
            return (resp, throttled);
        }
        throttled += 1;
        assert!(throttled < 20, "still throttled after 20 waits");
        let secs: u64 = resp.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .expect("Retry-After in seconds");
        assert!(secs >= 1);
        tokio::time::sleep(Duration::from_secs(secs)).await;
    }
}

#[tokio::test]
async fn more_requests_than_the_window_allows_get_429_until_retry_after_has_passed() {
    let mut flags = vec!["--rate-limit-requests", "3", "--rate-limit-window", "2s"];
    flags.extend(jwt_flags());
    let server = Server::start(&flags);
    let admin = common::TOKEN;
    for i in 0..3 {
        assert_eq!(
            who_am_i(&server, admin).await.status(),
            StatusCode::OK,
            "request {i} is within the limit"
        );
    }
    // The next ones are over (a sliding window may let one more through when the first
    // requests fell in the previous fixed window).
    let mut refused = None;
    for _ in 0..4 {
        let resp = who_am_i(&server, admin).await;
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(resp);
            break;
        }
    }
    let resp = refused.expect("a 429 once over the limit");
    let retry_after: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=4).contains(&retry_after), "Retry-After {retry_after}");
    let message = expect_error(resp, 429, Some("0x80072322"), "request limit").await;
    assert_eq!(
        message,
        "Number of requests exceeded the limit of 3 over time window of 2 seconds."
    );
    // Another user is not throttled by the administrator's requests; the health probe never is.
    assert_eq!(
        who_am_i(&server, &other_user_token()).await.status(),
        StatusCode::OK
    );
    for _ in 0..10 {
        let health = server
            .client
            .get(server.url("/health"))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), StatusCode::OK);
    }
    // Waiting as told is enough.
    let (resp, _) = honouring_retry_after(|| who_am_i(&server, admin)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    // The status monitor counts too.
    let id = uuid::Uuid::new_v4();
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(server.status(&id.to_string()).await.0);
    }
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn more_concurrent_requests_than_allowed_get_429_and_a_retry_succeeds() {
    let mut flags = vec!["--rate-limit-concurrent", "2"];
    flags.extend(jwt_flags());
    let server = std::sync::Arc::new(Server::start(&flags));
    // Two synchronous calls hold the administrator's two places for a while. (One that arrives
    // while a probe below holds a place is refused: it waits as told and comes back.)
    let slow: Vec<_> = (0..2)
        .map(|_| {
            let s = server.clone();
            tokio::spawn(async move {
                loop {
                    let status = s
                        .req(reqwest::Method::POST, "/api/data/v9.2/bgops_Delay")
                        .json(&json!({"DelayMs": 6000}))
                        .send()
                        .await
                        .expect("delay")
                        .status();
                    if status != StatusCode::TOO_MANY_REQUESTS {
                        return status;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            })
        })
        .collect();
    let mut refused = None;
    while slow.iter().any(|t| !t.is_finished()) {
        let resp = who_am_i(&server, common::TOKEN).await;
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(resp);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let resp = refused.expect("a third request while two run is refused");
    assert_eq!(resp.headers()["retry-after"], "1");
    let message = expect_error(resp, 429, Some("0x80072326"), "concurrency limit").await;
    assert_eq!(
        message,
        "Number of concurrent requests exceeded the limit of 2."
    );
    // Another user has places of its own.
    assert_eq!(
        who_am_i(&server, &other_user_token()).await.status(),
        StatusCode::OK
    );
    // Retrying as told succeeds once a place is free.
    let (resp, _) = honouring_retry_after(|| who_am_i(&server, common::TOKEN)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    for t in slow {
        assert_eq!(t.await.unwrap(), StatusCode::OK);
    }
}
