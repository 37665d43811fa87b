//! A running API server and a recording HTTP target, for tests.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use reqwest::Method;
use serde_json::{json, Value};
use tokio::sync::watch;
use trainyard_api::AppState;
use trainyard_auth::Authenticator;
use trainyard_bus::{BusConfig, EventBus};
use trainyard_store::Store;

pub const TOKEN: &str = "test-token";

pub struct Server {
    pub url: String,
    pub http: reqwest::Client,
    pub audit: trainyard_identity::AuditTrail,
    _stop: watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

impl Server {
    pub async fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("trainyard.db")).await.unwrap();
        let config = BusConfig {
            base_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(200),
            http_timeout: Duration::from_secs(5),
            ..BusConfig::default()
        };
        let store_handle = store.clone();
        let bus = EventBus::open(store, config).await.unwrap();
        let (stop, stopped) = watch::channel(false);
        tokio::spawn({
            let bus = bus.clone();
            async move { bus.run_deliveries(stopped).await }
        });
        let objects =
            trainyard_objects::Objects::local(&dir.path().join("objects"), store_handle.clone(), bus.clone()).unwrap();
        let jobs_config = trainyard_jobs::JobsConfig {
            root: dir.path().join("jobs"),
            venv_root: dir.path().join("venvs"),
            concurrency: 1,
            python: std::env::var("TRAINYARD_PYTHON").unwrap_or_else(|_| "python3".into()),
            algorithm_command: vec!["/bin/false".into()],
            evaluator_command: vec!["/bin/false".into()],
            built_in_algorithms: vec![],
            built_in_metrics: vec![],
            stop_grace: Duration::from_secs(1),
            account: "000000000000".into(),
            region: "local".into(),
        };
        let store_for_models = store_handle.clone();
        let store_handle_for_endpoints = store_handle.clone();
        let store_handle_for_sources = store_handle.clone();
        let store_for_registry = store_handle.clone();
        let store_for_builds = store_handle.clone();
        let store_for_pipelines = store_handle.clone();
        let identity_store = store_handle.clone();
        let jobs = trainyard_jobs::Jobs::open(store_handle, objects.clone(), bus.clone(), jobs_config).await.unwrap();
        let models = trainyard_models::Registry::new(store_for_models, bus.clone(), jobs.clone(), objects.clone());
        let endpoints = trainyard_endpoints::Endpoints::open(
            store_handle_for_endpoints,
            bus.clone(),
            objects.clone(),
            models.clone(),
            trainyard_endpoints::EndpointsConfig {
                cache_dir: dir.path().join("endpoints"),
                account: "000000000000".into(),
                region: "local".into(),
            },
        )
        .await
        .unwrap();
        let sources = trainyard_source::Sources::new(
            store_handle_for_sources,
            bus.clone(),
            trainyard_source::SourcesConfig {
                mirrors: dir.path().join("sources"),
                account: "000000000000".into(),
                region: "local".into(),
                sealer: trainyard_auth::Sealer::from_key(&[3; 32]),
            },
        );
        let registry = trainyard_registry::Registry::new(
            store_for_registry,
            bus.clone(),
            trainyard_registry::Backend::Files { root: dir.path().join("registry/blobs") },
            dir.path().join("registry/uploads"),
        )
        .unwrap();
        let builds = trainyard_builder::Builds::new(
            store_for_builds,
            bus.clone(),
            sources.clone(),
            registry.clone(),
            trainyard_builder::BuildsConfig {
                dir: dir.path().join("builds"),
                account: "000000000000".into(),
                region: "local".into(),
            },
        );
        let identities = trainyard_identity::Identities::open(
            identity_store.clone(),
            trainyard_auth::Sealer::from_key(&[3; 32]),
            Authenticator::new(TOKEN),
        )
        .await
        .unwrap();
        let pipelines = trainyard_pipelines::Pipelines::new(trainyard_pipelines::Services {
            store: store_for_pipelines,
            bus: bus.clone(),
            sources: sources.clone(),
            jobs: jobs.clone(),
            models: models.clone(),
            endpoints: endpoints.clone(),
            identities: identities.clone(),
        });
        let (sessions_bus, sessions_identities) = (bus.clone(), identities.clone());
        let audit = trainyard_identity::AuditTrail::start(identity_store, None, std::time::Duration::from_secs(3600));
        let sessions_audit = audit.clone();
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
            audit: audit.clone(),
            replica: trainyard_api::ReplicaStatus { id: "test".into(), leading: tokio::sync::watch::channel(true).1 },
        };
        let router = trainyard_api::router(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        sessions_bus.set_sessions(std::sync::Arc::new(trainyard_identity::RoleSessions {
            identities: sessions_identities,
            url: url.clone(),
            dir: dir.path().join("runs"),
            audit: Some(sessions_audit),
        }));
        let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
        tokio::spawn(async move { axum::serve(listener, service).await });
        Server { url, http: reqwest::Client::new(), audit, _stop: stop, _dir: dir }
    }

    /// Calls the API with the admin token; returns status and JSON body.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call_as(TOKEN, method, path, body).await
    }

    /// Calls the API with `secret` (an access key's secret or a session token).
    pub async fn call_as(&self, secret: &str, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("{}/api/v1{path}", self.url)).bearer_auth(secret);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
        let text = response.text().await.unwrap();
        (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    /// A raw request with the admin token (for object bodies and headers).
    pub fn raw(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}/api/v1{path}", self.url)).bearer_auth(TOKEN)
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    /// Creates a rule and asserts it worked.
    pub async fn rule(&self, name: &str, pattern: Value) {
        let (status, body) = self.post("/rules", json!({"Name": name, "EventPattern": pattern})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    /// Adds a target and asserts it worked.
    pub async fn target(&self, rule: &str, target: Value) {
        let (status, body) = self.post(&format!("/rules/{rule}/targets"), target).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    /// Puts one user event; returns its id.
    pub async fn put(&self, source: &str, detail: Value) -> String {
        let entry = json!({"Source": source, "DetailType": "Test", "Detail": detail});
        let (status, body) = self.post("/events", json!({"Entries": [entry]})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["Entries"][0]["EventId"].as_str().unwrap_or_else(|| panic!("not accepted: {body}")).to_string()
    }

    /// Waits until every delivery of `event` is final; returns the described event.
    pub async fn settled(&self, event: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (_, described) = self.get(&format!("/events/{event}")).await;
            let deliveries = described["Deliveries"].as_array().cloned().unwrap_or_default();
            let done = deliveries.iter().all(|d| d["State"] == "succeeded" || d["State"] == "dead");
            if (done && !deliveries.is_empty()) || Instant::now() > deadline {
                return described;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

type Received = Arc<Mutex<Vec<(Value, Option<String>)>>>;
type Statuses = Arc<Mutex<Vec<u16>>>;

/// An HTTP endpoint that records what it receives and answers with scripted statuses
/// (the last status repeats).
#[derive(Clone)]
pub struct Recorder {
    pub url: String,
    received: Received,
    statuses: Statuses,
}

impl Recorder {
    pub async fn start(statuses: &[u16]) -> Recorder {
        let received: Received = Arc::new(Mutex::new(Vec::new()));
        let statuses: Statuses = Arc::new(Mutex::new(statuses.to_vec()));
        let state = (Arc::clone(&received), Arc::clone(&statuses));
        let app = axum::Router::new()
            .route(
                "/",
                post(
                    |State((received, statuses)): State<(Received, Statuses)>,
                     headers: axum::http::HeaderMap,
                     body: String| async move {
                        let header = headers.get("x-test").and_then(|v| v.to_str().ok()).map(str::to_string);
                        received
                            .lock()
                            .unwrap()
                            .push((serde_json::from_str(&body).unwrap_or(Value::String(body)), header));
                        let mut statuses = statuses.lock().unwrap();
                        let status = if statuses.len() > 1 { statuses.remove(0) } else { statuses[0] };
                        StatusCode::from_u16(status).unwrap()
                    },
                ),
            )
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Recorder { url, received, statuses }
    }

    pub fn received(&self) -> Vec<Value> {
        self.received.lock().unwrap().iter().map(|(v, _)| v.clone()).collect()
    }

    pub fn headers(&self) -> Vec<Option<String>> {
        self.received.lock().unwrap().iter().map(|(_, h)| h.clone()).collect()
    }

    pub fn answer(&self, statuses: &[u16]) {
        *self.statuses.lock().unwrap() = statuses.to_vec();
    }
}
