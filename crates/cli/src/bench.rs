//! `trainyard bench bus`: the event bus under load, end to end over real HTTP.
//!
//! Starts a server on a temporary data directory and an HTTP sink in this process,
//! routes every event to the sink through one rule, then measures (1) put→target
//! latency one event at a time and (2) sustained end-to-end throughput with several
//! concurrent PutEvents callers. With `--replicas N`, N servers share the database
//! (PostgreSQL) and the callers take turns among them.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::routing::post;
use serde_json::{json, Value};
use tokio::sync::Notify;

use crate::client::{Client, Error};

struct Sink {
    base: Instant,
    /// (sent µs, received µs) per event.
    arrivals: Mutex<Vec<(u64, u64)>>,
    arrived: Notify,
}

async fn start_sink(base: Instant) -> Result<(String, Arc<Sink>), Error> {
    let sink = Arc::new(Sink { base, arrivals: Mutex::new(Vec::new()), arrived: Notify::new() });
    let app = axum::Router::new().route(
        "/",
        post({
            let sink = Arc::clone(&sink);
            move |body: String| async move {
                let received = sink.base.elapsed().as_micros() as u64;
                let event: Value = serde_json::from_str(&body).unwrap_or_default();
                let sent = event["detail"]["sent_us"].as_u64().unwrap_or(received);
                sink.arrivals.lock().map(|mut a| a.push((sent, received))).ok();
                sink.arrived.notify_waiters();
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| Error::Failure(e.to_string()))?;
    let url = format!("http://{}/", listener.local_addr().map_err(|e| Error::Failure(e.to_string()))?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((url, sink))
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index] as f64 / 1000.0
}

async fn wait_for(sink: &Sink, count: usize, limit: Duration) -> Result<(), Error> {
    let deadline = Instant::now() + limit;
    while sink.arrivals.lock().map(|a| a.len()).unwrap_or(0) < count {
        if Instant::now() > deadline {
            return Err(Error::Failure(format!(
                "only {} of {count} events arrived in time",
                sink.arrivals.lock().map(|a| a.len()).unwrap_or(0)
            )));
        }
        let _ = tokio::time::timeout(Duration::from_millis(50), sink.arrived.notified()).await;
    }
    Ok(())
}

pub async fn bus(events: usize, clients: usize, latency_samples: usize, replicas: usize) -> Result<(), Error> {
    let shared = std::env::var("TRAINYARD_DATABASE").is_ok_and(|url| url.starts_with("postgres"));
    if replicas == 0 || (replicas > 1 && !shared) {
        return Err(Error::Usage(format!(
            "--replicas {replicas}: one server, or several sharing TRAINYARD_DATABASE=postgres://…"
        )));
    }
    let dir = std::env::temp_dir().join(format!("trainyard-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (servers, replica_clients) = start_replicas(&dir, replicas).await?;
    let client = Arc::clone(&replica_clients[0]);
    let base = Instant::now();
    let (sink_url, sink) = start_sink(base).await?;
    client.post("/rules", &json!({"Name": "bench", "EventPattern": {"source": ["bench"]}})).await?;
    client.post("/rules/bench/targets", &json!({"Id": "sink", "HttpUrl": sink_url})).await?;
    let entry = |i: usize| json!({"Source": "bench", "DetailType": "Tick", "Detail": {"i": i, "sent_us": base.elapsed().as_micros() as u64}});

    // Phase 1: one event at a time.
    for i in 0..latency_samples {
        replica_clients[i % replicas].post("/events", &json!({"Entries": [entry(i)]})).await?;
        wait_for(&sink, i + 1, Duration::from_secs(10)).await?;
    }
    let mut latencies: Vec<u64> =
        sink.arrivals.lock().map(|a| a.iter().map(|(s, r)| r - s).collect()).unwrap_or_default();
    latencies.sort_unstable();
    println!(
        "put→target latency, one at a time ({} events): p50 {:.2} ms, p99 {:.2} ms",
        latencies.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99)
    );

    // Phase 2: sustained load from several callers, 10 entries per call.
    let before = latency_samples;
    let started = Instant::now();
    let per_client = events / clients.max(1) / 10;
    let mut callers = Vec::new();
    for c in 0..clients.max(1) {
        let client = Arc::clone(&replica_clients[c % replicas]);
        callers.push(tokio::spawn(async move {
            for b in 0..per_client {
                let entries: Vec<Value> = (0..10)
                    .map(|k| json!({"Source": "bench", "DetailType": "Tick", "Detail": {"i": (c * per_client + b) * 10 + k, "sent_us": base.elapsed().as_micros() as u64}}))
                    .collect();
                client.post("/events", &json!({"Entries": entries})).await?;
            }
            Ok::<(), Error>(())
        }));
    }
    for caller in callers {
        caller.await.map_err(|e| Error::Failure(e.to_string()))??;
    }
    let put_seconds = started.elapsed().as_secs_f64();
    let total = per_client * clients.max(1) * 10;
    wait_for(&sink, before + total, Duration::from_secs(300)).await?;
    let seconds = started.elapsed().as_secs_f64();
    let mut loaded: Vec<u64> =
        sink.arrivals.lock().map(|a| a[before..].iter().map(|(s, r)| r - s).collect()).unwrap_or_default();
    loaded.sort_unstable();
    println!("PutEvents: {total} events in {put_seconds:.2} s = {:.0} events/s accepted", total as f64 / put_seconds);
    println!("end to end: {total} events delivered in {seconds:.2} s = {:.0} events/s", total as f64 / seconds);
    println!(
        "put→target latency under load: p50 {:.1} ms, p99 {:.1} ms",
        percentile(&loaded, 0.5),
        percentile(&loaded, 0.99)
    );
    for server in servers {
        server.stop().await;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// `count` servers under `dir` (`r1`, `r2`, …) and a client of each: the first makes the
/// admin token and master key, the others get copies (replicas share them).
async fn start_replicas(
    dir: &std::path::Path,
    count: usize,
) -> Result<(Vec<crate::embedded::EmbeddedServer>, Vec<Arc<Client>>), Error> {
    let (mut servers, mut clients) = (Vec::new(), Vec::new());
    for n in 1..=count {
        let data_dir = dir.join(format!("r{n}"));
        if n > 1 {
            std::fs::create_dir_all(&data_dir).map_err(|e| Error::Failure(format!("{}: {e}", data_dir.display())))?;
            for file in ["admin.token", "master.key"] {
                std::fs::copy(dir.join("r1").join(file), data_dir.join(file))
                    .map_err(|e| Error::Failure(format!("{file}: {e}")))?;
            }
        }
        let server = crate::embedded::EmbeddedServer::start(&data_dir).await?;
        clients.push(Arc::new(Client::new(Some(&server.url()), None, &data_dir)));
        servers.push(server);
    }
    Ok((servers, clients))
}

/// `trainyard bench rules`: `count` rules created one `POST /rules` at a time (each with
/// its own pattern, the mix a platform's pipelines make), the cost of a create per tenth
/// of the way, then one event routed among them all.
pub async fn rules(count: usize) -> Result<(), Error> {
    let dir = std::env::temp_dir().join(format!("trainyard-bench-rules-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let server = crate::embedded::EmbeddedServer::start(&dir).await?;
    let client = Client::new(Some(&server.url()), None, &dir);
    let started = Instant::now();
    let step = (count / 10).max(1);
    let mut window = Instant::now();
    let mut rows = Vec::new();
    for i in 0..count {
        let pattern = json!({"source": ["bench"], "detail": {"order": {"id": [format!("o-{i}")]}, "total": [{"numeric": [">", i % 1000]}]}});
        client.post("/rules", &json!({"Name": format!("rule-{i}"), "EventPattern": pattern})).await?;
        if (i + 1) % step == 0 {
            let per_create = window.elapsed().as_secs_f64() * 1000.0 / step as f64;
            rows.push((i + 1, per_create));
            println!("{:>8} rules: {per_create:.3} ms per create (the last {step})", i + 1);
            window = Instant::now();
        }
    }
    let total = started.elapsed().as_secs_f64();
    println!("{count} rules created in {total:.1} s = {:.0} creates/s", count as f64 / total);
    if let (Some(first), Some(last)) = (rows.first(), rows.last()) {
        println!("last tenth / first tenth per create: {:.2}x", last.1 / first.1);
    }
    let probe = json!({"Entries": [{"Source": "bench", "DetailType": "Order", "Detail": {"order": {"id": format!("o-{}", count / 2)}, "total": 5000}}]});
    let put = Instant::now();
    let answer = client.post("/events", &probe).await?;
    let id = answer["Entries"][0]["EventId"].as_str().unwrap_or_default().to_string();
    let event = client.get(&format!("/events/{id}")).await?;
    println!(
        "one event routed among {count} rules in {:.2} ms: matched {}",
        put.elapsed().as_secs_f64() * 1000.0,
        event["MatchedRules"]
    );
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// `trainyard bench ceiling`: an HTTP server that answers every POST with a constant
/// prediction and does nothing else — the ceiling an inference server on this machine can
/// approach (docs/benchmarks.md).
pub async fn ceiling(listen: &str) -> Result<(), Error> {
    let app = axum::Router::new()
        .fallback(post(|| async { ([("content-type", "application/json")], "{\"predictions\":[1]}") }));
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| Error::Usage(format!("cannot listen on {listen}: {e}")))?;
    let address = listener.local_addr().map_err(|e| Error::Failure(e.to_string()))?;
    println!("ceiling listening on http://{address}");
    axum::serve(listener, app).await.map_err(|e| Error::Failure(e.to_string()))
}
