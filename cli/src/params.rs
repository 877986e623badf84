//! Parameter values as the AWS CLI reads them: `file://` loads text, `fileb://` loads raw bytes,
//! structures and lists come as JSON or shorthand, blobs as base64.
//!
//! Each `parse_*` function is a clap value parser: a failure becomes a usage error (exit 252)
//! that names the flag. Only the `file://`/`fileb://` loaders touch the file system; the rest is
//! pure.

use crate::shorthand::{self, Shape};
use serde_json::Value;

/// A list-valued argument after loading and parsing: one occurrence may carry several values
/// (a JSON list), so flags collect `Vec<Values>` and the mapping flattens them.
#[derive(Debug, Clone, PartialEq)]
pub struct Values(pub Vec<Value>);

/// Flattens the occurrences of a list flag; `None` when the flag was not given.
pub fn flatten(v: &[Values]) -> Option<Value> {
    if v.is_empty() {
        return None;
    }
    Some(Value::Array(
        v.iter().flat_map(|x| x.0.iter().cloned()).collect(),
    ))
}

/// The most a `file://` or `fileb://` parameter may hold. AWS's largest request bodies are a
/// few MiB (EC2 Query requests are limited well below this, KMS plaintexts to 4 KiB), so a
/// bigger file is a mistake — or a FIFO or device that never ends.
pub const MAX_PARAM_FILE: u64 = 16 << 20;

/// Reads at most [`MAX_PARAM_FILE`] bytes of `path`, refusing a longer file rather than
/// reading it to the end.
fn read_bounded(arg: &str, path: &str) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let file =
        std::fs::File::open(path).map_err(|e| format!("unable to load paramfile {arg}: {e}"))?;
    let mut bytes = Vec::new();
    file.take(MAX_PARAM_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("unable to load paramfile {arg}: {e}"))?;
    if bytes.len() as u64 > MAX_PARAM_FILE {
        return Err(format!(
            "unable to load paramfile {arg}: larger than {} MiB",
            MAX_PARAM_FILE >> 20
        ));
    }
    Ok(bytes)
}

/// Loads `file://PATH` as text; anything else is returned unchanged.
///
/// # Errors
/// The path and the I/O error when the file cannot be read, is not UTF-8 or is larger than
/// [`MAX_PARAM_FILE`].
pub fn load_text(arg: &str) -> Result<String, String> {
    match arg.strip_prefix("file://") {
        Some(path) => String::from_utf8(read_bounded(arg, path)?)
            .map_err(|_| format!("unable to load paramfile {arg}: not UTF-8 text")),
        None => Ok(arg.to_owned()),
    }
}

/// A string request parameter: `file://PATH` loads the file's text (as the AWS CLI does).
///
/// # Errors
/// When a `file://` file cannot be read.
pub fn parse_string(arg: &str) -> Result<String, String> {
    load_text(arg)
}

/// One value of a string-list flag (`--image-ids a b`): a plain string, or a JSON list.
///
/// # Errors
/// When a `file://` file cannot be read or a JSON list is malformed or holds non-strings.
pub fn parse_string_list(arg: &str) -> Result<Values, String> {
    let text = load_text(arg)?;
    if text.trim_start().starts_with('[') {
        let v: Value = serde_json::from_str(&text).map_err(|e| format!("invalid JSON: {e}"))?;
        let items = v.as_array().cloned().unwrap_or_default();
        if let Some(bad) = items.iter().find(|x| !x.is_string()) {
            return Err(format!("expected a list of strings, found {bad}"));
        }
        Ok(Values(items))
    } else {
        Ok(Values(vec![Value::String(text)]))
    }
}

/// A structure, or a list of structures (JSON), or one structure in shorthand.
fn structures(arg: &str, shape: &Shape) -> Result<Values, String> {
    let text = load_text(arg)?;
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') || trimmed.starts_with('{') {
        let v: Value = serde_json::from_str(&text).map_err(|e| format!("invalid JSON: {e}"))?;
        return Ok(Values(match v {
            Value::Array(items) => items,
            one => vec![one],
        }));
    }
    let parsed = shorthand::parse_struct(&text).map_err(|e| {
        format!(
            "not valid JSON or shorthand: {e}; expected e.g. {}",
            example_of(shape)
        )
    })?;
    Ok(Values(vec![shorthand::coerce(
        Value::Object(parsed),
        shape,
        "",
    )?]))
}

