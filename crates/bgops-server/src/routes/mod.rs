//! The router: one module per resource, merged here, with the body limit, panic guard and
//! fallbacks that keep every answer in the Dataverse error shape.

mod backgroundoperations;
mod custom_api;
mod health;
mod status_monitor;

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
    Router::new()
        .route("/health", get(health::health))
        .route(
            "/api/backgroundoperation/{id}",
            get(status_monitor::get).delete(status_monitor::cancel),
        )
        .route(&format!("{WEB_API}/{{segment}}"), any(web_api))
        .fallback(unknown_route)
        .layer(DefaultBodyLimit::max(limit))
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
    let seg = parse_segment(&segment);
    let query = req.uri().query().map(str::to_owned);
    match (seg.name, seg.key, method) {
        ("backgroundoperations", Some(key), Method::GET) => {
            backgroundoperations::get(&state, &caller, &root, &headers, key, query.as_deref()).await
        }
        ("backgroundoperations", Some(key), Method::PATCH) => {
            let JsonObject(body) = JsonObject::from_req(req, &state).await?;
            backgroundoperations::patch(&state, &caller, &root, &headers, key, body).await
        }
        ("backgroundoperations", Some(_), _) => Err(ApiError::method_not_allowed(
            "Background operation rows are deleted only when their time to live passes; cancel with PATCH or DELETE on the status monitor.",
        )
        .into()),
        ("backgroundoperations", None, Method::GET) => Err(ApiError::new(
            501,
            bgops_core::ErrorCode::NOT_SUPPORTED,
            "Querying the backgroundoperations collection is not available yet: read one row with backgroundoperations({id}) or poll the status monitor.",
        )
        .into()),
        ("backgroundoperations", None, _) => Err(ApiError::method_not_allowed(
            "Background operation rows are created only by submitting a custom API with 'Prefer: respond-async'.",
        )
        .into()),
        (custom_api::EXECUTE_BACKGROUND_OPERATION, None, Method::POST) => {
            let JsonObject(body) = JsonObject::from_req(req, &state).await?;
            custom_api::execute_background_operation(&state, &caller, &root, &headers, body).await
        }
        (name, None, Method::POST) => {
            let JsonObject(body) = JsonObject::from_req(req, &state).await?;
            custom_api::invoke(&state, &caller, &root, &headers, name, body).await
        }
        (name, _, _) => Err(ApiError::unknown_segment(name).into()),
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
