//! One function per command: parse flags into a request, call the API, print.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};

use crate::args::*;
use crate::client::{bus_query, data_dir, encode, Client, Error};
use crate::{output, time};

/// Parses a JSON argument, naming the flag when it is not JSON.
fn json_arg(flag: &str, text: &str) -> Result<Value, Error> {
    serde_json::from_str(text).map_err(|e| Error::Usage(format!("--{flag} is not valid JSON: {e}")))
}

fn pairs(flag: &str, items: &[String]) -> Result<BTreeMap<String, String>, Error> {
    items
        .iter()
        .map(|item| {
            item.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| Error::Usage(format!("--{flag} {item:?}: expected KEY=VALUE")))
        })
        .collect()
}

pub async fn run(cli: Cli) -> Result<(), Error> {
    let dir = data_dir(cli.data_dir.as_deref());
    let out = match (cli.output, &cli.command) {
        (out, Command::Runtime(_)) => out,
        (Output::Jsonl, _) => Output::Json,
        (Output::Csv, _) => return Err(Error::Usage("--output csv is only for `runtime predict`".into())),
        (out, _) => out,
    };
    let resolved = Client::from_cli(cli.endpoint.as_deref(), cli.token.as_deref(), cli.profile.as_deref(), &dir);
    let client = || resolved.clone();
    match cli.command {
        Command::Server { listen, aws_listen, object_store, database } => {
            server(dir.clone(), listen, aws_listen, object_store, database).await
        }
        Command::Data(command) => crate::data::run(&client()?, out, command).await,
        Command::Jobs(command) => crate::jobs::run(&client()?, out, command).await,
        Command::Algorithm { name, mode } => match mode.as_deref() {
            None | Some("train") => algorithm(&name),
            Some(other) => Err(Error::Usage(format!("trainyard algorithm {name} {other}: only `train` is a mode"))),
        },
        Command::Evaluator(args) => crate::models::evaluator(args),
        Command::Build(args) => crate::build::run(&client()?, args).await,
        Command::Images(command) => crate::images::run(&client()?, out, command).await,
        Command::Builds(command) => crate::images::builds(&client()?, out, command).await,
        Command::Apply { file, dry_run } => crate::pipelines::apply(&client()?, out, &file, dry_run).await,
        Command::Pipelines(command) => crate::pipelines::run(&client()?, out, command).await,
        Command::Sources(command) => crate::sources::run(&client()?, out, command).await,
        Command::Iam(command) => crate::iam::run(&client()?, out, command).await,
        Command::Sts(command) => crate::iam::sts(&client()?, command).await,
        Command::Whoami => crate::iam::whoami(&client()?, out).await,
        Command::Aws(command) => crate::iam::aws(&client()?, &dir, command).await,
        Command::Audit(command) => crate::iam::audit(&client()?, out, command).await,
        Command::Endpoints(command) => crate::endpoints::run(&client()?, out, command).await,
        Command::Processing(command) => crate::processing::run(&client()?, out, command).await,
        Command::Quickstart { exit } => crate::quickstart::run(cli.data_dir.clone(), exit).await,
        Command::Health { timeout } => {
            let timeout = time::duration(&timeout)?;
            let client = Client::new(cli.endpoint.as_deref(), None, &dir);
            match tokio::time::timeout(timeout, client.get("/health")).await {
                Ok(Ok(status)) => {
                    println!("{}", status["status"].as_str().unwrap_or("ok"));
                    Ok(())
                }
                Ok(Err(e)) => Err(Error::Failure(format!("unhealthy: {e}"))),
                Err(_) => Err(Error::Failure(format!("unhealthy: no answer within {timeout:?}"))),
            }
        }
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut <Cli as clap::CommandFactory>::command(), "trainyard", &mut script);
            // A closed pipe (`| head`) is the reader's choice, not a failure.
            let _ = std::io::Write::write_all(&mut std::io::stdout(), &script);
            Ok(())
        }
        Command::Man { dir: target } => {
            crate::man::write(&target).map_err(|e| Error::Usage(format!("{}: {e}", target.display())))
        }
        Command::Bench(BenchCommand::Ceiling { listen }) => crate::bench::ceiling(&listen).await,
        Command::Bench(BenchCommand::Rules { count }) => crate::bench::rules(count).await,
        Command::Bench(BenchCommand::Bus { events, clients, latency_samples, replicas }) => {
            crate::bench::bus(events, clients, latency_samples, replicas).await
        }
        Command::Events(EventsCommand::TestPattern { pattern, event }) => test_pattern(&pattern, &event),
        Command::Events(command) => events(&client()?, out, command).await,
        Command::Buses(command) => buses(&client()?, out, command).await,
        Command::Rules(command) => rules(&client()?, out, command).await,
        Command::Functions(command) => functions(&client()?, out, command).await,
        Command::Runtime(command) => crate::runtime::run(out, command),
        Command::Models(command) => crate::models::run(&client()?, out, command).await,
        Command::Dlq(command) => dlq(&client()?, out, command).await,
        Command::Archives(command) => archives(&client()?, out, command).await,
        Command::Replays(command) => replays(&client()?, out, command).await,
    }
}

