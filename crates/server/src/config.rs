//! Configuration: parsed, layered and validated in one place.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use trainyard_bus::BusConfig;

use crate::{Error, HttpLimits};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:7420";
/// Where the AWS API facade listens unless told otherwise (LocalStack's port, which AWS
/// tooling often assumes).
pub const DEFAULT_AWS_LISTEN: &str = "127.0.0.1:4566";

/// Environment variables the CLI reads; allowed beside the server's own.
const CLIENT_VARIABLES: &[&str] = &[
    "TRAINYARD_ENDPOINT",
    "TRAINYARD_TOKEN",
    "TRAINYARD_DATA_DIR",
    "TRAINYARD_LOG",
    "TRAINYARD_PROFILE",
    "TRAINYARD_SESSION_TOKEN",
    "TRAINYARD_CREDENTIALS_FILE",
];

/// `trainyard.toml`; every key optional, unknown keys rejected.
#[derive(Debug, Default)]
struct FileConfig {
    listen: Option<String>,
    aws_listen: Option<String>,
    object_store: Option<String>,
    database: Option<String>,
    account: Option<String>,
    region: Option<String>,
    event_retention_hours: Option<u64>,
    delivery: Option<DeliveryFile>,
    jobs: Option<JobsFile>,
    http: Option<HttpFile>,
}

#[derive(Debug, Default)]
struct HttpFile {
    max_connections: Option<u64>,
    header_timeout_secs: Option<u64>,
    inference_concurrency: Option<u64>,
}

#[derive(Debug, Default)]
struct JobsFile {
    concurrency: Option<usize>,
    python: Option<String>,
    stop_grace_secs: Option<u64>,
}

#[derive(Debug, Default)]
struct DeliveryFile {
    concurrency: Option<usize>,
    function_concurrency: Option<usize>,
    base_backoff_ms: Option<u64>,
    max_backoff_ms: Option<u64>,
    http_timeout_secs: Option<u64>,
}

/// Values given on the command line; they win over everything else.
#[derive(Debug, Default, Clone)]
pub struct Flags {
    pub data_dir: Option<PathBuf>,
    pub listen: Option<String>,
    pub aws_listen: Option<String>,
    pub object_store: Option<String>,
    pub database: Option<String>,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// The AWS API facade's own address (SigV4-signed boto3, aws CLI, SageMaker SDK).
    pub aws_listen: SocketAddr,
    /// Where object bytes live: `None` for `DATA_DIR/objects`, else a `file://` or
    /// `s3://` URL.
    pub object_store: Option<String>,
    /// Where metadata lives: `None` for SQLite in `DATA_DIR/trainyard.db`, else a
    /// `postgres://` URL.
    pub database: Option<String>,
    pub bus: BusConfig,
    /// Training jobs at once; more wait in `InProgress/Starting`.
    pub job_concurrency: usize,
    /// The Python interpreter for script-mode jobs.
    pub python: String,
    /// Seconds between SIGTERM and SIGKILL when a job is stopped.
    pub stop_grace: Duration,
    /// Connection, header-timeout and inference limits of the HTTP server.
    pub http: HttpLimits,
}

