//! The data plane: the live routing table of every endpoint and the invocation path.
//!
//! Invariant: a request reads its endpoint's routing once (an `Arc` clone under a read lock
//! held for nanoseconds) and runs to its end on the fleet it found there; a deployment swaps
//! the whole routing at once. So a response always comes from one model, and switching
//! models or weights never waits for, or fails, a request in flight. Nothing here touches
//! the metadata database.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use trainyard_runtime::{Label, Model, Predictions, Task};

use crate::payload::Rows;
use crate::stats::{Stats, Window};
use crate::Error;

/// Batches larger than this many values run on the blocking pool instead of the
/// request's own task.
const INLINE_VALUES: usize = 16_384;

/// One production variant: a loaded model and its share of its fleet's traffic.
#[derive(Debug)]
pub struct Variant {
    pub name: String,
    /// What was deployed: `group/version` or the artifact's URL.
    pub model_name: String,
    pub model: Arc<Model>,
    pub weight: f64,
    pub stats: Arc<Stats>,
    /// In-process workers: at most this many requests run the model at once.
    pub workers: Option<Arc<tokio::sync::Semaphore>>,
    /// Whose answers it gives (a SageMaker framework container's, or trainyard's).
    pub serving: crate::Serving,
}

impl Variant {
    /// The model's class labels (empty for regressors).
    pub fn classes(&self) -> &[Label] {
        match self.model.task() {
            Task::Classification { classes, .. } => classes,
            Task::Regression { .. } => &[],
        }
    }

    /// The same model and statistics with another weight.
    pub fn with_weight(&self, weight: f64) -> Variant {
        Variant {
            name: self.name.clone(),
            model_name: self.model_name.clone(),
            model: Arc::clone(&self.model),
            weight,
            stats: Arc::clone(&self.stats),
            workers: self.workers.clone(),
            serving: self.serving,
        }
    }
}

/// The variants of one endpoint configuration.
#[derive(Debug)]
pub struct Fleet {
    pub config_name: String,
    pub variants: Vec<Arc<Variant>>,
}

impl Fleet {
    /// The fleet's statistics summed over its variants.
    pub fn snapshot(&self) -> Window {
        let mut total = Window::default();
        for variant in &self.variants {
            let w = variant.stats.snapshot();
            total.requests += w.requests;
            total.errors += w.errors;
            if total.buckets.is_empty() {
                total.buckets = w.buckets;
            } else {
                total.buckets.iter_mut().zip(w.buckets).for_each(|(a, b)| *a += b);
            }
        }
        total
    }

    /// Picks a variant by weight from a uniform `u` in [0, 1).
    fn pick(&self, u: f64) -> Option<&Arc<Variant>> {
        let total: f64 = self.variants.iter().map(|v| v.weight).sum();
        if total <= 0.0 {
            return self.variants.first();
        }
        let mut at = u * total;
        for variant in &self.variants {
            if at < variant.weight {
                return Some(variant);
            }
            at -= variant.weight;
        }
        self.variants.last()
    }
}

/// Where an endpoint's traffic goes: the live fleet, and during a deployment the new one
/// with its share.
#[derive(Debug, Clone)]
pub struct Routing {
    pub live: Arc<Fleet>,
    pub new: Option<Arc<Fleet>>,
    /// The new fleet's share of traffic, 0..=1.
    pub new_share: f64,
}

/// One endpoint's routing and request counter.
#[derive(Debug)]
pub struct Endpoint {
    routing: RwLock<Arc<Routing>>,
    counter: AtomicU64,
}

/// The fractional part of `n·α` for an irrational α: a low-discrepancy sequence, so shares
/// are met closely even over few requests, without a random generator on the hot path.
fn spread(n: u64, alpha: f64) -> f64 {
    (n as f64 * alpha).fract()
}

impl Endpoint {
    pub fn new(fleet: Arc<Fleet>) -> Endpoint {
        Endpoint {
            routing: RwLock::new(Arc::new(Routing { live: fleet, new: None, new_share: 0.0 })),
            counter: AtomicU64::new(0),
        }
    }

