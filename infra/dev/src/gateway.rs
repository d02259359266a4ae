//! The HTTP API: the template's `HttpApi` routes on `127.0.0.1:<port>`, routed by axum (which,
//! like API Gateway, prefers a literal segment to a parameter to a greedy `{proxy+}`), each
//! request turned into an API Gateway HTTP API event (payload format 2.0) and the function's
//! answer into the HTTP response, as API Gateway does.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use aws_lambda_events::encodings::Body as LambdaBody;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, FromRequestParts, Path, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures::future::BoxFuture;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::macros::format_description;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::authorizer::{Authorized, Denied, JwtAuthorizer};
use crate::resources::ACCOUNT_ID;
use crate::runtime::{FunctionHost, InvokeError};
use crate::template::{RouteAuth, Template};

/// API Gateway's payload limit for HTTP APIs.
const MAX_BODY: usize = 10 * 1024 * 1024;

/// A route as API Gateway names it in the event, with the function that answers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// `GET /products/{product_id}`, or `$default`.
    pub key: String,
    pub binary: String,
    pub auth: RouteAuth,
}

/// The template's HTTP routes: `method` (or `ANY`) and path (`None` for `$default`).
#[derive(Clone, Debug, Default)]
pub struct Routes {
    routes: Vec<(String, Option<String>, Route)>,
}

/// What is done with a routed request: the gateway invokes the function; the bench keeps
/// the event.
pub trait Answer: Clone + Send + Sync + 'static {
    fn answer(
        &self,
        route: Route,
        request: IncomingRequest,
    ) -> impl Future<Output = Response> + Send;
}

impl Routes {
    pub fn from_template(template: &Template) -> Routes {
        let mut routes = Routes::default();
        for function in &template.functions {
            for route in &function.http_routes {
                routes.add_guarded(
                    &route.method,
                    route.path.as_deref(),
                    &function.binary,
                    route.auth.clone(),
                );
            }
        }
        routes
    }

    /// Adds a public `method path` (method `ANY` matches all; path `None` is `$default`).
    pub fn add(&mut self, method: &str, path: Option<&str>, binary: &str) {
        self.add_guarded(method, path, binary, RouteAuth::default());
    }

    /// Adds `method path`, guarded by `auth`'s authorizer.
    pub fn add_guarded(&mut self, method: &str, path: Option<&str>, binary: &str, auth: RouteAuth) {
        let key = match path {
            Some(path) => format!("{method} {path}"),
            None => "$default".to_owned(),
        };
        let binary = binary.to_owned();
        let route = Route { key, binary, auth };
        self.routes
            .push((method.to_owned(), path.map(str::to_owned), route));
    }

    /// An axum router of these routes, giving each request to `answer`. A request no route
    /// takes goes to `$default`, else is a 404, whether its path or only its method is unknown.
    pub fn router<A: Answer>(&self, answer: A) -> Router {
        let default = self.routes.iter().find(|(_, path, _)| path.is_none());
        let default = default.map(|(_, _, route)| route.clone());
        let mut by_path: BTreeMap<&str, Vec<(&str, &Route)>> = BTreeMap::new();
        for (method, path, route) in &self.routes {
            if let Some(path) = path {
                by_path.entry(path).or_default().push((method, route));
            }
        }
        let mut router = Router::new();
        for (path, routes) in by_path {
            let any = routes.iter().find(|(method, _)| *method == "ANY");
            let otherwise = any.map(|(_, route)| (*route).clone()).or(default.clone());
            let mut methods = MethodRouter::new().fallback(to(otherwise.clone(), &answer));
            // axum would answer HEAD with the GET route; API Gateway does not.
            if !routes.iter().any(|(method, _)| *method == "HEAD") {
                methods = methods.on(MethodFilter::HEAD, to(otherwise, &answer));
            }
            for (method, route) in routes.iter().filter(|(method, _)| *method != "ANY") {
                let filter = Method::from_bytes(method.as_bytes())
                    .ok()
                    .and_then(|method| MethodFilter::try_from(method).ok());
                if let Some(filter) = filter {
                    methods = methods.on(filter, to(Some((*route).clone()), &answer));
                }
            }
            router = router.route(&axum_path(path), methods);
        }
        router.fallback(to(default, &answer))
    }
}

