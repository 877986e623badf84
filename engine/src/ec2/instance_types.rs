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

/// How a family's sizes get their vCPUs and memory.
#[derive(Clone, Copy)]
enum Rule {
    /// Burstable: memory doubles from nano's 0.5 GiB at each size; nano, micro and small have
    /// `small_vcpus`, medium and large 2, larger sizes as [`size_vcpus`] says.
    Burstable { small_vcpus: u32 },
    /// This many GiB per vCPU, vCPUs as [`size_vcpus`] says.
    GibPerVcpu(u32),
}

/// One row of [`FAMILIES`]: families sharing architectures, sizes and rule.
struct Families {
    names: &'static [&'static str],
    architectures: &'static [&'static str],
    sizes: &'static [&'static str],
    rule: Rule,
}

const BURSTABLE: &[&str] = &[
    "nano", "micro", "small", "medium", "large", "xlarge", "2xlarge",
];
/// Intel and AMD general purpose, memory optimized and the newer compute optimized.
const STANDARD: &[&str] = &[
    "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge",
];
/// c5 has 9xlarge and 18xlarge where the others have 8xlarge and 16xlarge.
const C5: &[&str] = &[
    "large", "xlarge", "2xlarge", "4xlarge", "9xlarge", "12xlarge", "18xlarge", "24xlarge",
];
/// Graviton: medium too, up to 16xlarge.
const GRAVITON: &[&str] = &[
    "medium", "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge",
];

/// Every family of the table, in the order [`all`] lists them.
const FAMILIES: &[Families] = &[
    Families {
        names: &["t2"],
        architectures: X86_I386,
        sizes: BURSTABLE,
        rule: Rule::Burstable { small_vcpus: 1 },
    },
    Families {
        names: &["t3", "t3a"],
        architectures: X86,
        sizes: BURSTABLE,
        rule: Rule::Burstable { small_vcpus: 2 },
    },
    Families {
        names: &["t4g"],
        architectures: ARM,
        sizes: BURSTABLE,
        rule: Rule::Burstable { small_vcpus: 2 },
    },
    Families {
        names: &["m5", "m5a", "m6i", "m6a", "m7i"],
        architectures: X86,
        sizes: STANDARD,
        rule: Rule::GibPerVcpu(4),
    },
    Families {
        names: &["m6g", "m7g"],
        architectures: ARM,
        sizes: GRAVITON,
        rule: Rule::GibPerVcpu(4),
    },
    Families {
        names: &["c5"],
        architectures: X86,
        sizes: C5,
        rule: Rule::GibPerVcpu(2),
    },
    Families {
        names: &["c5a", "c6i", "c7i"],
        architectures: X86,
        sizes: STANDARD,
        rule: Rule::GibPerVcpu(2),
    },
    Families {
        names: &["c6g", "c7g"],
        architectures: ARM,
        sizes: GRAVITON,
        rule: Rule::GibPerVcpu(2),
    },
    Families {
        names: &["r5", "r6i", "r7i"],
        architectures: X86,
        sizes: STANDARD,
        rule: Rule::GibPerVcpu(8),
    },
    Families {
        names: &["r6g", "r7g"],
        architectures: ARM,
        sizes: GRAVITON,
        rule: Rule::GibPerVcpu(8),
    },
];

/// The vCPUs of a size of the non-burstable families: medium 1, large 2, xlarge 4 and
/// `N`xlarge 4·`N`.
fn size_vcpus(size: &str) -> Option<u32> {
    match size {
        "medium" => Some(1),
        "large" => Some(2),
        "xlarge" => Some(4),
        _ => size
            .strip_suffix("xlarge")?
            .parse::<u32>()
            .ok()
            .map(|n| 4 * n),
    }
}

impl Families {
    /// The type of size `sizes[index]` of a family of this row.
    fn sized(&self, index: usize) -> InstanceType {
        let size = self.sizes[index];
        let (vcpus, memory_mib) = match self.rule {
            Rule::Burstable { small_vcpus } => {
                let vcpus = match size {
                    "nano" | "micro" | "small" => small_vcpus,
                    "medium" => 2,
                    _ => size_vcpus(size).expect("burstable sizes are named by the table"),
                };
                (vcpus, 512 << index)
            }
            Rule::GibPerVcpu(gib) => {
                let vcpus = size_vcpus(size).expect("the table's sizes all name their vCPUs");
                (vcpus, vcpus * gib * 1024)
            }
        };
        InstanceType {
            architectures: self.architectures,
            vcpus,
            memory_mib,
        }
    }
}

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
    let row = FAMILIES.iter().find(|f| f.names.contains(&family))?;
    let index = row.sizes.iter().position(|s| *s == size)?;
    Some(row.sized(index))
}

