//! Server-sent events (SPEC §15): the status monitor with `Accept: text/event-stream` streams
//! one operation's changes until it is terminal; `GET /api/events` streams every change of the
//! operations the caller may see (the dashboard's feed). Each event's `id` is the row's
//! `versionnumber`, which grows with every change a reader can see, so a client that reconnects
//! with `Last-Event-ID` (browsers' `EventSource` does it by itself) resumes after the last event
//! it got: the store reads "operations changed after version V" in version order.
//!
//! A stream sleeps on the change fan-out (`bgops_engine::changes`) and reads only when
//! something changed; a comment line every [`KEEP_ALIVE`] keeps proxies from closing an idle
//! one. At most `--max-event-streams` run at once (429 beyond); a stream ends when its client
//! goes away or the service shuts down.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use bgops_core::security::{Privilege, Scope, Verb};
use bgops_core::{ApiError, BackgroundOperation, OperationId, OperationStatus, UserId};
use bgops_engine::changes::ChangeWatch;
use bgops_store::OperationStatusView;
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tokio::sync::{watch, OwnedSemaphorePermit};

use super::status_monitor;
use crate::auth::Caller;
use crate::error::AppError;
use crate::extract::Root;
use crate::state::AppState;

/// How often an idle stream sends a comment line.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Rows read per page of the stream of every change.
const PAGE: usize = 500;

/// Whether the request asks for an event stream (`Accept: text/event-stream`).
pub fn wants_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(axum::http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',').any(|m| {
                m.trim()
                    .to_ascii_lowercase()
                    .starts_with("text/event-stream")
            })
        })
}

/// Which operations a caller may see in a stream of every change. Every read of the stream
/// goes through [`Visibility::sees`], so roles with "own rows only" depth plug in here.
#[derive(Clone, Copy, Debug)]
pub enum Visibility {
    /// Every operation (Global read depth: a System Administrator).
    All,
    /// The operations this user owns — runs as (Basic depth): the same owner column as every
    /// other read (`bgops_engine::access`), so a Delegate who submitted as someone else sees
    /// that operation in no read, this stream included.
    Own(UserId),
}

impl Visibility {
    /// Whether `op` is visible.
    pub fn sees(&self, op: &BackgroundOperation) -> bool {
        match self {
            Visibility::All => true,
            Visibility::Own(user) => op.run_as == *user,
        }
    }
}

/// What `caller` may see: every operation at Global read depth on `backgroundoperation`, else
/// its own; the 403 without the read privilege.
pub fn visible_to(caller: &Caller) -> Result<Visibility, ApiError> {
    let privilege = Privilege::table(Verb::Read, "backgroundoperation");
    Ok(match caller.principal.authorize(&privilege)? {
        Scope::All => Visibility::All,
        Scope::Own(user) => Visibility::Own(user),
    })
}

/// `Last-Event-ID`: the version of the last event the client got. Not a version: 400.
fn last_event_id(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(v) = headers.get("last-event-id") else {
        return Ok(None);
    };
    parse_version(v.to_str().unwrap_or("")).map(Some)
}

fn parse_version(text: &str) -> Result<i64, ApiError> {
    text.trim()
        .parse::<i64>()
        .ok()
        .filter(|v| *v >= 0)
        .ok_or_else(|| {
            ApiError::invalid_argument(format!(
                "'{text}' is not an event id: an event id is the versionnumber of an event this service sent (a whole number)."
            ))
        })
}

/// A stream slot, or the 429 when `--max-event-streams` run already.
fn take_slot(state: &AppState) -> Result<OwnedSemaphorePermit, AppError> {
    state
        .streams
        .clone()
        .try_acquire_owned()
        .map_err(|_| AppError::Api(ApiError::too_many_streams(state.config.max_event_streams)))
}

/// The response for a stream of events.
fn sse(events: impl Stream<Item = Result<Event, Infallible>> + Send + 'static) -> Response {
    let mut resp = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response();
    // Proxies that buffer (nginx) would hold the events back.
    resp.headers_mut()
        .insert("X-Accel-Buffering", HeaderValue::from_static("no"));
    resp
}

