//! Request reading and response building shared by the handlers: bounded
//! JSON bodies, query strings, JSON responses and error responses.

use std::time::Duration;

use bytes::Bytes;
use http::header::{ALLOW, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::errors::ApiError;

/// The response type of every handler.
pub type Response = http::Response<Full<Bytes>>;

const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// A response with a JSON body.
pub fn json<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => with_body(status, JSON, body.into()),
        Err(_) => error(&ApiError::Internal),
    }
}

/// A response with a JSON body fixed at compile time.
pub fn json_static(status: StatusCode, body: &'static str) -> Response {
    with_body(status, JSON, Bytes::from_static(body.as_bytes()))
}

/// A response with the given content type and body.
pub fn with_body(status: StatusCode, content_type: HeaderValue, body: Bytes) -> Response {
    let mut response = http::Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, content_type);
    response
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: &'a str,
}

/// The JSON error response for `err`, with `Allow` on 405.
pub fn error(err: &ApiError) -> Response {
    let message = err.to_string();
    let body = ErrorBody {
        error: ErrorDetail {
            code: err.code(),
            message: &message,
        },
    };
    let body = serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = with_body(err.status(), JSON, body.into());
    if let Some(allow) = err.allow() {
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static(allow));
    }
    response
}

/// What a request body may take: its size and the time to arrive in full.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub max_bytes: usize,
    pub timeout: Duration,
}

/// The bytes of a JSON body within `limits`: 415 unless the content type
/// is `application/json`, 413 past the size (checked from `Content-Length`
/// first, then while reading), 408 when it has not arrived in full within
/// the timeout. [`decode_json`] decodes it.
pub async fn read_json_body(req: Request<Incoming>, limits: BodyLimits) -> Result<Bytes, ApiError> {
    let limit = limits.max_bytes;
    if !is_json(req.headers().get(CONTENT_TYPE)) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(ApiError::BodyTooLarge { limit });
    }
    let collect = Limited::new(req.into_body(), limit).collect();
    Ok(tokio::time::timeout(limits.timeout, collect)
        .await
        .map_err(|_| ApiError::BodyTimeout {
            timeout: limits.timeout,
        })?
        .map_err(|err| {
            if err.downcast_ref::<LengthLimitError>().is_some() {
                ApiError::BodyTooLarge { limit }
            } else {
                ApiError::MalformedRequest(format!("cannot read the body: {err}"))
            }
        })?
        .to_bytes())
}

/// Decodes a JSON body: 400 for bytes that are not JSON, 422 for JSON of
/// the wrong shape.
pub fn decode_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|err| match err.classify() {
        serde_json::error::Category::Data => ApiError::InvalidField(err.to_string()),
        _ => ApiError::MalformedJson(err.to_string()),
    })
}

fn is_json(value: Option<&HeaderValue>) -> bool {
    let Some(value) = value.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
}

/// The `key=value` pairs of a query string; no percent-decoding (the API
/// only takes integers).
pub fn query_pairs(query: Option<&str>) -> impl Iterator<Item = (&str, &str)> {
    query
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
}

/// Parses an integer query parameter within `min..=max`.
pub fn int_param(name: &str, value: &str, min: i64, max: i64) -> Result<i64, ApiError> {
    match value.parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::MalformedQuery(format!(
            "{name} must be an integer in {min}..={max}, got {:?}",
            truncate(value, 40)
        ))),
    }
}

/// At most `max` bytes of `s`, cut at a character boundary.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_parameters_are_accepted() {
        let ok = HeaderValue::from_static("Application/JSON; charset=utf-8");
        assert!(is_json(Some(&ok)));
        assert!(!is_json(Some(&HeaderValue::from_static("text/plain"))));
        assert!(!is_json(None));
    }

    #[test]
    fn query_pairs_split_on_ampersand_and_equals() {
        let pairs: Vec<_> = query_pairs(Some("limit=5&&before=9&flag")).collect();
        assert_eq!(pairs, [("limit", "5"), ("before", "9"), ("flag", "")]);
    }

    #[test]
    fn int_param_rejects_out_of_range_and_garbage() {
        assert_eq!(int_param("limit", "100", 1, 100).unwrap(), 100);
        assert!(int_param("limit", "101", 1, 100).is_err());
        assert!(int_param("limit", "x", 1, 100).is_err());
        assert!(int_param("limit", "", 1, 100).is_err());
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
