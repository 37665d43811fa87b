//! The HTTP front door: connections accepted under a limit, HTTP/1.1 with a header-read
//! timeout that also closes idle keep-alive connections, and graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::Shutdown;

/// How many connections, and how long a client may take to send a request's headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Open connections at once; past it nothing more is accepted until one closes.
    pub max_connections: usize,
    /// From the moment the server waits for a request (a new connection, or the next
    /// request on a kept-alive one) to the end of its headers.
    pub header_timeout: Duration,
    /// Inference requests (their bodies buffered) at once; more wait their turn.
    pub inference_concurrency: usize,
}

impl Default for HttpLimits {
    fn default() -> HttpLimits {
        HttpLimits {
            max_connections: 1024,
            header_timeout: Duration::from_secs(30),
            inference_concurrency: std::thread::available_parallelism().map_or(4, |n| 2 * n.get()).max(4),
        }
    }
}

/// The longest graceful shutdown waits for requests in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serves `router` on `listener` until `shutdown` resolves, then lets requests in flight
/// finish (up to [`SHUTDOWN_GRACE`]).
pub async fn serve(listener: TcpListener, router: axum::Router, limits: HttpLimits, mut shutdown: Shutdown) {
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout).keep_alive(true);
    loop {
        // Invariant: at the limit nothing is accepted; new clients wait in the kernel's
        // listen backlog (back-pressure), never in our memory.
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off rather than spin.
                    tracing::warn!("accepting a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = stream;
        let _ = stream.set_nodelay(true);
        // The peer's address, for `aws:SourceIp` and the audit trail (never a header a
        // client could forge).
        let service = TowerToHyperService::new(tower::ServiceExt::map_request(
            router.clone(),
            move |mut request: hyper::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
                request
            },
        ));
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            let _ = connection.await;
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await.is_err() {
        tracing::warn!("requests still in flight after {SHUTDOWN_GRACE:?}; stopping anyway");
    }
}
