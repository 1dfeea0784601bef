//! Custom API definitions as rows (SPEC §8): the `customapi`, `customapirequestparameter`,
//! `customapiresponseproperty` and `plugintype` tables read together, and how their rows become
//! the [`CustomApi`] definitions the engine runs. The rules a write must follow are in
//! [`crate::custom_api_rules`].

use uuid::Uuid;

use crate::custom_api::{CustomApi, RequestParameter, ResponseProperty};
use crate::metadata::{Cell, Row};
use crate::params::ParamType;

/// Logical name of the custom API table.
pub const CUSTOM_API: &str = "customapi";
/// Logical name of the request parameter table.
pub const REQUEST_PARAMETER: &str = "customapirequestparameter";
/// Logical name of the response property table.
pub const RESPONSE_PROPERTY: &str = "customapiresponseproperty";
/// Logical name of the plug-in type table.
pub const PLUGIN_TYPE: &str = "plugintype";
/// The four definition tables, parents first.
pub const DEFINITION_TABLES: [&str; 4] = [
    PLUGIN_TYPE,
    CUSTOM_API,
    REQUEST_PARAMETER,
    RESPONSE_PROPERTY,
];
/// The deep-insert navigation property holding the request parameters of a new custom API.
pub const REQUEST_PARAMETERS_NAV: &str = "CustomAPIRequestParameters";
/// The deep-insert navigation property holding the response properties of a new custom API.
pub const RESPONSE_PROPERTIES_NAV: &str = "CustomAPIResponseProperties";
/// The column saying where a definition row comes from (see [`Source`]).
pub const SOURCE_COLUMN: &str = "bgops_source";
/// The column holding an HTTP plug-in's endpoint URL.
pub const ENDPOINT_COLUMN: &str = "bgops_endpointurl";

/// Which definition table a row belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DefinitionKind {
    /// `customapi`.
    CustomApi,
    /// `customapirequestparameter`.
    RequestParameter,
    /// `customapiresponseproperty`.
    ResponseProperty,
    /// `plugintype`.
    PluginType,
}

impl DefinitionKind {
    /// The kind of the table with this logical name, if it is a definition table.
    pub fn of_table(logical_name: &str) -> Option<Self> {
        match logical_name {
            CUSTOM_API => Some(Self::CustomApi),
            REQUEST_PARAMETER => Some(Self::RequestParameter),
            RESPONSE_PROPERTY => Some(Self::ResponseProperty),
            PLUGIN_TYPE => Some(Self::PluginType),
            _ => None,
        }
    }

    /// The table's logical name.
    pub fn table(self) -> &'static str {
        match self {
            Self::CustomApi => CUSTOM_API,
            Self::RequestParameter => REQUEST_PARAMETER,
            Self::ResponseProperty => RESPONSE_PROPERTY,
            Self::PluginType => PLUGIN_TYPE,
        }
    }

    /// The primary key column.
    pub fn primary_id(self) -> &'static str {
        match self {
            Self::CustomApi => "customapiid",
            Self::RequestParameter => "customapirequestparameterid",
            Self::ResponseProperty => "customapiresponsepropertyid",
            Self::PluginType => "plugintypeid",
        }
    }

    /// How messages name a row of this kind.
    pub fn label(self) -> &'static str {
        match self {
            Self::CustomApi => "custom API",
            Self::RequestParameter => "custom API request parameter",
            Self::ResponseProperty => "custom API response property",
            Self::PluginType => "plug-in type",
        }
    }

    /// Whether rows of this kind belong to a custom API (through `customapiid`).
    pub fn is_child(self) -> bool {
        matches!(self, Self::RequestParameter | Self::ResponseProperty)
    }

    /// The columns that cannot change once a row exists (Dataverse's immutable columns).
    /// `plugintypeid` of a custom API is not among them: a custom API can be rebound.
    pub fn immutable_columns(self) -> &'static [&'static str] {
        match self {
            Self::CustomApi => &[
                "uniquename",
                "bindingtype",
                "boundentitylogicalname",
                "isfunction",
                "allowedcustomprocessingsteptype",
                "workflowsdkstepenabled",
            ],
            Self::RequestParameter => &[
                "uniquename",
                "type",
                "isoptional",
                "logicalentityname",
                "customapiid",
            ],
            Self::ResponseProperty => &["uniquename", "type", "logicalentityname", "customapiid"],
            Self::PluginType => &["typename"],
        }
    }
}

