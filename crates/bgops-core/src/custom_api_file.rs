//! Declared custom API definitions: the `--custom-apis` TOML file (documented by
//! `docs/custom-apis.example.toml`) and the definitions registered in code, both turned into the
//! rows of the definition tables that a start-up keeps in step with them.
//!
//! Keys are the tables' logical names, so a file reads like the Web API body of the same
//! definition; `plugintype` names a plug-in type by its `typename`, and `type` takes a label
//! (`"String"`) or a code (`10`).

use serde::Deserialize;

use crate::custom_api::CustomApi;
use crate::custom_api_rows::{DefinitionKind, Source, ENDPOINT_COLUMN, SOURCE_COLUMN};
use crate::custom_api_rules::stable_id;
use crate::metadata::{Cell, Row};
use crate::params::ParamType;

/// Why a custom API file cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FileError(pub String);

/// Everything a file declares.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredDefinitions {
    /// `[[plugintypes]]`: HTTP plug-ins (and names for native ones).
    #[serde(default)]
    pub plugintypes: Vec<DeclaredPluginType>,
    /// `[[customapis]]`.
    #[serde(default)]
    pub customapis: Vec<DeclaredApi>,
}

/// A declared plug-in type.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredPluginType {
    /// `typename`: how custom APIs name it.
    pub typename: String,
    /// `name`; the type name when absent.
    pub name: Option<String>,
    /// `friendlyname`.
    pub friendlyname: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// `bgops_endpointurl`: makes it an HTTP plug-in.
    pub bgops_endpointurl: Option<String>,
}

/// A declared custom API with its parameters and properties.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredApi {
    /// `uniquename`: the message name.
    pub uniquename: String,
    /// `name`; the unique name when absent.
    pub name: Option<String>,
    /// `displayname`; the name when absent.
    pub displayname: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// `bindingtype`: only 0 (Global) is supported.
    #[serde(default)]
    pub bindingtype: i64,
    /// `isfunction`: called with GET.
    #[serde(default)]
    pub isfunction: bool,
    /// `isprivate`.
    #[serde(default)]
    pub isprivate: bool,
    /// `allowedcustomprocessingsteptype`: 0 None, 1 Async Only, 2 Sync and Async.
    #[serde(default)]
    pub allowedcustomprocessingsteptype: i64,
    /// `executeprivilegename`: the privilege a caller needs.
    pub executeprivilegename: Option<String>,
    /// The `typename` of the plug-in that runs it.
    pub plugintype: Option<String>,
    /// `[[customapis.requestparameters]]`.
    #[serde(default)]
    pub requestparameters: Vec<DeclaredParameter>,
    /// `[[customapis.responseproperties]]`.
    #[serde(default)]
    pub responseproperties: Vec<DeclaredParameter>,
}

/// A declared request parameter or response property.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredParameter {
    /// `uniquename`: the name on the wire.
    pub uniquename: String,
    /// `name`; `{api}.{uniquename}` when absent.
    pub name: Option<String>,
    /// `displayname`; the unique name when absent.
    pub displayname: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// `type`: a label (`"String"`) or a code (`10`).
    #[serde(rename = "type")]
    pub param_type: TypeSpec,
    /// `isoptional` (request parameters only).
    #[serde(default)]
    pub isoptional: bool,
    /// `logicalentityname` (Entity and EntityReference types).
    pub logicalentityname: Option<String>,
}

/// A parameter type as written in the file.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum TypeSpec {
    /// A code, 0–12.
    Code(i64),
    /// A label: `Boolean`, `DateTime`, … `Guid`.
    Label(String),
}

impl TypeSpec {
    /// The type, if the code or label is one.
    pub fn resolve(&self) -> Option<ParamType> {
        match self {
            Self::Code(c) => ParamType::from_code(*c),
            Self::Label(l) => ParamType::ALL
                .into_iter()
                .find(|t| t.label().eq_ignore_ascii_case(l)),
        }
    }
}

impl From<ParamType> for TypeSpec {
    fn from(t: ParamType) -> Self {
        Self::Label(t.label().to_owned())
    }
}

