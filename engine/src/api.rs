//! The engine's front door: open a home, invoke operations by their AWS names with JSON requests
//! shaped as in the AWS API, get JSON responses shaped the same way (docs/OPERATIONS.md).

use crate::blob::BlobStore;
use crate::catalog::Catalog;
use crate::ec2::model::{SnapshotRec, VolumeRec};
use crate::ec2::{rules, Core};
use crate::error::{bail, Code, Error, Result};
use crate::kms::{Caller, Kms};
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
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| "/".into());
        home.join(".local/share/blockseal")
    }
}

/// An open home.
pub struct Engine {
    core: Core,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Engine({}, {})",
            self.core.home.display(),
            self.core.caller.region
        )
    }
}

/// The setting that holds the home's account id.
const ACCOUNT_SETTING: &str = "account-id";

impl Engine {
    /// Opens (creating on first use) the home of `opts`, then removes what an interrupted
    /// operation left behind (temporary files of dead processes, files no catalog row owns) and
    /// deletes KMS keys whose deletion date has passed.
    ///
    /// # Errors
    /// `InvalidParameterValue` for a malformed region or profile name; I/O errors opening the
    /// home.
    pub fn open(opts: Options) -> Result<Engine> {
        if !rules::valid_region(&opts.region) {
            bail!(
                Code::INVALID_PARAMETER_VALUE,
                "Invalid region name: {:?} (expecting e.g. us-east-1)",
                opts.region
            );
        }
        let profile_ok = !opts.profile.is_empty()
            && opts.profile.len() <= 64
            && opts
                .profile
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
        if !profile_ok {
            bail!(
                Code::INVALID_PARAMETER_VALUE,
                "Invalid profile name: {:?}",
                opts.profile
            );
        }
        create_private_dir(&opts.home)?;
        let cat = Catalog::open(&opts.home.join("catalog.db"))?;
        let account = cat.write(|tx| match tx.setting(ACCOUNT_SETTING)? {
            Some(a) => Ok(a),
            None => {
                let a = format!("{:012}", crate::secret::random_u128() % 1_000_000_000_000);
                tx.set_setting(ACCOUNT_SETTING, &a)?;
                Ok(a)
            }
        })?;
        let kms = Kms::open(&opts.home)?;
        let store = BlobStore::new(&opts.home)?;
        let caller = Caller::new(&opts.region, &account, &opts.profile);
        let mut core = Core {
            home: opts.home.clone(),
            caller,
            cat,
            kms,
            store,
        };
        core.recover()?;
        Ok(Engine { core })
    }

    pub(crate) fn core(&mut self) -> &mut Core {
        &mut self.core
    }

    /// The home folder.
    pub fn home(&self) -> &Path {
        &self.core.home
    }

    /// The account id of this home (12 digits).
    pub fn account(&self) -> &str {
        &self.core.caller.account
    }

    /// Runs operation `op` (an AWS action name such as `CopyImage`) with `request`.
    ///
    /// # Errors
    /// The AWS-style error of the operation; `InvalidAction` for an unknown operation.
    pub fn invoke(
        &mut self,
        op: &str,
        request: serde_json::Value,
        progress: &dyn Progress,
    ) -> Result<serde_json::Value> {
        if let Some(r) = self.core.invoke(op, &request, progress) {
            return r;
        }
        let core = &mut self.core;
        let (kms, caller) = (&core.kms, &core.caller);
        let out = core.cat.write(|tx| kms.invoke(tx, caller, op, &request))?;
        match out {
            Some(v) => Ok(v),
            None => Err(Error::new(
                Code::INVALID_ACTION,
                format!("The action {op} is not valid for this web service."),
            )),
        }
    }
}

impl Core {
    /// Crash recovery at start-up (DESIGN.md, "The catalog"): under the catalog's write lock, so
    /// no other process is between renaming a file into place and committing its row.
    fn recover(&mut self) -> Result<()> {
        let (store, kms) = (&self.store, &self.kms);
        self.cat.write(|tx| {
            kms.sweep(tx, crate::clock::now_millis())?;
            let mut live: std::collections::HashSet<String> = std::collections::HashSet::new();
            live.extend(tx.list_all::<VolumeRec>()?.into_iter().map(|v| v.id));
            live.extend(
                tx.list_all::<SnapshotRec>()?
                    .into_iter()
                    .filter(|s| s.has_data)
                    .map(|s| s.id),
            );
            store.cleanup(|id| live.contains(id))?;
            Ok(())
        })
    }
}

fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
    {
        Ok(()) => Ok(()),
        Err(e) => Err(Error::io(format!("create home {}", dir.display()), e)),
    }
}
