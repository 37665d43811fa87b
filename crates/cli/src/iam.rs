//! `trainyard iam`, `sts`, `whoami` and `audit`: principals, policies, keys, sessions,
//! the policy simulator and the audit trail.

use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::args::Output;
use crate::client::{encode, Client, Error};
use crate::output;

/// Which principal a command is about (exactly one).
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct PrincipalArg {
    #[arg(long)]
    user: Option<String>,
    #[arg(long)]
    service_account: Option<String>,
    #[arg(long)]
    role: Option<String>,
}

impl PrincipalArg {
    /// `/iam/{kind}/{name}`.
    fn path(&self) -> String {
        let (kind, name) = match (&self.user, &self.service_account, &self.role) {
            (Some(name), _, _) => ("users", name),
            (_, Some(name), _) => ("service-accounts", name),
            (_, _, Some(name)) => ("roles", name),
            _ => unreachable!("clap requires one"),
        };
        format!("/iam/{kind}/{}", encode(name))
    }
}

#[derive(Debug, Subcommand)]
pub enum IamCommand {
    /// People: principals with access keys.
    #[command(subcommand)]
    Users(PrincipalCommand),
    /// Robots: access keys, no password.
    #[command(subcommand)]
    ServiceAccounts(PrincipalCommand),
    /// Roles: a trust policy says who may assume them, for a session.
    #[command(subcommand)]
    Roles(PrincipalCommand),
    /// Managed policies: built-in and your own.
    #[command(subcommand)]
    Policies(PolicyCommand),
    /// Access keys of users and service accounts.
    #[command(subcommand)]
    Keys(KeyCommand),
    /// Attach a managed policy.
    Attach {
        #[command(flatten)]
        principal: PrincipalArg,
        #[arg(long)]
        policy: String,
    },
    /// Detach a managed policy.
    Detach {
        #[command(flatten)]
        principal: PrincipalArg,
        #[arg(long)]
        policy: String,
    },
    /// Create or replace an inline policy.
    PutPolicy {
        #[command(flatten)]
        principal: PrincipalArg,
        /// The inline policy's name.
        #[arg(long)]
        name: String,
        /// The document: JSON, or @FILE.
        #[arg(long)]
        document: String,
    },
    /// Delete an inline policy.
    DeletePolicy {
        #[command(flatten)]
        principal: PrincipalArg,
        #[arg(long)]
        name: String,
    },
    /// Set (or with --remove, remove) a permissions boundary: a ceiling on permissions.
    Boundary {
        #[command(flatten)]
        principal: PrincipalArg,
        /// A managed policy's name or ARN.
        #[arg(long, required_unless_present = "remove")]
        policy: Option<String>,
        #[arg(long)]
        remove: bool,
    },
    /// Decide actions on resources for a principal, and show the statement that decided.
    Simulate {
        /// The user's or role's ARN (or name, with --principal-kind).
        #[arg(long)]
        principal: String,
        #[arg(long = "action", required = true)]
        actions: Vec<String>,
        #[arg(long = "resource")]
        resources: Vec<String>,
        /// A condition key's value: KEY=VALUE (repeat a key for several values).
        #[arg(long = "context")]
        context: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum PrincipalCommand {
    List,
    Create {
        name: String,
        #[arg(long)]
        path: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// Roles: the trust policy (JSON or @FILE): who may assume the role.
        #[arg(long)]
        trust_policy: Option<String>,
        /// Roles: the longest session, in seconds (3600-43200).
        #[arg(long)]
        max_session_duration: Option<i64>,
        /// A managed policy as the permissions boundary.
        #[arg(long)]
        boundary: Option<String>,
        /// KEY=VALUE
        #[arg(long = "tag")]
        tags: Vec<String>,
    },
    Describe {
        name: String,
    },
    Delete {
        name: String,
    },
    /// Roles: replace the trust policy (JSON or @FILE).
    UpdateTrust {
        name: String,
        #[arg(long)]
        trust_policy: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    List,
    Create {
        name: String,
        /// The document: JSON, or @FILE.
        #[arg(long)]
        document: String,
        #[arg(long)]
        description: Option<String>,
    },
    Describe {
        name: String,
    },
    /// Replace the document.
    Update {
        name: String,
        #[arg(long)]
        document: String,
    },
    Delete {
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// A new key; its secret is printed once and never again.
    Create {
        #[command(flatten)]
        principal: PrincipalArg,
        /// Also write it to the credentials file as this profile.
        #[arg(long)]
        save_profile: Option<String>,
    },
    List {
        #[command(flatten)]
        principal: PrincipalArg,
    },
    Activate {
        #[command(flatten)]
        principal: PrincipalArg,
        id: String,
    },
    Deactivate {
        #[command(flatten)]
        principal: PrincipalArg,
        id: String,
    },
    Delete {
        #[command(flatten)]
        principal: PrincipalArg,
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum StsCommand {
    /// A role session's credentials (15 min to the role's maximum; 1 h by default).
    AssumeRole {
        /// The role's ARN or name.
        #[arg(long)]
        role: String,
        #[arg(long)]
        session_name: String,
        /// Seconds.
        #[arg(long)]
        duration: Option<i64>,
        /// A session policy (JSON or @FILE): a ceiling on the session.
        #[arg(long)]
        policy: Option<String>,
        /// Also write the session to the credentials file as this profile.
        #[arg(long)]
        save_profile: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AwsCommand {
    /// The `export` lines that point every AWS client in a shell at this server, with a
    /// fresh session: root's by default, or a role's, or a user's. `eval "$(trainyard aws env)"`.
    Env {
        /// Assume this role (ARN or name) for the session instead.
        #[arg(long, conflicts_with = "user")]
        role: Option<String>,
        /// A session of this user (name or ARN) instead: root may start any user's, a user
        /// its own (GetSessionToken).
        #[arg(long)]
        user: Option<String>,
        /// Seconds the session lasts (15 min to 12 h; a role's own maximum applies).
        #[arg(long, default_value_t = 3600)]
        duration: i64,
        /// The AWS endpoint (default: the data dir's aws.url).
        #[arg(long, env = "TRAINYARD_AWS_ENDPOINT")]
        aws_endpoint: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// The latest records.
    List {
        /// Only this principal's calls (an ARN).
        #[arg(long)]
        principal: Option<String>,
        /// Only denied calls.
        #[arg(long)]
        denied: bool,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Follow the trail: print records as they are written (until Ctrl-C).
    Tail {
        #[arg(long)]
        principal: Option<String>,
        #[arg(long)]
        denied: bool,
    },
}

/// A JSON argument given inline or as @FILE.
fn document(flag: &str, text: &str) -> Result<Value, Error> {
    let text = match text.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).map_err(|e| Error::Usage(format!("--{flag} {path}: {e}")))?,
        None => text.to_string(),
    };
    serde_json::from_str::<Value>(&text).map_err(|e| Error::Usage(format!("--{flag} is not valid JSON: {e}")))?;
    Ok(Value::String(text))
}

fn tags(items: &[String]) -> Result<Value, Error> {
    let mut map = serde_json::Map::new();
    for item in items {
        let (key, value) =
            item.split_once('=').ok_or_else(|| Error::Usage(format!("--tag {item:?}: expected KEY=VALUE")))?;
        map.insert(key.to_string(), value.into());
    }
    Ok(Value::Object(map))
}

pub async fn run(client: &Client, out: Output, command: IamCommand) -> Result<(), Error> {
    match command {
        IamCommand::Users(command) => principals(client, out, "users", command).await,
        IamCommand::ServiceAccounts(command) => principals(client, out, "service-accounts", command).await,
        IamCommand::Roles(command) => principals(client, out, "roles", command).await,
        IamCommand::Policies(command) => policies(client, out, command).await,
        IamCommand::Keys(command) => keys(client, out, command).await,
        IamCommand::Attach { principal, policy } => {
            let path = format!("{}/attached-policies/{}", principal.path(), encode(&policy));
            output::item(&client.put(&path, &json!({})).await?);
            Ok(())
        }
        IamCommand::Detach { principal, policy } => {
            let path = format!("{}/attached-policies/{}", principal.path(), encode(&policy));
            client.delete(&path).await?;
            println!("detached {policy}");
            Ok(())
        }
        IamCommand::PutPolicy { principal, name, document: text } => {
            let body = json!({"PolicyDocument": document("document", &text)?});
            client.put(&format!("{}/policies/{}", principal.path(), encode(&name)), &body).await?;
            println!("put inline policy {name}");
            Ok(())
        }
        IamCommand::DeletePolicy { principal, name } => {
            client.delete(&format!("{}/policies/{}", principal.path(), encode(&name))).await?;
            println!("deleted inline policy {name}");
            Ok(())
        }
        IamCommand::Boundary { principal, policy, remove } => {
            let path = format!("{}/permissions-boundary", principal.path());
            match (remove, policy) {
                (true, _) => output::item(&client.delete(&path).await?),
                (false, Some(policy)) => {
                    output::item(&client.put(&path, &json!({"PermissionsBoundary": policy})).await?)
                }
                (false, None) => return Err(Error::Usage("--policy or --remove".into())),
            }
            Ok(())
        }
        IamCommand::Simulate { principal, actions, resources, context } => {
            simulate(client, out, principal, actions, resources, context).await
        }
    }
}

async fn principals(client: &Client, out: Output, kind: &str, command: PrincipalCommand) -> Result<(), Error> {
    let base = format!("/iam/{kind}");
    match command {
        PrincipalCommand::List => output::list(
            out,
            &client.get(&base).await?,
            "Principals",
            &[("NAME", "/Name"), ("ARN", "/Arn"), ("ID", "/Id"), ("CREATED", "/CreateDate")],
        ),
        PrincipalCommand::Create { name, path, description, trust_policy, max_session_duration, boundary, tags: t } => {
            let trust = trust_policy.map(|t| document("trust-policy", &t)).transpose()?;
            let body = json!({"Name": name, "Path": path, "Description": description,
                              "AssumeRolePolicyDocument": trust, "MaxSessionDuration": max_session_duration,
                              "PermissionsBoundary": boundary, "Tags": tags(&t)?});
            output::item(&client.post(&base, &body).await?);
        }
        PrincipalCommand::Describe { name } => output::item(&client.get(&format!("{base}/{}", encode(&name))).await?),
        PrincipalCommand::Delete { name } => {
            client.delete(&format!("{base}/{}", encode(&name))).await?;
            println!("deleted {name}");
        }
        PrincipalCommand::UpdateTrust { name, trust_policy } => {
            let body = json!({"PolicyDocument": document("trust-policy", &trust_policy)?});
            output::item(&client.put(&format!("{base}/{}/trust-policy", encode(&name)), &body).await?);
        }
    }
    Ok(())
}

async fn policies(client: &Client, out: Output, command: PolicyCommand) -> Result<(), Error> {
    match command {
        PolicyCommand::List => output::list(
            out,
            &client.get("/iam/policies").await?,
            "Policies",
            &[("NAME", "/PolicyName"), ("ARN", "/Arn"), ("BUILTIN", "/Builtin"), ("ATTACHED", "/AttachmentCount")],
        ),
        PolicyCommand::Create { name, document: text, description } => {
            let body =
                json!({"PolicyName": name, "PolicyDocument": document("document", &text)?, "Description": description});
            output::item(&client.post("/iam/policies", &body).await?);
        }
        PolicyCommand::Describe { name } => {
            output::item(&client.get(&format!("/iam/policies/{}", encode(&name))).await?)
        }
        PolicyCommand::Update { name, document: text } => {
            let body = json!({"PolicyDocument": document("document", &text)?});
            output::item(&client.put(&format!("/iam/policies/{}", encode(&name)), &body).await?);
        }
        PolicyCommand::Delete { name } => {
            client.delete(&format!("/iam/policies/{}", encode(&name))).await?;
            println!("deleted {name}");
        }
    }
    Ok(())
}

async fn keys(client: &Client, out: Output, command: KeyCommand) -> Result<(), Error> {
    match command {
        KeyCommand::Create { principal, save_profile } => {
            let created = client.post(&format!("{}/access-keys", principal.path()), &json!({})).await?;
            let key = &created["AccessKey"];
            if let Some(profile) = save_profile {
                let values = [
                    ("aws_access_key_id", key["AccessKeyId"].as_str().unwrap_or_default()),
                    ("aws_secret_access_key", key["SecretAccessKey"].as_str().unwrap_or_default()),
                    ("endpoint_url", client.endpoint()),
                ];
                let path = crate::credentials::save_profile(&profile, &values)?;
                eprintln!("saved as profile {profile} in {}", path.display());
            }
            output::item(&created);
            eprintln!("the secret is shown this once: keep it now");
        }
        KeyCommand::List { principal } => output::list(
            out,
            &client.get(&format!("{}/access-keys", principal.path())).await?,
            "AccessKeyMetadata",
            &[("ID", "/AccessKeyId"), ("STATUS", "/Status"), ("CREATED", "/CreateDate")],
        ),
        KeyCommand::Activate { principal, id } => set_key(client, &principal, &id, "Active").await?,
        KeyCommand::Deactivate { principal, id } => set_key(client, &principal, &id, "Inactive").await?,
        KeyCommand::Delete { principal, id } => {
            client.delete(&format!("{}/access-keys/{}", principal.path(), encode(&id))).await?;
            println!("deleted {id}");
        }
    }
    Ok(())
}

async fn set_key(client: &Client, principal: &PrincipalArg, id: &str, status: &str) -> Result<(), Error> {
    client.post(&format!("{}/access-keys/{}", principal.path(), encode(id)), &json!({"Status": status})).await?;
    println!("{id} is {status}");
    Ok(())
}

async fn simulate(
    client: &Client,
    out: Output,
    principal: String,
    actions: Vec<String>,
    resources: Vec<String>,
    context: Vec<String>,
) -> Result<(), Error> {
    let mut entries: Vec<(String, Vec<String>)> = Vec::new();
    for item in &context {
        let (key, value) =
            item.split_once('=').ok_or_else(|| Error::Usage(format!("--context {item:?}: expected KEY=VALUE")))?;
        match entries.iter_mut().find(|(k, _)| k == key) {
            Some((_, values)) => values.push(value.to_string()),
            None => entries.push((key.to_string(), vec![value.to_string()])),
        }
    }
    let context: Vec<Value> =
        entries.into_iter().map(|(k, v)| json!({"ContextKeyName": k, "ContextKeyValues": v})).collect();
    let body = json!({"PolicySourceArn": principal, "ActionNames": actions, "ResourceArns": resources, "ContextEntries": context});
    let answer = client.post("/iam/simulate", &body).await?;
    output::list(
        out,
        &answer,
        "EvaluationResults",
        &[
            ("ACTION", "/EvalActionName"),
            ("RESOURCE", "/EvalResourceName"),
            ("DECISION", "/EvalDecision"),
            ("POLICY", "/MatchedStatements/0/SourcePolicyId"),
            ("SID", "/MatchedStatements/0/Sid"),
            ("STATEMENT", "/MatchedStatements/0/StatementIndex"),
        ],
    );
    Ok(())
}

pub async fn sts(client: &Client, command: StsCommand) -> Result<(), Error> {
    let StsCommand::AssumeRole { role, session_name, duration, policy, save_profile } = command;
    let role_arn = if role.starts_with("arn:") { role } else { format!("arn:aws:iam::000000000000:role/{role}") };
    let policy = policy.map(|p| document("policy", &p)).transpose()?;
    let body =
        json!({"RoleArn": role_arn, "RoleSessionName": session_name, "DurationSeconds": duration, "Policy": policy});
    let answer = client.post("/sts/assume-role", &body).await?;
    if let Some(profile) = save_profile {
        let credentials = &answer["Credentials"];
        let values = [
            ("aws_access_key_id", credentials["AccessKeyId"].as_str().unwrap_or_default()),
            ("aws_secret_access_key", credentials["SecretAccessKey"].as_str().unwrap_or_default()),
            ("aws_session_token", credentials["SessionToken"].as_str().unwrap_or_default()),
            ("endpoint_url", client.endpoint()),
        ];
        let path = crate::credentials::save_profile(&profile, &values)?;
        eprintln!("saved as profile {profile} in {}", path.display());
    }
    output::item(&answer);
    Ok(())
}

pub async fn whoami(client: &Client, out: Output) -> Result<(), Error> {
    let me = client.get("/sts/caller-identity").await?;
    match out {
        Output::Table => {
            println!("{}", me["Arn"].as_str().unwrap_or_default());
            println!("type: {}  id: {}", output::cell(me.get("Type")), output::cell(me.get("UserId")));
            if let Some(expiry) = me["Expiration"].as_str() {
                println!("session expires: {expiry}");
            }
        }
        _ => output::item(&me),
    }
    Ok(())
}

pub async fn audit(client: &Client, out: Output, command: AuditCommand) -> Result<(), Error> {
    let query = |principal: &Option<String>, denied: bool| {
        let mut query = String::new();
        if let Some(principal) = principal {
            query.push_str(&format!("&principal={}", encode(principal)));
        }
        if denied {
            query.push_str("&denied=true");
        }
        query
    };
    match command {
        AuditCommand::List { principal, denied, limit } => {
            let page = client.get(&format!("/audit?limit={limit}{}", query(&principal, denied))).await?;
            print_records(out, &page);
        }
        AuditCommand::Tail { principal, denied } => {
            let filter = query(&principal, denied);
            let mut after = client.get(&format!("/audit?limit=20{filter}")).await?;
            loop {
                print_records(out, &after);
                let next = after["NextAfter"].as_i64().unwrap_or(0);
                tokio::time::sleep(Duration::from_millis(500)).await;
                after = client.get(&format!("/audit?after={next}&limit=1000{filter}")).await?;
            }
        }
    }
    Ok(())
}

fn print_records(out: Output, page: &Value) {
    match out {
        Output::Table => {
            for event in page["Events"].as_array().into_iter().flatten() {
                let outcome = event["errorCode"].as_str().unwrap_or("ok");
                println!(
                    "{}  {:<40} {:<28} {:<16} {}",
                    event["eventTime"].as_str().unwrap_or_default(),
                    event["userIdentity"]["arn"].as_str().unwrap_or("anonymous"),
                    format!(
                        "{}:{}",
                        event["eventSource"].as_str().unwrap_or_default().trim_end_matches(".amazonaws.com"),
                        event["eventName"].as_str().unwrap_or_default()
                    ),
                    outcome,
                    event["resources"][0]["ARN"].as_str().unwrap_or(""),
                );
            }
        }
        _ => {
            for event in page["Events"].as_array().into_iter().flatten() {
                println!("{event}");
            }
        }
    }
}

pub async fn aws(client: &Client, data_dir: &std::path::Path, command: AwsCommand) -> Result<(), Error> {
    let AwsCommand::Env { role, user, duration, aws_endpoint } = command;
    let endpoint = match aws_endpoint {
        Some(endpoint) => endpoint,
        None => std::fs::read_to_string(data_dir.join("aws.url")).map(|s| s.trim().to_string()).map_err(|e| {
            Error::Usage(format!(
                "no AWS endpoint: {} ({e}); pass --aws-endpoint or run the server with this data dir",
                data_dir.join("aws.url").display()
            ))
        })?,
    };
    let session = match role {
        Some(role) => {
            let role_arn =
                if role.starts_with("arn:") { role } else { format!("arn:aws:iam::000000000000:role/{role}") };
            let body = json!({"RoleArn": role_arn, "RoleSessionName": "aws-env", "DurationSeconds": duration});
            client.post("/sts/assume-role", &body).await?
        }
        None => client.post("/sts/session-token", &json!({"DurationSeconds": duration, "User": user})).await?,
    };
    let credentials = &session["Credentials"];
    let value = |name: &str| credentials[name].as_str().unwrap_or_default().to_string();
    println!("export AWS_ENDPOINT_URL={endpoint}");
    println!("export AWS_ACCESS_KEY_ID={}", value("AccessKeyId"));
    println!("export AWS_SECRET_ACCESS_KEY={}", value("SecretAccessKey"));
    println!("export AWS_SESSION_TOKEN={}", value("SessionToken"));
    // Real clients want a real region (the SageMaker SDK looks images up by it); the
    // facade accepts any.
    println!("export AWS_REGION=us-east-1");
    println!("export AWS_DEFAULT_REGION=us-east-1");
    eprintln!("# session expires {}", value("Expiration"));
    Ok(())
}
