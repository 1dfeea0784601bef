//! Unit tests of the step and service endpoint rules.

use super::*;
use crate::error::ErrorCode;

fn message(name: &str) -> Row {
    vec![
        (
            "sdkmessageid",
            Cell::Guid(ON_BACKGROUND_OPERATION_COMPLETE_ID),
        ),
        ("name", Cell::Text(name.into())),
    ]
}

fn endpoint() -> Row {
    let mut row = vec![
        ("serviceendpointid", Cell::Guid(Uuid::from_u128(5))),
        ("name", Cell::Text("hook".into())),
        ("url", Cell::Text("https://example.com/hook".into())),
        ("authtype", Cell::Int(AUTH_WEBHOOK_KEY)),
        ("authvalue", Cell::Text("k3y".into())),
    ];
    prepare_service_endpoint(&mut row);
    row
}

fn step(mode: i64, stage: i64) -> Row {
    let mut row = vec![
        ("name", Cell::Text("notify".into())),
        (
            "sdkmessageid",
            Cell::Guid(ON_BACKGROUND_OPERATION_COMPLETE_ID),
        ),
        ("eventhandler", Cell::Guid(Uuid::from_u128(5))),
        ("mode", Cell::Int(mode)),
        ("stage", Cell::Int(stage)),
        ("statecode", Cell::Int(0)),
        ("statuscode", Cell::Int(1)),
    ];
    prepare_step(&mut row).unwrap();
    row
}

fn check(row: &Row) -> Result<(), ApiError> {
    let m = message(ON_BACKGROUND_OPERATION_COMPLETE);
    let e = endpoint();
    check_step(
        row,
        &StepFacts {
            message: Some(&m),
            handler: Some(StepHandler::ServiceEndpoint(&e)),
        },
    )
}

fn message_of(r: Result<(), ApiError>) -> String {
    let e = r.expect_err("refused");
    assert_eq!(e.status, 400, "{e}");
    e.message
}

#[test]
fn an_asynchronous_post_operation_step_is_accepted() {
    let row = step(1, 40);
    check(&row).unwrap();
    assert_eq!(int(&row, "rank"), Some(1));
    assert_eq!(cell(&row, "asyncautodelete"), Some(&Cell::Bool(false)));
}

#[test]
fn a_synchronous_step_is_refused() {
    let m = message_of(check(&step(0, 40)));
    assert!(
        m.contains("only allows asynchronous step registrations"),
        "{m}"
    );
    assert!(m.contains("mode 0 (Synchronous)"), "{m}");
    let mut no_mode = step(1, 40);
    no_mode.retain(|(c, _)| *c != "mode");
    let m = message_of(check(&no_mode));
    assert!(m.contains("set mode to 1 (Asynchronous)"), "{m}");
}

#[test]
fn another_stage_is_refused() {
    for (stage, label) in [(20, "20 (Pre-operation)"), (10, "10 (Pre-validation)")] {
        let m = message_of(check(&step(1, stage)));
        assert!(m.contains("stage 40 (Post-operation)"), "{m}");
        assert!(m.contains(label), "{m}");
    }
}

#[test]
fn message_and_handler_must_be_right() {
    let row = step(1, 40);
    let other = message("Create");
    let e = endpoint();
    let m = message_of(check_step(
        &row,
        &StepFacts {
            message: Some(&other),
            handler: Some(StepHandler::ServiceEndpoint(&e)),
        },
    ));
    assert!(m.contains("on the Create message"), "{m}");
    let ok = message(ON_BACKGROUND_OPERATION_COMPLETE);
    let m = message_of(check_step(
        &row,
        &StepFacts {
            message: Some(&ok),
            handler: None,
        },
    ));
    assert!(
        m.contains("neither a service endpoint nor a plug-in type"),
        "{m}"
    );
    let mut no_handler = row.clone();
    no_handler.retain(|(c, _)| *c != "eventhandler");
    let m = message_of(check(&no_handler));
    assert!(m.contains("eventhandler_serviceendpoint@odata.bind"), "{m}");
    let mut no_message = row;
    no_message.retain(|(c, _)| *c != "sdkmessageid");
    let m = message_of(check(&no_message));
    assert!(m.contains("sdkmessageid@odata.bind"), "{m}");
}

#[test]
fn plugintypeid_names_the_handler() {
    let mut row: Row = vec![("plugintypeid", Cell::Guid(Uuid::from_u128(3)))];
    prepare_step(&mut row).unwrap();
    assert_eq!(guid(&row, "eventhandler"), Some(Uuid::from_u128(3)));
    let mut clash: Row = vec![
        ("plugintypeid", Cell::Guid(Uuid::from_u128(3))),
        ("eventhandler", Cell::Guid(Uuid::from_u128(4))),
    ];
    assert!(prepare_step(&mut clash).is_err());
}

