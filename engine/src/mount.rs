//! What a mount needs from the engine: an instance's attached volumes opened for block I/O, each
//! data key unwrapped once (through the KMS, with the same checks as AttachVolume) and each volume
//! file locked exclusively, so no second mount can write it.
//!
//! The FUSE server itself is a front end (crate `blockseal-fuse`); this module only hands it
//! devices.

use crate::api::{Context, Engine, Session};
use crate::device::FileDevice;
use crate::ec2::model::{InstanceState, VolumeRec};
use crate::ec2::{rules, Core, GIB};
use crate::error::{bail, Code, Error, Result};
use std::sync::Arc;

/// A volume opened for I/O by a mount.
pub struct MountedVolume {
    /// The device name as attached, e.g. `/dev/sdf`.
    pub device: String,
    /// The file name it shows as in a mount: the device without `/dev/`.
    pub file_name: String,
    /// The volume's id.
    pub volume_id: String,
    /// The block device; holds the data key and the volume file's exclusive lock while alive.
    pub dev: Arc<FileDevice>,
}

impl std::fmt::Debug for MountedVolume {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MountedVolume({} at {})", self.volume_id, self.device)
    }
}

impl Engine {
    /// Opens every volume attached to running instance `instance_id` for block I/O.
    ///
    /// # Errors
    /// `InvalidInstanceID.*` for a bad id; `IncorrectInstanceState` unless the instance is
    /// running; `CustomerKeyHasBeenRevoked` when a volume's key cannot be used (disabled,
    /// pending deletion, no grant); `ResourceBusy` when another mount holds a volume.
    pub fn open_instance_volumes(
        &self,
        ctx: &Context,
        instance_id: &str,
    ) -> Result<Vec<MountedVolume>> {
        let core = self.core(ctx)?;
        let vols = core.cat.read(|tx| {
            let inst = core.instance(tx, instance_id)?;
            if inst.state != InstanceState::Running {
                bail!(
                    Code::INCORRECT_INSTANCE_STATE,
                    "The instance '{}' is not running (it is '{}'); start it before mounting it.",
                    inst.id,
                    inst.state.name()
                );
            }
            core.attached_volumes(tx, &inst)
        })?;
        vols.iter().map(|v| core.open_device(v)).collect()
    }

    /// Opens volume `volume_id`, attached to `instance_id`, for block I/O (a live attach).
    ///
    /// # Errors
    /// As [`Engine::open_instance_volumes`]; `InvalidAttachment.NotFound` when the volume is not
    /// attached to that instance.
    pub fn open_attached_volume(
        &self,
        ctx: &Context,
        instance_id: &str,
        volume_id: &str,
    ) -> Result<MountedVolume> {
        let core = self.core(ctx)?;
        let v = core.cat.read(|tx| core.volume(tx, volume_id))?;
        if v.attachment
            .as_ref()
            .is_none_or(|a| a.instance_id != instance_id)
        {
            bail!(
                Code::INVALID_ATTACHMENT_NOT_FOUND,
                "The volume '{volume_id}' is not attached to instance '{instance_id}'."
            );
        }
        core.open_device(&v)
    }
}

impl Session {
    /// [`Engine::open_instance_volumes`] as this session's caller.
    ///
    /// # Errors
    /// As [`Engine::open_instance_volumes`].
    pub fn open_instance_volumes(&self, instance_id: &str) -> Result<Vec<MountedVolume>> {
        self.engine()
            .open_instance_volumes(self.context(), instance_id)
    }

    /// [`Engine::open_attached_volume`] as this session's caller.
    ///
    /// # Errors
    /// As [`Engine::open_attached_volume`].
    pub fn open_attached_volume(
        &self,
        instance_id: &str,
        volume_id: &str,
    ) -> Result<MountedVolume> {
        self.engine()
            .open_attached_volume(self.context(), instance_id, volume_id)
    }
}

impl Core<'_> {
    fn open_device(&self, v: &VolumeRec) -> Result<MountedVolume> {
        let a = v.attachment.as_ref().expect("attached volumes only");
        let xts = self
            .cat
            .read(|tx| self.attach_key(tx, v, "mounted", None))?;
        let size = v.size_gib * GIB;
        // Validates the header against the catalog before any byte is served.
        drop(self.open_blob(&v.id, size, v.encryption.as_ref())?);
        let path = self.store.path_of(&v.id);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(format!("open {}", path.display()), e))?;
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(rustix::io::Errno::WOULDBLOCK) => bail!(
                Code::RESOURCE_BUSY,
                "Volume {} is already mounted by another blockseal mount; unmount it first",
                v.id
            ),
            Err(e) => return Err(Error::io(format!("lock {}", path.display()), e.into())),
        }
        let dev = FileDevice::new(
            file,
            path,
            crate::blob::HEADER_LEN as u64,
            size,
            v.sector_size as usize,
            xts,
        )?;
        Ok(MountedVolume {
            device: a.device.clone(),
            file_name: rules::device_file_name(&a.device).to_owned(),
            volume_id: v.id.clone(),
            dev: Arc::new(dev),
        })
    }
}
