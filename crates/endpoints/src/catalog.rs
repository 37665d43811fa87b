//! SageMaker's definitions behind an endpoint: models (`CreateModel`: a container image and
//! its artifact) and endpoint configurations (`CreateEndpointConfig`: weighted variants of
//! models), kept as the requests that made them; endpoints created and updated from a named
//! configuration onto the same blue/green deployments as every other deployment; and the
//! tags of SageMaker resources.

use std::collections::BTreeMap;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use trainyard_objects::S3Uri;
use trainyard_store::DefinitionRecord;

use crate::service::{Deploy, Endpoints, VariantSpec};
use crate::{Error, Serving};

const MODEL: &str = "model";
const CONFIG: &str = "endpoint-config";

/// `CreateModel`: one container (`PrimaryContainer`, or a `Containers` list of one).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateModel {
    pub model_name: String,
    #[serde(default)]
    pub primary_container: Option<ContainerDefinition>,
    #[serde(default)]
    pub containers: Vec<ContainerDefinition>,
    #[serde(default)]
    pub execution_role_arn: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerDefinition {
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub model_data_url: Option<String>,
    /// A registered version: its ARN (`…:model-package/GROUP/VERSION`) or `GROUP/VERSION`.
    #[serde(default)]
    pub model_package_name: Option<String>,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
}

/// `CreateEndpointConfig`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateEndpointConfig {
    pub endpoint_config_name: String,
    pub production_variants: Vec<ConfigVariant>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConfigVariant {
    pub variant_name: String,
    #[serde(default)]
    pub model_name: Option<String>,
    #[serde(default)]
    pub initial_variant_weight: Option<f64>,
}

fn invalid(field: &str, reason: impl Into<String>) -> Error {
    Error::InvalidRequest { field: field.into(), reason: reason.into() }
}

fn parse<T: serde::de::DeserializeOwned>(request: &Value) -> Result<T, Error> {
    serde_json::from_value(request.clone()).map_err(|e| invalid("request", e.to_string()))
}

/// The request as stored and described: without its tags (kept by ARN).
fn spec_of(request: &Value) -> Value {
    let mut spec = request.clone();
    if let Some(map) = spec.as_object_mut() {
        map.remove("Tags");
    }
    spec
}

impl Endpoints {
    fn sagemaker_arn(&self, kind: &str, name: &str) -> String {
        let c = &self.inner.config;
        format!("arn:aws:sagemaker:{}:{}:{kind}/{}", c.region, c.account, name.to_lowercase())
    }

    /// A registered version that may serve, as (`GROUP/VERSION`, artifact URL).
    pub(crate) async fn servable_version(&self, group: &str, version: &str) -> Result<(String, String), Error> {
        self.servable_package(group, version).await.map(|(name, url, _)| (name, url))
    }

    /// [`Endpoints::servable_version`] and the image its inference container names.
    async fn servable_package(&self, group: &str, version: &str) -> Result<(String, String, Option<String>), Error> {
        let package = self.inner.registry.describe_version(group, version).await?;
        let number = &package["ModelPackageVersion"];
        if package["ModelApprovalStatus"] == "Rejected" {
            return Err(invalid(
                "ModelPackage",
                format!("{group}/{number} is Rejected; only a version that is not Rejected can serve"),
            ));
        }
        let image = package["InferenceSpecification"]["Containers"][0]["Image"].as_str().map(str::to_string);
        Ok((format!("{group}/{number}"), package["ModelDataUrl"].as_str().unwrap_or_default().to_string(), image))
    }

