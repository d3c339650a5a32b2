//! Real HAProxy (the lab's one configuration) in front of real `srelab
//! serve` instances on one database: requests spread over the instances;
//! an instance killed under load is taken out within the check timing and
//! fails no more requests than the bound, none once it is out, and loses
//! no acknowledged write; a SIGTERM drain fails no request; a POST is
//! never sent twice, while a GET is (count rows, count arrivals).

mod common;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::backend::{Backend, TestDb};
use common::haproxy::{self, Haproxy};
use common::{HttpConn, Server, sample};
use nix::sys::signal::Signal;
use serde_json::json;
use srelab::lab::failover::Bound;
use srelab::lab::haproxy::Timing;

both_backends!(an_instance_killed_under_load_is_taken_out_within_the_bound);

/// Two instances on `db` and HAProxy in front of them (`s1`, `s2`).
fn two_behind_haproxy(db: &TestDb) -> (Server, Server, Haproxy) {
    let (a, b) = (db.serve(&[]), db.serve(&[]));
    let lb = haproxy::start(&[("s1", a.addr), ("s2", b.addr)]);
    (a, b, lb)
}

/// GETs of `/api/items` an instance answered with 200.
fn listed(server: &Server) -> f64 {
    let series = r#"http_requests_total{method="GET",route="/api/items",status="200"}"#;
    sample(&server.metrics(), series).unwrap_or(0.0)
}

#[test]
fn requests_spread_over_the_instances() {
    let db = TestDb::new(Backend::Sqlite);
    let (a, b, lb) = two_behind_haproxy(&db);
    let mut conn = HttpConn::connect(lb.addr).unwrap();
    for _ in 0..100 {
        let r = conn.send("GET", "/api/items", &[], b"", true).unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let (na, nb) = (listed(&a), listed(&b));
    assert_eq!(na + nb, 100.0, "every request reached one instance");
    // Round robin on one client connection: half each, give or take the
    // first request of the connection.
    assert!((45.0..=55.0).contains(&na), "s1 {na}, s2 {nb}");
}

/// One request of the test load, as the client saw it.
#[derive(Debug, Clone)]
struct Sent {
    at: Instant,
    post: bool,
    ok: bool,
    /// The item a 201 acknowledged (its id and name).
    acked: Option<(i64, String)>,
}

/// Clients sending GETs and POSTs through HAProxy, each at most one at a
/// time, together about [`Load::RATE`] per second, until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    sent: Arc<Mutex<Vec<Sent>>>,
    clients: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    const CLIENTS: u32 = 8;
    const RATE: u32 = 200;

    fn start(addr: SocketAddr) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(Mutex::new(Vec::new()));
        let next = Arc::new(AtomicU64::new(0));
        let every = Duration::from_secs(1) * Self::CLIENTS / Self::RATE;
        let clients = (0..Self::CLIENTS)
            .map(|_| {
                let (stop, sent, next) = (stop.clone(), sent.clone(), next.clone());
                std::thread::spawn(move || {
                    let mut conn = HttpConn::connect(addr).ok();
                    while !stop.load(Ordering::Relaxed) {
                        let at = Instant::now();
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let post = i % 2 == 0;
                        let name = format!("lb-{i}");
                        let body = json!({"name": name, "value": i}).to_string();
                        let answer = match conn.as_mut() {
                            None => None,
                            Some(c) if post => {
                                let json_type = [("Content-Type", "application/json")];
                                c.send("POST", "/api/items", &json_type, body.as_bytes(), true)
                                    .ok()
                            }
                            Some(c) => c.send("GET", "/api/items?limit=5", &[], b"", true).ok(),
                        };
                        let ok = answer
                            .as_ref()
                            .is_some_and(|r| r.status == if post { 201 } else { 200 });
                        let acked = answer.filter(|_| ok && post).map(|r| {
                            let item = r.json();
                            (item["id"].as_i64().unwrap(), name.clone())
                        });
                        if !ok {
                            // A failed request may leave the connection unusable.
                            conn = HttpConn::connect(addr).ok();
                        }
                        sent.lock().unwrap().push(Sent {
                            at,
                            post,
                            ok,
                            acked,
                        });
                        std::thread::sleep(every.saturating_sub(at.elapsed()));
                    }
                })
            })
            .collect();
        Load {
            stop,
            sent,
            clients,
        }
    }

    fn finish(self) -> Vec<Sent> {
        self.stop.store(true, Ordering::Relaxed);
        for c in self.clients {
            c.join().unwrap();
        }
        std::mem::take(&mut *self.sent.lock().unwrap())
    }

    fn failed_since(&self, since: Instant) -> usize {
        let sent = self.sent.lock().unwrap();
        sent.iter().filter(|s| s.at >= since && !s.ok).count()
    }
}

