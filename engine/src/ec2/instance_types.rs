//! The instance types RunInstances accepts, with the architectures, vCPUs and memory AWS
//! publishes for them (EC2 instance type specifications), and the architecture check between an
//! instance type and an image. Pure: a table and lookups.

use crate::error::{bail, Code, Result};

/// One instance type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct InstanceType {
    /// The processor architectures it runs (`ArchitectureType`): images of these launch on it.
    pub architectures: &'static [&'static str],
    pub vcpus: u32,
    pub memory_mib: u32,
}

/// The type a launch gets when it names none (AWS's default is m1.small, which current
/// regions no longer offer; t3.micro is the type AWS's own examples use most).
pub(crate) const DEFAULT_INSTANCE_TYPE: &str = "t3.micro";

const X86: &[&str] = &["x86_64"];
const X86_I386: &[&str] = &["i386", "x86_64"];
const ARM: &[&str] = &["arm64"];

/// `(family, architectures, [(size, vCPUs, memory GiB × 4)])`: memory in quarter GiB so that
/// t2.nano's 0.5 GiB and t3.micro's 1 GiB are whole numbers.
type Family = (
    &'static str,
    &'static [&'static str],
    &'static [(&'static str, u32, u32)],
);

/// Burstable sizes: nano … 2xlarge.
const T_SIZES: &[(&str, u32, u32)] = &[
    ("nano", 2, 2),
    ("micro", 2, 4),
    ("small", 2, 8),
    ("medium", 2, 16),
    ("large", 2, 32),
    ("xlarge", 4, 64),
    ("2xlarge", 8, 128),
];
/// t2: one vCPU for nano … small.
const T2_SIZES: &[(&str, u32, u32)] = &[
    ("nano", 1, 2),
    ("micro", 1, 4),
    ("small", 1, 8),
    ("medium", 2, 16),
    ("large", 2, 32),
    ("xlarge", 4, 64),
    ("2xlarge", 8, 128),
];
/// General purpose: 4 GiB per vCPU.
const M_SIZES: &[(&str, u32, u32)] = &[
    ("large", 2, 32),
    ("xlarge", 4, 64),
    ("2xlarge", 8, 128),
    ("4xlarge", 16, 256),
    ("8xlarge", 32, 512),
    ("12xlarge", 48, 768),
    ("16xlarge", 64, 1024),
    ("24xlarge", 96, 1536),
];
/// Graviton general purpose: medium too, up to 16xlarge.
const M_ARM_SIZES: &[(&str, u32, u32)] = &[
    ("medium", 1, 16),
    ("large", 2, 32),
    ("xlarge", 4, 64),
    ("2xlarge", 8, 128),
    ("4xlarge", 16, 256),
    ("8xlarge", 32, 512),
    ("12xlarge", 48, 768),
    ("16xlarge", 64, 1024),
];
/// Compute optimized: 2 GiB per vCPU.
const C_SIZES: &[(&str, u32, u32)] = &[
    ("large", 2, 16),
    ("xlarge", 4, 32),
    ("2xlarge", 8, 64),
    ("4xlarge", 16, 128),
    ("9xlarge", 36, 288),
    ("12xlarge", 48, 384),
    ("18xlarge", 72, 576),
    ("24xlarge", 96, 768),
];
const C6_SIZES: &[(&str, u32, u32)] = &[
    ("large", 2, 16),
    ("xlarge", 4, 32),
    ("2xlarge", 8, 64),
    ("4xlarge", 16, 128),
    ("8xlarge", 32, 256),
    ("12xlarge", 48, 384),
    ("16xlarge", 64, 512),
    ("24xlarge", 96, 768),
];
const C_ARM_SIZES: &[(&str, u32, u32)] = &[
    ("medium", 1, 8),
    ("large", 2, 16),
    ("xlarge", 4, 32),
    ("2xlarge", 8, 64),
    ("4xlarge", 16, 128),
    ("8xlarge", 32, 256),
    ("12xlarge", 48, 384),
    ("16xlarge", 64, 512),
];
/// Memory optimized: 8 GiB per vCPU.
const R_SIZES: &[(&str, u32, u32)] = &[
    ("large", 2, 64),
    ("xlarge", 4, 128),
    ("2xlarge", 8, 256),
    ("4xlarge", 16, 512),
    ("8xlarge", 32, 1024),
    ("12xlarge", 48, 1536),
    ("16xlarge", 64, 2048),
    ("24xlarge", 96, 3072),
];
const R_ARM_SIZES: &[(&str, u32, u32)] = &[
    ("medium", 1, 32),
    ("large", 2, 64),
    ("xlarge", 4, 128),
    ("2xlarge", 8, 256),
    ("4xlarge", 16, 512),
    ("8xlarge", 32, 1024),
    ("12xlarge", 48, 1536),
    ("16xlarge", 64, 2048),
];

