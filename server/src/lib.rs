//! blockseal's AWS-compatible endpoint: one HTTP port that speaks the EC2 Query protocol, KMS
//! JSON 1.1, the EBS direct APIs (REST-JSON) and STS, verifies SigV4 signatures, and turns each
//! request into an engine call. The same port serves the web console (`console`).

pub mod codec;
pub mod console;
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod service;
pub mod sigv4;
mod time;
