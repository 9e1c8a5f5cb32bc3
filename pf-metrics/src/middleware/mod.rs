//! The request middleware: the layer, its service, response future and body
//! wrappers, and the per-request recording they drive (HTTP and gRPC status).

pub(crate) mod body;
pub(crate) mod future;
pub(crate) mod grpc;
pub(crate) mod layer;
pub(crate) mod record;
pub(crate) mod service;