fn example_of(shape: &Shape) -> &'static str {
    if std::ptr::eq(shape, &shorthand::FILTER) {
        "Name=encrypted,Values=true"
    } else if std::ptr::eq(shape, &shorthand::BLOCK_DEVICE_MAPPING) {
        "DeviceName=/dev/sdf,Ebs={VolumeSize=8}"
    } else if std::ptr::eq(shape, &shorthand::PLACEMENT) {
        "AvailabilityZone=us-east-1a"
    } else if std::ptr::eq(shape, &shorthand::TAG) {
        "Key=Stack,Value=production"
    } else if std::ptr::eq(shape, &shorthand::TAG_SPECIFICATION) {
        "ResourceType=volume,Tags=[{Key=Name,Value=data}]"
    } else if std::ptr::eq(shape, &shorthand::KMS_TAG) {
        "TagKey=Purpose,TagValue=Test"
    } else {
        "key=value,key2=value2"
    }
}

/// `--filters`: `Name=…,Values=…` shorthand (one filter per value) or a JSON list.
///
/// # Errors
/// Unreadable `file://`, malformed JSON or shorthand.
pub fn parse_filters(arg: &str) -> Result<Values, String> {
    structures(arg, &shorthand::FILTER)
}

/// `--block-device-mappings`: a JSON list (or `file://` of one), or one mapping in shorthand.
///
/// # Errors
/// Unreadable `file://`, malformed JSON or shorthand.
pub fn parse_block_device_mappings(arg: &str) -> Result<Values, String> {
    structures(arg, &shorthand::BLOCK_DEVICE_MAPPING)
}

/// `--tags` of EC2 commands: `Key=…,Value=…` shorthand (one tag per value) or a JSON list.
///
/// # Errors
/// Unreadable `file://`, malformed JSON or shorthand.
pub fn parse_tags(arg: &str) -> Result<Values, String> {
    structures(arg, &shorthand::TAG)
}

/// `--tag-specifications`: `ResourceType=…,Tags=[{Key=…,Value=…}]` shorthand or a JSON list.
///
/// # Errors
/// Unreadable `file://`, malformed JSON or shorthand.
pub fn parse_tag_specifications(arg: &str) -> Result<Values, String> {
    structures(arg, &shorthand::TAG_SPECIFICATION)
}

/// `--tags` of KMS commands: `TagKey=…,TagValue=…` shorthand or a JSON list.
///
/// # Errors
/// Unreadable `file://`, malformed JSON or shorthand.
pub fn parse_kms_tags(arg: &str) -> Result<Values, String> {
    structures(arg, &shorthand::KMS_TAG)
}

/// One structure (`--placement AvailabilityZone=us-east-1a` or JSON).
fn one_structure(arg: &str, shape: &Shape) -> Result<Value, String> {
    let mut v = structures(arg, shape)?.0;
    match (v.pop(), v.is_empty()) {
        (Some(one @ Value::Object(_)), true) => Ok(one),
        _ => Err(format!(
            "expected one structure, e.g. {}",
            example_of(shape)
        )),
    }
}

/// `--launch-permission` / `--create-volume-permission`: `Add=[{UserId=…}],Remove=[{Group=all}]`
/// or JSON.
///
/// # Errors
/// Unreadable `file://`, malformed JSON or shorthand, or not a single structure.
pub fn parse_permission_modifications(arg: &str) -> Result<Value, String> {
    one_structure(arg, &shorthand::PERMISSION_MODIFICATIONS)
}

/// An `AttributeValue` flag (`--description Value=…`, or JSON); plain text is taken as the value.
///
/// # Errors
/// Unreadable `file://`, or malformed JSON.
pub fn parse_attribute_value(arg: &str) -> Result<Value, String> {
    if arg.trim_start().starts_with('{') || arg.starts_with("Value=") {
        return one_structure(arg, &shorthand::ATTRIBUTE_VALUE);
    }
    Ok(serde_json::json!({ "Value": load_text(arg)? }))
}

/// `--placement`.
///
/// # Errors
/// Unreadable `file://`, malformed JSON or shorthand, or not a single structure.
pub fn parse_placement(arg: &str) -> Result<Value, String> {
    one_structure(arg, &shorthand::PLACEMENT)
}

/// `--monitoring Enabled=true` or JSON.
///
/// # Errors
/// Unreadable `file://`, malformed JSON or shorthand, or not a single structure.
pub fn parse_monitoring(arg: &str) -> Result<Value, String> {
    one_structure(arg, &shorthand::MONITORING)
}

/// `--user-data`: the text (or `file://` text, or `fileb://` bytes) base64-encoded, as the AWS
/// CLI sends RunInstances' user data.
///
/// # Errors
/// An unreadable file.
pub fn parse_user_data(arg: &str) -> Result<String, String> {
    if let Some(path) = arg.strip_prefix("fileb://") {
        return Ok(base64_encode(&read_bounded(arg, path)?));
    }
    Ok(base64_encode(load_text(arg)?.as_bytes()))
}

