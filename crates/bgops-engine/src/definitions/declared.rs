//! Definitions kept in step at start-up: the plug-ins and custom APIs registered in code appear
//! as rows (`bgops_source = 'native'`), and the `--custom-apis` file's declarations become rows
//! (`bgops_source = 'file'`) — created, updated when they changed, deleted when the file no
//! longer declares them — in one transaction. Rows created over the Web API are never touched.
//! Running it again with the same input writes nothing, so every node may run it at start.

use std::collections::HashSet;

use bgops_core::custom_api_file::{ApiRows, DeclaredApi, DeclaredDefinitions, DeclaredPluginType};
use bgops_core::custom_api_rows::{cell, guid, set, text, DefinitionKind, DefinitionRows, Source};
use bgops_core::custom_api_rules::{self as rules, stable_id, RuleFacts};
use bgops_core::metadata::{Cell, Row};
use bgops_core::{ApiError, UserId};
use bgops_store::RowChange;

use super::{DefinitionError, Definitions};

/// How many times a sync is tried when another node wrote the same rows meanwhile.
const TRIES: usize = 3;

/// What a sync changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncSummary {
    /// Rows created.
    pub created: usize,
    /// Rows updated (a custom API's parameters count with it).
    pub updated: usize,
    /// Rows deleted (a custom API's parameters count with it).
    pub deleted: usize,
}

/// The rows a source should have.
struct Desired {
    plugin_types: Vec<Row>,
    apis: Vec<ApiRows>,
}

/// Whether `existing` differs from `desired` in a column `desired` sets (not the key).
fn differs(kind: DefinitionKind, existing: &Row, desired: &Row) -> bool {
    desired
        .iter()
        .any(|(c, v)| *c != kind.primary_id() && cell(existing, c).unwrap_or(&Cell::Null) != v)
}

/// Whether the stored children of `api` differ from the desired ones.
fn children_differ(
    rows: &DefinitionRows,
    kind: DefinitionKind,
    api: uuid::Uuid,
    desired: &[Row],
) -> bool {
    let existing = rows.children(kind, api);
    existing.len() != desired.len()
        || desired.iter().any(|d| {
            let name = text(d, "uniquename").unwrap_or_default();
            existing
                .iter()
                .find(|e| text(e, "uniquename") == Some(name))
                .is_none_or(|e| differs(kind, e, d))
        })
}

impl Definitions {
    /// Writes the plug-ins and custom APIs registered in code as rows, so the query layer shows
    /// them and rules can refer to them (a custom API bound to `Bgops.Diagnostics.Echo`). Only
    /// creates and updates: nodes running other builds never delete each other's rows.
    pub async fn publish_native(&self) -> Result<SyncSummary, DefinitionError> {
        let plugin_types: Vec<DeclaredPluginType> = self
            .registry
            .native_plugin_types()
            .into_iter()
            .map(|typename| DeclaredPluginType {
                typename,
                ..DeclaredPluginType::default()
            })
            .collect();
        let apis: Vec<DeclaredApi> = self
            .registry
            .code_apis()
            .iter()
            .map(|a| DeclaredApi::from_custom_api(a))
            .collect();
        self.sync(Source::Native, &plugin_types, &apis, false).await
    }

    /// Makes the file's rows match `file`: creates, updates and deletes them in one
    /// transaction. A declaration that breaks a rule, or takes a name a Web API row or the code
    /// holds, is an error and nothing is written.
    pub async fn apply_file(
        &self,
        file: &DeclaredDefinitions,
    ) -> Result<SyncSummary, DefinitionError> {
        self.sync(Source::File, &file.plugintypes, &file.customapis, true)
            .await
    }

    async fn sync(
        &self,
        source: Source,
        plugin_types: &[DeclaredPluginType],
        apis: &[DeclaredApi],
        delete_missing: bool,
    ) -> Result<SyncSummary, DefinitionError> {
        let mut last = None;
        for _ in 0..TRIES {
            let rows = self.registry.definition_rows().await?;
            let desired = self.desired(&rows, source, plugin_types, apis)?;
            let (changes, summary) = self.plan(&rows, source, &desired, delete_missing)?;
            if changes.is_empty() {
                return Ok(summary);
            }
            match self
                .write(changes, UserId(uuid::Uuid::nil()), |index, reason| {
                    ApiError::invalid_argument(format!(
                        "change {index} was refused ({reason:?}); another node wrote the same definitions"
                    ))
                })
                .await
            {
                Ok(_) => return Ok(summary),
                Err(e @ DefinitionError::Api(_)) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| ApiError::internal().into()))
    }

