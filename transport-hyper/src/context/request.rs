//! What a handler can see of the HTTP request it answers: its parts
//! (method, URI, headers, extensions) and the verified principal
//! (AUTH-RS-1).

use super::RequestContext;
use crate::auth::AuthInfo;

impl RequestContext {
    /// The HTTP request this call arrived in: method, URI, headers and
    /// extensions, so whatever a tower / axum layer in front of the service
    /// put in the extensions reaches the handler. `None` for work that
    /// belongs to no HTTP request of its own (a task created by an earlier
    /// call keeps that call's parts). In a 2025-03-26 batch every call sees
    /// the parts of the one POST. (Named so because
    /// [`RequestContext::request`] sends a request to the client.)
    pub fn http_request(&self) -> Option<&http::request::Parts> {
        self.parts.as_ref()
    }

    /// The verified principal of this request: the [`AuthInfo`] in the
    /// request's extensions, put there by the service's resource server
    /// ([`Builder::auth`](crate::Builder::auth)) or by any layer in front
    /// of it. `None` without authorization.
    pub fn auth(&self) -> Option<&AuthInfo> {
        self.parts.as_ref()?.extensions.get::<AuthInfo>()
    }

    /// This context with the request's parts (the driver does).
    pub(crate) fn with_parts(mut self, parts: Option<http::request::Parts>) -> Self {
        self.parts = parts;
        self
    }
}