/// API Gateway's `{proxy+}` is axum's `{*proxy}`.
fn axum_path(path: &str) -> String {
    path.split('/')
        .map(
            |segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix("+}")) {
                Some(name) => format!("{{*{name}}}"),
                None => segment.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

type Handler = BoxFuture<'static, Response>;

/// The handler of `route`: the request, body read, to `answer`; no route is a 404.
fn to<A: Answer>(
    route: Option<Route>,
    answer: &A,
) -> impl Fn(ConnectInfo<SocketAddr>, Request) -> Handler + Clone + Send + Sync + 'static {
    let answer = answer.clone();
    move |ConnectInfo(peer), request| {
        let (route, answer) = (route.clone(), answer.clone());
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            let Some(route) = route else {
                let detail = format!("no route for {} {}", parts.method, parts.uri.path());
                return problem(StatusCode::NOT_FOUND, &detail);
            };
            let path_parameters =
                Path::<HashMap<String, String>>::from_request_parts(&mut parts, &())
                    .await
                    .map(|Path(parameters)| parameters)
                    .unwrap_or_default();
            let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
                return problem(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "the request body is larger than API Gateway's 10 MB",
                );
            };
            let request = IncomingRequest {
                method: parts.method,
                raw_path: parts.uri.path().to_owned(),
                raw_query: parts.uri.query().unwrap_or_default().to_owned(),
                path_parameters,
                headers: parts.headers,
                body,
                source_ip: peer.ip().to_string(),
                request_id: crate::runtime::request_id(),
                time: OffsetDateTime::now_utc(),
            };
            answer.answer(route, request).await
        })
    }
}

/// What the gateway saw of one request.
#[derive(Clone, Debug)]
pub struct IncomingRequest {
    pub method: Method,
    /// As sent, percent-encoded.
    pub raw_path: String,
    pub raw_query: String,
    /// Decoded.
    pub path_parameters: HashMap<String, String>,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub source_ip: String,
    pub request_id: String,
    pub time: OffsetDateTime,
}

/// The payload 2.0 event API Gateway sends for `request` on `route`.
pub fn request_event(
    request: &IncomingRequest,
    route: &Route,
    authorized: Option<&Authorized>,
) -> Value {
    let (headers, cookies) = headers_and_cookies(request);
    let mut event = json!({
        "version": "2.0",
        "routeKey": route.key,
        "rawPath": request.raw_path,
        "rawQueryString": request.raw_query,
        "headers": headers,
        "requestContext": request_context(request, route),
        "isBase64Encoded": false,
    });
    let query = query_parameters(&request.raw_query);
    let optional = [
        ("cookies", (!cookies.is_empty()).then(|| json!(cookies))),
        (
            "queryStringParameters",
            (!query.is_empty()).then(|| json!(query)),
        ),
        (
            "pathParameters",
            (!request.path_parameters.is_empty()).then(|| json!(request.path_parameters)),
        ),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            event[name] = value;
        }
    }
    if !request.body.is_empty() {
        event["body"] = match std::str::from_utf8(&request.body) {
            Ok(text) => json!(text),
            Err(_) => {
                event["isBase64Encoded"] = json!(true);
                json!(BASE64.encode(&request.body))
            }
        };
    }
    if let Some(authorized) = authorized {
        event["requestContext"]["authorizer"] = json!({
            "jwt": {"claims": authorized.claims, "scopes": authorized.scopes}
        });
    }
    event
}

/// Headers with repeated ones joined by commas, and the cookies, which API Gateway moves out
/// of the headers into their own list.
fn headers_and_cookies(request: &IncomingRequest) -> (Map<String, Value>, Vec<String>) {
    let mut headers = Map::new();
    let mut cookies = Vec::new();
    for name in request.headers.keys() {
        let values = request.headers.get_all(name).iter();
        let values: Vec<&str> = values.filter_map(|v| v.to_str().ok()).collect();
        if name == "cookie" {
            let split = values.iter().flat_map(|v| v.split(';')).map(str::trim);
            cookies.extend(split.filter(|c| !c.is_empty()).map(str::to_owned));
        } else {
            headers.insert(name.to_string(), json!(values.join(",")));
        }
    }
    headers
        .entry("x-forwarded-for")
        .or_insert_with(|| json!(request.source_ip));
    headers
        .entry("x-forwarded-proto")
        .or_insert_with(|| json!("http"));
    (headers, cookies)
}