async fn server(
    data_dir: std::path::PathBuf,
    listen: Option<String>,
    aws_listen: Option<String>,
    object_store: Option<String>,
    database: Option<String>,
) -> Result<(), Error> {
    let environment: BTreeMap<String, String> = std::env::vars().collect();
    let flags = trainyard_server::Flags { data_dir: Some(data_dir), listen, aws_listen, object_store, database };
    let config = trainyard_server::Config::load(&flags, &environment).map_err(|e| Error::Usage(e.to_string()))?;
    let token_path = config.data_dir.join("admin.token");
    let shutdown = Box::pin(async {
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match terminate.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => {}
        }
        tracing::info!("shutting down");
    });
    trainyard_server::run(config, shutdown, |address| {
        println!("trainyard listening on http://{address}");
        println!("admin token in {}", token_path.display());
    })
    .await
    .map_err(|e| match e.is_unreachable() {
        // What the operator named cannot be reached: a usage problem, exit 2.
        true => Error::Usage(e.to_string()),
        false => Error::Failure(e.to_string()),
    })
}

/// `trainyard algorithm NAME`: runs in the job's process, under the SM_* contract.
fn algorithm(name: &str) -> Result<(), Error> {
    if !trainyard_algorithms::ALGORITHMS.contains(&name) {
        return Err(Error::Usage(format!(
            "unknown algorithm {name:?} (known: {})",
            trainyard_algorithms::ALGORITHMS.join(", ")
        )));
    }
    trainyard_algorithms::run_from_environment(name).map_err(|e| Error::Failure(e.to_string()))
}

fn test_pattern(pattern: &str, event: &str) -> Result<(), Error> {
    let pattern = trainyard_events::Pattern::parse_str(pattern).map_err(|e| Error::Usage(e.to_string()))?;
    let event = json_arg("event", event)?;
    if !event.is_object() {
        return Err(Error::Usage("--event must be a JSON object".into()));
    }
    println!("{}", pattern.matches(&event));
    Ok(())
}

fn filter_query(filter: &EventFilterArgs, after: Option<i64>) -> Result<String, Error> {
    let mut query = vec![format!("limit={}", filter.limit)];
    for (key, value) in [("source", &filter.source), ("detail_type", &filter.detail_type), ("bus", &filter.bus)] {
        if let Some(value) = value {
            query.push(format!("{key}={}", encode(value)));
        }
    }
    if let Some(since) = &filter.since {
        query.push(format!("since={}", encode(&time::instant(since)?.to_rfc3339())));
    }
    if let Some(after) = after {
        query.push(format!("after={after}&wait=20"));
    }
    Ok(format!("/events?{}", query.join("&")))
}

const EVENT_COLUMNS: &[(&str, &str)] = &[
    ("TIME", "/Event/time"),
    ("ID", "/Event/id"),
    ("BUS", "/EventBusName"),
    ("SOURCE", "/Event/source"),
    ("DETAIL-TYPE", "/Event/detail-type"),
];