impl Config {
    /// Layers defaults, `DATA_DIR/trainyard.toml`, `TRAINYARD_*` variables from
    /// `environment` and `flags`, and reports every problem at once.
    pub fn load(flags: &Flags, environment: &BTreeMap<String, String>) -> Result<Config, Error> {
        let mut errors = Vec::new();
        let data_dir = flags
            .data_dir
            .clone()
            .or_else(|| environment.get("TRAINYARD_DATA_DIR").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(".trainyard"));
        let file = read_file(&data_dir.join("trainyard.toml"), &mut errors);
        let delivery = file.delivery.unwrap_or_default();
        let mut bus = BusConfig::default();
        let mut listen = file.listen.unwrap_or_else(|| DEFAULT_LISTEN.to_string());
        let mut aws_listen = file.aws_listen.unwrap_or_else(|| DEFAULT_AWS_LISTEN.to_string());
        let mut object_store = file.object_store;
        let mut database = file.database;
        let jobs = file.jobs.unwrap_or_default();
        let mut job_concurrency = jobs.concurrency.unwrap_or(2);
        let mut python = jobs.python.unwrap_or_else(|| "python3".into());
        let mut stop_grace = jobs.stop_grace_secs.unwrap_or(30);
        let mut retention_hours = file.event_retention_hours.unwrap_or(7 * 24);
        let mut concurrency = delivery.concurrency.unwrap_or(bus.concurrency);
        let mut function_concurrency = delivery.function_concurrency.unwrap_or(bus.function_concurrency);
        let mut base_ms = delivery.base_backoff_ms.unwrap_or(bus.base_backoff.as_millis() as u64);
        let mut max_ms = delivery.max_backoff_ms.unwrap_or(bus.max_backoff.as_millis() as u64);
        let mut http_secs = delivery.http_timeout_secs.unwrap_or(bus.http_timeout.as_secs());
        let http_file = file.http.unwrap_or_default();
        let defaults = HttpLimits::default();
        let mut max_connections = http_file.max_connections.unwrap_or(defaults.max_connections as u64);
        let mut header_secs = http_file.header_timeout_secs.unwrap_or(defaults.header_timeout.as_secs());
        let mut inference = http_file.inference_concurrency.unwrap_or(defaults.inference_concurrency as u64);
        bus.account = file.account.unwrap_or(bus.account);
        bus.region = file.region.unwrap_or(bus.region);

        for (key, value) in environment.iter().filter(|(k, _)| k.starts_with("TRAINYARD_")) {
            let number = |errors: &mut Vec<String>| match value.parse::<u64>() {
                Ok(n) => Some(n),
                Err(_) => {
                    errors.push(format!("{key}={value:?} must be a whole number"));
                    None
                }
            };
            match key.as_str() {
                "TRAINYARD_LISTEN" => listen = value.clone(),
                "TRAINYARD_AWS_LISTEN" => aws_listen = value.clone(),
                "TRAINYARD_OBJECT_STORE" => object_store = Some(value.clone()),
                "TRAINYARD_DATABASE" => database = Some(value.clone()),
                "TRAINYARD_PYTHON" => python = value.clone(),
                "TRAINYARD_LAMBDA_PRELOAD" => {
                    let modules: Vec<String> =
                        value.split(',').map(str::trim).filter(|m| !m.is_empty()).map(String::from).collect();
                    let dotted = |m: &String| {
                        m.split('.').all(|part| {
                            part.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                        })
                    };
                    match modules.iter().find(|m| !dotted(m)) {
                        Some(bad) => errors.push(format!("{key}: {bad:?} is not a Python module name")),
                        None => bus.lambda_preload = modules,
                    }
                }
                "TRAINYARD_JOB_CONCURRENCY" => {
                    job_concurrency = number(&mut errors).map_or(job_concurrency, |n| n as usize)
                }
                "TRAINYARD_JOB_STOP_GRACE_SECS" => stop_grace = number(&mut errors).unwrap_or(stop_grace),
                "TRAINYARD_ACCOUNT" => bus.account = value.clone(),
                "TRAINYARD_REGION" => bus.region = value.clone(),
                "TRAINYARD_EVENT_RETENTION_HOURS" => retention_hours = number(&mut errors).unwrap_or(retention_hours),
                "TRAINYARD_DELIVERY_CONCURRENCY" => {
                    concurrency = number(&mut errors).map_or(concurrency, |n| n as usize)
                }
                "TRAINYARD_FUNCTION_CONCURRENCY" => {
                    function_concurrency = number(&mut errors).map_or(function_concurrency, |n| n as usize)
                }
                "TRAINYARD_DELIVERY_BASE_BACKOFF_MS" => base_ms = number(&mut errors).unwrap_or(base_ms),
                "TRAINYARD_DELIVERY_MAX_BACKOFF_MS" => max_ms = number(&mut errors).unwrap_or(max_ms),
                "TRAINYARD_HTTP_TIMEOUT_SECS" => http_secs = number(&mut errors).unwrap_or(http_secs),
                "TRAINYARD_MAX_CONNECTIONS" => max_connections = number(&mut errors).unwrap_or(max_connections),
                "TRAINYARD_HEADER_TIMEOUT_SECS" => header_secs = number(&mut errors).unwrap_or(header_secs),
                "TRAINYARD_INFERENCE_CONCURRENCY" => inference = number(&mut errors).unwrap_or(inference),
                // Read by the model runtime wherever it loads a model; checked here.
                "TRAINYARD_MAX_MODEL_BYTES" => {
                    number(&mut errors);
                }
                known if CLIENT_VARIABLES.contains(&known) => {}
                unknown => errors.push(format!("unknown environment variable {unknown}")),
            }
        }
        if let Some(flag) = &flags.listen {
            listen = flag.clone();
        }
        if let Some(flag) = &flags.aws_listen {
            aws_listen = flag.clone();
        }
        if let Some(flag) = &flags.object_store {
            object_store = Some(flag.clone());
        }
        if let Some(flag) = &flags.database {
            database = Some(flag.clone());
        }
        if let Some(url) = &database {
            if !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
                errors.push(format!(
                    "database {:?} must be a postgres://user@host:port/name URL (leave it unset for SQLite in the data directory)",
                    trainyard_store::redact_url(url)
                ));
            }
        }
        if let Some(url) = &object_store {
            if !url.starts_with("file:///") && !url.starts_with("s3://") {
                errors
                    .push(format!("object store {url:?} must be a file:///absolute/path or s3://bucket[/prefix] URL"));
            }
        }

