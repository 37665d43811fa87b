//! The REST API of trainyard under `/api/v1`: routing, authentication, JSON in and
//! out, and the single mapping from every domain error to an HTTP status and a stable
//! error code.
//!
//! Handlers here are thin: parse, authorise, call the domain, map the result. This
//! crate must never hold business rules of its own, and never answer a route under
//! `/api/v1` (other than `health`) without an authenticated principal. The serving data
//! plane sits at the root (`/endpoints/{name}/invocations`, `/v2/...`, `/metrics`), also
//! authenticated but for the KServe health probes; so does the OCI registry (`/v2/`,
//! `handlers/registry.rs`), which authenticates with its own challenge.

pub mod access;
mod error;
pub mod guard;
mod handlers;
mod openapi;
mod request;

use axum::extract::{DefaultBodyLimit, State};
use axum::middleware;
use axum::routing::{get, post};
use axum::Router;
use trainyard_bus::EventBus;

pub use error::ApiError;

/// The largest request body accepted (PutEvents: 10 entries of 256 KiB, plus JSON).
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub bus: EventBus,
    pub objects: trainyard_objects::Objects,
    pub jobs: trainyard_jobs::Jobs,
    pub models: trainyard_models::Registry,
    pub endpoints: trainyard_endpoints::Endpoints,
    pub sources: trainyard_source::Sources,
    pub registry: trainyard_registry::Registry,
    pub builds: trainyard_builder::Builds,
    pub pipelines: trainyard_pipelines::Pipelines,
    pub identities: trainyard_identity::Identities,
    pub audit: trainyard_identity::AuditTrail,
    /// This process among the replicas sharing the store.
    pub replica: ReplicaStatus,
}

/// Which replica answers, and whether it leads the singletons (shown by `/health`).
#[derive(Clone)]
pub struct ReplicaStatus {
    pub id: String,
    pub leading: tokio::sync::watch::Receiver<bool>,
}

/// The largest inference request body (SageMaker's `InvokeEndpoint` limit).
pub const MAX_INFERENCE_BODY_BYTES: usize = 6 * 1024 * 1024;

/// Limits the routers enforce.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Inference requests served at once (each buffers its body); more wait their turn.
    pub inference: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { inference: 8 }
    }
}

/// Every route, with the default [`Limits`].
pub fn router(state: AppState) -> Router {
    router_with(state, Limits::default())
}

