//! The lock-free storage behind the hot path: series tables, interned routes,
//! atomic counters and histograms, exemplar slots, label names. The only module
//! with `unsafe` code; the one lifetime promise it rests on is stated on
//! [`handle::SeriesRef`].

pub(crate) mod exemplar;
pub(crate) mod handle;
pub(crate) mod histogram;
pub(crate) mod intern;
pub(crate) mod names;
pub(crate) mod series;
pub(crate) mod store;
pub(crate) mod table;
