//! The `Prefer` request header (RFC 7240) as Dataverse uses it: `respond-async`,
//! `odata.callback; url="…"`, `odata.include-annotations="…"`, `odata.maxpagesize=n`,
//! `return=representation`; with or without spaces, over one or several headers. And RFC 7240's
//! `wait=N`, bgops's long poll on the status monitor.

use std::time::Duration;

use axum::http::HeaderMap;
use bgops_core::ApiError;

/// The longest `Prefer: wait=N` honoured: a longer wait is cut to this (and
/// `Preference-Applied` says so). Long enough that a waiting client makes about one request a
/// minute; short enough for proxies' idle time-outs and for a shutdown to answer every waiter.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// One preference: its name, optional value and parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preference {
    /// Lower-cased name.
    pub name: String,
    /// Value, unquoted.
    pub value: Option<String>,
    /// `(lower-cased name, unquoted value)` parameters after `;`.
    pub params: Vec<(String, Option<String>)>,
}

/// Every preference in the request's `Prefer` headers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Prefer(pub Vec<Preference>);

impl Prefer {
    /// Reads every `Prefer` header.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let mut all = Vec::new();
        for h in headers.get_all("prefer") {
            if let Ok(s) = h.to_str() {
                all.extend(parse(s));
            }
        }
        Self(all)
    }

    /// The preference named `name`.
    pub fn get(&self, name: &str) -> Option<&Preference> {
        self.0.iter().find(|p| p.name == name)
    }

    /// Whether `respond-async` was asked for.
    pub fn respond_async(&self) -> bool {
        self.get("respond-async").is_some()
    }

    /// Every callback URL given with `odata.callback; url="…"` (more than one is an error).
    pub fn callback_urls(&self) -> Vec<String> {
        self.0
            .iter()
            .filter(|p| p.name == "odata.callback")
            .map(|p| {
                p.params
                    .iter()
                    .find(|(k, _)| k == "url")
                    .and_then(|(_, v)| v.clone())
                    .unwrap_or_default()
            })
            .collect()
    }

    /// The value of `odata.include-annotations`.
    pub fn include_annotations(&self) -> Option<&str> {
        self.get("odata.include-annotations")
            .and_then(|p| p.value.as_deref())
    }

    /// `wait=N` (RFC 7240 §4.3): how long the client will wait for the answer, in whole
    /// seconds, cut to [`MAX_WAIT`]. `None` without the preference. A value that is not a
    /// number of seconds (negative, fractional, missing, not a number) is a 400: a client
    /// asking to wait should learn that it did not.
    pub fn wait(&self) -> Result<Option<Duration>, ApiError> {
        let Some(p) = self.get("wait") else {
            return Ok(None);
        };
        let raw = p.value.as_deref().unwrap_or("").trim();
        let secs: u64 = if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
            // All digits: only an absurdly long number overflows, and it means "very long".
            raw.parse().unwrap_or(u64::MAX)
        } else {
            return Err(ApiError::invalid_argument(format!(
                "Prefer: wait={raw} is not a number of seconds; write wait=N with N a whole number from 0 (at most {} is honoured).",
                MAX_WAIT.as_secs()
            )));
        };
        Ok(Some(Duration::from_secs(secs).min(MAX_WAIT)))
    }

    /// Whether `return=representation` was asked for.
    pub fn return_representation(&self) -> bool {
        self.get("return")
            .is_some_and(|p| p.value.as_deref() == Some("representation"))
    }
}

/// Splits `s` on `sep` outside double quotes.
fn split_outside_quotes(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                parts.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn unquote(v: &str) -> String {
    let v = v.trim();
    match v.strip_prefix('"').and_then(|x| x.strip_suffix('"')) {
        Some(inner) => inner.replace("\\\"", "\"").replace("\\\\", "\\"),
        None => v.to_owned(),
    }
}

fn name_value(s: &str) -> Option<(String, Option<String>)> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    Some(match s.split_once('=') {
        Some((n, v)) => (n.trim().to_ascii_lowercase(), Some(unquote(v))),
        None => (s.to_ascii_lowercase(), None),
    })
}

/// Parses one header value.
pub fn parse(header: &str) -> Vec<Preference> {
    split_outside_quotes(header, ',')
        .into_iter()
        .filter_map(|item| {
            let mut pieces = split_outside_quotes(item, ';').into_iter();
            let (name, value) = name_value(pieces.next()?)?;
            Some(Preference {
                name,
                value,
                params: pieces.filter_map(name_value).collect(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefer(s: &str) -> Prefer {
        Prefer(parse(s))
    }

    #[test]
    fn callback_with_and_without_spaces() {
        for h in [
            r#"respond-async, odata.callback; url="https://example.com/hook?a=1,2""#,
            r#"respond-async,odata.callback;url="https://example.com/hook?a=1,2""#,
        ] {
            let p = prefer(h);
            assert!(p.respond_async(), "{h}");
            assert_eq!(p.callback_urls(), vec!["https://example.com/hook?a=1,2"]);
        }
    }

    #[test]
    fn annotations_and_representation() {
        let p = prefer(
            r#"odata.include-annotations="OData.Community.Display.V1.FormattedValue",return=representation"#,
        );
        assert!(!p.respond_async());
        assert_eq!(
            p.include_annotations(),
            Some("OData.Community.Display.V1.FormattedValue")
        );
        assert!(p.return_representation());
        assert!(prefer("").0.is_empty());
        assert!(prefer("Respond-Async").respond_async());
    }

    #[test]
    fn wait_is_whole_seconds_cut_to_the_maximum() {
        assert_eq!(prefer("respond-async").wait().unwrap(), None);
        assert_eq!(
            prefer("wait=10").wait().unwrap(),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            prefer("odata.include-annotations=\"*\", wait=0")
                .wait()
                .unwrap(),
            Some(Duration::ZERO)
        );
        assert_eq!(prefer("wait=3600").wait().unwrap(), Some(MAX_WAIT));
        assert_eq!(
            prefer("wait=99999999999999999999999").wait().unwrap(),
            Some(MAX_WAIT)
        );
        assert_eq!(
            prefer("wait=\"5\"").wait().unwrap(),
            Some(Duration::from_secs(5))
        );
        for bad in [
            "wait=-1", "wait=abc", "wait=", "wait", "wait=1.5", "wait=+3",
        ] {
            let e = prefer(bad).wait().expect_err(bad);
            assert_eq!(e.status, 400, "{bad}");
        }
    }
}
