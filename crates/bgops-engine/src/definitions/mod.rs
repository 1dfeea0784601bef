//! Custom API definitions as data (SPEC §8): creating, changing and deleting rows of the
//! `customapi`, `customapirequestparameter`, `customapiresponseproperty` and `plugintype`
//! tables under the rules of [`bgops_core::custom_api_rules`], each write in one transaction,
//! then telling the registry so the change is callable at once; and keeping the rows of the
//! definitions registered in code and declared in the `--custom-apis` file in step at start-up
//! ([`declared`]).

mod declared;
pub(crate) mod load;

use std::sync::Arc;

use bgops_core::catalogue::Catalogue;
use bgops_core::custom_api_rows::{guid, DefinitionKind, DefinitionRows, Source};
use bgops_core::custom_api_rules::{self as rules, RuleFacts};
use bgops_core::metadata::{Cell, Row, Table};
use bgops_core::table_json::{row_from_json, WriteKind};
use bgops_core::{ApiError, Clock, ErrorCode, UserId};
use bgops_store::{RowChange, RowRefusal, Store, StoreError, WriteContext, WriteRowsOutcome};
use serde_json::{Map, Value};

use crate::registry::Registry;

pub use declared::SyncSummary;

/// Why a definition write did not happen.
#[derive(Debug, thiserror::Error)]
pub enum DefinitionError {
    /// A rule refused it: the caller sees this error.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Writes definition rows: the handle the Web API and start-up use ([`crate::Engine::definitions`]).
#[derive(Clone)]
pub struct Definitions {
    /// Where the rows live.
    store: Arc<dyn Store>,
    /// The definition tables.
    catalogue: Arc<Catalogue>,
    /// Told after every write, and asked for the names registered in code.
    registry: Arc<Registry>,
    /// Time of writes.
    clock: Arc<dyn Clock>,
}

/// The names registered in code, gathered for [`RuleFacts`].
struct CodeNames {
    apis: Vec<String>,
    plugin_types: Vec<String>,
}

impl Definitions {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        catalogue: Arc<Catalogue>,
        registry: Arc<Registry>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            catalogue,
            registry,
            clock,
        }
    }

    fn table(&self, kind: DefinitionKind) -> Result<Arc<Table>, DefinitionError> {
        self.catalogue
            .by_logical_name(kind.table())
            .ok_or_else(|| StoreError::InvalidRequest(format!("no table {}", kind.table())).into())
    }

    fn code_names(&self) -> CodeNames {
        CodeNames {
            apis: self.registry.code_api_names(),
            plugin_types: self.registry.native_plugin_types(),
        }
    }

    fn facts<'a>(&self, rows: &'a DefinitionRows, names: &'a CodeNames) -> RuleFacts<'a> {
        RuleFacts {
            rows,
            builtin_apis: &names.apis,
            native_plugin_types: &names.plugin_types,
            url_policy: self.registry.url_policy(),
        }
    }

    fn write_context(&self, user: UserId) -> WriteContext {
        WriteContext {
            now: self.clock.now(),
            user,
        }
    }

    /// Applies `changes` in one transaction and tells the registry; a refused change becomes
    /// the error `refused` names.
    async fn write(
        &self,
        changes: Vec<RowChange>,
        user: UserId,
        refused: impl Fn(usize, RowRefusal) -> ApiError,
    ) -> Result<Vec<Option<Row>>, DefinitionError> {
        let outcome = self
            .store
            .write_rows(changes, self.write_context(user))
            .await?;
        self.registry.invalidate();
        match outcome {
            WriteRowsOutcome::Applied(rows) => Ok(rows),
            WriteRowsOutcome::Refused { index, reason } => Err(refused(index, reason).into()),
        }
    }

    /// A row read from a create body, with a primary key (generated when the body has none).
    fn new_row(
        &self,
        kind: DefinitionKind,
        body: &Map<String, Value>,
    ) -> Result<Row, DefinitionError> {
        rules::check_body(kind, body)?;
        let table = self.table(kind)?;
        let mut row = row_from_json(&self.catalogue, &table, body, WriteKind::Create)?;
        if guid(&row, kind.primary_id()).is_none() {
            row.retain(|(c, _)| *c != kind.primary_id());
            row.insert(0, (kind.primary_id(), Cell::Guid(uuid::Uuid::new_v4())));
        }
        Ok(row)
    }

    /// `POST` of a definition: a custom API (with its deep-inserted request parameters and
    /// response properties, all in one transaction), a request parameter or response property
    /// of an existing custom API, or a plug-in type. Returns the row created (the custom API's
    /// for a deep insert).
    pub async fn create(
        &self,
        kind: DefinitionKind,
        body: &Map<String, Value>,
        user: UserId,
    ) -> Result<Row, DefinitionError> {
        let rows = self.registry.definition_rows().await?;
        let names = self.code_names();
        let facts = self.facts(&rows, &names);
        let mut changes = Vec::new();
        match kind {
            DefinitionKind::CustomApi => {
                let deep = rules::split_deep_insert(body)?;
                let mut api = self.new_row(kind, &deep.api)?;
                rules::prepare_api(&mut api, Source::WebApi);
                let children = |kind: DefinitionKind, bodies: &[Map<String, Value>]| {
                    bodies
                        .iter()
                        .map(|b| {
                            let mut row = self.new_row(kind, b)?;
                            rules::prepare_child(kind, &mut row, &api);
                            Ok(row)
                        })
                        .collect::<Result<Vec<Row>, DefinitionError>>()
                };
                let params = children(DefinitionKind::RequestParameter, &deep.request_parameters)?;
                let props = children(DefinitionKind::ResponseProperty, &deep.response_properties)?;
                rules::check_new_api(&facts, &api, &params, &props)?;
                changes.push(self.insert(kind, api)?);
                for row in params {
                    changes.push(self.insert(DefinitionKind::RequestParameter, row)?);
                }
                for row in props {
                    changes.push(self.insert(DefinitionKind::ResponseProperty, row)?);
                }
            }
            DefinitionKind::RequestParameter | DefinitionKind::ResponseProperty => {
                let mut row = self.new_row(kind, body)?;
                let api = rules::parent_api(&facts, kind, &row)?;
                rules::prepare_child(kind, &mut row, api);
                rules::check_new_child(&facts, kind, &row, api)?;
                changes.push(self.insert(kind, row)?);
            }
            DefinitionKind::PluginType => {
                let mut row = self.new_row(kind, body)?;
                rules::prepare_plugin_type(&mut row, Source::WebApi);
                rules::check_new_plugin_type(&facts, &row)?;
                changes.push(self.insert(kind, row)?);
            }
        }
        let kinds: Vec<DefinitionKind> = changes.iter().map(change_kind).collect();
        let written = self
            .write(changes, user, |index, _| {
                let kind = kinds.get(index).copied().unwrap_or(kind);
                ApiError::new(
                    400,
                    ErrorCode::DUPLICATE_RECORD,
                    format!(
                        "A {} with the same id or unique name already exists.",
                        kind.label()
                    ),
                )
            })
            .await?;
        first_row(written)
    }

    fn insert(&self, kind: DefinitionKind, values: Row) -> Result<RowChange, DefinitionError> {
        Ok(RowChange::Insert {
            table: self.table(kind)?,
            values,
        })
    }

    /// `PATCH` of a definition row: only its mutable columns may change (an immutable column
    /// may be sent with its current value). Never creates a row.
    pub async fn update(
        &self,
        kind: DefinitionKind,
        id: uuid::Uuid,
        body: &Map<String, Value>,
        if_version: Option<i64>,
        user: UserId,
    ) -> Result<Row, DefinitionError> {
        let rows = self.registry.definition_rows().await?;
        let names = self.code_names();
        let facts = self.facts(&rows, &names);
        let current = rows
            .find(kind, id)
            .ok_or_else(|| ApiError::row_not_found(kind.table(), id))?;
        rules::check_body(kind, body)?;
        let table = self.table(kind)?;
        // Read as a create so immutable columns come through, to be compared, not refused
        // before the rule can say why.
        let mut changes = row_from_json(&self.catalogue, &table, body, WriteKind::Create)?;
        if let Some(key) = guid(&changes, kind.primary_id()) {
            if key != id {
                return Err(ApiError::invalid_argument(format!(
                    "The {} of a {} cannot be changed.",
                    kind.primary_id(),
                    kind.label()
                ))
                .into());
            }
        }
        rules::check_update(&facts, kind, current, &changes)?;
        changes.retain(|(c, _)| *c != kind.primary_id() && !kind.immutable_columns().contains(c));
        let change = RowChange::Update {
            table,
            id,
            values: changes,
            if_version,
        };
        let written = self
            .write(vec![change], user, |_, reason| refusal(kind, id, reason))
            .await?;
        first_row(written)
    }

    /// `DELETE` of a definition row; a custom API goes with its request parameters and
    /// response properties, in one transaction.
    pub async fn delete(
        &self,
        kind: DefinitionKind,
        id: uuid::Uuid,
        if_version: Option<i64>,
        user: UserId,
    ) -> Result<(), DefinitionError> {
        let rows = self.registry.definition_rows().await?;
        let names = self.code_names();
        let facts = self.facts(&rows, &names);
        let current = rows
            .find(kind, id)
            .ok_or_else(|| ApiError::row_not_found(kind.table(), id))?;
        rules::check_delete(&facts, kind, current)?;
        let mut changes = Vec::new();
        if kind == DefinitionKind::CustomApi {
            for child in [
                DefinitionKind::RequestParameter,
                DefinitionKind::ResponseProperty,
            ] {
                changes.push(RowChange::DeleteChildren {
                    table: self.table(child)?,
                    column: "customapiid",
                    id,
                });
            }
        }
        changes.push(RowChange::Delete {
            table: self.table(kind)?,
            id,
            if_version,
        });
        self.write(changes, user, |_, reason| refusal(kind, id, reason))
            .await?;
        Ok(())
    }
}

/// The error for a refused update or delete of row `id`.
fn refusal(kind: DefinitionKind, id: uuid::Uuid, reason: RowRefusal) -> ApiError {
    match reason {
        RowRefusal::NotFound => ApiError::row_not_found(kind.table(), id),
        RowRefusal::VersionMismatch => ApiError::version_mismatch(),
        RowRefusal::Duplicate => ApiError::new(
            400,
            ErrorCode::DUPLICATE_RECORD,
            format!(
                "A {} with the same unique name already exists.",
                kind.label()
            ),
        ),
    }
}

fn change_kind(change: &RowChange) -> DefinitionKind {
    let table = match change {
        RowChange::Insert { table, .. }
        | RowChange::Update { table, .. }
        | RowChange::Delete { table, .. }
        | RowChange::DeleteChildren { table, .. } => table,
    };
    DefinitionKind::of_table(table.logical_name).unwrap_or(DefinitionKind::CustomApi)
}

fn first_row(written: Vec<Option<Row>>) -> Result<Row, DefinitionError> {
    written
        .into_iter()
        .next()
        .flatten()
        .ok_or_else(|| StoreError::Backend("a definition write returned no row".into()).into())
}
