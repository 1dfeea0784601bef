//! Submissions with an idempotency key are sent again, with the same key and body, when the
//! answer says the request may not have arrived or may succeed later (409 in flight, 502–504);
//! without a key, or for any other refusal, they are not. Against a scripted server.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use bgops_client::{Client, SubmitOptions, SUBMIT_RETRIES};
use serde_json::json;

/// The answers to give in turn (the last one repeats), and what was received.
#[derive(Default)]
struct Script {
    answers: Vec<u16>,
    /// Each request's `Idempotency-Key` and body.
    seen: Vec<(Option<String>, String)>,
}

const ID: &str = "3aadf856-1939-49d5-a1e0-870d76edefb2";

async fn submit(
    State(script): State<Arc<Mutex<Script>>>,
    headers: HeaderMap,
    body: String,
) -> impl IntoResponse {
    let mut s = script.lock().unwrap();
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    s.seen.push((key, body));
    let status = s.answers[(s.seen.len() - 1).min(s.answers.len() - 1)];
    let mut out = HeaderMap::new();
    if status == 202 {
        out.insert(
            "x-ms-dyn-backgroundoperationid",
            HeaderValue::from_static(ID),
        );
        return (StatusCode::ACCEPTED, out, String::new());
    }
    out.insert("content-type", HeaderValue::from_static("application/json"));
    let body = json!({"error": {"code": "0x80040216", "message": format!("answer {status}")}});
    (StatusCode::from_u16(status).unwrap(), out, body.to_string())
}

async fn serve(answers: &[u16]) -> (Client, Arc<Mutex<Script>>) {
    let script = Arc::new(Mutex::new(Script {
        answers: answers.to_vec(),
        ..Script::default()
    }));
    let app = axum::Router::new()
        .route("/api/data/v9.2/{name}", post(submit))
        .with_state(script.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (Client::new(&format!("http://{addr}"), "t").unwrap(), script)
}

#[tokio::test]
async fn a_keyed_submission_is_sent_again_while_in_flight_or_unavailable() {
    let (client, script) = serve(&[409, 503, 202]).await;
    let op = client
        .submit_with(
            "bgops_Echo",
            &json!({"Text": "once"}),
            &SubmitOptions::idempotent("order-17"),
        )
        .await
        .unwrap();
    assert_eq!(op.id.to_string(), ID);
    let seen = &script.lock().unwrap().seen;
    assert_eq!(seen.len(), 3);
    for (key, body) in seen {
        assert_eq!(key.as_deref(), Some("order-17"));
        assert_eq!(body, r#"{"Text":"once"}"#);
    }
}

#[tokio::test]
async fn retries_end_with_the_last_answer() {
    let (client, script) = serve(&[409]).await;
    let err = client
        .submit_with("bgops_Echo", &json!({}), &SubmitOptions::idempotent("k"))
        .await
        .unwrap_err();
    assert_eq!(err.http_status(), Some(409));
    assert_eq!(
        script.lock().unwrap().seen.len(),
        1 + SUBMIT_RETRIES as usize
    );
}

#[tokio::test]
async fn no_retry_without_a_key_or_for_a_refusal() {
    let (client, script) = serve(&[503, 202]).await;
    let options = SubmitOptions {
        retries: 3,
        ..SubmitOptions::default()
    };
    let err = client
        .submit_with("bgops_Echo", &json!({}), &options)
        .await
        .unwrap_err();
    assert_eq!(err.http_status(), Some(503));
    assert_eq!(script.lock().unwrap().seen.len(), 1);

    let (client, script) = serve(&[400, 202]).await;
    let err = client
        .submit_with("bgops_Echo", &json!({}), &SubmitOptions::idempotent("k"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("0x80040216"));
    assert_eq!(script.lock().unwrap().seen.len(), 1);
}