fn an_instance_killed_under_load_is_taken_out_within_the_bound(backend: Backend) {
    let db = TestDb::new(backend);
    let (mut a, _b, lb) = two_behind_haproxy(&db);
    let load = Load::start(lb.addr);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        load.failed_since(Instant::now() - Duration::from_secs(60)),
        0
    );

    let killed = Instant::now();
    a.guard.kill9();
    let timing = Timing::of_template();
    let detected = lb
        .wait_state("s1", "DOWN", Duration::from_secs(30))
        .expect("HAProxy never took the killed instance out");
    let down = Instant::now();
    std::thread::sleep(Duration::from_secs(2));
    let sent = load.finish();

    let failed = sent.iter().filter(|s| s.at >= killed && !s.ok).count() as u64;
    let failed_gets = sent
        .iter()
        .filter(|s| s.at >= killed && !s.ok && !s.post)
        .count();
    let after_down = sent.iter().filter(|s| s.at >= down && !s.ok).count();
    let bound = Bound::new(&timing, Load::RATE.into(), Load::CLIENTS);
    println!(
        "{backend:?}: taken out {detected:?} after kill -9 (limit {:?}); {failed} failed \
         ({failed_gets} GETs) of {} sent since, bound {} ({} in flight + {} before the first failed check)",
        timing.detection_limit(),
        sent.iter().filter(|s| s.at >= killed).count(),
        bound.total(),
        bound.in_flight,
        bound.before_check
    );
    assert!(
        detected <= timing.detection_limit(),
        "{detected:?} > {:?}",
        timing.detection_limit()
    );
    assert!(failed <= bound.total(), "{failed} > {}", bound.total());
    assert_eq!(after_down, 0, "requests failed after s1 was out");
    assert_eq!(failed_gets, 0, "a GET on the dead instance is resent");

    // Every acknowledged write is there, once; no name twice.
    let rows = db.rows();
    let acked: Vec<&(i64, String)> = sent.iter().filter_map(|s| s.acked.as_ref()).collect();
    for (id, name) in &acked {
        assert!(
            rows.iter().any(|r| r.0 == *id && r.1 == *name),
            "acknowledged item {id} {name} is missing"
        );
    }
    let mut names: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), rows.len(), "an item was stored twice");
    let posts = sent.iter().filter(|s| s.post).count();
    assert!(acked.len() <= rows.len() && rows.len() <= posts);
}

#[test]
fn a_sigterm_drain_fails_no_request() {
    let db = TestDb::new(Backend::Sqlite);
    let (mut a, _b, lb) = two_behind_haproxy(&db);
    let load = Load::start(lb.addr);
    std::thread::sleep(Duration::from_secs(2));
    let resent = lb.resent();

    let term = Instant::now();
    a.guard.signal(Signal::SIGTERM);
    let out = lb
        .wait_state("s1", "DOWN", Duration::from_secs(30))
        .expect("HAProxy never took the draining instance out");
    assert!(
        a.guard.wait_timeout(Duration::ZERO).is_none(),
        "s1 exited before HAProxy took it out: it did not drain"
    );
    let status = a
        .guard
        .wait_timeout(Duration::from_secs(30))
        .expect("s1 did not exit after its drain");
    let exited = term.elapsed();
    std::thread::sleep(Duration::from_secs(1));
    let sent = load.finish();
    let failed = sent.iter().filter(|s| s.at >= term && !s.ok).count();
    let during = sent.iter().filter(|s| s.at >= term).count();
    let resent = lb.resent() - resent;
    println!(
        "drain: out after {out:?}, exited ({status}) after {exited:?}; {failed} of {during} failed, {resent} resent"
    );
    assert!(status.success(), "{status}");
    assert_eq!(failed, 0, "the drain failed requests");
    assert_eq!(resent, 0, "HAProxy had to resend requests during the drain");
}

/// A server that answers `/readyz` (so HAProxy keeps it in) and closes
/// every other request's connection without a byte of answer, as an
/// instance crashing mid-request would; it counts each request it read.
fn crashing_server() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let log = log.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 0 {
                    let request = line.trim_end().to_owned();
                    // Headers up to the blank line, then the body: the
                    // whole request is read, so closing sends a FIN.
                    let mut length = 0;
                    loop {
                        let mut h = String::new();
                        if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                            break;
                        }
                        if let Some((k, v)) = h.split_once(':')
                            && k.eq_ignore_ascii_case("content-length")
                        {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    if request.starts_with("GET /readyz") {
                        let ok = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                        if stream.write_all(ok.as_bytes()).is_err() {
                            return;
                        }
                        line.clear();
                        continue;
                    }
                    log.lock().unwrap().push(request);
                    return; // closes the connection, no answer
                }
            });
        }
    });
    (addr, seen)
}

#[test]
fn a_post_is_never_sent_twice_but_a_get_is_resent() {
    let db = TestDb::new(Backend::Sqlite);
    let real = db.serve(&[]);
    let (crasher, seen) = crashing_server();
    let lb = haproxy::start(&[("real", real.addr), ("crasher", crasher)]);

    const N: usize = 20;
    let mut statuses = Vec::new();
    for i in 0..N {
        // A new client connection each time: round robin alternates.
        let body = json!({"name": format!("once-{i}"), "value": i}).to_string();
        let r = common::request(
            lb.addr,
            "POST",
            "/api/items",
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        );
        statuses.push(r.status);
    }
    let created = statuses.iter().filter(|s| **s == 201).count();
    let lost = statuses.iter().filter(|s| **s == 502).count();
    let crashed_posts = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.starts_with("POST"))
        .count();
    println!("POST: {statuses:?}; the crasher read {crashed_posts}");
    assert_eq!(created + lost, N, "only 201 and 502: {statuses:?}");
    assert!(
        lost > 0,
        "no POST reached the crashing server: {statuses:?}"
    );
    assert_eq!(
        crashed_posts, lost,
        "each POST the crasher dropped is answered 502, none resent to it"
    );
    assert_eq!(db.rows().len(), created, "rows = 201 answers: none resent");

    // The same crash on a GET: HAProxy resends it to the other server.
    let before = seen.lock().unwrap().len();
    for _ in 0..N {
        let r = common::request(lb.addr, "GET", "/api/items?limit=1", &[], b"");
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let crashed_gets = seen.lock().unwrap().len() - before;
    assert!(crashed_gets > 0, "no GET reached the crashing server");
    assert!(
        lb.resent() >= crashed_gets as u64,
        "HAProxy counted its resends"
    );
}
