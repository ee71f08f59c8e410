//! What every listener disbmon runs does to each request: bounded in time, so that a client that
//! stalls is answered and let go.

use axum::http::StatusCode;
use axum::response::IntoResponse;

/// The longest a request may take; a client that stalls is answered 503 and let go.
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Answers 503 to a request that takes longer than [`REQUEST_TIMEOUT`].
pub async fn bounded(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the request took too long; try again\n",
        )
            .into_response(),
    }
}