async fn events(client: &Client, out: Output, command: EventsCommand) -> Result<(), Error> {
    match command {
        EventsCommand::Put { source, detail_type, detail, bus, resources } => {
            let detail = json_arg("detail", &detail)?;
            let entry = json!({"Source": source, "DetailType": detail_type, "Detail": detail,
                               "Resources": resources, "EventBusName": bus});
            let answer = client.post("/events", &json!({"Entries": [entry]})).await?;
            let first = &answer["Entries"][0];
            match first.get("EventId").and_then(Value::as_str) {
                Some(id) if out == Output::Table => println!("{id}"),
                Some(_) => output::item(&answer),
                None => {
                    return Err(Error::Usage(format!(
                        "{}: {}",
                        output::cell(first.get("ErrorCode")),
                        output::cell(first.get("ErrorMessage"))
                    )))
                }
            }
            Ok(())
        }
        EventsCommand::List(filter) => {
            output::list(out, &client.get(&filter_query(&filter, None)?).await?, "Events", EVENT_COLUMNS);
            Ok(())
        }
        EventsCommand::Tail(filter) => {
            // Start after the newest event so only new ones are shown.
            let newest = client.get("/events?limit=1").await?;
            let mut after = newest["Events"][0]["Seq"].as_i64().unwrap_or(0);
            loop {
                let page = client.get(&filter_query(&filter, Some(after))?).await?;
                for event in page["Events"].as_array().into_iter().flatten() {
                    after = after.max(event["Seq"].as_i64().unwrap_or(after));
                    if out == Output::Json {
                        println!("{}", event["Event"]);
                    } else {
                        let cells: Vec<String> =
                            EVENT_COLUMNS.iter().map(|(_, p)| output::cell(event.pointer(p))).collect();
                        println!("{}", cells.join("  "));
                    }
                }
            }
        }
        EventsCommand::Describe { id } => {
            let answer = client.get(&format!("/events/{}", encode(&id))).await?;
            if out == Output::Json {
                output::item(&answer);
                return Ok(());
            }
            output::item(&answer["Event"]);
            println!("matched rules: {}", output::cell(answer.get("MatchedRules")));
            let table = json!({"Rows": answer["Deliveries"].as_array().into_iter().flatten().flat_map(|d| {
                let attempts = d["Attempts"].as_array().cloned().unwrap_or_default();
                let d = d.clone();
                let rows: Vec<Value> = if attempts.is_empty() {
                    vec![json!({"Rule": d["Rule"], "Target": d["TargetId"], "State": d["State"]})]
                } else {
                    attempts.into_iter().map(|a| json!({"Rule": d["Rule"], "Target": d["TargetId"], "State": d["State"],
                        "Attempt": a["Attempt"], "Outcome": a["Outcome"], "Ms": a["DurationMs"], "Error": a["ErrorCode"], "Message": a["Message"]})).collect()
                };
                rows
            }).collect::<Vec<_>>()});
            output::list(
                out,
                &table,
                "Rows",
                &[
                    ("RULE", "/Rule"),
                    ("TARGET", "/Target"),
                    ("STATE", "/State"),
                    ("ATTEMPT", "/Attempt"),
                    ("OUTCOME", "/Outcome"),
                    ("MS", "/Ms"),
                    ("ERROR", "/Error"),
                    ("MESSAGE", "/Message"),
                ],
            );
            Ok(())
        }
        EventsCommand::TestPattern { pattern, event } => test_pattern(&pattern, &event),
    }
}

async fn buses(client: &Client, out: Output, command: BusesCommand) -> Result<(), Error> {
    match command {
        BusesCommand::Create { name } => output::item(&client.post("/buses", &json!({"Name": name})).await?),
        BusesCommand::List => {
            output::list(out, &client.get("/buses").await?, "EventBuses", &[("NAME", "/Name"), ("ARN", "/Arn")])
        }
        BusesCommand::Delete { name } => {
            client.delete(&format!("/buses/{}", encode(&name))).await?;
        }
    }
    Ok(())
}

