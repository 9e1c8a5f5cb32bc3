//! [`SeriesRef`]: the one handle the request path keeps into the storage.

use std::ptr::NonNull;

/// A shared reference into a registry's series storage, with its lifetime erased.
///
/// # The lifetime promise
///
/// Every series (a [`RouteEntry`](super::intern::RouteEntry), a response or
/// in-flight series) is allocated once, published through a lock-free table and
/// never freed or moved before the [`Store`](super::store::Store) that owns it is
/// dropped. A request keeps a `SeriesRef` to each series it records into, and
/// every value that holds a `SeriesRef` also holds the `MetricsRegistry` (an
/// `Arc` of that store). So a `SeriesRef` never outlives what it points to, and
/// because only `&T` is ever produced from it, it is as `Send`/`Sync` as `&T`.
/// This is the promise every `unsafe` read of a series rests on; the lock-free
/// publication itself is modelled with loom in `storage::table`.
pub(crate) struct SeriesRef<T>(NonNull<T>);

impl<T> SeriesRef<T> {
    /// Keeps a reference into the storage.
    #[inline]
    pub(crate) fn new(r: &T) -> Self {
        Self(NonNull::from(r))
    }

    /// The series, for as long as the caller says.
    ///
    /// # Safety
    ///
    /// The caller holds the registry whose storage `self` points into for all
    /// of `'a` (the lifetime promise above).
    #[inline]
    pub(crate) unsafe fn get<'a>(self) -> &'a T {
        // SAFETY: the pointer came from a `&T` into the registry's storage, which
        // the caller keeps alive; series are never freed or moved before it.
        unsafe { self.0.as_ref() }
    }

    /// The same pointer seen as another series type, for a value that keeps one
    /// of two kinds of series in one word (a gRPC call waiting for its trailers
    /// keeps its route where the response series will go).
    ///
    /// # Safety
    ///
    /// `get` may only be called on the result while it really points to a `U`.
    #[inline]
    pub(crate) unsafe fn cast<U>(self) -> SeriesRef<U> {
        SeriesRef(self.0.cast())
    }
}

impl<T> Clone for SeriesRef<T> {
    #[inline]
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for SeriesRef<T> {}

// SAFETY: a `SeriesRef` is a shared reference in disguise: sending it sends a
// `&T`, sound for `T: Sync`; series outlive every holder (the promise above).
unsafe impl<T: Sync> Send for SeriesRef<T> {}
// SAFETY: as for `Send`: only `&T` is ever produced from it (`T: Sync`).
unsafe impl<T: Sync> Sync for SeriesRef<T> {}