/// Every type of the table with its name: each family's sizes smallest first, then the Macs.
/// Every type of the table, in table order (families, then sizes; the Macs last): exactly the
/// names [`check`] accepts.
fn all() -> impl Iterator<Item = (String, InstanceType)> {
    let sized = FAMILIES.iter().flat_map(|row| {
        row.names.iter().flat_map(move |family| {
            (0..row.sizes.len()).map(move |i| (format!("{family}.{}", row.sizes[i]), row.sized(i)))
        })
    });
    sized.chain(MACS.iter().map(|(n, t)| ((*n).to_owned(), *t)))
}

impl crate::api::Engine {
    /// The instance types RunInstances accepts, each with the architectures of the images it
    /// launches, and the type a launch that names none gets. Read-only; what a front end offers
    /// to pick from, so that it holds no copy of the table.
    pub fn instance_types(&self) -> (Vec<(String, &'static [&'static str])>, &'static str) {
        let types = all().map(|(n, t)| (n, t.architectures)).collect();
        (types, DEFAULT_INSTANCE_TYPE)
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

    /// The table as `engine/tests/fixtures/instance_types.txt` writes it: one type a line,
    /// `name architectures vcpus memory_mib`.
    fn listed() -> Vec<String> {
        all()
            .map(|(name, t)| {
                let archs = t.architectures.join(",");
                format!("{name} {archs} {} {}", t.vcpus, t.memory_mib)
            })
            .collect()
    }

    #[test]
    fn the_table_is_the_one_of_the_fixture() {
        // The fixture is the list as it was when the table was written size by size: a change
        // to the families or rules that adds, drops or resizes a type shows here.
        let fixture = include_str!("../../tests/fixtures/instance_types.txt");
        let want: Vec<&str> = fixture.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(listed(), want);
        for line in want {
            let name = line.split(' ').next().unwrap();
            let (n, t) = all().find(|(n, _)| n == name).unwrap();
            assert_eq!(lookup(&n), Some(t), "{name}");
        }
    }

    /// botocore's EC2 `InstanceType` enum, read by the Python of the workspace's `.venv`
    /// (`$BLOCKSEAL_TEST_PYTHON` if set), or why it cannot be.
    fn botocore_instance_types() -> std::result::Result<Vec<String>, String> {
        let python = std::env::var_os("BLOCKSEAL_TEST_PYTHON")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python")
            });
        // botocore's loader reads its service-2.json, compressed or not.
        let script = "import botocore.session\n\
                      m = botocore.session.get_session().get_service_model('ec2')\n\
                      print('\\n'.join(m.shape_for('InstanceType').enum))";
        let out = std::process::Command::new(&python)
            .args(["-c", script])
            .output()
            .map_err(|e| format!("{}: {e}", python.display()))?;
        if !out.status.success() {
            return Err(format!(
                "{} has no botocore: {}",
                python.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let names = String::from_utf8(out.stdout).map_err(|e| e.to_string())?;
        Ok(names.lines().map(str::to_owned).collect())
    }

    #[test]
    fn every_type_is_one_botocore_knows() {
        let known = match botocore_instance_types() {
            Ok(known) => known,
            Err(why) if std::env::var("CI").as_deref() != Ok("true") => {
                eprintln!("skipping the botocore instance type check: {why}");
                return;
            }
            Err(why) => panic!("CI must check the instance types against botocore: {why}"),
        };
        assert!(known.len() > 100, "botocore's enum: {known:?}");
        let unknown: Vec<String> = all()
            .map(|(n, _)| n)
            .filter(|n| !known.contains(n))
            .collect();
        assert!(
            unknown.is_empty(),
            "not in botocore's InstanceType: {unknown:?}"
        );
    }

    #[test]
    fn the_list_is_what_check_accepts() {
        let list: Vec<(String, InstanceType)> = all().collect();
        assert!(list.len() > 100, "{}", list.len());
        for (name, t) in &list {
            assert_eq!(
                check(name).unwrap().architectures,
                t.architectures,
                "{name}"
            );
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
