//! The engine's front door: open a home once, then call operations — typed [`Request`]s — each
//! with its own [`Context`] (account, region, principal, request id), from any thread; responses
//! are JSON shaped as in the AWS API (docs/OPERATIONS.md). [`Session`] binds one context for the
//! CLI and scripts.

use crate::blob::BlobStore;
use crate::catalog::Catalog;
use crate::ec2::model::{SnapshotRec, VolumeRec};
use crate::ec2::{rules, Core};
use crate::error::{bail, Code, Error, Result};
use crate::kms::{Caller, Kms};
use crate::progress::Progress;
use crate::request::{Request, Response};
use serde_json::Value;
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

/// Who calls, where, and which call this is: what every operation runs with. The server makes
/// one per request (principal from the access key, region from the signing scope); the CLI one
/// per command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Context {
    account: String,
    region: String,
    principal: String,
    request_id: String,
    /// Whether a data-moving call returns only when its data is in place (the CLI), or at once
    /// with its resources pending while a worker moves the data (the API endpoint).
    wait: bool,
    /// The folders whose disk images ImportSnapshot may read; `None`: any file the process can
    /// read (the local CLI, whose user names their own files).
    import_dirs: Option<Vec<PathBuf>>,
}

impl Context {
    /// A call by user `principal` of `account`, in `region`, with a fresh request id.
    ///
    /// # Errors
    /// `InvalidParameterValue` for a malformed region or principal name.
    pub fn new(account: &str, region: &str, principal: &str) -> Result<Context> {
        check_names(region, principal)?;
        Ok(Context {
            account: account.to_owned(),
            region: region.to_owned(),
            principal: principal.to_owned(),
            request_id: new_request_id(),
            wait: true,
            import_dirs: None,
        })
    }

    /// The same caller, with data-moving calls answered at once: their resources are stored
    /// pending and a job moves the data ([`Engine::start_workers`] runs jobs).
    pub fn asynchronous(mut self) -> Context {
        self.wait = false;
        self
    }

    /// The same caller, importing disk images only from files under `dirs` (from none when
    /// `dirs` is empty): what the API endpoint sets, since there a remote caller names a file
    /// that the server's user would read (`blockseal serve --import-dir`).
    pub fn with_import_dirs(mut self, dirs: Vec<PathBuf>) -> Context {
        self.import_dirs = Some(dirs);
        self
    }

    /// The folders ImportSnapshot may read from (`None`: any).
    pub fn import_dirs(&self) -> Option<&[PathBuf]> {
        self.import_dirs.as_deref()
    }

    /// Whether data-moving calls wait for their data.
    pub fn waits(&self) -> bool {
        self.wait
    }

    /// The same caller with request id `id` (e.g. one the front end already logged).
    pub fn with_request_id(mut self, id: impl Into<String>) -> Context {
        self.request_id = id.into();
        self
    }

    /// The account id (12 digits).
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The region, e.g. `us-east-1`.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The acting user's name.
    pub fn principal(&self) -> &str {
        &self.principal
    }

    /// The acting user's ARN, `arn:aws:iam::ACCOUNT:user/NAME`.
    pub fn principal_arn(&self) -> String {
        format!("arn:aws:iam::{}:user/{}", self.account, self.principal)
    }

    /// This call's request id (a UUID).
    pub fn request_id(&self) -> &str {
        &self.request_id
    }
}

/// `InvalidParameterValue` unless `region` and `principal` are well-formed names.
fn check_names(region: &str, principal: &str) -> Result<()> {
    if !rules::valid_region(region) {
        bail!(
            Code::INVALID_PARAMETER_VALUE,
            "Invalid region name: {region:?} (expecting e.g. us-east-1)"
        );
    }
    if !valid_principal(principal) {
        bail!(
            Code::INVALID_PARAMETER_VALUE,
            "Invalid profile name: {principal:?}"
        );
    }
    Ok(())
}

/// Whether `name` is a valid user (profile) name: IAM's user-name characters, 1–64 of them.
pub fn valid_principal(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
}

