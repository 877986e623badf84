//! The web console: a page at `/` and its JSON calls under `/console/`, on the API's port.
//!
//! The page is one HTML file, one hand-written JavaScript module and one stylesheet, all in the
//! binary. Its calls are the engine's operations, parsed by [`Request::parse`] and run by
//! [`Engine::call`] exactly as the API runs them, as the principal and in the region the page
//! has selected; this module holds no EC2 or KMS rule. Its read-only extras are the engine's
//! own: the copy previews ([`Engine::preview_copy_image`], [`Engine::preview_copy_snapshot`]),
//! the instance types RunInstances accepts ([`Engine::instance_types`]) and the home's accounts
//! ([`Engine::accounts`]). A disk image comes in through the EBS direct APIs
//! (StartSnapshot, PutSnapshotBlock, CompleteSnapshot) run by [`Engine::ebs`], as the endpoint
//! runs them; only a block's bytes travel differently, base64 in the call's JSON.
//!
//! Who may call: whoever holds the token `blockseal serve` prints in the console's URL (as
//! Jupyter does). The page keeps it in the tab's session storage and sends it in a custom header
//! on every call, which also stops cross-site requests (a browser sends a custom header
//! cross-origin only after a CORS preflight, which is never answered here). Operations that
//! return secrets (access keys, plaintext data keys) are not among the ones the console may
//! call.

use crate::http::{Request, Response};
use blockseal_engine::{Code, EbsRequest, Engine, Error, NoProgress, Request as Op};
use serde_json::{json, Value};
use std::sync::Arc;
use zeroize::Zeroizing;

/// The header the page sends its token in.
pub const TOKEN_HEADER: &str = "x-blockseal-console-token";

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");

/// The operations the console may call: what its pages show and do. Not here: the IAM access
/// key operations (CreateAccessKey answers a secret), KMS Encrypt/Decrypt/GenerateDataKey*
/// (plaintext), the EBS direct APIs that read blocks (GetSnapshotBlock answers a snapshot's
/// plaintext) and export. The three that write a snapshot answer ids, states and the block's
/// own checksum, nothing secret.
pub const OPERATIONS: &[&str] = &[
    "StartSnapshot",
    "PutSnapshotBlock",
    "CompleteSnapshot",
    "RegisterImage",
    "ListUsers",
    "DescribeImages",
    "CopyImage",
    "CreateImage",
    "DeregisterImage",
    "DescribeInstances",
    "RunInstances",
    "StartInstances",
    "StopInstances",
    "TerminateInstances",
    "DescribeVolumes",
    "CreateVolume",
    "DeleteVolume",
    "AttachVolume",
    "DetachVolume",
    "DescribeSnapshots",
    "CreateSnapshot",
    "CopySnapshot",
    "DeleteSnapshot",
    "GetEbsEncryptionByDefault",
    "EnableEbsEncryptionByDefault",
    "DisableEbsEncryptionByDefault",
    "GetEbsDefaultKmsKeyId",
    "ModifyEbsDefaultKmsKeyId",
    "ResetEbsDefaultKmsKeyId",
    "DescribeRegions",
    "DescribeAvailabilityZones",
    "CreateKey",
    "DescribeKey",
    "ListKeys",
    "ListAliases",
    "CreateAlias",
    "UpdateAlias",
    "DeleteAlias",
    "EnableKey",
    "DisableKey",
    "ScheduleKeyDeletion",
    "CancelKeyDeletion",
    "CreateGrant",
    "ListGrants",
    "RevokeGrant",
];

/// The EBS direct API operations among [`OPERATIONS`], run by [`Engine::ebs`].
const EBS_OPERATIONS: &[&str] = &["StartSnapshot", "PutSnapshotBlock", "CompleteSnapshot"];

/// The console over one engine.
pub struct Console {
    engine: Arc<Engine>,
    token: Zeroizing<String>,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console").finish_non_exhaustive()
    }
}

/// What the console made of one request, for the log line.
#[derive(Debug)]
pub struct Handled {
    /// The HTTP response.
    pub response: Response,
    /// `console.Operation`, or the path served.
    pub operation: String,
    /// The acting principal's ARN, or `-`.
    pub principal: String,
}

impl Console {
    /// The console of `engine`, opened by `token`.
    pub fn new(engine: Arc<Engine>, token: Zeroizing<String>) -> Console {
        Console { engine, token }
    }

    /// A fresh random token: 64 hex digits (two random v4 UUIDs, 244 random bits).
    pub fn new_token() -> Zeroizing<String> {
        let mut t = Zeroizing::new(String::with_capacity(64));
        for _ in 0..2 {
            t.extend(
                blockseal_engine::new_request_id()
                    .chars()
                    .filter(|c| *c != '-'),
            );
        }
        t
    }

