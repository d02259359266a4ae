//! The HTTP API: the template's `HttpApi` routes on `127.0.0.1:<port>`, each request turned
//! into an API Gateway HTTP API event (payload format 2.0) and the function's answer into
//! the HTTP response, as API Gateway does.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use aws_lambda_events::apigw::{
    ApiGatewayV2httpRequest, ApiGatewayV2httpRequestContext,
    ApiGatewayV2httpRequestContextHttpDescription, ApiGatewayV2httpResponse,
};
use aws_lambda_events::encodings::Body as LambdaBody;
use aws_lambda_events::query_map::QueryMap;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};
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

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
    /// `{proxy+}`: the rest of the path.
    Greedy(String),
}

#[derive(Clone, Debug)]
struct Route {
    /// `None` for `ANY`.
    method: Option<Method>,
    /// `None` for `$default`.
    segments: Option<Vec<Segment>>,
    key: String,
    binary: String,
    auth: RouteAuth,
}

/// The template's HTTP routes, matched the way API Gateway picks the most specific one.
#[derive(Clone, Debug, Default)]
pub struct Routes {
    routes: Vec<Route>,
}

/// A matched route: its key, the function and the path parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteMatch {
    pub route_key: String,
    pub binary: String,
    pub path_parameters: HashMap<String, String>,
    pub auth: RouteAuth,
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
        let segments = path.map(|path| {
            path.trim_start_matches('/')
                .split('/')
                .map(
                    |segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                        Some(name) => match name.strip_suffix('+') {
                            Some(name) => Segment::Greedy(name.to_owned()),
                            None => Segment::Param(name.to_owned()),
                        },
                        None => Segment::Literal(segment.to_owned()),
                    },
                )
                .collect()
        });
        let key = match path {
            Some(path) => format!("{method} {path}"),
            None => "$default".to_owned(),
        };
        self.routes.push(Route {
            method: (method != "ANY")
                .then(|| Method::from_bytes(method.as_bytes()).ok())
                .flatten(),
            segments,
            key,
            binary: binary.to_owned(),
            auth,
        });
    }

    /// The route for `method path` (`path` as sent, percent-encoded), if any.
    pub fn find(&self, method: &Method, path: &str) -> Option<RouteMatch> {
        let request: Vec<String> = path
            .trim_start_matches('/')
            .split('/')
            .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
            .collect();
        self.routes
            .iter()
            .filter(|route| route.method.as_ref().is_none_or(|m| m == method))
            .filter_map(|route| {
                let (rank, path_parameters) = match &route.segments {
                    None => (vec![0], HashMap::new()),
                    Some(segments) => match_segments(segments, &request)?,
                };
                // Specific method beats ANY at the same path specificity.
                let method_rank = u8::from(route.method.is_some());
                Some((rank, method_rank, route, path_parameters))
            })
            .max_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)))
            .map(|(_, _, route, path_parameters)| RouteMatch {
                route_key: route.key.clone(),
                binary: route.binary.clone(),
                path_parameters,
                auth: route.auth.clone(),
            })
    }
}

/// Ranks a match position by position: a literal beats a parameter beats a greedy tail.
fn match_segments(
    segments: &[Segment],
    request: &[String],
) -> Option<(Vec<u8>, HashMap<String, String>)> {
    let mut rank = vec![1];
    let mut parameters = HashMap::new();
    for (i, segment) in segments.iter().enumerate() {
        match segment {
            Segment::Greedy(name) => {
                let rest = request
                    .get(i..)
                    .filter(|rest| !rest.is_empty() && !rest[0].is_empty())?;
                parameters.insert(name.clone(), rest.join("/"));
                rank.push(1);
                return Some((rank, parameters));
            }
            Segment::Literal(literal) => {
                if request.get(i)? != literal {
                    return None;
                }
                rank.push(3);
            }
            Segment::Param(name) => {
                let value = request.get(i).filter(|v| !v.is_empty())?;
                parameters.insert(name.clone(), value.clone());
                rank.push(2);
            }
        }
    }
    (request.len() == segments.len()).then_some((rank, parameters))
}

/// What the gateway saw of one request.
#[derive(Clone, Debug)]
pub struct IncomingRequest {
    pub method: Method,
    /// As sent, percent-encoded.
    pub raw_path: String,
    pub raw_query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub source_ip: String,
    pub request_id: String,
    pub time: OffsetDateTime,
}