/// A fresh request id: a random UUID, as AWS's request ids are.
pub fn new_request_id() -> String {
    uuid::Builder::from_random_bytes(crate::secret::random_u128().to_le_bytes())
        .into_uuid()
        .to_string()
}

/// An open home, shared by every thread of a process: calls run side by side, each with its own
/// [`Context`]; reads never wait for the catalog's write lock, and data work (copies, re-keys)
/// runs outside any transaction, so a long copy blocks neither describes nor other copies.
pub struct Engine {
    home: PathBuf,
    account: String,
    cat: Catalog,
    kms: Kms,
    store: BlobStore,
    /// What this open moved to `quarantine/`.
    quarantined: Vec<PathBuf>,
    /// This process's job workers, once started: admitted jobs are handed to them at once.
    pub(crate) workers: std::sync::Mutex<Option<std::sync::Arc<crate::jobs::WorkerShared>>>,
    /// Mount freezes held by this process's capture jobs, by job id (see `jobs::CAPTURES`).
    pub(crate) held: std::sync::Mutex<std::collections::HashMap<String, crate::mountctl::Frozen>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Engine({})", self.home.display())
    }
}

/// The setting that holds the home's account id.
pub(crate) const ACCOUNT_SETTING: &str = "account-id";
/// The setting that holds the fingerprint of the home's KMS root key (`Kms::fingerprint`).
pub(crate) const ROOT_KEY_SETTING: &str = "kms-root-key-fingerprint";
/// The catalog's file name in the home.
pub(crate) const CATALOG_FILE: &str = "catalog.db";
/// The KMS root key's file name in the home (owned by the KMS; named here for checks only).
pub(crate) const ROOT_KEY_FILE: &str = "kms-root.key";

impl Engine {
    /// Opens the home folder `home`, creating it if it is brand-new (no catalog, no KMS root
    /// key, no data files), then recovers from interrupted operations
    /// ([`BlobStore::recover`](crate::blob::BlobStore): deletes what a temporary's name or a
    /// commit marker proves unfinished, quarantines data files nothing explains; see
    /// [`Engine::quarantined`]) and deletes KMS keys whose deletion date has passed.
    ///
    /// An existing home must be whole: its catalog present with its account, its root key
    /// present and the one the catalog records. Nothing is created, deleted or moved otherwise.
    ///
    /// # Errors
    /// `InvalidHome` for a missing or empty catalog in a home that holds a root key or data
    /// files, a missing root key, or a catalog that records another root key; `CorruptFile` for
    /// a catalog of a newer schema or a damaged root key; I/O errors opening the home.
    pub fn open(home: &Path) -> Result<Engine> {
        crate::blob::private_dir(home)?;
        let store = BlobStore::new(home)?;
        let cat_path = home.join(CATALOG_FILE);
        let key_path = home.join(ROOT_KEY_FILE);
        // Before SQLite would make a new, empty catalog in its place.
        if catalog_is_blank(&cat_path)? && (exists(&key_path)? || store.holds_data()?) {
            return Err(no_catalog(home, "is missing or empty"));
        }
        if !exists(&cat_path)? {
            // SQLite would make it (and its WAL and index, which copy its mode) per the umask.
            create_private_file(&cat_path)?;
        }
        let cat = Catalog::open(&cat_path)?;
        for name in [
            CATALOG_FILE,
            "catalog.db-wal",
            "catalog.db-shm",
            ROOT_KEY_FILE,
        ] {
            crate::blob::private_file(&home.join(name))?;
        }
        let (account, kms) = cat.write(|tx| {
            let Some(account) = tx.setting(ACCOUNT_SETTING)? else {
                // Checked again under the write lock: another process may have made the home.
                if exists(&key_path)? || store.holds_data()? {
                    return Err(no_catalog(home, "records no account"));
                }
                return create_home(home, tx);
            };
            let kms = match tx.setting(ROOT_KEY_SETTING)? {
                Some(fp) => Kms::open_recorded(home, &fp)?,
                None => {
                    // A home made before catalogs recorded their root key.
                    let kms = Kms::open(home)?;
                    tx.set_setting(ROOT_KEY_SETTING, &kms.fingerprint())?;
                    kms
                }
            };
            Ok((account, kms))
        })?;
        let mut engine = Engine {
            home: home.to_owned(),
            account,
            cat,
            kms,
            store,
            quarantined: Vec::new(),
            workers: std::sync::Mutex::new(None),
            held: std::sync::Mutex::new(std::collections::HashMap::new()),
        };
        engine.quarantined = engine.recover()?;
        Ok(engine)
    }

