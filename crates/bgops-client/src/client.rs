//! [`Client`]: one bgops server's Web API, typed: execute and submit custom APIs, read and
//! cancel operations. Waiting lives in `wait.rs`, listing in `list.rs`, custom API definitions
//! in `definitions.rs`, the HTTP plumbing in `http.rs`.

use std::time::Duration;

use bgops_core::OperationId;
use reqwest::header::{HeaderValue, AUTHORIZATION};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde_json::{Map, Value};
use url::Url;

use crate::error::Error;
use crate::http::{error_of, read_object, unexpected};
use crate::operation::{Status, Submitted};

/// How long connecting to the server may take before the call fails as
/// [`Error::Unreachable`].
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one request (other than a long poll, which gets its wait on top) may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(150);

/// A connection to one bgops server, with one caller's token. Cheap to clone; clones share
/// their connection pool.
#[derive(Clone)]
pub struct Client {
    /// The HTTP client (pooled connections).
    pub(crate) http: reqwest::Client,
    /// The server's root, ending in `/`.
    pub(crate) base: Url,
    /// `Bearer {token}`, marked sensitive so it never shows in debug output.
    pub(crate) auth: HeaderValue,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

/// Options of a background submission.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubmitOptions {
    /// An `Idempotency-Key`: a retry with the same key and body (after a network error, say)
    /// returns the first submission's operation instead of starting a second one (SPEC §15,
    /// on servers that support it).
    pub idempotency_key: Option<String>,
    /// A URL that receives a signed POST when the operation ends (SPEC §9; https only unless
    /// the server allows http).
    pub callback_url: Option<String>,
    /// How many times to send the submission again, with the same idempotency key, when it
    /// may not have arrived or may be answered later: no answer, `409` (the first request with
    /// this key is still being handled), `502`, `503` or `504`; waiting 200 ms, doubled each
    /// time (see `retry.rs`). Only with an `idempotency_key`: without one, a retry after a
    /// lost answer could run the work twice.
    pub retries: u32,
}

impl SubmitOptions {
    /// Options for a submission that is safe to retry: `key` as its `Idempotency-Key`, and
    /// [`SUBMIT_RETRIES`](crate::SUBMIT_RETRIES) retries.
    pub fn idempotent(key: impl Into<String>) -> Self {
        SubmitOptions {
            idempotency_key: Some(key.into()),
            retries: crate::retry::SUBMIT_RETRIES,
            ..SubmitOptions::default()
        }
    }
}