/// Where a definition row comes from, kept in its `bgops_source` column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Created over the Web API (`bgops_source` null): changed only over the Web API.
    WebApi,
    /// Declared in the `--custom-apis` file: kept in step with the file at start-up.
    File,
    /// Registered in code (a native plug-in or a built-in custom API): written at start-up.
    Native,
}

impl Source {
    /// The `bgops_source` cell of a row from this source.
    pub fn cell(self) -> Cell {
        match self {
            Self::WebApi => Cell::Null,
            Self::File => Cell::Text("file".to_owned()),
            Self::Native => Cell::Text("native".to_owned()),
        }
    }

    /// The source of `row`.
    pub fn of(row: &Row) -> Self {
        match text(row, SOURCE_COLUMN) {
            Some("file") => Self::File,
            Some("native") => Self::Native,
            _ => Self::WebApi,
        }
    }
}

/// The cell of `column` in `row`, if the row has it.
pub fn cell<'r>(row: &'r Row, column: &str) -> Option<&'r Cell> {
    row.iter().find(|(c, _)| *c == column).map(|(_, v)| v)
}

/// The text of `column`, if set.
pub fn text<'r>(row: &'r Row, column: &str) -> Option<&'r str> {
    match cell(row, column) {
        Some(Cell::Text(s)) => Some(s),
        _ => None,
    }
}

/// The GUID of `column`, if set.
pub fn guid(row: &Row, column: &str) -> Option<Uuid> {
    match cell(row, column) {
        Some(Cell::Guid(g)) => Some(*g),
        _ => None,
    }
}

/// The integer of `column`, if set.
pub fn int(row: &Row, column: &str) -> Option<i64> {
    match cell(row, column) {
        Some(Cell::Int(i)) => Some(*i),
        _ => None,
    }
}

/// The boolean of `column`, if set.
pub fn boolean(row: &Row, column: &str) -> Option<bool> {
    match cell(row, column) {
        Some(Cell::Bool(b)) => Some(*b),
        _ => None,
    }
}

/// Sets `column` to `value`, replacing any value the row has.
pub fn set(row: &mut Row, column: &'static str, value: Cell) {
    match row.iter_mut().find(|(c, _)| *c == column) {
        Some(slot) => slot.1 = value,
        None => row.push((column, value)),
    }
}

/// Sets `column` to `value` unless the row has a non-null value for it.
pub fn set_default(row: &mut Row, column: &'static str, value: Cell) {
    if matches!(cell(row, column), None | Some(Cell::Null)) {
        set(row, column, value);
    }
}

/// The rows of the four definition tables as stored at one moment: what the registry turns
/// into callable custom APIs, and the facts the rules check a write against.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DefinitionRows {
    /// `customapi` rows.
    pub apis: Vec<Row>,
    /// `customapirequestparameter` rows.
    pub request_parameters: Vec<Row>,
    /// `customapiresponseproperty` rows.
    pub response_properties: Vec<Row>,
    /// `plugintype` rows.
    pub plugin_types: Vec<Row>,
}

impl DefinitionRows {
    /// The rows of one kind.
    pub fn rows(&self, kind: DefinitionKind) -> &[Row] {
        match kind {
            DefinitionKind::CustomApi => &self.apis,
            DefinitionKind::RequestParameter => &self.request_parameters,
            DefinitionKind::ResponseProperty => &self.response_properties,
            DefinitionKind::PluginType => &self.plugin_types,
        }
    }

