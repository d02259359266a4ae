//! The HTTP gateway over real HTTP, with the function played by the test.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use dev::gateway::{self, Routes};
use dev::logs::{LogOutput, Logs};
use dev::runtime::{FunctionConfig, FunctionHost};
use serde_json::{Value, json};
use support::{Answer, play_function};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The played function: answers by the event's route.
async fn answer(event: Value) -> Answer {
    match event["routeKey"].as_str().unwrap() {
        "GET /products/{product_id}" => Answer::Response(json!({
            "statusCode": 200,
            "headers": {"content-type": "application/json", "etag": "\"v1\""},
            "multiValueHeaders": {"x-seen": ["a", "b"]},
            "cookies": ["session=abc; HttpOnly"],
            "body": json!({
                "product_id": event["pathParameters"]["product_id"],
                "query": event["queryStringParameters"],
                "cookies": event["cookies"],
                "header": event["headers"]["x-custom"],
                "method": event["requestContext"]["http"]["method"],
                "source_ip": event["requestContext"]["http"]["sourceIp"],
                "stage": event["requestContext"]["stage"],
            })
            .to_string(),
            "isBase64Encoded": false,
        })),
        "POST /upload" => Answer::Response(json!({
            "statusCode": 201,
            "body": BASE64.encode(format!(
                "{}:{}",
                event["isBase64Encoded"],
                event["body"].as_str().unwrap()
            )),
            "isBase64Encoded": true,
        })),
        "GET /bare" => Answer::Response(json!({"hello": "world"})),
        _ => Answer::Error("Boom", "failed on purpose"),
    }
}

async fn start() -> (String, CancellationToken) {
    let shutdown = CancellationToken::new();
    let tasks = TaskTracker::new();
    let host = FunctionHost::new(
        FunctionConfig {
            binary: "api".into(),
            function_name: "Api".into(),
            function_arn: "arn:aws:lambda:us-east-1:123456789012:function:Api".into(),
            timeout: Duration::from_secs(5),
            queue_timeout: Duration::from_secs(5),
            environment: BTreeMap::new(),
        },
        Logs::new(LogOutput::Terminal),
        shutdown.clone(),
        tasks.clone(),
    );
    let environment = host.add_environment().await.unwrap();
    tokio::spawn(play_function(environment.runtime_api(), answer));
    let mut routes = Routes::default();
    for (method, path) in [
        ("GET", "/products/{product_id}"),
        ("POST", "/upload"),
        ("GET", "/bare"),
        ("GET", "/boom"),
    ] {
        routes.add(method, Some(path), "api");
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    gateway::serve(
        listener,
        routes,
        HashMap::from([("api".to_owned(), host)]),
        shutdown.clone(),
        &tasks,
    );
    (url, shutdown)
}

#[tokio::test]
async fn requests_become_events_and_answers_become_responses() {
    let (url, shutdown) = start().await;
    let client = reqwest::Client::new();

    let response = client
        .get(format!("{url}/products/p-0001?limit=5&tag=a&tag=b"))
        .header("x-custom", "yes")
        .header("cookie", "theme=dark; lang=en")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers();
    assert_eq!(headers["etag"], "\"v1\"");
    assert_eq!(headers.get_all("x-seen").iter().count(), 2);
    assert_eq!(headers["set-cookie"], "session=abc; HttpOnly");
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({
            "product_id": "p-0001",
            "query": {"limit": "5", "tag": "a,b"},
            "cookies": ["theme=dark", "lang=en"],
            "header": "yes",
            "method": "GET",
            "source_ip": "127.0.0.1",
            "stage": "$default",
        })
    );

    let upload = client
        .post(format!("{url}/upload"))
        .body(vec![0xffu8, 0xfe, 0x00])
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), 201);
    let echoed = upload.text().await.unwrap();
    assert_eq!(
        echoed,
        format!("true:{}", BASE64.encode([0xff, 0xfe, 0x00]))
    );

    let bare = client.get(format!("{url}/bare")).send().await.unwrap();
    assert_eq!(bare.status(), 200);
    assert_eq!(bare.headers()["content-type"], "application/json");
    assert_eq!(
        bare.json::<Value>().await.unwrap(),
        json!({"hello": "world"})
    );

    shutdown.cancel();
}

#[tokio::test]
async fn unknown_routes_and_function_errors_are_problems() {
    let (url, shutdown) = start().await;
    let client = reqwest::Client::new();

    let missing = client.get(format!("{url}/x")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.headers()["content-type"],
        "application/problem+json"
    );
    assert_eq!(
        missing.json::<Value>().await.unwrap(),
        json!({"type": "about:blank", "title": "Not Found", "status": 404, "detail": "no route for GET /x"})
    );
    // The route exists for GET only.
    let wrong_method = client.delete(format!("{url}/bare")).send().await.unwrap();
    assert_eq!(wrong_method.status(), 404);

    let failed = client.get(format!("{url}/boom")).send().await.unwrap();
    assert_eq!(failed.status(), 502);
    assert_eq!(failed.headers()["content-type"], "application/problem+json");
    let problem: Value = failed.json().await.unwrap();
    assert_eq!(problem["status"], 502);
    assert!(
        problem["detail"].as_str().unwrap().contains("Boom"),
        "{problem}"
    );

    shutdown.cancel();
}
