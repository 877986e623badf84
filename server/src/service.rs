//! The endpoint: routes each HTTP request to its service as AWS endpoints do (the SigV4
//! credential scope's service, `X-Amz-Target`, the path), checks the signature, makes the call's
//! [`Context`] (user from the access key, region from the signing scope), calls the engine, and
//! encodes the answer in the service's protocol. No rule of EC2, EBS or KMS lives here: every
//! operation is an engine call.

use crate::codec::{json, query, rest, xml, CodecError, Model};
use crate::http::{Request, Response};
use crate::sigv4::{self, AuthError, SignedRequest};
use blockseal_engine::{
    new_request_id, Code, Context, EbsRequest, Engine, Error, NoProgress, Request as Op,
};
use serde_json::{json as j, Value};
use std::sync::Arc;
use zeroize::Zeroizing;

/// The access key id and secret of the account administrator that work out of the box (as
/// LocalStack's and moto's do), unless switched off.
pub const DEFAULT_ACCESS_KEY: &str = "test";
const DEFAULT_SECRET: &str = "test";
/// The user the default key signs as.
const DEFAULT_USER: &str = "admin";

/// How the endpoint behaves.
#[derive(Clone, Debug)]
pub struct Config {
    /// Whether `test`/`test` signs as the account administrator.
    pub default_credentials: bool,
    /// The folders whose disk images ImportSnapshot may read (`DiskContainer.Url` =
    /// `file://…` under one of them). Empty: the endpoint refuses ImportSnapshot, since it would
    /// otherwise read any file the server's user can read on behalf of a remote caller.
    pub import_dirs: Vec<std::path::PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            default_credentials: true,
            import_dirs: Vec::new(),
        }
    }
}

/// The services on the port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Service {
    Ec2,
    Kms,
    Ebs,
    Sts,
    Iam,
}

impl Service {
    fn model(self) -> &'static Model {
        match self {
            Service::Ec2 => Model::ec2(),
            Service::Kms => Model::kms(),
            Service::Ebs => Model::ebs(),
            Service::Sts => Model::sts(),
            Service::Iam => Model::iam(),
        }
    }

    fn from_signing_name(name: &str) -> Option<Service> {
        Some(match name {
            "ec2" => Service::Ec2,
            "kms" => Service::Kms,
            "ebs" => Service::Ebs,
            "sts" => Service::Sts,
            "iam" => Service::Iam,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Service::Ec2 => "ec2",
            Service::Kms => "kms",
            Service::Ebs => "ebs",
            Service::Sts => "sts",
            Service::Iam => "iam",
        }
    }
}

/// What one request came to, for the log line.
#[derive(Debug)]
pub struct Handled {
    /// The HTTP response.
    pub response: Response,
    /// `service.Operation`, or what could be told of it.
    pub operation: String,
    /// The acting user's ARN, or `-` before authentication.
    pub principal: String,
    /// The request id sent to the client.
    pub request_id: String,
}

/// An error on its way to the client: the AWS code, message and HTTP status.
#[derive(Debug)]
struct Failure {
    code: String,
    message: String,
    status: u16,
}

impl Failure {
    fn new(code: &str, message: impl Into<String>, status: u16) -> Failure {
        Failure {
            code: code.to_owned(),
            message: message.into(),
            status,
        }
    }
}

/// The endpoint over one engine.
#[derive(Debug)]
pub struct Endpoint {
    engine: Arc<Engine>,
    config: Config,
}

/// A request decoded into an operation and its input.
struct Call {
    service: Service,
    op: String,
    input: Value,
    payload: Option<Vec<u8>>,
}

impl Endpoint {
    /// The endpoint of `engine`.
    pub fn new(engine: Arc<Engine>, config: Config) -> Endpoint {
        Endpoint { engine, config }
    }

