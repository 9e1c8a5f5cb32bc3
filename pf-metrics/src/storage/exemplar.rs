//! Exemplars (feature `exemplars`): the latest trace ID per duration bucket,
//! kept for the OpenMetrics exposition (which writes them: `exposition/series.rs`).
//!
//! Without the feature every type here is zero-sized and every function a
//! no-op, so the request path compiles to what it was. With it, the
//! registry's [`Switch`] (`MetricsRegistryBuilder::exemplars`, on by default)
//! decides per registry whether a request reads its trace at all.

#[cfg(feature = "exemplars")]
pub(crate) use enabled::*;

#[cfg(not(feature = "exemplars"))]
pub(crate) use disabled::*;

#[cfg(not(feature = "exemplars"))]
mod disabled {

    /// No trace: the feature is off.
    pub(crate) struct Trace;

    impl Trace {
        #[inline(always)]
        pub(crate) fn current() -> Self {
            Trace
        }

        /// No trace.
        #[inline(always)]
        pub(crate) fn none() -> Self {
            Trace
        }

        #[inline(always)]
        pub(crate) fn record(&self, _exemplars: &Exemplars, _bounds: &[u64], _nanos: u64) {}
    }

    /// No storage: the feature is off.
    #[derive(Default)]
    pub(crate) struct Exemplars;

    /// No switch: the feature is off.
    #[derive(Clone, Copy, Default)]
    pub(crate) struct Switch;

    impl Switch {
        /// No trace: the feature is off.
        #[inline(always)]
        pub(crate) fn trace(self) -> Trace {
            Trace::current()
        }
    }
}

