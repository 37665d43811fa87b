//! The server under an outsider's attack, over raw sockets: idle and slow connections are
//! closed, connections past the limit wait, unauthenticated webhook bodies are bounded
//! one by one and in total, inference bodies wait their turn, and every refusal is JSON.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::process::ServerProcess;

fn address(server: &ServerProcess) -> String {
    server.url.trim_start_matches("http://").to_string()
}

fn connect(server: &ServerProcess) -> TcpStream {
    let stream = TcpStream::connect(address(server)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream
}

/// Reads until the server closes the connection (or the read timeout).
fn read_all(stream: &mut TcpStream) -> String {
    let mut text = Vec::new();
    let _ = stream.read_to_end(&mut text);
    String::from_utf8_lossy(&text).into_owned()
}

/// The JSON body of a whole `Connection: close` response.
fn json_body(response: &str) -> Value {
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {response}"))
}

fn health_request() -> &'static [u8] {
    b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
}

#[test]
fn idle_and_slow_connections_are_closed_and_the_limit_makes_new_ones_wait() {
    let dir = tempfile::tempdir().unwrap();
    let settings = [("TRAINYARD_HEADER_TIMEOUT_SECS", "1"), ("TRAINYARD_MAX_CONNECTIONS", "4")];
    let server = ServerProcess::start_with(dir.path(), &settings);

    // An idle connection is closed after the header timeout.
    let started = Instant::now();
    let mut idle = connect(&server);
    read_all(&mut idle);
    assert!(started.elapsed() < Duration::from_secs(5), "idle connection open for {:?}", started.elapsed());

    // A slowloris client, a header byte every 100 ms, is closed too.
    let started = Instant::now();
    let mut slow = connect(&server);
    let request = b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    for byte in request {
        if slow.write_all(&[*byte]).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(read_all(&mut slow).is_empty(), "a request with unfinished headers was answered");
    assert!(started.elapsed() < Duration::from_secs(8), "slow connection open for {:?}", started.elapsed());

    // At the limit, a new connection waits in the backlog until one closes.
    let held: Vec<TcpStream> = (0..4).map(|_| connect(&server)).collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut waiting = connect(&server);
    waiting.write_all(health_request()).unwrap();
    waiting.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    let mut first = [0u8; 1];
    assert!(waiting.read(&mut first).is_err(), "answered past the connection limit");
    drop(held);
    waiting.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let answer = read_all(&mut waiting);
    assert!(answer.contains("200 OK") && answer.contains("\"ok\""), "{answer}");
}

#[test]
fn unauthenticated_webhook_bodies_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path());
    let signature = format!("sha256={}", "0".repeat(64));

    // No signature: refused before the (never sent) body is read.
    let mut unsigned = connect(&server);
    unsigned
        .write_all(b"POST /hooks/github HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 5000000\r\n\r\n")
        .unwrap();
    let answer = read_all(&mut unsigned);
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert_eq!(json_body(&answer)["code"], "InvalidSignatureException");

    // Bodies held open by signed-looking requests take from one budget; past it, 503.
    let head = |length: usize| {
        format!(
            "POST /hooks/github HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Hub-Signature-256: {signature}\r\n\
             Content-Length: {length}\r\n\r\n"
        )
    };
    let chunk = vec![b'{'; 5 * 1024 * 1024];
    let mut holders = Vec::new();
    for _ in 0..3 {
        let mut holder = connect(&server);
        holder.write_all(head(6 * 1024 * 1024).as_bytes()).unwrap();
        holder.write_all(&chunk).unwrap();
        holders.push(holder);
    }
    std::thread::sleep(Duration::from_millis(500));
    let mut over = connect(&server);
    over.write_all(head(2 * 1024 * 1024).as_bytes()).unwrap();
    over.write_all(&vec![b'{'; 2 * 1024 * 1024]).unwrap();
    let answer = read_all(&mut over);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert_eq!(json_body(&answer)["code"], "ServiceUnavailable");
    drop(holders);

    // One body declared over the per-request limit: 413 before it is read, as JSON.
    let mut large = connect(&server);
    large.write_all(head(7 * 1024 * 1024).as_bytes()).unwrap();
    let answer = read_all(&mut large);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert_eq!(json_body(&answer)["code"], "PayloadTooLargeException");
}

#[test]
fn inference_bodies_wait_their_turn_and_oversized_ones_get_json() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start_with(dir.path(), &[("TRAINYARD_INFERENCE_CONCURRENCY", "1")]);
    let token = server.token();
    let head = |length: usize| {
        format!(
            "POST /endpoints/nowhere/invocations HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
             Authorization: Bearer {token}\r\nContent-Type: text/csv\r\nContent-Length: {length}\r\n\r\n"
        )
    };
    // The one slot is taken by a request whose body is still arriving.
    let mut first = connect(&server);
    first.write_all(head(10).as_bytes()).unwrap();
    first.write_all(b"1,2,").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let mut second = connect(&server);
    second.write_all(head(3).as_bytes()).unwrap();
    second.write_all(b"1,2").unwrap();
    second.set_read_timeout(Some(Duration::from_millis(700))).unwrap();
    let mut byte = [0u8; 1];
    assert!(second.read(&mut byte).is_err(), "a second inference ran beside the first");
    first.write_all(b"3,4,5\n").unwrap();
    for stream in [&mut first, &mut second] {
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    }
    let answer = read_all(&mut first);
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    let rest = read_all(&mut second);
    assert!(rest.starts_with("HTTP/1.1 404"), "{rest}");

    // Over SageMaker's 6 MB: 413 with the API's JSON error, on both protocols.
    for path in ["/endpoints/nowhere/invocations", "/v2/models/nowhere/infer"] {
        let length = 7 * 1024 * 1024;
        let mut large = connect(&server);
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
        );
        large.write_all(request.as_bytes()).unwrap();
        let answer = read_all(&mut large);
        assert!(answer.starts_with("HTTP/1.1 413"), "{path}: {answer}");
        let body = json_body(&answer);
        assert!(body.to_string().contains("larger than 6291456 bytes"), "{path}: {body}");
    }
}
