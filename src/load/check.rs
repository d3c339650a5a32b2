//! What each kind of request sends and what counts as a correct answer.
//!
//! A wrong status, a body that is not the expected JSON, or a created item
//! that does not read back equal are "unexpected answers", counted apart from
//! transport errors (no answer at all).

use std::borrow::Cow;

use bytes::Bytes;
use http::StatusCode;
use serde_json::Value;

use super::{client::Answer, mix::Kind};

/// The result of one request, as the report and metrics count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The expected status and a correct body.
    Ok,
    /// An HTTP answer with another status than the kind expects.
    UnexpectedStatus,
    /// The expected status, but the body is not the expected JSON.
    InvalidBody,
    /// A read-back item differs from the item this run created.
    Mismatch,
    /// No HTTP answer: connect, protocol or timeout error.
    TransportError,
}

impl Outcome {
    /// Every outcome, in the order reports list them.
    pub const ALL: [Outcome; 5] = [
        Outcome::Ok,
        Outcome::UnexpectedStatus,
        Outcome::InvalidBody,
        Outcome::Mismatch,
        Outcome::TransportError,
    ];

    /// The label value in metrics and the key in reports.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::UnexpectedStatus => "unexpected_status",
            Outcome::InvalidBody => "invalid_body",
            Outcome::Mismatch => "mismatch",
            Outcome::TransportError => "transport_error",
        }
    }

    /// Position in [`Outcome::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// An item this run created, kept to check reads by id.
#[derive(Debug, Clone)]
pub struct Created {
    pub id: u64,
    pub item: Value,
}

/// The request of one kind: path and optional JSON body.
pub struct Plan {
    pub kind: Kind,
    /// Static for the fixed paths: no allocation per request.
    pub path: Cow<'static, str>,
    pub body: Option<Bytes>,
    /// For `get`: the item expected back. For `create`: the sent fields.
    pub expect: Option<Value>,
}

/// Plans a request; `get` reads back `created`, `create` names its item by `seq`.
pub fn plan(kind: Kind, seq: u64, work_ms: u32, created: Option<Created>) -> Plan {
    match (kind, created) {
        (Kind::List, _) => Plan {
            kind,
            path: Cow::Borrowed("/api/items"),
            body: None,
            expect: None,
        },
        (Kind::Get, Some(c)) => Plan {
            kind,
            path: Cow::Owned(format!("/api/items/{}", c.id)),
            body: None,
            expect: Some(c.item),
        },
        (Kind::Create, _) | (Kind::Get, None) => {
            let fields = serde_json::json!({ "name": format!("load-{seq}"), "value": (seq % 1000) as f64 / 4.0 });
            let body = Bytes::from(fields.to_string());
            Plan {
                kind: Kind::Create,
                path: Cow::Borrowed("/api/items"),
                body: Some(body),
                expect: Some(fields),
            }
        }
        (Kind::Work, _) => Plan {
            kind,
            path: Cow::Owned(format!("/api/work?ms={work_ms}")),
            body: None,
            expect: None,
        },
        (Kind::Health, _) => Plan {
            kind,
            path: Cow::Borrowed("/healthz"),
            body: None,
            expect: None,
        },
    }
}

fn expected_status(kind: Kind) -> StatusCode {
    match kind {
        Kind::Create => StatusCode::CREATED,
        _ => StatusCode::OK,
    }
}

/// Checks an answer; for a correct `create`, also returns the created item.
pub fn check(plan: &Plan, work_ms: u32, answer: &Answer) -> (Outcome, Option<Created>) {
    if answer.status != expected_status(plan.kind) {
        return (Outcome::UnexpectedStatus, None);
    }
    if plan.kind == Kind::Health {
        return (Outcome::Ok, None);
    }
    let Ok(body) = serde_json::from_slice::<Value>(&answer.body) else {
        return (Outcome::InvalidBody, None);
    };
    match plan.kind {
        Kind::List => (list_ok(&body), None),
        Kind::Work => (work_ok(&body, work_ms), None),
        Kind::Get => (get_ok(&body, plan.expect.as_ref()), None),
        Kind::Create => create_ok(body, plan.expect.as_ref(), answer.location.as_deref()),
        Kind::Health => (Outcome::Ok, None),
    }
}