    /// A container's artifact URL and image: its own, or its registered version's.
    async fn container_artifact(&self, container: &ContainerDefinition) -> Result<(String, Option<String>), Error> {
        match (&container.model_package_name, &container.model_data_url) {
            (Some(package), None) => {
                let reference = package.rsplit_once(":model-package/").map_or(package.as_str(), |(_, r)| r);
                let (group, version) = reference.split_once('/').ok_or_else(|| {
                    invalid("ModelPackageName", format!("{package:?}: expected a versioned model package ARN"))
                })?;
                let (_, url, image) = self.servable_package(group, version).await?;
                Ok((url, container.image.clone().or(image)))
            }
            (None, Some(url)) => {
                let uri = S3Uri::parse(url).map_err(|e| invalid("ModelDataUrl", e.to_string()))?;
                self.inner.objects.head(&uri.bucket, &uri.key).await.map_err(|_| {
                    invalid("ModelDataUrl", format!("Could not find model data at {url}: no such object"))
                })?;
                Ok((url.clone(), container.image.clone()))
            }
            _ => Err(invalid("PrimaryContainer", "give ModelDataUrl or ModelPackageName (one of them)")),
        }
    }

    /// A model's artifact URL and how it answers.
    pub(crate) async fn model_artifact(&self, model: &str) -> Result<(String, Serving), Error> {
        let record = self.inner.store.get_definition(MODEL, model).await?;
        let request: CreateModel = parse(&record.spec)?;
        let container = request.primary_container.or(request.containers.into_iter().next());
        let container = container.ok_or_else(|| invalid("PrimaryContainer", "the model has no container"))?;
        let (url, image) = self.container_artifact(&container).await?;
        Ok((url, Serving::of_image(image.as_deref())))
    }

    /// `CreateModel`: checks the container's artifact exists and may serve.
    pub async fn create_model(&self, request: &Value) -> Result<Value, Error> {
        let model: CreateModel = parse(request)?;
        trainyard_events::validate_name("ModelName", &model.model_name).map_err(|e| invalid("ModelName", e))?;
        let container = match (&model.primary_container, model.containers.as_slice()) {
            (Some(container), []) => container,
            (None, [container]) => container,
            (None, []) => return Err(invalid("PrimaryContainer", "a model needs a container")),
            _ => return Err(invalid("Containers", "trainyard serves a model of one container")),
        };
        self.container_artifact(container).await?;
        let arn = self.sagemaker_arn(MODEL, &model.model_name);
        let record = DefinitionRecord {
            kind: MODEL,
            name: model.model_name,
            arn: arn.clone(),
            spec: spec_of(request),
            created_at: Utc::now(),
        };
        self.inner.store.create_definition(&record).await?;
        Ok(json!({"ModelArn": arn}))
    }

    /// `CreateEndpointConfig`: every variant names a model that exists.
    pub async fn create_endpoint_config(&self, request: &Value) -> Result<Value, Error> {
        let config: CreateEndpointConfig = parse(request)?;
        let name = &config.endpoint_config_name;
        trainyard_events::validate_name("EndpointConfigName", name).map_err(|e| invalid("EndpointConfigName", e))?;
        if config.production_variants.is_empty() || config.production_variants.len() > 10 {
            return Err(invalid("ProductionVariants", "give 1 to 10 variants"));
        }
        for variant in &config.production_variants {
            let model = variant.model_name.as_deref().ok_or_else(|| {
                invalid("ProductionVariants", format!("variant {}: ModelName is required", variant.variant_name))
            })?;
            self.inner.store.get_definition(MODEL, model).await?;
        }
        // The variants' own rules (names, weights) are a deployment's; check them now.
        self.resolve(name, &self.config_deploy(&config, None), Some(name)).await?;
        let arn = self.sagemaker_arn(CONFIG, name);
        let record = DefinitionRecord {
            kind: CONFIG,
            name: name.clone(),
            arn: arn.clone(),
            spec: spec_of(request),
            created_at: Utc::now(),
        };
        self.inner.store.create_definition(&record).await?;
        Ok(json!({"EndpointConfigArn": arn}))
    }

    fn config_deploy(&self, config: &CreateEndpointConfig, deployment_config: Option<Value>) -> Deploy {
        let production_variants = config
            .production_variants
            .iter()
            .map(|v| VariantSpec {
                variant_name: v.variant_name.clone(),
                model_package: None,
                model_data_url: None,
                model_name: v.model_name.clone(),
                initial_variant_weight: v.initial_variant_weight.unwrap_or(1.0),
                initial_instance_count: None,
            })
            .collect();
        Deploy { production_variants, deployment_config }
    }

