//! The service's request errors and their one mapping to an HTTP status and
//! the JSON body `{"error":{"code":"…","message":"…"}}`.

use http::StatusCode;

use super::store::StoreError;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no route for {0}")]
    NoRoute(String),
    #[error("no item with id {0}")]
    NoItem(i64),
    #[error("method {method} not allowed here; allowed: {allow}")]
    MethodNotAllowed { method: String, allow: &'static str },
    #[error("request body larger than {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("request URI longer than {limit} bytes")]
    UriTooLong { limit: usize },
    #[error("content type must be application/json")]
    UnsupportedMediaType,
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    #[error("malformed query: {0}")]
    MalformedQuery(String),
    #[error("malformed request: {0}")]
    MalformedRequest(String),
    #[error("invalid field: {0}")]
    InvalidField(String),
    #[error("database unavailable: {0}")]
    Store(#[from] StoreError),
    #[error("shutting down: draining before the instance stops")]
    Draining,
    #[error("fault injected through /admin/faults")]
    InjectedFault,
    #[error("internal error")]
    Internal,
}

impl ApiError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::NoRoute(_) | ApiError::NoItem(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UriTooLong { .. } => StatusCode::URI_TOO_LONG,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::MalformedJson(_)
            | ApiError::MalformedQuery(_)
            | ApiError::MalformedRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::InvalidField(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Store(_) | ApiError::Draining => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::InjectedFault | ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::NoRoute(_) => "not_found",
            ApiError::NoItem(_) => "item_not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::BodyTooLarge { .. } => "body_too_large",
            ApiError::UriTooLong { .. } => "uri_too_long",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::MalformedJson(_) => "malformed_json",
            ApiError::MalformedQuery(_) => "malformed_query",
            ApiError::MalformedRequest(_) => "malformed_request",
            ApiError::InvalidField(_) => "invalid_field",
            ApiError::Store(StoreError::Busy) => "database_busy",
            ApiError::Store(_) => "database_unavailable",
            ApiError::Draining => "draining",
            ApiError::InjectedFault => "injected_fault",
            ApiError::Internal => "internal",
        }
    }

    /// The `Allow` header value for 405 responses.
    pub fn allow(&self) -> Option<&'static str> {
        match self {
            ApiError::MethodNotAllowed { allow, .. } => Some(allow),
            _ => None,
        }
    }
}
