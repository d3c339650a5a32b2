//! The items API: `POST /api/items`, `GET /api/items`, `GET /api/items/{id}`.

use http::header::{HeaderValue, LOCATION};
use http::{Request, StatusCode};
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};

use super::errors::ApiError;
use super::http::{self as h, Response};
use super::store::{Item, NewItem, Store};

/// Longest item name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Default and largest page size of `GET /api/items`.
pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;

/// The body of `POST /api/items`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateItem {
    name: String,
    #[serde(default)]
    value: Option<f64>,
}

impl CreateItem {
    fn validate(self) -> Result<NewItem, ApiError> {
        let chars = self.name.chars().count();
        if !(1..=MAX_NAME_CHARS).contains(&chars) {
            return Err(ApiError::InvalidField(format!(
                "name must have 1 to {MAX_NAME_CHARS} characters, has {chars}"
            )));
        }
        if self.value.is_some_and(|v| !v.is_finite()) {
            return Err(ApiError::InvalidField(
                "value must be a finite number".into(),
            ));
        }
        Ok(NewItem {
            name: self.name,
            value: self.value,
        })
    }
}

/// Decodes and validates the body of `POST /api/items` (400 or 422).
pub fn new_item(body: &[u8]) -> Result<NewItem, ApiError> {
    h::decode_json::<CreateItem>(body)?.validate()
}

/// `POST /api/items`: 201 with the stored item once it is committed.
pub async fn create(
    store: &Store,
    req: Request<Incoming>,
    body: h::BodyLimits,
) -> Result<Response, ApiError> {
    let item = new_item(&h::read_json_body(req, body).await?)?;
    let item = store.insert(item).await?;
    let mut response = h::json(StatusCode::CREATED, &item);
    if let Ok(location) = HeaderValue::try_from(format!("/api/items/{}", item.id)) {
        response.headers_mut().insert(LOCATION, location);
    }
    Ok(response)
}

#[derive(Serialize)]
struct Page {
    items: Vec<Item>,
}

/// `GET /api/items?limit=&before=`: newest first, keyset pagination.
pub async fn list(store: &Store, query: Option<&str>) -> Result<Response, ApiError> {
    let (before, limit) = list_params(query)?;
    let items = store.list(before, limit as u32).await?;
    Ok(h::json(StatusCode::OK, &Page { items }))
}

/// `before` and `limit` of `GET /api/items` (400 when out of range).
pub fn list_params(query: Option<&str>) -> Result<(Option<i64>, i64), ApiError> {
    let mut limit = DEFAULT_LIMIT;
    let mut before = None;
    for (key, value) in h::query_pairs(query) {
        match key {
            "limit" => limit = h::int_param("limit", value, 1, MAX_LIMIT)?,
            "before" => before = Some(h::int_param("before", value, 1, i64::MAX)?),
            _ => {}
        }
    }
    Ok((before, limit))
}

/// `GET /api/items/{id}`: 200 or 404.
pub async fn get(store: &Store, id: i64) -> Result<Response, ApiError> {
    match store.get(id).await? {
        Some(item) => Ok(h::json(StatusCode::OK, &item)),
        None => Err(ApiError::NoItem(id)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<NewItem, ApiError> {
        serde_json::from_str::<CreateItem>(json)
            .map_err(|e| ApiError::InvalidField(e.to_string()))?
            .validate()
    }

    #[test]
    fn names_are_counted_in_characters() {
        let ok = format!(r#"{{"name":"{}"}}"#, "é".repeat(200));
        assert_eq!(parse(&ok).unwrap().name.chars().count(), 200);
        let long = format!(r#"{{"name":"{}"}}"#, "é".repeat(201));
        assert!(matches!(parse(&long), Err(ApiError::InvalidField(_))));
        assert!(matches!(
            parse(r#"{"name":""}"#),
            Err(ApiError::InvalidField(_))
        ));
    }

    #[test]
    fn values_come_back_exactly_as_they_were_read() {
        // Found by the request fuzz target: serde_json's default float
        // parsing is not correctly rounded, so the shortest form the answer
        // prints could read back as a neighbouring number.
        let item = parse(r#"{"name":"a","value":1111111111111109110}"#).unwrap();
        let answered = serde_json::to_string(&item.value).unwrap();
        let back: Option<f64> = serde_json::from_str(&answered).unwrap();
        assert_eq!(
            back.map(f64::to_bits),
            item.value.map(f64::to_bits),
            "{answered}"
        );
    }

    #[test]
    fn value_is_optional_and_unknown_fields_are_rejected() {
        assert_eq!(parse(r#"{"name":"a"}"#).unwrap().value, None);
        assert_eq!(
            parse(r#"{"name":"a","value":1.5}"#).unwrap().value,
            Some(1.5)
        );
        assert!(parse(r#"{"name":"a","extra":1}"#).is_err());
    }
}