/// Reads a custom API file.
pub fn parse(text: &str) -> Result<DeclaredDefinitions, FileError> {
    let defs: DeclaredDefinitions =
        toml::from_str(text).map_err(|e| FileError(e.to_string().trim_end().to_owned()))?;
    for api in &defs.customapis {
        for p in api.requestparameters.iter().chain(&api.responseproperties) {
            if p.param_type.resolve().is_none() {
                return Err(FileError(format!(
                    "custom API {}: parameter {} has type {:?}; use a label from Boolean, DateTime, Decimal, Entity, EntityCollection, EntityReference, Float, Integer, Money, Picklist, String, StringArray, Guid, or a code 0–12",
                    api.uniquename, p.uniquename, p.param_type
                )));
            }
        }
        if api.responseproperties.iter().any(|p| p.isoptional) {
            return Err(FileError(format!(
                "custom API {}: isoptional applies to request parameters only",
                api.uniquename
            )));
        }
    }
    Ok(defs)
}

fn opt_text(v: &Option<String>) -> Cell {
    v.as_ref().map_or(Cell::Null, |s| Cell::Text(s.clone()))
}

impl DeclaredPluginType {
    /// The `plugintype` row, every writable column set, with a stable id.
    pub fn row(&self, source: Source) -> Row {
        vec![
            (
                "plugintypeid",
                Cell::Guid(stable_id(DefinitionKind::PluginType, &self.typename)),
            ),
            (
                "name",
                Cell::Text(self.name.clone().unwrap_or_else(|| self.typename.clone())),
            ),
            ("typename", Cell::Text(self.typename.clone())),
            ("friendlyname", opt_text(&self.friendlyname)),
            ("description", opt_text(&self.description)),
            (ENDPOINT_COLUMN, opt_text(&self.bgops_endpointurl)),
            (SOURCE_COLUMN, source.cell()),
        ]
    }
}

/// The rows of one declared custom API: the `customapi` row, its request parameters and its
/// response properties.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiRows {
    /// The `customapi` row.
    pub api: Row,
    /// `customapirequestparameter` rows, in declaration order.
    pub request_parameters: Vec<Row>,
    /// `customapiresponseproperty` rows, in declaration order.
    pub response_properties: Vec<Row>,
}

impl DeclaredApi {
    /// The declaration of a custom API registered in code.
    pub fn from_custom_api(api: &CustomApi) -> Self {
        let param = |name: &str, t: ParamType, optional: bool| DeclaredParameter {
            uniquename: name.to_owned(),
            name: None,
            displayname: None,
            description: None,
            param_type: t.into(),
            isoptional: optional,
            logicalentityname: None,
        };
        Self {
            uniquename: api.unique_name.clone(),
            name: None,
            displayname: Some(api.display_name.clone()),
            description: None,
            bindingtype: 0,
            isfunction: api.is_function,
            isprivate: false,
            allowedcustomprocessingsteptype: 0,
            executeprivilegename: api.execute_privilege.clone(),
            plugintype: Some(api.plugin_type.clone()).filter(|p| !p.is_empty()),
            requestparameters: api
                .request_parameters
                .iter()
                .map(|p| param(&p.name, p.param_type, p.optional))
                .collect(),
            responseproperties: api
                .response_properties
                .iter()
                .map(|p| param(&p.name, p.param_type, false))
                .collect(),
        }
    }

