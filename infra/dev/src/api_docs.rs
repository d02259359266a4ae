//! The API documents on the local cloud at `/docs`: `docs/openapi.yaml` and
//! `docs/asyncapi.yaml`, and their HTML renderings in `docs/api/` (static files made by
//! `bash .ci/api-docs --render`, readable without any server too).

use std::path::PathBuf;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

/// What `/docs/{file}` serves, with its content type: nothing else of the repository.
const FILES: [(&str, &str, &str); 4] = [
    (
        "openapi.html",
        "api/openapi.html",
        "text/html; charset=utf-8",
    ),
    (
        "asyncapi.html",
        "api/asyncapi.html",
        "text/html; charset=utf-8",
    ),
    ("openapi.yaml", "openapi.yaml", "application/yaml"),
    ("asyncapi.yaml", "asyncapi.yaml", "application/yaml"),
];

const INDEX: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Shop API documents</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 2em auto">
<h1>Shop API documents</h1>
<ul>
<li><a href="/docs/openapi.html">The HTTP API</a> (<a href="/docs/openapi.yaml">OpenAPI 3.1</a>)</li>
<li><a href="/docs/asyncapi.html">The events</a> (<a href="/docs/asyncapi.yaml">AsyncAPI 3.0</a>)</li>
</ul>
</body></html>
"#;

/// `/docs` and the documents, read from `docs_dir` (the repository's `docs/`) on each request.
pub fn router(docs_dir: PathBuf) -> Router {
    Router::new()
        .route("/docs", get(|| async { Html(INDEX) }))
        .route("/docs/", get(|| async { Html(INDEX) }))
        .route("/docs/{file}", get(file))
        .with_state(docs_dir)
}

async fn file(State(docs_dir): State<PathBuf>, Path(name): Path<String>) -> Response {
    let Some((_, relative, content_type)) = FILES.iter().find(|(file, ..)| *file == name) else {
        return (StatusCode::NOT_FOUND, "no such document").into_response();
    };
    match tokio::fs::read(docs_dir.join(relative)).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, *content_type)], bytes).into_response(),
        Err(e) => (StatusCode::NOT_FOUND, format!("{relative}: {e}")).into_response(),
    }
}