/// The status monitor as an event stream: the current state at once, then each change, until
/// the operation is terminal; the stream then ends. A reconnection with the `Last-Event-ID`
/// of the terminal event gets `204` (which tells `EventSource` to stop reconnecting).
pub async fn operation_stream(
    state: AppState,
    id: OperationId,
    headers: &HeaderMap,
) -> Result<Response, AppError> {
    let last = last_event_id(headers)?;
    let slot = take_slot(&state)?;
    // Watch before the first read, so no change slips between the two.
    let watch = state.engine.changes().watch(id);
    let now = status_monitor::read(&state, id).await?;
    if now.status.is_terminal() && last == Some(now.version) {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let first = (last != Some(now.version)).then_some(now.clone());
    let st = OperationStream {
        state,
        id,
        watch,
        last: Some(now.version),
        ended: now.status.is_terminal(),
        first,
        _slot: slot,
    };
    Ok(sse(stream::unfold(st, OperationStream::next)))
}

struct OperationStream {
    state: AppState,
    id: OperationId,
    watch: ChangeWatch,
    /// The version of the state last read.
    last: Option<i64>,
    /// The last state read was terminal: nothing follows.
    ended: bool,
    /// The state to send first (none when the client already has it).
    first: Option<OperationStatusView>,
    _slot: OwnedSemaphorePermit,
}

impl OperationStream {
    async fn next(mut self) -> Option<(Result<Event, Infallible>, Self)> {
        if let Some(view) = self.first.take() {
            let event = self.event(view).await;
            return Some((Ok(event), self));
        }
        loop {
            if self.ended {
                return None;
            }
            tokio::select! {
                _ = self.watch.changed() => {}
                _ = self.state.stopping.cancelled() => return None,
            }
            let view = match status_monitor::read(&self.state, self.id).await {
                Ok(v) => v,
                Err(e) => {
                    // Deleted (TTL) or the database failed: the client reconnects and learns.
                    tracing::debug!(operation = %self.id, error = ?e, "ending the operation's event stream");
                    return None;
                }
            };
            if self.last == Some(view.version) {
                continue;
            }
            self.last = Some(view.version);
            self.ended = view.status.is_terminal();
            let event = self.event(view).await;
            return Some((Ok(event), self));
        }
    }

    async fn event(&self, view: OperationStatusView) -> Event {
        let id = view.version.to_string();
        let body = status_monitor::body_bytes(&self.state, view).await;
        Event::default()
            .id(id)
            .data(String::from_utf8(body).unwrap_or_default())
    }
}

/// The query of `GET /api/events`.
#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    /// Start after this version (for clients that cannot send `Last-Event-ID`, and to replay
    /// history: `after=0` sends every operation still stored).
    after: Option<String>,
}

/// `GET /api/events`: every change of the operations the caller may see, from now (or after
/// `Last-Event-ID`, or `?after=V`), as events whose data is
/// `{"backgroundOperationId","name","backgroundOperationStateCode","backgroundOperationStatusCode",
/// "createdOn","modifiedOn","location"}` (plus `backgroundOperationErrorCode` when Failed).
/// A row's intermediate states between two reads are coalesced: each event is the row's state
/// at its version, and the last one of a row is its current state. Never ends by itself.
pub async fn all(
    State(state): State<AppState>,
    caller: Caller,
    root: Root,
    headers: HeaderMap,
    Query(query): Query<EventsQuery>,
) -> Result<Response, AppError> {
    let visibility = visible_to(&caller)?;
    let from_query = query.after.as_deref().map(parse_version).transpose()?;
    let resume = last_event_id(&headers)?.or(from_query);
    let slot = take_slot(&state)?;
    // Subscribe before the first read; the first pass reads at once.
    let mut any = state.engine.changes().watch_all();
    any.mark_changed();
    let cursor = match resume {
        Some(v) => v,
        None => state.engine.store().latest_operation_version().await?,
    };
    let st = AllStream {
        state,
        root: root.0,
        visibility,
        cursor,
        any,
        queue: VecDeque::new(),
        _slot: slot,
    };
    Ok(sse(stream::unfold(st, AllStream::next)))
}

