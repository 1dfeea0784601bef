//! The sample custom APIs of SPEC §11 end to end: the FetchXML export to a CSV note, run
//! synchronously and in the background against demo and test accounts, byte for byte against a
//! golden file, and the clean-up that removes exactly the export's notes.

mod common;

use std::time::Duration;

use base64::Engine as _;
use common::Server;
use reqwest::Method;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(20);

/// Test accounts with every awkward value: quotes, commas, a line break, non-ASCII, no revenue.
fn test_accounts() -> Vec<Value> {
    vec![
        json!({"accountid": "00000000-0000-4000-8000-000000000001", "accountnumber": "T-1",
               "name": "Plain Co", "revenue": 1000.5, "numberofemployees": 10}),
        json!({"accountid": "00000000-0000-4000-8000-000000000002", "accountnumber": "T-2",
               "name": "Says \"hello\", twice", "revenue": 20, "numberofemployees": 20}),
        json!({"accountid": "00000000-0000-4000-8000-000000000003", "accountnumber": "T-3",
               "name": "Line\r\nbreak", "numberofemployees": 30}),
        json!({"accountid": "00000000-0000-4000-8000-000000000004", "accountnumber": "T-4",
               "name": "Zürich 漢字 🚀", "revenue": 0.01, "numberofemployees": 40}),
    ]
}

const FETCH: &str = "<fetch version='1.0' output-format='xml-platform' mapping='logical' count='2'>\
  <entity name='account'>\
    <attribute name='name'/><attribute name='revenue'/><attribute name='numberofemployees'/>\
    <order attribute='accountnumber'/>\
    <filter type='and'><condition attribute='accountnumber' operator='begins-with' value='T-'/></filter>\
  </entity></fetch>";

async fn create_accounts(s: &Server) {
    for a in test_accounts() {
        let r = s
            .req(Method::POST, "/api/data/v9.2/accounts")
            .json(&a)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204, "{:?}", r.text().await);
    }
}

async fn note_csv(s: &Server, id: &str) -> (Value, Vec<u8>) {
    let r = s
        .req(Method::GET, &format!("/api/data/v9.2/annotations({id})"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let note: Value = r.json().await.unwrap();
    let body = base64::engine::general_purpose::STANDARD
        .decode(note["documentbody"].as_str().unwrap())
        .unwrap();
    (note, body)
}

#[tokio::test]
async fn export_matches_the_golden_file_synchronously_and_in_the_background() {
    let s = Server::start(common::FAST);
    create_accounts(&s).await;
    let golden = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/golden/sample_export.csv"
    ))
    .unwrap();

    // Synchronously: 200 with the note's id.
    let r = s
        .req(
            Method::POST,
            "/api/data/v9.2/sample_ExportDataUsingFetchXmlToAnnotation",
        )
        .json(&json!({"FetchXml": FETCH}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let out: Value = r.json().await.unwrap();
    let id = out["AnnotationId"].as_str().unwrap().to_owned();
    let (note, csv) = note_csv(&s, &id).await;
    assert_eq!(
        String::from_utf8_lossy(&csv),
        String::from_utf8_lossy(&golden)
    );
    assert_eq!(csv, golden, "byte for byte");
    assert_eq!(note["subject"], "Export Data Using FetchXml To Csv");
    assert_eq!(note["filename"], "exportdatausingfetchxml.csv");
    assert_eq!(note["mimetype"], "text/csv");
    assert_eq!(note["filesize"], golden.len());

    // In the background: the status monitor returns the id as a native GUID string.
    let op = s
        .submit(
            "sample_ExportDataUsingFetchXmlToAnnotation",
            json!({"FetchXml": FETCH}),
        )
        .await;
    let status = s.wait_terminal(&op, WAIT).await;
    assert_eq!(status["backgroundOperationStatusCode"], 30, "{status}");
    let (_, csv) = note_csv(&s, status["AnnotationId"].as_str().unwrap()).await;
    assert_eq!(csv, golden);
    let row = s.row(&op).await;
    assert!(row["outputparameters"]
        .as_str()
        .unwrap()
        .contains("AnnotationId"));
}

#[tokio::test]
async fn export_reads_every_page_of_the_demo_accounts() {
    let s = Server::start(&["--retry-base-delay", "50ms", "--demo-data", "true"]);
    let fetch = "<fetch count='5'><entity name='account'><attribute name='name'/>\
                 <order attribute='name'/></entity></fetch>";
    let op = s
        .submit(
            "sample_ExportDataUsingFetchXmlToAnnotation",
            json!({"FetchXml": fetch}),
        )
        .await;
    let status = s.wait_terminal(&op, WAIT).await;
    assert_eq!(status["backgroundOperationStatusCode"], 30, "{status}");
    let (_, csv) = note_csv(&s, status["AnnotationId"].as_str().unwrap()).await;
    let text = String::from_utf8(csv).unwrap();
    let count = s
        .req(Method::GET, "/api/data/v9.2/accounts/$count")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let accounts: usize = count.parse().unwrap();
    assert!(accounts > 5, "demo data has more rows than one page");
    assert!(text.starts_with("name,accountid\r\n"), "{text}");
    assert_eq!(
        text.matches("\r\n").count(),
        accounts + 1,
        "header + every account: {text}"
    );
}

#[tokio::test]
async fn malformed_fetchxml_ends_failed_naming_the_problem() {
    let s = Server::start(common::FAST);
    for (fetch, needle) in [
        (
            "<fetch><entity name='account'><link-entity name='contact'/></entity></fetch>",
            "link-entity",
        ),
        ("<fetch><entity name='nosuchtable'/></fetch>", "nosuchtable"),
        (
            "<fetch><entity name='account'><attribute name='nosuchcolumn'/></entity></fetch>",
            "nosuchcolumn",
        ),
        ("<fetch><entity name='account'>", "not well-formed"),
    ] {
        let op = s
            .submit(
                "sample_ExportDataUsingFetchXmlToAnnotation",
                json!({"FetchXml": fetch}),
            )
            .await;
        let status = s.wait_terminal(&op, WAIT).await;
        assert_eq!(
            status["backgroundOperationStatusCode"], 31,
            "{fetch}: {status}"
        );
        let message = status["backgroundOperationErrorMessage"].as_str().unwrap();
        assert!(message.contains(needle), "{fetch}: {message}");
        // A malformed query is not retried.
        assert_eq!(s.row(&op).await["retrycount"], 0);
    }
}

#[tokio::test]
async fn cleanup_removes_exactly_the_exported_notes() {
    let s = Server::start(common::FAST);
    create_accounts(&s).await;
    let other = s
        .req(Method::POST, "/api/data/v9.2/annotations")
        .json(&json!({"subject": "Export Data Using FetchXml To Csv", "filename": "other.csv"}))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 204);
    let unrelated = s
        .req(Method::POST, "/api/data/v9.2/annotations")
        .json(&json!({"subject": "Meeting notes", "filename": "exportdatausingfetchxml.csv"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unrelated.status(), 204);
    for _ in 0..3 {
        let r = s
            .req(
                Method::POST,
                "/api/data/v9.2/sample_ExportDataUsingFetchXmlToAnnotation",
            )
            .json(&json!({"FetchXml": FETCH}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let count = |s: &Server| {
        let req = s.req(Method::GET, "/api/data/v9.2/annotations/$count");
        async move { req.send().await.unwrap().text().await.unwrap() }
    };
    assert_eq!(count(&s).await, "5");
    let r = s
        .req(
            Method::POST,
            "/api/data/v9.2/sample_CleanupExportedDataAnnotations",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(count(&s).await, "2", "only the three exports are gone");
}
