//! Invocation records written off the answer's path: a function's caller is answered as
//! soon as it returns, and its record (outcome and logs) is written by one writer, many
//! at a time in one transaction. Readers flush first, so they see every invocation that
//! has answered.

use tokio::sync::{mpsc, oneshot};
use trainyard_store::{NewInvocation, Store};

/// The most records written in one transaction.
const GROUP_RECORDS: usize = 256;

pub(crate) enum Message {
    Record(Box<NewInvocation>),
    /// Answered once every record queued before it is stored.
    Flush(oneshot::Sender<()>),
}

/// Starts the writer; it ends when every sender is dropped.
pub(crate) fn start(store: Store) -> mpsc::Sender<Message> {
    let (sender, mut receiver) = mpsc::channel::<Message>(1024);
    tokio::spawn(async move {
        let mut messages = Vec::new();
        while receiver.recv_many(&mut messages, GROUP_RECORDS).await > 0 {
            let mut records = Vec::new();
            let mut flushes = Vec::new();
            for message in messages.drain(..) {
                match message {
                    Message::Record(record) => records.push(*record),
                    Message::Flush(done) => flushes.push(done),
                }
            }
            if !records.is_empty() {
                if let Err(e) = store.record_invocations(&records).await {
                    tracing::warn!(records = records.len(), error = %e, "could not record invocations");
                }
            }
            for done in flushes {
                let _ = done.send(());
            }
        }
    });
    sender
}
