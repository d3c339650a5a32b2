//! A small client for Prometheus' HTTP API: instant queries, scrape
//! targets, active alerts, whether the server answers at all, and which of
//! its web pages exist. Built on hyper-util's legacy client; every request
//! has a timeout.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// How long one API request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// What can go wrong talking to Prometheus.
#[derive(Debug, thiserror::Error)]
pub enum PromError {
    /// The URL given for Prometheus (plus the API path) is not a valid URI.
    #[error("invalid Prometheus URL {url}: {source}")]
    Url {
        url: String,
        source: http::uri::InvalidUri,
    },
    /// Connecting or sending failed; `reason` is the innermost cause.
    #[error("cannot reach Prometheus at {url}: {reason}")]
    Request { url: String, reason: String },
    /// No answer in time.
    #[error("Prometheus at {url} did not answer within {REQUEST_TIMEOUT:?}")]
    Timeout { url: String },
    /// The body could not be read.
    #[error("reading the answer of {url}: {source}")]
    Body { url: String, source: hyper::Error },
    /// Prometheus answered with `"status": "error"` (e.g. a bad query).
    #[error("{error_type}: {error}")]
    Api { error_type: String, error: String },
    /// The answer is not what the API documents.
    #[error("unexpected answer from {url} (HTTP {status}): {detail}")]
    Decode {
        url: String,
        status: u16,
        detail: String,
    },
}

/// One sample of an instant query: its labels and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

impl Sample {
    /// The value of one label, or "" when absent.
    pub fn label(&self, name: &str) -> &str {
        self.labels.get(name).map_or("", String::as_str)
    }
}

/// One active scrape target as `/api/v1/targets` reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub job: String,
    pub instance: String,
    pub health: String,
    pub last_error: String,
    /// How often Prometheus scrapes it, when the API says.
    pub scrape_interval: Option<Duration>,
}

/// One alert as `/api/v1/alerts` reports it: its labels and `pending` or `firing`.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveAlert {
    pub labels: BTreeMap<String, String>,
    pub state: String,
}

/// A Prometheus server reached over HTTP.
#[derive(Clone)]
pub struct Prometheus {
    base: String,
    client: Client<HttpConnector, Empty<Bytes>>,
}