    /// Handles one HTTP request. A PutSnapshotBlock body is encrypted in place: `req.body`
    /// holds ciphertext afterwards.
    pub fn handle(&self, req: &mut Request) -> Handled {
        let request_id = new_request_id();
        let mut operation = String::from("-");
        let mut principal = String::from("-");
        let response = match self.serve(req, &request_id, &mut operation, &mut principal) {
            Ok(r) => r,
            Err((service, f)) => {
                let service = service.unwrap_or_else(|| guess_service(req));
                error_response(service, &f, &request_id)
            }
        };
        Handled {
            response,
            operation,
            principal,
            request_id,
        }
    }

    fn serve(
        &self,
        req: &mut Request,
        request_id: &str,
        operation: &mut String,
        principal: &mut String,
    ) -> Result<Response, (Option<Service>, Failure)> {
        let signed = SignedRequest {
            method: &req.method,
            path: &req.path,
            query: &req.query,
            headers: &req.headers,
            body: &req.body,
        };
        // Only a request that cannot be attributed needs its service guessed (from its shape),
        // to answer in that service's dialect.
        let (cred, parsed) =
            sigv4::parse(&signed).map_err(|e| (None, auth_failure(guess_service(req), &e)))?;
        let service = Service::from_signing_name(&cred.service).ok_or_else(|| {
            (
                None,
                Failure::new(
                    "UnrecognizedClientException",
                    format!("The service '{}' is not served here.", cred.service),
                    400,
                ),
            )
        })?;
        let fail = |f: Failure| (Some(service), f);
        let identity = self
            .identity(&cred.access_key_id)
            .map_err(|e| fail(engine_failure(service, &e)))?
            .ok_or_else(|| fail(auth_failure(service, &AuthError::UnknownKey)))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        sigv4::verify(&signed, &parsed, &identity.1, now)
            .map_err(|e| fail(auth_failure(service, &e)))?;
        let ctx = self
            .engine
            .profile_context(&cred.region, &identity.0)
            .map_err(|e| fail(engine_failure(service, &e)))?
            .with_request_id(request_id)
            .asynchronous()
            // A remote caller names the file the server's user would read: only files under
            // --import-dir (the engine refuses the rest).
            .with_import_dirs(self.config.import_dirs.clone());
        *principal = ctx.principal_arn();
        let mut call = decode(service, req).map_err(fail)?;
        *operation = format!("{}.{}", service.name(), call.op);
        let mut payload = call.payload.take();
        let out = self.run(&ctx, call, payload.as_deref_mut(), request_id);
        if let Some(body) = payload {
            // Back to the request, whose allocation the connection reuses.
            req.body = body;
        }
        out.map_err(fail)
    }

    /// The profile (`ACCOUNT:USER`, or `USER` of the home's first account) and secret of access
    /// key `id`.
    fn identity(&self, id: &str) -> blockseal_engine::Result<Option<(String, Zeroizing<String>)>> {
        if id == DEFAULT_ACCESS_KEY && self.config.default_credentials {
            return Ok(Some((
                DEFAULT_USER.to_owned(),
                Zeroizing::new(DEFAULT_SECRET.to_owned()),
            )));
        }
        Ok(self.engine.credential(id)?.filter(|c| c.active).map(|c| {
            (
                format!("{}:{}", c.account, c.user),
                Zeroizing::new(c.secret().to_owned()),
            )
        }))
    }

