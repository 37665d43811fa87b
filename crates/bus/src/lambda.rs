//! Lambda functions on the bus: a function made with a runtime and a handler has its code
//! unpacked once per version and runs in warm execution environments (`trainyard_functions::
//! lambda`) with Lambda's variables, `AWS_ENDPOINT_URL` pointing at this server's AWS
//! endpoint, and a session of its role for each environment's life.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use chrono::Utc;
use futures::future::BoxFuture;
use trainyard_functions::lambda::{self, EnvironmentCredentials, LambdaSpec, Lambdas, LambdasConfig, StartedSession};
use trainyard_functions::Outcome;
use trainyard_store::{Function, LambdaConfig};

use crate::service::{EventBus, FunctionRequest, Sessions};
use crate::{BusConfig, Error};

/// Lambda's largest `ZipFile` (50 MB).
const MAX_ZIP_BYTES: usize = 50 * 1024 * 1024;

/// The region Lambda functions' clients sign for (what `trainyard aws env` prints).
const CLIENT_REGION: &str = "us-east-1";

pub(crate) fn open(config: &BusConfig) -> Result<Option<Lambdas>, Error> {
    let Some(dir) = &config.functions_dir else { return Ok(None) };
    let lambdas = Lambdas::new(LambdasConfig {
        runtime_dir: dir.join("runtime"),
        idle_timeout: config.lambda_idle,
        python: config.python.clone(),
        preload: config.lambda_preload.clone(),
    })
    .map_err(|e| Error::invalid(format!("{}: {e}", dir.display())))?;
    Ok(Some(lambdas))
}

/// The role sessions of environments, from the bus's `Sessions`.
pub(crate) struct SessionCredentials(pub Arc<dyn Sessions>);

impl EnvironmentCredentials for SessionCredentials {
    fn start(&self, role: &str, name: &str) -> BoxFuture<'static, Result<StartedSession, String>> {
        let started = self.0.start(role, "lambda.amazonaws.com", name, 3600);
        Box::pin(async move { started.await.map(|s| (s.id, s.environment)) })
    }

    fn end(&self, session: String) -> BoxFuture<'static, ()> {
        self.0.end(crate::RunSession { id: session, environment: BTreeMap::new() })
    }
}

/// What an update changes; unset fields stay.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct FunctionUpdate {
    #[serde(default)]
    pub zip_file: Option<String>,
    #[serde(default)]
    pub runtime: Option<String>,
    #[serde(default)]
    pub handler: Option<String>,
    #[serde(default)]
    pub environment: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub timeout: Option<u32>,
    #[serde(default)]
    pub memory_size: Option<u32>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub role: Option<String>,
    /// `PutFunctionConcurrency` (`Some(Some(n))`) or `DeleteFunctionConcurrency` (`Some(None)`).
    #[serde(skip)]
    pub reserved_concurrency: Option<Option<u32>>,
}

impl EventBus {
    pub(crate) fn lambdas(&self) -> Option<&Lambdas> {
        self.inner.lambdas.as_ref()
    }

    /// A Lambda function's configuration from its request (none for a command function);
    /// `current` is the function's, when it is being changed.
    pub(crate) fn lambda_config(
        &self,
        request: &FunctionRequest,
        current: Option<&LambdaConfig>,
    ) -> Result<Option<LambdaConfig>, Error> {
        let Some(runtime) = request.runtime.clone().or_else(|| current.map(|c| c.runtime.clone())) else {
            if request.zip_file.is_some() || request.handler.is_some() {
                return Err(Error::invalid(
                    "a function with a handler or code needs a Runtime (python3.X or provided)",
                ));
            }
            return Ok(None);
        };
        let (Some(lambdas), Some(dir)) = (self.lambdas(), &self.inner.config.functions_dir) else {
            return Err(Error::invalid("this server runs no Lambda functions (it has no functions directory)"));
        };
        let _ = lambdas;
        if !request.command.is_empty() {
            return Err(Error::invalid("give a Command or a Runtime with its Handler and code, not both"));
        }
        let handler = request.handler.clone().or_else(|| current.map(|c| c.handler.clone())).unwrap_or_default();
        let config = LambdasConfig {
            runtime_dir: dir.join("runtime"),
            idle_timeout: Duration::ZERO,
            python: self.inner.config.python.clone(),
            preload: Vec::new(),
        };
        lambda::validate(&runtime, &handler, &config).map_err(Error::invalid)?;
        let memory_size = request.memory_size.or(current.map(|c| c.memory_size)).unwrap_or(128);
        if !(128..=10_240).contains(&memory_size) {
            return Err(Error::invalid(format!("MemorySize {memory_size} must be 128-10240 MB")));
        }
        let (code_sha256, code_size, code_dir) = match (&request.zip_file, current) {
            (Some(encoded), _) => {
                let zip = base64::engine::general_purpose::STANDARD
                    .decode(encoded.trim())
                    .map_err(|e| Error::invalid(format!("ZipFile is not base64: {e}")))?;
                if zip.len() > MAX_ZIP_BYTES {
                    return Err(Error::invalid(format!("ZipFile is {} bytes; at most {MAX_ZIP_BYTES}", zip.len())));
                }
                let code_dir = lambda::unpack(&zip, &dir.join("code"))?;
                (lambda::code_sha256(&zip), zip.len() as i64, code_dir.display().to_string())
            }
            (None, Some(current)) => (current.code_sha256.clone(), current.code_size, current.code_dir.clone()),
            (None, None) => return Err(Error::invalid("a Lambda function needs its code (ZipFile)")),
        };
        if runtime.starts_with("provided") && !std::path::Path::new(&code_dir).join("bootstrap").is_file() {
            return Err(Error::invalid("a provided-runtime function's code needs an executable named bootstrap"));
        }
        if let Some(module) = handler.rsplit_once('.').map(|(m, _)| m).filter(|_| runtime.starts_with("python")) {
            let path = std::path::Path::new(&code_dir).join(format!("{}.py", module.replace('.', "/")));
            let package = std::path::Path::new(&code_dir).join(module.replace('.', "/")).join("__init__.py");
            if !path.is_file() && !package.is_file() {
                return Err(Error::invalid(format!(
                    "handler {handler}: the code has no module {module} ({module}.py)"
                )));
            }
        }
        Ok(Some(LambdaConfig {
            runtime,
            handler,
            code_sha256,
            code_size,
            code_dir,
            memory_size,
            reserved_concurrency: request.reserved_concurrency.or(current.and_then(|c| c.reserved_concurrency)),
            last_modified: Utc::now(),
        }))
    }

