//! The dashboard of trainyard under `/ui`: server-rendered pages (askama templates) of the
//! loop — pipelines and their runs, training jobs with their metrics and logs, model
//! versions and their comparison, endpoints and their deployments, events — kept live
//! by server-sent events carrying HTML fragments that htmx swaps in place.
//!
//! A protocol front like `api`: it parses, authorizes every page and action as the API
//! route it stands for (`trainyard_api::guard::authorize_route`, the caller's policies),
//! calls the same services, and writes HTML. It must never hold business rules, answer a
//! page without a signed-in session, accept a form without its session's CSRF token, run
//! inline script, or load anything from outside the binary (every asset is embedded).

mod assets;
mod error;
mod live;
mod pages;
mod session;
mod view;

use axum::routing::{get, post};
use axum::Router;
use trainyard_api::AppState;

pub use error::UiError;
pub use session::SESSION_COOKIE;

/// What every dashboard handler can reach.
#[derive(Clone)]
pub struct Ui {
    pub app: AppState,
    sessions: session::Sessions,
    renders: live::Shared,
    samples: std::sync::Arc<pages::endpoints::Samples>,
    /// Becomes true when the server stops: live streams end, so shutdown need not wait.
    stopping: tokio::sync::watch::Receiver<bool>,
}

/// Every route under `/ui`; live streams end when `stopping` becomes true.
pub fn router(app: AppState, stopping: tokio::sync::watch::Receiver<bool>) -> Router {
    use pages::*;
    let ui = Ui {
        app,
        sessions: session::Sessions::default(),
        renders: live::Shared::default(),
        samples: Default::default(),
        stopping,
    };
    Router::new()
        .route("/ui", get(|| async { axum::response::Redirect::to("/ui/") }))
        .route("/ui/", get(overview::page))
        .route("/ui/login", get(session::login_page).post(session::sign_in))
        .route("/ui/logout", post(session::sign_out))
        .route("/ui/assets/{file}", get(assets::serve))
        .route("/ui/live/overview", get(overview::live))
        .route("/ui/pipelines/{name}", get(pipelines::pipeline))
        .route("/ui/live/pipelines/{name}", get(pipelines::pipeline_live))
        .route("/ui/pipeline-runs/{id}", get(pipelines::run))
        .route("/ui/pipeline-runs/{id}/live", get(pipelines::run_live))
        .route("/ui/training-jobs", get(jobs::list))
        .route("/ui/training-jobs/{name}", get(jobs::job))
        .route("/ui/training-jobs/{name}/live", get(jobs::job_live))
        .route("/ui/training-jobs/{name}/log", get(jobs::log_download))
        .route("/ui/models", get(models::groups))
        .route("/ui/models/{group}", get(models::group))
        .route("/ui/models/{group}/compare", get(models::compare))
        .route("/ui/models/{group}/versions/{version}/status", post(models::set_status))
        .route("/ui/endpoints", get(endpoints::list))
        .route("/ui/endpoints/{name}", get(endpoints::endpoint))
        .route("/ui/endpoints/{name}/live", get(endpoints::endpoint_live))
        .route("/ui/events", get(events::tail))
        .route("/ui/events/live", get(events::tail_live))
        .route("/ui/events/{id}", get(events::event))
        .route("/ui/dlq", get(dlq::page))
        .route("/ui/dlq/redrive", post(dlq::redrive))
        .route("/ui/rules", get(rules::list))
        .route("/ui/rules/{name}", get(rules::rule))
        .route("/ui/images", get(supply::images))
        .route("/ui/builds", get(supply::builds_page))
        .route("/ui/builds/{id}", get(supply::build))
        .route("/ui/{*rest}", get(not_found).post(not_found))
        .layer(axum::middleware::from_fn(assets::security_headers))
        .with_state(ui)
}

async fn not_found(uri: axum::http::Uri) -> UiError {
    UiError::NotFound(format!("there is no page at {}", uri.path()))
}
