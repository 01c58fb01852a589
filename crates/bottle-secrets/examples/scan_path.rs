//! Profiling harness: what `bottle scan PATH --format json -o OUT` does
//! (the built-in rules, the code profile, inline allows, a parallel walk,
//! the JSON report), without building the whole binary, so that the engine
//! can be profiled and rebuilt quickly.
//!
//! `cargo run --release -p bottle-secrets --example scan_path -- PATH OUT.json`

use bottle_secrets::report::{Format, render};
use bottle_secrets::walk::{WalkOptions, scan_path};
use bottle_secrets::{Profile, Scanner};
use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args_os().skip(1);
    let (Some(path), Some(out)) = (args.next(), args.next()) else {
        eprintln!("usage: scan_path PATH OUT.json");
        std::process::exit(2);
    };
    if std::env::var_os("SCAN_ONE_FILE").is_some() {
        // One file on this thread, with the engine's work counter.
        let data = std::fs::read(&path)?;
        let scanner = Scanner::builtin().with_profile(Profile::Code);
        let t = std::time::Instant::now();
        let w = bottle_secrets::testing::work();
        let found = scanner.scan(&data, Some("data.json"));
        eprintln!(
            "{} findings, {:.2} units of work per byte, {:.3}s",
            found.len(),
            (bottle_secrets::testing::work() - w) as f64 / data.len() as f64,
            t.elapsed().as_secs_f64()
        );
        return Ok(());
    }
    let started = std::time::Instant::now();
    let scanner = Scanner::builtin()
        .with_profile(Profile::Code)
        .with_inline_allow(true);
    let loaded = started.elapsed();
    let (found, stats) = scan_path(&PathBuf::from(path), &scanner, &WalkOptions::default());
    let scanned = started.elapsed();
    let mut file = std::fs::File::create(out)?;
    render(&found, Format::Json, &mut file)?;
    let done = started.elapsed();
    eprintln!(
        "{} findings in {} bytes; rules {:.3}s, scan {:.3}s, report {:.3}s",
        found.len(),
        stats.bytes,
        loaded.as_secs_f64(),
        (scanned - loaded).as_secs_f64(),
        (done - scanned).as_secs_f64()
    );
    Ok(())
}
