//! The web console: a page at `/` and its JSON calls under `/console/`, on the API's port.
//!
//! The page is one HTML file, one hand-written JavaScript module and one stylesheet, all in the
//! binary. Its calls are the engine's operations, parsed by [`Request::parse`] and run by
//! [`Engine::call`] exactly as the API runs them, as the principal and in the region the page
//! has selected; this module holds no EC2 or KMS rule. The one read-only helper it adds, the
//! copy preview, is the engine's own ([`Engine::preview_copy_image`]).
//!
//! Who may call: whoever holds the token `blockseal serve` prints in the console's URL (as
//! Jupyter does). The page keeps it in the tab's session storage and sends it in a custom header
//! on every call, which also stops cross-site requests (a browser sends a custom header
//! cross-origin only after a CORS preflight, which is never answered here). Operations that
//! return secrets (access keys, plaintext data keys) are not among the ones the console may
//! call.

use crate::http::{Request, Response};
use blockseal_engine::{Code, Engine, Error, NoProgress, Request as Op};
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
/// (plaintext), the EBS direct APIs and import/export (files and blocks, not a page's work).
pub const OPERATIONS: &[&str] = &[
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
                    let out = engine.call(ctx, Op::parse(op, input)?, &NoProgress)?;
                    Ok(serde_json::to_value(&out).expect("responses serialize"))
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
            | (_, "/console/preview-copy-image") => problem(
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
        let who = body["Principal"].as_str().unwrap_or("admin");
        let out = self
            .engine
            .context(region, who)
            .map(|c| c.asynchronous())
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
            "PutSnapshotBlock",
            "ExportSnapshot",
        ] {
            assert!(!OPERATIONS.contains(&op), "{op}");
        }
        // Every listed operation is one the engine parses.
        for op in OPERATIONS {
            let parsed = Op::parse(op, Value::Null);
            assert!(
                parsed
                    .as_ref()
                    .err()
                    .is_none_or(|e| e.code() != Code::INVALID_ACTION),
                "{op}"
            );
        }
    }
}
