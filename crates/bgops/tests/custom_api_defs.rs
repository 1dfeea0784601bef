//! Custom API definitions as data, black-box: deep insert exactly as Dataverse accepts it, the
//! definition rules with their 400s, deletes, changes seen at once by this node and by another
//! process on the same database, and the declarative `--custom-apis` file.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::custom_apis::{
    create_echo, echo_api, entity_id, plugin_type_id, post, rows, API, ECHO_PLUGIN,
};
use common::Server;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

/// Reads an error answer: asserts the status, returns (code, message).
async fn error(resp: Response, status: u16, what: &str) -> (String, String) {
    let got = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    assert_eq!(got, status, "{what}: {body}");
    (
        body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

async fn call(s: &Server, name: &str, body: Value) -> Response {
    post(s, name, &body).await
}

#[tokio::test]
async fn deep_insert_bound_to_a_native_plugin_runs_now_and_in_the_background() {
    let s = Server::start(common::FAST);
    let plugin = plugin_type_id(&s, ECHO_PLUGIN).await;
    let resp = s
        .req(Method::POST, &format!("{API}/customapis"))
        .header("Prefer", "return=representation")
        .json(&echo_api("contoso_Echo", &plugin))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let id = entity_id(&resp);
    let row: Value = resp.json().await.unwrap();
    assert_eq!(row["uniquename"], "contoso_Echo");
    assert_eq!(row["_plugintypeid_value"], plugin.as_str());
    assert_eq!(row["isfunction"], false);

    // The rows are readable with the query layer.
    let params = rows(
        &s,
        "customapirequestparameters",
        &format!("_customapiid_value%20eq%20{id}"),
    )
    .await;
    let mut names: Vec<&str> = params
        .iter()
        .map(|p| p["uniquename"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["Number", "Text"]);
    let props = rows(
        &s,
        "customapiresponseproperties",
        &format!("_customapiid_value%20eq%20{id}"),
    )
    .await;
    assert_eq!(props.len(), 2);

    // Synchronously.
    let resp = call(&s, "contoso_Echo", json!({"Text": "hello", "Number": 42})).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["@odata.context"],
        format!(
            "{}{API}/$metadata#Microsoft.Dynamics.CRM.contoso_EchoResponse",
            s.base
        )
    );
    assert_eq!(body["Text"], "hello");
    assert_eq!(body["Number"], 42);

    // The definition is enforced like a built-in one.
    let (code, message) = error(
        call(&s, "contoso_Echo", json!({"Number": 1})).await,
        400,
        "missing",
    )
    .await;
    assert_eq!(code, "0x80040200");
    assert!(message.contains("Text"), "{message}");
    let (code, _) = error(
        call(&s, "contoso_Echo", json!({"Text": "x", "Flag": true})).await,
        400,
        "undefined",
    )
    .await;
    assert_eq!(code, "0x8009732e");

    // In the background.
    let op = s
        .submit("contoso_Echo", json!({"Text": "later", "Number": 7}))
        .await;
    let done = s.wait_terminal(&op, Duration::from_secs(20)).await;
    assert_eq!(done["backgroundOperationStatusCode"], 30, "{done}");
    assert_eq!(done["Text"], "later");
    assert_eq!(done["Number"], 7);
    let row = s.row(&op).await;
    assert_eq!(row["name"], "contoso_Echo");

    // The other spelling of the bind works too.
    let mut body = echo_api("contoso_EchoSlash", &plugin);
    body["PluginTypeId@odata.bind"] = json!(format!("/plugintypes({plugin})"));
    assert_eq!(
        post(&s, "customapis", &body).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(&s, "contoso_EchoSlash", json!({"Text": "x"}))
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn deleting_a_custom_api_makes_it_404_at_once_with_its_parameters() {
    let s = Server::start(common::FAST);
    let id = create_echo(&s, "contoso_Gone").await;
    assert_eq!(
        call(&s, "contoso_Gone", json!({"Text": "x"}))
            .await
            .status(),
        StatusCode::OK
    );
    let resp = s
        .req(Method::DELETE, &format!("{API}/customapis({id})"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let (code, message) = error(
        call(&s, "contoso_Gone", json!({"Text": "x"})).await,
        404,
        "deleted",
    )
    .await;
    assert_eq!(code, "0x8006088a");
    assert_eq!(
        message,
        "Resource not found for the segment 'contoso_Gone'."
    );
    assert!(rows(
        &s,
        "customapirequestparameters",
        &format!("_customapiid_value%20eq%20{id}")
    )
    .await
    .is_empty());
    assert!(rows(
        &s,
        "customapiresponseproperties",
        &format!("_customapiid_value%20eq%20{id}")
    )
    .await
    .is_empty());
    let resp = s
        .req(Method::DELETE, &format!("{API}/customapis({id})"))
        .send()
        .await
        .unwrap();
    error(resp, 404, "delete again").await;
}

#[tokio::test]
async fn another_node_on_the_same_database_sees_changes_at_once() {
    let a = Server::start(common::FAST);
    let b = Server::start_on(&a.db, common::FAST);
    // B has looked the name up (and found nothing) before A creates it.
    error(
        call(&b, "contoso_Shared", json!({"Text": "x"})).await,
        404,
        "before",
    )
    .await;
    let id = create_echo(&a, "contoso_Shared").await;
    let resp = call(&b, "contoso_Shared", json!({"Text": "from b"})).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let op = b
        .submit("contoso_Shared", json!({"Text": "queued on b"}))
        .await;
    let done = a.wait_terminal(&op, Duration::from_secs(20)).await;
    assert_eq!(done["backgroundOperationStatusCode"], 30, "{done}");
    let resp = a
        .req(Method::DELETE, &format!("{API}/customapis({id})"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    error(
        call(&b, "contoso_Shared", json!({"Text": "x"})).await,
        404,
        "after delete",
    )
    .await;
}

#[tokio::test]
async fn parameters_and_plugin_types_can_be_added_and_changed() {
    let s = Server::start(common::FAST);
    let id = create_echo(&s, "contoso_Grow").await;
    // A new request parameter and response property, bound to the custom API.
    for (set, body) in [
        (
            "customapirequestparameters",
            json!({"uniquename": "Flag", "type": 0, "isoptional": true,
            "CustomAPIId@odata.bind": format!("customapis({id})")}),
        ),
        (
            "customapiresponseproperties",
            json!({"uniquename": "Flag", "type": 0,
            "CustomAPIId@odata.bind": format!("/customapis({id})")}),
        ),
    ] {
        let resp = post(&s, set, &body).await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT, "POST {set}");
    }
    let resp = call(&s, "contoso_Grow", json!({"Text": "x", "Flag": true})).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["Flag"], true);
    let params = rows(
        &s,
        "customapirequestparameters",
        &format!("uniquename%20eq%20'Flag'%20and%20_customapiid_value%20eq%20{id}"),
    )
    .await;
    assert_eq!(params.len(), 1);
    assert_eq!(params[0]["name"], "contoso_Grow.Flag");

    // Mutable columns change; the display name is copied to new operations.
    let resp = s
        .req(Method::PATCH, &format!("{API}/customapis({id})"))
        .header("If-Match", "*")
        .json(&json!({"displayname": "Grown", "description": "Now with a flag", "uniquename": "contoso_Grow"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let op = s.submit("contoso_Grow", json!({"Text": "x"})).await;
    assert_eq!(s.row(&op).await["displayname"], "Grown");

    // An HTTP plug-in type, rebinding the custom API to it, and back.
    let resp = post(
        &s,
        "plugintypes",
        &json!({"name": "Contoso service", "typename": "Contoso.Service",
        "bgops_endpointurl": "https://plugins.contoso.example/run"}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let http = entity_id(&resp);
    let row = rows(&s, "plugintypes", "typename%20eq%20'Contoso.Service'").await;
    assert_eq!(
        row[0]["bgops_endpointurl"],
        "https://plugins.contoso.example/run"
    );
    let rebind = |plugin: String| {
        s.req(Method::PATCH, &format!("{API}/customapis({id})"))
            .json(&json!({"PluginTypeId@odata.bind": format!("plugintypes({plugin})")}))
            .send()
    };
    assert_eq!(
        rebind(http.clone()).await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    let resp = s
        .req(Method::PATCH, &format!("{API}/plugintypes({http})"))
        .json(&json!({"bgops_endpointurl": "https://plugins.contoso.example/v2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let echo = plugin_type_id(&s, ECHO_PLUGIN).await;
    assert_eq!(rebind(echo).await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(
        call(&s, "contoso_Grow", json!({"Text": "x"}))
            .await
            .status(),
        StatusCode::OK
    );
    // Unused now, it can be deleted.
    let resp = s
        .req(Method::DELETE, &format!("{API}/plugintypes({http})"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
}

// ---------------------------------------------------------------------------------------------
// The rules, each with its 400.

#[tokio::test]
async fn unique_name_needs_a_prefix_and_letters_and_digits() {
    let s = Server::start(common::FAST);
    let plugin = plugin_type_id(&s, ECHO_PLUGIN).await;
    for bad in [
        "NoPrefix",
        "contoso_Two_Underscores",
        "contoso_Has-Dash",
        "1contoso_X",
        "contoso_",
    ] {
        let (code, message) = error(
            post(&s, "customapis", &echo_api(bad, &plugin)).await,
            400,
            bad,
        )
        .await;
        assert_eq!(code, "0x80040203", "{bad}");
        assert_eq!(
            message,
            format!("'{bad}' is not a valid custom API unique name: it must start with a customization prefix and an underscore, followed by letters and digits only (for example contoso_DoWork).")
        );
    }
    let mut body = echo_api("contoso_BadParam", &plugin);
    body["CustomAPIRequestParameters"][0]["uniquename"] = json!("Bad Name");
    let (_, message) = error(post(&s, "customapis", &body).await, 400, "parameter name").await;
    assert!(
        message.starts_with(
            "'Bad Name' is not a valid unique name for a custom API request parameter"
        ),
        "{message}"
    );
    // Nothing of a refused deep insert is stored.
    assert!(
        rows(&s, "customapis", "uniquename%20eq%20'contoso_BadParam'")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn unique_names_are_unique() {
    let s = Server::start(common::FAST);
    let id = create_echo(&s, "contoso_Once").await;
    let plugin = plugin_type_id(&s, ECHO_PLUGIN).await;
    let (code, message) = error(
        post(&s, "customapis", &echo_api("CONTOSO_ONCE", &plugin)).await,
        400,
        "twice",
    )
    .await;
    assert_eq!(code, "0x80040237");
    assert_eq!(
        message,
        "A custom API with the unique name CONTOSO_ONCE already exists."
    );

    let mut body = echo_api("contoso_Twice", &plugin);
    body["CustomAPIRequestParameters"][1]["uniquename"] = json!("text");
    let (code, message) = error(post(&s, "customapis", &body).await, 400, "parameter twice").await;
    assert_eq!(code, "0x80040237");
    assert_eq!(
        message,
        "Custom API contoso_Twice cannot have two custom API request parameters named text."
    );
    assert!(rows(&s, "customapis", "uniquename%20eq%20'contoso_Twice'")
        .await
        .is_empty());

    let resp = post(
        &s,
        "customapirequestparameters",
        &json!({"uniquename": "Text", "type": 10,
        "CustomAPIId@odata.bind": format!("customapis({id})")}),
    )
    .await;
    let (_, message) = error(resp, 400, "parameter added twice").await;
    assert_eq!(
        message,
        "Custom API contoso_Once already has a custom API request parameter named Text."
    );

    let resp = post(&s, "plugintypes", &json!({"typename": ECHO_PLUGIN})).await;
    let (code, message) = error(resp, 400, "plug-in type twice").await;
    assert_eq!(code, "0x80040237");
    assert_eq!(
        message,
        format!("A plug-in type with the typename {ECHO_PLUGIN} already exists.")
    );
}

#[tokio::test]
async fn built_in_names_cannot_be_taken_and_built_in_rows_cannot_change() {
    let s = Server::start(common::FAST);
    let plugin = plugin_type_id(&s, ECHO_PLUGIN).await;
    for name in [
        "bgops_Echo",
        "bgops_delay",
        "sample_ExportDataUsingFetchXmlToAnnotation",
    ] {
        let (_, message) = error(
            post(&s, "customapis", &echo_api(name, &plugin)).await,
            400,
            name,
        )
        .await;
        assert_eq!(message, format!("The unique name {name} belongs to a custom API built into bgops and cannot be used."));
    }
    // The built-in APIs are rows too, and cannot be changed or deleted.
    let echo = rows(&s, "customapis", "uniquename%20eq%20'bgops_Echo'").await;
    assert_eq!(echo.len(), 1);
    assert_eq!(echo[0]["bgops_source"], "native");
    let id = echo[0]["customapiid"].as_str().unwrap();
    let resp = s
        .req(Method::DELETE, &format!("{API}/customapis({id})"))
        .send()
        .await
        .unwrap();
    let (_, message) = error(resp, 400, "delete built-in").await;
    assert_eq!(message, "The custom API bgops_Echo is built into bgops (registered in code) and cannot be changed over the Web API.");
    let resp = s
        .req(Method::PATCH, &format!("{API}/plugintypes({plugin})"))
        .json(&json!({"name": "Mine now"}))
        .send()
        .await
        .unwrap();
    error(resp, 400, "patch native plug-in type").await;
    let resp = post(
        &s,
        "customapirequestparameters",
        &json!({"uniquename": "Extra", "type": 10,
        "CustomAPIId@odata.bind": format!("customapis({id})")}),
    )
    .await;
    error(resp, 400, "parameter on a built-in").await;
}

#[tokio::test]
async fn immutable_columns_are_refused_on_patch() {
    let s = Server::start(common::FAST);
    let id = create_echo(&s, "contoso_Fixed").await;
    for (column, value) in [
        ("uniquename", json!("contoso_Moved")),
        ("isfunction", json!(true)),
        ("bindingtype", json!(0)),
        ("allowedcustomprocessingsteptype", json!(2)),
    ] {
        let resp = s
            .req(Method::PATCH, &format!("{API}/customapis({id})"))
            .json(&json!({ column: value }))
            .send()
            .await
            .unwrap();
        if column == "bindingtype" {
            // The current value may be sent.
            assert_eq!(resp.status(), StatusCode::NO_CONTENT);
            continue;
        }
        let (code, message) = error(resp, 400, column).await;
        assert_eq!(code, "0x80040203");
        assert_eq!(
            message,
            format!("The {column} of a custom API cannot be changed once it is created.")
        );
    }
    let param = rows(
        &s,
        "customapirequestparameters",
        &format!("uniquename%20eq%20'Text'%20and%20_customapiid_value%20eq%20{id}"),
    )
    .await;
    let pid = param[0]["customapirequestparameterid"].as_str().unwrap();
    for (column, value) in [
        ("type", json!(7)),
        ("isoptional", json!(true)),
        ("uniquename", json!("Other")),
    ] {
        let resp = s
            .req(
                Method::PATCH,
                &format!("{API}/customapirequestparameters({pid})"),
            )
            .json(&json!({ column: value }))
            .send()
            .await
            .unwrap();
        let (_, message) = error(resp, 400, column).await;
        assert_eq!(message, format!("The {column} of a custom API request parameter cannot be changed once it is created."));
    }
    let resp = s
        .req(
            Method::PATCH,
            &format!("{API}/customapirequestparameters({pid})"),
        )
        .json(&json!({"description": "mutable"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    // PATCH never creates a definition.
    let resp = s
        .req(
            Method::PATCH,
            &format!("{API}/customapis(00000000-0000-0000-0000-0000000000aa)"),
        )
        .json(&json!({"description": "x"}))
        .send()
        .await
        .unwrap();
    error(resp, 404, "upsert").await;
}

#[tokio::test]
async fn types_are_0_to_12_and_only_global_binding() {
    let s = Server::start(common::FAST);
    let plugin = plugin_type_id(&s, ECHO_PLUGIN).await;
    let mut body = echo_api("contoso_Typed", &plugin);
    body["CustomAPIRequestParameters"][0]["type"] = json!(13);
    let (code, message) = error(post(&s, "customapis", &body).await, 400, "type 13").await;
    assert_eq!(code, "0x80040203");
    assert!(message.starts_with("13 is not a valid type for a custom API request parameter: use 0 (Boolean), 1 (DateTime)"), "{message}");
    let mut body = echo_api("contoso_Typed", &plugin);
    body["CustomAPIResponseProperties"][0]["type"] = json!(-1);
    error(post(&s, "customapis", &body).await, 400, "type -1").await;
    let mut body = echo_api("contoso_Typed", &plugin);
    body["CustomAPIRequestParameters"][0]
        .as_object_mut()
        .unwrap()
        .remove("type");
    let (_, message) = error(post(&s, "customapis", &body).await, 400, "no type").await;
    assert_eq!(
        message,
        "The custom API request parameter Text needs a type from 0 (Boolean) to 12 (Guid)."
    );

    for (b, label) in [(1, "1 (Entity)"), (2, "2 (EntityCollection)")] {
        let mut body = echo_api("contoso_Bound", &plugin);
        body["bindingtype"] = json!(b);
        let (_, message) = error(post(&s, "customapis", &body).await, 400, "binding").await;
        assert_eq!(message, format!("bindingtype {label} is not supported: bgops runs global custom APIs only (bindingtype 0)."));
    }
    // Every type 0–12 is accepted.
    let params: Vec<Value> = (0..=12)
        .map(|t| json!({"uniquename": format!("P{t}"), "type": t, "isoptional": true}))
        .collect();
    let body = json!({"uniquename": "contoso_AllTypes", "PluginTypeId@odata.bind": format!("plugintypes({plugin})"),
        "CustomAPIRequestParameters": params});
    assert_eq!(
        post(&s, "customapis", &body).await.status(),
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn a_function_needs_a_response_property() {
    let s = Server::start(common::FAST);
    let plugin = plugin_type_id(&s, ECHO_PLUGIN).await;
    let mut body = echo_api("contoso_NoOutput", &plugin);
    body["isfunction"] = json!(true);
    body["CustomAPIResponseProperties"] = json!([]);
    let (_, message) = error(post(&s, "customapis", &body).await, 400, "function").await;
    assert_eq!(message, "Custom API contoso_NoOutput is a function, and a function must have at least one response property.");
    // Nor can it lose its last one.
    let mut body = echo_api("contoso_OneOutput", &plugin);
    body["isfunction"] = json!(true);
    body["CustomAPIResponseProperties"] = json!([{"uniquename": "Text", "type": 10}]);
    assert_eq!(
        post(&s, "customapis", &body).await.status(),
        StatusCode::NO_CONTENT
    );
    let prop = rows(
        &s,
        "customapiresponseproperties",
        "name%20eq%20'contoso_OneOutput.Text'",
    )
    .await;
    let pid = prop[0]["customapiresponsepropertyid"].as_str().unwrap();
    let resp = s
        .req(
            Method::DELETE,
            &format!("{API}/customapiresponseproperties({pid})"),
        )
        .send()
        .await
        .unwrap();
    let (_, message) = error(resp, 400, "last property").await;
    assert_eq!(message, "Custom API contoso_OneOutput is a function, and a function must keep at least one response property.");
}

#[tokio::test]
async fn the_bound_plugin_type_must_exist() {
    let s = Server::start(common::FAST);
    let mut body = echo_api("contoso_Orphan", "00000000-0000-0000-0000-0000000000bb");
    let (_, message) = error(post(&s, "customapis", &body).await, 400, "unknown plug-in").await;
    assert_eq!(message, "The plug-in type with id 00000000-0000-0000-0000-0000000000bb bound to custom API contoso_Orphan does not exist: create it with POST plugintypes, or bind an existing one.");
    body.as_object_mut()
        .unwrap()
        .remove("PluginTypeId@odata.bind");
    let (_, message) = error(post(&s, "customapis", &body).await, 400, "no plug-in").await;
    assert_eq!(message, "Custom API contoso_Orphan needs a plug-in: bind one with \"PluginTypeId@odata.bind\": \"plugintypes(<plugintypeid>)\".");
    // A parameter needs an existing custom API.
    let resp = post(
        &s,
        "customapirequestparameters",
        &json!({"uniquename": "X", "type": 10}),
    )
    .await;
    let (_, message) = error(resp, 400, "no parent").await;
    assert_eq!(message, "A custom API request parameter belongs to a custom API: bind it with \"CustomAPIId@odata.bind\": \"customapis(<customapiid>)\".");
    let resp = post(
        &s,
        "customapirequestparameters",
        &json!({"uniquename": "X", "type": 10,
        "CustomAPIId@odata.bind": "customapis(00000000-0000-0000-0000-0000000000cc)"}),
    )
    .await;
    let (_, message) = error(resp, 400, "unknown parent").await;
    assert_eq!(
        message,
        "The custom API with id 00000000-0000-0000-0000-0000000000cc does not exist."
    );
    // A plug-in type in use cannot be deleted.
    let resp = post(&s, "plugintypes", &json!({"typename": "Contoso.Used", "bgops_endpointurl": "https://plugins.contoso.example/used"})).await;
    let used = entity_id(&resp);
    let body = echo_api("contoso_User", &used);
    assert_eq!(
        post(&s, "customapis", &body).await.status(),
        StatusCode::NO_CONTENT
    );
    let resp = s
        .req(Method::DELETE, &format!("{API}/plugintypes({used})"))
        .send()
        .await
        .unwrap();
    let (_, message) = error(resp, 400, "delete used plug-in type").await;
    assert_eq!(message, "The plug-in type Contoso.Used is used by custom API contoso_User: delete the custom API or bind it to another plug-in type first.");
}

#[tokio::test]
async fn http_plugin_types_need_a_typename_and_an_acceptable_url() {
    let s = Server::start(common::FAST);
    let (_, message) = error(
        post(&s, "plugintypes", &json!({"name": "x"})).await,
        400,
        "typename",
    )
    .await;
    assert_eq!(message, "A plug-in type needs a typename.");
    for url in [
        "http://plugins.contoso.example/x",
        "ftp://plugins.contoso.example/x",
        "https://10.0.0.1/x",
        "https://plugins.contoso.example/x#frag",
    ] {
        let resp = post(
            &s,
            "plugintypes",
            &json!({"typename": "Contoso.Bad", "bgops_endpointurl": url}),
        )
        .await;
        let (_, message) = error(resp, 400, url).await;
        assert!(
            message.starts_with("The bgops_endpointurl of a plug-in type is not accepted: "),
            "{url}: {message}"
        );
    }
    assert!(rows(&s, "plugintypes", "typename%20eq%20'Contoso.Bad'")
        .await
        .is_empty());
}

// ---------------------------------------------------------------------------------------------
// The declarative file.

fn write_file(dir: &Path, text: &str) -> String {
    let path = dir.join("custom-apis.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

const FILE_V1: &str = r#"
[[plugintypes]]
typename = "Contoso.Remote"
bgops_endpointurl = "https://plugins.contoso.example/remote"

[[customapis]]
uniquename = "contoso_FromFile"
displayname = "From the file"
plugintype = "Bgops.Diagnostics.Echo"
[[customapis.requestparameters]]
uniquename = "Text"
type = "String"
[[customapis.responseproperties]]
uniquename = "Text"
type = "String"

[[customapis]]
uniquename = "contoso_Remote"
plugintype = "Contoso.Remote"
"#;

const FILE_V2: &str = r#"
[[customapis]]
uniquename = "contoso_FromFile"
displayname = "From the file, v2"
plugintype = "Bgops.Diagnostics.Echo"
[[customapis.requestparameters]]
uniquename = "Text"
type = "String"
[[customapis.requestparameters]]
uniquename = "Number"
type = 7
isoptional = true
[[customapis.responseproperties]]
uniquename = "Text"
type = "String"
[[customapis.responseproperties]]
uniquename = "Number"
type = "Integer"
"#;

fn etag(row: &Value) -> String {
    row["@odata.etag"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_custom_api_file_is_applied_at_start_and_kept_in_step() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bgops.db");
    let file = write_file(dir.path(), FILE_V1);
    let flags = |file: &str| -> Vec<String> {
        let mut v: Vec<String> = common::FAST.iter().map(|s| (*s).to_owned()).collect();
        v.extend(["--custom-apis".to_owned(), file.to_owned()]);
        v
    };
    let args = flags(&file);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    let mut s = Server::start_on(&db, &args);
    let resp = call(&s, "contoso_FromFile", json!({"Text": "declared"})).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let api = rows(&s, "customapis", "uniquename%20eq%20'contoso_FromFile'").await;
    assert_eq!(api[0]["bgops_source"], "file");
    assert_eq!(api[0]["displayname"], "From the file");
    let remote = rows(&s, "plugintypes", "typename%20eq%20'Contoso.Remote'").await;
    assert_eq!(remote[0]["bgops_source"], "file");
    // Declared rows are changed in the file, not over the Web API.
    let id = api[0]["customapiid"].as_str().unwrap().to_owned();
    let resp = s
        .req(Method::DELETE, &format!("{API}/customapis({id})"))
        .send()
        .await
        .unwrap();
    let (_, message) = error(resp, 400, "delete declared").await;
    assert_eq!(message, "The custom API contoso_FromFile is declared in the custom API file of bgops serve (--custom-apis); change it there.");
    // A custom API created over the Web API is left alone by the file.
    create_echo(&s, "contoso_FromWeb").await;
    let before = etag(&api[0]);
    s.kill9();

    // The same file again changes nothing.
    let mut s = Server::start_on(&db, &args);
    let api = rows(&s, "customapis", "uniquename%20eq%20'contoso_FromFile'").await;
    assert_eq!(etag(&api[0]), before, "an unchanged file writes nothing");
    s.kill9();

    // A changed file updates what it declares and deletes what it no longer declares.
    let file = write_file(dir.path(), FILE_V2);
    let args = flags(&file);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let s = Server::start_on(&db, &args);
    let resp = call(&s, "contoso_FromFile", json!({"Text": "v2", "Number": 2})).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["Number"], 2);
    let api = rows(&s, "customapis", "uniquename%20eq%20'contoso_FromFile'").await;
    assert_eq!(api[0]["displayname"], "From the file, v2");
    assert_eq!(api[0]["customapiid"], id.as_str(), "the id is kept");
    error(
        call(&s, "contoso_Remote", json!({})).await,
        404,
        "no longer declared",
    )
    .await;
    assert!(rows(&s, "plugintypes", "typename%20eq%20'Contoso.Remote'")
        .await
        .is_empty());
    assert_eq!(
        call(&s, "contoso_FromWeb", json!({"Text": "still here"}))
            .await
            .status(),
        StatusCode::OK
    );
}

fn start_fails(db: &Path, file: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_bgops"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database"])
        .arg(format!("sqlite://{}", db.display()))
        .args(["--admin-token", common::TOKEN, "--custom-apis", file])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_bad_custom_api_file_stops_the_start_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bgops.db");
    let file = write_file(
        dir.path(),
        "[[customapis]]\nuniquename = \"NoPrefix\"\nplugintype = \"Bgops.Diagnostics.Echo\"\n",
    );
    let err = start_fails(&db, &file);
    assert!(
        err.contains("NoPrefix: 'NoPrefix' is not a valid custom API unique name"),
        "{err}"
    );
    let file = write_file(
        dir.path(),
        "[[customapis]]\nuniquename = \"contoso_X\"\nplugintype = \"Nowhere.Plugin\"\n",
    );
    let err = start_fails(&db, &file);
    assert!(
        err.contains("contoso_X: its plug-in type Nowhere.Plugin is neither declared"),
        "{err}"
    );
    let file = write_file(
        dir.path(),
        "[[customapis]]\nuniquename = \"contoso_X\"\nunknown = 1\n",
    );
    let err = start_fails(&db, &file);
    assert!(err.contains("unknown"), "{err}");
    let err = start_fails(&db, &dir.path().join("missing.toml").display().to_string());
    assert!(err.contains("missing.toml"), "{err}");
}
