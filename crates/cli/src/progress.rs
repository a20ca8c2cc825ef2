//! The progress bar of long scans: on stderr, only when stderr is a
//! terminal, and only once a scan has run for a moment.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use scout_audit_scan::{Progress, Scan};

/// How long a scan runs before its bar appears.
const DELAY: Duration = Duration::from_millis(400);

/// Runs `f` on `scan`, drawing a bar of its progress on stderr when
/// stderr is a terminal and the scan takes longer than a moment.
pub fn with_progress<T>(scan: Scan, f: impl FnOnce(Scan) -> T) -> T {
    if !std::io::stderr().is_terminal() {
        return f(scan);
    }
    let progress = Progress::new();
    let done = Arc::new(AtomicBool::new(false));
    let drawer = {
        let progress = Arc::clone(&progress);
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let start = Instant::now();
            let mut bar: Option<ProgressBar> = None;
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
                if bar.is_none() && start.elapsed() >= DELAY {
                    let b = ProgressBar::with_draw_target(
                        Some(progress.total().max(1)),
                        ProgressDrawTarget::stderr(),
                    );
                    b.set_style(
                        ProgressStyle::with_template(
                            "{spinner} scanning {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    bar = Some(b);
                }
                if let Some(b) = &bar {
                    b.set_position(progress.done());
                }
            }
            if let Some(b) = bar {
                b.finish_and_clear();
            }
        })
    };
    let r = f(scan.progress(progress));
    done.store(true, Ordering::Relaxed);
    let _ = drawer.join();
    r
}
