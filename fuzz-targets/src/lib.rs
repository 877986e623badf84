//! blockseal's fuzz targets: every parser that takes outside bytes, as a plain `fn(&[u8])` that
//! must not panic and asserts the parser's promises (round trips, the error code of a refusal).
//! The same functions run under libFuzzer (`fuzz/`, nightly), under this crate's mutation driver
//! on the stable toolchain (`cargo run -p blockseal-fuzz --release -- TARGET`), and in the
//! regression test over the committed corpus (`fuzz/corpus/TARGET/`). fuzz/README.md says how.
//!
//! The engine's and the endpoint's targets live beside their parsers (`blockseal_engine::fuzzing`,
//! `blockseal_server::fuzzing`); the CLI is a binary, so its pure parser modules are compiled
//! here from its sources.

#![forbid(unsafe_code)]

pub mod mutate;

/// The CLI's shorthand parser, compiled from the CLI's source (a binary crate cannot be a
/// dependency). Its value parsers that the targets do not call are unused here.
#[allow(dead_code)]
#[path = "../../cli/src/shorthand.rs"]
mod shorthand;

/// The CLI's parameter parsers (`file://`, JSON, shorthand, base64), from the CLI's source.
#[allow(dead_code)]
#[path = "../../cli/src/params.rs"]
mod params;

/// The targets.
pub mod targets {
    use super::{params, shorthand};
    use serde_json::{json, Value};

    pub use blockseal_engine::fuzzing::{
        blob_header, ciphertext, disk_image, ids, key_ref, request,
    };
    pub use blockseal_server::fuzzing::{api_request, http_request, query_form, sigv4};

    /// A CLI shorthand argument (`Name=encrypted,Values=true`, `Ebs={VolumeSize=8}`).
    /// Properties: parsing never panics; a refusal names a position inside the input; keys are
    /// non-empty and trimmed; typing the result against every request shape never panics, and
    /// a typed value has the shape's JSON types.
    pub fn shorthand(data: &[u8]) {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        match shorthand::parse_struct(text) {
            Ok(map) => {
                for key in map.keys() {
                    assert!(!key.is_empty() && key.trim() == key, "key {key:?}");
                }
                let value = Value::Object(map);
                for shape in [
                    &shorthand::FILTER,
                    &shorthand::BLOCK_DEVICE_MAPPING,
                    &shorthand::PLACEMENT,
                    &shorthand::STRING_MAP,
                ] {
                    let Ok(typed) = shorthand::coerce(value.clone(), shape, "") else {
                        continue;
                    };
                    assert!(typed.is_object());
                    if std::ptr::eq(shape, &shorthand::BLOCK_DEVICE_MAPPING) {
                        if let Some(size) = typed.pointer("/Ebs/VolumeSize") {
                            assert!(size.is_i64(), "VolumeSize typed as {size}");
                        }
                        if let Some(encrypted) = typed.pointer("/Ebs/Encrypted") {
                            assert!(encrypted.is_boolean(), "Encrypted typed as {encrypted}");
                        }
                    }
                    if std::ptr::eq(shape, &shorthand::FILTER) {
                        if let Some(values) = typed.get("Values") {
                            assert!(values.is_array(), "Values typed as {values}");
                        }
                    }
                }
            }
            Err(e) => {
                assert!(e.position <= text.chars().count(), "{e}");
                assert!(!e.message.is_empty());
            }
        }
    }