/// The query's parameters, repeated ones joined by commas.
fn query_parameters(raw_query: &str) -> BTreeMap<String, String> {
    let mut query: BTreeMap<String, String> = BTreeMap::new();
    for (key, value) in form_urlencoded::parse(raw_query.as_bytes()) {
        query
            .entry(key.into_owned())
            .and_modify(|joined| *joined = format!("{joined},{value}"))
            .or_insert_with(|| value.into_owned());
    }
    query
}

fn request_context(request: &IncomingRequest, route: &Route) -> Value {
    let header = |name| request.headers.get(name).and_then(|v| v.to_str().ok());
    let host = header("host").unwrap_or("localhost");
    let time =
        format_description!("[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000");
    json!({
        "accountId": ACCOUNT_ID,
        "apiId": "local",
        "domainName": host,
        "domainPrefix": host.split('.').next().unwrap_or_default(),
        "http": {
            "method": request.method.as_str(),
            "path": request.raw_path,
            "protocol": "HTTP/1.1",
            "sourceIp": request.source_ip,
            "userAgent": header("user-agent"),
        },
        "requestId": request.request_id,
        "routeKey": route.key,
        "stage": "$default",
        "time": request.time.format(time).ok(),
        "timeEpoch": (request.time.unix_timestamp_nanos() / 1_000_000) as i64,
    })
}

/// The HTTP response API Gateway makes of a function's answer. An answer without
/// `statusCode` is taken as a JSON body with status 200, as API Gateway does.
pub fn http_response(answer: Value) -> Result<Response, String> {
    let structured = answer.get("statusCode").is_some();
    if !structured {
        let body = serde_json::to_vec(&answer).expect("a JSON value serializes");
        return Ok((StatusCode::OK, [("content-type", "application/json")], body).into_response());
    }
    let mut answer = answer;
    // The type requires `cookies`; functions may leave it out.
    if let Value::Object(fields) = &mut answer {
        fields.entry("cookies").or_insert_with(|| json!([]));
        if fields.get("cookies").is_some_and(Value::is_null) {
            fields.insert("cookies".to_owned(), json!([]));
        }
    }
    let parsed: ApiGatewayV2httpResponse =
        serde_json::from_value(answer).map_err(|e| format!("the response is malformed: {e}"))?;
    let status = u16::try_from(parsed.status_code)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or_else(|| format!("statusCode {} is not an HTTP status", parsed.status_code))?;
    let body = match parsed.body {
        Some(LambdaBody::Text(text)) if parsed.is_base64_encoded => BASE64
            .decode(text.as_bytes())
            .map_err(|e| format!("isBase64Encoded but the body is not base64: {e}"))?,
        Some(LambdaBody::Text(text)) => text.into_bytes(),
        Some(LambdaBody::Binary(bytes)) => bytes,
        None | Some(_) => Vec::new(),
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    for (name, value) in &parsed.multi_value_headers {
        headers.append(name.clone(), value.clone());
    }
    // A single-value header replaces the multi-value ones of the same name.
    for name in parsed.headers.keys() {
        headers.remove(name);
        for value in parsed.headers.get_all(name) {
            headers.append(name.clone(), value.clone());
        }
    }
    for cookie in &parsed.cookies {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            headers.append(HeaderName::from_static("set-cookie"), value);
        }
    }
    Ok(response)
}

/// An RFC 9457 problem response.
pub fn problem(status: StatusCode, detail: &str) -> Response {
    let body = json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": detail,
    });
    (
        status,
        [("content-type", "application/problem+json")],
        serde_json::to_vec(&body).expect("a JSON value serializes"),
    )
        .into_response()
}

/// The local cloud's functions behind the routes, and the authorizers that guard them.
#[derive(Clone)]
pub struct Functions {
    hosts: Arc<HashMap<String, FunctionHost>>,
    authorizers: Arc<HashMap<String, JwtAuthorizer>>,
}

