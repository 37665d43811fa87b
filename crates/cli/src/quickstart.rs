//! `trainyard quickstart`: the main job on a fresh machine, end to end, in one
//! command. It starts a server on a free local port, wires a function to a rule,
//! puts a matching and a non-matching event, waits for the delivery and shows it.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::oneshot;

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
    let flags = trainyard_server::Flags {
        data_dir: Some(data_dir.clone()),
        listen: Some("127.0.0.1:0".into()),
        ..Default::default()
    };
    let environment =
        std::env::vars().filter(|(k, _)| k.starts_with("TRAINYARD_") && k != "TRAINYARD_LISTEN").collect();
    let config = trainyard_server::Config::load(&flags, &environment).map_err(|e| Error::Usage(e.to_string()))?;
    let (stop, stopped) = oneshot::channel::<()>();
    let (ready, address) = oneshot::channel();
    let server = tokio::spawn(trainyard_server::run(
        config,
        Box::pin(async move {
            let _ = stopped.await;
        }),
        move |address| {
            let _ = ready.send(address);
        },
    ));
    let address = match address.await {
        Ok(address) => address,
        Err(_) => {
            let reason = match server.await {
                Ok(Err(e)) => e.to_string(),
                _ => "the server stopped".into(),
            };
            return Err(Error::Failure(format!("the server did not start: {reason}")));
        }
    };
    println!("1. server up at http://{address} (data in {})", data_dir.display());
    let client = Client::new(Some(&format!("http://{address}")), None, &data_dir);
    let result = demo(&client).await;
    let _ = stop.send(());
    let _ = server.await;
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
    Ok(())
}
