use std::time::Duration;

/// Tunables of the bus; defaults are EventBridge-like and fit a laptop.
#[derive(Debug, Clone)]
pub struct BusConfig {
    pub account: String,
    pub region: String,
    /// Deliveries in flight at once.
    pub concurrency: usize,
    /// Function processes running at once (each delivery to a function waits for one).
    pub function_concurrency: usize,
    /// First retry delay; doubles each retry, with jitter.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    pub http_timeout: Duration,
    /// How long finished events stay listed before they are pruned.
    pub event_retention: Duration,
    /// The API address handed to functions as `TRAINYARD_ENDPOINT`.
    pub endpoint_url: Option<String>,
    pub max_targets_per_rule: usize,
    /// The AWS endpoint handed to Lambda functions as `AWS_ENDPOINT_URL`.
    pub aws_endpoint_url: Option<String>,
    /// Where Lambda functions' code and runtime live; none: no Lambda functions.
    pub functions_dir: Option<std::path::PathBuf>,
    /// The Python of `python3.X` runtimes of its version.
    pub python: Option<std::path::PathBuf>,
    /// Idle Lambda environments are reclaimed after this long.
    pub lambda_idle: Duration,
    /// What a pre-initialised Python runtime imports ahead of a cold start; none: no spares.
    pub lambda_preload: Vec<String>,
    /// This process among the replicas sharing the store: the deliveries it claims name it.
    pub replica: String,
}

impl Default for BusConfig {
    fn default() -> Self {
        BusConfig {
            account: trainyard_events::DEFAULT_ACCOUNT.to_string(),
            region: trainyard_events::DEFAULT_REGION.to_string(),
            concurrency: 128,
            function_concurrency: 16,
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            http_timeout: Duration::from_secs(30),
            event_retention: Duration::from_secs(7 * 24 * 3600),
            endpoint_url: None,
            max_targets_per_rule: 5,
            aws_endpoint_url: None,
            functions_dir: None,
            python: None,
            lambda_idle: Duration::from_secs(300),
            lambda_preload: vec!["boto3".to_string()],
            replica: uuid::Uuid::new_v4().simple().to_string(),
        }
    }
}