/// Every route: `/api/v1`, the serving data plane and the OCI registry.
pub fn router_with(state: AppState, limits: Limits) -> Router {
    use handlers::*;
    let authenticated = Router::new()
        .route("/openapi.json", get(openapi::document))
        .route("/events", post(events::put).get(events::list))
        .route("/events/test-pattern", post(events::test_pattern))
        .route("/events/{id}", get(events::describe))
        .route("/buses", get(buses::list).post(buses::create))
        .route("/buses/{name}", get(buses::describe).delete(buses::delete))
        .route("/rules", get(rules::list).post(rules::create))
        .route("/rules/{name}", get(rules::describe).delete(rules::delete))
        .route("/rules/{name}/enable", post(rules::enable))
        .route("/rules/{name}/disable", post(rules::disable))
        .route("/rules/{name}/targets", get(rules::list_targets).post(rules::put_target))
        .route("/rules/{name}/targets/{id}", axum::routing::delete(rules::remove_target))
        .route("/functions", get(functions::list).post(functions::create))
        .route("/functions/{name}", get(functions::describe).delete(functions::delete))
        .route("/functions/{name}/invoke", post(functions::invoke))
        .route("/functions/{name}/logs", get(functions::logs))
        .route("/dlq", get(dlq::list))
        .route("/dlq/redrive", post(dlq::redrive))
        .route("/deliveries/counts", get(dlq::counts))
        .route("/archives", get(archives::list).post(archives::create))
        .route("/archives/{name}", get(archives::describe).delete(archives::delete))
        .route("/replays", get(archives::list_replays).post(archives::start_replay))
        .route("/replays/{name}", get(archives::describe_replay))
        .route("/training-jobs", get(training::list).post(training::create))
        .route("/training-jobs/{name}", get(training::describe))
        .route("/training-jobs/{name}/stop", post(training::stop))
        .route("/training-jobs/{name}/logs", get(training::logs))
        .route("/training-jobs/{name}/metrics", get(training::metrics))
        .route("/processing-jobs", get(processing::list).post(processing::create))
        .route("/processing-jobs/{name}", get(processing::describe))
        .route("/processing-jobs/{name}/stop", post(processing::stop))
        .route("/processing-jobs/{name}/logs", get(processing::logs))
        .route("/model-evaluations", post(processing::start_evaluation))
        .route("/model-evaluations/{name}", get(processing::evaluation))
        .route("/sources", get(sources::list).post(sources::add))
        .route("/sources/{name}", get(sources::describe).delete(sources::delete))
        .route("/sources/{name}/poll", post(sources::poll))
        .route("/pipelines", get(pipelines::list).post(pipelines::apply))
        .route("/pipelines/{name}", get(pipelines::describe).delete(pipelines::delete))
        .route("/pipelines/{name}/runs", get(pipelines::runs))
        .route("/pipelines/{name}/start", post(pipelines::start))
        .route("/pipeline-runs/{id}", get(pipelines::describe_run))
        .route("/builds", get(builds::list))
        .route("/builds/{id}", get(builds::describe))
        .route("/builds/{id}/logs", get(builds::logs))
        .route("/endpoints", get(endpoints::list))
        .route("/endpoints/{name}", get(endpoints::describe).delete(endpoints::delete))
        .route("/endpoints/{name}/deployments", post(endpoints::deploy))
        .route("/endpoints/{name}/rollback", post(endpoints::rollback))
        .route("/endpoints/{name}/weights", post(endpoints::update_weights))
        .route("/model-package-groups", get(models::list_groups).post(models::create_group))
        .route("/model-package-groups/{name}", get(models::describe_group).delete(models::delete_group))
        .route("/model-package-groups/{name}/versions", get(models::list_versions))
        .route("/model-package-groups/{name}/versions/{version}", get(models::describe_version))
        .route("/model-package-groups/{name}/versions/{version}/status", post(models::update_status))
        .route("/model-package-groups/{name}/aliases/{alias}", axum::routing::put(models::set_alias))
        .route("/model-packages", post(models::register))
        .route("/iam/policies", get(iam::list_policies).post(iam::create_policy))
        .route("/iam/policies/{name}", get(iam::describe_policy).put(iam::update_policy).delete(iam::delete_policy))
        .route("/iam/simulate", post(iam::simulate))
        .route("/iam/{kind}", get(iam::list).post(iam::create))
        .route("/iam/{kind}/{name}", get(iam::describe).delete(iam::delete))
        .route("/iam/{kind}/{name}/tags", post(iam::tag).delete(iam::untag))
        .route("/iam/{kind}/{name}/trust-policy", axum::routing::put(iam::update_trust))
        .route(
            "/iam/{kind}/{name}/permissions-boundary",
            axum::routing::put(iam::put_boundary).delete(iam::delete_boundary),
        )
        .route("/iam/{kind}/{name}/policies", get(iam::list_inline))
        .route(
            "/iam/{kind}/{name}/policies/{policy}",
            get(iam::get_inline).put(iam::put_inline).delete(iam::delete_inline),
        )
        .route("/iam/{kind}/{name}/attached-policies/{policy}", axum::routing::put(iam::attach).delete(iam::detach))
        .route("/iam/{kind}/{name}/access-keys", get(iam::list_keys).post(iam::create_key))
        .route("/iam/{kind}/{name}/access-keys/{id}", post(iam::update_key).delete(iam::delete_key))
        .route("/sts/assume-role", post(iam::assume_role))
        .route("/sts/caller-identity", get(iam::caller_identity))
        .route("/sts/session-token", post(iam::session_token))
        .route("/audit", get(iam::audit))
        .route(
            "/repositories",
            get(images::list_repositories).post(images::create_repository).delete(images::delete_repository),
        )
        .route("/images", get(images::list_images).delete(images::delete_image))
        .route("/images/describe", get(images::describe_image))
        .route("/buckets", get(objects::list_buckets))
        .route(
            "/buckets/{bucket}",
            axum::routing::put(objects::create_bucket).get(objects::describe_bucket).delete(objects::delete_bucket),
        )
        .route("/buckets/{bucket}/objects", get(objects::list))
        .route(
            "/buckets/{bucket}/objects/{*key}",
            axum::routing::put(objects::put)
                .get(objects::get)
                .head(objects::head)
                .delete(objects::delete)
                // Invariant: object bodies stream to storage, so no body limit here;
                // `Objects::put` enforces the object size limit while streaming.
                .layer(DefaultBodyLimit::disable()),
        )
        .route_layer(middleware::from_fn_with_state(state.clone(), guard::guard));
    let api = Router::new()
        .route("/health", get(health))
        .merge(authenticated)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state.clone());
    Router::new().nest("/api/v1", api).merge(serving(state.clone(), limits)).merge(registry(state))
}

