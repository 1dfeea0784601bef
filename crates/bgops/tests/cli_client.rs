//! The client commands of the `bgops` binary against a real server: each command's output,
//! piped (JSON) and on a pseudo-terminal (tables, the spinner), and the exit codes that say the
//! outcome: 0 Succeeded, 1 Failed, 2 usage error, 3 Canceled, 4 unreachable, 5 refused,
//! 6 not finished.

mod common;

use std::process::{Command, Output};

use common::{Server, TOKEN};
use serde_json::Value;

fn server() -> Server {
    Server::start(&["--poll-retry-after", "1s", "--retry-base-delay", "50ms"])
}

/// `bgops ARGS` against `s`, with the URL and token from the environment.
fn bgops(s: &Server, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bgops"))
        .args(args)
        .env("BGOPS_URL", &s.base)
        .env("BGOPS_TOKEN", TOKEN)
        .env_remove("RUST_LOG")
        .output()
        .expect("run bgops")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The one JSON object printed.
fn json(o: &Output) -> Value {
    serde_json::from_str(stdout(o).trim())
        .unwrap_or_else(|e| panic!("not one JSON object ({e}): {}{}", stdout(o), stderr(o)))
}

/// One JSON object per line.
fn json_lines(o: &Output) -> Vec<Value> {
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited")
}

#[test]
fn submit_wait_status_cancel_piped_with_outcome_exit_codes() {
    let s = server();

    // Succeeded: 0, the outputs typed as the API defines them.
    let o = bgops(
        &s,
        &[
            "submit",
            "bgops_Echo",
            "Text=hello",
            "Number=42",
            "Flag=true",
            "--wait",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let done = json(&o);
    assert_eq!(done["backgroundOperationStatusCode"], 30);
    assert_eq!(done["Text"], "hello");
    assert_eq!(done["Number"], 42);
    assert_eq!(done["Flag"], true);

    // Without --wait, the id alone: usable as ID=$(bgops submit …).
    let o = bgops(
        &s,
        &[
            "submit",
            "bgops_Fail",
            "FailTimes=9",
            "Permanent=true",
            "Message=boom",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let id = stdout(&o).trim().to_owned();
    assert_eq!(id.len(), 36, "{id}");

    // Failed: 1, from wait and from status, with the error.
    let o = bgops(&s, &["wait", &id]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let failed = json(&o);
    assert_eq!(failed["backgroundOperationId"], id.as_str());
    assert_eq!(failed["backgroundOperationStatusCode"], 31);
    assert_eq!(failed["backgroundOperationErrorMessage"], "boom");
    assert_eq!(failed["backgroundOperationErrorCode"], -2147220891);
    let o = bgops(&s, &["status", &id]);
    assert_eq!(code(&o), 1);
    assert_eq!(json(&o), failed);

    // A cancel of a finished operation is refused by the server: 5, with its code.
    let o = bgops(&s, &["cancel", &id]);
    assert_eq!(code(&o), 5);
    assert!(
        stderr(&o).contains("Canceling background operation is not allowed after it is in terminal state. (HTTP 400, 0x80048408)"),
        "{}",
        stderr(&o)
    );

    // Not finished: status and a wait that runs out are 6; progress lines on stderr.
    let o = bgops(&s, &["submit", "bgops_Delay", "DelayMs=60000", "--json"]);
    assert_eq!(code(&o), 0);
    let submitted = json(&o);
    let id = submitted["backgroundOperationId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(submitted["location"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/api/backgroundoperation/{id}")));
    let o = bgops(&s, &["status", &id]);
    assert_eq!(code(&o), 6);
    assert_ne!(json(&o)["backgroundOperationStateCode"], 3);
    let o = bgops(&s, &["wait", &id, "--timeout", "1s"]);
    assert_eq!(code(&o), 6, "{}", stderr(&o));
    // Plain progress lines, no escape codes, when not on a terminal.
    assert!(stderr(&o).contains(&format!("{id}  ")), "{}", stderr(&o));
    assert!(!stderr(&o).contains('\u{1b}'), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("operation {id} had not finished after 1s")),
        "{}",
        stderr(&o)
    );

    // Canceled: cancel answers 0, the wait after it 3.
    let o = bgops(&s, &["cancel", &id]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(json(&o)["backgroundOperationStatusCode"], 22);
    let o = bgops(&s, &["wait", &id]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert_eq!(json(&o)["backgroundOperationStatusCode"], 32);
}

#[test]
fn submit_types_parameters_from_the_definition_and_names_what_is_wrong() {
    let s = server();
    let cases: [(&[&str], &str); 6] = [
        (
            &["submit", "bgops_Echo", "Number=abc"],
            "error: parameter Number of bgops_Echo is of type Integer: 'abc' is not an Integer",
        ),
        (
            &["submit", "bgops_Echo", "Flag=maybe"],
            "error: parameter Flag of bgops_Echo is of type Boolean: 'maybe' is not a Boolean (true or false)",
        ),
        (
            &["submit", "bgops_Echo", "Number=2147483648"],
            "is not an Integer",
        ),
        (
            &["submit", "bgops_Echo", "Colour=red"],
            "error: bgops_Echo has no parameter Colour; its parameters: Flag (Boolean), Number (Integer), Text (String)",
        ),
        (
            &["submit", "bgops_Delay"],
            "error: bgops_Delay requires parameter DelayMs (Integer)",
        ),
        (&["submit", "bgops_Echo", "Text"], "error: 'Text' is not NAME=VALUE"),
    ];
    for (args, message) in cases {
        let o = bgops(&s, args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(message), "{args:?}: {}", stderr(&o));
        assert_eq!(stdout(&o), "", "{args:?}");
    }
    // An unknown custom API: the server does not know it (5).
    let o = bgops(&s, &["submit", "contoso_Nope", "A=1"]);
    assert_eq!(code(&o), 5);
    assert!(
        stderr(&o).contains("the server has no custom API named 'contoso_Nope'"),
        "{}",
        stderr(&o)
    );
    // Nothing was submitted.
    let o = bgops(&s, &["list"]);
    assert_eq!(code(&o), 0);
    assert_eq!(json_lines(&o), Vec::<Value>::new());
}

#[tokio::test]
async fn submit_calls_a_function_with_get() {
    let s = server();
    let plugin = common::custom_apis::plugin_type_id(&s, "Bgops.Diagnostics.Echo").await;
    let resp = common::custom_apis::post(
        &s,
        "customapis",
        &serde_json::json!({
            "uniquename": "contoso_EchoFn", "name": "Echo function", "displayname": "Echo function",
            "isfunction": true,
            "PluginTypeId@odata.bind": format!("plugintypes({plugin})"),
            "CustomAPIRequestParameters": [{"uniquename": "Text", "type": 10, "isoptional": false}],
            "CustomAPIResponseProperties": [{"uniquename": "Text", "type": 10}]
        }),
    )
    .await;
    assert_eq!(resp.status(), 204);
    let o = bgops(
        &s,
        &["submit", "contoso_EchoFn", "Text=it's a function", "--wait"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(json(&o)["Text"], "it's a function");
    let apis = json_lines(&bgops(&s, &["apis"]));
    let f = apis
        .iter()
        .find(|a| a["uniquename"] == "contoso_EchoFn")
        .unwrap();
    assert_eq!(f["isfunction"], true);
}

#[test]
fn list_filters_by_state_and_api_and_apis_lists_definitions() {
    let s = server();
    for n in 0..3 {
        let o = bgops(
            &s,
            &["submit", "bgops_Echo", &format!("Number={n}"), "--wait"],
        );
        assert_eq!(code(&o), 0, "{}", stderr(&o));
    }
    let o = bgops(
        &s,
        &[
            "submit",
            "bgops_Fail",
            "FailTimes=1",
            "Permanent=true",
            "--wait",
        ],
    );
    assert_eq!(code(&o), 1);
    let failed_id = json(&o)["backgroundOperationId"].clone();

    let all = json_lines(&bgops(&s, &["list"]));
    assert_eq!(all.len(), 4);
    let failed = json_lines(&bgops(&s, &["list", "--state", "failed,canceled"]));
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["backgroundoperationid"], failed_id);
    assert_eq!(failed[0]["name"], "bgops_Fail");
    assert_eq!(failed[0]["backgroundoperationstatuscode"], 31);
    assert_eq!(failed[0]["errorcode"], -2147220891);
    let echoes = json_lines(&bgops(
        &s,
        &["list", "--api", "bgops_Echo", "--state", "completed"],
    ));
    assert_eq!(echoes.len(), 3);
    assert!(echoes.iter().all(|r| r["name"] == "bgops_Echo"));
    // Newest first, cut at --limit (read over several pages).
    let two = json_lines(&bgops(&s, &["list", "--limit", "2"]));
    assert_eq!(two.len(), 2);
    assert_eq!(two[0]["backgroundoperationid"], failed_id);
    assert_eq!(
        json_lines(&bgops(&s, &["list", "--state", "active"])).len(),
        0
    );
    let o = bgops(&s, &["list", "--state", "finished"]);
    assert_eq!(code(&o), 2, "an unknown state is a usage error");

    let apis = json_lines(&bgops(&s, &["apis"]));
    let delay = apis
        .iter()
        .find(|a| a["uniquename"] == "bgops_Delay")
        .expect("bgops_Delay listed");
    assert_eq!(delay["isfunction"], false);
    assert_eq!(
        delay["requestParameters"],
        serde_json::json!([{"name": "DelayMs", "type": "Integer", "optional": false}])
    );
    assert_eq!(
        delay["responseProperties"],
        serde_json::json!([{"name": "DelayedMs", "type": "Integer"}])
    );
}

#[test]
fn unreachable_server_bad_token_and_usage_errors() {
    let s = server();
    let id = "3aadf856-1939-49d5-a1e0-870d76edefb2";
    // Nothing listens on port 1.
    let o = Command::new(env!("CARGO_BIN_EXE_bgops"))
        .args(["status", id, "--url", "http://127.0.0.1:1", "--token", "t"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 4);
    assert!(
        stderr(&o).contains("error: cannot reach bgops at http://127.0.0.1:1/"),
        "{}",
        stderr(&o)
    );
    // A wrong token: the server refuses (5) and says why.
    let o = Command::new(env!("CARGO_BIN_EXE_bgops"))
        .args(["apis", "--url", &s.base, "--token", "wrong"])
        .env_remove("BGOPS_TOKEN")
        .output()
        .unwrap();
    assert_eq!(code(&o), 5);
    assert!(stderr(&o).contains("HTTP 401"), "{}", stderr(&o));
    // An unknown id: 5, with the server's message.
    let o = bgops(&s, &["status", id]);
    assert_eq!(code(&o), 5);
    assert!(
        stderr(&o).contains(&format!("Could not find item '{id}'.")),
        "{}",
        stderr(&o)
    );
    // Usage errors: 2, before anything is sent.
    let o = Command::new(env!("CARGO_BIN_EXE_bgops"))
        .args(["apis"])
        .env_remove("BGOPS_TOKEN")
        .output()
        .unwrap();
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("--token"), "{}", stderr(&o));
    let o = bgops(&s, &["status", "not-an-id"]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("'not-an-id' is not a valid GUID"),
        "{}",
        stderr(&o)
    );
    let o = bgops(&s, &["apis", "--url", "ftp://example.com"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("'ftp://example.com' is not an http:// or https:// URL"));
}

/// Runs `bgops ARGS` on a pseudo-terminal (util-linux `script`); answers the exit code and
/// everything written to the terminal.
fn on_terminal(s: &Server, args: &[&str]) -> (i32, String) {
    let cmd = std::iter::once(env!("CARGO_BIN_EXE_bgops"))
        .chain(args.iter().copied())
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ");
    let o = Command::new("script")
        .args(["-q", "-e", "-c", &cmd, "/dev/null"])
        .env("BGOPS_URL", &s.base)
        .env("BGOPS_TOKEN", TOKEN)
        .env("TERM", "xterm")
        .env_remove("RUST_LOG")
        .output()
        .expect("script(1) from util-linux runs commands on a pseudo-terminal");
    // script(1) copies what the terminal shows to its standard output.
    let text = String::from_utf8_lossy(&o.stdout).replace("\r\n", "\n");
    (o.status.code().expect("exited"), text)
}

#[test]
fn on_a_terminal_tables_readable_status_and_a_live_spinner() {
    let s = server();
    // A wait long enough for the spinner to draw: it shows the state and the elapsed time,
    // then the result replaces it.
    let (rc, text) = on_terminal(&s, &["submit", "bgops_Delay", "DelayMs=1500", "--wait"]);
    assert_eq!(rc, 0, "{text}");
    // The state as last seen (a long poll answers only at the end) and the elapsed time.
    assert!(
        ["Waiting For Resources (1s)", "In Progress (1s)"]
            .iter()
            .any(|shown| text.contains(shown)),
        "spinner with the state and the elapsed time: {text}"
    );
    assert!(
        text.contains("\u{1b}[2K"),
        "a spinner redraws its line: {text}"
    );
    assert!(text.contains("Succeeded (3/30)"), "{text}");
    assert!(text.contains("DelayedMs = 1500"), "{text}");
    assert!(!text.contains("{\""), "no JSON on a terminal: {text}");

    let (rc, text) = on_terminal(
        &s,
        &[
            "submit",
            "bgops_Fail",
            "FailTimes=1",
            "Permanent=true",
            "Message=broke",
            "--wait",
        ],
    );
    assert_eq!(rc, 1, "{text}");
    assert!(text.contains("Failed (3/31)"), "{text}");
    assert!(
        text.contains("error 0x80040265 (-2147220891): broke"),
        "{text}"
    );

    let (rc, text) = on_terminal(&s, &["list"]);
    assert_eq!(rc, 0, "{text}");
    let header = text.lines().next().unwrap_or_default();
    for col in [
        "ID",
        "CUSTOM API",
        "STATUS",
        "CREATED",
        "ENDED",
        "RETRIES",
        "ERROR",
    ] {
        assert!(header.contains(col), "{header}");
    }
    assert!(
        text.contains("bgops_Delay") && text.contains("Succeeded"),
        "{text}"
    );
    assert!(
        text.contains("bgops_Fail") && text.contains("broke"),
        "{text}"
    );
    // --json still gives JSON lines on a terminal.
    let (rc, text) = on_terminal(&s, &["list", "--json"]);
    assert_eq!(rc, 0);
    assert_eq!(
        text.lines().filter(|l| l.starts_with('{')).count(),
        2,
        "{text}"
    );

    let (rc, text) = on_terminal(&s, &["apis"]);
    assert_eq!(rc, 0, "{text}");
    assert!(
        text.lines().any(|l| l.contains("bgops_Echo")
            && l.contains("Flag?: Boolean, Number?: Integer, Text?: String")),
        "{text}"
    );
}
