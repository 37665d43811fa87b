//! SageMaker's own images — the framework containers (scikit-learn, XGBoost, PyTorch,
//! TensorFlow) and built-in algorithms — recognised by repository name under any AWS
//! account and region, and what trainyard runs in their place: script mode for a
//! framework, a built-in algorithm for XGBoost's and Linear Learner's algorithm mode.

/// An image SageMaker publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framework {
    ScikitLearn,
    Xgboost,
    PyTorch,
    TensorFlow,
    LinearLearner,
}

impl Framework {
    /// The framework an image URI names: `<12 digits>.dkr.ecr.<region>.amazonaws.com[.cn]/<repo>[:tag]`
    /// with one of SageMaker's repository names.
    pub fn of_image(uri: &str) -> Option<Framework> {
        let (host, rest) = uri.split_once('/')?;
        let (account, rest_of_host) = host.split_once(".dkr.ecr.")?;
        let region_ok = rest_of_host
            .strip_suffix(".amazonaws.com")
            .or_else(|| rest_of_host.strip_suffix(".amazonaws.com.cn"))
            .is_some_and(|region| {
                !region.is_empty() && region.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            });
        if account.len() != 12 || !account.chars().all(|c| c.is_ascii_digit()) || !region_ok {
            return None;
        }
        let repository = rest.split(['@', ':']).next().unwrap_or(rest);
        Some(match repository {
            "sagemaker-scikit-learn" => Framework::ScikitLearn,
            "sagemaker-xgboost" | "xgboost" => Framework::Xgboost,
            "pytorch-training" | "pytorch-inference" | "sagemaker-pytorch" => Framework::PyTorch,
            "tensorflow-training" | "tensorflow-inference" | "sagemaker-tensorflow" => Framework::TensorFlow,
            "linear-learner" => Framework::LinearLearner,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Framework::ScikitLearn => "scikit-learn",
            Framework::Xgboost => "XGBoost",
            Framework::PyTorch => "PyTorch",
            Framework::TensorFlow => "TensorFlow",
            Framework::LinearLearner => "Linear Learner",
        }
    }

    /// The built-in algorithm that runs this image without a script (algorithm mode).
    pub fn algorithm(self) -> Option<&'static str> {
        match self {
            Framework::Xgboost => Some("gbdt"),
            Framework::LinearLearner => Some("linear-learner"),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_account_and_region_names_the_framework_by_repository() {
        let cases = [
            (
                "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
                Some(Framework::ScikitLearn),
            ),
            ("246618743249.dkr.ecr.us-west-2.amazonaws.com/sagemaker-xgboost:1.7-1", Some(Framework::Xgboost)),
            ("811284229777.dkr.ecr.us-east-1.amazonaws.com/xgboost:1", Some(Framework::Xgboost)),
            ("763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-training:2.1-cpu-py310", Some(Framework::PyTorch)),
            ("382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1", Some(Framework::LinearLearner)),
            ("390948362332.dkr.ecr.cn-north-1.amazonaws.com.cn/sagemaker-xgboost@sha256:ab", Some(Framework::Xgboost)),
            ("683313688378.dkr.ecr.us-east-1.amazonaws.com/my-model:1", None),
            ("localhost:5000/sagemaker-xgboost:1", None),
            ("12345.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1", None),
            ("sagemaker-xgboost", None),
        ];
        for (uri, expected) in cases {
            assert_eq!(Framework::of_image(uri), expected, "{uri}");
        }
        assert_eq!(Framework::Xgboost.algorithm(), Some("gbdt"));
        assert_eq!(Framework::ScikitLearn.algorithm(), None);
    }
}