    /// `UpdateFunctionCode` / `UpdateFunctionConfiguration`: the next invocation runs the
    /// new definition (the old environments are drained).
    pub async fn update_function(&self, name: &str, update: &FunctionUpdate) -> Result<Function, Error> {
        let mut function = self.store().get_function(name).await?;
        let request = FunctionRequest {
            function_name: name.to_string(),
            command: if function.lambda.is_some() { String::new() } else { function.command.clone() },
            environment: update.environment.clone().unwrap_or_else(|| function.environment.clone()),
            timeout: update.timeout.unwrap_or(function.timeout),
            description: update.description.clone().unwrap_or_else(|| function.description.clone()),
            role: update.role.clone().or_else(|| function.role.clone()),
            runtime: update.runtime.clone(),
            handler: update.handler.clone(),
            zip_file: update.zip_file.clone(),
            memory_size: update.memory_size,
            reserved_concurrency: None,
        };
        if function.lambda.is_none() && (update.zip_file.is_some() || update.runtime.is_some()) {
            return Err(Error::invalid(format!("{name} is a command function; its code is its command")));
        }
        function.lambda = self.lambda_config(&request, function.lambda.as_ref())?;
        if let (Some(reserved), Some(lambda)) = (update.reserved_concurrency, function.lambda.as_mut()) {
            if reserved.is_some_and(|n| !(1..=1000).contains(&n)) {
                return Err(Error::invalid("ReservedConcurrentExecutions must be 1-1000"));
            }
            lambda.reserved_concurrency = reserved;
        }
        let command = if function.lambda.is_some() { "lambda" } else { request.command.as_str() };
        trainyard_functions::validate(name, command, &request.environment, request.timeout)?;
        function.environment = request.environment;
        function.timeout = request.timeout;
        function.description = request.description;
        function.role = request.role;
        let _guard = self.inner.reload_lock.lock().await;
        self.store().update_function(&function).await?;
        self.change_routing(|routing| routing.set_function(&function.function_name, Some(function.clone())));
        if let Some(lambdas) = self.lambdas() {
            lambdas.drain(name);
        }
        Ok(function)
    }

    /// Runs a Lambda function on `input` in one of its environments.
    pub(crate) async fn invoke_lambda(&self, function: &Function, config: &LambdaConfig, input: &[u8]) -> Outcome {
        let Some(lambdas) = self.lambdas() else {
            return Outcome {
                result: Err(trainyard_functions::Failure {
                    code: "LambdaUnavailable".into(),
                    message: "this server runs no Lambda functions".into(),
                    retriable: true,
                }),
                logs: String::new(),
                duration: Duration::ZERO,
            };
        };
        let c = &self.inner.config;
        let mut environment = function.environment.clone();
        environment.insert("AWS_REGION".into(), CLIENT_REGION.into());
        environment.insert("AWS_DEFAULT_REGION".into(), CLIENT_REGION.into());
        if let Some(url) = &c.aws_endpoint_url {
            environment.insert("AWS_ENDPOINT_URL".into(), url.clone());
        }
        let spec = LambdaSpec {
            function_name: function.function_name.clone(),
            function_arn: function.function_arn.clone(),
            runtime: config.runtime.clone(),
            handler: config.handler.clone(),
            code_dir: config.code_dir.clone().into(),
            version: format!("{}@{}", config.code_sha256, config.last_modified.timestamp_millis()),
            environment,
            memory_mb: config.memory_size,
            timeout: Duration::from_secs(u64::from(function.timeout).max(1)),
            role: function.role.clone(),
            concurrency: config.reserved_concurrency.map_or(c.function_concurrency, |n| n as usize).max(1),
        };
        lambdas.invoke(&spec, input).await
    }
}