/// `--disk-container Format=VMDK,Url=file:///path` or JSON.
///
/// # Errors
/// When the shorthand or JSON does not fit `SnapshotDiskContainer`.
pub fn parse_disk_container(arg: &str) -> Result<Value, String> {
    one_structure(arg, &shorthand::DISK_CONTAINER)
}

/// `--encryption-context k=v,k2=v2` or a JSON object of strings.
///
/// # Errors
/// Unreadable `file://`, malformed input, or a value that is not a string.
pub fn parse_encryption_context(arg: &str) -> Result<Value, String> {
    let v = one_structure(arg, &shorthand::STRING_MAP)?;
    shorthand::coerce(v, &shorthand::STRING_MAP, "")
}

/// A blob parameter, returned base64-encoded as the engine expects: `fileb://PATH` reads raw
/// bytes; otherwise the value (or the text of `file://PATH`) must already be base64.
///
/// # Errors
/// Unreadable file, or text that is not valid base64.
pub fn parse_blob(arg: &str) -> Result<String, String> {
    if let Some(path) = arg.strip_prefix("fileb://") {
        let bytes = read_bounded(arg, path)?;
        return Ok(base64_encode(&bytes));
    }
    let text = load_text(arg)?;
    let text = text.trim();
    if !is_base64(text) {
        return Err("not valid base64; pass raw bytes with fileb://PATH".into());
    }
    Ok(text.to_owned())
}

/// `--count N` or `--count MIN:MAX` → (MinCount, MaxCount).
///
/// # Errors
/// Anything but one or two positive integers with MIN <= MAX.
pub fn parse_count(arg: &str) -> Result<(u32, u32), String> {
    let num = |s: &str| {
        s.trim()
            .parse::<u32>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| {
                format!("'{s}' is not a positive integer; use N or MIN:MAX, e.g. 1 or 2:4")
            })
    };
    match arg.split_once(':') {
        None => num(arg).map(|n| (n, n)),
        Some((a, b)) => {
            let (min, max) = (num(a)?, num(b)?);
            if min > max {
                return Err(format!("MIN ({min}) is greater than MAX ({max})"));
            }
            Ok((min, max))
        }
    }
}

/// Standard base64 with padding (RFC 4648 §4), as the AWS CLI shows blobs.
pub fn base64_encode(bytes: &[u8]) -> String {
    blockseal_engine::base64::encode(bytes)
}