    /// The data files this open found in `blobs/` that no catalog row owns and no commit marker
    /// explains, as moved into `HOME/quarantine/` (empty almost always). Front ends report them
    /// once; they are not deleted.
    pub fn quarantined(&self) -> &[PathBuf] {
        &self.quarantined
    }

    /// The state one call works in, with the caller's identity and policies read from the
    /// catalog.
    ///
    /// # Errors
    /// `InvalidClientTokenId` for a principal that is no user of the account; catalog errors.
    pub(crate) fn core(&self, ctx: &Context) -> Result<Core<'_>> {
        let identity = self
            .cat
            .read(|tx| crate::iam::users::load_identity(tx, &ctx.account, &ctx.principal))?;
        Ok(Core {
            home: &self.home,
            caller: Caller::with_identity(&ctx.region, identity),
            cat: &self.cat,
            kms: &self.kms,
            store: &self.store,
            wait: ctx.wait,
            queued: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// The home folder.
    pub fn home(&self) -> &Path {
        &self.home
    }

    pub(crate) fn catalog(&self) -> &Catalog {
        &self.cat
    }

    pub(crate) fn kms(&self) -> &Kms {
        &self.kms
    }

    /// The account id of this home (12 digits).
    pub fn account(&self) -> &str {
        &self.account
    }

    /// A context for user `principal` of this home's account in `region`.
    ///
    /// # Errors
    /// As [`Context::new`].
    pub fn context(&self, region: &str, principal: &str) -> Result<Context> {
        Context::new(&self.account, region, principal)
    }

    /// A context for profile `profile` in `region`: `USER` is a user of the home's first
    /// account, `ACCOUNT:USER` a user of the account with that id or name
    /// (`blockseal account create --name`).
    ///
    /// # Errors
    /// `InvalidParameterValue` for a malformed region or user name; `AuthFailure` for an
    /// account the home does not have.
    pub fn profile_context(&self, region: &str, profile: &str) -> Result<Context> {
        let (account, user) = crate::accounts::split_profile(profile);
        check_names(region, user)?;
        let account = match account {
            None => self.account.clone(),
            Some(a) => self.account_id(a)?,
        };
        Context::new(&account, region, user)
    }

    /// Runs `request` as `ctx` says.
    ///
    /// # Errors
    /// The AWS-style error of the operation; `AuthFailure` for a context of another account.
    pub fn call(
        &self,
        ctx: &Context,
        request: Request,
        progress: &dyn Progress,
    ) -> Result<Response> {
        if ctx.account != self.account {
            // Another account of the home (`accounts`): it must exist.
            let known = self
                .cat
                .read(|tx| tx.get::<crate::accounts::AccountRec>(&ctx.account))?;
            if known.is_none() {
                bail!(
                    Code::AUTH_FAILURE,
                    "Account {} does not exist in this home.",
                    ctx.account
                );
            }
        }
        // The file an import would read is checked before anything else is answered about the
        // call (a dry run included), as the endpoint did before the engine knew the rule.
        let import = match &request {
            Request::ImportSnapshot(r) => Some(r),
            Request::DryRun(inner) => match inner.as_ref() {
                Request::ImportSnapshot(r) => Some(r),
                _ => None,
            },
            _ => None,
        };
        if let Some(r) = import {
            crate::ec2::imports::check_source_allowed(ctx.import_dirs(), r)?;
        }
        let mut core = self.core(ctx)?;
        // Authorization, before anything runs (docs/DECISIONS.md, "Who may do what"); KMS
        // operations on a key are decided with the key's policy and grants, in the KMS.
        crate::iam::authz::authorize(&core.caller, &request)?;
        match request {
            Request::Kms(k) => {
                let (kms, caller) = (core.kms, &core.caller);
                let run = |tx: &crate::catalog::Tx<'_>| kms.invoke(tx, caller, &k);
                let out = if k.is_read_only() {
                    core.cat.read_mostly(run)
                } else {
                    core.cat.write(run)
                };
                out.map(Response::Kms)
            }
            other => {
                let out = core.call(other, progress);
                for id in core
                    .queued
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .drain(..)
                {
                    self.notify_job(id);
                }
                out
            }
        }
    }

    /// Parses `request` as operation `op` (an AWS action name such as `CopyImage`) and runs it.
    ///
    /// # Errors
    /// As [`Request::parse`] and [`Engine::call`].
    pub fn invoke(
        &self,
        ctx: &Context,
        op: &str,
        request: Value,
        progress: &dyn Progress,
    ) -> Result<Value> {
        let out = self.call(ctx, Request::parse(op, request)?, progress)?;
        Ok(serde_json::to_value(&out).expect("responses serialize"))
    }

    /// Crash recovery at start-up (DESIGN.md, "The catalog"; docs/DECISIONS.md, "Storage and
    /// crash safety"): under the catalog's write lock, so no other process is between renaming
    /// a file into place and committing its row. Returns the files moved to quarantine.
    fn recover(&self) -> Result<Vec<PathBuf>> {
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
            Ok(store.recover(|id| live.contains(id))?.quarantined)
        })
    }
}