    /// A CLI parameter value as each structured flag reads it (JSON, shorthand, base64, counts),
    /// then the engine request the CLI would build from it. Properties: no parser panics;
    /// accepted counts are 1 ≤ MIN ≤ MAX; an accepted blob is canonical base64; the requests
    /// built from accepted filters, mappings, placements and contexts parse in the engine or
    /// are refused as the client's error. `file://` and `fileb://` values name files to load,
    /// which is I/O rather than parsing: those inputs are skipped.
    pub fn cli_params(data: &[u8]) {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        if text.starts_with("file://") || text.starts_with("fileb://") {
            return;
        }
        if let Ok((min, max)) = params::parse_count(text) {
            assert!(1 <= min && min <= max, "{min}:{max}");
        }
        if let Ok(blob) = params::parse_blob(text) {
            assert!(params::is_base64(&blob));
            assert!(blockseal_engine::base64::decode(&blob).is_ok());
        }
        if let Ok(list) = params::parse_string_list(text) {
            let ids = params::flatten(&[list]).expect("one occurrence");
            engine_request("DescribeImages", json!({ "ImageIds": ids }));
        }
        if let Ok(filters) = params::parse_filters(text) {
            let filters = params::flatten(&[filters]).expect("one occurrence");
            engine_request("DescribeSnapshots", json!({ "Filters": filters }));
        }
        if let Ok(mappings) = params::parse_block_device_mappings(text) {
            let mappings = params::flatten(&[mappings]).expect("one occurrence");
            engine_request(
                "RunInstances",
                json!({"ImageId": "ami-0123456789abcdef0", "BlockDeviceMappings": mappings}),
            );
        }
        if let Ok(placement) = params::parse_placement(text) {
            assert!(placement.is_object());
            engine_request(
                "RunInstances",
                json!({"ImageId": "ami-0123456789abcdef0", "Placement": placement}),
            );
        }
        if let Ok(context) = params::parse_encryption_context(text) {
            let map = context.as_object().expect("a context is an object");
            assert!(map.values().all(Value::is_string));
            engine_request(
                "Encrypt",
                json!({"KeyId": "alias/k", "Plaintext": "aGVsbG8=", "EncryptionContext": context}),
            );
        }
    }

    fn engine_request(op: &str, body: Value) {
        blockseal_engine::fuzzing::request_value(op, body);
    }
}

/// One fuzz target: its name (the corpus folder, the libFuzzer binary, the dictionary file) and
/// its function.
#[derive(Clone, Copy)]
pub struct Target {
    /// The name on the command line and under `fuzz/`.
    pub name: &'static str,
    /// The target.
    pub run: fn(&[u8]),
    /// Inputs a target's generator makes (valid headers and ciphertexts from the encoders),
    /// written into its corpus by `blockseal-fuzz seed`.
    pub generated: Option<fn() -> Vec<Vec<u8>>>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// Every target, in the order the driver runs `all`.
pub const TARGETS: &[Target] = &[
    Target {
        name: "blob_header",
        run: targets::blob_header,
        generated: Some(blockseal_engine::fuzzing::blob_header_seeds),
    },
    Target {
        name: "ids",
        run: targets::ids,
        generated: None,
    },
    Target {
        name: "disk_image",
        run: targets::disk_image,
        generated: None,
    },
    Target {
        name: "key_ref",
        run: targets::key_ref,
        generated: None,
    },
    Target {
        name: "ciphertext",
        run: targets::ciphertext,
        generated: Some(blockseal_engine::fuzzing::ciphertext_seeds),
    },
    Target {
        name: "request",
        run: targets::request,
        generated: None,
    },
    Target {
        name: "shorthand",
        run: targets::shorthand,
        generated: None,
    },
    Target {
        name: "cli_params",
        run: targets::cli_params,
        generated: None,
    },
    Target {
        name: "http_request",
        run: targets::http_request,
        generated: None,
    },
    Target {
        name: "api_request",
        run: targets::api_request,
        generated: None,
    },
    Target {
        name: "query_form",
        run: targets::query_form,
        generated: None,
    },
    Target {
        name: "sigv4",
        run: targets::sigv4,
        generated: None,
    },
];

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// The `fuzz/` folder of the repository (corpora, dictionaries, the libFuzzer harnesses).
pub fn fuzz_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate sits in the repository")
        .join("fuzz")
}

/// The committed corpus of `target`: every file under `fuzz/corpus/<name>/`, sorted by name.
///
/// # Errors
/// When the folder cannot be read.
pub fn corpus(target: &Target) -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let dir = fuzz_dir().join("corpus").join(target.name);
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            let name = entry.file_name().to_string_lossy().into_owned();
            out.push((name, std::fs::read(entry.path())?));
        }
    }
    out.sort();
    Ok(out)
}

/// The dictionary of `target` (`fuzz/dict/<name>.dict`, libFuzzer's format), empty without one.
///
/// # Errors
/// When the file exists but cannot be read or has a malformed line.
pub fn dictionary(target: &Target) -> std::io::Result<Vec<Vec<u8>>> {
    let path = fuzz_dir()
        .join("dict")
        .join(format!("{}.dict", target.name));
    match std::fs::read_to_string(&path) {
        Ok(text) => mutate::parse_dictionary(&text).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}
