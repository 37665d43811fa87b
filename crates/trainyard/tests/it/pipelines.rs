//! The automated pipeline through the real binary: the quickstart runs the whole loop
//! (commit → build → image → training → evaluation → registration → deployment → new data
//! → retraining) on a fresh data directory; `apply` reports every mistake with its line,
//! is idempotent, and a duplicated trigger starts nothing twice.

use serde_json::{json, Value};

use crate::jobs::run;
use crate::process::{cli, stderr, stdout, ServerProcess};

#[test]
fn the_quickstart_runs_the_whole_loop_and_retrains_on_new_data() {
    // Exactly as the README says: a fresh working directory, no --data-dir.
    let cwd = tempfile::tempdir().unwrap();
    let quickstart = |args: &[&str]| {
        std::process::Command::new(crate::process::binary())
            .args(args)
            .current_dir(cwd.path())
            .env_remove("TRAINYARD_ENDPOINT")
            .env_remove("TRAINYARD_TOKEN")
            .env_remove("TRAINYARD_DATA_DIR")
            .output()
            .unwrap()
    };
    let output = quickstart(&["quickstart", "--exit"]);
    let text = stdout(&output);
    assert!(output.status.success(), "{text}{}", stderr(&output));
    for expected in [
        "build completed of commit",
        "image pushed: churn@sha256:",
        "training job churn-",
        "validation:auc=",
        "registered churn/1 Approved",
        "deployment of churn/1 to endpoint churn: completed",
        "prediction for x = [0.9,0.8,0.1]: {\"predictions\":[1]",
        "new data: s3://quickstart-data/churn/train/part-1.csv",
        "registered churn/2",
        ", 0 failed",
        "the platform's own",
        "each step runs as its own least-privilege role (7 roles",
    ] {
        assert!(text.contains(expected), "{expected:?} missing from:\n{text}");
    }
    assert!(cwd.path().join(".trainyard-quickstart/admin.token").is_file());
    // Run again on the same directory: it starts afresh.
    let again = quickstart(&["quickstart", "--exit"]);
    assert!(again.status.success(), "{}{}", stdout(&again), stderr(&again));
}

pub const PIPELINE: &str = "name: fraud
training:
  algorithm: gbdt
  hyperparameters: {objective: 'binary:logistic', num_round: 5}
  channels:
    train: s3://ml-data/fraud/train/
  output: s3://ml-data/fraud/models
evaluation:
  test: s3://ml-data/fraud/test/
  conditions: ['auc >= 0.5']
registry:
  group: fraud
retraining:
  schedule: rate(1 day)
";

