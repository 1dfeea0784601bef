//! The router: one module per resource, merged here, with the body limit, panic guard and
//! fallbacks that keep every answer in the Dataverse error shape.

mod backgroundoperations;
pub(crate) mod custom_api;
mod custom_api_defs;
mod entity_definitions;
mod events;
mod health;
pub(crate) mod metrics;
mod security;
mod service;
pub(crate) mod status_monitor;
mod steps;
mod tables;

use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use axum::routing::{any, get};
use axum::Router;
use bgops_core::ApiError;
use tower_http::catch_panic::CatchPanicLayer;

use crate::auth::Caller;
use crate::error::{api_error_response, AppError};
use crate::extract::{JsonObject, Root};
use crate::state::AppState;

/// The Web API base path.
pub const WEB_API: &str = "/api/data/v9.2";

/// Builds the router.
pub fn router(state: AppState) -> Router {
    let limit = state.config.max_body_bytes;
    let router = Router::new()
        .route("/health", get(health::health))
        .route("/metrics", get(metrics::metrics))
        .merge(crate::dashboard::routes(state.config.dashboard))
        .route(
            "/api/backgroundoperation/{id}",
            get(status_monitor::get).delete(status_monitor::cancel),
        )
        .route("/api/events", get(events::all))
        .route(&format!("{WEB_API}/"), get(service_document))
        .route(&format!("{WEB_API}/$metadata"), get(metadata))
        .route(&format!("{WEB_API}/{{segment}}"), any(web_api))
        .route(&format!("{WEB_API}/{{segment}}/$count"), get(count))
        .route(
            &format!("{WEB_API}/{{segment}}/{{*rest}}"),
            any(web_api_nested),
        )
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limit));
    // Request spans, HTTP metrics, the audit context, authentication and the cross-site write
    // check are one layer over these, `edge::middleware` (see `crate::router`); a panic is
    // answered here, inside it, so it is counted and audited like any other 500.
    router
        .layer(CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                tracing::error!("a request handler panicked");
                api_error_response(&ApiError::internal())
            },
        ))
        .with_state(state)
}

/// A path no route serves: the Dataverse "unknown segment" error naming its last segment.
async fn unknown_route(req: Request) -> Response {
    let path = req.uri().path();
    let last = path
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(path);
    api_error_response(&ApiError::unknown_segment(last))
}

/// The longest URL accepted, as in Dataverse.
pub const MAX_URL_LEN: usize = 32 * 1024;

fn check_url(req: &Request) -> Result<(), ApiError> {
    let len = req.uri().path().len() + req.uri().query().map_or(0, str::len);
    if len > MAX_URL_LEN {
        return Err(ApiError::bad_syntax(format!(
            "the URL is {len} characters long; the limit is {MAX_URL_LEN}."
        )));
    }
    Ok(())
}

async fn service_document(State(state): State<AppState>, root: Root, _caller: Caller) -> Response {
    service::service_document(&state, &root).await
}

async fn metadata(State(state): State<AppState>, _caller: Caller) -> Response {
    service::metadata(&state).await
}

/// `GET /api/data/v9.2/{set}/$count`.
async fn count(
    State(state): State<AppState>,
    Path(segment): Path<String>,
    caller: Caller,
    req: Request,
) -> Result<Response, AppError> {
    check_url(&req)?;
    let table = state
        .catalogue
        .by_entity_set(&segment)
        .ok_or_else(|| ApiError::unknown_segment(&segment))?;
    tables::get_count(&state, &caller, table, req.uri().query()).await
}

/// A method the route does not serve.
async fn method_not_allowed(req: Request) -> Response {
    api_error_response(&ApiError::method_not_allowed(format!(
        "{} is not supported on {}.",
        req.method(),
        req.uri().path()
    )))
}

/// A path below a segment (`EntityDefinitions(LogicalName='account')/Attributes/…`): the
/// metadata of a table; any other such path is an unknown segment, as without this route.
async fn web_api_nested(
    State(state): State<AppState>,
    Path((segment, rest)): Path<(String, String)>,
    method: Method,
    root: Root,
    caller: Result<Caller, AppError>,
    req: Request,
) -> Result<Response, AppError> {
    match parse_segment(&segment) {
        Segment {
            name: "EntityDefinitions",
            key: Some(key),
        } => {
            caller?;
            check_url(&req)?;
            if method != Method::GET {
                return Err(ApiError::method_not_allowed(format!(
                    "{method} is not supported on {}; metadata is read-only.",
                    req.uri().path()
                ))
                .into());
            }
            entity_definitions::nested(&state, &root, key, &rest, req.uri().query()).await
        }
        Segment {
            name,
            key: Some(key),
        } if security::handles(name, &rest) => {
            let caller = caller?;
            check_url(&req)?;
            let query = req.uri().query().map(str::to_owned);
            let body = if method == Method::POST {
                Some(JsonObject::from_req(req, &state).await?.0)
            } else {
                None
            };
            security::nested(
                &state,
                &caller,
                &root,
                &method,
                name,
                key,
                &rest,
                query.as_deref(),
                body,
            )
            .await
        }
        _ => Ok(unknown_route(req).await),
    }
}

/// A `{set}({key})` segment, or a bare name.
#[derive(Debug, PartialEq, Eq)]
struct Segment<'a> {
    name: &'a str,
    key: Option<&'a str>,
}

fn parse_segment(s: &str) -> Segment<'_> {
    match s.split_once('(') {
        Some((name, rest)) if rest.ends_with(')') => Segment {
            name,
            key: Some(&rest[..rest.len() - 1]),
        },
        _ => Segment { name: s, key: None },
    }
}