    /// The page's address on the server at `base` (`http://host:port`), token included. The
    /// token is in the fragment, which browsers never send to the server.
    pub fn url(&self, base: &str) -> String {
        format!("{base}/#token={}", self.token.as_str())
    }

    /// Whether `req` is for the console rather than the API: anything under `/console/`, and a
    /// plain GET of `/` (an EC2 Query GET carries `Action=` and a signature, which the console's
    /// page never has).
    pub fn wants(req: &Request) -> bool {
        if req.path.starts_with("/console/") {
            return true;
        }
        (req.method == "GET" || req.method == "HEAD")
            && req.path == "/"
            && req.header("authorization").is_none()
            && !req.query.split('&').any(|p| {
                let k = p.split('=').next().unwrap_or("");
                k == "Action" || k.starts_with("X-Amz-")
            })
    }

    /// Answers one console request.
    pub fn handle(&self, req: &Request) -> Handled {
        let mut operation = req.path.clone();
        let mut principal = String::from("-");
        let response = match (req.method.as_str(), req.path.as_str()) {
            ("GET" | "HEAD", "/") => asset("text/html; charset=utf-8", INDEX_HTML),
            ("GET" | "HEAD", "/console/app.js") => asset("text/javascript; charset=utf-8", APP_JS),
            ("GET" | "HEAD", "/console/app.css") => asset("text/css; charset=utf-8", APP_CSS),
            ("POST", "/console/call") => {
                self.api(req, &mut operation, &mut principal, |engine, ctx, body| {
                    let op = body["Operation"].as_str().unwrap_or_default();
                    if !OPERATIONS.contains(&op) {
                        return Err(Error::new(
                            Code::INVALID_ACTION,
                            format!("The action {op} is not available in the console."),
                        ));
                    }
                    let input = body.get("Input").cloned().unwrap_or(Value::Null);
                    if EBS_OPERATIONS.contains(&op) {
                        return ebs(engine, ctx, op, input);
                    }
                    let out = engine.call(ctx, Op::parse(op, input)?, &NoProgress)?;
                    Ok(serde_json::to_value(&out).expect("responses serialize"))
                })
            }
            ("POST", "/console/preview-copy-snapshot") => {
                self.api(req, &mut operation, &mut principal, |engine, ctx, body| {
                    let input = body.get("Input").cloned().unwrap_or(Value::Null);
                    let row = engine.preview_copy_snapshot(ctx, input)?;
                    Ok(json!({ "Snapshot": row }))
                })
            }
            ("POST", "/console/instance-types") => {
                self.api(req, &mut operation, &mut principal, |engine, _, _| {
                    let (types, default) = engine.instance_types();
                    let types: Vec<Value> = types
                        .into_iter()
                        .map(
                            |(name, archs)| json!({ "InstanceType": name, "Architectures": archs }),
                        )
                        .collect();
                    Ok(json!({ "InstanceTypes": types, "Default": default }))
                })
            }
            ("POST", "/console/accounts") => {
                self.api(req, &mut operation, &mut principal, |engine, _, _| {
                    let accounts: Vec<Value> = engine
                        .accounts()?
                        .into_iter()
                        .map(|a| json!({ "Id": a.id, "Name": a.name }))
                        .collect();
                    Ok(json!({ "Accounts": accounts }))
                })
            }
            ("POST", "/console/preview-copy-image") => {
                self.api(req, &mut operation, &mut principal, |engine, ctx, body| {
                    let input = body.get("Input").cloned().unwrap_or(Value::Null);
                    let rows = engine.preview_copy_image(ctx, input)?;
                    Ok(json!({ "Snapshots": rows }))
                })
            }
            (_, "/" | "/console/app.js" | "/console/app.css" | "/console/call")
            | (
                _,
                "/console/preview-copy-image"
                | "/console/preview-copy-snapshot"
                | "/console/instance-types"
                | "/console/accounts",
            ) => problem(
                405,
                "MethodNotAllowed",
                &format!("{} is not allowed on {}.", req.method, req.path),
            ),
            _ => problem(
                404,
                "NotFound",
                &format!("No console page at {}.", req.path),
            ),
        };
        Handled {
            response,
            operation,
            principal,
        }
    }