impl Functions {
    /// `hosts` by binary name, `authorizers` by the template's name for them.
    pub fn new(
        hosts: HashMap<String, FunctionHost>,
        authorizers: HashMap<String, JwtAuthorizer>,
    ) -> Functions {
        Functions {
            hosts: Arc::new(hosts),
            authorizers: Arc::new(authorizers),
        }
    }

    /// Runs the route's authorizer, if it has one: the claims, or the 401/403 API Gateway answers.
    async fn authorize(
        &self,
        route: &Route,
        headers: &HeaderMap,
    ) -> Result<Option<Authorized>, Response> {
        let Some(name) = &route.auth.authorizer else {
            return Ok(None);
        };
        let Some(authorizer) = self.authorizers.get(name) else {
            return Err(problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("authorizer {name} is not configured"),
            ));
        };
        match authorizer.authorize(headers, &route.auth.scopes).await {
            Ok(authorized) => Ok(Some(authorized)),
            Err(Denied::Forbidden(detail)) => Err(problem(StatusCode::FORBIDDEN, &detail)),
            Err(Denied::Unauthorized(detail)) => {
                let mut response = problem(StatusCode::UNAUTHORIZED, &detail);
                response
                    .headers_mut()
                    .insert("www-authenticate", HeaderValue::from_static("Bearer"));
                Err(response)
            }
        }
    }
}

impl Answer for Functions {
    async fn answer(&self, route: Route, request: IncomingRequest) -> Response {
        let authorized = match self.authorize(&route, &request.headers).await {
            Ok(authorized) => authorized,
            Err(refused) => return refused,
        };
        let Some(host) = self.hosts.get(&route.binary) else {
            let detail = format!("{} is not running", route.binary);
            return problem(StatusCode::BAD_GATEWAY, &detail);
        };
        let event = request_event(&request, &route, authorized.as_ref());
        match host.invoke(&event).await {
            Ok(answer) => http_response(answer).unwrap_or_else(|reason| {
                let detail = format!("{}: {reason}", route.binary);
                problem(StatusCode::BAD_GATEWAY, &detail)
            }),
            Err(error @ InvokeError::Timeout { .. }) => {
                problem(StatusCode::GATEWAY_TIMEOUT, &error.to_string())
            }
            Err(error @ InvokeError::NoEnvironment { .. }) => {
                problem(StatusCode::SERVICE_UNAVAILABLE, &error.to_string())
            }
            Err(error) => problem(StatusCode::BAD_GATEWAY, &error.to_string()),
        }
    }
}