/// Makes a brand-new home's account and root key, in `tx` (which found no account): the key is
/// written under a temporary name, its fingerprint and the account are recorded, and the key
/// is linked into place once `tx` commits.
fn create_home(home: &Path, tx: &crate::catalog::Tx<'_>) -> Result<(String, Kms)> {
    Kms::remove_uncommitted(home)?;
    let (kms, key_file) = Kms::create(home)?;
    let account = format!("{:012}", crate::secret::random_u128() % 1_000_000_000_000);
    tx.set_setting(ACCOUNT_SETTING, &account)?;
    tx.put(&crate::accounts::AccountRec {
        id: account.clone(),
        name: None,
        create_time: crate::clock::now_iso(),
    })?;
    tx.set_setting(ROOT_KEY_SETTING, &kms.fingerprint())?;
    tx.after_commit(Box::new(move || {
        // Should this fail, the next open links the key file in place (`Kms::open_recorded`).
        let _ = key_file.install();
    }));
    Ok((account, kms))
}

/// Whether the catalog file is missing or empty (0 bytes), i.e. SQLite would start afresh.
pub(crate) fn catalog_is_blank(path: &Path) -> Result<bool> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(m.len() == 0),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(Error::io(format!("stat {}", path.display()), e)),
    }
}

fn exists(path: &Path) -> Result<bool> {
    path.try_exists()
        .map_err(|e| Error::io(format!("stat {}", path.display()), e))
}

/// The `InvalidHome` error for a home whose catalog is gone while its data is not.
fn no_catalog(home: &Path, what: &str) -> Error {
    Error::new(
        Code::INVALID_HOME,
        format!(
            "The catalog {} {what}, but the home holds a KMS root key or data files: it is not \
             a new home. Restore catalog.db from a backup of this home (with its catalog.db-wal \
             file if the backup has one); `blockseal doctor` reports what the home holds. \
             Nothing was changed; blockseal does not start a new catalog over existing data, \
             which would make it unreachable.",
            home.join(CATALOG_FILE).display()
        ),
    )
}

/// One home, one principal, one region: what a CLI command or a script works with.
#[derive(Debug)]
pub struct Session {
    engine: Engine,
    ctx: Context,
    opts: Options,
}

