//! Re-key and clone throughput by worker thread count, on a 256 MiB source of random data
//! (4 KiB sectors) on /dev/shm (else the temporary directory):
//! - `copy-image`: end to end through the engine's CopyImage (KMS checks, data keys, the
//!   parallel data movement, fsync, catalog commit) in a throw-away home;
//! - `movers`: the data movers alone (`rekey_blob`, `clone_blob`), with the chunk size and the
//!   way the source is read (pread or a map) as knobs.
//!
//! Criterion's throughput is in bytes, so its GiB/s figures are 2^30 bytes per second. The XTS
//! kernel by itself, per sector size, is `benches/xts.rs`; `blockseal bench rekey --scaling`
//! prints the end-to-end figures for larger images.

use blockseal_engine::bench::movers::{Fixture, Knobs};
use blockseal_engine::bench::{default_dir, RekeyBench};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::time::{Duration, Instant};

const SIZE: u64 = 256 << 20;

fn rekey(c: &mut Criterion) {
    let mut group = c.benchmark_group("copy-image");
    group
        .throughput(Throughput::Bytes(SIZE))
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5))
        .sample_size(10);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for threads in 1..=cores.min(4) {
        let mut b = RekeyBench::prepare(&default_dir(), SIZE, 4096).expect("prepare the image");
        group.bench_function(BenchmarkId::new("rekey", threads), |bench| {
            bench.iter_custom(|iters| {
                (0..iters)
                    .map(|_| Duration::from_secs_f64(b.time_rekey(threads).expect("re-key")))
                    .sum()
            })
        });
        group.bench_function(BenchmarkId::new("clone", threads), |bench| {
            bench.iter_custom(|iters| {
                (0..iters)
                    .map(|_| Duration::from_secs_f64(b.time_clone(threads).expect("clone")))
                    .sum()
            })
        });
    }
    group.finish();
}

fn movers(c: &mut Criterion) {
    let mut group = c.benchmark_group("movers");
    group
        .throughput(Throughput::Bytes(SIZE))
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(4))
        .sample_size(10);
    let home = tempfile::tempdir_in(default_dir()).expect("a home for the fixture");
    let fixture = Fixture::new(home.path(), SIZE).expect("write the source blob");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for threads in 1..=cores.min(4) {
        let knobs = [
            ("rekey-pread-1M", 1 << 20, false),
            ("rekey-pread-4M", 4 << 20, false),
            ("rekey-mmap-1M", 1 << 20, true),
        ];
        for (name, chunk, mmap) in knobs {
            let k = Knobs {
                chunk,
                mmap,
                threads,
            };
            group.bench_function(BenchmarkId::new(name, threads), |bench| {
                bench.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let t = Instant::now();
                        let out = fixture.rekey(k).expect("re-key");
                        total += t.elapsed();
                        drop(out);
                    }
                    total
                })
            });
        }
        group.bench_function(BenchmarkId::new("clone", threads), |bench| {
            bench.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let t = Instant::now();
                    let out = fixture.clone_copy(threads).expect("clone");
                    total += t.elapsed();
                    drop(out);
                }
                total
            })
        });
    }
    group.finish();
}

criterion_group!(benches, rekey, movers);
criterion_main!(benches);
