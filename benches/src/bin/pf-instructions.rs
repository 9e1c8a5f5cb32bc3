//! Sends N in-process requests through one contender, for instruction counting
//! under callgrind: `pf-instructions <contender> <requests>`. The CI gate
//! (`scripts/instructions`) collects only inside `call_collect` and divides by
//! the number of requests (N plus one warm-up request).

use pf_benches::{CONTENDERS, call_collect, contender};

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_default();
    let requests: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(1000);
    let Some(contender) = contender(&name) else {
        eprintln!(
            "usage: pf-instructions <{}> <requests>",
            CONTENDERS.join("|")
        );
        std::process::exit(2);
    };
    tracing::dispatcher::set_global_default(contender.dispatch).expect("first subscriber");
    let app = contender.app;
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(async {
        // One warm-up request creates series and caches; it is in every run.
        let mut bytes = call_collect(&app).await;
        for _ in 0..requests {
            bytes += call_collect(&app).await;
        }
        std::hint::black_box(bytes);
    });
}
