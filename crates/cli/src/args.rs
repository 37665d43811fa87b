//! The command line, as clap types.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(name = "trainyard", version = env!("TRAINYARD_VERSION_LINE"), about = "trainyard: the MLOps loop in one binary")]
pub struct Cli {
    /// API address (default: the data dir's server.url, else http://127.0.0.1:7420).
    #[arg(long, global = true, env = "TRAINYARD_ENDPOINT")]
    pub endpoint: Option<String>,
    /// API token (default: read from DATA_DIR/admin.token).
    #[arg(long, global = true, env = "TRAINYARD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// A profile of ~/.trainyard/credentials (AWS-style) to call the API with.
    #[arg(long, global = true, env = "TRAINYARD_PROFILE")]
    pub profile: Option<String>,
    /// The server's data directory.
    #[arg(long, global = true, env = "TRAINYARD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Output format.
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
    /// One JSON document per line (`runtime predict`).
    Jsonl,
    /// Comma-separated values (`runtime predict`).
    Csv,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (API, event bus, workers) on a data directory.
    Server {
        /// Address to bind (default 127.0.0.1:7420).
        #[arg(long)]
        listen: Option<String>,
        /// Address of the AWS API endpoint (default 127.0.0.1:4566): AWS_ENDPOINT_URL for
        /// boto3, the aws CLI and the SageMaker SDK.
        #[arg(long)]
        aws_listen: Option<String>,
        /// Where object bytes live (default DATA_DIR/objects): file:///dir or s3://bucket/prefix.
        #[arg(long)]
        object_store: Option<String>,
        /// Where metadata lives (default SQLite in DATA_DIR/trainyard.db):
        /// postgres://user@host:port/name.
        #[arg(long)]
        database: Option<String>,
    },
    /// Training jobs (SageMaker's CreateTrainingJob contract).
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// Run a built-in algorithm under the SageMaker training contract (SM_* variables).
    Algorithm {
        /// linear-learner or gbdt
        name: String,
        /// `train`, as SageMaker passes it to a training container (optional).
        mode: Option<String>,
    },
    /// Processing jobs (SageMaker's CreateProcessingJob contract): evaluation runs.
    #[command(subcommand)]
    Processing(ProcessingCommand),
    /// Run the built-in evaluator under the processing contract (SM_CHANNEL_MODEL,
    /// SM_CHANNEL_TEST, SM_CHANNEL_CHAMPION, SM_PROCESSING_OUTPUT_EVALUATION), or on the
    /// paths given.
    #[command(hide = true)]
    Evaluator(EvaluatorArgs),
    /// Buckets and objects, with s3://bucket/key URIs.
    #[command(subcommand)]
    Data(DataCommand),
    /// The whole loop on this machine: a platform in process, an example repository and
    /// data, its pipeline applied, a commit built, trained, evaluated, registered, deployed
    /// and retrained on new data; then it keeps serving (until Ctrl-C).
    Quickstart {
        /// Stop when the loop has run (for scripts).
        #[arg(long)]
        exit: bool,
    },
    /// Whether the server answers (`/api/v1/health`): exit 0 when it does, 1 when not (for
    /// container health checks).
    Health {
        /// How long to wait for the answer (e.g. 3s).
        #[arg(long, default_value = "3s")]
        timeout: String,
    },
    /// Print a shell completion script: `trainyard completions bash > /etc/bash_completion.d/trainyard`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the man pages (trainyard.1, trainyard-COMMAND.1, …) into a directory.
    Man {
        /// Where to write them (created if missing).
        dir: PathBuf,
    },
    /// Load benchmarks against an in-process server (see docs/benchmarks.md).
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Put, list, follow and inspect events; test patterns.
    #[command(subcommand)]
    Events(EventsCommand),
    /// Event buses.
    #[command(subcommand)]
    Buses(BusesCommand),
    /// Rules and their targets.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Functions (commands that receive events).
    #[command(subcommand)]
    Functions(FunctionsCommand),
    /// Model evaluation (SageMaker model-quality reports) and the registration gate.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Build a reproducible OCI image from a directory (no container engine) into an OCI
    /// image layout, and push it to the registry with --push; prints the manifest digest.
    Build(BuildArgs),
    /// The OCI registry: repositories and images.
    #[command(subcommand)]
    Images(ImagesCommand),
    /// Validate a trainyard.yaml and create or update what its pipeline implies (a plan of
    /// the changes is printed).
    Apply {
        /// The pipeline file.
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        /// Print the plan without changing anything.
        #[arg(long)]
        dry_run: bool,
    },
    /// Pipelines and their runs.
    #[command(subcommand)]
    Pipelines(PipelinesCommand),
    /// Builds of followed commits (each push with a `build` section in trainyard.yaml).
    #[command(subcommand)]
    Builds(BuildsCommand),
    /// Followed git branches: polling and GitHub webhooks become Git Push events.
    #[command(subcommand)]
    Sources(SourcesCommand),
    /// Identity: users, service accounts, roles, policies, access keys, the simulator.
    #[command(subcommand)]
    Iam(crate::iam::IamCommand),
    /// Security tokens: assume a role for a session.
    #[command(subcommand)]
    Sts(crate::iam::StsCommand),
    /// Who the CLI's credentials belong to.
    Whoami,
    /// AWS clients (boto3, the aws CLI, the SageMaker SDK) against this server.
    #[command(subcommand)]
    Aws(crate::iam::AwsCommand),
    /// The audit trail: every change, every denied call, every credential issued.
    #[command(subcommand)]
    Audit(crate::iam::AuditCommand),
    /// Inference endpoints: blue/green deployments, invocations.
    #[command(subcommand)]
    Endpoints(EndpointsCommand),
    /// Offline model tools: inspect an ONNX model, predict a CSV, benchmark latency.
    #[command(subcommand)]
    Runtime(RuntimeCommand),
    /// The dead-letter queue.
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// Event archives.
    #[command(subcommand)]
    Archives(ArchivesCommand),
    /// Replays of archived events.
    #[command(subcommand)]
    Replays(ReplaysCommand),
}

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Put one event; prints its id.
    Put {
        #[arg(long)]
        source: String,
        #[arg(long)]
        detail_type: String,
        /// The detail, a JSON object.
        #[arg(long)]
        detail: String,
        #[arg(long)]
        bus: Option<String>,
        /// Comma-separated resource ARNs.
        #[arg(long, value_delimiter = ',')]
        resources: Vec<String>,
    },
    /// List recent events, newest first.
    List(EventFilterArgs),
    /// Follow new events as they arrive.
    Tail(EventFilterArgs),
    /// One event: the rules it matched and every delivery attempt.
    Describe { id: String },
    /// Does an event match a pattern? Prints true or false; needs no server.
    TestPattern {
        #[arg(long)]
        pattern: String,
        #[arg(long)]
        event: String,
    },
}

