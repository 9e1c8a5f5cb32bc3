//! The gRPC families (`grpc_server_handled_total`, `grpc_server_handling_seconds`,
//! or `rpc_server_call_duration_seconds`), when a gRPC call was ever recorded.

use std::sync::atomic::Ordering;

use super::series::write_duration_histogram;
use crate::encoding::format::{Format, MetricType};
use crate::encoding::text::{write_header, write_sample};
use crate::storage::store::Store;

/// Writes the gRPC families, when a gRPC call was ever recorded.
pub(super) fn encode(inner: &Store, out: &mut String, format: Format) {
    let Some(grpc) = inner.grpc.get() else {
        return;
    };
    let overflow = (inner.dropped.load(Ordering::Relaxed) > 0).then_some(&grpc.overflow);
    let series = || grpc.table.iter().chain(overflow);
    let layout = &inner.layout;
    let names = &inner.names;
    if let Some(handled) = &names.grpc_handled {
        write_header(
            out,
            format,
            handled,
            "Total number of RPCs completed on the server, regardless of success or failure.",
            MetricType::Counter,
            None,
        );
        for s in series() {
            write_sample(
                out,
                handled,
                "_total",
                &s.labels,
                s.cells.count(layout.duration),
            );
        }
    }
    write_header(
        out,
        format,
        &names.grpc_duration,
        "Duration of gRPC calls in seconds, from the request reaching the layer to the call's status.",
        MetricType::Histogram,
        Some("seconds"),
    );
    let mut cumulative = Vec::with_capacity(32);
    for s in series() {
        write_duration_histogram(
            out,
            format,
            &names.grpc_duration,
            s,
            layout.duration,
            &inner.duration_le,
            &mut cumulative,
        );
    }
}
