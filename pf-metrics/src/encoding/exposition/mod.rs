//! The exposition of a registry: its HTTP and gRPC families, its repository
//! and cache families, then every registered collector, in one format.

mod grpc;
mod http;
mod series;

use crate::encoding::collector::MetricsEncoder;
use crate::encoding::format::Format;
use crate::storage::store::Store;

/// Appends the whole registry to `out` in `format`.
pub(crate) fn encode(store: &Store, out: &mut String, format: Format) {
    http::encode(store, out, format);
    grpc::encode(store, out, format);
    let collectors = store
        .collectors
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let mut encoder = MetricsEncoder::new(out, format, &store.const_labels);
    store.scopes.encode(&store.operations, &mut encoder);
    for c in &collectors {
        c.collect(&mut encoder);
    }
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
}
