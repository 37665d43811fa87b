//! Group commit for `PutEvents`: concurrent callers' events are written in one
//! transaction (one fsync), and each caller is answered when its events are durable.

use tokio::sync::{mpsc, oneshot};
use trainyard_store::{NewEvent, Store};

use crate::Error;

/// The most events written in one group transaction.
const GROUP_EVENTS: usize = 1_000;

/// One caller's events and where to send the outcome.
pub(crate) type Commit = (Vec<NewEvent>, oneshot::Sender<Result<(), trainyard_store::Error>>);

/// Starts the committer; it ends when every sender is dropped.
pub(crate) fn start(store: Store) -> mpsc::Sender<Commit> {
    let (sender, mut receiver) = mpsc::channel::<Commit>(256);
    tokio::spawn(async move {
        let mut waiting = Vec::new();
        while receiver.recv_many(&mut waiting, 64).await > 0 {
            // Take more callers while the group is small; never exceed the cap by much.
            while waiting.iter().map(|(events, _)| events.len()).sum::<usize>() < GROUP_EVENTS {
                match receiver.try_recv() {
                    Ok(commit) => waiting.push(commit),
                    Err(_) => break,
                }
            }
            let all: Vec<NewEvent> = waiting.iter().flat_map(|(events, _)| events.iter().cloned()).collect();
            match store.put_events(&all).await {
                Ok(()) => {
                    for (_, reply) in waiting.drain(..) {
                        let _ = reply.send(Ok(()));
                    }
                }
                Err(_) => {
                    // Invariant: one caller's bad batch never fails another's; retry alone.
                    for (events, reply) in waiting.drain(..) {
                        let _ = reply.send(store.put_events(&events).await);
                    }
                }
            }
        }
    });
    sender
}

/// Hands `events` to the committer and waits until they are durable.
pub(crate) async fn commit(sender: &mpsc::Sender<Commit>, events: Vec<NewEvent>) -> Result<(), Error> {
    let (reply, answer) = oneshot::channel();
    let gone = || Error::invalid("the event committer has stopped");
    sender.send((events, reply)).await.map_err(|_| gone())?;
    answer.await.map_err(|_| gone())?.map_err(Error::from)
}
