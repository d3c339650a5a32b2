//! The log side of verify: a small client for Loki's HTTP API (instant
//! queries of LogQL metric expressions, `/loki/api/v1/query`, whose answer
//! has Prometheus' vector shape; `/ready`), and the checks of the spec's
//! `[[log]]` signals and of the dashboards' Loki panels.
//!
//! Loki answers a rejected query with HTTP 400 and the reason as plain text
//! (not Prometheus' JSON error), which is reported as it comes.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;

use super::prom::{self, Sample};
use super::report::{QueryOutcome, SignalResult};
use super::spec::Signal;

/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The window a log panel's stream selector is counted over to check it.
pub const PANEL_WINDOW: &str = "10m";

/// What can go wrong asking Loki.
#[derive(Debug, thiserror::Error)]
pub enum LokiError {
    #[error("cannot reach Loki at {url}: {reason}")]
    Request { url: String, reason: String },
    /// Loki refused the query (HTTP 400: its parse or limits message).
    #[error("Loki refused the query (HTTP {status}): {message}")]
    Refused { status: u16, message: String },
    #[error("unexpected answer from Loki at {url} (HTTP {status}): {detail}")]
    Decode {
        url: String,
        status: u16,
        detail: String,
    },
}

/// A Loki server reached over HTTP.
#[derive(Clone)]
pub struct Loki {
    base: String,
    client: Client<HttpConnector, Empty<Bytes>>,
}

impl Loki {
    /// A client for the server at `base_url` (e.g. `http://127.0.0.1:3100`).
    pub fn new(base_url: &str) -> Loki {
        Loki {
            base: base_url.trim_end_matches('/').to_owned(),
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// Evaluates a LogQL metric expression now.
    pub async fn query(&self, logql: &str) -> Result<Vec<Sample>, LokiError> {
        let url = format!(
            "{}/loki/api/v1/query?query={}",
            self.base,
            prom::encode(logql)
        );
        let (status, body) = self.get(&url).await?;
        let decode = |detail: String| LokiError::Decode {
            url: self.base.clone(),
            status,
            detail,
        };
        if status != 200 {
            let text = String::from_utf8_lossy(&body);
            let message = text.trim().lines().next().unwrap_or("").to_owned();
            return Err(if (400..500).contains(&status) {
                LokiError::Refused { status, message }
            } else {
                decode(message)
            });
        }
        let v: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| decode(e.to_string()))?;
        if v["status"] != "success" {
            return Err(decode(format!("status {}", v["status"])));
        }
        prom::parse_result(&v["data"]).ok_or_else(|| decode("no vector result".into()))
    }

    async fn get(&self, url: &str) -> Result<(u16, Bytes), LokiError> {
        let failed = |reason: String| LokiError::Request {
            url: self.base.clone(),
            reason,
        };
        let uri: http::Uri = url.parse().map_err(|e| failed(format!("{e}")))?;
        let fetch = async {
            let resp = self
                .client
                .get(uri)
                .await
                .map_err(|e| failed(prom::innermost(&e)))?;
            let status = resp.status().as_u16();
            let body = resp.into_body().collect().await;
            let body = body.map_err(|e| failed(e.to_string()))?;
            Ok((status, body.to_bytes()))
        };
        tokio::time::timeout(REQUEST_TIMEOUT, fetch)
            .await
            .map_err(|_| failed(format!("no answer within {REQUEST_TIMEOUT:?}")))?
    }
}

/// Asks Loki for a log signal again and records the answer in `result`.
pub async fn check_signal(loki: &Loki, signal: &Signal, job: &str, result: &mut SignalResult) {
    result.query = super::check::subst_job(&signal.query, job);
    (result.values, result.error) = match loki.query(&result.query).await {
        Ok(samples) => (
            samples
                .iter()
                .map(|s| (s.label("instance").to_owned(), s.value))
                .collect(),
            None,
        ),
        Err(e) => (Default::default(), Some(e.to_string())),
    };
}

/// The metric query counting a log panel's lines in the last [`PANEL_WINDOW`].
pub fn panel_count(expr: &str) -> String {
    format!("sum(count_over_time({expr} [{PANEL_WINDOW}]))")
}

/// A log panel passes when its stream selectors matched lines in the last
/// [`PANEL_WINDOW`] (counted, since Loki's instant queries take only
/// metric expressions).
pub async fn check_panel(loki: &Loki, exprs: &[String]) -> QueryOutcome {
    let mut samples = 0;
    for expr in exprs {
        match loki.query(&panel_count(expr)).await {
            Ok(s) => samples += s.iter().filter(|s| s.value > 0.0).count(),
            Err(e) => {
                return QueryOutcome::Error {
                    fatal: matches!(e, LokiError::Refused { .. }),
                    message: e.to_string(),
                };
            }
        }
    }
    if samples > 0 {
        QueryOutcome::Ok { samples }
    } else {
        QueryOutcome::NoData
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_read_as_loki_said_them() {
        let e = LokiError::Refused {
            status: 400,
            message: "parse error at line 1, col 7: syntax error".into(),
        };
        assert_eq!(
            e.to_string(),
            "Loki refused the query (HTTP 400): parse error at line 1, col 7: syntax error"
        );
    }
}
