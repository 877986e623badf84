//! Fuzz targets for the KMS parsers of outside bytes: key references (key ids, key ARNs, alias
//! names, alias ARNs) and ciphertext blobs (KMS API ciphertexts and wrapped EBS data keys). A
//! child of `kms` so the targets reach the private parsers without widening them. Re-exported
//! by `crate::fuzzing`; not part of the engine's API.

use super::crypto::{self, DataKeyBinding, NONCE_LEN};
use super::{invalid_ciphertext, KeyRef};
use crate::error::Code;
use crate::secret::{DataKey, Secret32};
use crate::xts::XtsCipher;

/// The KMS key ARN the ciphertext seeds are bound to.
const SEED_ARN: &str =
    "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
/// The `aws:ebs:id` and data key id the wrapped-key seeds are bound to.
const SEED_CONTEXT_ID: &str = "vol-0123456789abcdef0";
const SEED_DEK_ID: &str = "dek-0123456789abcdef0";

/// The fixed key material the ciphertext target opens blobs with (all zero, as a test key).
fn material() -> Secret32 {
    Secret32::zeroed()
}

fn binding(cipher: XtsCipher) -> DataKeyBinding<'static> {
    DataKeyBinding {
        key_arn: SEED_ARN,
        context_id: SEED_CONTEXT_ID,
        dek_id: SEED_DEK_ID,
        cipher,
    }
}

/// A key reference as a `KeyId` parameter carries it. Properties: parsing never panics; a
/// reference is accepted in exactly one of the four forms and the parts it names are the
/// input's own text; anything else is `NotFoundException` with AWS's `Invalid keyId '…'`.
pub fn key_ref(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match KeyRef::parse(text) {
        Ok(KeyRef::Id(id)) => assert_eq!(id.as_str(), text),
        Ok(KeyRef::AliasName(name)) => {
            assert_eq!(name, text);
            assert!(name.starts_with("alias/"));
        }
        Ok(KeyRef::KeyArn {
            region,
            account,
            id,
        }) => {
            let arn = format!("arn:aws:kms:{region}:{account}:key/{id}");
            assert_eq!(arn, text, "a key ARN is rebuilt from its parts");
        }
        Ok(KeyRef::AliasArn {
            region,
            account,
            name,
        }) => {
            assert!(name.starts_with("alias/"));
            let arn = format!("arn:aws:kms:{region}:{account}:{name}");
            assert_eq!(arn, text, "an alias ARN is rebuilt from its parts");
        }
        Err(e) => {
            assert_eq!(e.code(), Code::NOT_FOUND_EXCEPTION, "{e}");
            assert_eq!(e.message(), format!("Invalid keyId '{text}'"));
        }
    }
}