async fn rules(client: &Client, out: Output, command: RulesCommand) -> Result<(), Error> {
    match command {
        RulesCommand::Create { name, pattern, schedule, bus, description, disabled } => {
            let pattern = pattern.map(|p| json_arg("pattern", &p)).transpose()?;
            let body = json!({"Name": name, "EventPattern": pattern, "ScheduleExpression": schedule, "EventBusName": bus,
                              "Description": description, "State": if disabled { "DISABLED" } else { "ENABLED" }});
            output::item(&client.post("/rules", &body).await?);
        }
        RulesCommand::List { bus } => output::list(
            out,
            &client.get(&format!("/rules{}", bus_query(bus.as_deref()))).await?,
            "Rules",
            &[
                ("NAME", "/Name"),
                ("BUS", "/EventBusName"),
                ("STATE", "/State"),
                ("PATTERN", "/EventPattern"),
                ("SCHEDULE", "/ScheduleExpression"),
            ],
        ),
        RulesCommand::Describe { name, bus } => {
            output::item(&client.get(&format!("/rules/{}{}", encode(&name), bus_query(bus.as_deref()))).await?)
        }
        RulesCommand::Enable { name, bus } => output::item(
            &client.post(&format!("/rules/{}/enable{}", encode(&name), bus_query(bus.as_deref())), &json!({})).await?,
        ),
        RulesCommand::Disable { name, bus } => output::item(
            &client.post(&format!("/rules/{}/disable{}", encode(&name), bus_query(bus.as_deref())), &json!({})).await?,
        ),
        RulesCommand::Delete { name, bus } => {
            client.delete(&format!("/rules/{}{}", encode(&name), bus_query(bus.as_deref()))).await?;
        }
        RulesCommand::Targets(command) => targets(client, out, command).await?,
    }
    Ok(())
}

async fn targets(client: &Client, out: Output, command: TargetsCommand) -> Result<(), Error> {
    match command {
        TargetsCommand::Add {
            rule,
            id,
            function,
            http,
            headers,
            input,
            input_path,
            input_transformer,
            max_retries,
            max_event_age,
            bus,
        } => {
            let id = id.or_else(|| function.clone()).unwrap_or_else(|| "http".to_string());
            let mut body =
                json!({"Id": id, "FunctionName": function, "HttpUrl": http, "HttpHeaders": pairs("header", &headers)?});
            if let Some(input) = input {
                json_arg("input", &input)?;
                body["Input"] = json!(input);
            }
            if let Some(path) = input_path {
                body["InputPath"] = json!(path);
            }
            if let Some(transformer) = input_transformer {
                body["InputTransformer"] = json_arg("input-transformer", &transformer)?;
            }
            if max_retries.is_some() || max_event_age.is_some() {
                let mut policy = json!({});
                if let Some(n) = max_retries {
                    policy["MaximumRetryAttempts"] = json!(n);
                }
                if let Some(age) = max_event_age {
                    policy["MaximumEventAgeInSeconds"] = json!(time::duration(&age)?.as_secs());
                }
                body["RetryPolicy"] = policy;
            }
            let body = strip_nulls(body);
            let path = format!("/rules/{}/targets{}", encode(&rule), bus_query(bus.as_deref()));
            output::item(&client.post(&path, &body).await?);
        }
        TargetsCommand::List { rule, bus } => {
            let answer = client.get(&format!("/rules/{}/targets{}", encode(&rule), bus_query(bus.as_deref()))).await?;
            output::list(
                out,
                &answer,
                "Targets",
                &[
                    ("ID", "/Id"),
                    ("TYPE", "/Destination/Type"),
                    ("FUNCTION", "/Destination/FunctionName"),
                    ("URL", "/Destination/Url"),
                    ("RETRIES", "/RetryPolicy/MaximumRetryAttempts"),
                    ("MAX AGE", "/RetryPolicy/MaximumEventAgeInSeconds"),
                ],
            );
        }
        TargetsCommand::Remove { rule, id, bus } => {
            client
                .delete(&format!("/rules/{}/targets/{}{}", encode(&rule), encode(&id), bus_query(bus.as_deref())))
                .await?;
        }
    }
    Ok(())
}

