//! `/admin/faults` on the service's own port (only with `--faults`):
//!
//! - `GET` lists the faults set now: `{"faults":[{"kind":"cpu","threads":2}]}`;
//! - `POST` with a fault as JSON sets it (replacing one of its kind);
//! - `DELETE` clears every fault, `DELETE ?kind=cpu` one kind.
//!
//! Each answers the list as it is afterwards. Mistakes get the service's
//! JSON errors: 400 for JSON that does not parse or an unknown `kind=`,
//! 422 for an unknown fault or a parameter out of bounds, 405 for another
//! method.

use http::{Method, Request, StatusCode};
use hyper::body::Incoming;
use serde::Serialize;

use super::{Fault, Faults, Kind};
use crate::serve::errors::ApiError;
use crate::serve::http::{self as h, Response};
use crate::serve::store::Store;

#[derive(Serialize)]
struct List {
    faults: Vec<Fault>,
}

/// Answers one request to `/admin/faults`.
pub async fn handle(
    faults: &Faults,
    store: &Store,
    req: Request<Incoming>,
    max_body_bytes: usize,
) -> Result<Response, ApiError> {
    match *req.method() {
        Method::GET => {}
        Method::POST => {
            let fault: Fault = h::read_json(req, max_body_bytes).await?;
            fault.check()?;
            let text = serde_json::to_string(&fault).unwrap_or_default();
            faults.set(fault, store).await?;
            tracing::info!(fault = %text, "fault set");
        }
        Method::DELETE => match kind_param(req.uri().query())? {
            Some(kind) => {
                faults.clear(kind);
                tracing::info!(kind = kind.name(), "fault cleared");
            }
            None => {
                faults.clear_all();
                tracing::info!("every fault cleared");
            }
        },
        _ => {
            return Err(ApiError::MethodNotAllowed {
                method: h::truncate(req.method().as_str(), 32).to_owned(),
                allow: "GET, POST, DELETE",
            });
        }
    }
    Ok(h::json(
        StatusCode::OK,
        &List {
            faults: faults.list(),
        },
    ))
}

/// The `kind=` of a DELETE, if given.
fn kind_param(query: Option<&str>) -> Result<Option<Kind>, ApiError> {
    let Some((_, name)) = h::query_pairs(query).find(|(k, _)| *k == "kind") else {
        return Ok(None);
    };
    Kind::from_name(name).map(Some).ok_or_else(|| {
        let known: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
        ApiError::MalformedQuery(format!(
            "kind must be one of {}, got {:?}",
            known.join(", "),
            h::truncate(name, 40)
        ))
    })
}
