//! Verify's handling of Prometheus' HTTP API (`verify::prom`) against
//! arbitrary bytes.
//!
//! Properties: an answer gives data only when it is JSON whose `status` is
//! `success`; every refusal's message is one line (verify prints it as
//! one); targets and alerts are read from any `data` without a panic; a
//! vector answer built from the input gives back its labels and its values
//! bit for bit, and one value that is not a number refuses the whole
//! answer; the query
//! encoding leaves only unreserved characters and `%XX` and decodes back to
//! the query; a base URL `parse_base_url` accepts makes a valid request URI.

use serde_json::{Value, json};

use crate::verify::prom::{
    api_data, encode, parse_alert, parse_base_url, parse_result, parse_target,
};

/// The target's body.
pub fn check(data: &[u8]) {
    answer(data);
    vector_round_trip(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    encoding(text);
    if let Ok(base) = parse_base_url(text) {
        let url = format!("{base}/api/v1/query?query={}", encode(text));
        assert!(url.parse::<http::Uri>().is_ok(), "{url:?}");
    }
}

/// The input as an answer's body.
fn answer(body: &[u8]) {
    match api_data("http://prometheus", 200, body) {
        Ok(data) => {
            let whole: Value =
                serde_json::from_slice(body).expect("data from a body that is not JSON");
            assert_eq!(whole["status"], "success");
            if let Some(samples) = parse_result(&data) {
                if data["resultType"] == "vector" {
                    assert_eq!(Some(samples.len()), data["result"].as_array().map(Vec::len));
                } else {
                    assert_eq!(samples.len(), 1);
                }
            }
            for list in ["activeTargets", "alerts"] {
                for item in data[list].as_array().into_iter().flatten() {
                    parse_target(item);
                    parse_alert(item);
                }
            }
        }
        Err(err) => {
            let message = err.to_string();
            assert_eq!(message.lines().count(), 1, "not one line: {message:?}");
        }
    }
}

/// A vector answer built from the input, as Prometheus writes one: each
/// 8 bytes give a sample whose value is that f64 (formatted as Go's
/// `strconv.FormatFloat(v, 'f', -1, 64)` does, `+Inf`, `-Inf`, `NaN`) and
/// whose label is those bytes as text. It reads back bit for bit (any NaN
/// for NaN); with one more sample whose value is not a number, the whole
/// answer is refused rather than read in part.
fn vector_round_trip(data: &[u8]) {
    let samples: Vec<(String, f64)> = data
        .chunks_exact(8)
        .take(8)
        .map(|chunk| {
            let value = f64::from_le_bytes(chunk.try_into().unwrap());
            (String::from_utf8_lossy(chunk).into_owned(), value)
        })
        .collect();
    let sample =
        |label: &str, value: String| json!({"metric": {"l": label}, "value": [1.5, value]});
    let mut result: Vec<Value> = samples
        .iter()
        .map(|(label, value)| sample(label, prometheus_text(*value)))
        .collect();
    let read = |result: &[Value]| {
        let body = json!({"status": "success", "data": {"resultType": "vector", "result": result}});
        let data = api_data("http://prometheus", 200, body.to_string().as_bytes())
            .expect("a success answer refused");
        parse_result(&data)
    };
    let got = read(&result).expect("a vector of numbers refused");
    assert_eq!(got.len(), samples.len());
    for (sample, (label, value)) in got.iter().zip(&samples) {
        assert_eq!(sample.label("l"), label);
        assert!(
            sample.value.to_bits() == value.to_bits() || (sample.value.is_nan() && value.is_nan()),
            "{value:?} written as {:?} read as {:?}",
            prometheus_text(*value),
            sample.value
        );
    }
    result.push(sample("bad", "one".to_owned()));
    assert!(
        read(&result).is_none(),
        "an answer with a value that is not a number was read"
    );
}

/// `v` as Prometheus writes a sample value.
fn prometheus_text(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v == f64::INFINITY {
        "+Inf".to_owned()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        format!("{v}")
    }
}

fn encoding(text: &str) {
    let encoded = encode(text);
    let bytes = encoded.as_bytes();
    let mut decoded = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            assert!(
                hex.bytes()
                    .all(|h| h.is_ascii_digit() || (b'A'..=b'F').contains(&h)),
                "{encoded:?}"
            );
            decoded.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            assert!(
                b.is_ascii_alphanumeric() || b"-_.~".contains(&b),
                "{encoded:?}"
            );
            decoded.push(b);
            i += 1;
        }
    }
    assert_eq!(decoded, text.as_bytes());
}