    /// The rows `source` should have, checked against the rules.
    fn desired(
        &self,
        rows: &DefinitionRows,
        source: Source,
        plugin_types: &[DeclaredPluginType],
        apis: &[DeclaredApi],
    ) -> Result<Desired, DefinitionError> {
        let names = self.code_names();
        // The rules see the stored rows of other sources plus the plug-in types declared here.
        let mut others = rows.clone();
        for kind in [
            DefinitionKind::CustomApi,
            DefinitionKind::RequestParameter,
            DefinitionKind::ResponseProperty,
            DefinitionKind::PluginType,
        ] {
            others.rows_mut(kind).retain(|r| Source::of(r) != source);
        }
        let code_apis = if source == Source::Native {
            Vec::new()
        } else {
            names.apis.clone()
        };
        let native_types = if source == Source::Native {
            Vec::new()
        } else {
            names.plugin_types.clone()
        };
        let facts = RuleFacts {
            rows: &others,
            builtin_apis: &code_apis,
            native_plugin_types: &native_types,
            url_policy: self.registry.url_policy(),
        };
        let mut desired_types = Vec::new();
        for p in plugin_types {
            let mut row = p.row(source);
            if let Some(existing) = rows.plugin_type_named(&p.typename) {
                if Source::of(existing) == source {
                    // Keep the stored id (a row may predate stable ids).
                    if let Some(id) = guid(existing, "plugintypeid") {
                        set(&mut row, "plugintypeid", Cell::Guid(id));
                    }
                }
            }
            if source != Source::Native {
                rules::check_new_plugin_type(&facts, &row).map_err(|e| named(&p.typename, e))?;
            }
            desired_types.push(row);
        }
        let mut bound = others.clone();
        bound.plugin_types.extend(desired_types.iter().cloned());
        let facts = RuleFacts {
            rows: &bound,
            ..facts
        };
        let mut seen = HashSet::new();
        let mut desired_apis = Vec::new();
        for api in apis {
            if !seen.insert(api.uniquename.to_ascii_lowercase()) {
                return Err(named(
                    &api.uniquename,
                    ApiError::invalid_argument("it is declared twice."),
                )
                .into());
            }
            let plugin = api.plugintype.as_deref().and_then(|t| {
                bound
                    .plugin_type_named(t)
                    .and_then(|r| guid(r, "plugintypeid"))
                    .or_else(|| {
                        native_types
                            .iter()
                            .any(|n| n.eq_ignore_ascii_case(t))
                            .then(|| stable_id(DefinitionKind::PluginType, t))
                    })
            });
            // Code may bind its APIs to plug-ins registered later or elsewhere: only a file
            // must name plug-in types that exist.
            if let (Some(t), None, true) = (&api.plugintype, plugin, source != Source::Native) {
                return Err(named(
                    &api.uniquename,
                    ApiError::invalid_argument(format!(
                        "its plug-in type {t} is neither declared in the file, nor a plugintypes row, nor registered in code."
                    )),
                )
                .into());
            }
            let api_rows = api.rows(plugin, source);
            if source != Source::Native {
                rules::check_new_api(
                    &facts,
                    &api_rows.api,
                    &api_rows.request_parameters,
                    &api_rows.response_properties,
                )
                .map_err(|e| named(&api.uniquename, e))?;
            }
            desired_apis.push(api_rows);
        }
        Ok(Desired {
            plugin_types: desired_types,
            apis: desired_apis,
        })
    }