impl Prometheus {
    /// A client for the server at `base_url` (e.g. `http://127.0.0.1:9090`).
    pub fn new(base_url: &str) -> Self {
        Prometheus {
            base: base_url.trim_end_matches('/').to_owned(),
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// Evaluates `expr` at the current time and returns its samples.
    pub async fn query(&self, expr: &str) -> Result<Vec<Sample>, PromError> {
        self.query_path(format!("/api/v1/query?query={}", encode(expr)))
            .await
    }

    /// Evaluates `expr` at the time `at` (to the millisecond).
    pub async fn query_at(
        &self,
        expr: &str,
        at: std::time::SystemTime,
    ) -> Result<Vec<Sample>, PromError> {
        let secs = at
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        self.query_path(format!(
            "/api/v1/query?query={}&time={secs:.3}",
            encode(expr)
        ))
        .await
    }

    async fn query_path(&self, path: String) -> Result<Vec<Sample>, PromError> {
        let (url, status, body) = self.get(&path).await?;
        let data = api_data(&url, status, &body)?;
        parse_result(&data).ok_or_else(|| decode_error(&url, status, "no vector or scalar result"))
    }

    /// The active scrape targets.
    pub async fn targets(&self) -> Result<Vec<Target>, PromError> {
        let (url, status, body) = self.get("/api/v1/targets?state=active").await?;
        let data = api_data(&url, status, &body)?;
        let list = data["activeTargets"]
            .as_array()
            .ok_or_else(|| decode_error(&url, status, "no activeTargets"))?;
        Ok(list.iter().map(parse_target).collect())
    }

    /// The alerts now pending or firing (`/api/v1/alerts`); inactive ones are absent.
    pub async fn alerts(&self) -> Result<Vec<ActiveAlert>, PromError> {
        let (url, status, body) = self.get("/api/v1/alerts").await?;
        let data = api_data(&url, status, &body)?;
        let list = data["alerts"]
            .as_array()
            .ok_or_else(|| decode_error(&url, status, "no alerts"))?;
        Ok(list.iter().map(parse_alert).collect())
    }

    /// Waits until Prometheus answers a query, at most `limit`: a refused
    /// connection is asked again (Prometheus may be starting), an answer
    /// that is not Prometheus' API fails at once.
    pub async fn wait_reachable(&self, limit: Duration) -> Result<(), PromError> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let err = match tokio::time::timeout(left, self.query("vector(1)")).await {
                Ok(Ok(_)) => return Ok(()),
                Ok(Err(e @ (PromError::Request { .. } | PromError::Timeout { .. }))) => e,
                Ok(Err(e)) => return Err(e),
                Err(_) => PromError::Timeout {
                    url: self.base.clone(),
                },
            };
            if tokio::time::Instant::now() + Duration::from_millis(250) >= deadline {
                return Err(err);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The URL of a page of Prometheus' web UI that answers 200: `/PAGE`
    /// (Prometheus 3, and 2.x with the React UI), else `/classic/PAGE`
    /// (builds with only the classic UI, such as Debian's 2.42).
    pub async fn ui_page(&self, page: &str) -> Option<String> {
        for path in [format!("/{page}"), format!("/classic/{page}")] {
            let url = format!("{}{path}", self.base);
            if get_status(&url).await == Some(200) {
                return Some(url);
            }
        }
        None
    }

    async fn get(&self, path: &str) -> Result<(String, u16, Bytes), PromError> {
        let url = format!("{}{path}", self.base);
        let uri: http::Uri = url.parse().map_err(|source| PromError::Url {
            url: self.base.clone(),
            source,
        })?;
        let fetch = async {
            let resp = self.client.get(uri).await.map_err(|e| PromError::Request {
                url: self.base.clone(),
                reason: innermost(&e),
            })?;
            let status = resp.status().as_u16();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|source| PromError::Body {
                    url: url.clone(),
                    source,
                })?;
            Ok((url.clone(), status, body.to_bytes()))
        };
        tokio::time::timeout(REQUEST_TIMEOUT, fetch)
            .await
            .map_err(|_| PromError::Timeout {
                url: self.base.clone(),
            })?
    }
}

/// The HTTP status of a GET of `url`, or `None` when it cannot be fetched.
pub async fn get_status(url: &str) -> Option<u16> {
    let uri: http::Uri = url.parse().ok()?;
    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let resp = tokio::time::timeout(REQUEST_TIMEOUT, client.get(uri))
        .await
        .ok()?
        .ok()?;
    Some(resp.status().as_u16())
}

/// Checks a `--prometheus` URL: `http://HOST[:PORT][/PATH]`.
pub fn parse_base_url(s: &str) -> Result<String, String> {
    let uri: http::Uri = s
        .parse()
        .map_err(|e| format!("`{s}` is not a URL ({e}); e.g. http://127.0.0.1:9090"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some(other) => return Err(format!("`{s}`: {other}:// is not supported, only http://")),
        None => return Err(format!("`{s}` has no scheme; e.g. http://{s}")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("`{s}` has no host"));
    }
    if uri.query().is_some() {
        return Err(format!("`{s}`: give the base URL, without a query"));
    }
    Ok(s.trim_end_matches('/').to_owned())
}

/// The innermost cause of an error (for a refused connection: the OS
/// error, not "client error (Connect)").
pub(crate) fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// Percent-encodes a query parameter value (everything but unreserved characters).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn decode_error(url: &str, status: u16, detail: &str) -> PromError {
    PromError::Decode {
        url: url.to_owned(),
        status,
        detail: detail.to_owned(),
    }
}

/// The `data` member of a successful answer, or the API's error.
pub(crate) fn api_data(url: &str, status: u16, body: &[u8]) -> Result<Value, PromError> {
    let mut v: Value = serde_json::from_slice(body).map_err(|e| {
        let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        decode_error(url, status, &format!("{e}: {}", one_line(&text)))
    })?;
    match v["status"].as_str() {
        Some("success") => Ok(v["data"].take()),
        Some("error") => Err(PromError::Api {
            error_type: one_line(v["errorType"].as_str().unwrap_or("error")),
            error: one_line(v["error"].as_str().unwrap_or("")),
        }),
        _ => Err(decode_error(url, status, "no status member")),
    }
}

/// `text` with its control characters (line breaks among them) escaped,
/// so that an error quoting it stays one line (an HTML error page from a
/// proxy, a multi-line message).
fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Samples of a `vector` or `scalar` query result.
pub(crate) fn parse_result(data: &Value) -> Option<Vec<Sample>> {
    match data["resultType"].as_str()? {
        "vector" => data["result"]
            .as_array()?
            .iter()
            .map(|s| {
                let labels = s["metric"]
                    .as_object()?
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_owned()))
                    .collect();
                Some(Sample {
                    labels,
                    value: parse_value(&s["value"])?,
                })
            })
            .collect(),
        "scalar" => Some(vec![Sample {
            labels: BTreeMap::new(),
            value: parse_value(&data["result"])?,
        }]),
        _ => None,
    }
}