#[derive(Debug, Args)]
pub struct EventFilterArgs {
    #[arg(long)]
    pub source: Option<String>,
    #[arg(long)]
    pub detail_type: Option<String>,
    /// RFC 3339 time or a duration ago (30s, 5m, 2h, 1d).
    #[arg(long)]
    pub since: Option<String>,
    #[arg(long)]
    pub bus: Option<String>,
    #[arg(long, default_value_t = 50)]
    pub limit: i64,
}

#[derive(Debug, Subcommand)]
pub enum BusesCommand {
    Create { name: String },
    List,
    Delete { name: String },
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Create a rule with an event pattern or a schedule.
    Create {
        name: String,
        #[arg(long, conflicts_with = "schedule", required_unless_present = "schedule")]
        pattern: Option<String>,
        /// rate(5 minutes) or cron(0 12 * * ? *)
        #[arg(long)]
        schedule: Option<String>,
        #[arg(long)]
        bus: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// Create it disabled.
        #[arg(long)]
        disabled: bool,
    },
    List {
        #[arg(long)]
        bus: Option<String>,
    },
    Describe {
        name: String,
        #[arg(long)]
        bus: Option<String>,
    },
    Enable {
        name: String,
        #[arg(long)]
        bus: Option<String>,
    },
    Disable {
        name: String,
        #[arg(long)]
        bus: Option<String>,
    },
    Delete {
        name: String,
        #[arg(long)]
        bus: Option<String>,
    },
    /// A rule's targets.
    #[command(subcommand)]
    Targets(TargetsCommand),
}

