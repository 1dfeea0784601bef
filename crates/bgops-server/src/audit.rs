//! The audit log: one line (tracing target `bgops::audit`) for every authentication failure,
//! privilege denial, impersonation, and change of a user, key or role association — who, what,
//! and from where (the client's address). Never a token or a key: keys are named by their id.
//!
//! [`Entered`] gives each request an [`AuditContext`] (its client address; the user once
//! authenticated) and logs the 401s and 403s it ends with (the edge middleware enters and
//! leaves it for every request); the handlers that change the
//! directory log their changes with [`change`].

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use axum::extract::Request;

use axum::response::Response;
use bgops_core::security::Principal;

/// The tracing target of audit lines.
pub const TARGET: &str = "bgops::audit";

/// What the audit log knows of one request.
#[derive(Debug, Default)]
pub struct AuditContext {
    /// The client's address (behind trusted proxies, the first untrusted hop), as the edge
    /// middleware found it.
    peer: Option<IpAddr>,
    /// The authenticated user: id and name.
    user: Mutex<Option<(String, String)>>,
    /// Why authentication failed, when it did.
    failure: Mutex<Option<String>>,
}

impl AuditContext {
    /// Records who authenticated.
    pub fn authenticated(&self, principal: &Principal) {
        *self
            .user
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((principal.id.to_string(), principal.full_name.clone()));
    }

    /// Records why authentication failed.
    pub fn failed(&self, reason: String) {
        *self
            .failure
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(reason);
    }

    /// The client address as text (`-` when unknown).
    pub fn peer(&self) -> String {
        self.peer.map_or_else(|| "-".to_owned(), |p| p.to_string())
    }

    fn user(&self) -> (String, String) {
        self.user
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .unwrap_or_else(|| ("-".to_owned(), "-".to_owned()))
    }
}

/// A request's audit context, from before it is handled to its answer.
pub struct Entered {
    ctx: Arc<AuditContext>,
    method: axum::http::Method,
    uri: axum::http::Uri,
}

impl Entered {
    /// A new [`AuditContext`] for `req` from client address `client` (the edge middleware
    /// hands it to the extractors in [`crate::edge::Seen`]).
    pub fn enter(req: &Request, client: Option<std::net::IpAddr>) -> Self {
        let ctx = Arc::new(AuditContext {
            peer: client,
            ..AuditContext::default()
        });
        Self {
            ctx,
            method: req.method().clone(),
            uri: req.uri().clone(),
        }
    }

    /// The request's audit context.
    pub fn context(&self) -> &Arc<AuditContext> {
        &self.ctx
    }

    /// Logs the answer if it is a 401 or a 403.
    pub fn leave(&self, resp: &Response) {
        let (ctx, method, path) = (&self.ctx, &self.method, self.uri.path());
        match resp.status().as_u16() {
            401 => {
                let reason = ctx
                    .failure
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone()
                    .unwrap_or_else(|| "-".to_owned());
                tracing::warn!(
                    target: TARGET,
                    event = "authentication_failed",
                    peer = %ctx.peer(),
                    %method,
                    %path,
                    %reason,
                );
            }
            403 => {
                let (user, name) = ctx.user();
                let denial = resp
                    .extensions()
                    .get::<crate::error::Denial>()
                    .map(|d| d.0.clone())
                    .unwrap_or_default();
                tracing::warn!(
                    target: TARGET,
                    event = "privilege_denied",
                    peer = %ctx.peer(),
                    user,
                    name,
                    %method,
                    %path,
                    denial,
                );
            }
            _ => {}
        }
    }
}

/// Logs that `caller` acts as `acting`.
pub fn impersonation(ctx: Option<&AuditContext>, caller: &Principal, acting: &Principal) {
    tracing::info!(
        target: TARGET,
        event = "impersonation",
        peer = %ctx.map_or_else(|| "-".to_owned(), AuditContext::peer),
        user = %caller.id,
        name = %caller.full_name,
        acting_as = %acting.id,
        acting_name = %acting.full_name,
    );
}

/// Logs a change of the directory (`what`: `user_created`, `key_revoked`, …) made by `by`,
/// about `subject` (a user, key or role id), with `detail` (never a secret).
pub fn change(
    ctx: Option<&AuditContext>,
    by: &Principal,
    what: &'static str,
    subject: &str,
    detail: &str,
) {
    tracing::info!(
        target: TARGET,
        event = what,
        peer = %ctx.map_or_else(|| "-".to_owned(), AuditContext::peer),
        user = %by.id,
        name = %by.full_name,
        subject,
        detail,
    );
}
