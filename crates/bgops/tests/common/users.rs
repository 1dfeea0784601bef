//! Users made over the Web API as an operator would: a `systemusers` row, roles through
//! `systemuserroles_association/$ref`, and an API key from `bgops_apikeys` (shown once).

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::custom_apis::{entity_id, post, API};
use super::Server;

/// The built-in Basic User role.
pub const BASIC_USER: &str = "99772695-2de3-4052-b2d4-b1bd2201509c";
/// The built-in Delegate role.
pub const DELEGATE: &str = "6b1a2f6e-0d5c-4a8e-9a43-1f1d8b0c2d71";

/// A user the test made, with a working key.
pub struct User {
    pub id: String,
    pub key: String,
}

/// Creates `name` with `roles` (role ids) and, if given, an Entra object id; returns its id and
/// a new API key.
pub async fn user(s: &Server, name: &str, roles: &[&str], oid: Option<&str>) -> User {
    let mut body =
        json!({ "fullname": name, "internalemailaddress": format!("{name}@example.com") });
    if let Some(oid) = oid {
        body["azureactivedirectoryobjectid"] = json!(oid);
    }
    let resp = post(s, "systemusers", &body).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT, "create {name}");
    let id = entity_id(&resp);
    for role in roles {
        let resp = post(
            s,
            &format!("systemusers({id})/systemuserroles_association/$ref"),
            &json!({ "@odata.id": format!("{}{API}/roles({role})", s.base) }),
        )
        .await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT, "give {name} {role}");
    }
    let resp = post(
        s,
        &format!("systemusers({id})/bgops_apikeys"),
        &json!({ "name": "tests" }),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::CREATED, "key for {name}");
    let body: Value = resp.json().await.unwrap();
    let key = body["key"]
        .as_str()
        .expect("the key, shown once")
        .to_owned();
    assert!(key.starts_with("bgops_"));
    User { id, key }
}
