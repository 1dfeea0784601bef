//! Notifications between nodes: every write that another node should act on at once asks for
//! a `NOTIFY` on the schema's channel; the writer sends each distinct one once per transaction,
//! just before the commit (PostgreSQL delivers them at the commit, and drops them with a
//! rollback). One connection per node `LISTEN`s and turns them into [`StoreEvent`]s for the
//! engine's loops.
//!
//! A lost listening connection is re-established (waiting 100 ms, doubling up to 5 s between
//! tries) and then announces [`StoreEvent::Resync`], so the loops look at everything once: no
//! change waits longer than the reconnection plus one look. The loops' own polls (every 5 s)
//! remain the last resort.

use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{broadcast, oneshot};
use tokio_postgres::AsyncMessage;

use super::connect::Connector;
use super::db::Db;
use crate::store::{StoreEvent, CHANGED_IDS_PER_EVENT};
use crate::StoreError;

/// Payloads of the schema's channel.
const WORK: &str = "work";
const ENDED: &str = "ended";
const CANCEL: &str = "cancel:";
const CHANGED: &str = "changed:";
const STARTED: &str = "started:";

/// Events kept for a slow subscriber before it misses some (it then resyncs).
const BACKLOG: usize = 1024;

/// Rows may have become due.
pub fn work(c: &dyn Db) {
    c.notify(WORK.to_owned());
}

/// Operations ended.
pub fn ended(c: &dyn Db) {
    c.notify(ENDED.to_owned());
}

/// Cancellation of `id` was requested.
pub fn canceled(c: &dyn Db, id: &str) {
    c.notify(format!("{CANCEL}{id}"));
}

/// Operation `id` changed state (waiters read it again). The writer packs these into payloads
/// of [`CHANGED_IDS_PER_EVENT`] ids at most (see [`pack`]).
pub fn changed(c: &dyn Db, id: &str) {
    c.notify(format!("{CHANGED}{id}"));
}

/// Operation `id` changed state without ending (submitted, or an attempt started): event
/// streams read it again, long polls waiting for its end do not. Packed like [`changed`].
pub fn started(c: &dyn Db, id: &str) {
    c.notify(format!("{STARTED}{id}"));
}

/// The payloads to send for a transaction: each one asked for, except that the ids of the
/// `changed:` ones travel together, a bounded number per payload, and so do the `started:`
/// ones.
pub fn pack(payloads: Vec<String>) -> Vec<String> {
    let (changed, rest): (Vec<String>, Vec<String>) =
        payloads.into_iter().partition(|p| p.starts_with(CHANGED));
    let (started, mut out): (Vec<String>, Vec<String>) =
        rest.into_iter().partition(|p| p.starts_with(STARTED));
    for (kind, payloads) in [(CHANGED, changed), (STARTED, started)] {
        let ids: Vec<&str> = payloads.iter().map(|p| &p[kind.len()..]).collect();
        for chunk in ids.chunks(CHANGED_IDS_PER_EVENT) {
            out.push(format!("{kind}{}", chunk.join(",")));
        }
    }
    out
}

/// The ids of a `changed:` or `started:` payload; an id that does not parse (another
/// version's payload) makes it a resync: look at everything.
fn ids(list: &str, event: fn(Vec<bgops_core::OperationId>) -> StoreEvent) -> StoreEvent {
    list.split(',')
        .map(str::parse)
        .collect::<Result<Vec<_>, _>>()
        .map_or(StoreEvent::Resync, event)
}

fn parse(payload: &str) -> Option<StoreEvent> {
    match payload {
        WORK => Some(StoreEvent::Work),
        ENDED => Some(StoreEvent::Ended),
        _ => {
            if let Some(list) = payload.strip_prefix(CHANGED) {
                return Some(ids(list, StoreEvent::Changed));
            }
            if let Some(list) = payload.strip_prefix(STARTED) {
                return Some(ids(list, StoreEvent::Started));
            }
            payload
                .strip_prefix(CANCEL)
                .and_then(|id| id.parse().ok())
                .map(StoreEvent::Canceled)
        }
    }
}

/// The listening task's handle: events for subscribers; dropping it stops the task.
pub struct Listener {
    /// Where events go.
    pub events: broadcast::Sender<StoreEvent>,
    /// Dropped with the store, which ends the task.
    _stop: oneshot::Sender<()>,
}

