//! Every endpoint and error status of `srelab serve`, over real sockets,
//! on each store: a real SQLite file and a real PostgreSQL cluster.

mod common;

use common::backend::{Backend, TestDb};
use common::{HttpConn, Server, request};
use serde_json::{Value, json};

both_backends!(
    create_then_get_and_list_newest_first,
    list_paginates_by_keyset,
    bad_queries_are_400,
    unknown_id_and_route_are_404,
    wrong_and_unknown_methods_are_405_with_allow,
    bodies_are_checked_in_order_type_size_syntax_fields,
    oversized_body_without_content_length_is_413,
    huge_query_strings_are_rejected_and_the_server_lives_on,
    garbage_request_lines_are_rejected_and_the_server_lives_on,
    work_burns_cpu_within_range_only,
    probes_answer,
    keep_alive_serves_many_requests_on_one_connection,
);

fn server(backend: Backend) -> (TestDb, Server) {
    let db = TestDb::new(backend);
    let server = db.serve(&["--max-body-bytes", "1024"]);
    (db, server)
}

fn post(server: &Server, body: &str) -> common::Response {
    server.post_json("/api/items", body)
}

fn create_then_get_and_list_newest_first(backend: Backend) {
    let (_db, server) = server(backend);
    let created = post(&server, r#"{"name":"first","value":1.5}"#);
    assert_eq!(created.status, 201, "{}", created.text());
    let item = created.json();
    let id = item["id"].as_i64().unwrap();
    assert_eq!(
        created.header("location"),
        Some(format!("/api/items/{id}").as_str())
    );
    assert_eq!(created.header("content-type"), Some("application/json"));
    assert_eq!(item["name"], "first");
    assert_eq!(item["value"], 1.5);
    let created_at = item["created_at"].as_str().unwrap();
    time::OffsetDateTime::parse(created_at, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("created_at {created_at:?} is not RFC 3339: {e}"));

    let got = server.get(&format!("/api/items/{id}"));
    assert_eq!(got.status, 200);
    assert_eq!(got.json(), item);

    let second = post(&server, r#"{"name":"second"}"#).json();
    assert_eq!(second["value"], Value::Null);
    let list = server.get("/api/items").json();
    let ids: Vec<i64> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [second["id"].as_i64().unwrap(), id]);
}

fn list_paginates_by_keyset(backend: Backend) {
    let (_db, server) = server(backend);
    for i in 0..25 {
        assert_eq!(
            post(&server, &json!({"name": format!("n{i}")}).to_string()).status,
            201
        );
    }
    let page = |query: &str| -> Vec<i64> {
        let response = server.get(&format!("/api/items{query}"));
        assert_eq!(response.status, 200, "{}", response.text());
        response.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_i64().unwrap())
            .collect()
    };
    let first = page("");
    assert_eq!(first.len(), 20, "default limit");
    assert_eq!(first, (6..=25).rev().collect::<Vec<_>>());
    assert_eq!(page("?limit=3&before=6"), [5, 4, 3]);
    assert_eq!(page("?limit=100&before=3"), [2, 1]);
    assert_eq!(page("?limit=100&before=1"), Vec::<i64>::new());
}

fn bad_queries_are_400(backend: Backend) {
    let (_db, server) = server(backend);
    for query in [
        "?limit=0",
        "?limit=101",
        "?limit=abc",
        "?before=0",
        "?before=-1",
        "?limit=",
    ] {
        let response = server.get(&format!("/api/items{query}"));
        assert_eq!(response.status, 400, "{query}: {}", response.text());
        assert_eq!(response.error_code(), "malformed_query");
    }
    let response = server.get("/api/items/abc");
    assert_eq!(response.status, 400);
    assert_eq!(response.error_code(), "malformed_request");
}

fn unknown_id_and_route_are_404(backend: Backend) {
    let (_db, server) = server(backend);
    let response = server.get("/api/items/999");
    assert_eq!(response.status, 404);
    assert_eq!(response.error_code(), "item_not_found");
    for path in ["/nope", "/api/items/", "/api/items/1/extra", "/debug/panic"] {
        let response = server.get(path);
        assert_eq!(response.status, 404, "{path}");
        assert_eq!(response.error_code(), "not_found");
    }
}

fn wrong_and_unknown_methods_are_405_with_allow(backend: Backend) {
    let (_db, server) = server(backend);
    for (method, path, allow) in [
        ("DELETE", "/api/items", "GET, POST"),
        ("PUT", "/api/items/1", "GET"),
        ("POST", "/healthz", "GET"),
        ("BREW", "/api/items", "GET, POST"),
        ("PATCH", "/metrics", "GET"),
    ] {
        let response = request(server.addr, method, path, &[], b"");
        assert_eq!(response.status, 405, "{method} {path}");
        assert_eq!(response.header("allow"), Some(allow), "{method} {path}");
        assert_eq!(response.error_code(), "method_not_allowed");
    }
}

