//! `trainyard sources`: followed git branches.

use serde_json::json;

use crate::args::{Output, SourcesCommand};
use crate::client::{encode, Client, Error};
use crate::{output, time};

pub async fn run(client: &Client, out: Output, command: SourcesCommand) -> Result<(), Error> {
    match command {
        SourcesCommand::Add { name, git, branch, poll, webhook_secret } => {
            // A relative repository path is relative to where the user gave it.
            let cwd = std::env::current_dir().map_err(|e| Error::Failure(format!("the working directory: {e}")))?;
            let git = trainyard_source::git::resolve_local(&git, &cwd).unwrap_or(git);
            let poll = poll.map(|p| time::duration(&p).map(|d| d.as_secs().max(1))).transpose()?;
            let body = json!({"Name": name, "Url": git, "Branch": branch, "PollIntervalSeconds": poll,
                              "WebhookSecret": webhook_secret});
            output::item(&client.post("/sources", &body).await?);
        }
        SourcesCommand::List => output::list(
            out,
            &client.get("/sources").await?,
            "Sources",
            &[
                ("NAME", "/Name"),
                ("URL", "/Url"),
                ("BRANCH", "/Branch"),
                ("POLL S", "/PollIntervalSeconds"),
                ("HEAD", "/Head"),
            ],
        ),
        SourcesCommand::Describe { name } => output::item(&client.get(&format!("/sources/{}", encode(&name))).await?),
        SourcesCommand::Delete { name } => {
            client.delete(&format!("/sources/{}", encode(&name))).await?;
            println!("deleted {name}");
        }
        SourcesCommand::Poll { name } => {
            output::item(&client.post(&format!("/sources/{}/poll", encode(&name)), &json!({})).await?)
        }
    }
    Ok(())
}