    /// Runs `call`; `payload` is its streaming body (taken out of the call by the caller, so that
    /// it can have the buffer back).
    fn run(
        &self,
        ctx: &Context,
        call: Call,
        payload: Option<&mut [u8]>,
        request_id: &str,
    ) -> Result<Response, Failure> {
        let Call {
            service,
            op,
            input,
            payload: _,
        } = call;
        let model = service.model();
        match service {
            Service::Ec2 => {
                // `DryRun` stays in the request: the engine checks a dry run and answers
                // `DryRunOperation` (412, below), for the CLI and the API alike.
                let out = self.call(service, ctx, &op, input)?;
                let body = xml::encode(model, &op, &out, request_id).map_err(output_failure)?;
                Ok(Response::new(200, "text/xml;charset=UTF-8", body))
            }
            Service::Iam => {
                let out = self.call(service, ctx, &op, input)?;
                let body = xml::encode(model, &op, &out, request_id).map_err(output_failure)?;
                Ok(Response::new(200, "text/xml", body))
            }
            Service::Sts => {
                // GetCallerIdentity, the only STS operation on the model, answered by the engine
                // for the signing user.
                let out = self.call(service, ctx, &op, input)?;
                let body = xml::encode(model, &op, &out, request_id).map_err(output_failure)?;
                Ok(Response::new(200, "text/xml", body))
            }
            Service::Kms => {
                let out = self.call(service, ctx, &op, input)?;
                let wire = json::encode(model, &op, &out).map_err(output_failure)?;
                Ok(Response::new(
                    200,
                    "application/x-amz-json-1.1",
                    serde_json::to_vec(&wire).expect("JSON values serialize"),
                )
                .header("x-amzn-RequestId", request_id))
            }
            Service::Ebs => {
                let mut out = EbsRequest::parse(&op, input)
                    .and_then(|r| self.engine.ebs(ctx, r, payload))
                    .map_err(|e| engine_failure(service, &e))?;
                let data = out.block_data();
                let out = serde_json::to_value(&out).expect("responses serialize");
                let wire = rest::encode(model, &op, out, data).map_err(output_failure)?;
                let mut r = Response::new(wire.status, "", wire.body);
                for (k, v) in wire.headers {
                    r = r.header(&k, v);
                }
                Ok(r.header("x-amzn-RequestId", request_id))
            }
        }
    }

    fn call(
        &self,
        service: Service,
        ctx: &Context,
        op: &str,
        input: Value,
    ) -> Result<Value, Failure> {
        let out = Op::parse(op, input)
            .and_then(|r| self.engine.call(ctx, r, &NoProgress))
            .map_err(|e| engine_failure(service, &e))?;
        // The codecs are driven by the service model, over the answer's JSON form.
        Ok(serde_json::to_value(&out).expect("responses serialize"))
    }
}

/// The service a request is for, before its signature is read: `X-Amz-Target` names KMS, the
/// EBS direct APIs live under `/snapshots`, STS and IAM are told by their actions, the rest is
/// EC2.
fn guess_service(req: &Request) -> Service {
    if req
        .header("x-amz-target")
        .is_some_and(|t| t.starts_with("TrentService."))
    {
        return Service::Kms;
    }
    if req.path.starts_with("/snapshots") {
        return Service::Ebs;
    }
    let params = form_params(req);
    match params
        .iter()
        .find(|(k, _)| k == "Action")
        .map(|(_, v)| v.as_str())
    {
        Some(a) if Model::sts().operation(a).is_some() => Service::Sts,
        Some(a) if Model::iam().operation(a).is_some() => Service::Iam,
        _ => Service::Ec2,
    }
}

/// The form fields of a Query request: the query string, then an urlencoded body.
fn form_params(req: &Request) -> Vec<(String, String)> {
    let mut out = parse_urlencoded(&req.query);
    let is_form = req
        .header("content-type")
        .is_none_or(|c| c.starts_with("application/x-www-form-urlencoded"));
    if is_form && !req.body.is_empty() {
        out.extend(parse_urlencoded(&String::from_utf8_lossy(&req.body)));
    }
    out
}

