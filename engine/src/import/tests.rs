//! The parsers against images `qemu-img convert` makes from a known raw disk, and against
//! hand-made malformed headers.

use super::*;
use std::path::Path;
use std::process::Command;

/// A 3 MiB + 4 KiB disk: scattered runs of bytes over zeros, a hole of several grains.
fn disk() -> Vec<u8> {
    let mut d = vec![0u8; (3 << 20) + 4096];
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for (i, chunk) in d.chunks_mut(7919).enumerate() {
        if (40..120).contains(&i) {
            continue;
        }
        for b in chunk.iter_mut().take(300) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
    }
    d
}

/// Whether qemu-img can be run; in CI it must be (`.ci/run` installs it).
fn qemu_img() -> bool {
    let ok = Command::new("qemu-img")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "qemu-img is missing in CI"
        );
        eprintln!("skipped: qemu-img is not installed (apt-get install qemu-utils)");
    }
    ok
}

fn convert(dir: &Path, raw: &[u8], args: &[&str]) -> Vec<u8> {
    let src = dir.join("disk.raw");
    std::fs::write(&src, raw).unwrap();
    let out = dir.join("disk.img");
    let st = Command::new("qemu-img")
        .args(["convert", "-f", "raw"])
        .args(args)
        .arg(&src)
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success(), "qemu-img convert {args:?}");
    std::fs::read(out).unwrap()
}

fn read_all(img: &DiskImage<Bytes>) -> Vec<u8> {
    let mut got = vec![0u8; usize::try_from(img.size()).unwrap()];
    // In odd-sized pieces, so reads start and end inside clusters.
    let mut at = 0;
    while at < got.len() {
        let n = (got.len() - at).min(100_003);
        img.read_at(at as u64, &mut got[at..at + n]).unwrap();
        at += n;
    }
    got
}

/// The disk reads back as `raw`, followed by zeros up to the image's size; every byte that is
/// not zero lies inside a data extent.
fn check_same(img: &DiskImage<Bytes>, raw: &[u8]) {
    assert!(
        img.size() >= raw.len() as u64,
        "{} < {}",
        img.size(),
        raw.len()
    );
    let got = read_all(img);
    assert!(
        got[..raw.len()] == raw[..],
        "the disk's bytes differ from the raw source"
    );
    assert!(got[raw.len()..].iter().all(|b| *b == 0));
    let extents = img.data_extents(0, img.size()).unwrap();
    for (i, b) in got.iter().enumerate() {
        if *b != 0 {
            let i = i as u64;
            assert!(
                extents.iter().any(|(s, e)| (*s..*e).contains(&i)),
                "byte {i}"
            );
        }
    }
}

fn round_trip(args: &[&str], format: Format) {
    if !qemu_img() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let raw = disk();
    let bytes = convert(dir.path(), &raw, args);
    assert_eq!(sniff(&Bytes(bytes.clone())), Some(format));
    let img = open(Bytes(bytes), format).unwrap();
    check_same(&img, &raw);
}

#[test]
fn vmdk_monolithic_sparse() {
    round_trip(&["-O", "vmdk"], Format::Vmdk);
}

#[test]
fn vmdk_stream_optimized_with_compressed_grains() {
    round_trip(
        &["-O", "vmdk", "-o", "subformat=streamOptimized"],
        Format::Vmdk,
    );
}

#[test]
fn vhd_dynamic_and_fixed() {
    round_trip(&["-O", "vpc"], Format::Vhd);
    round_trip(&["-O", "vpc", "-o", "subformat=fixed"], Format::Vhd);
    round_trip(&["-O", "vpc", "-o", "force_size=on"], Format::Vhd);
}

#[test]
fn qcow2_v2_and_v3() {
    round_trip(&["-O", "qcow2"], Format::Qcow2);
    round_trip(&["-O", "qcow2", "-o", "compat=0.10"], Format::Qcow2);
    round_trip(&["-O", "qcow2", "-o", "cluster_size=4096"], Format::Qcow2);
}

#[test]
fn raw_is_the_file_itself() {
    let raw = disk();
    let img = open(Bytes(raw.clone()), Format::Raw).unwrap();
    assert_eq!(img.size(), raw.len() as u64);
    check_same(&img, &raw);
}

#[test]
fn a_format_that_does_not_match_the_file_is_refused() {
    let raw = disk();
    for f in [Format::Vmdk, Format::Vhd, Format::Qcow2] {
        let e = open(Bytes(raw.clone()), f).unwrap_err();
        assert_eq!(e.reason, WRONG_FORMAT, "{f:?}");
        assert!(e
            .to_string()
            .starts_with("ClientError: Disk validation failed [Unsupported Specified FileFormat]"));
    }
    if !qemu_img() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let vmdk = convert(dir.path(), &raw, &["-O", "vmdk"]);
    assert_eq!(
        open(Bytes(vmdk.clone()), Format::Raw).unwrap_err().reason,
        WRONG_FORMAT
    );
    assert_eq!(
        open(Bytes(vmdk), Format::Vhd).unwrap_err().reason,
        WRONG_FORMAT
    );
    let qcow = convert(dir.path(), &raw, &["-O", "qcow2"]);
    assert_eq!(
        open(Bytes(qcow), Format::Vmdk).unwrap_err().reason,
        WRONG_FORMAT
    );
}