    /// The changes that make the stored rows of `source` the desired ones.
    fn plan(
        &self,
        rows: &DefinitionRows,
        source: Source,
        desired: &Desired,
        delete_missing: bool,
    ) -> Result<(Vec<RowChange>, SyncSummary), DefinitionError> {
        let mut changes = Vec::new();
        let mut summary = SyncSummary::default();
        let plugin_table = self.table(DefinitionKind::PluginType)?;
        let api_table = self.table(DefinitionKind::CustomApi)?;
        let child_tables = [
            (
                DefinitionKind::RequestParameter,
                self.table(DefinitionKind::RequestParameter)?,
            ),
            (
                DefinitionKind::ResponseProperty,
                self.table(DefinitionKind::ResponseProperty)?,
            ),
        ];
        let taken = |name: &str, what: &str| -> DefinitionError {
            named(
                name,
                ApiError::invalid_argument(format!(
                    "a {what} with this name already exists and was not declared here (created over the Web API, or registered in code); rename one of them."
                )),
            )
            .into()
        };
        for row in &desired.plugin_types {
            let typename = text(row, "typename").unwrap_or_default();
            match rows.plugin_type_named(typename) {
                None => {
                    changes.push(RowChange::Insert {
                        table: plugin_table.clone(),
                        values: row.clone(),
                    });
                    summary.created += 1;
                }
                Some(existing) if Source::of(existing) == source => {
                    if differs(DefinitionKind::PluginType, existing, row) {
                        changes.push(RowChange::Update {
                            table: plugin_table.clone(),
                            id: guid(existing, "plugintypeid").unwrap_or_default(),
                            values: without(row, "plugintypeid"),
                            if_version: None,
                        });
                        summary.updated += 1;
                    }
                }
                Some(_) if source == Source::Native => {
                    tracing::warn!(%typename, "a plug-in type row with the name of a native plug-in exists; the native plug-in runs");
                }
                Some(_) => return Err(taken(typename, "plug-in type")),
            }
        }
        for api in &desired.apis {
            let name = text(&api.api, "uniquename").unwrap_or_default();
            let insert_children = |changes: &mut Vec<RowChange>| {
                for ((_, table), rows) in child_tables
                    .iter()
                    .zip([&api.request_parameters, &api.response_properties])
                {
                    for r in rows {
                        changes.push(RowChange::Insert {
                            table: table.clone(),
                            values: r.clone(),
                        });
                    }
                }
            };
            match rows.api_named(name) {
                None => {
                    changes.push(RowChange::Insert {
                        table: api_table.clone(),
                        values: api.api.clone(),
                    });
                    insert_children(&mut changes);
                    summary.created += 1;
                }
                Some(existing) if Source::of(existing) == source => {
                    let id = guid(existing, "customapiid").unwrap_or_default();
                    let mut desired_api = api.api.clone();
                    set(&mut desired_api, "customapiid", Cell::Guid(id));
                    let children_changed = child_tables
                        .iter()
                        .zip([&api.request_parameters, &api.response_properties])
                        .any(|((kind, _), d)| children_differ(rows, *kind, id, d));
                    if !differs(DefinitionKind::CustomApi, existing, &desired_api)
                        && !children_changed
                    {
                        continue;
                    }
                    if id != guid(&api.api, "customapiid").unwrap_or_default() {
                        // Children point at the stable id; a row with another id is replaced.
                        changes.push(delete_api(&api_table, id));
                        changes.extend(delete_children(&child_tables, id));
                        changes.push(RowChange::Insert {
                            table: api_table.clone(),
                            values: api.api.clone(),
                        });
                    } else {
                        changes.extend(delete_children(&child_tables, id));
                        changes.push(RowChange::Update {
                            table: api_table.clone(),
                            id,
                            values: without(&desired_api, "customapiid"),
                            if_version: None,
                        });
                    }
                    insert_children(&mut changes);
                    summary.updated += 1;
                }
                Some(_) if source == Source::Native => {
                    tracing::warn!(api = %name, "a custom API row with the name of a built-in custom API exists; the built-in one runs");
                }
                Some(_) => return Err(taken(name, "custom API")),
            }
        }
        if delete_missing {
            let desired_types: HashSet<String> = desired
                .plugin_types
                .iter()
                .filter_map(|r| text(r, "typename").map(str::to_ascii_lowercase))
                .collect();
            let mut deleted_apis = HashSet::new();
            for existing in rows.apis.iter().filter(|r| Source::of(r) == source) {
                let id = guid(existing, "customapiid").unwrap_or_default();
                let declared = text(existing, "uniquename").is_some_and(|n| {
                    desired.apis.iter().any(|a| {
                        text(&a.api, "uniquename").is_some_and(|d| d.eq_ignore_ascii_case(n))
                    })
                });
                if !declared {
                    changes.extend(delete_children(&child_tables, id));
                    changes.push(delete_api(&api_table, id));
                    deleted_apis.insert(id);
                    summary.deleted += 1;
                }
            }
            for existing in rows.plugin_types.iter().filter(|r| Source::of(r) == source) {
                let typename = text(existing, "typename").unwrap_or_default();
                if desired_types.contains(&typename.to_ascii_lowercase()) {
                    continue;
                }
                let id = guid(existing, "plugintypeid").unwrap_or_default();
                let users: Vec<&Row> = rows
                    .apis_using(id)
                    .into_iter()
                    .filter(|a| !deleted_apis.contains(&guid(a, "customapiid").unwrap_or_default()))
                    .filter(|a| {
                        // A declared API of this source rebound elsewhere no longer uses it.
                        Source::of(a) != source
                    })
                    .collect();
                if let Some(user) = users.first() {
                    tracing::warn!(%typename, api = ?text(user, "uniquename"), "a plug-in type no longer declared is kept: a custom API uses it");
                    continue;
                }
                changes.push(RowChange::Delete {
                    table: plugin_table.clone(),
                    id,
                    if_version: None,
                });
                summary.deleted += 1;
            }
        }
        // Deletes and updates first would not matter inside one transaction, except for unique
        // names: put every delete before the inserts.
        changes.sort_by_key(|c| match c {
            RowChange::DeleteChildren { .. } => 0,
            RowChange::Delete { .. } => 1,
            RowChange::Update { .. } => 2,
            RowChange::Insert { .. } => 3,
        });
        Ok((changes, summary))
    }
}

fn without(row: &Row, column: &str) -> Row {
    row.iter().filter(|(c, _)| *c != column).cloned().collect()
}

fn delete_children(
    child_tables: &[(DefinitionKind, std::sync::Arc<bgops_core::metadata::Table>); 2],
    id: uuid::Uuid,
) -> Vec<RowChange> {
    child_tables
        .iter()
        .map(|(_, table)| RowChange::DeleteChildren {
            table: table.clone(),
            column: "customapiid",
            id,
        })
        .collect()
}

fn delete_api(
    api_table: &std::sync::Arc<bgops_core::metadata::Table>,
    id: uuid::Uuid,
) -> RowChange {
    RowChange::Delete {
        table: api_table.clone(),
        id,
        if_version: None,
    }
}

/// `error` with the declaration it is about.
fn named(name: &str, error: ApiError) -> ApiError {
    ApiError {
        message: format!("{name}: {}", error.message),
        ..error
    }
}