/// A ciphertext blob as `Decrypt` receives it, and as a wrapped data key a volume header
/// carries. Properties: reading the key ARN a blob names and opening it never panic; every
/// failure is `InvalidCiphertextException`; a blob that opens is exactly what sealing its
/// plaintext again with its nonce gives (no byte of a valid blob goes unauthenticated).
pub fn ciphertext(data: &[u8]) {
    let material = material();
    let context = crypto::Context::new();
    match crypto::user_blob_header(data) {
        Ok((arn, version)) => match crypto::open_any_user(&material, arn, &context, data) {
            Ok(plaintext) => {
                let v2 = data[0] == crypto::USER_BLOB_V2;
                let at = 1 + 2 + arn.len() + if v2 { 4 } else { 0 };
                let nonce: [u8; NONCE_LEN] = data[at..at + NONCE_LEN]
                    .try_into()
                    .expect("an opened blob holds a whole nonce");
                let again = if v2 {
                    crypto::seal_user_v2(&material, &nonce, arn, version, &context, &plaintext)
                } else {
                    crypto::seal_user(&material, &nonce, arn, &context, &plaintext)
                };
                assert_eq!(again, data, "a valid KMS ciphertext re-seals to itself");
            }
            Err(e) => assert_eq!(
                invalid_ciphertext(e).code(),
                Code::INVALID_CIPHERTEXT_EXCEPTION
            ),
        },
        Err(e) => assert_eq!(
            invalid_ciphertext(e).code(),
            Code::INVALID_CIPHERTEXT_EXCEPTION
        ),
    }
    for cipher in [XtsCipher::Aes128Xts, XtsCipher::Aes256Xts] {
        let binding = binding(cipher);
        match crypto::open_any_data_key(&material, &binding, data) {
            Ok(key) => {
                assert_eq!(key.expose().len(), cipher.key_len());
                let version = crypto::data_key_version(data).expect("an opened blob has one");
                let v2 = data[0] == crypto::EBS_BLOB_V2;
                let at = if v2 { 5 } else { 1 };
                let nonce: [u8; NONCE_LEN] = data[at..at + NONCE_LEN]
                    .try_into()
                    .expect("an opened blob holds a whole nonce");
                let again = if v2 {
                    crypto::seal_data_key_v2(&material, &nonce, &binding, version, &key)
                } else {
                    crypto::seal_data_key(&material, &nonce, &binding, &key)
                };
                assert_eq!(again, data, "a valid wrapped key re-seals to itself");
            }
            Err(e) => assert_eq!(
                invalid_ciphertext(e).code(),
                Code::INVALID_CIPHERTEXT_EXCEPTION
            ),
        }
    }
}

/// Valid blobs for the ciphertext target's seed corpus: KMS ciphertexts and wrapped data keys
/// sealed under the target's key material and bindings, with fixed nonces.
pub fn ciphertext_seeds() -> Vec<Vec<u8>> {
    let material = material();
    let mut context = crypto::Context::new();
    let mut out = vec![
        crypto::seal_user(&material, &[7; NONCE_LEN], SEED_ARN, &context, b""),
        crypto::seal_user(
            &material,
            &[8; NONCE_LEN],
            SEED_ARN,
            &context,
            b"hello, world",
        ),
    ];
    context.insert("purpose".into(), "test".into());
    // Bound to a context the target does not pass: opens fail with an authentication error.
    out.push(crypto::seal_user(
        &material,
        &[9; NONCE_LEN],
        SEED_ARN,
        &context,
        b"secret",
    ));
    for (n, cipher) in [XtsCipher::Aes128Xts, XtsCipher::Aes256Xts]
        .into_iter()
        .enumerate()
    {
        let key = DataKey::from_slice(&vec![0x5a; cipher.key_len()]);
        let nonce = [n as u8 + 1; NONCE_LEN];
        out.push(crypto::seal_data_key(
            &material,
            &nonce,
            &binding(cipher),
            &key,
        ));
        // The versioned kind, as keys rotated once write it.
        out.push(crypto::seal_data_key_v2(
            &material,
            &nonce,
            &binding(cipher),
            1,
            &key,
        ));
    }
    out.push(crypto::seal_user_v2(
        &material,
        &[10; NONCE_LEN],
        SEED_ARN,
        2,
        &crypto::Context::new(),
        b"rotated",
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_open_and_round_trip() {
        let seeds = ciphertext_seeds();
        let material = material();
        let context = crypto::Context::new();
        let pt = crypto::open_user(&material, SEED_ARN, &context, &seeds[1]).unwrap();
        assert_eq!(&pt[..], b"hello, world");
        let rotated = seeds.last().unwrap();
        assert_eq!(crypto::user_blob_header(rotated).unwrap(), (SEED_ARN, 2));
        let pt = crypto::open_any_user(&material, SEED_ARN, &context, rotated).unwrap();
        assert_eq!(&pt[..], b"rotated");
        for s in &seeds {
            ciphertext(s);
        }
        key_ref(SEED_ARN.as_bytes());
        key_ref(b"alias/aws/ebs");
        key_ref(b"arn:aws:kms:us-east-1:111122223333:alias/x");
        key_ref(b"not a key");
    }
}