fn verdict(ok: bool) -> Outcome {
    if ok {
        Outcome::Ok
    } else {
        Outcome::InvalidBody
    }
}

fn list_ok(body: &Value) -> Outcome {
    let items = body.get("items").and_then(Value::as_array);
    verdict(
        items
            .is_some_and(|items| items.len() <= 100 && items.iter().all(|i| i.get("id").is_some())),
    )
}

fn work_ok(body: &Value, work_ms: u32) -> Outcome {
    verdict(body.get("ms").and_then(Value::as_u64) == Some(u64::from(work_ms)))
}

fn get_ok(body: &Value, expect: Option<&Value>) -> Outcome {
    if body.get("id").and_then(Value::as_u64).is_none() {
        return Outcome::InvalidBody;
    }
    if Some(body) == expect {
        Outcome::Ok
    } else {
        Outcome::Mismatch
    }
}

fn create_ok(
    body: Value,
    sent: Option<&Value>,
    location: Option<&[u8]>,
) -> (Outcome, Option<Created>) {
    let Some(id) = body.get("id").and_then(Value::as_u64) else {
        return (Outcome::InvalidBody, None);
    };
    if body.get("created_at").and_then(Value::as_str).is_none() {
        return (Outcome::InvalidBody, None);
    }
    let sent_field = |field: &str| sent.and_then(|s| s.get(field));
    let name_ok = sent_field("name") == body.get("name");
    // Compared as numbers: `2.0` may come back as `2`.
    let value_ok =
        sent_field("value").and_then(Value::as_f64) == body.get("value").and_then(Value::as_f64);
    let located = location == Some(format!("/api/items/{id}").as_bytes());
    if !(name_ok && value_ok && located) {
        return (Outcome::Mismatch, None);
    }
    (Outcome::Ok, Some(Created { id, item: body }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str, location: Option<&str>) -> Answer {
        Answer {
            status: StatusCode::from_u16(status).unwrap(),
            location: location.map(|l| Bytes::copy_from_slice(l.as_bytes())),
            body: Bytes::copy_from_slice(body.as_bytes()),
        }
    }

    #[test]
    fn create_then_get_round_trip() {
        let p = plan(Kind::Create, 7, 10, None);
        let body = r#"{"id":3,"name":"load-7","value":1.75,"created_at":"2026-01-01T00:00:00Z"}"#;
        let (o, created) = check(&p, 10, &answer(201, body, Some("/api/items/3")));
        assert_eq!(o, Outcome::Ok);
        let created = created.unwrap();
        let g = plan(Kind::Get, 8, 10, Some(created.clone()));
        assert_eq!(g.path, "/api/items/3");
        assert_eq!(check(&g, 10, &answer(200, body, None)).0, Outcome::Ok);
        let other = body.replace("load-7", "load-8");
        assert_eq!(
            check(&g, 10, &answer(200, &other, None)).0,
            Outcome::Mismatch
        );
        assert_eq!(
            check(&g, 10, &answer(404, "{}", None)).0,
            Outcome::UnexpectedStatus
        );
        assert_eq!(
            check(&p, 10, &answer(201, body, Some("/api/items/4"))).0,
            Outcome::Mismatch
        );
    }

    #[test]
    fn list_and_work_bodies() {
        let l = plan(Kind::List, 1, 10, None);
        assert_eq!(
            check(&l, 10, &answer(200, r#"{"items":[{"id":1}]}"#, None)).0,
            Outcome::Ok
        );
        assert_eq!(
            check(&l, 10, &answer(200, "hello", None)).0,
            Outcome::InvalidBody
        );
        let w = plan(Kind::Work, 1, 10, None);
        assert_eq!(
            check(&w, 10, &answer(200, r#"{"ms":10,"result":1}"#, None)).0,
            Outcome::Ok
        );
        assert_eq!(
            check(&w, 10, &answer(500, "", None)).0,
            Outcome::UnexpectedStatus
        );
    }
}