    /// A JSON call: checks the token, reads `{"Region", "Principal", …}`, makes the context
    /// (asynchronous, as the API's: data work runs as jobs) and runs `f`.
    fn api(
        &self,
        req: &Request,
        operation: &mut String,
        principal: &mut String,
        f: impl FnOnce(&Engine, &blockseal_engine::Context, &Value) -> blockseal_engine::Result<Value>,
    ) -> Response {
        let sent = req.header(TOKEN_HEADER).unwrap_or("");
        if !constant_time_eq(sent.as_bytes(), self.token.as_bytes()) {
            return problem(
                403,
                "AuthFailure",
                "The console token is missing or wrong: open the URL `blockseal serve` printed.",
            );
        }
        let body: Value = match serde_json::from_slice(&req.body) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                return problem(
                    400,
                    "InvalidParameterValue",
                    "The console's request body must be a JSON object.",
                )
            }
        };
        *operation = format!(
            "console.{}",
            body["Operation"].as_str().unwrap_or(&req.path[9..])
        );
        let region = body["Region"].as_str().unwrap_or("us-east-1");
        // `USER` of the home's first account, or `ACCOUNT:USER` (as a CLI profile names one).
        let who = body["Principal"].as_str().unwrap_or("admin");
        let out = self
            .engine
            .profile_context(region, who)
            // The console reads no file of the server's (ImportSnapshot is not among its
            // operations; were it added, it would import from nowhere).
            .map(|c| c.asynchronous().with_import_dirs(Vec::new()))
            .and_then(|ctx| {
                *principal = ctx.principal_arn();
                f(&self.engine, &ctx, &body)
            });
        match out {
            Ok(v) => Response::new(
                200,
                "application/json",
                serde_json::to_vec(&v).expect("JSON values serialize"),
            )
            .header("Cache-Control", "no-store"),
            // The operation's answer, a refusal included, is the call's result: 200 with AWS's
            // code and message, as the page shows them (and a browser logs no failed load for a
            // refusal the user is meant to read). Only the envelope's own failures are 4xx.
            Err(e) if e.code() != Code::INTERNAL_ERROR => {
                problem(200, e.code().as_str(), e.message())
            }
            Err(e) => problem(500, e.code().as_str(), e.message()),
        }
    }
}

/// Runs EBS direct API operation `op`. PutSnapshotBlock's block comes base64 in `BlockData`
/// (a 512 KiB block is 683 KiB of base64 in a body of about 700 KiB: well inside the server's
/// `Limits::max_body` of 32 MiB, and inside the 1 MiB body buffer a connection keeps between
/// requests, so a stream of blocks reuses it), decoded here and handed to the engine as the
/// endpoint hands it a raw body.
fn ebs(
    engine: &Engine,
    ctx: &blockseal_engine::Context,
    op: &str,
    mut input: Value,
) -> blockseal_engine::Result<Value> {
    let mut block = None;
    if op == "PutSnapshotBlock" {
        let data = input
            .as_object_mut()
            .and_then(|o| o.remove("BlockData"))
            .unwrap_or(Value::Null);
        let Some(text) = data.as_str() else {
            return Err(Error::new(
                Code::VALIDATION_EXCEPTION,
                "BlockData is required: the block, base64. (Reason: INVALID_PARAMETER_VALUE)",
            ));
        };
        block = Some(blockseal_engine::base64::decode(text).map_err(|_| {
            Error::new(
                Code::VALIDATION_EXCEPTION,
                "BlockData is not valid base64. (Reason: INVALID_PARAMETER_VALUE)",
            )
        })?);
    }
    let out = engine.ebs(ctx, EbsRequest::parse(op, input)?, block.as_deref_mut())?;
    Ok(serde_json::to_value(&out).expect("responses serialize"))
}

/// An embedded file, with headers that keep the page to its own origin.
fn asset(content_type: &str, body: &str) -> Response {
    Response::new(200, content_type, body.as_bytes().to_vec())
        .header(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; \
             form-action 'none'",
        )
        .header("X-Content-Type-Options", "nosniff")
        .header("Referrer-Policy", "no-referrer")
        .header("Cache-Control", "no-cache")
}

/// An error as the page reads it: `{"Error": {"Code", "Message"}}`.
fn problem(status: u16, code: &str, message: &str) -> Response {
    let body = json!({ "Error": { "Code": code, "Message": message } });
    Response::new(
        status,
        "application/json",
        serde_json::to_vec(&body).expect("JSON values serialize"),
    )
    .header("Cache-Control", "no-store")
}