    /// The rows of one kind, to change.
    pub fn rows_mut(&mut self, kind: DefinitionKind) -> &mut Vec<Row> {
        match kind {
            DefinitionKind::CustomApi => &mut self.apis,
            DefinitionKind::RequestParameter => &mut self.request_parameters,
            DefinitionKind::ResponseProperty => &mut self.response_properties,
            DefinitionKind::PluginType => &mut self.plugin_types,
        }
    }

    /// The row of `kind` with primary key `id`.
    pub fn find(&self, kind: DefinitionKind, id: Uuid) -> Option<&Row> {
        self.rows(kind)
            .iter()
            .find(|r| guid(r, kind.primary_id()) == Some(id))
    }

    /// The custom API named `name` (compared without case, as unique names are).
    pub fn api_named(&self, name: &str) -> Option<&Row> {
        self.apis
            .iter()
            .find(|r| text(r, "uniquename").is_some_and(|n| n.eq_ignore_ascii_case(name)))
    }

    /// The plug-in type with this `typename` (compared without case).
    pub fn plugin_type_named(&self, typename: &str) -> Option<&Row> {
        self.plugin_types
            .iter()
            .find(|r| text(r, "typename").is_some_and(|n| n.eq_ignore_ascii_case(typename)))
    }

    /// The parameters (or properties) of custom API `api`, in the order they were written.
    pub fn children(&self, kind: DefinitionKind, api: Uuid) -> Vec<&Row> {
        let mut rows: Vec<&Row> = self
            .rows(kind)
            .iter()
            .filter(|r| guid(r, "customapiid") == Some(api))
            .collect();
        rows.sort_by_key(|r| int(r, "versionnumber").unwrap_or(0));
        rows
    }

    /// The custom APIs bound to plug-in type `id`.
    pub fn apis_using(&self, plugin_type: Uuid) -> Vec<&Row> {
        self.apis
            .iter()
            .filter(|r| guid(r, "plugintypeid") == Some(plugin_type))
            .collect()
    }

    /// Every custom API defined by rows that is not registered in code, as the engine runs it.
    /// Rows that cannot be run are left out: a function without a response property (Dataverse
    /// leaves it out of `$metadata` and answers 404), a parameter of an unknown type.
    pub fn custom_apis(&self) -> Vec<CustomApi> {
        self.apis
            .iter()
            .filter(|r| Source::of(r) != Source::Native)
            .filter_map(|r| self.custom_api(r))
            .collect()
    }