/// A `[timestamp, "value"]` pair's value; Prometheus spells infinities `+Inf`/`-Inf`.
fn parse_value(pair: &Value) -> Option<f64> {
    match pair.get(1)?.as_str()? {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        s => s.parse().ok(),
    }
}

pub(crate) fn parse_alert(a: &Value) -> ActiveAlert {
    let labels = a["labels"].as_object().map_or_else(BTreeMap::new, |m| {
        m.iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_owned()))
            .collect()
    });
    ActiveAlert {
        labels,
        state: a["state"].as_str().unwrap_or("").to_owned(),
    }
}

pub(crate) fn parse_target(t: &Value) -> Target {
    let s = |v: &Value| v.as_str().unwrap_or("").to_owned();
    Target {
        job: s(&t["labels"]["job"]),
        instance: s(&t["labels"]["instance"]),
        health: s(&t["health"]),
        last_error: s(&t["lastError"]),
        scrape_interval: t["scrapeInterval"]
            .as_str()
            .and_then(|d| humantime::parse_duration(d).ok()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_quoted_in_an_error_stays_on_one_line() {
        let page = b"<html>\n<body>502 Bad Gateway</body>\n</html>\n";
        let err = api_data("http://p", 502, page).unwrap_err().to_string();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(r"<html>\n<body>502"), "{err}");
        let api = br#"{"status":"error","errorType":"bad_data","error":"line 1\nline 2"}"#;
        let err = api_data("http://p", 400, api).unwrap_err().to_string();
        assert_eq!(err, r"bad_data: line 1\nline 2");
    }

    #[test]
    fn encodes_promql() {
        assert_eq!(encode(r#"up{job="a b"}"#), "up%7Bjob%3D%22a%20b%22%7D");
    }

    #[test]
    fn parses_vectors_scalars_and_specials() {
        let v: Value = serde_json::from_str(
            r#"{"resultType":"vector","result":[
                {"metric":{"instance":"a"},"value":[1,"2.5"]},
                {"metric":{},"value":[1,"+Inf"]}]}"#,
        )
        .unwrap();
        let s = parse_result(&v).unwrap();
        assert_eq!(s[0].label("instance"), "a");
        assert_eq!(s[0].value, 2.5);
        assert!(s[1].value.is_infinite());
        let v: Value =
            serde_json::from_str(r#"{"resultType":"scalar","result":[1,"NaN"]}"#).unwrap();
        assert!(parse_result(&v).unwrap()[0].value.is_nan());
    }

    #[test]
    fn base_urls() {
        assert_eq!(
            parse_base_url("http://127.0.0.1:9090/").unwrap(),
            "http://127.0.0.1:9090"
        );
        assert!(parse_base_url("http://monitor/prometheus").is_ok());
        for bad in [
            "not-a-url",
            "127.0.0.1:9090",
            "https://x",
            "http://",
            "http://x/?a=b",
        ] {
            assert!(parse_base_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn api_errors_are_reported() {
        let body = br#"{"status":"error","errorType":"bad_data","error":"parse error"}"#;
        let err = api_data("u", 400, body).unwrap_err();
        assert_eq!(err.to_string(), "bad_data: parse error");
    }
}
