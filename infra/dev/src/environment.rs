//! The environment each function runs with locally: its template variables, resolved
//! against the local resources, plus what Lambda and the SDK need to reach the emulator.

use std::collections::BTreeMap;

use crate::resources::{REGION, ResolveError, Resources};
use crate::template::{Function, Template};

/// The local cloud's payment webhook secret. Functions get it as `WEBHOOK_SECRET` in place
/// of the template's Secrets Manager secret; it signs the sample webhooks locally and is
/// never used in the cloud.
pub const LOCAL_WEBHOOK_SECRET: &str = "whsec_local_only_do_not_use_in_the_cloud";

/// The emulator accepts any static credentials; these make clear they are not real ones.
pub const LOCAL_ACCESS_KEY_ID: &str = "test";
pub const LOCAL_SECRET_ACCESS_KEY: &str = "test";

/// Variables Lambda sets per function (and `cargo lambda watch` sets itself).
const PER_FUNCTION: [&str; 4] = [
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_LOG_GROUP_NAME",
];

#[derive(Clone, Debug, Default)]
pub struct FunctionEnvironment {
    pub variables: BTreeMap<String, String>,
    /// Template variables left out locally, with the reason.
    pub dropped: Vec<String>,
}

/// `function`'s environment against the emulator named in `resources`.
pub fn function_environment(function: &Function, resources: &Resources) -> FunctionEnvironment {
    let mut env = FunctionEnvironment::default();
    for (name, expr) in &function.environment {
        match resources.resolve(expr) {
            Ok(value) => {
                env.variables.insert(name.clone(), value);
            }
            // Replaced by WEBHOOK_SECRET below.
            Err(ResolveError::Secret(_)) => {}
            Err(reason) => env.dropped.push(format!(
                "{}: {name} is not set locally: {reason}",
                function.logical_id
            )),
        }
    }
    let name = resources
        .function_name(&function.logical_id)
        .unwrap_or(&function.logical_id)
        .to_owned();
    let fixed = [
        ("WEBHOOK_SECRET", LOCAL_WEBHOOK_SECRET.to_owned()),
        ("AWS_ENDPOINT_URL", resources.endpoint().to_owned()),
        ("AWS_REGION", REGION.to_owned()),
        ("AWS_ACCESS_KEY_ID", LOCAL_ACCESS_KEY_ID.to_owned()),
        ("AWS_SECRET_ACCESS_KEY", LOCAL_SECRET_ACCESS_KEY.to_owned()),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            function.memory_size.to_string(),
        ),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}")),
        ("AWS_LAMBDA_FUNCTION_NAME", name),
    ];
    for (key, value) in fixed {
        env.variables.insert(key.to_owned(), value);
    }
    env.variables
        .entry("RUST_LOG".to_owned())
        .or_insert_with(|| "info".to_owned());
    env
}

/// The union of every function's environment without the per-function Lambda variables:
/// what `cargo lambda watch --env-file` needs. On a clash the first function's value wins.
pub fn shared_environment(template: &Template, resources: &Resources) -> BTreeMap<String, String> {
    let mut shared = BTreeMap::new();
    for function in &template.functions {
        for (key, value) in function_environment(function, resources).variables {
            if !PER_FUNCTION.contains(&key.as_str()) {
                shared.entry(key).or_insert(value);
            }
        }
    }
    shared
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functions_get_local_values() {
        let template = Template::load(&crate::repo::repo_root().unwrap()).unwrap();
        let resources = Resources::new(&template, "http://127.0.0.1:5000");
        let webhook = template.function_by_binary("payment-webhook").unwrap();
        let env = function_environment(webhook, &resources);
        let vars = &env.variables;
        assert_eq!(vars["WEBHOOK_SECRET"], LOCAL_WEBHOOK_SECRET);
        assert!(!vars.contains_key("WEBHOOK_SECRET_ARN"));
        assert_eq!(vars["IDEMPOTENCY_TABLE"], "IdempotencyTable");
        assert_eq!(
            vars["EVENTS_TOPIC_ARN"],
            "arn:aws:sns:us-east-1:123456789012:EventsTopic"
        );
        assert_eq!(vars["AWS_ENDPOINT_URL"], "http://127.0.0.1:5000");
        assert_eq!(vars["AWS_REGION"], "us-east-1");
        assert_eq!(vars["AWS_LAMBDA_FUNCTION_NAME"], "PaymentWebhookFunction");
        assert_eq!(vars["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "128");
        assert_eq!(vars["AWS_LAMBDA_FUNCTION_VERSION"], "$LATEST");
        assert_eq!(vars["RUST_LOG"], "info");
        assert!(env.dropped.is_empty(), "{:?}", env.dropped);

        let shared = shared_environment(&template, &resources);
        assert_eq!(
            shared["ORDERS_QUEUE_URL"],
            "http://127.0.0.1:5000/123456789012/OrdersQueue"
        );
        assert_eq!(shared["PRODUCTS_TABLE"], "ProductsTable");
        assert!(!shared.contains_key("AWS_LAMBDA_FUNCTION_NAME"));
    }
}