#[cfg(feature = "exemplars")]
mod enabled {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering, fence};

    /// The trace ID of the request's OpenTelemetry context, as two words (a
    /// `u128`'s 16-byte alignment would pad the request recorders); zero when
    /// there is none (or it is not sampled: its trace would not be found).
    pub(crate) struct Trace(u64, u64);

    impl Trace {
        /// The current OpenTelemetry context's trace. `tracing-opentelemetry`
        /// makes a span's context current while the span is entered (its
        /// default "context activation"), so inside pf-log-enrich's request
        /// span, or any span of a `tracing-opentelemetry` subscriber, this is
        /// the request's trace. One thread-local read: no tracing subscriber
        /// lookup, no span clone, no allocation.
        #[inline]
        pub(crate) fn current() -> Self {
            use opentelemetry::trace::TraceContextExt as _;

            opentelemetry::Context::map_current(|cx| {
                let span = cx.span();
                let sc = span.span_context();
                if sc.is_valid() && sc.is_sampled() {
                    let id = u128::from_be_bytes(sc.trace_id().to_bytes());
                    Trace((id >> 64) as u64, id as u64)
                } else {
                    Trace::none()
                }
            })
        }

        /// No trace (no exemplar is kept).
        #[inline]
        pub(crate) fn none() -> Self {
            Trace(0, 0)
        }

        /// Keeps this trace as the exemplar of the bucket `nanos` falls in.
        #[inline]
        pub(crate) fn record(&self, exemplars: &Exemplars, bounds: &[u64], nanos: u64) {
            if self.0 | self.1 != 0 {
                let id = (u128::from(self.0) << 64) | u128::from(self.1);
                exemplars.record(bounds, id, nanos);
            }
        }
    }

    /// Whether a registry keeps exemplars (`MetricsRegistryBuilder::exemplars`;
    /// on by default).
    #[derive(Clone, Copy)]
    pub(crate) struct Switch(pub(crate) bool);

    impl Default for Switch {
        fn default() -> Self {
            Switch(true)
        }
    }

    impl Switch {
        /// The request's trace when exemplars are on; when off, no trace and
        /// no read of the OpenTelemetry context (one test of the flag).
        #[inline]
        pub(crate) fn trace(self) -> Trace {
            if self.0 {
                Trace::current()
            } else {
                Trace::none()
            }
        }
    }

    /// The latest exemplar of each bucket (`+Inf` included) of one series,
    /// allocated at its first traced request.
    #[derive(Default)]
    pub(crate) struct Exemplars {
        slots: OnceLock<Box<[Slot]>>,
    }

    /// One exemplar behind a sequence lock: writers never wait (a writer
    /// that meets another one skips: an exemplar is a sample), readers retry.
    #[derive(Default)]
    pub(crate) struct Slot {
        /// Even: stable; odd: being written; 0: never written.
        seq: AtomicU64,
        trace_hi: AtomicU64,
        trace_lo: AtomicU64,
        nanos: AtomicU64,
        unix_millis: AtomicU64,
    }

    /// A read exemplar.
    pub(crate) struct Exemplar {
        pub(crate) trace: u128,
        pub(crate) nanos: u64,
        pub(crate) unix_millis: u64,
    }

    impl Exemplars {
        #[cold]
        fn record(&self, bounds: &[u64], trace: u128, nanos: u64) {
            let slots = self
                .slots
                .get_or_init(|| (0..=bounds.len()).map(|_| Slot::default()).collect());
            let bucket = bounds
                .iter()
                .position(|&b| nanos <= b)
                .unwrap_or(bounds.len());
            slots[bucket].write(trace, nanos, unix_millis());
        }

        pub(crate) fn slots(&self) -> Option<&[Slot]> {
            self.slots.get().map(|s| &**s)
        }
    }

    fn unix_millis() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    impl Slot {
        pub(crate) fn write(&self, trace: u128, nanos: u64, unix_millis: u64) {
            let seq = self.seq.load(Ordering::Relaxed);
            if seq & 1 == 1
                || self
                    .seq
                    .compare_exchange(seq, seq + 1, Ordering::Acquire, Ordering::Relaxed)
                    .is_err()
            {
                return;
            }
            self.trace_hi.store((trace >> 64) as u64, Ordering::Relaxed);
            self.trace_lo.store(trace as u64, Ordering::Relaxed);
            self.nanos.store(nanos, Ordering::Relaxed);
            self.unix_millis.store(unix_millis, Ordering::Relaxed);
            self.seq.store(seq + 2, Ordering::Release);
        }

        pub(crate) fn read(&self) -> Option<Exemplar> {
            for _ in 0..64 {
                let before = self.seq.load(Ordering::Acquire);
                if before == 0 {
                    return None;
                }
                if before & 1 == 1 {
                    std::hint::spin_loop();
                    continue;
                }
                let e = Exemplar {
                    trace: (u128::from(self.trace_hi.load(Ordering::Relaxed)) << 64)
                        | u128::from(self.trace_lo.load(Ordering::Relaxed)),
                    nanos: self.nanos.load(Ordering::Relaxed),
                    unix_millis: self.unix_millis.load(Ordering::Relaxed),
                };
                fence(Ordering::Acquire);
                if self.seq.load(Ordering::Relaxed) == before {
                    return Some(e);
                }
            }
            None
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn slots_keep_the_latest_exemplar_and_read_back_whole() {
            let s = Slot::default();
            assert!(s.read().is_none());
            s.write(1, 2, 3);
            s.write(u128::MAX - 5, 7, 1_700_000_000_123);
            let e = s.read().unwrap();
            assert_eq!(
                (e.trace, e.nanos, e.unix_millis),
                (u128::MAX - 5, 7, 1_700_000_000_123)
            );
        }

        #[test]
        fn concurrent_writers_never_tear_an_exemplar() {
            // Every writer writes (t, t, t): a torn read would mix two of them.
            let slot = std::sync::Arc::new(Slot::default());
            let writers: Vec<_> = (1..=4u64)
                .map(|w| {
                    let slot = slot.clone();
                    std::thread::spawn(move || {
                        for i in 0..50_000u64 {
                            let t = w * 1_000_000 + i;
                            slot.write(u128::from(t), t, t);
                        }
                    })
                })
                .collect();
            for _ in 0..50_000 {
                if let Some(e) = slot.read() {
                    assert_eq!(e.trace, u128::from(e.nanos));
                    assert_eq!(e.nanos, e.unix_millis);
                }
            }
            writers.into_iter().for_each(|w| w.join().unwrap());
        }
    }
}
