//! Start-up, serving and graceful shutdown.

use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use trainyard_api::AppState;
use trainyard_auth::Authenticator;
use trainyard_bus::EventBus;
use trainyard_store::Store;

use crate::{Config, Error};

/// A future that resolves when the server should stop.
pub type Shutdown = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// Runs the server until `shutdown` resolves. `on_ready` gets the bound address once
/// the API answers.
pub async fn run(mut config: Config, shutdown: Shutdown, on_ready: impl FnOnce(SocketAddr)) -> Result<(), Error> {
    // Invariant: everything the server (and what it runs) creates is its owner's alone:
    // files 0600, directories 0700.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    raise_open_file_limit(config.http.max_connections);
    for dir in [config.data_dir.clone(), config.data_dir.join("objects"), config.data_dir.join("jobs")] {
        std::fs::create_dir_all(&dir).map_err(|source| Error::DataDir { path: dir.display().to_string(), source })?;
    }
    make_private(&config.data_dir)?;
    // Invariant: paths handed to job processes (which run in their own directories)
    // are absolute.
    config.data_dir = config
        .data_dir
        .canonicalize()
        .map_err(|source| Error::DataDir { path: config.data_dir.display().to_string(), source })?;
    let data_dir = &config.data_dir;
    let token = trainyard_auth::load_or_create_token(&data_dir.join("admin.token"))?;
    let store = match &config.database {
        None => Store::open(&data_dir.join("trainyard.db")).await?,
        Some(url) => Store::open_postgres(url).await?,
    };
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| Error::Listen { address: config.listen.to_string(), source })?;
    let address = listener.local_addr().map_err(Error::Serve)?;
    let url = format!("http://{address}");
    // The AWS listener is bound first: Lambda functions are told its address.
    let aws_listener = TcpListener::bind(config.aws_listen)
        .await
        .map_err(|source| Error::Listen { address: config.aws_listen.to_string(), source })?;
    let aws_url = format!("http://{}", aws_listener.local_addr().map_err(Error::Serve)?);
    let replica = crate::replica::join(&store, data_dir, &url).await?;
    let leadership = store.leadership();
    let mut bus_config = config.bus.clone();
    bus_config.replica = replica.id.clone();
    bus_config.endpoint_url = Some(url.clone());
    bus_config.aws_endpoint_url = Some(aws_url.clone());
    bus_config.functions_dir = Some(data_dir.join("functions"));
    bus_config.python = Some(config.python.clone().into());
    let bus = EventBus::open(store.clone(), bus_config).await?;
    // What a replica left unfinished is picked up here only when no other replica lives
    // (the others' work is theirs).
    let alone = crate::replica::alone(&store, &replica).await?;
    if alone {
        bus.fail_interrupted_replays().await?;
    }
    write_atomically(&data_dir.join("server.url"), &url)?;

    let (stop, stopped) = watch::channel(false);
    let mut workers = vec![
        tokio::spawn({
            let (bus, stopped) = (bus.clone(), stopped.clone());
            async move { bus.run_deliveries(stopped).await }
        }),
        tokio::spawn(crate::replica::keep_alive(store.clone(), replica.clone(), leadership.clone(), stopped.clone())),
    ];
    let sealer = trainyard_auth::Sealer::load_or_create(&data_dir.join("master.key"))?;
    let identities = trainyard_identity::Identities::open(store.clone(), sealer.clone(), Authenticator::new(&token))
        .await
        .map_err(|e| Error::Startup(format!("identity: {e}")))?;
    let audit = trainyard_identity::AuditTrail::start(store.clone(), Some(audit_publisher(&bus)), AUDIT_RETENTION);
    let runs_dir = data_dir.join("runs");
    // Refresh tokens of runs the last server did not end are of no use now.
    let _ = std::fs::remove_dir_all(&runs_dir);
    bus.set_sessions(std::sync::Arc::new(trainyard_identity::RoleSessions {
        identities: identities.clone(),
        url: url.clone(),
        dir: runs_dir,
        audit: Some(audit.clone()),
    }));
    let objects = match &config.object_store {
        None => trainyard_objects::Objects::local(&data_dir.join("objects"), store.clone(), bus.clone())?,
        Some(url) => {
            let objects = trainyard_objects::Objects::from_url(url, store.clone(), bus.clone())?;
            objects.check_reachable(url).await?;
            objects
        }
    };
    let registry = open_registry(&config, &objects, &store, &bus)?;
    let jobs = trainyard_jobs::Jobs::open_with_registry(
        store.clone(),
        objects.clone(),
        bus.clone(),
        jobs_config(&config)?,
        Some(registry.clone()),
    )
    .await?;
    let models = trainyard_models::Registry::new(store.clone(), bus.clone(), jobs.clone(), objects.clone());
    let endpoints_config = trainyard_endpoints::EndpointsConfig {
        cache_dir: data_dir.join("endpoints"),
        account: config.bus.account.clone(),
        region: config.bus.region.clone(),
    };
    let endpoints = trainyard_endpoints::Endpoints::open(
        store.clone(),
        bus.clone(),
        objects.clone(),
        models.clone(),
        endpoints_config,
    )
    .await?;
    let sources_config = trainyard_source::SourcesConfig {
        mirrors: data_dir.join("sources"),
        account: config.bus.account.clone(),
        region: config.bus.region.clone(),
        sealer: sealer.clone(),
    };
    let sources = trainyard_source::Sources::new(store.clone(), bus.clone(), sources_config);
    let sealed = sources.seal_stored_secrets().await.map_err(|e| Error::Startup(e.to_string()))?;
    if sealed > 0 {
        tracing::info!("sealed {sealed} webhook secrets stored in clear by an earlier version");
    }
    let builds = trainyard_builder::Builds::new(
        store.clone(),
        bus.clone(),
        sources.clone(),
        registry.clone(),
        trainyard_builder::BuildsConfig {
            dir: data_dir.join("builds"),
            account: config.bus.account.clone(),
            region: config.bus.region.clone(),
        },
    );
    let pipelines = trainyard_pipelines::Pipelines::new(trainyard_pipelines::Services {
        store: store.clone(),
        bus: bus.clone(),
        sources: sources.clone(),
        jobs: jobs.clone(),
        models: models.clone(),
        endpoints: endpoints.clone(),
        identities: identities.clone(),
    });
    // Invariant: the singletons run on one replica at a time, the leader.
    let singletons: crate::replica::Singletons = {
        let (bus, identities, sources, builds, pipelines) =
            (bus.clone(), identities.clone(), sources.clone(), builds.clone(), pipelines.clone());
        let (jobs, endpoints) = (jobs.clone(), endpoints.clone());
        Box::new(move |stop| {
            let supervision = crate::replica::adopt_orphans(jobs.clone(), endpoints.clone());
            let (bus_a, bus_b, sources, builds, pipelines) =
                (bus.clone(), bus.clone(), sources.clone(), builds.clone(), pipelines.clone());
            let (stop_a, stop_b, stop_c, stop_d, stop_e) =
                (stop.clone(), stop.clone(), stop.clone(), stop.clone(), stop.clone());
            vec![
                tokio::spawn(async move { bus_a.run_schedules(stop_a).await }),
                tokio::spawn(async move { bus_b.run_housekeeping(stop_b).await }),
                tokio::spawn(async move { sources.run(stop_c).await }),
                tokio::spawn(async move { builds.run(stop_d).await }),
                tokio::spawn(async move { pipelines.run(stop_e).await }),
                tokio::spawn(crate::replica::until(stop.clone(), forget_ended_sessions(identities.clone()))),
                tokio::spawn(crate::replica::until(stop, supervision)),
            ]
        })
    };
    workers.push(tokio::spawn(crate::replica::lead(leadership.clone(), stopped.clone(), singletons)));
    let registry_housekeeping =
        tokio::spawn(registry.clone().run_housekeeping(Duration::from_secs(600), Duration::from_secs(24 * 3600)));
    // The AWS API facade on its own listener (AWS_ENDPOINT_URL for boto3, the aws CLI and
    // the SageMaker SDK).
    write_atomically(&data_dir.join("aws.url"), &aws_url)?;
    let aws = trainyard_aws::router(trainyard_aws::AwsState {
        identities: identities.clone(),
        audit: audit.clone(),
        jobs: jobs.clone(),
        bus: bus.clone(),
        objects: objects.clone(),
        endpoints: endpoints.clone(),
        models: models.clone(),
        registry: registry.clone(),
        registry_url: url.clone(),
        unverified: trainyard_aws::AwsState::budget(),
    });
    let replica_status = trainyard_api::ReplicaStatus { id: replica.id.clone(), leading: leadership.clone() };
    let state = AppState {
        bus,
        objects,
        jobs,
        models,
        endpoints,
        sources,
        registry,
        builds,
        pipelines,
        identities,
        audit,
        replica: replica_status,
    };
    // One shutdown for both listeners (and the dashboard's live streams, which end with it).
    let (stopping, stop_serving) = watch::channel(false);
    let router = trainyard_api::router_with(
        state.clone(),
        trainyard_api::Limits { inference: config.http.inference_concurrency },
    )
    .merge(trainyard_dashboard::router(state, stop_serving.clone()));
    println!("trainyard AWS endpoint on {aws_url}");
    on_ready(address);
    let aws_serving = tokio::spawn(crate::serve(aws_listener, aws, config.http, until_stopped(stop_serving.clone())));
    crate::serve(listener, router, config.http, {
        Box::pin(async move {
            shutdown.await;
            let _ = stopping.send(true);
        })
    })
    .await;
    let _ = aws_serving.await;
    let _ = std::fs::remove_file(data_dir.join("aws.url"));
    let _ = stop.send(true);
    registry_housekeeping.abort();
    for worker in workers {
        // In-flight deliveries get a grace period; anything unfinished is retried after restart.
        let _ = tokio::time::timeout(Duration::from_secs(10), worker).await;
    }
    let _ = std::fs::remove_file(data_dir.join("server.url"));
    if let Err(e) = store.leave_replicas(&replica.id).await {
        tracing::warn!(error = %e, "leaving the replicas failed");
    }
    store.close().await;
    Ok(())
}