/// Whether `s` is non-empty canonical standard base64.
pub fn is_base64(s: &str) -> bool {
    !s.is_empty() && blockseal_engine::base64::is_valid(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn filters_in_shorthand_and_json() {
        assert_eq!(
            parse_filters("Name=encrypted,Values=true").unwrap(),
            Values(vec![json!({"Name": "encrypted", "Values": ["true"]})])
        );
        assert_eq!(
            parse_filters("Name=status,Values=pending,completed").unwrap(),
            Values(vec![
                json!({"Name": "status", "Values": ["pending", "completed"]})
            ])
        );
        let j = r#"[{"Name": "a", "Values": ["1"]}, {"Name": "b", "Values": ["2"]}]"#;
        assert_eq!(parse_filters(j).unwrap().0.len(), 2);
        assert_eq!(
            parse_filters(r#"{"Name": "a", "Values": ["1"]}"#).unwrap(),
            Values(vec![json!({"Name": "a", "Values": ["1"]})])
        );
        let e = parse_filters("encrypted").unwrap_err();
        assert!(
            e.contains("Name=encrypted,Values=true"),
            "the error shows an example: {e}"
        );
        let e = parse_filters("[{\"Name\": ").unwrap_err();
        assert!(e.starts_with("invalid JSON"), "{e}");
    }

    #[test]
    fn block_device_mappings() {
        let v = parse_block_device_mappings(
            r#"[{"DeviceName": "/dev/xvda", "Ebs": {"Encrypted": true, "KmsKeyId": "alias/k2"}}]"#,
        )
        .unwrap();
        assert_eq!(v.0[0]["Ebs"]["KmsKeyId"], "alias/k2");
        let v = parse_block_device_mappings(
            "DeviceName=/dev/sdf,Ebs={VolumeSize=4,DeleteOnTermination=false}",
        )
        .unwrap();
        assert_eq!(
            v.0,
            vec![
                json!({"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 4, "DeleteOnTermination": false}})
            ]
        );
        assert!(parse_block_device_mappings("[{\"DeviceName\": ").is_err());
    }

    #[test]
    fn file_urls_load_files() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("bdm.json");
        std::fs::write(
            &f,
            r#"[{"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 1}}]"#,
        )
        .unwrap();
        let v = parse_block_device_mappings(&format!("file://{}", f.display())).unwrap();
        assert_eq!(v.0[0]["DeviceName"], "/dev/sdf");
        let e = parse_block_device_mappings("file:///nonexistent/bdm.json").unwrap_err();
        assert!(
            e.contains("unable to load paramfile file:///nonexistent/bdm.json"),
            "{e}"
        );
        let d = dir.path().join("desc.txt");
        std::fs::write(&d, "from a file").unwrap();
        assert_eq!(
            parse_string(&format!("file://{}", d.display())).unwrap(),
            "from a file"
        );
        assert_eq!(parse_string("plain").unwrap(), "plain");
    }

    #[test]
    fn endless_parameter_files_are_refused_not_read_to_the_end() {
        // /dev/zero never ends: reading it whole would grow until the OOM killer fires.
        let e = parse_blob("fileb:///dev/zero").unwrap_err();
        assert!(e.contains("larger than 16 MiB"), "{e}");
        let e = load_text("file:///dev/zero").unwrap_err();
        assert!(e.contains("larger than 16 MiB"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("big.bin");
        std::fs::write(&f, vec![7u8; (MAX_PARAM_FILE + 1) as usize]).unwrap();
        assert!(parse_blob(&format!("fileb://{}", f.display())).is_err());
        std::fs::write(&f, vec![7u8; MAX_PARAM_FILE as usize]).unwrap();
        assert!(parse_blob(&format!("fileb://{}", f.display())).is_ok());
    }

    #[test]
    fn placement_and_encryption_context() {
        assert_eq!(
            parse_placement("AvailabilityZone=us-east-1b").unwrap(),
            json!({"AvailabilityZone": "us-east-1b"})
        );
        assert_eq!(
            parse_placement(r#"{"AvailabilityZone": "us-east-1c"}"#).unwrap(),
            json!({"AvailabilityZone": "us-east-1c"})
        );
        assert!(parse_placement("[]").is_err());
        assert_eq!(
            parse_encryption_context("aws:ebs:id=vol-1,purpose=test").unwrap(),
            json!({"aws:ebs:id": "vol-1", "purpose": "test"})
        );
        assert_eq!(
            parse_encryption_context(r#"{"k": "v"}"#).unwrap(),
            json!({"k": "v"})
        );
        assert!(parse_encryption_context(r#"{"k": 1}"#).is_err());
    }

    #[test]
    fn string_lists() {
        assert_eq!(
            parse_string_list("ami-1").unwrap(),
            Values(vec![json!("ami-1")])
        );
        assert_eq!(
            parse_string_list(r#"["ami-1", "ami-2"]"#).unwrap(),
            Values(vec![json!("ami-1"), json!("ami-2")])
        );
        assert!(parse_string_list("[1]").is_err());
        assert_eq!(flatten(&[]), None);
        assert_eq!(
            flatten(&[
                Values(vec![json!("a")]),
                Values(vec![json!("b"), json!("c")])
            ]),
            Some(json!(["a", "b", "c"]))
        );
    }

    #[test]
    fn counts() {
        assert_eq!(parse_count("1"), Ok((1, 1)));
        assert_eq!(parse_count("2:4"), Ok((2, 4)));
        assert!(parse_count("0").is_err());
        assert!(parse_count("4:2").is_err());
        assert!(parse_count("x").is_err());
        assert!(parse_count("1:").is_err());
    }

    #[test]
    fn base64_round_trips_known_vectors() {
        // RFC 4648 §10 test vectors.
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, enc) in cases {
            assert_eq!(base64_encode(plain.as_bytes()), enc);
            if !enc.is_empty() {
                assert!(is_base64(enc), "{enc}");
            }
        }
        assert!(!is_base64("Zm9"));
        assert!(!is_base64("Zm9v!A=="));
        assert!(!is_base64("Z==="));
    }

    #[test]
    fn blobs() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("raw.bin");
        std::fs::write(&f, b"foobar").unwrap();
        assert_eq!(
            parse_blob(&format!("fileb://{}", f.display())).unwrap(),
            "Zm9vYmFy"
        );
        assert_eq!(parse_blob("Zm9vYmFy").unwrap(), "Zm9vYmFy");
        assert!(parse_blob("not base64!").unwrap_err().contains("fileb://"));
        assert!(parse_blob("fileb:///nonexistent").is_err());
    }
}