        let listen = match listen.parse::<SocketAddr>() {
            Ok(address) => Some(address),
            Err(_) => {
                errors.push(format!("listen address {listen:?} is not IP:PORT (e.g. {DEFAULT_LISTEN})"));
                None
            }
        };
        let aws_listen = match aws_listen.parse::<SocketAddr>() {
            Ok(address) => Some(address),
            Err(_) => {
                errors.push(format!("aws_listen address {aws_listen:?} is not IP:PORT (e.g. {DEFAULT_AWS_LISTEN})"));
                None
            }
        };
        if !(1..=1024).contains(&concurrency) {
            errors.push(format!("delivery concurrency {concurrency} must be 1-1024"));
        }
        if !(1..=1024).contains(&function_concurrency) {
            errors.push(format!("function concurrency {function_concurrency} must be 1-1024"));
        }
        if !(1..=256).contains(&job_concurrency) {
            errors.push(format!("job concurrency {job_concurrency} must be 1-256"));
        }
        if python.trim().is_empty() {
            errors.push("python must name an interpreter".into());
        }
        if base_ms == 0 || base_ms > max_ms {
            errors.push(format!("delivery backoff: base {base_ms} ms must be > 0 and <= max {max_ms} ms"));
        }
        if !(1..=1_000_000).contains(&max_connections) {
            errors.push(format!("http max_connections {max_connections} must be 1-1000000"));
        }
        if !(1..=3600).contains(&header_secs) {
            errors.push(format!("http header_timeout_secs {header_secs} must be 1-3600"));
        }
        if !(1..=4096).contains(&inference) {
            errors.push(format!("http inference_concurrency {inference} must be 1-4096"));
        }
        if http_secs == 0 {
            errors.push("http timeout must be at least 1 second".into());
        }
        if bus.account.len() != 12 || !bus.account.bytes().all(|b| b.is_ascii_digit()) {
            errors.push(format!("account {:?} must be 12 digits", bus.account));
        }
        if bus.region.is_empty() || !bus.region.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            errors.push(format!("region {:?} must be letters, digits and hyphens", bus.region));
        }
        match (listen, aws_listen) {
            (Some(listen), Some(aws_listen)) if errors.is_empty() => {
                bus.concurrency = concurrency;
                bus.function_concurrency = function_concurrency;
                bus.base_backoff = Duration::from_millis(base_ms);
                bus.max_backoff = Duration::from_millis(max_ms);
                bus.http_timeout = Duration::from_secs(http_secs);
                bus.event_retention = Duration::from_secs(retention_hours * 3600);
                Ok(Config {
                    data_dir,
                    listen,
                    aws_listen,
                    object_store,
                    database,
                    bus,
                    job_concurrency,
                    python,
                    stop_grace: Duration::from_secs(stop_grace),
                    http: HttpLimits {
                        max_connections: max_connections as usize,
                        header_timeout: Duration::from_secs(header_secs),
                        inference_concurrency: inference as usize,
                    },
                })
            }
            _ => Err(Error::Config { errors }),
        }
    }
}