/// Compares without leaking, through timing, how much of the token a guess got right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, path: &str, query: &str, headers: &[(&str, &str)]) -> Request {
        Request {
            method: method.into(),
            path: path.into(),
            query: query.into(),
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            body: Vec::new(),
            peer: "127.0.0.1:1".parse().unwrap(),
        }
    }

    #[test]
    fn the_api_keeps_its_routes() {
        assert!(Console::wants(&req("GET", "/", "", &[])));
        assert!(Console::wants(&req("POST", "/console/call", "", &[])));
        assert!(Console::wants(&req("GET", "/console/app.js", "", &[])));
        // EC2 Query: a signed POST of `/`, a presigned GET, a GET with an Authorization header.
        assert!(!Console::wants(&req("POST", "/", "", &[])));
        assert!(!Console::wants(&req(
            "GET",
            "/",
            "Action=DescribeRegions&X-Amz-Signature=00",
            &[]
        )));
        assert!(!Console::wants(&req(
            "GET",
            "/",
            "",
            &[("Authorization", "AWS4-HMAC-SHA256 …")]
        )));
        // The EBS direct APIs.
        assert!(!Console::wants(&req(
            "GET",
            "/snapshots/snap-0123456789abcdef0/blocks",
            "",
            &[]
        )));
    }

    /// A console over a fresh home, and a function making its JSON calls.
    fn console() -> (tempfile::TempDir, Console, Zeroizing<String>) {
        let dir = tempfile::tempdir().unwrap();
        let engine = Arc::new(Engine::open(dir.path()).unwrap());
        let token = Console::new_token();
        (dir, Console::new(engine, token.clone()), token)
    }

    fn call(c: &Console, token: &str, path: &str, body: Value) -> Value {
        let mut r = req("POST", path, "", &[(TOKEN_HEADER, token)]);
        r.body = serde_json::to_vec(&body).unwrap();
        let h = c.handle(&r);
        assert_eq!(h.response.status, 200, "{path} {body}");
        serde_json::from_slice(&h.response.body).unwrap()
    }

    #[test]
    fn a_disk_image_comes_in_block_by_block_and_reads_back() {
        let (_dir, c, token) = console();
        let op = |name: &str, input: Value| {
            call(
                &c,
                &token,
                "/console/call",
                json!({ "Operation": name, "Input": input }),
            )
        };
        let started = op("StartSnapshot", json!({ "VolumeSize": 1 }));
        let id = started["SnapshotId"].as_str().unwrap().to_owned();
        assert_eq!(started["BlockSize"], 524_288);
        let block: Vec<u8> = (0..524_288u32).map(|i| (i % 251) as u8).collect();
        let put = |index: u64, data: &[u8], checksum: &str| {
            op(
                "PutSnapshotBlock",
                json!({ "SnapshotId": id, "BlockIndex": index, "DataLength": 524_288,
                        "Checksum": checksum, "ChecksumAlgorithm": "SHA256",
                        "BlockData": blockseal_engine::base64::encode(data) }),
            )
        };
        let sum = {
            use sha2::Digest;
            blockseal_engine::base64::encode(&sha2::Sha256::digest(&block))
        };
        // A wrong checksum and a body that is not base64 are refused, with AWS's code.
        let bad = put(3, &block, &blockseal_engine::base64::encode(&[0u8; 32]));
        assert_eq!(bad["Error"]["Code"], "ValidationException", "{bad}");
        assert!(bad["Error"]["Message"]
            .as_str()
            .unwrap()
            .contains("INVALID_CHECKSUM"));
        let mut r = op(
            "PutSnapshotBlock",
            json!({ "SnapshotId": id, "BlockIndex": 3, "DataLength": 524_288,
                    "Checksum": sum, "ChecksumAlgorithm": "SHA256", "BlockData": "%%%" }),
        );
        assert_eq!(r["Error"]["Code"], "ValidationException", "{r}");
        r = put(3, &block, &sum);
        assert_eq!(r["Checksum"], sum.as_str(), "{r}");
        let done = op(
            "CompleteSnapshot",
            json!({ "SnapshotId": id, "ChangedBlocksCount": 1 }),
        );
        assert_eq!(done["Status"], "completed");
        let s = op("DescribeSnapshots", json!({ "SnapshotIds": [id] }));
        assert_eq!(s["Snapshots"][0]["State"], "completed", "{s}");
        // Read back through the engine's own API: block 3 holds the bytes, nothing else does.
        let ctx = c.engine.context("us-east-1", "admin").unwrap();
        let listed = c
            .engine
            .ebs(
                &ctx,
                EbsRequest::parse("ListSnapshotBlocks", json!({ "SnapshotId": id })).unwrap(),
                None,
            )
            .unwrap();
        let listed = serde_json::to_value(&listed).unwrap();
        assert_eq!(listed["Blocks"].as_array().unwrap().len(), 1, "{listed}");
        assert_eq!(listed["Blocks"][0]["BlockIndex"], 3);
        let token3 = listed["Blocks"][0]["BlockToken"].as_str().unwrap();
        let mut got = c
            .engine
            .ebs(
                &ctx,
                EbsRequest::parse(
                    "GetSnapshotBlock",
                    json!({ "SnapshotId": id, "BlockIndex": 3, "BlockToken": token3 }),
                )
                .unwrap(),
                None,
            )
            .unwrap();
        assert_eq!(got.block_data().unwrap(), block);
    }

    #[test]
    fn the_extra_calls_answer_from_the_engine() {
        let (_dir, c, token) = console();
        let types = call(&c, &token, "/console/instance-types", json!({}));
        let (list, default) = c.engine.instance_types();
        assert_eq!(types["InstanceTypes"].as_array().unwrap().len(), list.len());
        assert_eq!(types["Default"], default);
        assert!(types["InstanceTypes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["InstanceType"] == "t4g.micro" && t["Architectures"] == json!(["arm64"])));
        let accounts = call(&c, &token, "/console/accounts", json!({}));
        assert_eq!(accounts["Accounts"][0]["Id"], c.engine.account());
        // The copy preview of a snapshot: KmsKeyId without Encrypted, as CopySnapshot refuses it.
        let id = call(
            &c,
            &token,
            "/console/call",
            json!({ "Operation": "StartSnapshot", "Input": { "VolumeSize": 1 } }),
        )["SnapshotId"]
            .as_str()
            .unwrap()
            .to_owned();
        call(
            &c,
            &token,
            "/console/call",
            json!({ "Operation": "CompleteSnapshot",
                    "Input": { "SnapshotId": id, "ChangedBlocksCount": 0 } }),
        );
        let p = |input: Value| {
            call(
                &c,
                &token,
                "/console/preview-copy-snapshot",
                json!({ "Input": input }),
            )
        };
        let plain = p(json!({ "SourceSnapshotId": id, "SourceRegion": "us-east-1" }));
        assert_eq!(plain["Snapshot"]["Action"], "unencrypted", "{plain}");
        let enc =
            p(json!({ "SourceSnapshotId": id, "SourceRegion": "us-east-1", "Encrypted": true }));
        assert_eq!(enc["Snapshot"]["Action"], "encrypt", "{enc}");
        assert_eq!(enc["Snapshot"]["KeyFrom"], "default", "{enc}");
        let dep = p(json!({ "SourceSnapshotId": id, "SourceRegion": "us-east-1",
                            "KmsKeyId": "alias/aws/ebs" }));
        assert_eq!(dep["Error"]["Code"], "InvalidParameterDependency", "{dep}");
        // Another account's user, named as a CLI profile names it.
        let b = c.engine.create_account(Some("build")).unwrap();
        let mut r = req(
            "POST",
            "/console/call",
            "",
            &[(TOKEN_HEADER, token.as_str())],
        );
        r.body = serde_json::to_vec(
            &json!({ "Operation": "ListUsers", "Input": {}, "Principal": "build:admin" }),
        )
        .unwrap();
        let h = c.handle(&r);
        assert_eq!(h.principal, format!("arn:aws:iam::{}:user/admin", b.id));
    }

    #[test]
    fn tokens_are_random_and_compared_whole() {
        let (a, b) = (Console::new_token(), Console::new_token());
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(*a, *b);
        assert!(constant_time_eq(a.as_bytes(), a.as_bytes()));
        assert!(!constant_time_eq(a.as_bytes(), b.as_bytes()));
        assert!(!constant_time_eq(&a.as_bytes()[..63], a.as_bytes()));
        assert!(!constant_time_eq(b"", a.as_bytes()));
    }

    #[test]
    fn no_operation_that_answers_a_secret_is_callable() {
        for op in [
            "CreateAccessKey",
            "ListAccessKeys",
            "Decrypt",
            "Encrypt",
            "GenerateDataKeyWithoutPlaintext",
            "GetSnapshotBlock",
            "ListSnapshotBlocks",
            "ExportSnapshot",
        ] {
            assert!(!OPERATIONS.contains(&op), "{op}");
        }
        // Every listed operation is one the engine parses.
        for op in OPERATIONS {
            let parsed = if EBS_OPERATIONS.contains(op) {
                EbsRequest::parse(op, Value::Null).map(|_| ())
            } else {
                Op::parse(op, Value::Null).map(|_| ())
            };
            assert!(
                parsed
                    .as_ref()
                    .err()
                    .is_none_or(|e| e.code() != Code::INVALID_ACTION),
                "{op}"
            );
        }
        assert!(EBS_OPERATIONS.iter().all(|op| OPERATIONS.contains(op)));
    }
}
