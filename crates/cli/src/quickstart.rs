//! `trainyard quickstart`: the whole loop on a fresh machine, in one command. It starts the
//! platform in process, makes an example model repository (a git repository whose
//! `trainyard.yaml` builds an image that trains with the built-in `gbdt`, so no Python is
//! needed) and synthetic data with a known signal, applies the pipeline, commits, and
//! follows the run: build → push → train → evaluate → register → deploy → a prediction.
//! Then new data arrives and the retraining run promotes (or refuses) a challenger while
//! requests keep flowing, none failing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::client::{Client, Error};

const PIPELINE: &str = "churn";
const BUCKET: &str = "quickstart-data";
/// Marks a data directory the quickstart made, so a later run may clear it.
const MARKER: &str = ".trainyard-quickstart";

/// The example repository's pipeline: `examples/quickstart/trainyard.yaml`, following
/// `repository`.
fn pipeline_file(repository: &Path) -> String {
    include_str!("../../../examples/quickstart/trainyard.yaml")
        .replace("git: REPOSITORY", &format!("git: {}", repository.display()))
}

/// Rows `label,x1,x2,x3`: the label is 1 when `x1 + x2 > 1` (with 5% of labels flipped);
/// `x3` is noise. Deterministic for a seed.
fn rows(count: usize, seed: u64) -> String {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 33) as f64) / (1u64 << 31) as f64
    };
    let mut text = String::new();
    for _ in 0..count {
        let (x1, x2, x3) = (next(), next(), next());
        let mut label = u8::from(x1 + x2 > 1.0);
        if next() < 0.05 {
            label = 1 - label;
        }
        text.push_str(&format!("{label},{x1:.4},{x2:.4},{x3:.4}\n"));
    }
    text
}