/// The OCI registry at `/v2/`, authenticated on its own terms (a Basic or bearer token,
/// with the Docker token flow's challenge). The KServe routes under `/v2/health` and
/// `/v2/models` are more specific and win.
fn registry(state: AppState) -> Router {
    use handlers::registry;
    Router::new()
        .route("/v2", get(registry::base))
        .route("/v2/", get(registry::base))
        .route("/v2/token", get(registry::token))
        // Invariant: blob bodies stream to storage, so no body limit here; the registry
        // enforces blob and manifest size limits while reading.
        .route("/v2/{*path}", axum::routing::any(registry::dispatch).layer(DefaultBodyLimit::disable()))
        .with_state(state)
}

/// The data plane at the root, where SageMaker and KServe clients expect it: every route
/// authenticated but the KServe health probes and the (signed) GitHub webhook.
fn serving(state: AppState, limits: Limits) -> Router {
    use handlers::serving;
    // Invariant: at most `limits.inference` inference bodies are buffered at once, across
    // every endpoint; the rest wait before their bodies are read.
    let inference = tower::limit::GlobalConcurrencyLimitLayer::with_semaphore(std::sync::Arc::new(
        tokio::sync::Semaphore::new(limits.inference.max(1)),
    ));
    let inference = Router::new()
        .route("/endpoints/{name}/invocations", post(serving::invoke))
        .route("/v2/models/{name}/infer", post(serving::infer))
        .route("/v2/models/{name}/versions/{version}/infer", post(serving::infer_version))
        .route_layer(inference);
    let authenticated = Router::new()
        .route("/v2/models/{name}", get(serving::model_metadata))
        .route("/v2/models/{name}/ready", get(serving::model_ready))
        .route("/metrics", get(serving::metrics))
        .merge(inference)
        .route_layer(middleware::from_fn_with_state(state.clone(), guard::guard));
    let budget = handlers::sources::HookBudget(std::sync::Arc::new(tokio::sync::Semaphore::new(
        handlers::sources::HOOK_BUDGET_BYTES,
    )));
    Router::new()
        .route("/v2/health/live", get(serving::live))
        .route("/v2/health/ready", get(serving::ready))
        .route("/hooks/github", post(handlers::sources::github).layer(axum::Extension(budget)))
        // The container credential endpoint of runs (functions and jobs with a role): its
        // own credential, the run's refresh token, in `Authorization`.
        .route("/credentials/{run}", get(handlers::iam::run_credentials))
        .merge(authenticated)
        .layer(DefaultBodyLimit::max(MAX_INFERENCE_BODY_BYTES))
        .with_state(state)
}

async fn health(State(state): State<AppState>) -> axum::Json<serde_json::Value> {
    let leader = *state.replica.leading.borrow();
    axum::Json(serde_json::json!({"status": "ok", "replica": state.replica.id, "leader": leader}))
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such API route".into())
}