#[test]
fn apply_validates_plans_idempotently_and_duplicates_start_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _server = ServerProcess::start(&data);
    let file = dir.path().join("trainyard.yaml");

    let broken = PIPELINE.replace("name: fraud", "name: Fraud!").replace("'auc >= 0.5'", "'auc >> 0.5'");
    std::fs::write(&file, broken).unwrap();
    let refused = cli(&data, &["apply", "-f", file.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(2));
    let message = stderr(&refused);
    assert!(message.contains("line 1: name") && message.contains("line 10: evaluation.conditions"), "{message}");

    std::fs::write(&file, PIPELINE).unwrap();
    let dry: Value =
        serde_json::from_str(&run(&data, &["apply", "-f", file.to_str().unwrap(), "--dry-run", "-o", "json"])).unwrap();
    assert!(dry["Changes"].as_array().unwrap().iter().all(|c| c["Action"] == "create"), "{dry:#}");
    assert!(stdout(&cli(&data, &["pipelines", "list", "-o", "json"])).contains("[]"), "a dry run changes nothing");
    // The dry run shows the least-privilege roles it would make, with their policies.
    let trigger_role = "arn:aws:iam::000000000000:role/trainyard-pipeline/fraud-trigger-model-training";
    let trigger = dry["Changes"].as_array().unwrap().iter().find(|c| c["Kind"] == "role" && c["Name"] == trigger_role);
    let policy = trigger.unwrap_or_else(|| panic!("no trigger role in {dry:#}"))["Policy"].to_string();
    assert!(policy.contains("sagemaker:CreateTrainingJob") && policy.contains("training-job/fraud-*"), "{policy}");
    assert!(policy.contains("iam:PassRole") && !policy.contains("Delete"), "{policy}");
    assert!(stdout(&cli(&data, &["iam", "roles", "list", "-o", "json"])).contains("[]"), "a dry run makes no role");
    let applied: Value =
        serde_json::from_str(&run(&data, &["apply", "-f", file.to_str().unwrap(), "-o", "json"])).unwrap();
    let kinds: Vec<&str> = applied["Changes"].as_array().unwrap().iter().map(|c| c["Kind"].as_str().unwrap()).collect();
    assert!(
        kinds.contains(&"rule") && kinds.contains(&"function") && kinds.contains(&"model package group"),
        "{kinds:?}"
    );
    let again: Value =
        serde_json::from_str(&run(&data, &["apply", "-f", file.to_str().unwrap(), "-o", "json"])).unwrap();
    assert!(again["Changes"].as_array().unwrap().iter().all(|c| c["Action"] == "unchanged"), "{again:#}");
    // The trigger, as its role, may start the pipeline's training jobs and pass its
    // execution role to SageMaker; it may not delete a model group or pass another role.
    let simulate = |action: &str, resource: &str, context: &[&str]| {
        let mut args = vec!["iam", "simulate", "--principal", trigger_role, "--action", action, "--resource", resource];
        for entry in context {
            args.extend(["--context", entry]);
        }
        args.extend(["-o", "json"]);
        let answer: Value = serde_json::from_str(&run(&data, &args)).unwrap();
        answer["EvaluationResults"][0]["EvalDecision"].as_str().unwrap().to_string()
    };
    let sagemaker = "iam:PassedToService=sagemaker.amazonaws.com";
    let execution = "arn:aws:iam::000000000000:role/trainyard-pipeline/fraud-execution";
    let job = "arn:aws:sagemaker:local:000000000000:training-job/fraud-m1";
    assert_eq!(simulate("sagemaker:CreateTrainingJob", job, &[]), "allowed");
    assert_eq!(
        simulate("sagemaker:CreateTrainingJob", "arn:aws:sagemaker:local:000000000000:training-job/other-1", &[]),
        "implicitDeny"
    );
    assert_eq!(simulate("iam:PassRole", execution, &[sagemaker]), "allowed");
    assert_eq!(simulate("iam:PassRole", execution, &["iam:PassedToService=lambda.amazonaws.com"]), "implicitDeny");
    assert_eq!(simulate("iam:PassRole", "arn:aws:iam::000000000000:role/admin", &[sagemaker]), "implicitDeny");
    let group = "arn:aws:sagemaker:local:000000000000:model-package-group/fraud";
    assert_eq!(simulate("sagemaker:DeleteModelPackageGroup", group, &[]), "implicitDeny");
    let rules = run(&data, &["rules", "list", "-o", "json"]);
    assert!(rules.contains("fraud-on-training") && rules.contains("fraud-on-evaluation"), "{rules}");

    // A duplicated trigger (the same commit twice) starts one run and one training job.
    let event = json!({"id": "e-1", "detail-type": "Git Push", "source": "trainyard.source",
                       "detail": {"source": "fraud", "after": "0123456789abcdef0123456789abcdef01234567"}});
    let event = event.to_string();
    let first = run(&data, &["functions", "invoke", "fraud-trigger-model-training", "--event", &event]);
    let second = run(&data, &["functions", "invoke", "fraud-trigger-model-training", "--event", &event]);
    assert!(first.contains("fraud-0123456789ab"), "{first}");
    assert!(second.contains("Duplicate"), "{second}");
    let runs: Value = serde_json::from_str(&run(&data, &["pipelines", "runs", "fraud", "-o", "json"])).unwrap();
    assert_eq!(runs["Runs"].as_array().unwrap().len(), 1, "{runs:#}");
    let jobs = run(&data, &["jobs", "list", "-o", "json"]);
    assert_eq!(jobs.matches("\"fraud-0123456789ab\"").count(), 1, "{jobs}");

    // The schedule rule invokes the retraining function; one firing is one run.
    assert!(rules.contains("fraud-on-schedule"), "{rules}");
    let firing = json!({"id": "s-1", "detail-type": "Scheduled Event", "source": "aws.events",
                        "time": "2026-11-27T03:00:00Z", "detail": {}})
    .to_string();
    let started = run(&data, &["functions", "invoke", "fraud-retrain-model-on-new-data", "--event", &firing]);
    let repeated = run(&data, &["functions", "invoke", "fraud-retrain-model-on-new-data", "--event", &firing]);
    assert!(started.contains("fraud-s261127030000"), "{started}");
    assert!(repeated.contains("Duplicate"), "{repeated}");
    let runs: Value = serde_json::from_str(&run(&data, &["pipelines", "runs", "fraud", "-o", "json"])).unwrap();
    let triggers: Vec<&str> =
        runs["Runs"].as_array().unwrap().iter().map(|r| r["TriggerType"].as_str().unwrap()).collect();
    assert_eq!(triggers.len(), 2, "{runs:#}");
    assert!(triggers.contains(&"schedule") && triggers.contains(&"commit"), "{triggers:?}");

    // Re-applying a changed file changes in place: a disabled rule stays disabled, a
    // function a user put in a builtin's place stays, and the group follows the file.
    run(&data, &["rules", "disable", "fraud-on-schedule"]);
    run(&data, &["functions", "create", "my-evaluator", "--command", "cat"]);
    run(&data, &["rules", "targets", "remove", "fraud-on-training", "pipeline"]);
    run(&data, &["rules", "targets", "add", "fraud-on-training", "--function", "my-evaluator"]);
    let changed = PIPELINE
        .replace("rate(1 day)", "rate(2 days)")
        .replace("  group: fraud\n", "  group: fraud\n  approval: manual\n");
    std::fs::write(&file, &changed).unwrap();
    let plan: Value =
        serde_json::from_str(&run(&data, &["apply", "-f", file.to_str().unwrap(), "-o", "json"])).unwrap();
    let action = |kind: &str, name: &str| {
        plan["Changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["Kind"] == kind && c["Name"].as_str().unwrap().starts_with(name))
            .map(|c| c["Action"].as_str().unwrap().to_string())
    };
    assert_eq!(action("rule", "fraud-on-schedule").as_deref(), Some("update"), "{plan:#}");
    assert_eq!(action("model package group", "fraud").as_deref(), Some("update"), "{plan:#}");
    assert_eq!(action("rule", "fraud-on-training").as_deref(), Some("unchanged"), "{plan:#}");
    let schedule: Value =
        serde_json::from_str(&run(&data, &["rules", "describe", "fraud-on-schedule", "-o", "json"])).unwrap();
    assert_eq!(schedule["State"], "DISABLED", "{schedule:#}");
    assert_eq!(schedule["ScheduleExpression"], "rate(2 days)", "{schedule:#}");
    let targets = run(&data, &["rules", "targets", "list", "fraud-on-schedule", "-o", "json"]);
    assert!(targets.contains("fraud-retrain-model-on-new-data"), "the rule keeps its target: {targets}");
    let targets = run(&data, &["rules", "targets", "list", "fraud-on-training", "-o", "json"]);
    assert!(targets.contains("my-evaluator") && !targets.contains("fraud-evaluate"), "{targets}");
    let group: Value =
        serde_json::from_str(&run(&data, &["models", "groups", "describe", "fraud", "-o", "json"])).unwrap();
    assert_eq!(group["ApprovalMode"], "manual", "{group:#}");
    let again: Value =
        serde_json::from_str(&run(&data, &["apply", "-f", file.to_str().unwrap(), "-o", "json"])).unwrap();
    assert!(again["Changes"].as_array().unwrap().iter().all(|c| c["Action"] == "unchanged"), "{again:#}");

    // The source follows the file too: a new branch is followed from its head.
    let repo = dir.path().join("repo");
    crate::sources::new_repository(&repo);
    crate::sources::git(&repo, &["branch", "release"]);
    let sourced = format!("{changed}source: {{git: {}, poll: 1h}}\n", repo.display());
    std::fs::write(&file, &sourced).unwrap();
    let created = run(&data, &["apply", "-f", file.to_str().unwrap(), "-o", "json"]);
    assert!(created.contains("\"create\""), "{created}");
    std::fs::write(&file, sourced.replace("poll: 1h", "poll: 1h, branch: release")).unwrap();
    let updated: Value =
        serde_json::from_str(&run(&data, &["apply", "-f", file.to_str().unwrap(), "-o", "json"])).unwrap();
    let source = updated["Changes"].as_array().unwrap().iter().find(|c| c["Kind"] == "source").unwrap();
    assert_eq!(source["Action"], "update", "{updated:#}");
    let described: Value = serde_json::from_str(&run(&data, &["sources", "describe", "fraud", "-o", "json"])).unwrap();
    assert_eq!(
        (described["Branch"].as_str(), described["PollIntervalSeconds"].as_i64()),
        (Some("release"), Some(3600))
    );

    // Without its retraining section, re-applying removes the schedule rule; a user's rule
    // that only looks like the pipeline's is left alone.
    run(&data, &["rules", "create", "fraud-on-build", "--pattern", r#"{"source": ["mine"]}"#]);
    std::fs::write(&file, PIPELINE.replace("retraining:\n  schedule: rate(1 day)\n", "")).unwrap();
    let reapplied = run(&data, &["apply", "-f", file.to_str().unwrap(), "-o", "json"]);
    assert!(reapplied.contains("\"delete\"") && reapplied.contains("fraud-on-schedule"), "{reapplied}");
    assert!(!reapplied.contains("fraud-on-build"), "{reapplied}");
    let rules = run(&data, &["rules", "list", "-o", "json"]);
    assert!(!rules.contains("fraud-on-schedule") && rules.contains("fraud-on-build"), "{rules}");

    let deleted = cli(&data, &["pipelines", "delete", "fraud"]);
    assert!(deleted.status.success(), "{}", stderr(&deleted));
    let rules = run(&data, &["rules", "list", "-o", "json"]);
    assert!(!rules.contains("fraud-on-training") && rules.contains("fraud-on-build"), "{rules}");

    // Nor does a pipeline take over a user's rule of a name it needs: apply refuses first.
    run(&data, &["rules", "create", "other-on-training", "--pattern", r#"{"source": ["mine"]}"#]);
    std::fs::write(&file, PIPELINE.replace("name: fraud", "name: other")).unwrap();
    let refused = cli(&data, &["apply", "-f", file.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("rule other-on-training exists and was not made by pipeline other"));
    assert!(!stdout(&cli(&data, &["pipelines", "list", "-o", "json"])).contains("other"), "nothing was applied");
}

/// Writes one CSV of `rows` two-blob rows per `(rows, seed, prefix)` and uploads it to
/// `s3://ml-data/<prefix>/` (the bucket is made first).
fn upload_datasets(dir: &std::path::Path, data: &std::path::Path, sets: &[(usize, u64, &str)]) {
    run(data, &["data", "mb", "s3://ml-data"]);
    for (index, (rows, seed, prefix)) in sets.iter().enumerate() {
        let folder = dir.join(format!("dataset-{index}"));
        std::fs::create_dir_all(&folder).unwrap();
        crate::jobs::write_csv(&folder.join("part-0.csv"), *rows, *seed, 1.5);
        run(data, &["data", "put", folder.to_str().unwrap(), &format!("s3://ml-data/{prefix}/")]);
    }
}

fn wait_for_run(data: &std::path::Path, pipeline: &str, count: usize, until: &[&str]) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    loop {
        let runs: Value = serde_json::from_str(&run(data, &["pipelines", "runs", pipeline, "-o", "json"])).unwrap();
        let list = runs["Runs"].as_array().unwrap();
        if list.len() >= count && until.contains(&list[0]["Status"].as_str().unwrap_or_default()) {
            let id = list[0]["RunId"].as_str().unwrap().to_string();
            return serde_json::from_str(&run(data, &["pipelines", "run-describe", &id, "-o", "json"])).unwrap();
        }
        assert!(std::time::Instant::now() < deadline, "run {count} of {pipeline} did not reach {until:?}: {runs:#}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

fn step<'a>(run: &'a Value, name: &str) -> &'a Value {
    run["Steps"].as_array().unwrap().iter().find(|s| s["Step"] == name).unwrap_or(&Value::Null)
}

#[test]
fn runs_wait_for_approval_stop_at_the_gate_and_coalesce_new_data() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _server = ServerProcess::start(&data);
    upload_datasets(
        dir.path(),
        &data,
        &[(600, 1, "loans/train"), (200, 2, "loans/validation"), (200, 3, "loans/test")],
    );
    let manual = "name: loans
training:
  algorithm: gbdt
  hyperparameters: {objective: 'binary:logistic', num_round: 10, max_depth: 3}
  channels: {train: s3://ml-data/loans/train/, validation: s3://ml-data/loans/validation/}
  output: s3://ml-data/loans/models
evaluation:
  test: s3://ml-data/loans/test/
  conditions: ['auc >= 0.6']
registry: {group: loans, approval: manual}
deployment: {endpoint: loans}
retraining: {data: s3://ml-data/loans/train/, min_interval: 2s}
";
    let file = dir.path().join("loans.yaml");
    std::fs::write(&file, manual).unwrap();
    run(&data, &["apply", "-f", file.to_str().unwrap()]);

    // A manual group: the run waits for the approval, then deploys.
    run(&data, &["pipelines", "start", "loans"]);
    let waiting = wait_for_run(&data, "loans", 1, &["WaitingForApproval", "Failed", "Succeeded"]);
    assert_eq!(waiting["Status"], "WaitingForApproval", "{waiting:#}");
    assert_eq!(step(&waiting, "Registration")["Status"], "PendingManualApproval");
    assert!(step(&waiting, "Training")["Metrics"].to_string().contains("validation:auc"), "{waiting:#}");
    run(&data, &["models", "approve", "loans/1"]);
    let live = wait_for_run(&data, "loans", 1, &["Succeeded", "Failed"]);
    assert_eq!(live["Status"], "Succeeded", "{live:#}");
    assert_eq!(step(&live, "Deployment")["Status"], "Completed");
    let described = run(&data, &["models", "describe", "loans/champion"]);
    assert!(described.contains("\"ModelPackageVersion\": 1"), "a live version is the champion: {described}");
    let prediction =
        run(&data, &["endpoints", "invoke", "loans", "--body", "1.5,-1.0,0.5", "--content-type", "text/csv"]);
    assert!(prediction.contains("predictions"), "{prediction}");

    // Twenty uploads within min_interval are one retraining.
    let burst = dir.path().join("burst");
    std::fs::create_dir_all(&burst).unwrap();
    for i in 0..20 {
        crate::jobs::write_csv(&burst.join(format!("part-{i:02}.csv")), 30, 10 + i, 1.5);
    }
    run(&data, &["data", "put", burst.to_str().unwrap(), "s3://ml-data/loans/train/burst/"]);
    let retrained = wait_for_run(&data, "loans", 2, &["WaitingForApproval", "Failed", "Succeeded"]);
    assert_eq!(retrained["Trigger"]["Type"], "new_data");
    assert_eq!(retrained["Trigger"]["Objects"], 20, "{retrained:#}");
    std::thread::sleep(std::time::Duration::from_secs(3));
    let runs: Value = serde_json::from_str(&run(&data, &["pipelines", "runs", "loans", "-o", "json"])).unwrap();
    assert_eq!(runs["Runs"].as_array().unwrap().len(), 2, "one retraining for the burst: {runs:#}");
    // A reviewer's rejection ends the waiting run with the reason.
    assert_eq!(retrained["Status"], "WaitingForApproval", "{retrained:#}");
    run(&data, &["models", "reject", "loans/2", "--description", "not convincing"]);
    let rejected = wait_for_run(&data, "loans", 2, &["Failed", "Succeeded"]);
    assert!(rejected["Reason"].as_str().unwrap().contains("rejected by its reviewer: not convincing"), "{rejected:#}");

    // A gate the model cannot pass ends the run with the reason; nothing is deployed.
    let strict = manual
        .replace("name: loans", "name: strict")
        .replace("'auc >= 0.6'", "'logloss <= 0'")
        .replace("approval: manual", "approval: auto")
        .replace("endpoint: loans", "endpoint: strict")
        .replace("group: loans", "group: strict")
        .replace("retraining: {data: s3://ml-data/loans/train/, min_interval: 2s}\n", "");
    std::fs::write(&file, strict).unwrap();
    run(&data, &["apply", "-f", file.to_str().unwrap()]);
    run(&data, &["pipelines", "start", "strict"]);
    let refused = wait_for_run(&data, "strict", 1, &["Failed", "Succeeded"]);
    assert_eq!(refused["Status"], "Failed", "{refused:#}");
    assert!(refused["Reason"].as_str().unwrap().contains("rejected"), "{refused:#}");
    assert_eq!(step(&refused, "Registration")["Status"], "Rejected");
    assert!(step(&refused, "Deployment").is_null(), "nothing after the failure happens");
    let endpoints = run(&data, &["endpoints", "list", "-o", "json"]);
    assert!(!endpoints.contains("\"strict\""), "{endpoints}");
}

#[test]
fn replaying_a_finished_runs_events_starts_registers_and_deploys_nothing_new() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _server = ServerProcess::start(&data);
    upload_datasets(dir.path(), &data, &[(400, 1, "ads/train"), (200, 3, "ads/test")]);
    run(&data, &["archives", "create", "everything", "--pattern", r#"{"source": [{"prefix": "aws."}]}"#]);
    let retraining = "retraining: {data: s3://ml-data/ads/train/, min_interval: 1s}\n";
    apply_small_pipeline(dir.path(), &data, "ads", "", "auc >= 0.5", retraining);
    run(&data, &["pipelines", "start", "ads"]);
    let first = wait_for_run(&data, "ads", 1, &["Succeeded", "Failed"]);
    assert_eq!(first["Status"], "Succeeded", "{first:#}");
    // New data retrains: version 2 is deployed over version 1.
    let more = dir.path().join("more");
    std::fs::create_dir_all(&more).unwrap();
    crate::jobs::write_csv(&more.join("part-1.csv"), 200, 7, 1.5);
    run(&data, &["data", "put", more.to_str().unwrap(), "s3://ml-data/ads/train/more/"]);
    let done = wait_for_run(&data, "ads", 2, &["Succeeded", "Failed"]);
    assert_eq!(done["Status"], "Succeeded", "{done:#}");
    assert_eq!(done["Trigger"]["Type"], "new_data", "{done:#}");
    let endpoint_before: Value =
        serde_json::from_str(&run(&data, &["endpoints", "describe", "ads", "-o", "json"])).unwrap();

    // The replay holds the new data's Object Created too: noted before, it retrains nothing.
    let replay = cli(&data, &["replays", "start", "--archive", "everything", "--from", "1h", "--wait"]);
    assert!(replay.status.success(), "{}", stderr(&replay));
    std::thread::sleep(std::time::Duration::from_secs(3));
    let runs: Value = serde_json::from_str(&run(&data, &["pipelines", "runs", "ads", "-o", "json"])).unwrap();
    assert_eq!(runs["Runs"].as_array().unwrap().len(), 2, "no retraining from replayed data: {runs:#}");
    let jobs = run(&data, &["jobs", "list", "-o", "json"]);
    assert_eq!(jobs.matches("\"TrainingJobName\"").count(), 2, "{jobs}");
    let versions = run(&data, &["models", "list", "ads", "-o", "json"]);
    assert_eq!(versions.matches("\"ModelPackageVersion\"").count(), 2, "{versions}");
    let endpoint_after: Value =
        serde_json::from_str(&run(&data, &["endpoints", "describe", "ads", "-o", "json"])).unwrap();
    assert_eq!(endpoint_after["EndpointConfigName"], endpoint_before["EndpointConfigName"], "no new deployment");
    assert_eq!(
        endpoint_after["ProductionVariants"][0]["ModelName"], "ads/2",
        "the replayed approval of 1 is not redeployed"
    );
    let again = wait_for_run(&data, "ads", 2, &["Succeeded", "Failed"]);
    assert_eq!(again["Steps"], done["Steps"], "the run's record is untouched");
    let invocations = run(&data, &["functions", "logs", "ads-evaluate-model-function", "-o", "json"]);
    assert!(
        invocations.contains("Duplicate"),
        "the replayed event reached the function, which did nothing: {invocations}"
    );
}

fn job_status(data: &std::path::Path, name: &str) -> Value {
    let output = cli(data, &["jobs", "describe", name, "-o", "json"]);
    serde_json::from_str(&stdout(&output)).unwrap_or(Value::Null)
}

#[test]
fn a_server_killed_during_training_or_deployment_ends_the_run_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = ServerProcess::start(&data);
    let sets = [(60_000, 1, "slow/train"), (400, 5, "fast/train"), (300, 3, "slow/test"), (300, 3, "fast/test")];
    upload_datasets(dir.path(), &data, &sets);
    let slow = "name: slow
training:
  algorithm: gbdt
  hyperparameters: {objective: 'binary:logistic', num_round: 400, max_depth: 6}
  channels: {train: s3://ml-data/slow/train/}
  output: s3://ml-data/slow/models
evaluation: {test: s3://ml-data/slow/test/, conditions: ['auc >= 0.5']}
registry: {group: slow}
";
    let file = dir.path().join("pipeline.yaml");
    std::fs::write(&file, slow).unwrap();
    run(&data, &["apply", "-f", file.to_str().unwrap()]);

    // Killed while the training job runs: after the restart the job is failed with the
    // reason, and so is the run; nothing is registered.
    let started: Value = serde_json::from_str(&run(&data, &["pipelines", "start", "slow", "-o", "json"])).unwrap();
    let job = started["RunId"].as_str().unwrap().to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while job_status(&data, &job)["SecondaryStatus"] != "Training" {
        assert!(std::time::Instant::now() < deadline, "the job never trained: {}", job_status(&data, &job));
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    server.kill_hard();
    let mut server = ServerProcess::start(&data);
    let failed = wait_for_run(&data, "slow", 1, &["Failed", "Succeeded"]);
    assert_eq!(failed["Status"], "Failed", "{failed:#}");
    assert!(failed["Reason"].as_str().unwrap().contains(&format!("training job {job} failed")), "{failed:#}");
    let versions = run(&data, &["models", "list", "slow", "-o", "json"]);
    assert_eq!(versions.matches("\"ModelPackageVersion\"").count(), 0, "{versions}");

    // Killed while a deployment bakes: after the restart the endpoint serves the version it
    // served before, and the run that was deploying ends with the reason.
    let fast = "name: fast
training:
  algorithm: gbdt
  hyperparameters: {objective: 'binary:logistic', num_round: 5}
  channels: {train: s3://ml-data/fast/train/}
  output: s3://ml-data/fast/models
evaluation: {test: s3://ml-data/fast/test/, conditions: ['auc >= 0.5']}
registry: {group: fast}
deployment: {endpoint: fast, strategy: 'canary:50:30s'}
";
    std::fs::write(&file, fast).unwrap();
    run(&data, &["apply", "-f", file.to_str().unwrap()]);
    run(&data, &["pipelines", "start", "fast"]);
    // The first deployment creates the endpoint (no bake).
    let first = wait_for_run(&data, "fast", 1, &["Succeeded", "Failed"]);
    assert_eq!(first["Status"], "Succeeded", "{first:#}");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    run(&data, &["pipelines", "start", "fast"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let endpoint: Value =
            serde_json::from_str(&run(&data, &["endpoints", "describe", "fast", "-o", "json"])).unwrap();
        if endpoint["PendingDeploymentSummary"]["ProductionVariants"][0]["ModelName"] == "fast/2" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the second deployment never started: {endpoint:#}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    server.kill_hard();
    let _server = ServerProcess::start(&data);
    let interrupted = wait_for_run(&data, "fast", 2, &["Failed", "Succeeded"]);
    assert_eq!(interrupted["Status"], "Failed", "{interrupted:#}");
    assert!(interrupted["Reason"].as_str().unwrap().contains("restarted during the deployment"), "{interrupted:#}");
    assert_eq!(step(&interrupted, "Deployment")["Status"], "RolledBack", "{interrupted:#}");
    let endpoint: Value = serde_json::from_str(&run(&data, &["endpoints", "describe", "fast", "-o", "json"])).unwrap();
    assert_eq!(endpoint["ProductionVariants"][0]["ModelName"], "fast/1", "{endpoint:#}");
    let versions = run(&data, &["models", "list", "fast", "-o", "json"]);
    assert_eq!(versions.matches("\"ModelPackageVersion\"").count(), 2, "one version per run: {versions}");
}

#[test]
fn a_server_killed_between_evaluation_and_registration_completes_the_run_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = ServerProcess::start(&data);
    upload_datasets(dir.path(), &data, &[(400, 1, "mid/train"), (300, 3, "mid/test")]);
    apply_small_pipeline(dir.path(), &data, "mid", "  instance_type: ml.m5.large\n", "auc >= 0.5", "");
    // The evaluation's end reaches no rule, and the server dies before anything registers
    // it: the event is lost.
    run(&data, &["rules", "disable", "mid-on-evaluation"]);
    let started: Value = serde_json::from_str(&run(&data, &["pipelines", "start", "mid", "-o", "json"])).unwrap();
    let evaluation = format!("{}-eval", started["RunId"].as_str().unwrap());
    wait_for_evaluation(&data, &evaluation);
    server.kill_hard();
    let _server = ServerProcess::start(&data);
    run(&data, &["rules", "enable", "mid-on-evaluation"]);

    // The reconciler puts the evaluation's event again: the run registers and deploys once.
    let done = wait_for_run(&data, "mid", 1, &["Succeeded", "Failed"]);
    assert_eq!(done["Status"], "Succeeded", "{done:#}");
    assert_eq!(step(&done, "Registration")["Resource"], "mid/1", "{done:#}");
    assert_eq!(step(&done, "Deployment")["Status"], "Completed", "{done:#}");
    std::thread::sleep(std::time::Duration::from_secs(6));
    let versions = run(&data, &["models", "list", "mid", "-o", "json"]);
    assert_eq!(versions.matches("\"ModelPackageVersion\"").count(), 1, "{versions}");
    let endpoint: Value = serde_json::from_str(&run(&data, &["endpoints", "describe", "mid", "-o", "json"])).unwrap();
    assert_eq!(endpoint["ProductionVariants"][0]["ModelName"], "mid/1", "{endpoint:#}");
    let jobs = run(&data, &["jobs", "list", "-o", "json"]);
    assert_eq!(jobs.matches("\"TrainingJobName\"").count(), 1, "{jobs}");

    // Each builtin acts as its own role, recorded on what it made; the jobs run as the
    // pipeline's execution role.
    let role = |function: &str| format!("arn:aws:iam::000000000000:role/trainyard-pipeline/mid-{function}");
    let job = job_status(&data, started["RunId"].as_str().unwrap());
    assert_eq!(job["RoleArn"], role("execution"), "{job:#}");
    assert_eq!(job["ResourceConfig"]["InstanceType"], "ml.m5.large", "{job:#}");
    let evaluated: Value =
        serde_json::from_str(&run(&data, &["processing", "describe", &evaluation, "-o", "json"])).unwrap();
    assert_eq!(evaluated["RoleArn"], role("execution"), "{evaluated:#}");
    let version: Value = serde_json::from_str(&run(&data, &["models", "describe", "mid/1", "-o", "json"])).unwrap();
    assert_eq!(version["CreatedBy"], role("register-model-in-registry"), "{version:#}");
    assert_eq!(endpoint["DeployedBy"], role("deploy-sagemaker-model"), "{endpoint:#}");
}

#[test]
fn a_champion_that_changes_during_the_evaluation_is_evaluated_against_again() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _server = ServerProcess::start(&data);
    upload_datasets(dir.path(), &data, &[(400, 1, "champ/train"), (300, 3, "champ/test")]);
    apply_small_pipeline(dir.path(), &data, "champ", "", "auc >= champion.auc - 0.5", "");
    run(&data, &["pipelines", "start", "champ"]);
    let first = wait_for_run(&data, "champ", 1, &["Succeeded", "Failed"]);
    assert_eq!(first["Status"], "Succeeded", "{first:#}");

    // The second run's evaluation meets champion 1; then the champion becomes 2.
    run(&data, &["rules", "disable", "champ-on-evaluation"]);
    let started: Value = serde_json::from_str(&run(&data, &["pipelines", "start", "champ", "-o", "json"])).unwrap();
    let run_id = started["RunId"].as_str().unwrap().to_string();
    wait_for_evaluation(&data, &format!("{run_id}-eval"));
    let one: Value = serde_json::from_str(&run(&data, &["models", "describe", "champ/1", "-o", "json"])).unwrap();
    let model = one["ModelDataUrl"].as_str().unwrap();
    run(&data, &["models", "register", "--group", "champ", "--model-data", model, "--status", "PendingManualApproval"]);
    run(&data, &["models", "alias", "set", "champ", "champion", "2"]);
    run(&data, &["rules", "enable", "champ-on-evaluation"]);

    // The stale evaluation cannot register; the run evaluates against champion 2 and goes on.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    let done = loop {
        let described: Value =
            serde_json::from_str(&run(&data, &["pipelines", "run-describe", &run_id, "-o", "json"])).unwrap();
        if described["Status"] != "Running" {
            break described;
        }
        assert!(std::time::Instant::now() < deadline, "the run never ended: {described:#}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(done["Status"], "Succeeded", "{done:#}");
    assert_eq!(step(&done, "Evaluation")["Resource"], format!("{run_id}-eval-2"), "{done:#}");
    assert_eq!(step(&done, "Registration")["Resource"], "champ/3", "{done:#}");
    let three: Value = serde_json::from_str(&run(&data, &["models", "describe", "champ/3", "-o", "json"])).unwrap();
    assert_eq!(three["GateDecision"]["champion"], "2", "{three:#}");
    let logs = run(&data, &["functions", "logs", "champ-register-model-in-registry"]);
    assert!(logs.contains("the champion is now 2; evaluate again"), "{logs}");
}

#[test]
fn a_commit_whose_build_fails_ends_its_run_at_the_build() {
    use crate::sources::git;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _server = ServerProcess::start(&data);
    let repo = dir.path().join("repo");
    crate::sources::new_repository(&repo);
    let spec = format!(
        "name: broken
source: {{git: {}, poll: 1h}}
build: {{entrypoint: trainyard algorithm gbdt}}
training:
  image: build
  channels: {{train: s3://ml-data/broken/train/}}
  output: s3://ml-data/broken/models
evaluation: {{test: s3://ml-data/broken/test/}}
registry: {{group: broken}}
",
        repo.display()
    );
    let file = dir.path().join("broken.yaml");
    std::fs::write(&file, spec).unwrap();
    run(&data, &["apply", "-f", file.to_str().unwrap()]);

    // The commit's own trainyard.yaml builds from outside the repository: the build fails.
    std::fs::write(repo.join("trainyard.yaml"), "build:\n  context: ../outside\n  entrypoint: python3 train.py\n")
        .unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "--quiet", "-m", "a broken build"]);
    let head = git(&repo, &["rev-parse", "HEAD"]);
    run(&data, &["sources", "poll", "broken"]);
    let failed = wait_for_run(&data, "broken", 1, &["Failed", "Succeeded"]);
    assert_eq!(failed["Status"], "Failed", "{failed:#}");
    assert_eq!(failed["RunId"], format!("broken-{}", &head[..12]), "{failed:#}");
    let reason = failed["Reason"].as_str().unwrap();
    assert!(reason.contains(&format!("of commit {head} failed")) && reason.contains("context"), "{failed:#}");
    assert_eq!(step(&failed, "Build")["Status"], "Failed", "{failed:#}");
    assert!(step(&failed, "Training").is_null(), "nothing after the failure happens: {failed:#}");
    let jobs = run(&data, &["jobs", "list", "-o", "json"]);
    assert!(!jobs.contains("TrainingJobName"), "{jobs}");
}

/// Applies a small gbdt pipeline `name` on `s3://ml-data/<name>/{train,test}/`, deploying to
/// endpoint `name`; `training` adds lines to its training section, `sections` whole sections.
fn apply_small_pipeline(
    dir: &std::path::Path,
    data: &std::path::Path,
    name: &str,
    training: &str,
    condition: &str,
    sections: &str,
) {
    let spec = format!(
        "name: {name}
training:
  algorithm: gbdt
  hyperparameters: {{objective: 'binary:logistic', num_round: 5}}
  channels: {{train: s3://ml-data/{name}/train/}}
  output: s3://ml-data/{name}/models
{training}evaluation: {{test: s3://ml-data/{name}/test/, conditions: ['{condition}']}}
registry: {{group: {name}}}
deployment: {{endpoint: {name}}}
{sections}"
    );
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(&file, spec).unwrap();
    run(data, &["apply", "-f", file.to_str().unwrap()]);
}

/// Waits for evaluation job `name` to complete.
fn wait_for_evaluation(data: &std::path::Path, name: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let output = cli(data, &["processing", "describe", name, "-o", "json"]);
        let job: Value = serde_json::from_str(&stdout(&output)).unwrap_or(Value::Null);
        if job["ProcessingJobStatus"] == "Completed" {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "the evaluation never completed: {job:#}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