/// The payload 2.0 event API Gateway sends for `request` on `route`.
pub fn request_event(
    request: &IncomingRequest,
    route: &RouteMatch,
    authorized: Option<&Authorized>,
) -> Value {
    let mut headers = HeaderMap::new();
    let mut cookies = Vec::new();
    for name in request.headers.keys() {
        let values: Vec<&str> = request
            .headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        // API Gateway moves cookies out of the headers into their own list.
        if name == "cookie" {
            cookies.extend(
                values
                    .iter()
                    .flat_map(|v| v.split(';'))
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned),
            );
            continue;
        }
        if let Ok(joined) = HeaderValue::from_str(&values.join(",")) {
            headers.insert(name.clone(), joined);
        }
    }
    headers.entry("x-forwarded-for").or_insert_with(|| {
        HeaderValue::from_str(&request.source_ip).unwrap_or(HeaderValue::from_static("127.0.0.1"))
    });
    headers
        .entry("x-forwarded-proto")
        .or_insert(HeaderValue::from_static("http"));

    let mut query: HashMap<String, Vec<String>> = HashMap::new();
    for (key, value) in form_urlencoded::parse(request.raw_query.as_bytes()) {
        query
            .entry(key.into_owned())
            .or_default()
            .push(value.into_owned());
    }

    let (body, is_base64_encoded) = if request.body.is_empty() {
        (None, false)
    } else {
        match std::str::from_utf8(&request.body) {
            Ok(text) => (Some(text.to_owned()), false),
            Err(_) => (Some(BASE64.encode(&request.body)), true),
        }
    };

    let mut http = ApiGatewayV2httpRequestContextHttpDescription::default();
    http.method = request.method.clone();
    http.path = Some(request.raw_path.clone());
    http.protocol = Some("HTTP/1.1".to_owned());
    http.source_ip = Some(request.source_ip.clone());
    http.user_agent = request
        .headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);

    let host = request
        .headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost")
        .to_owned();
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.route_key = Some(route.route_key.clone());
    context.account_id = Some(ACCOUNT_ID.to_owned());
    context.stage = Some("$default".to_owned());
    context.request_id = Some(request.request_id.clone());
    context.apiid = Some("local".to_owned());
    context.domain_prefix = Some(host.split('.').next().unwrap_or_default().to_owned());
    context.domain_name = Some(host);
    context.time = request
        .time
        .format(format_description!(
            "[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"
        ))
        .ok();
    context.time_epoch = (request.time.unix_timestamp_nanos() / 1_000_000) as i64;
    context.http = http;

    let mut event = ApiGatewayV2httpRequest::default();
    event.version = Some("2.0".to_owned());
    event.route_key = Some(route.route_key.clone());
    event.raw_path = Some(request.raw_path.clone());
    event.raw_query_string = Some(request.raw_query.clone());
    event.cookies = (!cookies.is_empty()).then_some(cookies);
    event.headers = headers;
    event.query_string_parameters = QueryMap::from(query);
    event.path_parameters = route.path_parameters.clone();
    event.request_context = context;
    event.body = body;
    event.is_base64_encoded = is_base64_encoded;

    let mut value = serde_json::to_value(&event).expect("an event serializes");
    if let Value::Object(fields) = &mut value {
        // Fields of the custom-authorizer payload that share the struct; HTTP API events
        // do not have them.
        for field in [
            "type",
            "methodArn",
            "httpMethod",
            "identitySource",
            "authorizationToken",
            "resource",
        ] {
            fields.remove(field);
        }
        if event.stage_variables.is_empty() {
            fields.remove("stageVariables");
        }
    }
    if let Some(authorized) = authorized {
        value["requestContext"]["authorizer"] = json!({
            "jwt": {"claims": authorized.claims, "scopes": authorized.scopes}
        });
    }
    value
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

#[derive(Clone)]
struct Gateway {
    routes: Arc<Routes>,
    hosts: Arc<HashMap<String, FunctionHost>>,
    authorizers: Arc<HashMap<String, JwtAuthorizer>>,
}

/// Serves `routes` on `listener` until `shutdown`, invoking `hosts` by binary name; a guarded
/// route's requests go through its authorizer (by name in `authorizers`) first.
pub fn serve(
    listener: TcpListener,
    routes: Routes,
    hosts: HashMap<String, FunctionHost>,
    authorizers: HashMap<String, JwtAuthorizer>,
    shutdown: CancellationToken,
    tasks: &TaskTracker,
) {
    serve_with_pages(
        listener,
        routes,
        hosts,
        authorizers,
        axum::Router::new(),
        shutdown,
        tasks,
    );
}