#[derive(Debug, Subcommand)]
pub enum TargetsCommand {
    /// Add (or replace) a target.
    Add {
        rule: String,
        /// Target id (default: the function name, or "http-N").
        #[arg(long)]
        id: Option<String>,
        #[arg(long, conflicts_with = "http", required_unless_present = "http")]
        function: Option<String>,
        #[arg(long)]
        http: Option<String>,
        /// HTTP header K=V (repeatable).
        #[arg(long = "header")]
        headers: Vec<String>,
        /// A constant JSON input instead of the event.
        #[arg(long, conflicts_with_all = ["input_path", "input_transformer"])]
        input: Option<String>,
        /// JSONPath of the part of the event to send, e.g. $.detail
        #[arg(long, conflicts_with = "input_transformer")]
        input_path: Option<String>,
        /// {"InputPathsMap": {...}, "InputTemplate": "..."}
        #[arg(long)]
        input_transformer: Option<String>,
        /// MaximumRetryAttempts, 0-185.
        #[arg(long)]
        max_retries: Option<u32>,
        /// MaximumEventAge, 60s-24h (e.g. 1h).
        #[arg(long)]
        max_event_age: Option<String>,
        #[arg(long)]
        bus: Option<String>,
    },
    List {
        rule: String,
        #[arg(long)]
        bus: Option<String>,
    },
    Remove {
        rule: String,
        id: String,
        #[arg(long)]
        bus: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum FunctionsCommand {
    /// Create a function: a command (the event on stdin, the JSON result on stdout), or a
    /// Lambda handler (`--runtime python3.11 --handler app.lambda_handler --code DIR|ZIP`).
    Create {
        name: String,
        #[arg(long, required_unless_present = "runtime", conflicts_with_all = ["runtime", "handler", "code"])]
        command: Option<String>,
        /// A Lambda runtime: python3.X (as present on the server) or provided.
        #[arg(long, requires = "code")]
        runtime: Option<String>,
        /// The handler, module.function (Python runtimes).
        #[arg(long)]
        handler: Option<String>,
        /// The code: a directory (zipped) or a .zip file.
        #[arg(long)]
        code: Option<std::path::PathBuf>,
        /// Memory (MB), as Lambda reports it.
        #[arg(long)]
        memory: Option<u32>,
        /// e.g. 30s, 5m (max 15m).
        #[arg(long, default_value = "30s")]
        timeout: String,
        /// K=V (repeatable).
        #[arg(long = "env")]
        env: Vec<String>,
        #[arg(long, default_value = "")]
        description: String,
        /// The role it runs as (an ARN or a role name): each invocation gets a fresh
        /// session of it, in TRAINYARD_SESSION_TOKEN and AWS_* variables.
        #[arg(long)]
        role: Option<String>,
    },
    List,
    Describe {
        name: String,
    },
    Delete {
        name: String,
    },
    /// Run a function synchronously on an event.
    Invoke {
        name: String,
        #[arg(long, default_value = "{}")]
        event: String,
    },
    /// Recent invocations and their logs.
    Logs {
        name: String,
        #[arg(long, default_value_t = 20)]
        limit: i64,
        /// Keep printing new invocations as they happen (until interrupted).
        #[arg(short, long)]
        follow: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    List {
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    /// Send dead letters back for delivery.
    Redrive {
        #[arg(conflicts_with = "all", required_unless_present = "all")]
        ids: Vec<i64>,
        #[arg(long)]
        all: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ArchivesCommand {
    Create {
        name: String,
        #[arg(long)]
        bus: Option<String>,
        /// Keep only events matching this pattern.
        #[arg(long)]
        pattern: Option<String>,
        /// 0 keeps events forever.
        #[arg(long, default_value_t = 0)]
        retention_days: i64,
    },
    List,
    Describe {
        name: String,
    },
    Delete {
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReplaysCommand {
    /// Replay an archive's events from a time range onto a bus.
    Start {
        #[arg(long)]
        archive: String,
        /// RFC 3339 time or a duration ago (e.g. 1h).
        #[arg(long)]
        from: String,
        /// RFC 3339 time or a duration ago; default now.
        #[arg(long)]
        to: Option<String>,
        #[arg(long)]
        bus: Option<String>,
        /// Replay name (default: generated).
        #[arg(long)]
        name: Option<String>,
        /// Wait until the replay has finished.
        #[arg(long)]
        wait: bool,
    },
    List,
    Describe {
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// An HTTP server answering every POST with a constant prediction: the serving
    /// benchmark's ceiling (docs/benchmarks.md).
    Ceiling {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
    },
    /// Rule creation, one API call at a time: what each create costs as the rule count
    /// grows, and a put's routing at the end.
    Rules {
        /// Rules to create.
        #[arg(long, default_value_t = 100_000)]
        count: usize,
    },
    /// Event bus: put→target latency and sustained delivery into an HTTP target.
    Bus {
        /// Events for the sustained phase.
        #[arg(long, default_value_t = 20_000)]
        events: usize,
        /// Concurrent PutEvents callers (10 entries per call).
        #[arg(long, default_value_t = 4)]
        clients: usize,
        /// Events put one by one, each awaited, for the latency phase.
        #[arg(long, default_value_t = 300)]
        latency_samples: usize,
        /// Servers sharing the database (2 or more need `TRAINYARD_DATABASE=postgres://…`);
        /// the callers and the one-by-one puts take turns among them.
        #[arg(long, default_value_t = 1)]
        replicas: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Make a bucket: s3://bucket
    Mb { uri: String },
    /// Remove an empty bucket: s3://bucket
    Rb { uri: String },
    /// Upload a file, or a directory recursively, to s3://bucket/key or s3://bucket/prefix/
    Put {
        source: std::path::PathBuf,
        uri: String,
        #[arg(long)]
        content_type: Option<String>,
    },
    /// Download an object to a file (default: its base name), or with --recursive a prefix to a directory.
    Get {
        uri: String,
        destination: Option<std::path::PathBuf>,
        #[arg(long, short)]
        recursive: bool,
    },
    /// List buckets (no URI), or objects and prefixes under s3://bucket/prefix
    Ls {
        uri: Option<String>,
        #[arg(long, short)]
        recursive: bool,
    },
    /// Delete an object, or with --recursive everything under a prefix.
    Rm {
        uri: String,
        #[arg(long, short)]
        recursive: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// Create a training job from a CreateTrainingJob JSON body (as boto3 sends it) and/or flags.
    CreateTraining {
        /// The request body, JSON.
        #[arg(long)]
        file: Option<std::path::PathBuf>,
        /// TrainingJobName.
        #[arg(long)]
        name: Option<String>,
        /// A built-in algorithm (linear-learner, gbdt).
        #[arg(long)]
        algorithm: Option<String>,
        /// Or an image in the registry (TrainingImage): REPO:TAG or REPO@DIGEST.
        #[arg(long)]
        image: Option<String>,
        /// A hyperparameter K=V (repeatable).
        #[arg(long = "hyperparameter")]
        hyperparameters: Vec<String>,
        /// A channel NAME=s3://bucket/prefix (repeatable).
        #[arg(long = "channel")]
        channels: Vec<String>,
        /// S3OutputPath.
        #[arg(long)]
        output_path: Option<String>,
        /// MaxRuntimeInSeconds as a duration (e.g. 1h).
        #[arg(long)]
        max_runtime: Option<String>,
        /// A metric definition NAME=REGEX (repeatable).
        #[arg(long = "metric")]
        metrics: Vec<String>,
        /// Wait for the job to end (exit 0 Completed, 1 Failed or Stopped).
        #[arg(long)]
        wait: bool,
    },
    Describe {
        name: String,
    },
    List {
        /// InProgress, Completed, Failed, Stopping or Stopped.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// The job's output (stdout and stderr).
    Logs {
        name: String,
        /// Follow until the job ends.
        #[arg(long, short)]
        follow: bool,
    },
    /// Every metric value the job reported.
    Metrics {
        name: String,
    },
    /// Wait for the job to end: exit 0 when Completed, 1 when Failed or Stopped.
    Wait {
        name: String,
    },
    /// Stop a job (SIGTERM, grace period, SIGKILL).
    Stop {
        name: String,
    },
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The build context (default: the current directory).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// The OCI image layout to write into (created if missing), e.g. ./image; without it,
    /// a temporary one (then --push is needed).
    #[arg(long)]
    pub layout: Option<PathBuf>,
    /// The image's tag (repeatable; the first also names it in the layout).
    #[arg(long = "tag", default_value = "latest")]
    pub tags: Vec<String>,
    /// The registry repository to push to, e.g. team/train.
    #[arg(long)]
    pub repo: Option<String>,
    /// Push the image to the server's registry (needs --repo).
    #[arg(long)]
    pub push: bool,
    /// The entrypoint: a JSON array, or words split on spaces.
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// The command (arguments to the entrypoint): a JSON array, or words.
    #[arg(long)]
    pub cmd: Option<String>,
    /// NAME=VALUE (repeatable).
    #[arg(long = "env")]
    pub env: Vec<String>,
    /// Where the context goes in the image, and the working directory.
    #[arg(long, default_value = "/opt/program")]
    pub workdir: String,
    /// KEY=VALUE (repeatable).
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// Where the context lands instead of --workdir (`/`: the context is a root filesystem).
    #[arg(long)]
    pub to: Option<String>,
    /// The user the image runs as, numeric UID:GID (default root).
    #[arg(long)]
    pub user: Option<String>,
    /// A port the image listens on, e.g. 7420 or 7420/tcp (repeatable).
    #[arg(long)]
    pub expose: Vec<String>,
    /// A data directory of the image, e.g. /data (repeatable): owned by --user in the image.
    #[arg(long = "volume")]
    pub volumes: Vec<String>,
    /// The health check command: a JSON array, or words.
    #[arg(long)]
    pub healthcheck: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ImagesCommand {
    /// Tagged images of one repository, or of all.
    List { repository: Option<String> },
    /// One image: REPO:TAG or REPO@DIGEST (digest, tags, config, layers).
    Describe { image: String },
    /// Delete a tag (REPO:TAG) or an image with all its tags (REPO@DIGEST).
    Delete { image: String },
    /// Repositories.
    #[command(subcommand)]
    Repos(RepositoriesCommand),
}

#[derive(Debug, Subcommand)]
pub enum PipelinesCommand {
    List,
    Describe {
        name: String,
    },
    /// Delete the pipeline's rules, targets and functions (its source, model group,
    /// endpoint and runs stay).
    Delete {
        name: String,
    },
    /// Start a run now, on the pipeline's latest image.
    Start {
        name: String,
    },
    /// The pipeline's runs, newest first.
    Runs {
        name: String,
    },
    /// One run: trigger, and each step with its resource, status and times.
    RunDescribe {
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum BuildsCommand {
    /// Builds, newest first.
    List {
        /// Only the builds of this source.
        #[arg(long)]
        source: Option<String>,
    },
    Describe {
        id: String,
    },
    /// The build's log.
    Logs {
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum RepositoriesCommand {
    /// Create a repository (pushes also create them).
    Create {
        name: String,
    },
    List,
    /// Delete a repository and every image in it.
    Delete {
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum SourcesCommand {
    /// Follow a branch: each new commit becomes a Git Push event.
    Add {
        name: String,
        /// The repository: a path (relative to the working directory), file://, http:// or https:// URL.
        #[arg(long)]
        git: String,
        #[arg(long, default_value = "main")]
        branch: String,
        /// Poll every this long (e.g. 30s); without it, only webhooks move the branch.
        #[arg(long)]
        poll: Option<String>,
        /// The GitHub webhook's secret (deliveries to POST /hooks/github are checked with it).
        #[arg(long, env = "TRAINYARD_WEBHOOK_SECRET", hide_env_values = true)]
        webhook_secret: Option<String>,
    },
    List,
    Describe {
        name: String,
    },
    Delete {
        name: String,
    },
    /// Fetch the branch now.
    Poll {
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum EndpointsCommand {
    /// Create the endpoint, or deploy a new configuration to it blue/green.
    Deploy {
        name: String,
        /// GROUP/VERSION (or GROUP/ALIAS) in the model registry.
        #[arg(long)]
        model_package: Option<String>,
        /// Or the artifact: s3://.../model.tar.gz
        #[arg(long)]
        model_data: Option<String>,
        #[arg(long, default_value = "AllTraffic")]
        variant_name: String,
        /// In-process workers: requests the model runs at once (default: unbounded).
        #[arg(long)]
        workers: Option<u32>,
        /// A whole request (ProductionVariants, DeploymentConfig) as JSON; flags override it.
        #[arg(long)]
        file: Option<PathBuf>,
        /// all-at-once[:BAKE], canary:PERCENT:BAKE or linear:STEP_PERCENT:INTERVAL.
        #[arg(long)]
        strategy: Option<String>,
        /// Rollback conditions on the new fleet, e.g. "error_rate>1%,p99>50ms".
        #[arg(long)]
        rollback_on: Option<String>,
        /// Keep the old fleet this long after the shift (e.g. 30s).
        #[arg(long)]
        termination_wait: Option<String>,
        /// The whole deployment's limit (e.g. 10m); past it, it rolls back.
        #[arg(long)]
        max_time: Option<String>,
        /// Wait for the deployment: exit 0 when the new configuration is live, 1 when it was
        /// rolled back or failed.
        #[arg(long)]
        wait: bool,
    },
    List,
    Describe {
        name: String,
    },
    Delete {
        name: String,
    },
    /// Stop the deployment in progress (traffic back to the live fleet), or redeploy the
    /// previous configuration.
    Rollback {
        name: String,
        #[arg(long)]
        wait: bool,
    },
    /// Set live variants' weights: VARIANT=WEIGHT ...
    UpdateWeights {
        name: String,
        #[arg(required = true)]
        weights: Vec<String>,
    },
    /// Invoke the endpoint and print the answer.
    Invoke {
        name: String,
        /// The request body (or @FILE).
        #[arg(long)]
        body: String,
        #[arg(long, default_value = "application/json")]
        content_type: String,
        #[arg(long, default_value = "application/json")]
        accept: String,
        /// X-Amzn-SageMaker-Target-Variant.
        #[arg(long)]
        variant: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ProcessingCommand {
    /// Create a processing job from a CreateProcessingJob JSON body (as boto3 sends it).
    Create {
        #[arg(long)]
        file: PathBuf,
        /// ProcessingJobName (overrides the file's).
        #[arg(long)]
        name: Option<String>,
        /// Wait for the job to end (exit 0 Completed, 1 Failed or Stopped).
        #[arg(long)]
        wait: bool,
    },
    Describe {
        name: String,
    },
    List {
        /// InProgress, Completed, Failed, Stopping or Stopped.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// The job's output (stdout and stderr).
    Logs {
        name: String,
        /// Follow until the job ends.
        #[arg(long, short)]
        follow: bool,
    },
    /// Wait for the job to end: exit 0 when Completed, 1 when Failed or Stopped.
    Wait {
        name: String,
    },
    /// Stop a job (SIGTERM, grace period, SIGKILL).
    Stop {
        name: String,
    },
}

#[derive(Debug, Args)]
pub struct EvaluatorArgs {
    /// The model: a file, archive or directory (default: $SM_CHANNEL_MODEL).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Directory of CSV files (default: $SM_CHANNEL_TEST).
    #[arg(long)]
    pub test: Option<PathBuf>,
    /// The champion, evaluated on the same data (default: $SM_CHANNEL_CHAMPION when set).
    #[arg(long)]
    pub champion: Option<PathBuf>,
    /// The champion's version, recorded in the decision.
    #[arg(long)]
    pub champion_version: Option<String>,
    /// Where evaluation.json goes (default: $SM_PROCESSING_OUTPUT_EVALUATION).
    #[arg(long)]
    pub output_dir: Option<PathBuf>,
    #[arg(long)]
    pub label_column: Option<String>,
    #[arg(long = "condition")]
    pub conditions: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PredictFormat {
    Jsonl,
    Csv,
}

#[derive(Debug, Subcommand)]
pub enum RuntimeCommand {
    /// Show a model's inputs, outputs, operators and producer, and whether it runs.
    Inspect {
        /// model.onnx, a directory holding it, or a model.tar.gz
        path: PathBuf,
        /// Graph engine: auto, tract or onnxruntime.
        #[arg(long, default_value = "auto")]
        backend: String,
    },
    /// Predict every row of a CSV (no header, features only): one line per row,
    /// {"label", "probabilities"} for classifiers, {"value"} for regressors.
    Predict {
        /// model.onnx, a directory holding it, or a model.tar.gz
        #[arg(long)]
        model: PathBuf,
        /// CSV of feature rows, or - for stdin. Empty cells and NaN are missing values.
        #[arg(long)]
        input: PathBuf,
        /// jsonl (default) or csv; the global --output jsonl|csv works too.
        #[arg(long, value_enum)]
        format: Option<PredictFormat>,
        /// Graph engine: auto, tract or onnxruntime.
        #[arg(long, default_value = "auto")]
        backend: String,
        /// Rows per batch.
        #[arg(long, default_value_t = 1024)]
        batch_size: usize,
    },
    /// Single-row and batch latency of a model on the rows of a CSV.
    Bench {
        #[arg(long)]
        model: PathBuf,
        /// CSV of feature rows (repeated to fill the batch).
        #[arg(long)]
        input: PathBuf,
        /// Rows in the batch.
        #[arg(long, default_value_t = 1000)]
        rows: usize,
        /// Seconds of measurement (split between the two shapes).
        #[arg(long, default_value_t = 4.0)]
        seconds: f64,
        /// Graph engine: auto, tract or onnxruntime.
        #[arg(long, default_value = "auto")]
        backend: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Evaluate a model on a labelled test channel with the serving runtime and print the
    /// model-quality report. Local paths run here; s3:// URIs run the built-in evaluator as
    /// a processing job on the server (report stored next to the model), against the
    /// --group's champion. CSV: label in the first column, no header, unless
    /// --label-column names a header column. Exit 0 passed, 1 gate failed, 2 bad input.
    Evaluate {
        /// model.onnx, a directory holding it, or a model.tar.gz; or s3://.../model.tar.gz
        #[arg(long)]
        model: String,
        /// Directory of CSV files, or s3://bucket/prefix/
        #[arg(long)]
        test: String,
        /// The files have a header row and the label is this column.
        #[arg(long)]
        label_column: Option<String>,
        /// Also write the report here (atomically).
        #[arg(long)]
        report: Option<PathBuf>,
        /// Gate conditions, e.g. "auc >= 0.85" or "auc >= champion.auc - 0.005" (repeatable).
        #[arg(long = "condition")]
        conditions: Vec<String>,
        /// Local mode: the champion, evaluated on the same test data.
        #[arg(long)]
        champion: Option<PathBuf>,
        /// Server mode: the group whose champion (alias champion, else the latest Approved
        /// version) is evaluated on the same data.
        #[arg(long)]
        group: Option<String>,
        /// Server mode: wait for the evaluation and print its report and decision.
        #[arg(long)]
        wait: bool,
        /// Server mode: register the result in --group (implies --wait).
        #[arg(long)]
        register: bool,
        /// Server mode: the processing job's name (default: generated).
        #[arg(long)]
        job_name: Option<String>,
        #[command(flatten)]
        source: SourceArgs,
    },
    /// Model package groups.
    #[command(subcommand)]
    Groups(ModelGroupsCommand),
    /// Register a group's next version.
    Register {
        #[arg(long)]
        group: String,
        /// s3://bucket/key of the model.tar.gz (default: the --evaluation's model)
        #[arg(long)]
        model_data: Option<String>,
        /// A completed evaluation (`models evaluate s3://...`): its model, report and
        /// decision are registered.
        #[arg(long)]
        evaluation: Option<String>,
        /// A model-quality report: a JSON file or s3://bucket/key.
        #[arg(long)]
        report: Option<String>,
        /// A gate decision (JSON file: the "decision" of `models evaluate --condition`).
        #[arg(long)]
        decision: Option<PathBuf>,
        /// The training job that made the model (its lineage is recorded).
        #[arg(long)]
        training_job: Option<String>,
        /// PendingManualApproval, Approved or Rejected (default: from the gate and the group).
        #[arg(long)]
        status: Option<String>,
        #[command(flatten)]
        source: SourceArgs,
    },
    /// A group's versions.
    List { group: String },
    /// One version: GROUP/VERSION (a number or an alias).
    Describe { version: String },
    /// Approve a version: GROUP/VERSION.
    Approve {
        version: String,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Reject a version: GROUP/VERSION.
    Reject {
        version: String,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Aliases (champion, challenger, ...).
    #[command(subcommand)]
    Alias(ModelAliasCommand),
    /// Two versions' metrics side by side: GROUP/N GROUP/M.
    Compare { first: String, second: String },
}

/// Where the model's code came from (SageMaker's `MetadataProperties`), e.g. from CI:
/// `--repository $GITHUB_REPOSITORY --commit $GITHUB_SHA`.
#[derive(Debug, Args)]
pub struct SourceArgs {
    /// The source repository (MetadataProperties.Repository).
    #[arg(long)]
    pub repository: Option<String>,
    /// The source commit (MetadataProperties.CommitId).
    #[arg(long)]
    pub commit: Option<String>,
}

impl SourceArgs {
    /// `MetadataProperties` for the registration, `None` when nothing was given.
    pub fn metadata(&self) -> Option<serde_json::Value> {
        let mut properties = serde_json::Map::new();
        if let Some(repository) = &self.repository {
            properties.insert("Repository".into(), repository.clone().into());
        }
        if let Some(commit) = &self.commit {
            properties.insert("CommitId".into(), commit.clone().into());
        }
        (!properties.is_empty()).then_some(serde_json::Value::Object(properties))
    }
}

#[derive(Debug, Subcommand)]
pub enum ModelGroupsCommand {
    Create {
        name: String,
        #[arg(long, default_value = "")]
        description: String,
        /// auto (a passed gate approves) or manual.
        #[arg(long, default_value = "manual")]
        approval: String,
        /// What a candidate whose gate failed becomes: register-rejected or discard.
        #[arg(long, default_value = "register-rejected")]
        gate_failure: String,
    },
    List,
    Describe {
        name: String,
    },
    /// Refused while the group has versions, unless --force.
    Delete {
        name: String,
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ModelAliasCommand {
    /// Point ALIAS of GROUP at VERSION.
    Set { group: String, alias: String, version: i64 },
}
