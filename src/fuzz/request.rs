//! The service's request side against arbitrary bytes: the request target
//! (before the first newline) and a `POST /api/items` body (after it).
//!
//! Properties: the target is cut into path and query as hyper does
//! (`http::Uri`); an accepted item id is positive, accepted `limit`,
//! `before` and `ms` are within their documented bounds; an accepted item
//! has 1 to 200 characters and a finite value, and round-trips unchanged
//! through the JSON the service answers with (what a GET returns); every
//! refusal is a 4xx whose body is the JSON error shape with its code.

use http_body_util::BodyExt;
use serde::Deserialize;

use crate::serve::app::parse_id;
use crate::serve::errors::ApiError;
use crate::serve::http as h;
use crate::serve::items::{self, MAX_LIMIT, MAX_NAME_CHARS};
use crate::serve::routes::{self, Route};
use crate::serve::store::Item;
use crate::serve::work::{self, MAX_MS};

/// The target's body.
pub fn check(data: &[u8]) {
    let (target, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    if let Ok(uri) = http::Uri::try_from(target) {
        check_target(uri.path(), uri.query());
    }
    check_body(body);
}

fn check_target(path: &str, query: Option<&str>) {
    let (route, id) = routes::resolve(path, routes::Optional::default());
    match (route, id) {
        (Route::Item, Some(raw)) => match parse_id(raw) {
            Ok(id) => assert!(id > 0, "{raw:?} gave id {id}"),
            Err(err) => refused(&err),
        },
        (Route::Item, None) => panic!("{path:?}: an item route without an id"),
        (_, Some(_)) => panic!("{path:?}: an id outside the item route"),
        _ => {}
    }
    match items::list_params(query) {
        Ok((before, limit)) => {
            assert!((1..=MAX_LIMIT).contains(&limit), "limit {limit}");
            assert!(before.is_none_or(|b| b >= 1), "before {before:?}");
        }
        Err(err) => refused(&err),
    }
    match work::ms_param(query) {
        Ok(ms) => assert!((1..=MAX_MS).contains(&ms), "ms {ms}"),
        Err(err) => refused(&err),
    }
}

/// What a client reads back from the service's JSON for an item.
#[derive(Deserialize)]
struct ReadBack {
    name: String,
    value: Option<f64>,
}

fn check_body(body: &[u8]) {
    let item = match items::new_item(body) {
        Ok(item) => item,
        Err(err) => return refused(&err),
    };
    let chars = item.name.chars().count();
    assert!((1..=MAX_NAME_CHARS).contains(&chars), "{chars} characters");
    assert!(item.value.is_none_or(f64::is_finite), "{:?}", item.value);
    let stored = Item {
        id: 1,
        name: item.name.clone(),
        value: item.value,
        created_at: "2026-01-01T00:00:00Z".into(),
    };
    let answered = serde_json::to_vec(&stored).expect("an item serializes");
    let back: ReadBack = serde_json::from_slice(&answered).expect("the answer parses");
    assert_eq!(back.name, item.name);
    assert_eq!(
        back.value.map(f64::to_bits),
        item.value.map(f64::to_bits),
        "value {:?} came back as {:?}",
        item.value,
        back.value
    );
}

/// A refusal is a 4xx with the JSON error shape and its code.
fn refused(err: &ApiError) {
    let status = err.status();
    assert!(status.is_client_error(), "{err}: {status}");
    let response = h::error(err);
    let body = super::ready(response.into_body().collect())
        .map(|collected| collected.to_bytes())
        .unwrap_or_else(|never| match never {});
    let json: serde_json::Value = serde_json::from_slice(&body).expect("error bodies are JSON");
    assert_eq!(json["error"]["code"], err.code());
    assert!(json["error"]["message"].is_string());
}