const FAMILIES: &[Family] = &[
    ("t2", X86_I386, T2_SIZES),
    ("t3", X86, T_SIZES),
    ("t3a", X86, T_SIZES),
    ("t4g", ARM, T_SIZES),
    ("m5", X86, M_SIZES),
    ("m5a", X86, M_SIZES),
    ("m6i", X86, M_SIZES),
    ("m6a", X86, M_SIZES),
    ("m7i", X86, M_SIZES),
    ("m6g", ARM, M_ARM_SIZES),
    ("m7g", ARM, M_ARM_SIZES),
    ("c5", X86, C_SIZES),
    ("c5a", X86, C6_SIZES),
    ("c6i", X86, C6_SIZES),
    ("c7i", X86, C6_SIZES),
    ("c6g", ARM, C_ARM_SIZES),
    ("c7g", ARM, C_ARM_SIZES),
    ("r5", X86, R_SIZES),
    ("r6i", X86, R_SIZES),
    ("r7i", X86, R_SIZES),
    ("r6g", ARM, R_ARM_SIZES),
    ("r7g", ARM, R_ARM_SIZES),
];

/// Bare-metal Mac hosts: the only types for `x86_64_mac` and `arm64_mac` images.
const MACS: &[(&str, InstanceType)] = &[
    (
        "mac1.metal",
        InstanceType {
            architectures: &["x86_64_mac"],
            vcpus: 12,
            memory_mib: 32 * 1024,
        },
    ),
    (
        "mac2.metal",
        InstanceType {
            architectures: &["arm64_mac"],
            vcpus: 12,
            memory_mib: 16 * 1024,
        },
    ),
];

/// The instance type called `name`, if AWS has it in this table.
pub(crate) fn lookup(name: &str) -> Option<InstanceType> {
    if let Some((_, m)) = MACS.iter().find(|(n, _)| *n == name) {
        return Some(*m);
    }
    let (family, size) = name.split_once('.')?;
    let (_, archs, sizes) = FAMILIES.iter().find(|(f, _, _)| *f == family)?;
    let (_, vcpus, quarters) = sizes.iter().find(|(s, _, _)| *s == size)?;
    Some(InstanceType {
        architectures: archs,
        vcpus: *vcpus,
        memory_mib: quarters * 256,
    })
}

/// Every type of the table, in table order (families, then sizes; the Macs last), with the
/// architectures it runs: exactly the names [`check`] accepts.
fn all() -> Vec<(String, &'static [&'static str])> {
    let mut out: Vec<(String, &'static [&'static str])> = FAMILIES
        .iter()
        .flat_map(|(family, archs, sizes)| {
            sizes
                .iter()
                .map(move |(size, _, _)| (format!("{family}.{size}"), *archs))
        })
        .collect();
    out.extend(MACS.iter().map(|(n, t)| ((*n).to_owned(), t.architectures)));
    out
}

impl crate::api::Engine {
    /// The instance types RunInstances accepts, each with the architectures of the images it
    /// launches, and the type a launch that names none gets. Read-only; what a front end offers
    /// to pick from, so that it holds no copy of the table.
    pub fn instance_types(&self) -> (Vec<(String, &'static [&'static str])>, &'static str) {
        (all(), DEFAULT_INSTANCE_TYPE)
    }
}

/// Whether `EbsOptimized=true` is allowed: every type of the table but t2 (which has no
/// EBS-optimized option).
pub(crate) fn supports_ebs_optimized(name: &str) -> bool {
    !name.starts_with("t2.")
}