impl Client {
    /// A client of the server at `url` (e.g. `http://127.0.0.1:8080`; a path prefix such as
    /// `https://host/bgops/` is kept) sending `token` as its bearer token.
    pub fn new(url: &str, token: &str) -> Result<Client, Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|e| Error::BadUrl {
                url: url.to_owned(),
                reason: e.to_string(),
            })?;
        Client::with_http_client(http, url, token)
    }

    /// As [`Client::new`], with an HTTP client configured by the caller (proxies, extra root
    /// certificates, time-outs).
    pub fn with_http_client(
        http: reqwest::Client,
        url: &str,
        token: &str,
    ) -> Result<Client, Error> {
        let bad = |reason: &str| Error::BadUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let mut base = Url::parse(url.trim()).map_err(|e| bad(&e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(bad("the scheme must be http or https"));
        }
        if base.host().is_none() {
            return Err(bad("there is no host"));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(bad("a base URL has no query or fragment"));
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", token.trim()))
            .map_err(|_| Error::InvalidHeader("Authorization"))?;
        auth.set_sensitive(true);
        Ok(Client { http, base, auth })
    }

    /// The server's root URL.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// `{root}/api/data/v9.2/{segment}`.
    pub(crate) fn web_api(&self, segment: &str) -> Url {
        let mut url = self
            .base
            .join("api/data/v9.2/")
            .expect("a relative path joins");
        url.path_segments_mut()
            .expect("http(s) URLs have segments")
            .pop_if_empty()
            .push(segment);
        url
    }

    /// `{root}/api/backgroundoperation/{id}`.
    pub(crate) fn monitor(&self, id: OperationId) -> Url {
        self.base
            .join(&format!("api/backgroundoperation/{id}"))
            .expect("a relative path joins")
    }

    /// A request with the token and the Web API's headers.
    pub(crate) fn request(&self, method: Method, url: Url) -> reqwest::RequestBuilder {
        self.http
            .request(method, url)
            .header(AUTHORIZATION, self.auth.clone())
            .header("Accept", "application/json")
            .header("OData-Version", "4.0")
            .header("OData-MaxVersion", "4.0")
            .timeout(REQUEST_TIMEOUT)
    }

    /// The request calling `api`: an action is a POST of its parameters; a function a GET of
    /// `{api}(P=@P,…)?@P={OData literal}` (SPEC §3).
    fn call<P: Serialize + ?Sized>(
        &self,
        api: &str,
        params: &P,
        function: bool,
    ) -> Result<(reqwest::RequestBuilder, Url), Error> {
        if !function {
            let url = self.web_api(api);
            return Ok((self.request(Method::POST, url.clone()).json(params), url));
        }
        let params = match serde_json::to_value(params) {
            Ok(Value::Object(m)) => m,
            Ok(other) => {
                return Err(Error::Parameters(format!(
                    "they must be a JSON object, not {other}"
                )))
            }
            Err(e) => return Err(Error::Parameters(e.to_string())),
        };
        let args: Vec<String> = params.keys().map(|k| format!("{k}=@{k}")).collect();
        let mut url = self.web_api(&format!("{api}({})", args.join(",")));
        if !params.is_empty() {
            let mut q = url.query_pairs_mut();
            for (k, v) in &params {
                q.append_pair(&format!("@{k}"), &odata_literal(v));
            }
        }
        Ok((self.request(Method::GET, url.clone()), url))
    }

    /// Runs the custom API `api` now and returns its response properties (none for an API
    /// without any). `params` serializes to a JSON object of request parameters.
    pub async fn execute<P: Serialize + ?Sized>(
        &self,
        api: &str,
        params: &P,
    ) -> Result<Map<String, Value>, Error> {
        self.execute_call(api, params, false).await
    }

    /// As [`Client::execute`], for a custom API that is a function
    /// ([`CustomApiInfo::is_function`]): called with GET, its parameters as OData literals in
    /// the URL.
    pub async fn execute_function<P: Serialize + ?Sized>(
        &self,
        api: &str,
        params: &P,
    ) -> Result<Map<String, Value>, Error> {
        self.execute_call(api, params, true).await
    }

    async fn execute_call<P: Serialize + ?Sized>(
        &self,
        api: &str,
        params: &P,
        function: bool,
    ) -> Result<Map<String, Value>, Error> {
        let (req, url) = self.call(api, params, function)?;
        let resp = self.send(req, &url).await?;
        match resp.status() {
            StatusCode::NO_CONTENT => Ok(Map::new()),
            StatusCode::OK => {
                let mut body = read_object(resp, &url).await?;
                body.retain(|k, _| !k.starts_with("@odata."));
                Ok(body)
            }
            _ => Err(error_of(resp, &url).await),
        }
    }

    /// Submits the custom API `api` in the background (`Prefer: respond-async`): the server
    /// has stored the operation when this returns. `params` serializes to a JSON object of
    /// request parameters.
    pub async fn submit<P: Serialize + ?Sized>(
        &self,
        api: &str,
        params: &P,
    ) -> Result<Submitted, Error> {
        self.submit_with(api, params, &SubmitOptions::default())
            .await
    }

    /// As [`Client::submit`], with an idempotency key or a callback URL.
    pub async fn submit_with<P: Serialize + ?Sized>(
        &self,
        api: &str,
        params: &P,
        options: &SubmitOptions,
    ) -> Result<Submitted, Error> {
        self.submit_call(api, params, options, false).await
    }

    /// As [`Client::submit_with`], for a custom API that is a function
    /// ([`CustomApiInfo::is_function`]): a GET with `Prefer: respond-async`, its parameters
    /// as OData literals in the URL.
    pub async fn submit_function<P: Serialize + ?Sized>(
        &self,
        api: &str,
        params: &P,
        options: &SubmitOptions,
    ) -> Result<Submitted, Error> {
        self.submit_call(api, params, options, true).await
    }

    async fn submit_call<P: Serialize + ?Sized>(
        &self,
        api: &str,
        params: &P,
        options: &SubmitOptions,
        function: bool,
    ) -> Result<Submitted, Error> {
        let mut attempt = 0;
        loop {
            match self.submit_once(api, params, options, function).await {
                Err(e)
                    if attempt < options.retries && crate::retry::worth_retrying(options, &e) =>
                {
                    tokio::time::sleep(crate::retry::backoff(attempt)).await;
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    async fn submit_once<P: Serialize + ?Sized>(
        &self,
        api: &str,
        params: &P,
        options: &SubmitOptions,
        function: bool,
    ) -> Result<Submitted, Error> {
        let (req, url) = self.call(api, params, function)?;
        let mut req = req.header("Prefer", "respond-async");
        if let Some(key) = &options.idempotency_key {
            let v =
                HeaderValue::from_str(key).map_err(|_| Error::InvalidHeader("Idempotency-Key"))?;
            req = req.header("Idempotency-Key", v);
        }
        if let Some(cb) = &options.callback_url {
            let v = HeaderValue::from_str(cb)
                .map_err(|_| Error::InvalidHeader("x-ms-dyn-callback-url"))?;
            req = req.header("x-ms-dyn-callback-url", v);
        }
        let resp = self.send(req, &url).await?;
        if resp.status() != StatusCode::ACCEPTED {
            return Err(error_of(resp, &url).await);
        }
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let id = header("x-ms-dyn-backgroundoperationid")
            .and_then(|id| id.parse().ok())
            .ok_or_else(|| unexpected(&url, 202, "no x-ms-dyn-backgroundoperationid header"))?;
        let location = header("location").unwrap_or_else(|| self.monitor(id).to_string());
        Ok(Submitted { id, location })
    }

    /// The operation's state now (one status monitor read).
    pub async fn status(&self, id: OperationId) -> Result<Status, Error> {
        Ok(self.observe(id, None).await?.0)
    }

    /// Asks for the operation to be canceled: a queued one never runs, a running one is
    /// signalled. Answers the state right after (usually Canceling); a finished operation is
    /// refused with `0x80048408`.
    pub async fn cancel(&self, id: OperationId) -> Result<Status, Error> {
        let url = self.monitor(id);
        let resp = self
            .send(self.request(Method::DELETE, url.clone()), &url)
            .await?;
        if resp.status() != StatusCode::OK {
            return Err(error_of(resp, &url).await);
        }
        let status = resp.status().as_u16();
        let body = read_object(resp, &url).await?;
        Status::from_body(body, None).ok_or_else(|| unexpected(&url, status, "not a status"))
    }

    /// Sends a request; a failure to get an answer is [`Error::Unreachable`].
    pub(crate) async fn send(
        &self,
        req: reqwest::RequestBuilder,
        url: &Url,
    ) -> Result<reqwest::Response, Error> {
        req.send().await.map_err(|source| Error::Unreachable {
            url: url.to_string(),
            source,
        })
    }
}

/// A JSON value as an OData literal in a function's URL: text in single quotes (a quote
/// doubled), numbers and booleans as they are, arrays and objects as JSON.
fn odata_literal(v: &Value) -> String {
    match v {
        Value::String(s) => format!("'{}'", s.replace('\'', "''")),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_checked_and_keep_their_prefix() {
        let c = Client::new("http://127.0.0.1:8080", "t").unwrap();
        assert_eq!(
            c.web_api("bgops_Echo").as_str(),
            "http://127.0.0.1:8080/api/data/v9.2/bgops_Echo"
        );
        let c = Client::new("https://example.com/bgops", "t").unwrap();
        assert_eq!(
            c.web_api("backgroundoperations").as_str(),
            "https://example.com/bgops/api/data/v9.2/backgroundoperations"
        );
        let id: OperationId = "3aadf856-1939-49d5-a1e0-870d76edefb2".parse().unwrap();
        assert_eq!(
            c.monitor(id).as_str(),
            "https://example.com/bgops/api/backgroundoperation/3aadf856-1939-49d5-a1e0-870d76edefb2"
        );
        // A segment cannot escape the Web API path.
        assert_eq!(
            c.web_api("../x?y").as_str(),
            "https://example.com/bgops/api/data/v9.2/..%2Fx%3Fy"
        );
        for bad in ["127.0.0.1:8080", "ftp://x", "http://x/?a=b", "not a url"] {
            assert!(
                matches!(Client::new(bad, "t"), Err(Error::BadUrl { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            Client::new("http://x", "a\nb"),
            Err(Error::InvalidHeader("Authorization"))
        ));
        assert!(!format!("{c:?}").contains("Bearer"));
    }

    #[test]
    fn functions_carry_their_parameters_as_odata_literals() {
        let c = Client::new("http://h:1", "t").unwrap();
        let params = serde_json::json!({"Text": "it's 50% off & more", "Number": 5, "Flag": true});
        let (_, url) = c.call("contoso_Fn", &params, true).unwrap();
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        assert_eq!(
            url.path(),
            "/api/data/v9.2/contoso_Fn(Text=@Text,Number=@Number,Flag=@Flag)"
        );
        assert_eq!(
            pairs,
            [
                ("@Text".to_owned(), "'it''s 50% off & more'".to_owned()),
                ("@Number".to_owned(), "5".to_owned()),
                ("@Flag".to_owned(), "true".to_owned()),
            ]
        );
        let (_, url) = c
            .call("contoso_Ping", &serde_json::json!({}), true)
            .unwrap();
        assert_eq!(url.as_str(), "http://h:1/api/data/v9.2/contoso_Ping()");
        assert!(matches!(
            c.call("contoso_Fn", &serde_json::json!([1]), true),
            Err(Error::Parameters(_))
        ));
    }
}