/// Reads `trainyard.toml` key by key so that every unknown key and every wrongly typed
/// value is reported, not just the first.
fn read_file(path: &Path, errors: &mut Vec<String>) -> FileConfig {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return FileConfig::default(),
        Err(e) => {
            errors.push(format!("{}: {e}", path.display()));
            return FileConfig::default();
        }
    };
    let table: toml::Table = match text.parse() {
        Ok(table) => table,
        Err(e) => {
            errors.push(format!("{}: {e}", path.display()));
            return FileConfig::default();
        }
    };
    let mut config = FileConfig::default();
    let file = path.display();
    for (key, value) in table {
        let wrong = |errors: &mut Vec<String>, expected: &str| {
            errors.push(format!("{file}: `{key}` must be {expected}, not {value}"))
        };
        match key.as_str() {
            "listen" | "aws_listen" | "account" | "region" | "object_store" | "database" => match value.as_str() {
                Some(text) => {
                    let slot = match key.as_str() {
                        "listen" => &mut config.listen,
                        "aws_listen" => &mut config.aws_listen,
                        "object_store" => &mut config.object_store,
                        "database" => &mut config.database,
                        "account" => &mut config.account,
                        _ => &mut config.region,
                    };
                    *slot = Some(text.to_string());
                }
                None => wrong(errors, "a string"),
            },
            "event_retention_hours" => match value.as_integer().filter(|n| *n > 0) {
                Some(n) => config.event_retention_hours = Some(n as u64),
                None => wrong(errors, "a positive integer"),
            },
            "jobs" => match value.as_table() {
                Some(table) => config.jobs = Some(read_jobs(table, &file.to_string(), errors)),
                None => wrong(errors, "a table"),
            },
            "delivery" => match value.as_table() {
                Some(table) => config.delivery = Some(read_delivery(table, &file.to_string(), errors)),
                None => wrong(errors, "a table"),
            },
            "http" => match value.as_table() {
                Some(table) => config.http = Some(read_http(table, &file.to_string(), errors)),
                None => wrong(errors, "a table"),
            },
            _ => errors.push(format!(
                "{file}: unknown key `{key}` (known: listen, aws_listen, object_store, database, account, region, event_retention_hours, [delivery], [jobs], [http])"
            )),
        }
    }
    config
}

fn read_jobs(table: &toml::Table, file: &str, errors: &mut Vec<String>) -> JobsFile {
    let mut jobs = JobsFile::default();
    for (key, value) in table {
        match (key.as_str(), value) {
            ("python", toml::Value::String(text)) => jobs.python = Some(text.clone()),
            ("concurrency", toml::Value::Integer(n)) if *n > 0 => jobs.concurrency = Some(*n as usize),
            ("stop_grace_secs", toml::Value::Integer(n)) if *n >= 0 => jobs.stop_grace_secs = Some(*n as u64),
            ("python" | "concurrency" | "stop_grace_secs", _) => {
                errors.push(format!("{file}: `jobs.{key}` has the wrong type or range: {value}"))
            }
            _ => errors.push(format!("{file}: unknown key `jobs.{key}` (known: concurrency, python, stop_grace_secs)")),
        }
    }
    jobs
}

fn read_delivery(table: &toml::Table, file: &str, errors: &mut Vec<String>) -> DeliveryFile {
    const KNOWN: &[&str] =
        &["concurrency", "function_concurrency", "base_backoff_ms", "max_backoff_ms", "http_timeout_secs"];
    let numbers = read_numbers(table, file, "delivery", KNOWN, errors);
    DeliveryFile {
        concurrency: numbers.get("concurrency").map(|&n| n as usize),
        function_concurrency: numbers.get("function_concurrency").map(|&n| n as usize),
        base_backoff_ms: numbers.get("base_backoff_ms").copied(),
        max_backoff_ms: numbers.get("max_backoff_ms").copied(),
        http_timeout_secs: numbers.get("http_timeout_secs").copied(),
    }
}

fn read_http(table: &toml::Table, file: &str, errors: &mut Vec<String>) -> HttpFile {
    const KNOWN: &[&str] = &["max_connections", "header_timeout_secs", "inference_concurrency"];
    let numbers = read_numbers(table, file, "http", KNOWN, errors);
    HttpFile {
        max_connections: numbers.get("max_connections").copied(),
        header_timeout_secs: numbers.get("header_timeout_secs").copied(),
        inference_concurrency: numbers.get("inference_concurrency").copied(),
    }
}

