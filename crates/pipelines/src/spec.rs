//! `trainyard.yaml`: one pipeline, parsed then validated in one place, every problem
//! reported at once with its line.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::Spanned;
use trainyard_builder::{BuildSpec, Scalar};
use trainyard_endpoints::policy::{duration, Alarm, Traffic};
use trainyard_objects::S3Uri;

use crate::Error;

/// The longest pipeline name: its longest function name,
/// `<pipeline>-register-model-in-registry`, must fit in 64 characters.
const MAX_NAME: usize = 36;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSpec {
    pub name: Spanned<String>,
    pub source: Option<SourceSpec>,
    pub build: Option<BuildSpec>,
    pub training: TrainingSpec,
    pub evaluation: EvaluationSpec,
    pub registry: RegistrySpec,
    pub deployment: Option<DeploymentSpec>,
    pub retraining: Option<RetrainingSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    pub git: Spanned<String>,
    pub branch: Option<String>,
    pub poll: Option<Spanned<String>>,
    pub webhook_secret: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingSpec {
    /// A built-in algorithm (`linear-learner`, `gbdt`).
    pub algorithm: Option<Spanned<String>>,
    /// `build` (the image the build section makes) or `REPOSITORY:TAG`.
    pub image: Option<Spanned<String>>,
    #[serde(default)]
    pub hyperparameters: BTreeMap<String, Scalar>,
    pub channels: BTreeMap<String, Spanned<String>>,
    /// Where model artifacts go: `s3://bucket/prefix`.
    pub output: Spanned<String>,
    /// Metric name → regex with one capture group.
    #[serde(default)]
    pub metrics: BTreeMap<String, String>,
    pub max_runtime: Option<Spanned<String>>,
    /// A SageMaker instance type (`ml.m5.large`): its vCPUs and memory are the job's limits
    /// (default `local`: none).
    pub instance_type: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluationSpec {
    /// The test channel: `s3://bucket/prefix/` of CSV files.
    pub test: Spanned<String>,
    #[serde(default)]
    pub conditions: Vec<Spanned<String>>,
    pub label_column: Option<String>,
    /// `register-rejected` (default) or `discard`.
    pub on_failure: Option<Spanned<String>>,
    /// A Python evaluation script, `s3://.../evaluate.py`, instead of the built-in evaluator.
    pub script: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrySpec {
    pub group: Spanned<String>,
    /// `auto` (default) or `manual`.
    pub approval: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentSpec {
    pub endpoint: Spanned<String>,
    pub strategy: Option<Spanned<String>>,
    pub rollback_on: Option<Spanned<String>>,
    pub termination_wait: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrainingSpec {
    /// New objects under this prefix start a retraining.
    pub data: Option<Spanned<String>>,
    /// And/or a retraining on a schedule: `rate(1 day)`, `cron(0 3 * * ? *)`.
    pub schedule: Option<Spanned<String>>,
    /// Uploads within this long of the first are one retraining (default 10m).
    pub min_interval: Option<Spanned<String>>,
}

impl PipelineSpec {
    pub fn name(&self) -> &str {
        &self.name.value
    }

    pub fn group(&self) -> &str {
        &self.registry.group.value
    }

    pub fn auto_approval(&self) -> bool {
        self.registry.approval.as_ref().is_none_or(|a| a.value == "auto")
    }

    pub fn min_interval(&self) -> Duration {
        self.retraining
            .as_ref()
            .and_then(|r| r.min_interval.as_ref())
            .and_then(|m| duration(&m.value).ok())
            .unwrap_or(Duration::from_secs(600))
    }

    /// The repository the build pushes to, when training runs the build's image.
    pub fn build_repository(&self, source: &str) -> Option<String> {
        let build = self.build.as_ref()?;
        Some(build.repository.clone().unwrap_or_else(|| source.to_lowercase()))
    }

    /// The source's name: the pipeline's.
    pub fn source_name(&self) -> &str {
        self.name()
    }
}

/// `text` with the webhook secret's value replaced by `fingerprint(secret)`: what the
/// platform keeps of an applied spec, so that no secret is stored in clear.
pub fn redact_secrets(text: &str, spec: &PipelineSpec, fingerprint: impl Fn(&str) -> String) -> String {
    let Some(secret) = spec.source.as_ref().and_then(|s| s.webhook_secret.as_ref()) else { return text.to_string() };
    let span = secret.referenced.span();
    let (Some(start), Some(length)) = (span.byte_offset(), span.byte_len()) else {
        return text.to_string();
    };
    let (start, end) = (start as usize, (start + length) as usize);
    match text.get(start..end) {
        Some(found) if !found.is_empty() => format!("{}{}{}", &text[..start], fingerprint(&secret.value), &text[end..]),
        _ => text.to_string(),
    }
}

/// Reads a spec that was validated when it was applied, without checking it again: a
/// limit tightened since must not stop a running pipeline (`apply` checks it next time).
pub fn load(text: &str) -> Result<PipelineSpec, Error> {
    serde_saphyr::from_str(text).map_err(|e| Error::InvalidSpec { problems: vec![e.to_string()] })
}

/// Parses and validates `text`; every problem is reported, each with its line.
pub fn parse(text: &str) -> Result<PipelineSpec, Error> {
    parse_in(text, None)
}

/// Parses and validates `text` as a file in `base` (an absolute directory): a relative
/// `source.git` path is the repository at that path from the file's directory.
pub fn parse_in(text: &str, base: Option<&Path>) -> Result<PipelineSpec, Error> {
    let mut spec = load(text)?;
    if let (Some(source), Some(base)) = (spec.source.as_mut(), base) {
        if let Some(resolved) = trainyard_source::git::resolve_local(&source.git.value, base) {
            source.git.value = resolved;
        }
    }
    let mut problems = Vec::new();
    // The build section as the builder reads it from a commit (context, working directory).
    if let Err(reason) = trainyard_builder::parse(text) {
        problems.push(reason);
    }
    let mut check = |field: &str, value: &Spanned<String>, result: Result<(), String>| {
        if let Err(reason) = result {
            problems.push(format!("line {}: {field}: {reason}", value.referenced.line()));
        }
    };
    let name = &spec.name.value;
    let name_ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    check(
        "name",
        &spec.name,
        if name_ok { Ok(()) } else { Err(format!("{name:?} must be 1 to {MAX_NAME} of a-z, 0-9 and -")) },
    );
    let s3 = |value: &Spanned<String>| S3Uri::parse(&value.value).map(|_| ()).map_err(|e| e.to_string());
    // A duration within `min..=max` seconds (the limits of the resource it configures).
    let bounded = |value: &Spanned<String>, min: u64, max: u64| {
        let seconds = duration(&value.value)?.as_secs_f64();
        if seconds < min as f64 || seconds > max as f64 {
            return Err(format!("{} must be {} to {}", value.value, seconds_text(min), seconds_text(max)));
        }
        Ok(())
    };
    if let Some(source) = &spec.source {
        check("source.git", &source.git, trainyard_source::git::check_url(&source.git.value));
        if let Some(poll) = &source.poll {
            check("source.poll", poll, bounded(poll, 1, 86_400));
        }
    }
    let training = &spec.training;
    if let Some(algorithm) = &training.algorithm {
        let known = trainyard_algorithms::ALGORITHMS.contains(&algorithm.value.as_str());
        let reason = format!(
            "{:?} is not a built-in algorithm (known: {})",
            algorithm.value,
            trainyard_algorithms::ALGORITHMS.join(", ")
        );
        check("training.algorithm", algorithm, if known { Ok(()) } else { Err(reason) });
    }
    match (&training.algorithm, &training.image) {
        (Some(_), Some(image)) => check("training", image, Err("give algorithm or image, not both".into())),
        (None, None) => check("training", &training.output, Err("needs algorithm or image".into())),
        (None, Some(image)) if image.value == "build" && spec.build.is_none() => {
            check("training.image", image, Err("`build` needs a build section".into()))
        }
        (None, Some(image)) if image.value != "build" => {
            let parsed = trainyard_registry::ImageName::parse(&image.value).map(|_| ()).map_err(|e| e.to_string());
            check("training.image", image, parsed)
        }
        _ => {}
    }
    if training.channels.is_empty() {
        check("training.channels", &training.output, Err("needs at least one channel (e.g. train)".into()));
    }
    for (channel, uri) in &training.channels {
        check(&format!("training.channels.{channel}"), uri, s3(uri));
    }
    check("training.output", &training.output, s3(&training.output));
    if let Some(instance_type) = &training.instance_type {
        let limits = trainyard_jobs::instances::Limits::of(Some(&instance_type.value)).map(|_| ());
        check("training.instance_type", instance_type, limits);
    }
    if let Some(limit) = &training.max_runtime {
        check("training.max_runtime", limit, bounded(limit, 1, trainyard_jobs::request::MAX_RUNTIME_LIMIT));
    }
    let evaluation = &spec.evaluation;
    check("evaluation.test", &evaluation.test, s3(&evaluation.test));
    if let Some(script) = &evaluation.script {
        let file = script.value.rsplit('/').next().unwrap_or_default();
        let python = file.len() > 3 && file.ends_with(".py");
        check(
            "evaluation.script",
            script,
            s3(script).and_then(|()| match python {
                true => Ok(()),
                false => Err("must name a Python file (s3://bucket/.../evaluate.py)".into()),
            }),
        );
    }
    for condition in &evaluation.conditions {
        let parsed = trainyard_models::Condition::parse(&condition.value).map(|_| ()).map_err(|e| e.to_string());
        check("evaluation.conditions", condition, parsed);
    }
    if let Some(on_failure) = &evaluation.on_failure {
        let known = ["register-rejected", "discard"].contains(&on_failure.value.as_str());
        check(
            "evaluation.on_failure",
            on_failure,
            if known { Ok(()) } else { Err("register-rejected or discard".into()) },
        );
    }
    let group = &spec.registry.group;
    check("registry.group", group, trainyard_events::validate_name("model package group", &group.value));
    if let Some(approval) = &spec.registry.approval {
        let known = ["auto", "manual"].contains(&approval.value.as_str());
        check("registry.approval", approval, if known { Ok(()) } else { Err("auto or manual".into()) });
    }
    if let Some(deployment) = &spec.deployment {
        check(
            "deployment.endpoint",
            &deployment.endpoint,
            trainyard_events::validate_name("endpoint", &deployment.endpoint.value),
        );
        if let Some(strategy) = &deployment.strategy {
            check(
                "deployment.strategy",
                strategy,
                Traffic::parse(&strategy.value).map(|_| ()).map_err(|e| e.to_string()),
            );
        }
        if let Some(alarms) = &deployment.rollback_on {
            check(
                "deployment.rollback_on",
                alarms,
                Alarm::parse_list(&alarms.value).map(|_| ()).map_err(|e| e.to_string()),
            );
        }
        if let Some(wait) = &deployment.termination_wait {
            check("deployment.termination_wait", wait, bounded(wait, 0, 3600));
        }
    }
    if let Some(data) = spec.retraining.as_ref().and_then(|r| r.data.as_ref()) {
        // The training output under the data prefix would make every run start the next.
        let output = training.output.value.trim_end_matches('/');
        let prefix = data.value.trim_end_matches('/');
        if output == prefix || output.starts_with(&format!("{prefix}/")) {
            check("retraining.data", data, Err(format!("contains training.output {output}: each run would retrain")));
        }
    }
    if let Some(retraining) = &spec.retraining {
        match (&retraining.data, &retraining.schedule) {
            (None, None) => check("retraining", &spec.name, Err("needs data, schedule or both".into())),
            (data, schedule) => {
                if let Some(data) = data {
                    check("retraining.data", data, s3(data));
                }
                if let Some(schedule) = schedule {
                    let parsed =
                        trainyard_events::Schedule::parse(&schedule.value).map(|_| ()).map_err(|e| e.to_string());
                    check("retraining.schedule", schedule, parsed);
                }
            }
        }
        if let Some(interval) = &retraining.min_interval {
            check("retraining.min_interval", interval, bounded(interval, 0, 7 * 86_400));
        }
    }
    if problems.is_empty() {
        Ok(spec)
    } else {
        Err(Error::InvalidSpec { problems })
    }
}

/// `90s`, `2h`: a limit in the units a duration is written in.
fn seconds_text(seconds: u64) -> String {
    match seconds {
        0 => "0s".into(),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn the_kept_spec_holds_the_secret_s_fingerprint_only() {
        let fingerprint = |secret: &str| format!("hmac-sha256:{}", secret.len());
        for line in
            ["  webhook_secret: s3cret-value", "  webhook_secret: \"s3cret-value\"", "  webhook_secret: 's3cret-value'"]
        {
            let text =
                EXAMPLE.replacen("name: churn\n", &format!("name: churn\nsource:\n  git: /srv/repo\n{line}\n"), 1);
            let spec = parse(&text).unwrap();
            let kept = redact_secrets(&text, &spec, fingerprint);
            assert!(!kept.contains("s3cret"), "{line}: {kept}");
            let reread = load(&kept).unwrap();
            let secret = reread.source.unwrap().webhook_secret.unwrap().value;
            assert_eq!(secret, "hmac-sha256:12", "{line}");
        }
        assert_eq!(redact_secrets(EXAMPLE, &parse(EXAMPLE).unwrap(), fingerprint), EXAMPLE);
    }

    pub const EXAMPLE: &str = "name: churn
build:
  entrypoint: trainyard algorithm gbdt
training:
  image: build
  hyperparameters: {num_round: 20, objective: 'binary:logistic'}
  channels:
    train: s3://ml-data/churn/train/
  output: s3://ml-data/churn/models
evaluation:
  test: s3://ml-data/churn/test/
  conditions: ['auc >= 0.7', 'auc >= champion.auc - 0.01']
registry:
  group: churn
deployment:
  endpoint: churn
  strategy: canary:20:2s
retraining:
  data: s3://ml-data/churn/train/
  min_interval: 2s
";

    #[test]
    fn a_whole_pipeline_parses() {
        let spec = parse(EXAMPLE).unwrap();
        assert_eq!(spec.name(), "churn");
        assert!(spec.auto_approval());
        assert_eq!(spec.min_interval(), Duration::from_secs(2));
        assert_eq!(spec.build_repository("churn").as_deref(), Some("churn"));
    }

    #[test]
    fn every_problem_is_reported_with_its_line() {
        let broken = EXAMPLE
            .replace("name: churn", "name: Churn_Model")
            .replace("s3://ml-data/churn/models", "/tmp/models")
            .replace("'auc >= 0.7'", "'auc >>= 0.7'")
            .replace("canary:20:2s", "sideways");
        let Err(Error::InvalidSpec { problems }) = parse(&broken) else { panic!("accepted") };
        assert_eq!(problems.len(), 4, "{problems:#?}");
        for (line, field) in
            [(1, "name"), (9, "training.output"), (12, "evaluation.conditions"), (17, "deployment.strategy")]
        {
            assert!(
                problems.iter().any(|p| p.starts_with(&format!("line {line}: {field}"))),
                "{field} at line {line}: {problems:#?}"
            );
        }
        let Err(Error::InvalidSpec { problems }) =
            parse(&EXAMPLE.replace("  entrypoint:", "  working_dir: app\n  entrypoint:"))
        else {
            panic!("accepted")
        };
        assert!(problems.iter().any(|p| p.contains("build.working_dir")), "{problems:?}");
        let Err(Error::InvalidSpec { problems }) = parse("name: x\ntraning: {}\n") else { panic!("accepted") };
        assert!(problems[0].contains("traning"), "{problems:?}");
    }

    #[test]
    fn limits_of_the_resources_a_pipeline_creates_are_checked_at_apply() {
        let broken = EXAMPLE
            .replace("  strategy: canary:20:2s", "  strategy: canary:20:2s\n  termination_wait: 2h")
            .replace("  output: s3://ml-data/churn/models", "  output: s3://ml-data/churn/models\n  max_runtime: 700h")
            .replace("  image: build", "  algorithm: xgboost\n  instance_type: ml.g5.xlarge");
        let Err(Error::InvalidSpec { problems }) = parse(&broken) else { panic!("accepted") };
        let text = problems.join("\n");
        assert!(text.contains("deployment.termination_wait: 2h must be 0s to 1h"), "{text}");
        assert!(text.contains("training.max_runtime: 700h must be 1s to 672h"), "{text}");
        assert!(text.contains("training.algorithm: \"xgboost\" is not a built-in algorithm"), "{text}");
        assert!(text.contains("known: linear-learner, gbdt"), "{text}");
        assert!(text.contains("training.instance_type: InstanceType ml.g5.xlarge has 1 GPU(s)"), "{text}");
    }
}