/// Serves `app` on `listener` until `shutdown`, with each request's peer address.
pub fn serve(listener: TcpListener, app: Router, shutdown: CancellationToken, tasks: &TaskTracker) {
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    tasks.spawn(async move {
        let serving = axum::serve(listener, app);
        let _ = serving
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
    use time::macros::datetime;
    use tower::ServiceExt;

    fn routes() -> Routes {
        let mut routes = Routes::default();
        routes.add("GET", Some("/products"), "reads");
        routes.add("GET", Some("/products/{product_id}"), "reads");
        routes.add("GET", Some("/products/featured"), "featured");
        routes.add("POST", Some("/orders"), "orders");
        routes.add("ANY", Some("/files/{path+}"), "files");
        routes.add("GET", Some("/files/{path+}"), "files-get");
        routes
    }

    /// Says which route took the request instead of invoking anything.
    #[derive(Clone)]
    struct Echo;

    impl Answer for Echo {
        async fn answer(&self, route: Route, request: IncomingRequest) -> Response {
            let parameters = request.path_parameters;
            let found = json!({"key": route.key, "binary": route.binary, "parameters": parameters});
            // In a header, which HEAD's responses keep.
            [("x-found", found.to_string())].into_response()
        }
    }

    struct Found {
        route_key: String,
        binary: String,
        path_parameters: HashMap<String, String>,
    }

    async fn find(routes: &Routes, method: Method, path: &str) -> Option<Found> {
        let mut request = Request::builder().method(method).uri(path);
        let peer = ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 1)));
        request = request.extension(peer);
        let request = request.body(Body::empty()).unwrap();
        let response = routes.router(Echo).oneshot(request).await.unwrap();
        if response.status() == StatusCode::NOT_FOUND {
            return None;
        }
        let found = response.headers()["x-found"].to_str().unwrap();
        let found: Value = serde_json::from_str(found).unwrap();
        Some(Found {
            route_key: found["key"].as_str().unwrap().to_owned(),
            binary: found["binary"].as_str().unwrap().to_owned(),
            path_parameters: serde_json::from_value(found["parameters"].clone()).unwrap(),
        })
    }

    #[tokio::test]
    async fn matches_the_most_specific_route() {
        let routes = routes();
        let m = find(&routes, Method::GET, "/products/p-0001")
            .await
            .unwrap();
        assert_eq!(m.route_key, "GET /products/{product_id}");
        assert_eq!(m.path_parameters["product_id"], "p-0001");
        let featured = find(&routes, Method::GET, "/products/featured").await;
        assert_eq!(featured.unwrap().binary, "featured");
        let products = find(&routes, Method::GET, "/products").await;
        assert_eq!(products.unwrap().binary, "reads");
        let spaced = find(&routes, Method::GET, "/products/a%20b").await.unwrap();
        assert_eq!(spaced.path_parameters["product_id"], "a b");
        let dashed = find(&routes, Method::GET, "/products/p%2D1").await.unwrap();
        assert_eq!(dashed.path_parameters["product_id"], "p-1");
        assert!(find(&routes, Method::GET, "/orders").await.is_none());
        assert!(
            find(&routes, Method::GET, "/products/p/extra")
                .await
                .is_none()
        );
        assert!(find(&routes, Method::GET, "/products/").await.is_none());
        assert!(find(&routes, Method::HEAD, "/products").await.is_none());
        let files = find(&routes, Method::PUT, "/files/a/b.txt").await.unwrap();
        assert_eq!(
            (
                files.binary.as_str(),
                files.path_parameters["path"].as_str()
            ),
            ("files", "a/b.txt")
        );
        let one_file = find(&routes, Method::GET, "/files/a").await;
        assert_eq!(one_file.unwrap().binary, "files-get");
        let head = find(&routes, Method::HEAD, "/files/a").await;
        assert_eq!(head.unwrap().binary, "files", "HEAD is not GET");
    }

    #[tokio::test]
    async fn default_route_catches_the_rest() {
        let mut routes = routes();
        routes.add("ANY", None, "fallback");
        let nowhere = find(&routes, Method::DELETE, "/nothing/here").await;
        assert_eq!(nowhere.unwrap().route_key, "$default");
        let orders = find(&routes, Method::POST, "/orders").await;
        assert_eq!(orders.unwrap().binary, "orders");
        let wrong_method = find(&routes, Method::GET, "/orders").await;
        assert_eq!(wrong_method.unwrap().route_key, "$default");
    }

    fn route(key: &str) -> Route {
        Route {
            key: key.to_owned(),
            binary: "reads".to_owned(),
            auth: RouteAuth::default(),
        }
    }

    fn incoming(body: &[u8]) -> IncomingRequest {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("127.0.0.1:3000"));
        headers.insert("user-agent", HeaderValue::from_static("curl/8"));
        headers.insert("Content-Type", HeaderValue::from_static("application/json"));
        headers.append("x-multi", HeaderValue::from_static("a"));
        headers.append("x-multi", HeaderValue::from_static("b"));
        headers.insert(
            "cookie",
            HeaderValue::from_static("session=abc; theme=dark"),
        );
        IncomingRequest {
            method: Method::GET,
            raw_path: "/products/p%2D1".to_owned(),
            raw_query: "limit=5&tag=a&tag=b&q=red+shoe".to_owned(),
            path_parameters: HashMap::from([("product_id".to_owned(), "p-1".to_owned())]),
            headers,
            body: Bytes::copy_from_slice(body),
            source_ip: "127.0.0.1".to_owned(),
            request_id: "req-1".to_owned(),
            time: datetime!(2026-03-12 19:03:58.390 UTC),
        }
    }

    #[test]
    fn builds_a_payload_2_event() {
        let route = route("GET /products/{product_id}");
        let event = request_event(&incoming(br#"{"a":1}"#), &route, None);
        assert_eq!(event["version"], "2.0");
        assert_eq!(event["routeKey"], "GET /products/{product_id}");
        assert_eq!(event["rawPath"], "/products/p%2D1");
        assert_eq!(event["rawQueryString"], "limit=5&tag=a&tag=b&q=red+shoe");
        assert_eq!(
            event["queryStringParameters"],
            json!({"limit": "5", "tag": "a,b", "q": "red shoe"})
        );
        assert_eq!(event["pathParameters"], json!({"product_id": "p-1"}));
        assert_eq!(event["headers"]["content-type"], "application/json");
        assert_eq!(event["headers"]["x-multi"], "a,b");
        assert!(event["headers"].get("cookie").is_none());
        assert_eq!(event["cookies"], json!(["session=abc", "theme=dark"]));
        let context = &event["requestContext"];
        assert_eq!(context["http"]["method"], "GET");
        assert_eq!(context["http"]["path"], "/products/p%2D1");
        assert_eq!(context["http"]["sourceIp"], "127.0.0.1");
        assert_eq!(context["http"]["userAgent"], "curl/8");
        assert_eq!(context["stage"], "$default");
        assert_eq!(context["requestId"], "req-1");
        assert_eq!(context["routeKey"], "GET /products/{product_id}");
        assert_eq!(context["time"], "12/Mar/2026:19:03:58 +0000");
        assert_eq!(context["timeEpoch"], 1_773_342_238_390_i64);
        assert_eq!(event["body"], r#"{"a":1}"#);
        assert_eq!(event["isBase64Encoded"], false);
        assert!(event.get("httpMethod").is_none());

        // And the function's runtime reads it back as an HTTP API request.
        let typed: ApiGatewayV2httpRequest = serde_json::from_value(event).unwrap();
        assert_eq!(typed.request_context.http.method, Method::GET);
    }

    #[test]
    fn binary_and_empty_bodies() {
        let route = route("GET /products");
        let mut request = incoming(&[0xff, 0x00, 0x10]);
        request.path_parameters.clear();
        let event = request_event(&request, &route, None);
        assert_eq!(event["isBase64Encoded"], true);
        assert_eq!(event["body"], BASE64.encode([0xff, 0x00, 0x10]));
        request.body = Bytes::new();
        let event = request_event(&request, &route, None);
        assert!(event.get("body").is_none());
        assert!(event.get("pathParameters").is_none());
    }

    async fn body_of(response: Response) -> Vec<u8> {
        axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec()
    }

    #[tokio::test]
    async fn turns_answers_into_responses() {
        let answer = json!({
            "statusCode": 201,
            "headers": {"content-type": "application/json", "location": "/orders/1"},
            "multiValueHeaders": {"x-tag": ["a", "b"]},
            "cookies": ["session=abc; HttpOnly", "theme=dark"],
            "body": "{\"ok\":true}",
            "isBase64Encoded": false
        });
        let response = http_response(answer).unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let headers = response.headers();
        assert_eq!(headers["location"], "/orders/1");
        assert_eq!(headers.get_all("x-tag").iter().count(), 2);
        assert_eq!(headers.get_all("set-cookie").iter().count(), 2);
        assert_eq!(body_of(response).await, br#"{"ok":true}"#);

        let binary =
            json!({"statusCode": 200, "body": BASE64.encode([1, 2, 3]), "isBase64Encoded": true});
        assert_eq!(body_of(http_response(binary).unwrap()).await, vec![1, 2, 3]);

        let not_modified = json!({"statusCode": 304, "headers": {"etag": "\"v1\""}});
        let response = http_response(not_modified).unwrap();
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
        assert!(body_of(response).await.is_empty());

        let bare = http_response(json!({"items": []})).unwrap();
        assert_eq!(bare.status(), StatusCode::OK);
        assert_eq!(bare.headers()["content-type"], "application/json");
        assert_eq!(body_of(bare).await, br#"{"items":[]}"#);

        assert!(http_response(json!({"statusCode": "lots"})).is_err());
    }

    #[tokio::test]
    async fn problems_are_rfc_9457() {
        let response = problem(StatusCode::NOT_FOUND, "no route for GET /x");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let body: Value = serde_json::from_slice(&body_of(response).await).unwrap();
        assert_eq!(
            body,
            json!({"type": "about:blank", "title": "Not Found", "status": 404, "detail": "no route for GET /x"})
        );
    }
}
