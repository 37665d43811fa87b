use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use trainyard_bus::{BusConfig, EventBus};
use trainyard_endpoints::{Deploy, Endpoints, EndpointsConfig};
use trainyard_objects::Objects;
use trainyard_store::{EventFilter, Store};

pub struct Harness {
    pub endpoints: Endpoints,
    pub store: Store,
    pub bus: EventBus,
    pub objects: Objects,
    pub registry: trainyard_models::Registry,
    pub dir: tempfile::TempDir,
}

impl Harness {
    pub async fn start() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).await.unwrap();
        let bus = EventBus::open(store.clone(), BusConfig::default()).await.unwrap();
        let objects = Objects::local(&dir.path().join("objects"), store.clone(), bus.clone()).unwrap();
        objects.create_bucket("models").await.unwrap();
        let jobs_config = trainyard_jobs::JobsConfig {
            root: dir.path().join("jobs"),
            venv_root: dir.path().join("venvs"),
            concurrency: 1,
            python: "python3".into(),
            algorithm_command: vec!["/bin/false".into()],
            evaluator_command: vec!["/bin/false".into()],
            built_in_algorithms: vec![],
            built_in_metrics: vec![],
            stop_grace: Duration::from_secs(1),
            account: "000000000000".into(),
            region: "local".into(),
        };
        let jobs = trainyard_jobs::Jobs::open(store.clone(), objects.clone(), bus.clone(), jobs_config).await.unwrap();
        let registry = trainyard_models::Registry::new(store.clone(), bus.clone(), jobs, objects.clone());
        let endpoints = open(&store, &bus, &objects, &registry, dir.path()).await;
        Harness { endpoints, store, bus, objects, registry, dir }
    }

    /// What a restarted server finds: a second service over the same store and objects.
    pub async fn reopen(&self) -> Endpoints {
        open(&self.store, &self.bus, &self.objects, &self.registry, self.dir.path()).await
    }

    /// Trains a linear regressor on `y = a·x1 + b·x2 (+ noise)` with `features` columns and
    /// uploads it as `s3://models/<name>/model.tar.gz`; returns the URL and the local file.
    pub async fn model(&self, name: &str, a: f64, b: f64, features: usize) -> (String, std::path::PathBuf) {
        let root = self.dir.path().join("train").join(name);
        let (train, model_dir) = (root.join("train"), root.join("model"));
        std::fs::create_dir_all(&train).unwrap();
        let mut csv = String::new();
        for i in 0..200 {
            let x: Vec<f64> = (0..features).map(|j| ((i * 7 + j * 13) % 17) as f64 / 17.0).collect();
            let y = a * x[0] + b * x.get(1).copied().unwrap_or(0.0);
            let cells: Vec<String> = x.iter().map(|v| format!("{v:.4}")).collect();
            csv.push_str(&format!("{y:.4},{}\n", cells.join(",")));
        }
        std::fs::write(train.join("part-0.csv"), csv).unwrap();
        let paths = trainyard_algorithms::ContractPaths {
            train,
            validation: None,
            model_dir: model_dir.clone(),
            output_data_dir: root.join("output/data"),
            failure_file: root.join("output/failure"),
        };
        let mut hps = Map::new();
        hps.insert("predictor_type".into(), json!("regressor"));
        trainyard_algorithms::run_with("linear-learner", &paths, &hps, &mut std::io::sink()).unwrap();
        let tarball = root.join("model.tar.gz");
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            std::fs::File::create(&tarball).unwrap(),
            flate2::Compression::fast(),
        ));
        builder.append_path_with_name(model_dir.join("model.onnx"), "model.onnx").unwrap();
        builder.append_path_with_name(model_dir.join("model.json"), "model.json").unwrap();
        builder.into_inner().unwrap().finish().unwrap();
        let bytes = std::fs::read(&tarball).unwrap();
        let key = format!("{name}/model.tar.gz");
        self.objects.put_bytes("models", &key, "application/gzip", bytes::Bytes::from(bytes)).await.unwrap();
        (format!("s3://models/{key}"), tarball)
    }

    pub async fn deploy(&self, name: &str, url: &str, config: Value) -> Result<Value, trainyard_endpoints::Error> {
        let request: Deploy = serde_json::from_value(json!({
            "ProductionVariants": [{"VariantName": "AllTraffic", "ModelDataUrl": url}],
            "DeploymentConfig": config,
        }))
        .unwrap();
        self.endpoints.deploy(name, request, "admin").await
    }

    /// Waits until the endpoint is settled (no deployment in progress); returns it.
    pub async fn settled(&self, endpoints: &Endpoints, name: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let endpoint = endpoints.describe(name).await.unwrap();
            let status = endpoint["EndpointStatus"].as_str().unwrap_or_default();
            if endpoint.get("PendingDeploymentSummary").is_none() && matches!(status, "InService" | "Failed") {
                return endpoint;
            }
            assert!(Instant::now() < deadline, "{name} never settled: {endpoint:#}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The events of `detail_type` about the endpoint, oldest first.
    pub async fn events(&self, detail_type: &str, endpoint: &str) -> Vec<Value> {
        let filter = EventFilter { detail_type: Some(detail_type.into()), limit: 10_000, ..Default::default() };
        let mut events: Vec<Value> = self
            .store
            .list_events(&filter)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.event["detail"].clone())
            .filter(|d| d["EndpointName"] == endpoint)
            .collect();
        events.reverse();
        events
    }
}

async fn open(
    store: &Store,
    bus: &EventBus,
    objects: &Objects,
    registry: &trainyard_models::Registry,
    dir: &Path,
) -> Endpoints {
    let config =
        EndpointsConfig { cache_dir: dir.join("cache"), account: "000000000000".into(), region: "local".into() };
    Endpoints::open(store.clone(), bus.clone(), objects.clone(), registry.clone(), config).await.unwrap()
}

/// The offline runtime's predictions for `rows` (row-major) on a model file.
pub fn offline(model: &Path, rows: &[f32], n: usize) -> Vec<f32> {
    let model = trainyard_runtime::Model::load(model).unwrap();
    match model.predict(rows, n).unwrap() {
        trainyard_runtime::Predictions::Regression { values, .. } => values,
        other => panic!("not a regressor: {other:?}"),
    }
}
