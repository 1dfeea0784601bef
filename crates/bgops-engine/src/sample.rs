//! The sample custom APIs of SPEC §11, as Dataverse documents them:
//! `sample_ExportDataUsingFetchXmlToAnnotation` runs a FetchXML query as the caller, reads every
//! page, writes the rows as CSV into a new note (`annotation`) and returns its id;
//! `sample_CleanupExportedDataAnnotations` deletes the notes the export created.

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use bgops_core::fetchxml;
use bgops_core::metadata::{Cell, Row, Table};
use bgops_core::odata::ast::CmpOp;
use bgops_core::odata::plan::{Filter, QueryPlan};
use bgops_core::{
    CustomApi, ParamType, ParamValue, Parameters, RequestParameter, ResponseProperty,
};
use bgops_store::PageRequest;

use crate::data::DataAccess;
use crate::plugin::{Plugin, PluginContext, PluginError};
use crate::registry::Registry;

/// The export API's unique name.
pub const EXPORT: &str = "sample_ExportDataUsingFetchXmlToAnnotation";
/// The clean-up API's unique name.
pub const CLEANUP: &str = "sample_CleanupExportedDataAnnotations";
/// The subject of every exported note.
pub const SUBJECT: &str = "Export Data Using FetchXml To Csv";
/// The file name of every exported note.
pub const FILE_NAME: &str = "exportdatausingfetchxml.csv";
/// The MIME type of every exported note.
pub const MIME_TYPE: &str = "text/csv";

/// Registers both sample APIs and their plug-ins.
pub fn register(registry: &Registry) {
    registry.add_plugin(
        "PowerApps.Samples.ExportDataUsingFetchXmlToAnnotation",
        Arc::new(Export),
    );
    registry.add_plugin(
        "PowerApps.Samples.CleanupExportedDataAnnotations",
        Arc::new(Cleanup),
    );
    registry.add_api(CustomApi {
        unique_name: EXPORT.into(),
        display_name: "Export Data Using FetchXml To Annotation".into(),
        is_function: false,
        request_parameters: vec![RequestParameter {
            name: "FetchXml".into(),
            param_type: ParamType::String,
            optional: false,
        }],
        response_properties: vec![ResponseProperty {
            name: "AnnotationId".into(),
            param_type: ParamType::Guid,
        }],
        plugin_type: "PowerApps.Samples.ExportDataUsingFetchXmlToAnnotation".into(),
        execute_privilege: None,
        attempt_timeout: None,
        max_retries: None,
    });
    registry.add_api(CustomApi {
        unique_name: CLEANUP.into(),
        display_name: "Cleanup Exported Data Annotations".into(),
        is_function: false,
        request_parameters: vec![],
        response_properties: vec![],
        plugin_type: "PowerApps.Samples.CleanupExportedDataAnnotations".into(),
        execute_privilege: None,
        attempt_timeout: None,
        max_retries: None,
    });
}

fn table(data: &DataAccess, name: &str) -> Result<Arc<Table>, PluginError> {
    data.catalogue()
        .by_logical_name(name)
        .ok_or_else(|| PluginError::permanent(format!("The table '{name}' does not exist.")))
}

/// Runs the FetchXML and writes the CSV note.
pub struct Export;

#[async_trait]
impl Plugin for Export {
    async fn execute(&self, ctx: PluginContext) -> Result<Parameters, PluginError> {
        let xml = ctx
            .inputs
            .get("FetchXml")
            .and_then(ParamValue::as_str)
            .unwrap_or_default();
        let query = fetchxml::compile(xml, ctx.data.catalogue())
            .map_err(|e| PluginError::permanent(e.to_string()))?;
        let rows = read_all(&ctx, &query).await?;
        let csv = fetchxml::to_csv(&rows);
        let body = base64::engine::general_purpose::STANDARD.encode(csv.as_bytes());
        let notes = table(&ctx.data, "annotation")?;
        let mut note: Row = vec![
            ("subject", Cell::Text(SUBJECT.into())),
            ("filename", Cell::Text(FILE_NAME.into())),
            ("mimetype", Cell::Text(MIME_TYPE.into())),
            ("documentbody", Cell::Text(body)),
        ];
        bgops_core::table_json::derive_columns(&notes, &mut note)
            .map_err(|e| PluginError::permanent(e.message))?;
        let id = ctx.data.create(notes, note).await?;
        let mut out = Parameters::default();
        out.set("AnnotationId", ParamValue::Guid(id));
        Ok(out)
    }
}

