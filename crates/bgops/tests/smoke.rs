//! The quick start works: the server starts, answers /health, runs bgops_Echo in the background.

mod common;

use common::Server;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn health_and_echo_in_the_background() {
    let s = Server::start(common::FAST);
    let h = s.client.get(s.url("/health")).send().await.unwrap();
    assert_eq!(h.status(), 200);
    let id = s
        .submit(
            "bgops_Echo",
            json!({"Text": "hi", "Number": 7, "Flag": true}),
        )
        .await;
    let body = s.wait_terminal(&id, Duration::from_secs(10)).await;
    assert_eq!(
        body,
        json!({
            "backgroundOperationStateCode": 3,
            "backgroundOperationStatusCode": 30,
            "Text": "hi", "Number": 7, "Flag": true
        })
    );
}