/// Checks `InstanceType` as RunInstances does.
///
/// # Errors
/// `InvalidParameterValue` "Invalid value 'zz.huge' for InstanceType." for a type not in the
/// table.
pub(crate) fn check(name: &str) -> Result<InstanceType> {
    match lookup(name) {
        Some(t) => Ok(t),
        None => bail!(
            Code::INVALID_PARAMETER_VALUE,
            "Invalid value '{name}' for InstanceType."
        ),
    }
}

/// Checks that an image of `image_arch` launches on `t`, with AWS's message.
///
/// # Errors
/// `InvalidParameterValue` when the type does not run the image's architecture.
pub(crate) fn check_architecture(t: &InstanceType, image_arch: &str) -> Result<()> {
    if t.architectures.contains(&image_arch) {
        return Ok(());
    }
    let type_arch = t
        .architectures
        .last()
        .expect("every type has an architecture");
    bail!(
        Code::INVALID_PARAMETER_VALUE,
        "The architecture '{type_arch}' of the specified instance type does not match the \
         architecture '{image_arch}' of the specified AMI. Specify an instance type and an AMI \
         that have matching architectures, and try launching again."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_knows_real_types_with_their_sizes() {
        // (type, architecture, vCPUs, memory MiB) from AWS's instance type specifications.
        let table = [
            ("t2.micro", "x86_64", 1, 1024),
            ("t2.nano", "i386", 1, 512),
            ("t3.micro", "x86_64", 2, 1024),
            ("t3a.large", "x86_64", 2, 8192),
            ("t4g.small", "arm64", 2, 2048),
            ("m5.xlarge", "x86_64", 4, 16384),
            ("m6i.24xlarge", "x86_64", 96, 393_216),
            ("m7g.medium", "arm64", 1, 4096),
            ("c5.9xlarge", "x86_64", 36, 73_728),
            ("c6g.large", "arm64", 2, 4096),
            ("c7i.2xlarge", "x86_64", 8, 16384),
            ("r5.large", "x86_64", 2, 16384),
            ("r7g.16xlarge", "arm64", 64, 524_288),
            ("mac2.metal", "arm64_mac", 12, 16384),
        ];
        for (name, arch, vcpus, mem) in table {
            let t = check(name).unwrap();
            assert!(t.architectures.contains(&arch), "{name}");
            assert_eq!((t.vcpus, t.memory_mib), (vcpus, mem), "{name}");
        }
    }

    #[test]
    fn the_list_is_what_check_accepts() {
        let list = all();
        assert!(list.len() > 100, "{}", list.len());
        for (name, archs) in &list {
            assert_eq!(check(name).unwrap().architectures, *archs, "{name}");
        }
        let names: std::collections::HashSet<&str> = list.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names.len(), list.len(), "no type twice");
        assert!(names.contains(DEFAULT_INSTANCE_TYPE) && names.contains("mac1.metal"));
    }

    #[test]
    fn unknown_types_are_invalid_values() {
        for bad in ["zz.huge", "t3", "t3.", ".micro", "t3.huge", "T3.MICRO", ""] {
            let e = check(bad).unwrap_err();
            assert_eq!(e.code().as_str(), "InvalidParameterValue");
            assert_eq!(
                e.message(),
                format!("Invalid value '{bad}' for InstanceType.")
            );
        }
    }

    #[test]
    fn architecture_must_match_the_image() {
        let arm = check("t4g.micro").unwrap();
        let x86 = check("t3.micro").unwrap();
        assert!(check_architecture(&x86, "x86_64").is_ok());
        assert!(check_architecture(&arm, "arm64").is_ok());
        assert!(check_architecture(&check("t2.micro").unwrap(), "i386").is_ok());
        let e = check_architecture(&arm, "x86_64").unwrap_err();
        assert_eq!(e.code().as_str(), "InvalidParameterValue");
        assert!(e.message().starts_with(
            "The architecture 'arm64' of the specified instance type does not match the \
             architecture 'x86_64' of the specified AMI."
        ));
        assert!(check_architecture(&x86, "arm64").is_err());
        assert!(check_architecture(&x86, "i386").is_err());
        assert!(check_architecture(&check("mac1.metal").unwrap(), "x86_64_mac").is_ok());
    }
}
