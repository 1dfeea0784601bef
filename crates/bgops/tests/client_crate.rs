//! `bgops-client` against the real binary: paging through `@odata.nextLink`, filters, the
//! synchronous call, functions, the custom API definitions, and typed errors carrying the
//! Dataverse code and HTTP status.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use bgops_client::{Client, Error, ListQuery, OperationStatus, ParamType};
use common::{Server, TOKEN};
use serde_json::json;

/// Creates the function `contoso_EchoFn` (Text required, Number optional; Echo plug-in).
async fn create_echo_function(s: &Server) {
    let resp = common::custom_apis::post(
        s,
        "customapis",
        &json!({
            "uniquename": "contoso_EchoFn", "name": "Echo function", "displayname": "Echo function",
            "isfunction": true,
            "PluginTypeId@odata.bind": format!(
                "plugintypes({})",
                common::custom_apis::plugin_type_id(s, "Bgops.Diagnostics.Echo").await
            ),
            "CustomAPIRequestParameters": [
                {"uniquename": "Text", "type": 10, "isoptional": false},
                {"uniquename": "Number", "type": 7, "isoptional": true}
            ],
            "CustomAPIResponseProperties": [
                {"uniquename": "Text", "type": 10}, {"uniquename": "Number", "type": 7}
            ]
        }),
    )
    .await;
    assert_eq!(resp.status(), 204, "{:?}", resp.text().await);
}

#[tokio::test]
async fn lists_page_by_page_newest_first_with_filters() {
    let s = Server::start(&["--poll-retry-after", "1s"]);
    let client = Client::new(&s.base, TOKEN).unwrap();
    let mut submitted = Vec::new();
    for n in 0..5 {
        let op = client
            .submit("bgops_Echo", &json!({ "Number": n }))
            .await
            .unwrap();
        assert!(op
            .location
            .ends_with(&format!("/api/backgroundoperation/{}", op.id)));
        submitted.push(op.id);
    }
    let failed = client
        .submit("bgops_Fail", &json!({"FailTimes": 1, "Permanent": true}))
        .await
        .unwrap();
    for id in submitted.iter().chain([&failed.id]) {
        client.wait(*id, Duration::from_secs(60)).await.unwrap();
    }

    let query = ListQuery::new().api("bgops_Echo").page_size(2);
    let mut sizes = Vec::new();
    let mut seen = Vec::new();
    let mut page = Some(client.list(&query).await.unwrap());
    while let Some(p) = page {
        sizes.push(p.operations.len());
        seen.extend(p.operations.iter().map(|o| o.id));
        assert!(p.operations.iter().all(|o| o.name == "bgops_Echo"
            && o.status == OperationStatus::Succeeded
            && o.ended_on.is_some()));
        page = client.next_page(&p).await.unwrap();
    }
    assert_eq!(sizes, [2, 2, 1]);
    assert_eq!(
        seen.iter().collect::<HashSet<_>>(),
        submitted.iter().collect::<HashSet<_>>()
    );
    // Ids are time-ordered (UUID v7), and the list is newest first.
    let mut newest_first = submitted.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);

    let failures = client
        .list(&ListQuery::new().status(OperationStatus::Failed))
        .await
        .unwrap();
    assert_eq!(failures.operations.len(), 1);
    assert_eq!(failures.operations[0].id, failed.id);
    assert_eq!(failures.operations[0].error_code, Some(-2147220891));
    assert_eq!(failures.next_link, None);
}

#[tokio::test]
async fn definitions_synchronous_calls_and_typed_errors() {
    let s = Server::start(&["--poll-retry-after", "1s"]);
    let client = Client::new(&s.base, TOKEN).unwrap();

    let fail = client.custom_api("bgops_Fail").await.unwrap().unwrap();
    let names: Vec<(&str, ParamType, bool)> = fail
        .request_parameters
        .iter()
        .map(|p| (p.name.as_str(), p.param_type, p.optional))
        .collect();
    assert_eq!(
        names,
        [
            ("ErrorCode", ParamType::Integer, true),
            ("FailTimes", ParamType::Integer, false),
            ("Message", ParamType::String, true),
            ("Permanent", ParamType::Boolean, true),
        ]
    );
    assert_eq!(fail.response_properties[0].name, "Attempts");
    assert_eq!(client.custom_api("bgops_fail").await.unwrap(), None);
    let all = client.custom_apis().await.unwrap();
    for name in ["bgops_Delay", "bgops_Echo", "bgops_Fail"] {
        assert!(all.iter().any(|a| a.unique_name == name), "{name}");
    }

    let out = client
        .execute("bgops_Echo", &json!({"Text": "now"}))
        .await
        .unwrap();
    assert_eq!(out, json!({"Text": "now"}).as_object().unwrap().clone());

    // A plug-in error of a synchronous call, with its code and status.
    let err = client
        .execute("bgops_Fail", &json!({"FailTimes": 1, "Message": "no"}))
        .await
        .unwrap_err();
    let server = err.server().expect("a server error");
    assert_eq!((server.status, server.code.as_str()), (400, "0x80040265"));
    assert_eq!(server.code_value(), Some(-2147220891));
    assert_eq!(server.message, "no");

    let err = client.submit("contoso_Nope", &json!({})).await.unwrap_err();
    assert_eq!(err.http_status(), Some(404));
    assert_eq!(err.code(), Some("0x8006088a"));

    let bad = Client::new(&s.base, "not-the-token").unwrap();
    let err = bad.custom_apis().await.unwrap_err();
    assert_eq!(err.http_status(), Some(401));

    // Functions: GET with OData literals, synchronously and in the background.
    create_echo_function(&s).await;
    let info = client.custom_api("contoso_EchoFn").await.unwrap().unwrap();
    assert!(info.is_function);
    let params = json!({"Text": "it's 50% & more", "Number": 7});
    let out = client
        .execute_function("contoso_EchoFn", &params)
        .await
        .unwrap();
    assert_eq!(serde_json::Value::Object(out), params);
    let op = client
        .submit_function("contoso_EchoFn", &params, &Default::default())
        .await
        .unwrap();
    let done = client.wait(op.id, Duration::from_secs(60)).await.unwrap();
    assert_eq!(serde_json::Value::Object(done.outputs), params);
    // An action called as a function is an unknown segment, as in Dataverse.
    let err = client
        .execute_function("bgops_Echo", &json!({}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("0x8006088a"));

    let gone = Client::new("http://127.0.0.1:1", TOKEN).unwrap();
    let err = gone
        .status(bgops_client::OperationId::new_random())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unreachable { .. }), "{err:?}");
    assert!(err.is_unreachable());
}
