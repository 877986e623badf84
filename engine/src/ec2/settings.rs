//! Encryption by default and the default EBS key, per region (SEMANTICS.md §4).

use super::model::{default_key_setting, ebd_setting};
use super::requests as rq;
use super::responses::{EbsDefaultKmsKeyIdResult, EbsEncryptionByDefaultResult};
use super::Core;
use crate::error::Result;

impl Core<'_> {
    pub(super) fn set_ebd(
        &mut self,
        _: rq::Empty,
        on: bool,
    ) -> Result<EbsEncryptionByDefaultResult> {
        let key = ebd_setting(self.account(), self.region());
        self.cat
            .write(|tx| tx.set_setting(&key, if on { "true" } else { "false" }))?;
        Ok(EbsEncryptionByDefaultResult {
            ebs_encryption_by_default: on,
            sse_type: None,
        })
    }

    pub(super) fn get_ebd(&mut self, _: rq::Empty) -> Result<EbsEncryptionByDefaultResult> {
        let on = self.cat.read(|tx| self.ebd(tx))?;
        Ok(EbsEncryptionByDefaultResult {
            ebs_encryption_by_default: on,
            sse_type: Some("sse-ebs".to_owned()),
        })
    }

    /// `alias/aws/ebs` until ModifyEbsDefaultKmsKeyId is called (§4 rule 6), then what was set.
    pub(super) fn get_default_key(&mut self, _: rq::Empty) -> Result<EbsDefaultKmsKeyIdResult> {
        let key = default_key_setting(self.account(), self.region());
        let set = self.cat.read(|tx| tx.setting(&key))?;
        Ok(EbsDefaultKmsKeyIdResult {
            kms_key_id: set.unwrap_or_else(|| "alias/aws/ebs".into()),
        })
    }

    /// Stores the key ARN, or the raw reference when it does not resolve: validation is
    /// asynchronous on AWS, so a bad key is accepted and breaks later creates (§4 rule 7).
    pub(super) fn modify_default_key(
        &mut self,
        r: rq::KmsKeyIdOnly,
    ) -> Result<EbsDefaultKmsKeyIdResult> {
        let key = default_key_setting(self.account(), self.region());
        let stored = self.cat.write(|tx| {
            let v = match self.kms.resolve(tx, &self.caller, &r.kms_key_id) {
                Ok(k) => k.arn,
                Err(_) => r.kms_key_id.clone(),
            };
            tx.set_setting(&key, &v)?;
            Ok(v)
        })?;
        Ok(EbsDefaultKmsKeyIdResult { kms_key_id: stored })
    }

    pub(super) fn reset_default_key(&mut self, _: rq::Empty) -> Result<EbsDefaultKmsKeyIdResult> {
        let key = default_key_setting(self.account(), self.region());
        let arn = self.cat.write(|tx| {
            let arn = self.kms.aws_ebs_key(tx, &self.caller)?.arn;
            tx.set_setting(&key, &arn)?;
            Ok(arn)
        })?;
        Ok(EbsDefaultKmsKeyIdResult { kms_key_id: arn })
    }
}