/// Everything under `/api/data/v9.2/{segment}`: tables and custom APIs, by method.
async fn web_api(
    State(state): State<AppState>,
    Path(segment): Path<String>,
    method: Method,
    headers: HeaderMap,
    root: Root,
    caller: Caller,
    req: Request,
) -> Result<Response, AppError> {
    check_url(&req)?;
    let seg = parse_segment(&segment);
    let query = req.uri().query().map(str::to_owned);
    let query = query.as_deref();
    match (seg.name, seg.key, method) {
        ("backgroundoperations", Some(key), Method::PATCH) => {
            let JsonObject(body) = JsonObject::from_req(req, &state).await?;
            backgroundoperations::patch(&state, &caller, &root, &headers, key, body).await
        }
        ("backgroundoperations", Some(_), Method::DELETE) => Err(ApiError::method_not_allowed(
            "Background operation rows are deleted only when their time to live passes; cancel with PATCH or DELETE on the status monitor.",
        )
        .into()),
        ("backgroundoperations", None, m) if m != Method::GET => Err(ApiError::method_not_allowed(
            "Background operation rows are created only by submitting a custom API with 'Prefer: respond-async'.",
        )
        .into()),
        ("WhoAmI", Some(""), Method::GET) => Ok(service::who_am_i(&root, &caller).await),
        ("EntityDefinitions", None, Method::GET) => {
            entity_definitions::collection(&state, &root, query).await
        }
        ("EntityDefinitions", Some(key), Method::GET) => {
            entity_definitions::entity(&state, &root, key, query).await
        }
        (custom_api::EXECUTE_BACKGROUND_OPERATION, None, Method::POST) => {
            let JsonObject(body) = JsonObject::from_req(req, &state).await?;
            custom_api::execute_background_operation(&state, &caller, &root, &headers, body).await
        }
        (name, key, method) => {
            if let Some(table) = state.catalogue.by_entity_set(name) {
                if let Some(kind) = steps::kind(&table) {
                    // Webhook and step writes follow the OnBackgroundOperationComplete rules;
                    // reads stay generic.
                    match (key, &method) {
                        (None, &Method::POST) => {
                            let JsonObject(body) = JsonObject::from_req(req, &state).await?;
                            return steps::create(&state, &caller, &root, &headers, table, kind, body)
                                .await;
                        }
                        (Some(key), &Method::PATCH) => {
                            let JsonObject(body) = JsonObject::from_req(req, &state).await?;
                            return steps::update(
                                &state, &caller, &root, &headers, table, kind, key, body,
                            )
                            .await;
                        }
                        (Some(key), &Method::DELETE) => {
                            return steps::delete(&state, &caller, &headers, table, kind, key).await;
                        }
                        _ => {}
                    }
                }
                if let Some(kind) = custom_api_defs::kind(&table) {
                    // Definition writes follow the custom API rules; reads stay generic.
                    match (key, &method) {
                        (None, &Method::POST) => {
                            let JsonObject(body) = JsonObject::from_req(req, &state).await?;
                            return custom_api_defs::create(
                                &state, &caller, &root, &headers, table, kind, body,
                            )
                            .await;
                        }
                        (Some(key), &Method::PATCH) => {
                            let JsonObject(body) = JsonObject::from_req(req, &state).await?;
                            return custom_api_defs::update(
                                &state, &caller, &root, &headers, table, kind, key, body,
                            )
                            .await;
                        }
                        (Some(key), &Method::DELETE) => {
                            return custom_api_defs::delete(
                                &state, &caller, &headers, table, kind, key,
                            )
                            .await;
                        }
                        _ => {}
                    }
                }
                return match (key, method) {
                    (None, Method::GET) => {
                        tables::get_collection(&state, &caller, &root, &headers, table, query).await
                    }
                    (Some(key), Method::GET) => {
                        tables::get_row(&state, &caller, &root, &headers, table, key, query).await
                    }
                    (None, Method::POST) => {
                        let JsonObject(body) = JsonObject::from_req(req, &state).await?;
                        tables::create(&state, &caller, &root, &headers, table, body).await
                    }
                    (Some(key), Method::PATCH) => {
                        let JsonObject(body) = JsonObject::from_req(req, &state).await?;
                        tables::update(&state, &caller, &root, &headers, table, key, body).await
                    }
                    (Some(key), Method::DELETE) => {
                        tables::delete(&state, &caller, &headers, table, key).await
                    }
                    (_, m) => Err(ApiError::method_not_allowed(format!(
                        "{m} is not supported on {}.",
                        segment
                    ))
                    .into()),
                };
            }
            match (key, method) {
                (None, Method::POST) => {
                    let JsonObject(body) = JsonObject::from_req(req, &state).await?;
                    custom_api::invoke(&state, &caller, &root, &headers, name, body).await
                }
                (Some(args), Method::GET) => {
                    custom_api::invoke_function(&state, &caller, &root, &headers, name, args, query)
                        .await
                }
                _ => Err(ApiError::unknown_segment(name).into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments() {
        assert_eq!(
            parse_segment("backgroundoperations(abc)"),
            Segment {
                name: "backgroundoperations",
                key: Some("abc")
            }
        );
        assert_eq!(
            parse_segment("bgops_Echo"),
            Segment {
                name: "bgops_Echo",
                key: None
            }
        );
        assert_eq!(
            parse_segment("x(y"),
            Segment {
                name: "x(y",
                key: None
            }
        );
    }
}