fn git(repository: &Path, args: &[&str]) -> Result<String, Error> {
    let output = Command::new("git")
        .arg("-C")
        .arg(repository)
        .args(args)
        .env("GIT_AUTHOR_NAME", "trainyard quickstart")
        .env("GIT_AUTHOR_EMAIL", "quickstart@trainyard.invalid")
        .env("GIT_COMMITTER_NAME", "trainyard quickstart")
        .env("GIT_COMMITTER_EMAIL", "quickstart@trainyard.invalid")
        .output()
        .map_err(|e| Error::Failure(format!("git is needed by the quickstart: {e}")))?;
    if !output.status.success() {
        return Err(Error::Failure(format!("git {args:?}: {}", String::from_utf8_lossy(&output.stderr))));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// The stage timer: prints each stage with how long it took.
struct Stages {
    started: Instant,
    last: Instant,
}

impl Stages {
    /// A stage done: its time is since the last stage.
    fn done(&mut self, what: &str) {
        let now = Instant::now();
        self.print(what, (now - self.last).as_secs_f64());
    }

    /// A run's step done: its time is its own (start to end, as the run records it).
    fn step(&mut self, what: &str, seconds: Option<f64>) {
        let now = Instant::now();
        self.print(what, seconds.unwrap_or((now - self.last).as_secs_f64()));
    }

    fn print(&mut self, what: &str, seconds: f64) {
        println!("  ✓ {what:<64} {seconds:>6.2}s");
        self.last = Instant::now();
    }
}

/// A step's duration from its recorded start and end.
fn step_seconds(step: &Value) -> Option<f64> {
    let time = |field: &str| step[field].as_str().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
    let (start, end) = (time("StartTime")?, time("EndTime")?);
    Some((end - start).num_milliseconds() as f64 / 1000.0)
}

/// What the platform spent of a run that was not training or evaluation compute.
fn overhead(run: &Value) -> Option<(f64, f64)> {
    let time = |v: &Value| v.as_str().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
    let steps = run["Steps"].as_array()?;
    let first = steps.iter().filter_map(|s| time(&s["StartTime"])).min()?;
    let last = steps.iter().filter_map(|s| time(&s["EndTime"])).max()?;
    let total = (last - first).num_milliseconds() as f64 / 1000.0;
    let compute: f64 =
        steps.iter().filter(|s| s["Step"] == "Training" || s["Step"] == "Evaluation").filter_map(step_seconds).sum();
    Some((total, total - compute))
}

pub async fn run(data_dir: Option<PathBuf>, exit: bool) -> Result<(), Error> {
    // Absolute from here on: the example repository's path goes into the pipeline spec,
    // which the server reads from its own working directory.
    let data_dir = std::path::absolute(data_dir.unwrap_or_else(|| PathBuf::from(".trainyard-quickstart")))
        .map_err(|e| Error::Usage(format!("the data directory: {e}")))?;
    if data_dir.join(MARKER).exists() {
        std::fs::remove_dir_all(&data_dir)
            .map_err(|e| Error::Failure(format!("clearing {}: {e}", data_dir.display())))?;
    }
    std::fs::create_dir_all(&data_dir).map_err(|e| Error::Failure(format!("{}: {e}", data_dir.display())))?;
    std::fs::write(data_dir.join(MARKER), "made by trainyard quickstart; it clears this directory when run again\n")
        .map_err(|e| Error::Failure(e.to_string()))?;
    let mut stages = Stages { started: Instant::now(), last: Instant::now() };
    let server = crate::embedded::EmbeddedServer::start(&data_dir).await?;
    let url = server.url();
    println!("trainyard quickstart: the platform is up at {url} (data in {})", data_dir.display());
    stages.done("platform started");
    let client = Client::new(Some(&url), None, &data_dir);
    let result = demo(&client, &data_dir, &mut stages).await;
    if result.is_ok() {
        println!();
        println!("endpoint   {url}/endpoints/{PIPELINE}/invocations   (KServe v2: {url}/v2/models/{PIPELINE}/infer)");
        println!("API        {url}/api/v1   (token: {})", data_dir.join("admin.token").display());
        println!("registry   {}/{PIPELINE}", url.trim_start_matches("http://"));
        println!("dashboard  {url}/ui/   (sign in with the token above)");
        println!("total      {:.1}s", stages.started.elapsed().as_secs_f64());
        if !exit {
            println!(
                "serving until Ctrl-C (export TRAINYARD_DATA_DIR={} to use the CLI against it)",
                data_dir.display()
            );
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    server.stop().await;
    result
}

async fn demo(client: &Client, data_dir: &Path, stages: &mut Stages) -> Result<(), Error> {
    let repository = data_dir.join("example-repository");
    std::fs::create_dir_all(&repository).map_err(|e| Error::Failure(e.to_string()))?;
    git(&repository, &["init", "--quiet", "--initial-branch", "main"])?;
    std::fs::write(repository.join("README.md"), "# churn\n\nA model trained by trainyard's built-in gbdt.\n")
        .map_err(|e| Error::Failure(e.to_string()))?;
    git(&repository, &["add", "."])?;
    git(&repository, &["commit", "--quiet", "-m", "start the churn model"])?;

    client.call(reqwest::Method::PUT, &format!("/buckets/{BUCKET}"), None).await?;
    for (prefix, count, seed) in [("train", 2000, 1), ("validation", 500, 2), ("test", 500, 3)] {
        let path = data_dir.join(format!("{prefix}.csv"));
        std::fs::write(&path, rows(count, seed)).map_err(|e| Error::Failure(e.to_string()))?;
        client.upload(&format!("/buckets/{BUCKET}/objects/churn/{prefix}/part-0.csv"), &path, "text/csv").await?;
    }
    stages.done("example repository and synthetic data (label = x1 + x2 > 1)");

    let spec = pipeline_file(&repository);
    let applied = client.post("/pipelines", &json!({"Spec": spec})).await?;
    let changes = applied["Changes"].as_array().cloned().unwrap_or_default();
    let created = changes.iter().filter(|c| c["Action"] == "create").count();
    let roles = changes.iter().filter(|c| c["Kind"] == "role").count();
    stages.done(&format!("pipeline applied ({created} resources: source, group, rules, functions, roles)"));
    println!(
        "  each step runs as its own least-privilege role ({roles} roles: one per function, one for the jobs; \
         `trainyard iam roles list`)"
    );

    std::fs::write(repository.join("trainyard.yaml"), &spec).map_err(|e| Error::Failure(e.to_string()))?;
    git(&repository, &["add", "."])?;
    git(&repository, &["commit", "--quiet", "-m", "add the pipeline"])?;
    let commit = git(&repository, &["rev-parse", "HEAD"])?;
    println!("  committed {} — the loop runs:", &commit[..12]);
    let first = follow(client, None, stages).await?;
    if first["Status"] != "Succeeded" {
        return Err(Error::Failure(format!("the first run ended {}: {}", first["Status"], first["Reason"])));
    }
    if let Some((total, platform)) = overhead(&first) {
        println!("  the run took {total:.2}s from the build's start to the live endpoint; {platform:.2}s of it the platform's own");
    }

    let row = "0.9,0.8,0.1";
    let (_, prediction) = invoke(client, row).await?;
    stages.done(&format!("prediction for x = [{row}]: {}", prediction.trim()));

    // New data while requests flow: the retraining run's deployment must fail none.
    let load = tokio::spawn(steady_load(client.clone()));
    let path = data_dir.join("train-1.csv");
    std::fs::write(&path, rows(2000, 4)).map_err(|e| Error::Failure(e.to_string()))?;
    client.upload(&format!("/buckets/{BUCKET}/objects/churn/train/part-1.csv"), &path, "text/csv").await?;
    stages.done("new data: s3://quickstart-data/churn/train/part-1.csv");
    let second = follow(client, Some(first["RunId"].as_str().unwrap_or_default()), stages).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    load.abort();
    let (sent, failed) = load_counts();
    match second["Status"].as_str() {
        Some("Succeeded") => {
            stages.done(&format!("challenger promoted and deployed; {sent} requests during it, {failed} failed"))
        }
        _ => stages.done(&format!(
            "challenger refused ({}); {sent} requests during it, {failed} failed",
            second["Reason"].as_str().unwrap_or("no reason")
        )),
    }
    if failed > 0 {
        return Err(Error::Failure(format!("{failed} of {sent} requests failed during the redeployment")));
    }
    if let Some((count, p50, p99)) = delivery_latency(client).await? {
        println!("  event → builtin function start: p50 {p50:.1} ms, p99 {p99:.1} ms over {count} deliveries");
    }
    Ok(())
}

/// From each pipeline event's ingestion to its function's first attempt, over the
/// quickstart's deliveries: (count, p50 ms, p99 ms).
async fn delivery_latency(client: &Client) -> Result<Option<(usize, f64, f64)>, Error> {
    let time = |v: &Value| v.as_str().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
    let mut latencies = Vec::new();
    let functions = client.get("/functions").await?;
    for function in functions["Functions"].as_array().into_iter().flatten() {
        let name = function["FunctionName"].as_str().unwrap_or_default();
        if !name.starts_with(&format!("{PIPELINE}-")) {
            continue;
        }
        let logs = client.get(&format!("/functions/{name}/logs?limit=100")).await?;
        for invocation in logs["Invocations"].as_array().into_iter().flatten() {
            let Some(event) = invocation["EventId"].as_str() else { continue };
            let described = client.get(&format!("/events/{event}")).await?;
            let ingested = time(&described["IngestionTime"]);
            let started = described["Deliveries"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|d| d["Attempts"].get(0).and_then(|a| time(&a["StartTime"])))
                .min();
            if let (Some(ingested), Some(started)) = (ingested, started) {
                latencies.push((started - ingested).num_microseconds().unwrap_or(0) as f64 / 1000.0);
            }
        }
    }
    if latencies.is_empty() {
        return Ok(None);
    }
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    Ok(Some((latencies.len(), at(0.5), at(0.99))))
}

/// Follows the newest run that is not `previous` until it ends, printing each step as it
/// completes.
async fn follow(client: &Client, previous: Option<&str>, stages: &mut Stages) -> Result<Value, Error> {
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut seen: Vec<String> = Vec::new();
    loop {
        if Instant::now() > deadline {
            return Err(Error::Failure("the run did not finish within 3 minutes".into()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let runs = client.get(&format!("/pipelines/{PIPELINE}/runs")).await?;
        let Some(id) = runs["Runs"].as_array().and_then(|r| r.first()).and_then(|r| r["RunId"].as_str()) else {
            continue;
        };
        if Some(id) == previous {
            continue;
        }
        let run = client.get(&format!("/pipeline-runs/{id}")).await?;
        for step in run["Steps"].as_array().into_iter().flatten() {
            let name = step["Step"].as_str().unwrap_or_default();
            let status = step["Status"].as_str().unwrap_or_default();
            let finished = !matches!(status, "InProgress" | "");
            let key = format!("{name}:{status}");
            if finished && !seen.contains(&key) {
                seen.push(key);
                let trigger = &run["Trigger"];
                let label = match (name, trigger["Type"].as_str()) {
                    // A retraining run trains the latest image once its window closes.
                    ("Image", Some("new_data")) => format!(
                        "retraining window closed ({} new object(s)); image {}",
                        trigger["Objects"],
                        step["Resource"].as_str().unwrap_or_default()
                    ),
                    _ => describe_step(step),
                };
                stages.step(&label, step_seconds(step));
            }
        }
        if !matches!(run["Status"].as_str(), Some("Running")) {
            return Ok(run);
        }
    }
}

fn describe_step(step: &Value) -> String {
    let text = |field: &str| step[field].as_str().unwrap_or_default().to_string();
    match text("Step").as_str() {
        "Build" => format!(
            "build {} of commit {}",
            text("Status").to_lowercase(),
            &text("Commit")[..text("Commit").len().min(12)]
        ),
        "Image" => format!("image pushed: {}", text("Resource")),
        "Training" => {
            let metrics: Vec<String> = step["Metrics"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|m| m["MetricName"].as_str().is_some_and(|n| n.ends_with("auc")))
                .map(|m| {
                    format!(
                        "{}={:.3}",
                        m["MetricName"].as_str().unwrap_or_default(),
                        m["Value"].as_f64().unwrap_or(0.0)
                    )
                })
                .collect();
            format!("training job {} {} {}", text("Resource"), text("Status").to_lowercase(), metrics.join(" "))
        }
        "Evaluation" => format!("evaluation {} {}", text("Resource"), text("Status").to_lowercase()),
        "Registration" => {
            let passed = step["GateDecision"]["Passed"]
                .as_bool()
                .map_or(String::new(), |p| format!(", gate {}", if p { "passed" } else { "failed" }));
            format!("registered {} {}{passed}", text("Resource"), text("Status"))
        }
        "Deployment" => format!(
            "deployment of {} to endpoint {}: {}",
            text("ModelPackage"),
            text("Resource"),
            text("Status").to_lowercase()
        ),
        other => format!("{other} {}", text("Status")),
    }
}

async fn invoke(client: &Client, row: &str) -> Result<(Option<String>, String), Error> {
    let path = format!("/endpoints/{PIPELINE}/invocations");
    client.invoke(&path, row.as_bytes().to_vec(), "text/csv", "application/json", None).await
}

static SENT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static FAILED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn load_counts() -> (u64, u64) {
    (SENT.load(std::sync::atomic::Ordering::Relaxed), FAILED.load(std::sync::atomic::Ordering::Relaxed))
}

/// Invokes the endpoint back to back until aborted, counting requests and failures.
async fn steady_load(client: Client) {
    loop {
        let answer = invoke(&client, "0.2,0.1,0.5").await;
        SENT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if answer.is_err() {
            FAILED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