    /// Its rows, every writable column set, with stable ids; `plugin_type` is the id of the
    /// plug-in type row it is bound to.
    pub fn rows(&self, plugin_type: Option<uuid::Uuid>, source: Source) -> ApiRows {
        let api_id = stable_id(DefinitionKind::CustomApi, &self.uniquename);
        let name = self.name.clone().unwrap_or_else(|| self.uniquename.clone());
        let api = vec![
            ("customapiid", Cell::Guid(api_id)),
            ("uniquename", Cell::Text(self.uniquename.clone())),
            ("name", Cell::Text(name.clone())),
            (
                "displayname",
                Cell::Text(self.displayname.clone().unwrap_or(name)),
            ),
            ("description", opt_text(&self.description)),
            ("bindingtype", Cell::Int(self.bindingtype)),
            ("boundentitylogicalname", Cell::Null),
            ("isfunction", Cell::Bool(self.isfunction)),
            ("isprivate", Cell::Bool(self.isprivate)),
            (
                "allowedcustomprocessingsteptype",
                Cell::Int(self.allowedcustomprocessingsteptype),
            ),
            ("executeprivilegename", opt_text(&self.executeprivilegename)),
            ("plugintypeid", plugin_type.map_or(Cell::Null, Cell::Guid)),
            ("workflowsdkstepenabled", Cell::Bool(false)),
            (SOURCE_COLUMN, source.cell()),
        ];
        let child = |kind: DefinitionKind, p: &DeclaredParameter| -> Row {
            let key = format!("{}.{}", self.uniquename, p.uniquename);
            let mut row: Row = vec![
                (kind.primary_id(), Cell::Guid(stable_id(kind, &key))),
                ("uniquename", Cell::Text(p.uniquename.clone())),
                ("name", Cell::Text(p.name.clone().unwrap_or(key))),
                (
                    "displayname",
                    Cell::Text(
                        p.displayname
                            .clone()
                            .unwrap_or_else(|| p.uniquename.clone()),
                    ),
                ),
                ("description", opt_text(&p.description)),
                (
                    "type",
                    p.param_type
                        .resolve()
                        .map_or(Cell::Null, |t| Cell::Int(i64::from(t.code()))),
                ),
                ("logicalentityname", opt_text(&p.logicalentityname)),
                ("customapiid", Cell::Guid(api_id)),
                (SOURCE_COLUMN, source.cell()),
            ];
            if kind == DefinitionKind::RequestParameter {
                row.push(("isoptional", Cell::Bool(p.isoptional)));
            }
            row
        };
        ApiRows {
            api,
            request_parameters: self
                .requestparameters
                .iter()
                .map(|p| child(DefinitionKind::RequestParameter, p))
                .collect(),
            response_properties: self
                .responseproperties
                .iter()
                .map(|p| child(DefinitionKind::ResponseProperty, p))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::custom_api_rows::{int, text};

    const EXAMPLE: &str = include_str!("../../../docs/custom-apis.example.toml");

    #[test]
    fn the_documented_example_parses_and_uses_every_type() {
        let defs = parse(EXAMPLE).unwrap();
        assert!(!defs.plugintypes.is_empty());
        assert!(defs
            .plugintypes
            .iter()
            .any(|p| p.bgops_endpointurl.is_some()));
        assert!(defs.customapis.iter().any(|a| a.isfunction));
        let mut types: Vec<ParamType> = defs
            .customapis
            .iter()
            .flat_map(|a| &a.requestparameters)
            .filter_map(|p| p.param_type.resolve())
            .collect();
        types.sort_by_key(|t| t.code());
        types.dedup();
        assert_eq!(
            types,
            ParamType::ALL.to_vec(),
            "every parameter type appears"
        );
        for api in &defs.customapis {
            assert!(
                crate::custom_api_rules::is_valid_api_name(&api.uniquename),
                "{}",
                api.uniquename
            );
            let rows = api.rows(None, Source::File);
            assert_eq!(rows.request_parameters.len(), api.requestparameters.len());
        }
    }

    #[test]
    fn rows_have_stable_ids_and_every_column() {
        let defs = parse(
            r#"
            [[customapis]]
            uniquename = "contoso_Do"
            plugintype = "Contoso.Do"
            [[customapis.requestparameters]]
            uniquename = "Count"
            type = 7
            isoptional = true
            [[customapis.responseproperties]]
            uniquename = "Id"
            type = "guid"
            "#,
        )
        .unwrap();
        let a = defs.customapis[0].rows(None, Source::File);
        let b = defs.customapis[0].rows(None, Source::File);
        assert_eq!(a, b);
        assert_eq!(text(&a.api, "displayname"), Some("contoso_Do"));
        assert_eq!(text(&a.api, SOURCE_COLUMN), Some("file"));
        assert_eq!(int(&a.request_parameters[0], "type"), Some(7));
        assert_eq!(int(&a.response_properties[0], "type"), Some(12));
        assert_eq!(
            text(&a.request_parameters[0], "name"),
            Some("contoso_Do.Count")
        );
    }

    #[test]
    fn mistakes_are_reported() {
        let e = parse("[[customapis]]\nuniquename = \"a_B\"\nbogus = 1\n").unwrap_err();
        assert!(e.0.contains("bogus"), "{e}");
        let e = parse(
            "[[customapis]]\nuniquename = \"a_B\"\n[[customapis.requestparameters]]\nuniquename = \"X\"\ntype = \"Text\"\n",
        )
        .unwrap_err();
        assert!(e.0.contains("a_B") && e.0.contains("X"), "{e}");
        let e = parse("[[customapis]]\nname = \"a\"\n").unwrap_err();
        assert!(e.0.contains("uniquename"), "{e}");
    }
}