/// A table of non-negative integers under `section`, each key one of `known`.
fn read_numbers(
    table: &toml::Table,
    file: &str,
    section: &str,
    known: &[&str],
    errors: &mut Vec<String>,
) -> BTreeMap<String, u64> {
    let mut numbers = BTreeMap::new();
    for (key, value) in table {
        if !known.contains(&key.as_str()) {
            errors.push(format!("{file}: unknown key `{section}.{key}` (known: {})", known.join(", ")));
        } else if let Some(number) = value.as_integer().filter(|n| *n >= 0) {
            numbers.insert(key.clone(), number as u64);
        } else {
            errors.push(format!("{file}: `{section}.{key}` must be a non-negative integer, not {value}"));
        }
    }
    numbers
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn flags(dir: &Path) -> Flags {
        Flags { data_dir: Some(dir.to_path_buf()), ..Flags::default() }
    }

    #[test]
    fn defaults_bind_loopback() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::load(&flags(dir.path()), &env(&[])).unwrap();
        assert_eq!(config.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(config.bus.account, "000000000000");
        assert_eq!(config.bus.lambda_preload, ["boto3"], "cold starts take a runtime with boto3 imported");
        let none = Config::load(&flags(dir.path()), &env(&[("TRAINYARD_LAMBDA_PRELOAD", "")])).unwrap();
        assert!(none.bus.lambda_preload.is_empty());
    }

    #[test]
    fn layers_file_then_environment_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("trainyard.toml"),
            "listen = \"127.0.0.1:1\"\nregion = \"eu-1\"\n[delivery]\nconcurrency = 4\n",
        )
        .unwrap();
        let config = Config::load(&flags(dir.path()), &env(&[("TRAINYARD_LISTEN", "127.0.0.1:2")])).unwrap();
        assert_eq!(config.listen.port(), 2);
        assert_eq!(config.bus.region, "eu-1");
        assert_eq!(config.bus.concurrency, 4);
        let mut f = flags(dir.path());
        f.listen = Some("127.0.0.1:3".into());
        let config = Config::load(&f, &env(&[("TRAINYARD_LISTEN", "127.0.0.1:2")])).unwrap();
        assert_eq!(config.listen.port(), 3);
    }

    #[test]
    fn every_error_is_reported_at_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("trainyard.toml"),
            "colour = \"blue\"\nlisten = 5\n[delivery]\nconcurrency = \"many\"\nspeed = 1\n",
        )
        .unwrap();
        let err = Config::load(
            &flags(dir.path()),
            &env(&[
                ("TRAINYARD_LISTEN", "nowhere"),
                ("TRAINYARD_BOGUS", "1"),
                ("TRAINYARD_DELIVERY_CONCURRENCY", "x"),
                ("TRAINYARD_LAMBDA_PRELOAD", "boto3, os;rm"),
            ]),
        )
        .unwrap_err()
        .to_string();
        for needle in [
            "colour",
            "`listen` must be a string",
            "delivery.concurrency",
            "delivery.speed",
            "TRAINYARD_BOGUS",
            "whole number",
            "\"os;rm\" is not a Python module name",
        ] {
            assert!(err.contains(needle), "{needle} missing from: {err}");
        }
    }

    #[test]
    fn the_database_layers_like_the_rest_and_only_postgres_urls_are_taken() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Config::load(&flags(dir.path()), &env(&[])).unwrap().database, None, "SQLite by default");
        std::fs::write(dir.path().join("trainyard.toml"), "database = \"postgres://file@h/db\"\n").unwrap();
        let config = Config::load(&flags(dir.path()), &env(&[])).unwrap();
        assert_eq!(config.database.as_deref(), Some("postgres://file@h/db"));
        let variable = env(&[("TRAINYARD_DATABASE", "postgresql://env@h/db")]);
        assert_eq!(
            Config::load(&flags(dir.path()), &variable).unwrap().database.as_deref(),
            Some("postgresql://env@h/db")
        );
        let mut flag = flags(dir.path());
        flag.database = Some("postgres://flag@h/db".into());
        assert_eq!(Config::load(&flag, &variable).unwrap().database.as_deref(), Some("postgres://flag@h/db"));

        flag.database = Some("mysql://u:secret@h/db".into());
        let err = Config::load(&flag, &env(&[("TRAINYARD_LISTEN", "nowhere")])).unwrap_err().to_string();
        assert!(err.contains("database \"mysql://u:***@h/db\" must be a postgres://"), "{err}");
        assert!(err.contains("nowhere"), "every error at once: {err}");
        assert!(!err.contains("secret"), "a password reached the message: {err}");
    }
}
