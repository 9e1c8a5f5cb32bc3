//! loom model tests of pf-metrics' lock-free series table (`storage/table.rs`).
//!
//! Run with `scripts/loom` (`RUSTFLAGS="--cfg loom" cargo test -p pf-metrics-loom --release`).
//! Without `--cfg loom` this crate compiles the table on std's primitives and tests nothing
//! more than pf-metrics' own unit tests do.
//!
//! What is checked, over every interleaving loom explores: a reader that finds a key sees
//! the series fully built (the value is published before its key), two inserters of one key
//! agree on one series, and `iter` sees only published series, in insertion order.

#[allow(dead_code, unreachable_pub, clippy::all)]
#[path = "../../src/storage/table.rs"]
mod table;

#[cfg(all(test, loom))]
mod tests {
    use loom::cell::UnsafeCell;
    use loom::sync::Arc;
    use loom::thread;

    use crate::table::{Lookup, SeriesTable};

    /// A series whose contents loom tracks: reading it without a happens-before edge
    /// to its construction is a reported data race.
    struct Series(UnsafeCell<u64>);

    impl Series {
        /// Built as a series is: allocated, then written (a tracked write).
        fn new(v: u64) -> Self {
            let s = Self(UnsafeCell::new(0));
            s.0.with_mut(|p| unsafe { *p = v });
            s
        }
        fn value(&self) -> u64 {
            self.0.with(|p| unsafe { *p })
        }
    }

    fn found(l: Lookup<'_, Series>) -> &Series {
        match l {
            Lookup::Found(s) => s,
            Lookup::Full => panic!("capacity is enough"),
        }
    }

    // Every thread that touches the table is spawned: loom then interleaves all of them
    // (the model's own thread only joins).

    #[test]
    fn a_reader_that_finds_a_key_sees_its_series_built() {
        loom::model(|| {
            let t = Arc::new(SeriesTable::with_capacity(2));
            let writer = {
                let t = t.clone();
                thread::spawn(move || found(t.get_or_insert(7, || Series::new(70))).value())
            };
            let reader = {
                let t = t.clone();
                thread::spawn(move || {
                    if let Some(s) = t.get(7) {
                        assert_eq!(s.value(), 70);
                    }
                })
            };
            assert_eq!(writer.join().unwrap(), 70);
            reader.join().unwrap();
        });
    }

    #[test]
    fn two_inserters_of_one_key_agree_on_one_series() {
        loom::model(|| {
            let t = Arc::new(SeriesTable::with_capacity(2));
            let insert = |v| {
                let t = t.clone();
                thread::spawn(move || {
                    let s = found(t.get_or_insert(3, || Series::new(v)));
                    (s as *const Series as usize, s.value())
                })
            };
            let (a, b) = (insert(1), insert(2));
            let (a, b) = (a.join().unwrap(), b.join().unwrap());
            assert_eq!(a, b, "both inserters hold the same series");
            assert_eq!(t.len(), 1);
        });
    }

    #[test]
    fn iteration_sees_published_series_in_insertion_order() {
        loom::model(|| {
            let t = Arc::new(SeriesTable::with_capacity(2));
            let writer = {
                let t = t.clone();
                thread::spawn(move || {
                    found(t.get_or_insert(1, || Series::new(10)));
                    found(t.get_or_insert(2, || Series::new(20)));
                })
            };
            let reader = {
                let t = t.clone();
                thread::spawn(move || {
                    let seen: Vec<u64> = t.iter().map(Series::value).collect();
                    assert!(
                        seen.is_empty() || seen == [10] || seen == [10, 20],
                        "saw {seen:?}"
                    );
                })
            };
            writer.join().unwrap();
            reader.join().unwrap();
            let seen: Vec<u64> = t.iter().map(Series::value).collect();
            assert_eq!(seen, [10, 20]);
        });
    }
}
