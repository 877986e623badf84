//! The engine's front door: open a home, invoke operations by their AWS names with JSON requests
//! shaped as in the AWS API, get JSON responses shaped the same way (docs/OPERATIONS.md).

use crate::error::{Code, Error, Result};
use crate::progress::Progress;
use std::path::{Path, PathBuf};

/// Where and as whom operations run.
#[derive(Clone, Debug)]
pub struct Options {
    /// The home folder: catalog, KMS root key, volume and snapshot files.
    pub home: PathBuf,
    /// The region, e.g. `us-east-1`.
    pub region: String,
    /// The acting principal's name (`admin` by default).
    pub profile: String,
}

impl Options {
    /// `$BLOCKSEAL_HOME`, else `$XDG_DATA_HOME/blockseal`, else `~/.local/share/blockseal`.
    pub fn default_home() -> PathBuf {
        if let Some(h) = std::env::var_os("BLOCKSEAL_HOME") {
            return PathBuf::from(h);
        }
        if let Some(x) = std::env::var_os("XDG_DATA_HOME") {
            return PathBuf::from(x).join("blockseal");
        }
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| "/".into());
        home.join(".local/share/blockseal")
    }
}

/// An open home.
pub struct Engine {
    opts: Options,
}

impl Engine {
    /// Opens (creating on first use) the home of `opts`.
    ///
    /// # Errors
    /// `InvalidParameterValue` for a malformed region; I/O errors opening the home.
    pub fn open(opts: Options) -> Result<Engine> {
        Ok(Engine { opts })
    }

    /// The home folder.
    pub fn home(&self) -> &Path {
        &self.opts.home
    }

    /// Runs operation `op` (an AWS action name such as `CopyImage`) with `request`.
    ///
    /// # Errors
    /// The AWS-style error of the operation.
    pub fn invoke(
        &mut self,
        op: &str,
        request: serde_json::Value,
        progress: &dyn Progress,
    ) -> Result<serde_json::Value> {
        let _ = (request, progress);
        Err(Error::new(Code::INVALID_ACTION, format!("The action {op} is not valid for this web service.")))
    }
}
