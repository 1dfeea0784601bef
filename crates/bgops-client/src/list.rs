//! Listing background operations: the query over the `backgroundoperations` table (SPEC §6),
//! newest first, filtered by status and custom API, read page by page.

use bgops_core::{OperationId, OperationStatus, Timestamp};
use serde_json::Value;
use url::Url;

use crate::client::Client;
use crate::error::Error;
use crate::http::unexpected;

/// The columns a listing reads.
pub(crate) const COLUMNS: &str = "backgroundoperationid,name,backgroundoperationstatecode,\
backgroundoperationstatuscode,createdon,starttime,endtime,retrycount,errorcode,errormessage";

/// The largest page the server gives (`odata.maxpagesize` ≤ 5,000, SPEC §6).
pub const MAX_PAGE_SIZE: u32 = 5_000;

/// Which operations [`Client::list`](crate::Client::list) returns. The default: every
/// operation the caller may see, 100 per page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListQuery {
    /// Only operations in one of these statuses (none: any status).
    pub statuses: Vec<OperationStatus>,
    /// Only operations of this custom API (its unique name).
    pub api: Option<String>,
    /// Operations per page, 1–5,000.
    pub page_size: u32,
}

impl Default for ListQuery {
    fn default() -> Self {
        ListQuery {
            statuses: Vec::new(),
            api: None,
            page_size: 100,
        }
    }
}

impl ListQuery {
    /// Every operation the caller may see, 100 per page.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a status to the ones asked for.
    pub fn status(mut self, status: OperationStatus) -> Self {
        if !self.statuses.contains(&status) {
            self.statuses.push(status);
        }
        self
    }

    /// Only operations of the custom API `name`.
    pub fn api(mut self, name: impl Into<String>) -> Self {
        self.api = Some(name.into());
        self
    }

    /// Operations per page (clamped to 1–5,000).
    pub fn page_size(mut self, n: u32) -> Self {
        self.page_size = n.clamp(1, MAX_PAGE_SIZE);
        self
    }

    /// The OData `$filter`, if any.
    pub(crate) fn filter(&self) -> Option<String> {
        let mut parts = Vec::new();
        if !self.statuses.is_empty() {
            let any: Vec<String> = self
                .statuses
                .iter()
                .map(|s| format!("backgroundoperationstatuscode eq {}", s.code()))
                .collect();
            parts.push(format!("({})", any.join(" or ")));
        }
        if let Some(api) = &self.api {
            parts.push(format!("name eq '{}'", api.replace('\'', "''")));
        }
        (!parts.is_empty()).then(|| parts.join(" and "))
    }
}

/// One row of a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperationSummary {
    /// `backgroundoperationid`.
    pub id: OperationId,
    /// The custom API's unique name.
    pub name: String,
    /// State and status.
    pub status: OperationStatus,
    /// When it was submitted.
    pub created_on: Option<Timestamp>,
    /// When its first attempt started.
    pub started_on: Option<Timestamp>,
    /// When it reached its terminal state.
    pub ended_on: Option<Timestamp>,
    /// Failed attempts that were retried.
    pub retry_count: i64,
    /// The error code of a Failed operation (signed 32-bit).
    pub error_code: Option<i32>,
    /// The error message of a Failed operation.
    pub error_message: Option<String>,
}

impl OperationSummary {
    /// Reads one row of the `value` array; `None` when it lacks the key or a known status.
    pub(crate) fn from_row(row: &Value) -> Option<Self> {
        let time = |col: &str| {
            row.get(col)
                .and_then(Value::as_str)
                .and_then(Timestamp::parse_rfc3339)
        };
        Some(OperationSummary {
            id: row.get("backgroundoperationid")?.as_str()?.parse().ok()?,
            name: row
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            status: row
                .get("backgroundoperationstatuscode")
                .and_then(Value::as_i64)
                .and_then(OperationStatus::from_code)?,
            created_on: time("createdon"),
            started_on: time("starttime"),
            ended_on: time("endtime"),
            retry_count: row.get("retrycount").and_then(Value::as_i64).unwrap_or(0),
            error_code: row
                .get("errorcode")
                .and_then(Value::as_i64)
                .and_then(|c| i32::try_from(c).ok()),
            error_message: row
                .get("errormessage")
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
    }
}

/// One page of a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    /// The operations on this page, newest first.
    pub operations: Vec<OperationSummary>,
    /// The `@odata.nextLink` to the next page, if there is one; give the page to
    /// [`Client::next_page`](crate::Client::next_page).
    pub next_link: Option<String>,
    /// The page size asked for, sent again with the next page.
    pub(crate) page_size: u32,
}

impl Client {
    /// The first page of the operations `query` selects, newest first.
    pub async fn list(&self, query: &ListQuery) -> Result<Page, Error> {
        let mut url = self.web_api("backgroundoperations");
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("$select", COLUMNS);
            q.append_pair("$orderby", "createdon desc,backgroundoperationid desc");
            if let Some(filter) = query.filter() {
                q.append_pair("$filter", &filter);
            }
        }
        let page_size = query.page_size.clamp(1, MAX_PAGE_SIZE);
        self.page(url, page_size).await
    }

    /// The page after `page`, or `None` after the last one.
    pub async fn next_page(&self, page: &Page) -> Result<Option<Page>, Error> {
        let Some(link) = &page.next_link else {
            return Ok(None);
        };
        let url = Url::parse(link).map_err(|e| {
            unexpected(
                self.base.as_str(),
                200,
                &format!("bad @odata.nextLink: {e}"),
            )
        })?;
        Ok(Some(self.page(url, page.page_size).await?))
    }

    async fn page(&self, url: Url, page_size: u32) -> Result<Page, Error> {
        let (rows, next_link) = self.read_page(url.clone(), page_size).await?;
        let operations = rows
            .iter()
            .map(|r| {
                OperationSummary::from_row(r)
                    .ok_or_else(|| unexpected(&url, 200, &format!("not an operation row: {r}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Page {
            operations,
            next_link,
            page_size,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn filters_by_status_and_api_with_quotes_escaped() {
        assert_eq!(ListQuery::new().filter(), None);
        let q = ListQuery::new()
            .status(OperationStatus::Failed)
            .status(OperationStatus::Canceled)
            .status(OperationStatus::Failed)
            .api("o'brien_X");
        assert_eq!(
            q.filter().unwrap(),
            "(backgroundoperationstatuscode eq 31 or backgroundoperationstatuscode eq 32) \
             and name eq 'o''brien_X'"
        );
        assert_eq!(ListQuery::new().page_size(0).page_size, 1);
        assert_eq!(ListQuery::new().page_size(9_999).page_size, MAX_PAGE_SIZE);
    }

    #[test]
    fn reads_a_row() {
        let row = json!({"backgroundoperationid":"3aadf856-1939-49d5-a1e0-870d76edefb2",
            "name":"bgops_Fail","backgroundoperationstatecode":3,"backgroundoperationstatuscode":31,
            "createdon":"2026-12-04T07:00:00Z","starttime":null,"endtime":"2026-12-04T07:00:01Z",
            "retrycount":3,"errorcode":-2147220891,"errormessage":"boom"});
        let s = OperationSummary::from_row(&row).unwrap();
        assert_eq!(s.status, OperationStatus::Failed);
        assert_eq!(s.error_code, Some(-2147220891));
        assert_eq!(s.started_on, None);
        assert_eq!(s.ended_on.unwrap().to_dataverse(), "2026-12-04T07:00:01Z");
        assert_eq!(OperationSummary::from_row(&json!({"name":"x"})), None);
    }
}