#[test]
fn state_pairs_follow_each_other() {
    let mut changes: Row = vec![("statecode", Cell::Int(1))];
    complete_state_change(&mut changes);
    assert_eq!(int(&changes, "statuscode"), Some(2));
    let disabled = merged(&step(1, 40), &changes);
    check(&disabled).unwrap();
    let mut wrong = step(1, 40);
    set(&mut wrong, "statuscode", Cell::Int(2));
    let e = check(&wrong).unwrap_err();
    assert_eq!(e.code, ErrorCode::INVALID_STATE);
}

#[test]
fn service_endpoints_are_webhooks_with_a_safe_url_and_auth() {
    let policy = UrlPolicy::default();
    check_service_endpoint(&endpoint(), &policy).unwrap();
    let refused = |change: (&'static str, Cell)| {
        let mut row = endpoint();
        set(&mut row, change.0, change.1);
        message_of(check_service_endpoint(&row, &policy))
    };
    assert!(refused(("contract", Cell::Int(1))).contains("webhooks only"));
    assert!(refused(("messageformat", Cell::Int(1))).contains("messageformat 2"));
    assert!(refused(("url", Cell::Text("http://example.com/".into()))).contains("https"));
    assert!(refused(("url", Cell::Text("https://127.0.0.1/".into()))).contains("private"));
    assert!(refused(("authtype", Cell::Int(2))).contains("4 (WebhookKey)"));
    assert!(refused(("authvalue", Cell::Text("  ".into()))).contains("needs the key"));
    let mut allowed = endpoint();
    set(
        &mut allowed,
        "url",
        Cell::Text("http://127.0.0.1:9/".into()),
    );
    check_service_endpoint(&allowed, &UrlPolicy::PERMISSIVE).unwrap();
}

#[test]
fn auth_values_read_as_dataverse_writes_them() {
    let xml = r#"<settings><setting name="x-api-key" value="s3cret" /><setting name="X-Other" value="a b" /></settings>"#;
    let auth = WebhookAuth::parse(AUTH_HTTP_HEADER, xml).unwrap();
    assert_eq!(
        auth.headers(),
        &[
            ("x-api-key".to_owned(), "s3cret".to_owned()),
            ("X-Other".to_owned(), "a b".to_owned())
        ]
    );
    assert!(auth.query().is_empty());
    let auth = WebhookAuth::parse(AUTH_HTTP_QUERY_STRING, r#"{"k1":"v1","k2":"v&2"}"#).unwrap();
    assert_eq!(
        auth.query(),
        vec![
            ("k1".to_owned(), "v1".to_owned()),
            ("k2".to_owned(), "v&2".to_owned())
        ]
    );
    let auth = WebhookAuth::parse(AUTH_WEBHOOK_KEY, " abc ").unwrap();
    assert_eq!(auth.query(), vec![("code".to_owned(), "abc".to_owned())]);
    assert_eq!(format!("{auth:?}"), "WebhookKey(***)");
    for (t, v) in [
        (AUTH_HTTP_HEADER, "Authorization: Basic x"),
        (AUTH_HTTP_HEADER, r#"{"bad name":"v"}"#),
        (AUTH_HTTP_HEADER, r#"{"x":"line\nbreak"}"#),
        (AUTH_HTTP_HEADER, r#"{"Content-Type":"text/plain"}"#),
        (
            AUTH_HTTP_HEADER,
            r#"{"x-ms-dynamics-request-name":"forged"}"#,
        ),
        (AUTH_HTTP_QUERY_STRING, "{}"),
        (AUTH_HTTP_QUERY_STRING, r#"{"a":1}"#),
        (AUTH_HTTP_QUERY_STRING, r#"{"a":"1","A":"2"}"#),
        (AUTH_HTTP_QUERY_STRING, "<other/>"),
        (
            AUTH_HTTP_QUERY_STRING,
            "<settings><setting name=\"a\"/></settings>",
        ),
        (3, "x"),
    ] {
        assert!(WebhookAuth::parse(t, v).is_err(), "{t} {v}");
    }
}

#[test]
fn an_endpoint_in_use_cannot_be_deleted() {
    let s = step(1, 40);
    let m = message_of(check_service_endpoint_delete(&endpoint(), &[s]));
    assert!(m.contains("is the handler of step notify"), "{m}");
    check_service_endpoint_delete(&endpoint(), &[]).unwrap();
}