/// Reads every row the query selects, page by page, in the query's order, each row's columns
/// in the query's select order (requested attributes, then the primary id).
async fn read_all(
    ctx: &PluginContext,
    query: &fetchxml::FetchQuery,
) -> Result<Vec<Row>, PluginError> {
    let paging = query.paging;
    let page_size = paging.page_size.max(1) as usize;
    let mut to_skip = paging.rows_to_skip();
    let cap = paging.top.map(u64::from);
    let mut rows: Vec<Row> = Vec::new();
    let mut after = None;
    loop {
        if ctx.cancel.is_cancelled() {
            return Err(PluginError::Canceled);
        }
        let page = ctx
            .data
            .query(
                query.table.clone(),
                query.plan.clone(),
                PageRequest {
                    size: page_size,
                    after,
                },
            )
            .await?;
        after = page.keys.last().cloned();
        for row in page.rows {
            if to_skip > 0 {
                to_skip -= 1;
                continue;
            }
            if cap.is_some_and(|c| rows.len() as u64 >= c) {
                return Ok(rows);
            }
            rows.push(in_select_order(&query.plan, row));
        }
        if !page.more || after.is_none() {
            return Ok(rows);
        }
    }
}

fn in_select_order(plan: &QueryPlan, row: Row) -> Row {
    plan.select
        .iter()
        .map(|c| {
            let cell = row
                .iter()
                .find(|(name, _)| *name == c.logical_name)
                .map_or(Cell::Null, |(_, v)| v.clone());
            (c.logical_name, cell)
        })
        .collect()
}

/// Deletes the notes the export created (by subject and file name).
pub struct Cleanup;

#[async_trait]
impl Plugin for Cleanup {
    async fn execute(&self, ctx: PluginContext) -> Result<Parameters, PluginError> {
        let notes = table(&ctx.data, "annotation")?;
        let col = |name: &str| {
            notes
                .column(name)
                .copied()
                .ok_or_else(|| PluginError::permanent(format!("annotation has no column {name}")))
        };
        let key = col(notes.primary_id)?;
        let filter = Filter::And(
            Box::new(Filter::Compare {
                column: col("subject")?,
                op: CmpOp::Eq,
                value: Cell::Text(SUBJECT.into()),
            }),
            Box::new(Filter::Compare {
                column: col("filename")?,
                op: CmpOp::Eq,
                value: Cell::Text(FILE_NAME.into()),
            }),
        );
        let plan = QueryPlan {
            select: vec![key],
            explicit_select: true,
            filter: Some(filter),
            orderby: vec![(key, false)],
            top: None,
            count: false,
        };
        loop {
            if ctx.cancel.is_cancelled() {
                return Err(PluginError::Canceled);
            }
            let page = ctx
                .data
                .query(
                    notes.clone(),
                    plan.clone(),
                    PageRequest {
                        size: 500,
                        after: None,
                    },
                )
                .await?;
            for row in &page.rows {
                if let Some((_, Cell::Guid(id))) = row.iter().find(|(c, _)| *c == notes.primary_id)
                {
                    ctx.data.delete(notes.clone(), *id).await?;
                }
            }
            if page.rows.is_empty() || !page.more {
                return Ok(Parameters::default());
            }
        }
    }
}
