//! What every listener disbmon runs does to each connection and request: bounded in time, so
//! that a client that stalls is answered and let go, and in number.

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

/// The longest a client may take to send a request's headers, and an open connection may wait
/// for its next request: then it is closed.
const HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The most connections a listener serves at once; more wait to be accepted.
const MAX_CONNECTIONS: usize = 256;

/// Serves `app` on `listener` until accepting fails for good: each connection bounded in the
/// time its headers take ([`HEADER_TIMEOUT`]), at most [`MAX_CONNECTIONS`] at once; a request
/// knows its client's address (`ConnectInfo`).
pub async fn serve(listener: tokio::net::TcpListener, app: axum::Router) -> std::io::Error {
    use axum::extract::ConnectInfo;
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return std::io::Error::other("the connection limit was closed");
        };
        let (stream, client) = match listener.accept().await {
            Ok(v) => v,
            // Out of file descriptors, a connection reset before it was taken: wait, go on.
            Err(e) if accept_error_passes(&e) => {
                tracing::warn!("cannot accept a connection: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
            Err(e) => return e,
        };
        let app = app.clone().layer(axum::Extension(ConnectInfo(client)));
        tokio::spawn(async move {
            let _slot = slot;
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT);
            let service = hyper_util::service::TowerToHyperService::new(app);
            // A client that goes away, or is too slow, ends its own connection only.
            let _ = http
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Accept errors that concern one connection or a passing shortage, not the listener.
fn accept_error_passes(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted | WouldBlock
    ) || matches!(e.raw_os_error(), Some(23 | 24 | 12 | 105))
}
