//! The request span middleware: [`layer`] (the `Layer` and its setters), [`service`] (one
//! span per request), [`future`] (the response future), [`body`] (the response body whose
//! end completes the request) and [`completion`] (the "request completed" event).

pub(crate) mod body;
pub(crate) mod completion;
pub(crate) mod future;
pub(crate) mod layer;
pub(crate) mod service;