/// Decodes `application/x-www-form-urlencoded` text (`+` is a space).
fn parse_urlencoded(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                // Two hex digits exactly: `from_str_radix` alone would also take a sign ("%+1").
                let hex = std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()));
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Decodes the request of `service` into an operation and its input. An EBS direct request's
/// body moves into the call (as its payload, or decoded), leaving `req.body` empty.
fn decode(service: Service, req: &mut Request) -> Result<Call, Failure> {
    let model = service.model();
    let codec_failure = |e: CodecError| Failure::new(e.code(), e.message(), e.status());
    match service {
        Service::Ec2 | Service::Sts | Service::Iam => {
            let params = form_params(req);
            let Some(op) = params
                .iter()
                .find(|(k, _)| k == "Action")
                .map(|(_, v)| v.clone())
            else {
                return Err(Failure::new(
                    "MissingAction",
                    "The request must contain the parameter Action",
                    400,
                ));
            };
            let rest: Vec<(String, String)> = params
                .into_iter()
                .filter(|(k, _)| k != "Action" && k != "Version")
                .collect();
            let input = query::decode(model, &op, &rest).map_err(codec_failure)?;
            Ok(Call {
                service,
                op,
                input,
                payload: None,
            })
        }
        Service::Kms => {
            let target = req.header("x-amz-target").unwrap_or_default();
            let op = json::operation_for_target(model, target)
                .map_err(codec_failure)?
                .name
                .clone();
            let input = json::decode(model, &op, &req.body).map_err(codec_failure)?;
            Ok(Call {
                service,
                op,
                input,
                payload: None,
            })
        }
        Service::Ebs => {
            let Some((operation, labels)) = rest::route(model, &req.method, &req.path) else {
                return Err(Failure::new(
                    "UnknownOperationException",
                    format!(
                        "No EBS direct API operation for {} {}",
                        req.method, req.path
                    ),
                    404,
                ));
            };
            let op = operation.name.clone();
            let decoded = rest::decode(
                model,
                &op,
                &labels,
                &req.query,
                &req.headers,
                std::mem::take(&mut req.body),
            )
            .map_err(codec_failure)?;
            Ok(Call {
                service,
                op,
                input: decoded.input,
                payload: decoded.payload,
            })
        }
    }
}

/// The failure AWS sends for a request whose signature cannot be accepted.
fn auth_failure(service: Service, e: &AuthError) -> Failure {
    let msg = e.to_string();
    match service {
        Service::Ec2 => match e {
            AuthError::Expired(_) => Failure::new("RequestExpired", msg, 400),
            AuthError::Missing => Failure::new(
                "MissingAuthenticationToken",
                "Request is missing Authentication Token",
                401,
            ),
            AuthError::UnknownKey => Failure::new(
                "AuthFailure",
                "AWS was not able to validate the provided access credentials",
                401,
            ),
            _ => Failure::new("AuthFailure", msg, 401),
        },
        Service::Kms | Service::Ebs => {
            let status = if service == Service::Ebs { 403 } else { 400 };
            match e {
                AuthError::Missing => Failure::new(
                    "MissingAuthenticationTokenException",
                    "Missing Authentication Token",
                    status,
                ),
                AuthError::UnknownKey => Failure::new(
                    "UnrecognizedClientException",
                    "The security token included in the request is invalid.",
                    status,
                ),
                _ => Failure::new("InvalidSignatureException", msg, status),
            }
        }
        Service::Sts | Service::Iam => match e {
            AuthError::Missing => Failure::new(
                "MissingAuthenticationToken",
                "Request is missing Authentication Token",
                403,
            ),
            AuthError::UnknownKey => Failure::new(
                "InvalidClientTokenId",
                "The security token included in the request is invalid.",
                403,
            ),
            AuthError::Expired(_) => Failure::new("ExpiredToken", msg, 403),
            _ => Failure::new("SignatureDoesNotMatch", msg, 403),
        },
    }
}

/// An engine error as `service` reports it.
fn engine_failure(service: Service, e: &Error) -> Failure {
    use blockseal_engine::ErrorKind as K;
    let code = e.code();
    let internal = code == Code::INTERNAL_ERROR || code == Code::KMS_INTERNAL_EXCEPTION;
    match service {
        Service::Ec2 => {
            let status = match e.kind() {
                _ if internal => 500,
                _ if code == Code::AUTH_FAILURE => 401,
                // AWS answers a successful dry run with 412 Precondition Failed.
                _ if code == Code::DRY_RUN_OPERATION => 412,
                K::AccessDenied => 403,
                _ => 400,
            };
            Failure::new(code.as_str(), e.message(), status)
        }
        Service::Kms => Failure::new(code.as_str(), e.message(), if internal { 500 } else { 400 }),
        Service::Sts | Service::Iam => {
            let status = match e.kind() {
                _ if internal => 500,
                K::NotFound => 404,
                K::AccessDenied => 403,
                K::InvalidState => 409,
                _ => 400,
            };
            Failure::new(code.as_str(), e.message(), status)
        }
        Service::Ebs => {
            let (c, status) = match e.kind() {
                _ if internal => ("InternalServerException", 500),
                _ if code == Code::VALIDATION_EXCEPTION => ("ValidationException", 400),
                _ if code == Code::RESOURCE_NOT_FOUND_EXCEPTION => {
                    ("ResourceNotFoundException", 404)
                }
                K::AccessDenied | K::KeyUnavailable => ("AccessDeniedException", 403),
                K::NotFound => ("ResourceNotFoundException", 404),
                K::InvalidState => ("ConflictException", 409),
                K::Corrupt | K::Io => ("InternalServerException", 500),
                _ => ("ValidationException", 400),
            };
            let message = if c == code.as_str() {
                e.message().to_owned()
            } else {
                format!("{}: {}", code.as_str(), e.message())
            };
            Failure::new(c, message, status)
        }
    }
}

