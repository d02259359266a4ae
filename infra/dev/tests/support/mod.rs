//! A test playing a Lambda function over the Runtime API, as a bootstrap binary would.

#![allow(dead_code)] // each test binary uses its own part

use std::future::Future;

use serde_json::Value;

/// What the played function does with one event.
pub enum Answer {
    Response(Value),
    Error(&'static str, &'static str),
}

/// Serves invocations from the Runtime API at `runtime_api` (`127.0.0.1:<port>`) until the
/// task is aborted, answering each with `handle(event)`.
pub async fn play_function<F, Fut>(runtime_api: String, mut handle: F)
where
    F: FnMut(Value) -> Fut,
    Fut: Future<Output = Answer>,
{
    let client = reqwest::Client::new();
    let base = format!("http://{runtime_api}/2018-06-01/runtime");
    loop {
        let Ok(next) = client.get(format!("{base}/invocation/next")).send().await else {
            return;
        };
        assert_eq!(next.status(), 200);
        let request_id = next.headers()["lambda-runtime-aws-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let deadline: u128 = next.headers()["lambda-runtime-deadline-ms"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(deadline > 0);
        assert!(
            next.headers()
                .contains_key("lambda-runtime-invoked-function-arn")
        );
        assert!(next.headers().contains_key("lambda-runtime-trace-id"));
        let event: Value = next.json().await.unwrap();
        let posted = match handle(event).await {
            Answer::Response(answer) => {
                client
                    .post(format!("{base}/invocation/{request_id}/response"))
                    .json(&answer)
                    .send()
                    .await
            }
            Answer::Error(error_type, message) => {
                client
                    .post(format!("{base}/invocation/{request_id}/error"))
                    .header("lambda-runtime-function-error-type", error_type)
                    .json(&serde_json::json!({"errorType": error_type, "errorMessage": message}))
                    .send()
                    .await
            }
        };
        assert_eq!(posted.unwrap().status(), 202);
    }
}
