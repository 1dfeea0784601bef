//! Reading custom API definitions from the `customapis`, `customapirequestparameters` and
//! `customapiresponseproperties` tables (SPEC §8).

use bgops_core::{ParamType, RequestParameter, ResponseProperty};
use serde_json::Value;

use crate::client::Client;
use crate::custom_api::CustomApiInfo;
use crate::error::Error;

impl Client {
    /// Every custom API the caller can see, by unique name, with their parameters and
    /// properties.
    pub async fn custom_apis(&self) -> Result<Vec<CustomApiInfo>, Error> {
        self.read_custom_apis(None).await
    }

    /// The custom API `name` (case-sensitive), or `None` when the server has none by that
    /// name.
    pub async fn custom_api(&self, name: &str) -> Result<Option<CustomApiInfo>, Error> {
        let filter = format!("uniquename eq '{}'", name.replace('\'', "''"));
        Ok(self
            .read_custom_apis(Some(filter))
            .await?
            .into_iter()
            .find(|a| a.unique_name == name))
    }

    async fn read_custom_apis(&self, filter: Option<String>) -> Result<Vec<CustomApiInfo>, Error> {
        let mut query = vec![
            (
                "$select",
                "customapiid,uniquename,displayname,description,isfunction,isprivate".to_owned(),
            ),
            ("$orderby", "uniquename".to_owned()),
        ];
        if let Some(f) = filter {
            query.push(("$filter", f));
        }
        let apis = self.read_all("customapis", &query).await?;
        if apis.is_empty() {
            return Ok(Vec::new());
        }
        let child_filter = |rows: &[Value]| -> Option<String> {
            // One custom API: ask only for its rows; several: read them all.
            (rows.len() == 1).then(|| {
                format!(
                    "_customapiid_value eq {}",
                    rows[0]["customapiid"].as_str().unwrap_or_default()
                )
            })
        };
        let children = |select: &str| {
            let mut q = vec![
                ("$select", select.to_owned()),
                ("$orderby", "uniquename".to_owned()),
            ];
            if let Some(f) = child_filter(&apis) {
                q.push(("$filter", f));
            }
            q
        };
        let params = self
            .read_all(
                "customapirequestparameters",
                &children("uniquename,type,isoptional,_customapiid_value"),
            )
            .await?;
        let props = self
            .read_all(
                "customapiresponseproperties",
                &children("uniquename,type,_customapiid_value"),
            )
            .await?;
        let text = |v: &Value, col: &str| v.get(col).and_then(Value::as_str).map(str::to_owned);
        let ty = |v: &Value| {
            v.get("type")
                .and_then(Value::as_i64)
                .and_then(ParamType::from_code)
                .unwrap_or(ParamType::String)
        };
        Ok(apis
            .iter()
            .map(|a| {
                let id = a.get("customapiid").and_then(Value::as_str);
                let mine = |r: &&Value| r.get("_customapiid_value").and_then(Value::as_str) == id;
                CustomApiInfo {
                    unique_name: text(a, "uniquename").unwrap_or_default(),
                    display_name: text(a, "displayname").unwrap_or_default(),
                    description: text(a, "description").filter(|d| !d.is_empty()),
                    is_function: a.get("isfunction").and_then(Value::as_bool) == Some(true),
                    is_private: a.get("isprivate").and_then(Value::as_bool) == Some(true),
                    request_parameters: params
                        .iter()
                        .filter(mine)
                        .map(|p| RequestParameter {
                            name: text(p, "uniquename").unwrap_or_default(),
                            param_type: ty(p),
                            optional: p.get("isoptional").and_then(Value::as_bool) == Some(true),
                        })
                        .collect(),
                    response_properties: props
                        .iter()
                        .filter(mine)
                        .map(|p| ResponseProperty {
                            name: text(p, "uniquename").unwrap_or_default(),
                            param_type: ty(p),
                        })
                        .collect(),
                }
            })
            .collect())
    }
}
