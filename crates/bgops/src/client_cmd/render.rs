//! How the client commands print what they got: for a person at a terminal, readable lines and
//! tables; for a pipe (or with `--json`), JSON that a program reads (one object per line).

use std::io::{IsTerminal, Write};

use bgops_client::{CustomApiInfo, OperationId, OperationSummary, Status};
use comfy_table::{presets, ContentArrangement, Table};
use serde_json::{json, Value};

/// Where output goes and in which form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// Lines and tables for a person.
    Human,
    /// JSON, one object per line.
    Json,
}

impl Form {
    /// JSON when asked for or when standard output is not a terminal.
    pub fn choose(json: bool) -> Form {
        if json || !std::io::stdout().is_terminal() {
            Form::Json
        } else {
            Form::Human
        }
    }
}

/// Writes a line to standard output, ignoring a closed pipe (`bgops list | head`).
pub fn out(line: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
}

/// The JSON of a status: the status monitor's body with the operation's id.
pub fn status_json(id: OperationId, s: &Status) -> Value {
    let mut v = json!({ "backgroundOperationId": id.to_string() });
    if let (Value::Object(m), Value::Object(rest)) = (&mut v, s.to_json()) {
        m.extend(rest);
    }
    v
}

/// Prints an operation's status.
pub fn status(form: Form, id: OperationId, s: &Status) {
    match form {
        Form::Json => out(&status_json(id, s).to_string()),
        Form::Human => {
            out(&format!(
                "{id}  {} ({}/{})",
                s.status.label(),
                s.state().code(),
                s.status.code()
            ));
            if let Some(f) = &s.failure {
                out(&format!(
                    "  error {} ({}): {}",
                    f.hex_code(),
                    f.code,
                    f.message
                ));
            }
            for (k, v) in &s.outputs {
                out(&format!("  {k} = {v}"));
            }
        }
    }
}

/// Prints a page of operations: a table, or one JSON object per row.
pub fn operations(form: Form, rows: &[OperationSummary]) {
    match form {
        Form::Json => {
            for r in rows {
                out(&json!({
                    "backgroundoperationid": r.id.to_string(),
                    "name": r.name,
                    "backgroundoperationstatecode": r.status.state().code(),
                    "backgroundoperationstatuscode": r.status.code(),
                    "createdon": r.created_on.map(|t| t.to_dataverse()),
                    "starttime": r.started_on.map(|t| t.to_dataverse()),
                    "endtime": r.ended_on.map(|t| t.to_dataverse()),
                    "retrycount": r.retry_count,
                    "errorcode": r.error_code,
                    "errormessage": r.error_message,
                })
                .to_string());
            }
        }
        Form::Human => {
            let mut t = table(&[
                "ID",
                "CUSTOM API",
                "STATUS",
                "CREATED",
                "ENDED",
                "RETRIES",
                "ERROR",
            ]);
            for r in rows {
                let time = |t: Option<bgops_client::Timestamp>| {
                    t.map(|t| t.to_dataverse()).unwrap_or_default()
                };
                t.add_row(vec![
                    r.id.to_string(),
                    r.name.clone(),
                    r.status.label().to_owned(),
                    time(r.created_on),
                    time(r.ended_on),
                    r.retry_count.to_string(),
                    r.error_message.clone().unwrap_or_default(),
                ]);
            }
            out(&t.to_string());
        }
    }
}

/// Prints the custom APIs: a table, or one JSON object per API.
pub fn apis(form: Form, apis: &[CustomApiInfo]) {
    match form {
        Form::Json => {
            for a in apis {
                let params: Vec<Value> = a
                    .request_parameters
                    .iter()
                    .map(|p| json!({"name": p.name, "type": p.param_type.label(), "optional": p.optional}))
                    .collect();
                let props: Vec<Value> = a
                    .response_properties
                    .iter()
                    .map(|p| json!({"name": p.name, "type": p.param_type.label()}))
                    .collect();
                out(&json!({
                    "uniquename": a.unique_name,
                    "displayname": a.display_name,
                    "description": a.description,
                    "isfunction": a.is_function,
                    "requestParameters": params,
                    "responseProperties": props,
                })
                .to_string());
            }
        }
        Form::Human => {
            let mut t = table(&["CUSTOM API", "KIND", "PARAMETERS", "RESPONSE"]);
            for a in apis {
                let params: Vec<String> = a
                    .request_parameters
                    .iter()
                    .map(|p| {
                        let opt = if p.optional { "?" } else { "" };
                        format!("{}{opt}: {}", p.name, p.param_type.label())
                    })
                    .collect();
                let props: Vec<String> = a
                    .response_properties
                    .iter()
                    .map(|p| format!("{}: {}", p.name, p.param_type.label()))
                    .collect();
                t.add_row(vec![
                    a.unique_name.clone(),
                    if a.is_function { "function" } else { "action" }.to_owned(),
                    params.join(", "),
                    props.join(", "),
                ]);
            }
            out(&t.to_string());
            out("(? marks an optional parameter)");
        }
    }
}

/// A borderless table with a header row, as `ps` or `kubectl get` print them.
fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_style(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.to_vec());
    t
}