/// Makes the data directory (made by an older version, or by hand) and its database
/// readable by its owner only.
fn make_private(data_dir: &Path) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    let private = |path: &Path, mode: u32| match std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(Error::DataDir { path: path.display().to_string(), source: e })
        }
        _ => Ok(()),
    };
    private(data_dir, 0o700)?;
    for file in ["trainyard.db", "trainyard.db-wal", "trainyard.db-shm", "admin.token", "master.key"] {
        private(&data_dir.join(file), 0o600)?;
    }
    Ok(())
}

/// Raises the soft open-file limit to the hard one: every connection is a descriptor.
fn raise_open_file_limit(max_connections: usize) {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else { return };
    let limit = if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() { hard } else { soft };
    if max_connections as u64 + 256 > limit {
        tracing::warn!(
            "max_connections is {max_connections} but only {limit} files may be open; \
             accepting backs off when descriptors run out"
        );
    }
}

fn jobs_config(config: &Config) -> Result<trainyard_jobs::JobsConfig, Error> {
    let exe =
        std::env::current_exe().map_err(|source| Error::DataDir { path: "the trainyard executable".into(), source })?;
    let built_in_metrics = trainyard_algorithms::ALGORITHMS
        .iter()
        .flat_map(|a| {
            trainyard_algorithms::default_metric_definitions(a)
                .into_iter()
                .map(move |(name, regex)| (a.to_string(), name, regex))
        })
        .collect();
    Ok(trainyard_jobs::JobsConfig {
        root: config.data_dir.join("jobs"),
        venv_root: config.data_dir.join("venvs"),
        concurrency: config.job_concurrency,
        python: config.python.clone(),
        algorithm_command: vec![exe.display().to_string(), "algorithm".into()],
        evaluator_command: vec![exe.display().to_string(), "evaluator".into()],
        built_in_algorithms: trainyard_algorithms::ALGORITHMS.iter().map(|a| a.to_string()).collect(),
        built_in_metrics,
        stop_grace: config.stop_grace,
        account: config.bus.account.clone(),
        region: config.bus.region.clone(),
    })
}