fn bodies_are_checked_in_order_type_size_syntax_fields(backend: Backend) {
    let (_db, server) = server(backend);
    let send = |headers: &[(&str, &str)], body: &[u8]| {
        request(server.addr, "POST", "/api/items", headers, body)
    };
    let json_type = [("Content-Type", "application/json")];
    type Case<'a> = (&'a [(&'a str, &'a str)], Vec<u8>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            &[],
            br#"{"name":"a"}"#.to_vec(),
            415,
            "unsupported_media_type",
        ),
        (
            &[("Content-Type", "text/plain")],
            br#"{"name":"a"}"#.to_vec(),
            415,
            "unsupported_media_type",
        ),
        (&json_type, vec![b' '; 1025], 413, "body_too_large"),
        (&json_type, b"{not json".to_vec(), 400, "malformed_json"),
        (&json_type, b"".to_vec(), 400, "malformed_json"),
        (
            &json_type,
            b"{\"name\":\"\xff\xfe\"}".to_vec(),
            400,
            "malformed_json",
        ),
        (&json_type, br#"{"name":1}"#.to_vec(), 422, "invalid_field"),
        (&json_type, br#"{"value":1}"#.to_vec(), 422, "invalid_field"),
        (&json_type, br#"{"name":""}"#.to_vec(), 422, "invalid_field"),
        (
            &json_type,
            br#"{"name":"a","value":"x"}"#.to_vec(),
            422,
            "invalid_field",
        ),
        (
            &json_type,
            br#"{"name":"a","other":1}"#.to_vec(),
            422,
            "invalid_field",
        ),
        (&json_type, br#"[1,2]"#.to_vec(), 422, "invalid_field"),
    ];
    for (headers, body, status, code) in cases {
        let response = send(headers, &body);
        let shown = String::from_utf8_lossy(&body[..body.len().min(40)]).into_owned();
        assert_eq!(response.status, status, "{shown}: {}", response.text());
        assert_eq!(response.error_code(), code, "{shown}");
    }
    let long_name = json!({"name": "x".repeat(201)}).to_string();
    assert_eq!(send(&json_type, long_name.as_bytes()).status, 422);
    let max_name = json!({"name": "é".repeat(200)}).to_string();
    assert_eq!(send(&json_type, max_name.as_bytes()).status, 201);
    let with_charset = [("Content-Type", "application/json; charset=utf-8")];
    assert_eq!(send(&with_charset, br#"{"name":"c"}"#).status, 201);
}

fn oversized_body_without_content_length_is_413(backend: Backend) {
    let (_db, server) = server(backend);
    let mut conn = HttpConn::connect(server.addr).unwrap();
    let chunk = "x".repeat(800);
    let raw = format!(
        "POST /api/items HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
         320\r\n{chunk}\r\n320\r\n{chunk}\r\n0\r\n\r\n"
    );
    let response = conn.send_raw(raw.as_bytes()).unwrap();
    assert_eq!(response.status, 413, "{}", response.text());
    assert_eq!(response.error_code(), "body_too_large");
}

fn huge_query_strings_are_rejected_and_the_server_lives_on(backend: Backend) {
    let (_db, server) = server(backend);
    let long = format!("/api/items?limit=5&pad={}", "a".repeat(20_000));
    let response = server.get(&long);
    assert_eq!(response.status, 414, "{}", response.text());
    assert_eq!(response.error_code(), "uri_too_long");
    // Past hyper's own limit (64 KiB) hyper answers a bare 414 itself.
    let huge = format!("/api/items?pad={}", "a".repeat(200_000));
    let mut conn = HttpConn::connect(server.addr).unwrap();
    let response = conn
        .send("GET", &huge, &[], b"", false)
        .expect("hyper answers a URI past its limit");
    assert_eq!(response.status, 414);
    assert_eq!(server.get("/healthz").status, 200);
}

fn garbage_request_lines_are_rejected_and_the_server_lives_on(backend: Backend) {
    let (_db, server) = server(backend);
    for raw in [
        &b"GET /api/items/\xff\xfe HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"[..],
        b"GET /api/items?limit=\xc3\x28 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        b"\x00\x01\x02 nonsense\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: t\r\nBad Header\r\n\r\n",
    ] {
        let mut conn = HttpConn::connect(server.addr).unwrap();
        let shown = String::from_utf8_lossy(raw);
        let response = conn
            .send_raw(raw)
            .unwrap_or_else(|e| panic!("no answer to {shown:?}: {e}"));
        assert_eq!(response.status, 400, "{shown:?}");
    }
    assert_eq!(server.get("/healthz").status, 200);
}

/// `/api/work?ms=N` burns CPU for N ms: the answer takes at least N ms and
/// the process's CPU time grows meanwhile (a sleep would not), on a server
/// with no background sampler; N outside 1..=1000 is refused.
fn work_burns_cpu_within_range_only(backend: Backend) {
    let db = TestDb::new(backend);
    let server = db.serve(&["--no-host-metrics"]);
    let cpu = || common::sample(&server.metrics(), "process_cpu_seconds_total").unwrap();
    let before = cpu();
    let sent = std::time::Instant::now();
    let response = server.get("/api/work?ms=500");
    let took = sent.elapsed();
    let burnt = cpu() - before;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["ms"], 500);
    assert!(response.json()["result"].is_u64());
    assert!(
        took >= std::time::Duration::from_millis(500),
        "answered after {took:?}"
    );
    assert!(burnt >= 0.01, "{burnt} s of CPU for 500 ms of work");
    assert_eq!(server.get("/api/work?ms=1").status, 200);
    for query in ["", "?ms=0", "?ms=1001", "?ms=x"] {
        let response = server.get(&format!("/api/work{query}"));
        assert_eq!(response.status, 400, "{query}");
        assert_eq!(response.error_code(), "malformed_query");
    }
}

fn probes_answer(backend: Backend) {
    let (_db, server) = server(backend);
    let health = server.get("/healthz");
    assert_eq!(
        (health.status, health.json()),
        (200, json!({"status": "ok"}))
    );
    let ready = server.get("/readyz");
    assert_eq!(
        (ready.status, ready.json()),
        (200, json!({"status": "ready"}))
    );
    let metrics = server.get("/metrics");
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
}

fn keep_alive_serves_many_requests_on_one_connection(backend: Backend) {
    let (_db, server) = server(backend);
    let mut conn = HttpConn::connect(server.addr).unwrap();
    for _ in 0..20 {
        let response = conn.send("GET", "/healthz", &[], b"", true).unwrap();
        assert_eq!(response.status, 200);
    }
}
