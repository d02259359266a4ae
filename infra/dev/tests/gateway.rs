//! The HTTP gateway over real HTTP, with the function played by the test.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use dev::authorizer::JwtAuthorizer;
use dev::gateway::{self, Functions, Routes};
use dev::issuer::{self, DEFAULT_TTL, Issuer, LOCAL_AUDIENCE};
use dev::logs::{LogOutput, Logs};
use dev::runtime::{FunctionConfig, FunctionHost};
use dev::template::RouteAuth;
use serde_json::{Value, json};
use std::sync::Arc;
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
        "GET /mine" | "GET /admin" => Answer::Response(json!({
            "sub": event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"],
            "scopes": event["requestContext"]["authorizer"]["jwt"]["scopes"],
        })),
        _ => Answer::Error("Boom", "failed on purpose"),
    }
}

struct Started {
    url: String,
    shutdown: CancellationToken,
    issuer: Arc<Issuer>,
}

async fn start() -> (String, CancellationToken) {
    let started = start_with_issuer().await;
    (started.url, started.shutdown)
}

async fn start_with_issuer() -> Started {
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
    for (path, scope) in [("/mine", "orders"), ("/admin", "admin")] {
        let auth = RouteAuth {
            authorizer: Some("jwt".into()),
            scopes: vec![scope.into()],
        };
        routes.add_guarded("GET", Some(path), "api", auth);
    }
    let issuer_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer_url = format!("http://{}", issuer_listener.local_addr().unwrap());
    let issuer = Arc::new(Issuer::generate(&issuer_url, LOCAL_AUDIENCE).unwrap());
    issuer::serve(issuer_listener, issuer.clone(), shutdown.clone(), &tasks);
    let authorizer = JwtAuthorizer::new(&issuer_url, vec![LOCAL_AUDIENCE.to_owned()]);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let functions = Functions::new(
        HashMap::from([("api".to_owned(), host)]),
        HashMap::from([("jwt".to_owned(), authorizer)]),
    );
    gateway::serve(listener, routes.router(functions), shutdown.clone(), &tasks);
    Started {
        url,
        shutdown,
        issuer,
    }
}

#[tokio::test]
async fn guarded_routes_need_a_valid_token_with_one_of_their_scopes() {
    let started = start_with_issuer().await;
    let client = reqwest::Client::new();
    let token = started.issuer.token("c-42", DEFAULT_TTL).unwrap();

    let mine = client
        .get(format!("{}/mine", started.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(mine.status(), 200);
    let body: Value = mine.json().await.unwrap();
    assert_eq!(body, json!({"sub": "c-42", "scopes": ["orders"]}));

    let anonymous = client
        .get(format!("{}/mine", started.url))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
    assert_eq!(
        anonymous.headers()["content-type"],
        "application/problem+json"
    );

    let admin = client
        .get(format!("{}/admin", started.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), 403, "the token has no admin scope");

    let public = client
        .get(format!("{}/bare", started.url))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 200, "a public route needs no token");
    started.shutdown.cancel();
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