/// A response that does not fit the model: the server's bug, reported as AWS reports its own.
fn output_failure(e: CodecError) -> Failure {
    log::error!("response does not fit the service model: {e}");
    Failure::new(
        "InternalError",
        format!("The response did not fit the model: {e}"),
        500,
    )
}

fn error_response(service: Service, f: &Failure, request_id: &str) -> Response {
    let model = service.model();
    match service {
        Service::Ec2 | Service::Sts | Service::Iam => {
            let body = xml::encode_error(model, &f.code, &f.message, request_id);
            Response::new(f.status, "text/xml;charset=UTF-8", body)
        }
        Service::Kms => {
            let body = json::encode_error(&f.code, &f.message);
            Response::new(
                f.status,
                "application/x-amz-json-1.1",
                serde_json::to_vec(&body).expect("JSON values serialize"),
            )
            .header("x-amzn-RequestId", request_id)
        }
        Service::Ebs => {
            let body = j!({"message": f.message, "Message": f.message});
            Response::new(
                f.status,
                "application/json",
                serde_json::to_vec(&body).expect("JSON values serialize"),
            )
            .header("x-amzn-ErrorType", f.code.clone())
            .header("x-amzn-RequestId", request_id)
        }
    }
}

/// Every operation the endpoint answers, per service: those of the engine that the service
/// model has, and the model operations the endpoint answers itself.
pub fn operations() -> Vec<(&'static str, Vec<String>)> {
    let engine_ops: Vec<&str> = blockseal_engine::EC2_OPERATIONS
        .iter()
        .chain(blockseal_engine::KMS_OPERATIONS)
        .copied()
        .collect();
    let mut out = Vec::new();
    for service in [
        Service::Ec2,
        Service::Kms,
        Service::Ebs,
        Service::Sts,
        Service::Iam,
    ] {
        let model = service.model();
        let mut ops: Vec<String> = model
            .operation_names()
            .filter(|op| {
                *op != "ImportSnapshot"
                    && (matches!(service, Service::Ebs | Service::Sts) || engine_ops.contains(op))
            })
            .map(str::to_owned)
            .collect();
        ops.sort();
        out.push((service.name(), ops));
    }
    out
}

/// Request decoding, for the fuzz targets (`crate::fuzzing`): a child module so that they reach
/// the private decoder without widening it.
pub(crate) mod fuzzing {
    use super::*;

