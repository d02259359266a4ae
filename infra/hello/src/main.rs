//! `hello`: the smallest Lambda function `lambda_runtime` makes, built with the workspace's
//! release profile. `cargo dev bench` starts it next to the real functions: its cold start
//! is the floor theirs are compared with.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| async {
        Ok::<Value, Error>(json!({"hello": "world"}))
    }))
    .await
}
