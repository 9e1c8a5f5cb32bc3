//! Sends N in-process requests through one contender, for instruction counting
//! under callgrind: `pf-instructions <contender> <requests>`. The CI gate
//! (`scripts/instructions`) runs it twice with different N and divides.

use pf_benches::{call_collect, contender, CONTENDERS};

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_default();
    let requests: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(1000);
    let Some(app) = contender(&name) else {
        eprintln!("usage: pf-instructions <{}> <requests>", CONTENDERS.join("|"));
        std::process::exit(2);
    };
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    rt.block_on(async {
        // One warm-up request creates series and caches; it is in both runs.
        let mut bytes = call_collect(&app).await;
        for _ in 0..requests {
            bytes += call_collect(&app).await;
        }
        std::hint::black_box(bytes);
    });
}