    /// The definition of one `customapi` row.
    pub fn custom_api(&self, row: &Row) -> Option<CustomApi> {
        let id = guid(row, "customapiid")?;
        let unique_name = text(row, "uniquename")?.to_owned();
        let param_type = |r: &Row| int(r, "type").and_then(ParamType::from_code);
        let request_parameters = self
            .children(DefinitionKind::RequestParameter, id)
            .into_iter()
            .map(|r| {
                Some(RequestParameter {
                    name: text(r, "uniquename")?.to_owned(),
                    param_type: param_type(r)?,
                    optional: boolean(r, "isoptional").unwrap_or(false),
                })
            })
            .collect::<Option<Vec<_>>>()?;
        let response_properties = self
            .children(DefinitionKind::ResponseProperty, id)
            .into_iter()
            .map(|r| {
                Some(ResponseProperty {
                    name: text(r, "uniquename")?.to_owned(),
                    param_type: param_type(r)?,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        let is_function = boolean(row, "isfunction").unwrap_or(false);
        if is_function && response_properties.is_empty() {
            return None;
        }
        let plugin_type = guid(row, "plugintypeid")
            .and_then(|p| self.find(DefinitionKind::PluginType, p))
            .and_then(|p| text(p, "typename"))
            .unwrap_or_default()
            .to_owned();
        let display_name = text(row, "displayname")
            .or_else(|| text(row, "name"))
            .unwrap_or(&unique_name)
            .to_owned();
        Some(CustomApi {
            unique_name,
            display_name,
            is_function,
            request_parameters,
            response_properties,
            plugin_type,
            execute_privilege: text(row, "executeprivilegename").map(str::to_owned),
            attempt_timeout: None,
            max_retries: None,
        })
    }

    /// The HTTP plug-in types: `(typename, endpoint URL)` of every row with an endpoint.
    pub fn http_plugin_types(&self) -> Vec<(String, String)> {
        self.plugin_types
            .iter()
            .filter_map(|r| {
                let url = text(r, ENDPOINT_COLUMN).filter(|u| !u.trim().is_empty())?;
                Some((text(r, "typename")?.to_owned(), url.to_owned()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_row(id: Uuid, name: &str, is_function: bool, plugin: Option<Uuid>) -> Row {
        let mut row: Row = vec![
            ("customapiid", Cell::Guid(id)),
            ("uniquename", Cell::Text(name.into())),
            ("name", Cell::Text(name.into())),
            ("isfunction", Cell::Bool(is_function)),
        ];
        if let Some(p) = plugin {
            row.push(("plugintypeid", Cell::Guid(p)));
        }
        row
    }

    fn child(id_col: &'static str, api: Uuid, name: &str, ty: i64, version: i64) -> Row {
        vec![
            (id_col, Cell::Guid(Uuid::new_v4())),
            ("uniquename", Cell::Text(name.into())),
            ("type", Cell::Int(ty)),
            ("isoptional", Cell::Bool(true)),
            ("customapiid", Cell::Guid(api)),
            ("versionnumber", Cell::Int(version)),
        ]
    }

    #[test]
    fn rows_become_definitions_in_write_order() {
        let api = Uuid::new_v4();
        let plugin = Uuid::new_v4();
        let rows = DefinitionRows {
            apis: vec![api_row(api, "contoso_Do", false, Some(plugin))],
            request_parameters: vec![
                child("customapirequestparameterid", api, "B", 7, 20),
                child("customapirequestparameterid", api, "A", 10, 10),
            ],
            response_properties: vec![child("customapiresponsepropertyid", api, "R", 12, 30)],
            plugin_types: vec![vec![
                ("plugintypeid", Cell::Guid(plugin)),
                ("typename", Cell::Text("Contoso.Do".into())),
                (ENDPOINT_COLUMN, Cell::Text("https://x.example/do".into())),
            ]],
        };
        let apis = rows.custom_apis();
        assert_eq!(apis.len(), 1);
        let a = &apis[0];
        assert_eq!(a.plugin_type, "Contoso.Do");
        assert_eq!(a.request_parameters[0].name, "A");
        assert_eq!(a.request_parameters[0].param_type, ParamType::String);
        assert_eq!(a.request_parameters[1].param_type, ParamType::Integer);
        assert_eq!(a.response_type("R"), Some(ParamType::Guid));
        assert_eq!(a.display_name, "contoso_Do");
        assert_eq!(
            rows.http_plugin_types(),
            vec![("Contoso.Do".to_owned(), "https://x.example/do".to_owned())]
        );
        assert!(rows.api_named("CONTOSO_DO").is_some());
    }

    #[test]
    fn a_function_without_response_properties_is_left_out() {
        let rows = DefinitionRows {
            apis: vec![api_row(Uuid::new_v4(), "contoso_Fn", true, None)],
            ..DefinitionRows::default()
        };
        assert!(rows.custom_apis().is_empty());
    }

    #[test]
    fn sources_round_trip() {
        for s in [Source::WebApi, Source::File, Source::Native] {
            let row: Row = vec![(SOURCE_COLUMN, s.cell())];
            assert_eq!(Source::of(&row), s);
        }
    }
}
