//! What disbmon serves over HTTP: the admin listener (health, metrics, status), the read-only
//! dashboard, and the answer form units reach through signed links. The only user of axum.

pub mod admin;
pub mod answer_form;
pub mod dashboard;
pub mod http;
pub mod shared;