fn vmdk_header(capacity: u64, grain: u64, gtes: u32, gd: u64) -> Vec<u8> {
    let mut h = vec![0u8; 512];
    h[..4].copy_from_slice(b"KDMV");
    h[4..8].copy_from_slice(&1u32.to_le_bytes());
    h[12..20].copy_from_slice(&capacity.to_le_bytes());
    h[20..28].copy_from_slice(&grain.to_le_bytes());
    h[44..48].copy_from_slice(&gtes.to_le_bytes());
    h[56..64].copy_from_slice(&gd.to_le_bytes());
    h
}

#[test]
fn malformed_vmdk_headers_are_refused_without_large_allocations() {
    let reason = |b: Vec<u8>| open(Bytes(b), Format::Vmdk).unwrap_err().reason;
    // A grain directory of 2^40 entries claimed by a 512-byte file.
    assert_eq!(
        reason(vmdk_header(u64::MAX / 1024, 128, 512, 1)),
        "Unsupported Disk Size"
    );
    assert_eq!(
        reason(vmdk_header(1 << 34, 128, 512, 1)),
        "Unsupported VMDK File Format",
        "its grain directory lies past the end of the file"
    );
    assert_eq!(
        reason(vmdk_header(2048, 3, 512, 1)),
        "Unsupported VMDK File Format"
    );
    assert_eq!(
        reason(vmdk_header(2048, 128, 0, 1)),
        "Unsupported VMDK File Format"
    );
    // A grain table entry past the end of the file.
    let mut b = vmdk_header(2048, 128, 512, 1);
    b.extend_from_slice(&[0u8; 512]);
    b[512..516].copy_from_slice(&2u32.to_le_bytes());
    b.extend_from_slice(&[0u8; 2048]);
    b[1024..1028].copy_from_slice(&9999u32.to_le_bytes());
    let e = open(Bytes(b), Format::Vmdk).unwrap_err();
    assert!(e.detail.contains("past the end of the file"), "{e}");
    // Truncated: a streamOptimized header whose footer is missing.
    assert_eq!(
        reason(vmdk_header(2048, 128, 512, u64::MAX)),
        "Unsupported VMDK File Format"
    );
}

#[test]
fn malformed_vhd_and_qcow2_are_refused() {
    let mut f = vec![0u8; 1024];
    f[512..520].copy_from_slice(b"conectix");
    let e = open(Bytes(f), Format::Vhd).unwrap_err();
    assert_eq!(e.reason, "Unsupported VHD Footer", "a bad checksum: {e}");
    let mut q = vec![0u8; 512];
    q[..4].copy_from_slice(b"QFI\xfb");
    q[4..8].copy_from_slice(&3u32.to_be_bytes());
    q[20..24].copy_from_slice(&16u32.to_be_bytes());
    q[24..32].copy_from_slice(&(1u64 << 40).to_be_bytes());
    q[36..40].copy_from_slice(&u32::MAX.to_be_bytes());
    q[40..48].copy_from_slice(&512u64.to_be_bytes());
    let e = open(Bytes(q.clone()), Format::Qcow2).unwrap_err();
    assert!(e.detail.contains("L1 table"), "{e}");
    q[8..16].copy_from_slice(&512u64.to_be_bytes());
    let e = open(Bytes(q), Format::Qcow2).unwrap_err();
    assert!(e.detail.contains("backing file"), "{e}");
}

#[test]
fn compressed_qcow2_clusters_and_differencing_vhds_are_refused() {
    if !qemu_img() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let q = convert(dir.path(), &disk(), &["-O", "qcow2", "-c"]);
    let e = open(Bytes(q), Format::Qcow2).unwrap_err();
    assert!(e.detail.contains("compressed"), "{e}");
}

#[test]
fn damaged_compressed_grains_fail_the_read() {
    if !qemu_img() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let raw = disk();
    let mut b = convert(
        dir.path(),
        &raw,
        &["-O", "vmdk", "-o", "subformat=streamOptimized"],
    );
    let img = open(Bytes(b.clone()), Format::Vmdk).unwrap();
    let Map::Clusters { entries, .. } = &img.map else {
        panic!("a sparse map")
    };
    let Loc::Deflated { at, .. } = entries[0].1 else {
        panic!("compressed grains")
    };
    for x in &mut b[at as usize + 2..at as usize + 40] {
        *x ^= 0x5a;
    }
    let img = open(Bytes(b), Format::Vmdk).unwrap();
    let mut buf = vec![0u8; 65536];
    let e = img.read_at(0, &mut buf).unwrap_err();
    assert!(e.to_string().contains("does not inflate"), "{e}");
}