/// Starts the listening task.
pub fn start(connector: Connector) -> Listener {
    let (tx, _) = broadcast::channel(BACKLOG);
    let (stop_tx, mut stop) = oneshot::channel::<()>();
    let events = tx.clone();
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(100);
        let mut first = true;
        loop {
            tokio::select! {
                _ = &mut stop => return,
                r = listen(&connector, &events, &mut first) => {
                    if let Err(e) = r {
                        tracing::warn!(error = %e, retry_in = ?backoff, "lost the PostgreSQL notification connection");
                    }
                }
            }
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    });
    Listener {
        events: tx,
        _stop: stop_tx,
    }
}

/// Listens on one connection until it fails.
async fn listen(
    connector: &Connector,
    events: &broadcast::Sender<StoreEvent>,
    first: &mut bool,
) -> Result<(), StoreError> {
    let (client, mut connection) = connector.connect_raw().await?;
    let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx)).boxed();
    let channel: String = {
        // The connection's messages must be polled while the client waits for answers.
        let setup = async {
            let schema: String = client
                .query_one("SELECT current_schema()", &[])
                .await?
                .get(0);
            let channel = format!("bgops_{schema}");
            client
                .batch_execute(&format!("LISTEN \"{}\"", channel.replace('"', "\"\"")))
                .await?;
            Ok::<_, tokio_postgres::Error>(channel)
        };
        tokio::pin!(setup);
        loop {
            tokio::select! {
                r = &mut setup => break r?,
                m = messages.next() => match m {
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(e.into()),
                    None => return Err(StoreError::Unavailable("connection closed".into())),
                },
            }
        }
    };
    tracing::debug!(%channel, "listening for notifications");
    if !std::mem::take(first) {
        // Notifications sent while no one listened are gone: look at everything.
        let _ = events.send(StoreEvent::Resync);
    }
    loop {
        match messages.next().await {
            Some(Ok(AsyncMessage::Notification(n))) if n.channel() == channel => {
                if let Some(event) = parse(n.payload()) {
                    // No subscriber right now is fine: nothing to wake.
                    let _ = events.send(event);
                }
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.into()),
            None => return Err(StoreError::Unavailable("connection closed".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_ids_are_packed_into_bounded_payloads() {
        let ids: Vec<String> = (0..450)
            .map(|_| bgops_core::OperationId::new_random().to_string())
            .collect();
        let mut payloads: Vec<String> = ids.iter().map(|id| format!("{CHANGED}{id}")).collect();
        payloads.push(WORK.to_owned());
        let packed = pack(payloads);
        assert_eq!(packed.len(), 4, "work, then 200 + 200 + 50 ids");
        assert_eq!(packed[0], WORK);
        let mut seen = Vec::new();
        for p in &packed[1..] {
            assert!(p.len() < 8000, "a payload fits PostgreSQL's limit");
            match parse(p) {
                Some(StoreEvent::Changed(got)) => seen.extend(got.iter().map(|i| i.to_string())),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(seen, ids);
    }

    #[test]
    fn payloads_parse_to_events() {
        assert_eq!(parse("work"), Some(StoreEvent::Work));
        assert_eq!(parse("ended"), Some(StoreEvent::Ended));
        let id = bgops_core::OperationId::new_random();
        assert_eq!(
            parse(&format!("cancel:{id}")),
            Some(StoreEvent::Canceled(id))
        );
        assert_eq!(parse("cancel:nope"), None);
        let other = bgops_core::OperationId::new_random();
        assert_eq!(
            parse(&format!("changed:{id},{other}")),
            Some(StoreEvent::Changed(vec![id, other]))
        );
        assert_eq!(parse("changed:nope"), Some(StoreEvent::Resync));
        assert_eq!(
            parse(&format!("started:{id}")),
            Some(StoreEvent::Started(vec![id]))
        );
        assert_eq!(
            pack(vec![format!("changed:{id}"), format!("started:{other}")]),
            vec![format!("changed:{id}"), format!("started:{other}")],
            "each kind travels on its own"
        );
        assert_eq!(parse("other"), None);
    }
}