fn strip_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(map.into_iter().filter(|(_, v)| !v.is_null()).collect()),
        other => other,
    }
}

async fn functions(client: &Client, out: Output, command: FunctionsCommand) -> Result<(), Error> {
    match command {
        FunctionsCommand::Create { name, command, runtime, handler, code, memory, timeout, env, description, role } => {
            let timeout = time::duration(&timeout)?.as_secs();
            let role =
                role.map(|r| if r.starts_with("arn:") { r } else { format!("arn:aws:iam::000000000000:role/{r}") });
            let mut body = json!({"FunctionName": name, "Command": command.unwrap_or_default(), "Timeout": timeout,
                              "Environment": pairs("env", &env)?, "Description": description, "Role": role});
            if let Some(runtime) = runtime {
                body["Runtime"] = json!(runtime);
                body["Handler"] = json!(handler);
                body["MemorySize"] = json!(memory);
                body["ZipFile"] = json!(code_zip(&code.unwrap_or_default())?);
            }
            output::item(&client.post("/functions", &body).await?);
        }
        FunctionsCommand::List => output::list(
            out,
            &client.get("/functions").await?,
            "Functions",
            &[("NAME", "/FunctionName"), ("COMMAND", "/Command"), ("TIMEOUT", "/Timeout")],
        ),
        FunctionsCommand::Describe { name } => {
            output::item(&client.get(&format!("/functions/{}", encode(&name))).await?)
        }
        FunctionsCommand::Delete { name } => {
            client.delete(&format!("/functions/{}", encode(&name))).await?;
        }
        FunctionsCommand::Invoke { name, event } => {
            let event = json_arg("event", &event)?;
            let answer = client.post(&format!("/functions/{}/invoke", encode(&name)), &event).await?;
            if out == Output::Json {
                output::item(&answer);
            } else {
                eprint!("{}", output::cell(answer.get("Logs")).trim_start_matches('-'));
                match answer.get("FunctionError") {
                    Some(error) => {
                        return Err(Error::Failure(format!(
                            "{}: {}",
                            output::cell(error.get("errorType")),
                            output::cell(error.get("errorMessage"))
                        )))
                    }
                    None => println!("{}", answer["Payload"]),
                }
            }
            if answer.get("FunctionError").is_some() {
                return Err(Error::Failure("the function failed".into()));
            }
        }
        FunctionsCommand::Logs { name, limit, follow: false } => {
            let answer = client.get(&format!("/functions/{}/logs?limit={limit}", encode(&name))).await?;
            if out == Output::Json {
                output::item(&answer);
            } else {
                for invocation in answer["Invocations"].as_array().into_iter().flatten() {
                    print_invocation(invocation);
                }
            }
        }
        FunctionsCommand::Logs { name, limit, follow: true } => {
            // Invocations print oldest first, each once, as they are recorded.
            let mut last = -1;
            loop {
                let answer = client.get(&format!("/functions/{}/logs?limit={limit}", encode(&name))).await?;
                let mut new: Vec<&Value> = answer["Invocations"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|i| i["Id"].as_i64().is_some_and(|id| id > last))
                    .collect();
                new.sort_by_key(|i| i["Id"].as_i64());
                for invocation in new {
                    last = last.max(invocation["Id"].as_i64().unwrap_or(last));
                    if out == Output::Json {
                        println!("{invocation}");
                    } else {
                        print_invocation(invocation);
                    }
                }
                use std::io::Write;
                let _ = std::io::stdout().flush();
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
        }
    }
    Ok(())
}

async fn dlq(client: &Client, out: Output, command: DlqCommand) -> Result<(), Error> {
    match command {
        DlqCommand::List { limit } => output::list(
            out,
            &client.get(&format!("/dlq?limit={limit}")).await?,
            "DeadLetters",
            &[
                ("ID", "/Id"),
                ("EVENT", "/EventId"),
                ("RULE", "/Rule"),
                ("TARGET", "/TargetId"),
                ("ATTEMPTS", "/Attempts"),
                ("ERROR", "/ErrorCode"),
                ("MESSAGE", "/ErrorMessage"),
                ("FIRST", "/FirstAttemptTime"),
                ("LAST", "/LastAttemptTime"),
            ],
        ),
        DlqCommand::Redrive { ids, all } => {
            let body = if all { json!({"All": true}) } else { json!({"Ids": ids}) };
            let answer = client.post("/dlq/redrive", &body).await?;
            println!("redriven: {}", output::cell(answer.get("Redriven")));
        }
    }
    Ok(())
}

async fn archives(client: &Client, out: Output, command: ArchivesCommand) -> Result<(), Error> {
    match command {
        ArchivesCommand::Create { name, bus, pattern, retention_days } => {
            let pattern = pattern.map(|p| json_arg("pattern", &p)).transpose()?;
            let body = strip_nulls(
                json!({"ArchiveName": name, "EventBusName": bus, "EventPattern": pattern, "RetentionDays": retention_days}),
            );
            output::item(&client.post("/archives", &body).await?);
        }
        ArchivesCommand::List => output::list(
            out,
            &client.get("/archives").await?,
            "Archives",
            &[
                ("NAME", "/ArchiveName"),
                ("BUS", "/EventBusName"),
                ("EVENTS", "/EventCount"),
                ("RETENTION DAYS", "/RetentionDays"),
                ("PATTERN", "/EventPattern"),
            ],
        ),
        ArchivesCommand::Describe { name } => output::item(&client.get(&format!("/archives/{}", encode(&name))).await?),
        ArchivesCommand::Delete { name } => {
            client.delete(&format!("/archives/{}", encode(&name))).await?;
        }
    }
    Ok(())
}

async fn replays(client: &Client, out: Output, command: ReplaysCommand) -> Result<(), Error> {
    match command {
        ReplaysCommand::Start { archive, from, to, bus, name, wait } => {
            let from = time::instant(&from)?;
            let to = to.as_deref().map(time::instant).transpose()?.unwrap_or_else(chrono::Utc::now);
            let name = name.unwrap_or_else(|| format!("replay-{}", chrono::Utc::now().format("%Y%m%d%H%M%S%3f")));
            let body = strip_nulls(json!({"ReplayName": name, "ArchiveName": archive, "EventStartTime": from,
                                          "EventEndTime": to, "EventBusName": bus}));
            let mut replay = client.post("/replays", &body).await?;
            while wait && !matches!(replay["State"].as_str(), Some("COMPLETED" | "FAILED")) {
                tokio::time::sleep(Duration::from_millis(200)).await;
                replay = client.get(&format!("/replays/{}", encode(&name))).await?;
            }
            output::item(&replay);
            if replay["State"] == "FAILED" {
                return Err(Error::Failure(format!("replay failed: {}", output::cell(replay.get("StateReason")))));
            }
        }
        ReplaysCommand::List => output::list(
            out,
            &client.get("/replays").await?,
            "Replays",
            &[
                ("NAME", "/ReplayName"),
                ("ARCHIVE", "/ArchiveName"),
                ("BUS", "/EventBusName"),
                ("STATE", "/State"),
                ("EVENTS", "/EventsReplayed"),
            ],
        ),
        ReplaysCommand::Describe { name } => output::item(&client.get(&format!("/replays/{}", encode(&name))).await?),
    }
    Ok(())
}

/// A function's code as `ZipFile` (base64): a directory zipped, or a zip file as it is.
fn code_zip(path: &std::path::Path) -> Result<String, Error> {
    use base64::Engine;
    let bytes = if path.is_dir() {
        trainyard_functions::lambda::zip_directory(path)
            .map_err(|e| Error::Usage(format!("--code {}: {e}", path.display())))?
    } else {
        std::fs::read(path).map_err(|e| Error::Usage(format!("--code {}: {e}", path.display())))?
    };
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

fn print_invocation(invocation: &Value) {
    println!(
        "--- {} {} ({} ms) event {}",
        output::cell(invocation.get("StartTime")),
        output::cell(invocation.get("Outcome")),
        output::cell(invocation.get("DurationMs")),
        output::cell(invocation.get("EventId"))
    );
    print!("{}", invocation["Logs"].as_str().unwrap_or(""));
}
