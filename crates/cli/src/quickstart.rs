//! `trainyard quickstart`: the main job on a fresh machine, end to end, in one
//! command. It starts a server on a free local port, wires a function to a rule,
//! puts a matching and a non-matching event, waits for the delivery and shows it.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::client::{Client, Error};
use crate::output;

const FUNCTION: &str = "quickstart-order-handler";
const RULE: &str = "quickstart-big-orders";
const COMMAND: &str =
    r#"event=$(cat); echo "handling order event $TRAINYARD_EVENT_ID" >&2; printf '{"handled": %s}' "$event""#;

/// Treats "already exists" as success so the quickstart can run again.
async fn ensure(client: &Client, path: &str, body: Value) -> Result<(), Error> {
    match client.post(path, &body).await {
        Ok(_) => Ok(()),
        Err(Error::Usage(message)) if message.starts_with("ResourceAlreadyExists") => Ok(()),
        Err(e) => Err(e),
    }
}

pub async fn run(data_dir: Option<PathBuf>) -> Result<(), Error> {
    let started = Instant::now();
    let data_dir = data_dir.unwrap_or_else(|| PathBuf::from(".trainyard-quickstart"));
    let server = crate::embedded::EmbeddedServer::start(&data_dir).await?;
    let address = server.address;
    println!("1. server up at http://{address} (data in {})", data_dir.display());
    let client = Client::new(Some(&server.url()), None, &data_dir);
    let result = demo(&client).await;
    server.stop().await;
    result?;
    println!(
        "done in {:.1}s. Run `trainyard server --data-dir {}` to keep it running.",
        started.elapsed().as_secs_f64(),
        data_dir.display()
    );
    Ok(())
}

async fn demo(client: &Client) -> Result<(), Error> {
    ensure(client, "/functions", json!({"FunctionName": FUNCTION, "Command": COMMAND, "Timeout": 10})).await?;
    let pattern = json!({"source": ["quickstart.shop"], "detail": {"total": [{"numeric": [">", 100]}]}});
    ensure(client, "/rules", json!({"Name": RULE, "EventPattern": pattern})).await?;
    client.post(&format!("/rules/{RULE}/targets"), &json!({"Id": FUNCTION, "FunctionName": FUNCTION})).await?;
    println!("2. function {FUNCTION} receives events matching rule {RULE}: {pattern}");

    let entries = json!({"Entries": [
        {"Source": "quickstart.shop", "DetailType": "Order Placed", "Detail": {"order": "A-1", "total": 250}},
        {"Source": "quickstart.shop", "DetailType": "Order Placed", "Detail": {"order": "A-2", "total": 20}},
    ]});
    let put_at = Instant::now();
    let answer = client.post("/events", &entries).await?;
    let ids: Vec<String> = answer["Entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["EventId"].as_str().map(str::to_string))
        .collect();
    let [big, small] = ids.as_slice() else {
        return Err(Error::Failure(format!("PutEvents did not accept both events: {answer}")));
    };
    println!("3. put order A-1 (total 250) as {big} and order A-2 (total 20) as {small}");

    let deadline = Instant::now() + Duration::from_secs(30);
    let described = loop {
        let described = client.get(&format!("/events/{big}")).await?;
        let state = described["Deliveries"][0]["State"].as_str().unwrap_or("");
        if state == "succeeded" || state == "dead" || Instant::now() > deadline {
            break described;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let delivery = &described["Deliveries"][0];
    let other = client.get(&format!("/events/{small}")).await?;
    println!(
        "4. A-1 matched {} and was delivered ({}) in {} ms after the put; A-2 matched {}",
        output::cell(described.get("MatchedRules")),
        output::cell(delivery.get("State")),
        put_at.elapsed().as_millis(),
        output::cell(other.get("MatchedRules")),
    );
    let logs = client.get(&format!("/functions/{FUNCTION}/logs?limit=1")).await?;
    let last = &logs["Invocations"][0];
    println!("5. the function logged: {}", output::cell(last.get("Logs")).trim());
    println!("   and returned: {}", output::cell(last.get("Result")));
    if delivery["State"] != "succeeded" {
        return Err(Error::Failure(format!("the delivery did not succeed: {delivery}")));
    }
    train(client).await
}

/// Two noisy blobs as CSV (label first, no header), deterministic.
fn blobs(rows: usize, seed: u64) -> String {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 33) as f64) / (1u64 << 31) as f64
    };
    (0..rows)
        .map(|i| {
            let label = i % 2;
            let shift = if label == 1 { 0.45 } else { 0.0 };
            format!("{label},{:.4},{:.4},{:.4}\n", next() + shift, next() * 2.0 - shift, next())
        })
        .collect()
}

