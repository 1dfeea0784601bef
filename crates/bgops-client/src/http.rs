//! The HTTP plumbing every call shares: reading JSON answers, turning error answers into
//! [`Error`]s, and reading whole collections page by page (`@odata.nextLink`).

use reqwest::{Method, StatusCode};
use serde_json::{Map, Value};
use url::Url;

use crate::client::Client;
use crate::error::{Error, ServerError};
use crate::list::MAX_PAGE_SIZE;

impl Client {
    /// Every row of a query over the table `set`, following `@odata.nextLink`.
    pub(crate) async fn read_all(
        &self,
        set: &str,
        query: &[(&str, String)],
    ) -> Result<Vec<Value>, Error> {
        let mut url = self.web_api(set);
        url.query_pairs_mut()
            .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        let mut rows = Vec::new();
        let mut next = Some(url);
        while let Some(url) = next.take() {
            let (page, link) = self.read_page(url.clone(), MAX_PAGE_SIZE).await?;
            rows.extend(page);
            next = link
                .map(|l| {
                    Url::parse(&l)
                        .map_err(|e| unexpected(&url, 200, &format!("bad @odata.nextLink: {e}")))
                })
                .transpose()?;
        }
        Ok(rows)
    }

    /// One page of a collection: its rows and the next link.
    pub(crate) async fn read_page(
        &self,
        url: Url,
        page_size: u32,
    ) -> Result<(Vec<Value>, Option<String>), Error> {
        let req = self
            .request(Method::GET, url.clone())
            .header("Prefer", format!("odata.maxpagesize={page_size}"));
        let resp = self.send(req, &url).await?;
        if resp.status() != StatusCode::OK {
            return Err(error_of(resp, &url).await);
        }
        let mut body = read_object(resp, &url).await?;
        let rows = match body.remove("value") {
            Some(Value::Array(rows)) => rows,
            _ => return Err(unexpected(&url, 200, "no value array")),
        };
        let next = body
            .remove("@odata.nextLink")
            .and_then(|v| v.as_str().map(str::to_owned));
        Ok((rows, next))
    }
}

/// An answer a bgops server does not give.
pub(crate) fn unexpected(url: impl ToString, status: u16, detail: &str) -> Error {
    Error::Unexpected {
        url: url.to_string(),
        status,
        detail: detail.to_owned(),
    }
}

/// Reads a JSON object body.
pub(crate) async fn read_object(
    resp: reqwest::Response,
    url: &Url,
) -> Result<Map<String, Value>, Error> {
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.map_err(|source| Error::Unreachable {
        url: url.to_string(),
        source,
    })?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(unexpected(
            url,
            status,
            &format!("not a JSON object: {}", preview(&bytes)),
        )),
    }
}

/// The error an unsuccessful answer carries: the Dataverse error body, or what came instead.
pub(crate) async fn error_of(resp: reqwest::Response, url: &Url) -> Error {
    let status = resp.status().as_u16();
    let bytes = match resp.bytes().await {
        Ok(b) => b,
        Err(source) => {
            return Error::Unreachable {
                url: url.to_string(),
                source,
            }
        }
    };
    let parsed: Option<Value> = serde_json::from_slice(&bytes).ok();
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get("error"))
            .and_then(|e| e.get(name))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    match (field("code"), field("message")) {
        (Some(code), Some(message)) => Error::Server(ServerError {
            status,
            code,
            message,
        }),
        _ => unexpected(
            url,
            status,
            &format!("no Dataverse error body: {}", preview(&bytes)),
        ),
    }
}

/// The start of a body, for error messages.
fn preview(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut s: String = text.chars().take(200).collect();
    if text.chars().count() > 200 {
        s.push('…');
    }
    if s.is_empty() {
        s.push_str("(empty)");
    }
    s
}