pub(crate) fn write_atomically(path: &Path, text: &str) -> Result<(), Error> {
    let fail = |source| Error::DataDir { path: path.display().to_string(), source };
    let temporary = path.with_extension("tmp");
    let mut file = std::fs::File::create(&temporary).map_err(fail)?;
    file.write_all(text.as_bytes()).map_err(fail)?;
    file.sync_all().map_err(fail)?;
    std::fs::rename(&temporary, path).map_err(fail)
}

/// The registry: blobs under `DATA_DIR/registry/blobs` (committed by rename), or beside the
/// buckets of a remote object store under `_registry/`; uploads staged in
/// `DATA_DIR/registry/uploads` either way.
fn open_registry(
    config: &Config,
    objects: &trainyard_objects::Objects,
    store: &Store,
    bus: &trainyard_bus::EventBus,
) -> Result<trainyard_registry::Registry, Error> {
    let root = config.data_dir.join("registry");
    let backend = match &config.object_store {
        Some(url) if !url.starts_with("file://") => {
            let (store, prefix) = objects.backend();
            trainyard_registry::Backend::ObjectStore { store, prefix: prefix.child("_registry") }
        }
        _ => trainyard_registry::Backend::Files { root: root.join("blobs") },
    };
    Ok(trainyard_registry::Registry::new(store.clone(), bus.clone(), backend, root.join("uploads"))?)
}

