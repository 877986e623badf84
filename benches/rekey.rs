//! Copy-and-rekey and preserve-copy throughput on /dev/shm (tmpfs), where the destination's
//! page allocation, not the disk, is the limit (PERFORMANCE-NOTES A2).
//!
//! `cargo bench -p blockseal-engine --bench rekey`; `BLOCKSEAL_BENCH_MIB` sets the volume size
//! (256 by default, e.g. 1024), `BLOCKSEAL_BENCH_DIR` the directory (default /dev/shm).
//! Reported as bytes of volume per second; the source is random, so every sector is data.

use blockseal_engine::__bench::{Fixture, Knobs};
use blockseal_engine::xts::Xts;
use blockseal_engine::DataKey;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn dir() -> PathBuf {
    std::env::var_os("BLOCKSEAL_BENCH_DIR").map_or_else(|| PathBuf::from("/dev/shm"), PathBuf::from)
}

fn size() -> u64 {
    let mib: u64 = std::env::var("BLOCKSEAL_BENCH_MIB")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(256);
    mib << 20
}

fn copies(c: &mut Criterion) {
    let home = tempfile::tempdir_in(dir()).expect("bench directory");
    let size = size();
    let fx = Fixture::new(home.path(), size).expect("bench source");
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());

    let mut g = c.benchmark_group("rekey");
    g.throughput(Throughput::Bytes(size))
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1));
    let mut threads = vec![1];
    if cores > 1 {
        threads.push(cores);
    }
    for &t in &threads {
        for (chunk, mmap) in [(1 << 20, false), (4 << 20, false), (1 << 20, true)] {
            let name = format!(
                "{}-{}MiB-t{t}",
                if mmap { "mmap" } else { "pread" },
                chunk >> 20
            );
            g.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter_custom(|iters| {
                    let mut spent = Duration::ZERO;
                    for _ in 0..iters {
                        let knobs = Knobs {
                            chunk,
                            mmap,
                            threads: t,
                        };
                        let start = Instant::now();
                        let out = fx.rekey(knobs).expect("rekey");
                        spent += start.elapsed();
                        drop(out); // unlinking the destination is not part of the copy
                    }
                    spent
                })
            });
        }
    }
    g.finish();

    let mut g = c.benchmark_group("clone");
    g.throughput(Throughput::Bytes(size))
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1));
    for &t in &threads {
        g.bench_function(BenchmarkId::from_parameter(format!("t{t}")), |b| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    let out = fx.clone_copy(t).expect("clone");
                    spent += start.elapsed();
                    drop(out);
                }
                spent
            })
        });
    }
    g.finish();
    eprintln!("source: {}", fx.source_path().display());
}

/// The two bounds of a rekey, measured alone: the cipher (decrypt + encrypt of a 1 MiB buffer
/// that stays in cache) and writing fresh tmpfs pages with pwrite from a 1 MiB buffer.
fn bounds(c: &mut Criterion) {
    let key = |b: u8| Xts::new(&DataKey::from_slice(&[b; 64]));
    let (from, to) = (key(1), key(2));
    let mut g = c.benchmark_group("bounds");
    let mut buf = vec![0x5a_u8; 1 << 20];
    g.throughput(Throughput::Bytes(buf.len() as u64))
        .sample_size(20);
    g.bench_function("decrypt+encrypt-1MiB-t1", |b| {
        b.iter(|| {
            from.decrypt_sectors(0, 4096, &mut buf);
            to.encrypt_sectors(0, 4096, &mut buf);
        })
    });
    let size = size();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    g.throughput(Throughput::Bytes(size)).sample_size(10);
    for t in [1, threads] {
        g.bench_function(
            BenchmarkId::new("pwrite-fresh-pages", format!("t{t}")),
            |b| {
                b.iter_custom(|iters| {
                    let mut spent = Duration::ZERO;
                    for _ in 0..iters {
                        let f = tempfile::tempfile_in(dir()).expect("temp file");
                        f.set_len(size).expect("set_len");
                        let start = Instant::now();
                        std::thread::scope(|s| {
                            for w in 0..t as u64 {
                                let f = &f;
                                s.spawn(move || {
                                    let src = vec![0x5a_u8; 1 << 20];
                                    let share = size / t as u64;
                                    let mut at = w * share;
                                    while at < (w + 1) * share {
                                        f.write_all_at(&src, at).expect("pwrite");
                                        at += src.len() as u64;
                                    }
                                });
                            }
                        });
                        spent += start.elapsed();
                    }
                    spent
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, copies, bounds);
criterion_main!(benches);