    /// `application/x-www-form-urlencoded` decoding against the rule itself: `+` is a space,
    /// `%` and two hex digits is that byte, anything else stands for itself.
    pub(crate) fn form_decoding(text: &str) {
        let rule = |s: &str| {
            let b = s.as_bytes();
            let mut out = Vec::new();
            let mut i = 0;
            while i < b.len() {
                let hex = |c: u8| char::from(c).to_digit(16);
                match (
                    b[i],
                    b.get(i + 1).and_then(|&c| hex(c)),
                    b.get(i + 2).and_then(|&c| hex(c)),
                ) {
                    (b'%', Some(hi), Some(lo)) => {
                        out.push((hi * 16 + lo) as u8);
                        i += 3;
                    }
                    (b'+', ..) => {
                        out.push(b' ');
                        i += 1;
                    }
                    (c, ..) => {
                        out.push(c);
                        i += 1;
                    }
                }
            }
            String::from_utf8_lossy(&out).into_owned()
        };
        let expected: Vec<(String, String)> = text
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (rule(k), rule(v))
            })
            .collect();
        assert_eq!(parse_urlencoded(text), expected, "decoding {text:?}");
    }

    /// Decodes `req` as [`Endpoint::handle`] does after the signature check, then parses the
    /// engine's typed request from it. A refusal must be a client error (4xx) in the service's
    /// dialect; the error response must render.
    pub(crate) fn decode_request(req: &mut Request) {
        let service = guess_service(req);
        let failure = match decode(service, req) {
            Ok(call) => {
                let Call {
                    service,
                    op,
                    mut input,
                    ..
                } = call;
                if let Some(m) = input.as_object_mut() {
                    m.remove("DryRun");
                }
                let parsed = match service {
                    Service::Ebs => EbsRequest::parse(&op, input).map(|_| ()),
                    Service::Sts => Ok(()),
                    Service::Ec2 | Service::Iam | Service::Kms => {
                        Op::parse(&op, input).map(|r| assert_eq!(r.name(), op))
                    }
                };
                match parsed {
                    Ok(()) => return,
                    Err(e) => engine_failure(service, &e),
                }
            }
            Err(f) => f,
        };
        assert!(
            (400..500).contains(&failure.status),
            "a request that does not decode is the client's error: {failure:?}"
        );
        let response = error_response(service, &failure, "fuzz");
        assert_eq!(response.status, failure.status);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urlencoded_forms_decode() {
        let p = parse_urlencoded("Action=DescribeImages&Filter.1.Value.1=a%2Fb+c&Empty=&Flag");
        assert_eq!(p[0], ("Action".into(), "DescribeImages".into()));
        assert_eq!(p[1], ("Filter.1.Value.1".into(), "a/b c".into()));
        assert_eq!(p[2], ("Empty".into(), String::new()));
        assert_eq!(p[3], ("Flag".into(), String::new()));
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%+1"), "% 1", "a sign is not a hex digit");
    }

    #[test]
    fn the_readme_table_lists_exactly_the_operations_served() {
        let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"));
        for (service, ops) in operations() {
            let label = match service {
                "ec2" => "EC2",
                "kms" => "KMS",
                "ebs" => "EBS direct",
                "sts" => "STS",
                "iam" => "IAM",
                other => panic!("{other}"),
            };
            let row = readme
                .lines()
                .find(|l| l.starts_with(&format!("| {label} |")))
                .unwrap_or_else(|| panic!("README has no row for {label}"));
            let mut listed: Vec<String> = row
                .trim_matches('|')
                .split('|')
                .nth(1)
                .unwrap()
                .split_whitespace()
                .map(str::to_owned)
                .collect();
            listed.sort();
            assert_eq!(listed, ops, "README row {label}");
        }
    }

    #[test]
    fn the_engine_s_dry_run_operations_are_the_model_s() {
        let model = Service::Ec2.model();
        let mut with_dry_run: Vec<&str> = blockseal_engine::EC2_OPERATIONS
            .iter()
            .copied()
            .filter(|op| {
                model
                    .operation(op)
                    .and_then(|o| o.input.as_deref())
                    .and_then(|i| model.shape(i))
                    .is_some_and(|s| s.members.contains_key("DryRun"))
            })
            .collect();
        with_dry_run.sort_unstable();
        let mut listed = blockseal_engine::DRY_RUN_OPERATIONS.to_vec();
        listed.sort_unstable();
        assert_eq!(listed, with_dry_run);
    }

    #[test]
    fn every_listed_operation_is_in_its_model() {
        for (service, ops) in operations() {
            let model = Service::from_signing_name(service).unwrap().model();
            assert!(!ops.is_empty(), "{service}");
            for op in ops {
                assert!(model.operation(&op).is_some(), "{service}.{op}");
            }
        }
    }
}
