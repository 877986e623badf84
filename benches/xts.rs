//! XTS throughput over 1 MiB buffers (one core): AES-128/256, 512 and 4096-byte sectors; encrypt,
//! decrypt and re-key in place, and encrypt and decrypt from one buffer into another
//! (`encrypt_to`, `decrypt_to`, which touch 2 MiB). The code path is the one `Xts::new` picks;
//! force one with `BLOCKSEAL_XTS_IMPL=portable|vaes256|vaes512`. Criterion's throughput is in
//! bytes, so its GiB/s figures are 2^30 bytes per second.
//!
//! `ceiling/aes256-ecb` is the AES block cipher alone (the `aes` crate encrypting 1 MiB of
//! independent blocks, no tweaks, on its widest backend): no XTS on this core can beat it, so
//! it is the yardstick for the kernels (BENCHMARKS.md).

use blockseal_engine::xts::{rekey_sectors, Xts};
use blockseal_engine::DataKey;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::time::Duration;

const BUF: usize = 1 << 20;

fn key(len: usize, seed: u8) -> DataKey {
    let bytes: Vec<u8> = (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect();
    DataKey::from_slice(&bytes)
}

fn xts(c: &mut Criterion) {
    let mut group = c.benchmark_group("xts");
    group
        .throughput(Throughput::Bytes(BUF as u64))
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    let mut data = vec![0x5au8; BUF];
    let mut out = vec![0u8; BUF];
    for (name, key_len) in [("aes256", 64), ("aes128", 32)] {
        let old = Xts::new(&key(key_len, 1));
        let new = Xts::new(&key(key_len, 2));
        let path = old.implementation();
        for sector in [4096usize, 512] {
            let param = format!("{path}/{sector}");
            group.bench_function(BenchmarkId::new(format!("{name}/encrypt"), &param), |b| {
                b.iter(|| old.encrypt_sectors(black_box(1000), sector, black_box(&mut data)))
            });
            group.bench_function(BenchmarkId::new(format!("{name}/decrypt"), &param), |b| {
                b.iter(|| old.decrypt_sectors(black_box(1000), sector, black_box(&mut data)))
            });
            group.bench_function(
                BenchmarkId::new(format!("{name}/encrypt_to"), &param),
                |b| {
                    b.iter(|| {
                        let (src, dst) = (black_box(&data), black_box(&mut out));
                        old.encrypt_sectors_to(black_box(1000), sector, src, dst)
                    })
                },
            );
            group.bench_function(
                BenchmarkId::new(format!("{name}/decrypt_to"), &param),
                |b| {
                    b.iter(|| {
                        let (src, dst) = (black_box(&data), black_box(&mut out));
                        old.decrypt_sectors_to(black_box(1000), sector, src, dst)
                    })
                },
            );
            group.bench_function(BenchmarkId::new(format!("{name}/rekey"), &param), |b| {
                b.iter(|| rekey_sectors(&old, &new, black_box(1000), sector, black_box(&mut data)))
            });
        }
    }
    group.finish();
}

fn ceiling(c: &mut Criterion) {
    use aes::cipher::{Array, BlockCipherEncrypt, KeyInit};
    let mut group = c.benchmark_group("ceiling");
    group
        .throughput(Throughput::Bytes(BUF as u64))
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    let mut blocks = vec![aes::Block::default(); BUF / 16];
    let cipher = aes::Aes256::new(&Array::from([7u8; 32]));
    group.bench_function("aes256-ecb", |b| {
        b.iter(|| cipher.encrypt_blocks(black_box(&mut blocks)))
    });
    let cipher = aes::Aes128::new(&Array::from([7u8; 16]));
    group.bench_function("aes128-ecb", |b| {
        b.iter(|| cipher.encrypt_blocks(black_box(&mut blocks)))
    });
    group.finish();
}

criterion_group!(benches, xts, ceiling);
criterion_main!(benches);
