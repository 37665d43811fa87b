//! A server started inside the CLI process on a free local port (for `quickstart`
//! and `bench`).

use std::net::SocketAddr;
use std::path::Path;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::client::Error;

pub struct EmbeddedServer {
    pub address: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), trainyard_server::Error>>,
}

impl EmbeddedServer {
    /// Starts a server on `data_dir`, with the `TRAINYARD_*` settings of the
    /// environment (but never its listen address).
    pub async fn start(data_dir: &Path) -> Result<EmbeddedServer, Error> {
        let flags = trainyard_server::Flags {
            data_dir: Some(data_dir.to_path_buf()),
            listen: Some("127.0.0.1:0".into()),
            aws_listen: Some("127.0.0.1:0".into()),
            ..Default::default()
        };
        let environment = std::env::vars()
            .filter(|(k, _)| k.starts_with("TRAINYARD_") && k != "TRAINYARD_LISTEN" && k != "TRAINYARD_AWS_LISTEN")
            .collect();
        let config = trainyard_server::Config::load(&flags, &environment).map_err(|e| Error::Usage(e.to_string()))?;
        let (stop, stopped) = oneshot::channel::<()>();
        let (ready, address) = oneshot::channel();
        let shutdown = Box::pin(async move {
            let _ = stopped.await;
        });
        let task = tokio::spawn(trainyard_server::run(config, shutdown, move |address| {
            let _ = ready.send(address);
        }));
        match address.await {
            Ok(address) => Ok(EmbeddedServer { address, stop, task }),
            Err(_) => {
                let reason = match task.await {
                    Ok(Err(e)) => e.to_string(),
                    _ => "the server stopped".into(),
                };
                Err(Error::Failure(format!("the server did not start: {reason}")))
            }
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}