struct AllStream {
    state: AppState,
    root: String,
    visibility: Visibility,
    /// The highest version read so far.
    cursor: i64,
    any: watch::Receiver<u64>,
    queue: VecDeque<Event>,
    _slot: OwnedSemaphorePermit,
}

impl AllStream {
    async fn next(mut self) -> Option<(Result<Event, Infallible>, Self)> {
        loop {
            if let Some(event) = self.queue.pop_front() {
                return Some((Ok(event), self));
            }
            tokio::select! {
                r = self.any.changed() => if r.is_err() { return None },
                _ = self.state.stopping.cancelled() => return None,
            }
            self.any.borrow_and_update();
            // Read every page there is now; then sleep until the next change.
            loop {
                let page = match self
                    .state
                    .engine
                    .store()
                    .operations_changed_after(self.cursor, PAGE)
                    .await
                {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::warn!(error = %e, "ending an event stream: reading changes failed");
                        return None;
                    }
                };
                let full = page.len() == PAGE;
                for op in page {
                    self.cursor = self.cursor.max(op.version_number);
                    if self.visibility.sees(&op) {
                        self.queue.push_back(change_event(&self.root, &op));
                    }
                }
                if !full {
                    break;
                }
            }
        }
    }
}

/// The event of one change in the stream of every change.
fn change_event(root: &str, op: &BackgroundOperation) -> Event {
    let mut data = Map::new();
    data.insert("backgroundOperationId".into(), json!(op.id.to_string()));
    data.insert("name".into(), json!(op.name));
    data.insert(
        "backgroundOperationStateCode".into(),
        json!(op.status.state().code()),
    );
    data.insert(
        "backgroundOperationStatusCode".into(),
        json!(op.status.code()),
    );
    if op.status == OperationStatus::Failed {
        data.insert("backgroundOperationErrorCode".into(), json!(op.error_code));
    }
    data.insert("createdOn".into(), json!(op.created_on.to_dataverse()));
    data.insert("modifiedOn".into(), json!(op.modified_on.to_dataverse()));
    data.insert(
        "location".into(),
        json!(super::custom_api::location_of(root, op.id)),
    );
    Event::default()
        .id(op.version_number.to_string())
        .data(Value::Object(data).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_visibility_follows_the_owner_column_as_every_other_read() {
        let (alice, dave) = (UserId::new_random(), UserId::new_random());
        let now = bgops_core::Timestamp(0);
        // Dave (a Delegate) submitted it to run as Alice.
        let op = BackgroundOperation {
            id: OperationId::new_random(),
            name: "test_Echo".into(),
            display_name: "Echo".into(),
            status: OperationStatus::Succeeded,
            input_parameters: "[]".into(),
            output_parameters: None,
            start_time: None,
            end_time: None,
            retry_count: 0,
            error_code: None,
            error_message: None,
            run_as: alice,
            priority: 0,
            ttl_seconds: 60,
            created_on: now,
            modified_on: now,
            created_by: dave,
            version_number: 1,
            attempt: 0,
            max_retries: 3,
            trace_parent: None,
        };
        assert!(Visibility::Own(alice).sees(&op));
        assert!(
            !Visibility::Own(dave).sees(&op),
            "not the creator's row at Basic depth"
        );
        assert!(Visibility::All.sees(&op));
    }

    #[test]
    fn event_streams_are_asked_for_by_accept() {
        let mut h = HeaderMap::new();
        assert!(!wants_event_stream(&h));
        h.insert("accept", HeaderValue::from_static("application/json"));
        assert!(!wants_event_stream(&h));
        h.insert(
            "accept",
            HeaderValue::from_static("application/json, Text/Event-Stream;q=0.9"),
        );
        assert!(wants_event_stream(&h));
    }

    #[test]
    fn event_ids_are_versions() {
        assert_eq!(parse_version(" 42 ").unwrap(), 42);
        for bad in ["", "-1", "abc", "1.5"] {
            assert_eq!(parse_version(bad).unwrap_err().status, 400, "{bad}");
        }
    }
}
