//! Reading the four definition tables whole: they are small, and every node reads them again
//! only when their stamp moves.

use std::sync::Arc;

use bgops_core::catalogue::Catalogue;
use bgops_core::custom_api_rows::{DefinitionKind, DefinitionRows, DEFINITION_TABLES};
use bgops_core::metadata::{Row, Table};
use bgops_core::odata::plan::QueryPlan;
use bgops_store::{PageRequest, Store, StoreError};

/// Rows read per page.
const PAGE: usize = 5_000;

/// The definition tables of `catalogue`.
pub(crate) fn definition_tables(catalogue: &Catalogue) -> Vec<Arc<Table>> {
    DEFINITION_TABLES
        .iter()
        .filter_map(|name| catalogue.by_logical_name(name))
        .collect()
}

/// Every row of `table`, every column, in primary key order.
async fn all_rows(store: &dyn Store, table: Arc<Table>) -> Result<Vec<Row>, StoreError> {
    let Some(pk) = table.column(table.primary_id).copied() else {
        return Ok(Vec::new());
    };
    let plan = QueryPlan {
        select: table.columns.clone(),
        explicit_select: false,
        filter: None,
        orderby: vec![(pk, false)],
        top: None,
        count: false,
    };
    let mut rows = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .query_rows(
                table.clone(),
                plan.clone(),
                PageRequest { size: PAGE, after },
            )
            .await?;
        after = page.keys.last().cloned();
        rows.extend(page.rows);
        if !page.more {
            return Ok(rows);
        }
    }
}

/// The rows of the four definition tables.
pub(crate) async fn definition_rows(
    store: &dyn Store,
    catalogue: &Catalogue,
) -> Result<DefinitionRows, StoreError> {
    let mut out = DefinitionRows::default();
    for name in DEFINITION_TABLES {
        let (Some(kind), Some(table)) = (
            DefinitionKind::of_table(name),
            catalogue.by_logical_name(name),
        ) else {
            continue;
        };
        *out.rows_mut(kind) = all_rows(store, table).await?;
    }
    Ok(out)
}
