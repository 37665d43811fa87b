use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{json, Value};
use trainyard_bus::{BusConfig, EventBus};
use trainyard_jobs::{CreateTrainingJob, Jobs, JobsConfig};
use trainyard_objects::Objects;
use trainyard_store::{EventFilter, Store};

pub struct Harness {
    pub jobs: Jobs,
    pub objects: Objects,
    pub bus: EventBus,
    pub dir: tempfile::TempDir,
}

/// The interpreter for Python scripts: CI points TRAINYARD_PYTHON at a virtual
/// environment with scikit-learn and skl2onnx.
pub fn python() -> String {
    std::env::var("TRAINYARD_PYTHON").unwrap_or_else(|_| "python3".into())
}

impl Harness {
    pub async fn start(concurrency: usize) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).await.unwrap();
        let bus = EventBus::open(store.clone(), BusConfig::default()).await.unwrap();
        // Jobs with a RoleArn run with a session of it: the identity service's, with the
        // role `SageMaker` the tests name, trusting SageMaker.
        let sealer = trainyard_auth::Sealer::from_key(&[5; 32]);
        let root = trainyard_auth::Authenticator::new("tyd_jobs-tests");
        let identities = trainyard_identity::Identities::open(store.clone(), sealer, root).await.unwrap();
        let trust = r#"{"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]}"#;
        let role = trainyard_identity::NewPrincipal {
            name: "SageMaker".into(),
            trust_policy: Some(trust.into()),
            ..Default::default()
        };
        identities.create_principal(trainyard_identity::PrincipalKind::Role, role).await.unwrap();
        bus.set_sessions(std::sync::Arc::new(trainyard_identity::RoleSessions {
            identities,
            url: "http://127.0.0.1:9".into(),
            dir: dir.path().join("runs"),
            audit: None,
        }));
        let objects = Objects::local(&dir.path().join("objects"), store.clone(), bus.clone()).unwrap();
        let jobs = Jobs::open(store, objects.clone(), bus.clone(), config(dir.path(), concurrency)).await.unwrap();
        objects.create_bucket("data").await.unwrap();
        Harness { jobs, objects, bus, dir }
    }

    /// A second service over the same store and directories: what a restarted server
    /// finds.
    pub async fn reopen(&self) -> Jobs {
        Jobs::open(self.bus.store().clone(), self.objects.clone(), self.bus.clone(), config(self.dir.path(), 1))
            .await
            .unwrap()
    }
}

fn config(dir: &std::path::Path, concurrency: usize) -> JobsConfig {
    JobsConfig {
        root: dir.join("jobs"),
        venv_root: dir.join("venvs"),
        concurrency,
        python: python(),
        algorithm_command: vec!["/bin/false".into()],
        evaluator_command: vec!["/bin/false".into()],
        built_in_algorithms: vec![],
        built_in_metrics: vec![],
        stop_grace: Duration::from_secs(1),
        account: "000000000000".into(),
        region: "local".into(),
    }
}

impl Harness {
    pub async fn put(&self, key: &str, content: &[u8]) {
        self.objects.put_bytes("data", key, "application/octet-stream", Bytes::copy_from_slice(content)).await.unwrap();
    }

    /// Uploads a source tarball made of `files` (name, content, executable).
    pub async fn put_source(&self, key: &str, files: &[(&str, &str)]) {
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
        for (name, content) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(content.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, name, content.as_bytes()).unwrap();
        }
        let bytes = builder.into_inner().unwrap().finish().unwrap();
        self.put(key, &bytes).await;
    }

    pub async fn create(&self, request: Value) -> Result<Value, trainyard_jobs::Error> {
        let request: CreateTrainingJob = serde_json::from_value(request).unwrap();
        self.jobs.create(request).await
    }

    /// Waits until the job's status is one of `statuses`; returns the description.
    pub async fn wait_for(&self, name: &str, statuses: &[&str]) -> Value {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let job = self.jobs.describe(name).await.unwrap();
            let status = job["TrainingJobStatus"].as_str().unwrap_or_default();
            let secondary = job["SecondaryStatus"].as_str().unwrap_or_default();
            if statuses.contains(&status) || statuses.contains(&secondary) {
                return job;
            }
            assert!(Instant::now() < deadline, "{name} never reached {statuses:?}: {job:#}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn events(&self, job: &str) -> Vec<Value> {
        let filter = EventFilter { source: Some("aws.sagemaker".into()), limit: 1000, ..Default::default() };
        let mut events: Vec<Value> = self
            .bus
            .store()
            .list_events(&filter)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.event)
            .filter(|e| e["detail"]["TrainingJobName"] == job)
            .collect();
        events.reverse();
        events
    }
}

/// A script-mode request running `program` from `s3://data/<source>`.
pub fn script_job(name: &str, source: &str, program: &str, hyperparameters: &[(&str, &str)]) -> Value {
    let mut hps: BTreeMap<String, String> =
        hyperparameters.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    hps.insert("sagemaker_program".into(), format!("\"{program}\""));
    hps.insert("sagemaker_submit_directory".into(), format!("\"s3://data/{source}\""));
    json!({
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": "sklearn-framework", "TrainingInputMode": "File"},
        "HyperParameters": hps,
        "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://data/train/"}}}],
        "OutputDataConfig": {"S3OutputPath": "s3://data/output"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600}
    })
}

impl Harness {
    pub async fn create_processing(&self, request: Value) -> Result<Value, trainyard_jobs::Error> {
        let request: trainyard_jobs::processing::CreateProcessingJob = serde_json::from_value(request).unwrap();
        self.jobs.create_processing(request).await
    }

    /// Waits until the processing job's status is one of `statuses`; returns the description.
    pub async fn wait_for_processing(&self, name: &str, statuses: &[&str]) -> Value {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let job = self.jobs.describe_processing(name).await.unwrap();
            if statuses.contains(&job["ProcessingJobStatus"].as_str().unwrap_or_default()) {
                return job;
            }
            assert!(Instant::now() < deadline, "{name} never reached {statuses:?}: {job:#}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The statuses announced by `SageMaker Processing Job State Change` events, in order.
    pub async fn processing_statuses(&self, job: &str) -> Vec<String> {
        let filter = EventFilter {
            detail_type: Some("SageMaker Processing Job State Change".into()),
            limit: 1000,
            ..Default::default()
        };
        let mut events: Vec<Value> = self
            .bus
            .store()
            .list_events(&filter)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.event)
            .filter(|e| e["detail"]["ProcessingJobName"] == job)
            .collect();
        events.reverse();
        events.iter().map(|e| e["detail"]["ProcessingJobStatus"].as_str().unwrap().to_string()).collect()
    }

    pub async fn read(&self, key: &str) -> Option<Vec<u8>> {
        use futures::TryStreamExt;
        let (_, stream) = self.objects.get("data", key, None).await.ok()?;
        let chunks: Vec<Bytes> = stream.try_collect().await.unwrap();
        Some(chunks.concat())
    }
}

pub fn transitions(job: &Value) -> Vec<String> {
    job["SecondaryStatusTransitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["Status"].as_str().unwrap().to_string())
        .collect()
}