/// How long audit records are kept.
const AUDIT_RETENTION: Duration = Duration::from_secs(90 * 24 * 3600);

/// Puts each written management audit record on the bus as `AWS API Call via CloudTrail`
/// from `aws.<service>`, so that rules can match API calls as they can on AWS.
fn audit_publisher(bus: &EventBus) -> trainyard_identity::AuditPublisher {
    let bus = bus.clone();
    std::sync::Arc::new(move |records: Vec<serde_json::Value>| {
        let bus = bus.clone();
        tokio::spawn(async move {
            for record in records {
                let service = record["eventSource"].as_str().unwrap_or("trainyard").trim_end_matches(".amazonaws.com");
                let source = format!("aws.{service}");
                let resources = record["resources"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|r| r["ARN"].as_str())
                    .map(str::to_string)
                    .collect();
                if let Err(e) = bus.emit(&source, "AWS API Call via CloudTrail", record.clone(), resources).await {
                    tracing::warn!(error = %e, "publishing an audit record on the bus failed");
                }
            }
        });
    })
}

/// Forgets ended role sessions, hourly.
async fn forget_ended_sessions(identities: trainyard_identity::Identities) {
    let mut every_hour = tokio::time::interval(Duration::from_secs(3600));
    loop {
        every_hour.tick().await;
        if let Err(e) = identities.forget_ended_sessions(chrono::Utc::now()).await {
            tracing::warn!(error = %e, "forgetting ended sessions failed");
        }
    }
}

/// A shutdown that resolves when `stopped` turns true.
fn until_stopped(mut stopped: watch::Receiver<bool>) -> Shutdown {
    Box::pin(async move {
        while !*stopped.borrow() {
            if stopped.changed().await.is_err() {
                return;
            }
        }
    })
}