    pub fn routing(&self) -> Arc<Routing> {
        match self.routing.read() {
            Ok(r) => Arc::clone(&r),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Replaces the routing whole.
    pub fn set(&self, routing: Routing) {
        let routing = Arc::new(routing);
        match self.routing.write() {
            Ok(mut r) => *r = routing,
            Err(poisoned) => *poisoned.into_inner() = routing,
        }
    }

    /// The variant for the next request: by name when the caller targets one, else by the
    /// new fleet's share and the variants' weights.
    pub fn choose(&self, name: &str, target: Option<&str>) -> Result<Arc<Variant>, Error> {
        let routing = self.routing();
        if let Some(target) = target {
            let fleets = std::iter::once(&routing.live).chain(routing.new.as_ref());
            let found = fleets.flat_map(|f| f.variants.iter()).find(|v| v.name == target);
            return found.cloned().ok_or_else(|| Error::VariantNotFound {
                endpoint: name.into(),
                variant: target.into(),
                available: routing.live.variants.iter().map(|v| v.name.clone()).collect::<Vec<_>>().join(", "),
            });
        }
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let fleet = match &routing.new {
            Some(new) if spread(n, 0.618_033_988_749_895) < routing.new_share => new,
            _ => &routing.live,
        };
        fleet
            .pick(spread(n, 0.754_877_666_246_693))
            .cloned()
            .ok_or_else(|| Error::EndpointNotFound { name: name.into() })
    }
}

/// A successful invocation.
pub struct Answer {
    pub variant: Arc<Variant>,
    pub predictions: Predictions,
    pub model_time: Duration,
}

/// Every endpoint's live routing, by name.
#[derive(Debug, Default)]
pub struct DataPlane {
    endpoints: RwLock<HashMap<String, Arc<Endpoint>>>,
}

impl DataPlane {
    pub fn get(&self, name: &str) -> Option<Arc<Endpoint>> {
        self.endpoints.read().ok()?.get(name).cloned()
    }

    pub fn install(&self, name: &str, endpoint: Arc<Endpoint>) {
        if let Ok(mut endpoints) = self.endpoints.write() {
            endpoints.insert(name.to_string(), endpoint);
        }
    }

    pub fn remove(&self, name: &str) {
        if let Ok(mut endpoints) = self.endpoints.write() {
            endpoints.remove(name);
        }
    }

    /// Runs `rows` on the endpoint (on `target` when given). A failure the chosen variant
    /// caused (input that does not fit its model, an inference error) counts against it.
    pub async fn invoke(
        &self,
        name: &str,
        rows: Rows,
        target: Option<&str>,
        started: Instant,
    ) -> Result<Answer, Error> {
        let endpoint = self.get(name).ok_or_else(|| Error::EndpointNotFound { name: name.into() })?;
        let variant = endpoint.choose(name, target)?;
        let model_started = Instant::now();
        let result = run(&variant, rows).await;
        let model_time = model_started.elapsed();
        match result {
            Ok(predictions) => Ok(Answer { variant, predictions, model_time }),
            Err(e) => {
                variant.stats.record(model_time, started.elapsed(), true);
                Err(e)
            }
        }
    }

    /// Prometheus text for every endpoint and variant.
    pub fn render_metrics(&self) -> String {
        let mut out = String::from(crate::stats::PROMETHEUS_HEADER);
        let endpoints: Vec<(String, Arc<Endpoint>)> = match self.endpoints.read() {
            Ok(e) => e.iter().map(|(k, v)| (k.clone(), Arc::clone(v))).collect(),
            Err(_) => Vec::new(),
        };
        for (name, endpoint) in endpoints {
            let routing = endpoint.routing();
            for fleet in std::iter::once(&routing.live).chain(routing.new.as_ref()) {
                for variant in &fleet.variants {
                    variant.stats.render(&mut out, &name, &variant.name, &fleet.config_name);
                }
            }
        }
        out
    }
}

async fn run(variant: &Arc<Variant>, rows: Rows) -> Result<Predictions, Error> {
    let _worker = match &variant.workers {
        Some(workers) => Some(
            workers
                .acquire()
                .await
                .map_err(|e| Error::Model { variant: variant.name.clone(), message: e.to_string() })?,
        ),
        None => None,
    };
    let model = &variant.model;
    let rows = match &model.metadata() {
        Some(metadata) => rows.in_feature_order(&metadata.feature_names)?,
        None => rows,
    };
    if rows.width != model.n_features() {
        return Err(Error::InvalidInput {
            reason: format!(
                "variant {} expects {} features per row, the request has {}",
                variant.name,
                model.n_features(),
                rows.width
            ),
        });
    }
    if rows.values.len() <= INLINE_VALUES {
        return predict(model, &rows, &variant.name);
    }
    let (model, name) = (Arc::clone(model), variant.name.clone());
    tokio::task::spawn_blocking(move || predict(&model, &rows, &name))
        .await
        .map_err(|e| Error::Model { variant: variant.name.clone(), message: e.to_string() })?
}

/// Runs the model; input it refuses is the caller's error, anything else the model's.
fn predict(model: &Model, rows: &Rows, variant: &str) -> Result<Predictions, Error> {
    model.predict(&rows.values, rows.rows).map_err(|e| match e {
        trainyard_runtime::Error::Input { reason } => Error::InvalidInput { reason },
        other => Error::Model { variant: variant.to_string(), message: other.to_string() },
    })
}