    /// `DescribeModel` / `DescribeEndpointConfig`: the request, its ARN and creation time.
    pub async fn describe_definition(&self, kind: &'static str, name: &str) -> Result<Value, Error> {
        let record = self.inner.store.get_definition(kind, name).await?;
        let mut answer = record.spec;
        let arn_field = if kind == MODEL { "ModelArn" } else { "EndpointConfigArn" };
        answer[arn_field] = json!(record.arn);
        answer["CreationTime"] = json!(record.created_at.timestamp_millis() as f64 / 1000.0);
        Ok(answer)
    }

    /// `ListModels` / `ListEndpointConfigs`: names containing `name_contains`, at most `limit`.
    pub async fn list_definitions(
        &self,
        kind: &'static str,
        name_contains: &str,
        limit: usize,
    ) -> Result<Vec<Value>, Error> {
        let records = self.inner.store.list_definitions(kind, name_contains).await?;
        let (name_field, arn_field) =
            if kind == MODEL { ("ModelName", "ModelArn") } else { ("EndpointConfigName", "EndpointConfigArn") };
        Ok(records
            .into_iter()
            .take(limit)
            .map(|r| json!({name_field: r.name, arn_field: r.arn, "CreationTime": r.created_at.timestamp_millis() as f64 / 1000.0}))
            .collect())
    }

    /// `DeleteModel` / `DeleteEndpointConfig`. An endpoint serving it keeps serving: its
    /// configuration was resolved when deployed.
    pub async fn delete_definition(&self, kind: &'static str, name: &str) -> Result<(), Error> {
        Ok(self.inner.store.delete_definition(kind, name).await?)
    }

    /// `CreateEndpoint` from a named configuration.
    pub async fn create_endpoint(
        &self,
        name: &str,
        config_name: &str,
        deployment_config: Option<Value>,
        by: &str,
    ) -> Result<Value, Error> {
        match self.inner.store.get_endpoint(name).await {
            Ok(_) => return Err(trainyard_store::Error::AlreadyExists { kind: "endpoint", name: name.into() }.into()),
            Err(trainyard_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        self.deploy_named_config(name, config_name, deployment_config, by).await
    }

    /// `UpdateEndpoint` to a named configuration, as its `DeploymentConfig` says.
    pub async fn update_endpoint(
        &self,
        name: &str,
        config_name: &str,
        deployment_config: Option<Value>,
        by: &str,
    ) -> Result<Value, Error> {
        self.inner.store.get_endpoint(name).await?;
        self.deploy_named_config(name, config_name, deployment_config, by).await
    }

    async fn deploy_named_config(
        &self,
        name: &str,
        config_name: &str,
        deployment_config: Option<Value>,
        by: &str,
    ) -> Result<Value, Error> {
        let record = self.inner.store.get_definition(CONFIG, config_name).await?;
        let config: CreateEndpointConfig = parse(&record.spec)?;
        let request = self.config_deploy(&config, deployment_config);
        self.deploy_named(name, request, by, Some(config_name)).await
    }

    /// `AddTags`: adds or overwrites.
    pub async fn add_tags(&self, arn: &str, tags: &[(String, String)]) -> Result<(), Error> {
        for (key, value) in tags {
            if key.is_empty() || key.len() > 128 || value.len() > 256 || key.starts_with("aws:") {
                return Err(invalid(
                    "Tags",
                    format!("tag {key:?}: keys are 1-128 characters not starting with aws:, values at most 256"),
                ));
            }
        }
        Ok(self.inner.store.put_resource_tags(arn, tags).await?)
    }

    pub async fn list_tags(&self, arn: &str) -> Result<Vec<(String, String)>, Error> {
        Ok(self.inner.store.list_resource_tags(arn).await?)
    }

    pub async fn delete_tags(&self, arn: &str, keys: &[String]) -> Result<(), Error> {
        Ok(self.inner.store.delete_resource_tags(arn, keys).await?)
    }
}