/// Uploads a data set and trains the built-in gradient-boosted trees on it.
async fn train(client: &Client) -> Result<(), Error> {
    ensure_put(client, "/buckets/quickstart-data").await?;
    for (channel, rows, seed) in [("train", 2000, 7), ("validation", 500, 8)] {
        let path = format!("/buckets/quickstart-data/objects/blobs/{channel}/part-0.csv");
        let file = std::env::temp_dir().join(format!("trainyard-quickstart-{channel}-{}.csv", std::process::id()));
        std::fs::write(&file, blobs(rows, seed)).map_err(|e| Error::Failure(format!("{}: {e}", file.display())))?;
        let uploaded = client.upload(&path, &file, "text/csv").await;
        let _ = std::fs::remove_file(&file);
        uploaded?;
    }
    println!("6. uploaded s3://quickstart-data/blobs/{{train,validation}}/part-0.csv");
    let name = format!("quickstart-gbdt-{}", chrono::Utc::now().format("%Y%m%d%H%M%S"));
    let request = json!({
        "TrainingJobName": name,
        "AlgorithmSpecification": {"AlgorithmName": "gbdt", "TrainingInputMode": "File"},
        "HyperParameters": {"objective": "binary:logistic", "num_round": "50", "max_depth": "4", "eta": "0.2"},
        "InputDataConfig": [
            {"ChannelName": "train", "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://quickstart-data/blobs/train/"}}},
            {"ChannelName": "validation", "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://quickstart-data/blobs/validation/"}}}
        ],
        "OutputDataConfig": {"S3OutputPath": "s3://quickstart-data/models"},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600}
    });
    let started = Instant::now();
    client.post("/training-jobs", &request).await?;
    let job = loop {
        let job = client.get(&format!("/training-jobs/{name}")).await?;
        if matches!(job["TrainingJobStatus"].as_str(), Some("Completed" | "Failed" | "Stopped")) {
            break job;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    if job["TrainingJobStatus"] != "Completed" {
        return Err(Error::Failure(format!(
            "training job {name} ended {}: {}",
            job["TrainingJobStatus"],
            output::cell(job.get("FailureReason"))
        )));
    }
    let steps: Vec<String> = job["SecondaryStatusTransitions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["Status"].as_str().map(str::to_string))
        .collect();
    println!("7. training job {name}: {} in {:.1}s", steps.join(" → "), started.elapsed().as_secs_f64());
    let metrics: Vec<String> = job["FinalMetricDataList"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["MetricName"].as_str().is_some_and(|n| n.starts_with("validation:")))
        .map(|m| format!("{}={:.4}", output::cell(m.get("MetricName")), m["Value"].as_f64().unwrap_or(f64::NAN)))
        .collect();
    println!("   metrics: {}", metrics.join(" "));
    println!("   model: {}", output::cell(job.pointer("/ModelArtifacts/S3ModelArtifacts")));
    let events = client.get("/events?source=aws.sagemaker&limit=100").await?;
    let count = events["Events"]
        .as_array()
        .map_or(0, |e| e.iter().filter(|e| e["Event"]["detail"]["TrainingJobName"] == name.as_str()).count());
    println!("   {count} 'SageMaker Training Job State Change' events on the bus");
    Ok(())
}

async fn ensure_put(client: &Client, path: &str) -> Result<(), Error> {
    match client.call(reqwest::Method::PUT, path, None).await {
        Ok(_) => Ok(()),
        Err(Error::Usage(message)) if message.starts_with("ResourceAlreadyExists") => Ok(()),
        Err(e) => Err(e),
    }
}