/// [`serve`], with `pages` (the local cloud's own, such as `/docs`) answered before routing.
pub fn serve_with_pages(
    listener: TcpListener,
    routes: Routes,
    hosts: HashMap<String, FunctionHost>,
    authorizers: HashMap<String, JwtAuthorizer>,
    pages: axum::Router,
    shutdown: CancellationToken,
    tasks: &TaskTracker,
) {
    let gateway = Gateway {
        routes: Arc::new(routes),
        hosts: Arc::new(hosts),
        authorizers: Arc::new(authorizers),
    };
    let app = pages.merge(axum::Router::new().fallback(handle).with_state(gateway));
    tasks.spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await;
    });
}

async fn handle(
    State(gateway): State<Gateway>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let raw_path = parts.uri.path().to_owned();
    let Some(route) = gateway.routes.find(&parts.method, &raw_path) else {
        return problem(
            StatusCode::NOT_FOUND,
            &format!("no route for {} {raw_path}", parts.method),
        );
    };
    let authorized = match authorize(&gateway, &route, &parts.headers).await {
        Ok(authorized) => authorized,
        Err(refused) => return refused,
    };
    let Some(host) = gateway.hosts.get(&route.binary) else {
        return problem(
            StatusCode::BAD_GATEWAY,
            &format!("{} is not running", route.binary),
        );
    };
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        return problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the request body is larger than API Gateway's 10 MB",
        );
    };
    let request = IncomingRequest {
        method: parts.method,
        raw_path,
        raw_query: parts.uri.query().unwrap_or_default().to_owned(),
        headers: parts.headers,
        body,
        source_ip: peer.ip().to_string(),
        request_id: crate::runtime::request_id(),
        time: OffsetDateTime::now_utc(),
    };
    let event = request_event(&request, &route, authorized.as_ref());
    match host.invoke(&event).await {
        Ok(answer) => http_response(answer).unwrap_or_else(|reason| {
            problem(
                StatusCode::BAD_GATEWAY,
                &format!("{}: {reason}", route.binary),
            )
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

/// Runs the route's authorizer, if it has one: the claims, or the 401/403 API Gateway answers.
async fn authorize(
    gateway: &Gateway,
    route: &RouteMatch,
    headers: &HeaderMap,
) -> Result<Option<Authorized>, Response> {
    let Some(name) = &route.auth.authorizer else {
        return Ok(None);
    };
    let Some(authorizer) = gateway.authorizers.get(name) else {
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

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

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

    #[test]
    fn matches_the_most_specific_route() {
        let routes = routes();
        let m = routes.find(&Method::GET, "/products/p-0001").unwrap();
        assert_eq!(m.route_key, "GET /products/{product_id}");
        assert_eq!(m.path_parameters["product_id"], "p-0001");
        assert_eq!(
            routes
                .find(&Method::GET, "/products/featured")
                .unwrap()
                .binary,
            "featured"
        );
        assert_eq!(
            routes.find(&Method::GET, "/products").unwrap().binary,
            "reads"
        );
        assert_eq!(
            routes
                .find(&Method::GET, "/products/a%20b")
                .unwrap()
                .path_parameters["product_id"],
            "a b"
        );
        assert!(routes.find(&Method::GET, "/orders").is_none());
        assert!(routes.find(&Method::GET, "/products/p/extra").is_none());
        assert!(routes.find(&Method::GET, "/products/").is_none());
        let files = routes.find(&Method::PUT, "/files/a/b.txt").unwrap();
        assert_eq!(
            (
                files.binary.as_str(),
                files.path_parameters["path"].as_str()
            ),
            ("files", "a/b.txt")
        );
        assert_eq!(
            routes.find(&Method::GET, "/files/a").unwrap().binary,
            "files-get"
        );
    }

    #[test]
    fn default_route_catches_the_rest() {
        let mut routes = routes();
        routes.add("ANY", None, "fallback");
        assert_eq!(
            routes
                .find(&Method::DELETE, "/nothing/here")
                .unwrap()
                .route_key,
            "$default"
        );
        assert_eq!(
            routes.find(&Method::POST, "/orders").unwrap().binary,
            "orders"
        );
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
            headers,
            body: Bytes::copy_from_slice(body),
            source_ip: "127.0.0.1".to_owned(),
            request_id: "req-1".to_owned(),
            time: datetime!(2026-03-12 19:03:58.390 UTC),
        }
    }

    #[test]
    fn builds_a_payload_2_event() {
        let route = routes().find(&Method::GET, "/products/p%2D1").unwrap();
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
        let route = routes().find(&Method::GET, "/products").unwrap();
        let event = request_event(&incoming(&[0xff, 0x00, 0x10]), &route, None);
        assert_eq!(event["isBase64Encoded"], true);
        assert_eq!(event["body"], BASE64.encode([0xff, 0x00, 0x10]));
        let event = request_event(&incoming(b""), &route, None);
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