impl Session {
    /// Opens the home of `opts` as its profile in its region.
    ///
    /// # Errors
    /// `InvalidParameterValue` for a malformed region or profile name; as [`Engine::open`].
    pub fn open(opts: Options) -> Result<Session> {
        // Check the names before touching the home, so a typo creates nothing.
        let (account, user) = crate::accounts::split_profile(&opts.profile);
        check_names(&opts.region, user)?;
        if let Some(a) = account {
            if !valid_principal(a) {
                bail!(
                    Code::INVALID_PARAMETER_VALUE,
                    "Invalid profile name: {:?} (expecting USER or ACCOUNT:USER)",
                    opts.profile
                );
            }
        }
        let engine = Engine::open(&opts.home)?;
        let ctx = engine.profile_context(&opts.region, &opts.profile)?;
        Ok(Session { engine, ctx, opts })
    }

    /// Runs operation `op` with `request` (AWS-API-shaped JSON) as this session's caller.
    ///
    /// # Errors
    /// The AWS-style error of the operation; `InvalidAction` for an unknown operation.
    pub fn invoke(&self, op: &str, request: Value, progress: &dyn Progress) -> Result<Value> {
        let ctx = self.ctx.clone().with_request_id(new_request_id());
        self.engine.invoke(&ctx, op, request, progress)
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The caller.
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// The home folder.
    pub fn home(&self) -> &Path {
        self.engine.home()
    }

    /// What the session was opened with: [`Session::open`] of a clone opens it again.
    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// The account id of this session's caller.
    pub fn account(&self) -> &str {
        self.ctx.account()
    }
}

/// Creates the empty file `path` with mode 0600 (a racing creator's file is fine too).
fn create_private_file(path: &Path) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::io(format!("create {}", path.display()), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::NoProgress;
    use serde_json::json;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn engine_is_shared_across_threads() {
        assert_send_sync::<Engine>();
        assert_send_sync::<Context>();
    }

    #[test]
    fn each_call_carries_its_own_region_and_principal() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path()).unwrap();
        let east = engine.context("us-east-1", "admin").unwrap();
        let west = engine.context("eu-west-1", "admin").unwrap();
        let k = engine
            .invoke(&west, "CreateKey", json!({"Description": "w"}), &NoProgress)
            .unwrap();
        let arn = k["KeyMetadata"]["Arn"].as_str().unwrap().to_owned();
        assert!(arn.starts_with("arn:aws:kms:eu-west-1:"), "{arn}");
        let in_east = engine
            .invoke(&east, "ListKeys", json!({}), &NoProgress)
            .unwrap();
        assert_eq!(in_east["Keys"].as_array().unwrap().len(), 0);
        let in_west = engine
            .invoke(&west, "ListKeys", json!({}), &NoProgress)
            .unwrap();
        assert_eq!(in_west["Keys"][0]["KeyArn"], json!(arn));
        // Another account's context is refused before anything runs.
        let other = Context::new("999999999999", "us-east-1", "admin").unwrap();
        let e = engine
            .invoke(&other, "ListKeys", json!({}), &NoProgress)
            .unwrap_err();
        assert_eq!(e.code(), Code::AUTH_FAILURE);
        assert!(Context::new(engine.account(), "mars-1", "admin").is_err());
        assert!(Context::new(engine.account(), "us-east-1", "no spaces").is_err());
        assert_ne!(east.request_id(), west.request_id());
    }

    #[test]
    fn describes_page_with_max_results_and_next_token() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path()).unwrap();
        let ctx = engine.context("us-east-1", "admin").unwrap();
        let call = |op: &str, v: Value| engine.invoke(&ctx, op, v, &NoProgress);
        let mut made: Vec<String> = (0..12)
            .map(|_| {
                let v = call(
                    "CreateVolume",
                    json!({"AvailabilityZone": "us-east-1a", "Size": 1}),
                )
                .unwrap();
                v["VolumeId"].as_str().unwrap().to_owned()
            })
            .collect();
        made.sort();
        let mut seen = Vec::new();
        let mut token: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut req = json!({"MaxResults": 5});
            if let Some(t) = &token {
                req["NextToken"] = json!(t);
            }
            let page = call("DescribeVolumes", req).unwrap();
            pages += 1;
            let vols = page["Volumes"].as_array().unwrap();
            assert!(vols.len() <= 5);
            seen.extend(
                vols.iter()
                    .map(|v| v["VolumeId"].as_str().unwrap().to_owned()),
            );
            match page.get("NextToken") {
                Some(t) => token = Some(t.as_str().unwrap().to_owned()),
                None => break,
            }
        }
        assert_eq!((pages, seen), (3, made.clone()));
        let e = call(
            "DescribeVolumes",
            json!({"MaxResults": 5, "VolumeIds": [made[0]]}),
        )
        .unwrap_err();
        assert_eq!(e.code(), Code::INVALID_PARAMETER_COMBINATION);
        let e = call("DescribeVolumes", json!({"MaxResults": 2})).unwrap_err();
        assert_eq!(e.code(), Code::INVALID_PARAMETER_VALUE);
        let e = call("DescribeVolumes", json!({"NextToken": "zz"})).unwrap_err();
        assert_eq!(e.code(), Code::INVALID_PARAMETER_VALUE);
        let all = call("DescribeVolumes", json!({})).unwrap();
        assert!(all.get("NextToken").is_none());
        assert_eq!(all["Volumes"].as_array().unwrap().len(), 12);
    }

    /// The endpoint's rule for ImportSnapshot travels with the context: a caller restricted to
    /// folders reads only files inside them, however the path is spelled.
    #[test]
    fn imports_read_only_files_under_the_contexts_folders() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(&dir.path().join("home")).unwrap();
        let allowed = dir.path().join("imports");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&allowed).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        let disk: Vec<u8> = (0..8192u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(allowed.join("disk.raw"), &disk).unwrap();
        std::fs::write(outside.join("secret.raw"), &disk).unwrap();
        std::os::unix::fs::symlink(outside.join("secret.raw"), allowed.join("link.raw")).unwrap();
        let base = engine.context("us-east-1", "admin").unwrap();
        let restricted = base.clone().with_import_dirs(vec![allowed.clone()]);
        assert_eq!(
            restricted.import_dirs(),
            Some(std::slice::from_ref(&allowed))
        );
        assert_eq!(base.import_dirs(), None);
        let import = |ctx: &Context, url: String, dry_run: bool| {
            let mut req = json!({"DiskContainer": {"Format": "RAW", "Url": url}});
            if dry_run {
                req["DryRun"] = json!(true);
            }
            engine.invoke(ctx, "ImportSnapshot", req, &NoProgress)
        };
        let url = |p: &Path| format!("file://{}", p.display());

        let done = import(&restricted, url(&allowed.join("disk.raw")), false).unwrap();
        let detail = &done["SnapshotTaskDetail"];
        assert_eq!(detail["Status"], "completed", "{done}");
        assert!(detail["SnapshotId"].as_str().unwrap().starts_with("snap-"));

        let escapes = [
            url(&outside.join("secret.raw")),
            format!("file://{}/../outside/secret.raw", allowed.display()),
            url(&allowed.join("link.raw")),
            // A plain path is read as a file too.
            outside.join("secret.raw").display().to_string(),
            // A missing file resolves to nothing, so it is under no folder.
            url(&allowed.join("missing.raw")),
        ];
        let before = engine
            .invoke(&base, "DescribeSnapshots", json!({}), &NoProgress)
            .unwrap();
        for u in &escapes {
            for dry_run in [false, true] {
                let e = import(&restricted, u.clone(), dry_run).unwrap_err();
                assert_eq!(e.code(), Code::UNSUPPORTED_OPERATION, "{u}: {e}");
                assert_eq!(
                    e.message(),
                    format!(
                        "{u} is not a file under a folder this server imports from \
                         (--import-dir)"
                    )
                );
            }
        }
        let after = engine
            .invoke(&base, "DescribeSnapshots", json!({}), &NoProgress)
            .unwrap();
        assert_eq!(before, after, "a refused import stores nothing");

        let e = import(&restricted, url(&allowed.join("disk.raw")), true).unwrap_err();
        assert_eq!(e.code(), Code::DRY_RUN_OPERATION);
        // No folders: no import at all.
        let none = base.clone().with_import_dirs(Vec::new());
        let e = import(&none, url(&allowed.join("disk.raw")), false).unwrap_err();
        assert_eq!(e.code(), Code::UNSUPPORTED_OPERATION);
        assert!(e.message().contains("--import-dir DIR"), "{e}");
        // S3 sources keep their own code.
        let e = engine
            .invoke(
                &restricted,
                "ImportSnapshot",
                json!({"DiskContainer": {"Format": "RAW", "UserBucket": {"S3Bucket": "b", "S3Key": "k"}}}),
                &NoProgress,
            )
            .unwrap_err();
        assert_eq!(e.code(), Code::INVALID_PARAMETER);
        // An unrestricted caller (the local CLI) reads any file it names.
        let done = import(&base, url(&outside.join("secret.raw")), false).unwrap();
        assert_eq!(done["SnapshotTaskDetail"]["Status"], "completed", "{done}");
    }

    #[test]
    fn reads_do_not_wait_for_a_writer() {
        // A write transaction held open (as a commit of a copy would) must not stall describes
        // and read-only KMS calls of other threads.
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path()).unwrap();
        let ctx = engine.context("us-east-1", "admin").unwrap();
        engine
            .invoke(&ctx, "CreateKey", json!({}), &NoProgress)
            .unwrap();
        let (held_tx, held_rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        std::thread::scope(|s| {
            let engine = &engine;
            s.spawn(move || {
                engine
                    .catalog()
                    .write(|_| {
                        held_tx.send(()).unwrap();
                        done_rx
                            .recv_timeout(std::time::Duration::from_secs(30))
                            .ok();
                        Ok(())
                    })
                    .unwrap();
            });
            held_rx.recv().unwrap();
            let keys = engine
                .invoke(&ctx, "ListKeys", json!({}), &NoProgress)
                .unwrap();
            assert_eq!(keys["Keys"].as_array().unwrap().len(), 1);
            let images = engine
                .invoke(&ctx, "DescribeImages", json!({}), &NoProgress)
                .unwrap();
            assert_eq!(images["Images"], json!([]));
            done_tx.send(()).unwrap();
        });
    }

    #[test]
    fn a_home_of_an_earlier_version_gets_its_root_key_recorded() {
        // What earlier versions made: a catalog with an account, a root key, no fingerprint.
        let dir = tempfile::tempdir().unwrap();
        let cat = Catalog::open(&dir.path().join(CATALOG_FILE)).unwrap();
        cat.write(|tx| tx.set_setting(ACCOUNT_SETTING, "123456789012"))
            .unwrap();
        drop(cat);
        let (kms, file) = Kms::create(dir.path()).unwrap();
        file.install().unwrap();
        let engine = Engine::open(dir.path()).unwrap();
        assert_eq!(engine.account(), "123456789012");
        let fp = engine
            .catalog()
            .read(|tx| tx.setting(ROOT_KEY_SETTING))
            .unwrap();
        assert_eq!(fp, Some(kms.fingerprint()));
        drop(engine);
        // From now on another root key is refused.
        std::fs::remove_file(dir.path().join(ROOT_KEY_FILE)).unwrap();
        Kms::create(dir.path()).unwrap().1.install().unwrap();
        let e = Engine::open(dir.path()).unwrap_err();
        assert_eq!(e.code(), Code::INVALID_HOME);
    }

    #[test]
    fn processes_making_one_new_home_at_once_agree_on_it() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("h");
        let accounts: Vec<String> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..4)
                .map(|_| s.spawn(|| Engine::open(&home).map(|e| e.account().to_owned())))
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().unwrap().unwrap())
                .collect()
        });
        assert!(accounts.iter().all(|a| *a == accounts[0]), "{accounts:?}");
        let names: Vec<String> = std::fs::read_dir(&home)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("kms-root"))
            .collect();
        assert_eq!(names, [ROOT_KEY_FILE], "one root key, no leftovers");
        Engine::open(&home).unwrap();
    }
}
