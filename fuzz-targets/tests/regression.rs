//! Every fuzz target over its committed corpus (`fuzz/corpus/<target>/`, which holds the seeds
//! and every input that ever crashed a target), the inputs its generator makes, and a fixed
//! number of seeded mutants of those, on the stable toolchain. A failure names the target and
//! the input; `cargo run -p blockseal-fuzz -- run TARGET FILE` replays a corpus file.

use blockseal_fuzz::mutate::Mutator;
use blockseal_fuzz::{corpus, dictionary, Target, TARGETS};
use std::panic::{self, AssertUnwindSafe};

/// Mutants per target: enough to walk each parser's error paths, few enough that the whole
/// test stays within seconds in a debug build.
const MUTANTS: usize = 5_000;
/// The mutation seed: fixed, so a failure reproduces.
const SEED: u64 = 0x5eed_b10c_5ea1;

fn check(t: &Target, what: &str, input: &[u8]) {
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| (t.run)(input))) {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        panic!(
            "target {} failed on {what} ({} bytes: {:?}): {message}",
            t.name,
            input.len(),
            String::from_utf8_lossy(&input[..input.len().min(300)])
        );
    }
}

fn inputs(t: &Target) -> Vec<(String, Vec<u8>)> {
    let mut inputs = corpus(t).unwrap_or_else(|e| panic!("corpus of {}: {e}", t.name));
    assert!(!inputs.is_empty(), "fuzz/corpus/{} has no seeds", t.name);
    if let Some(generate) = t.generated {
        inputs.extend(
            generate()
                .into_iter()
                .enumerate()
                .map(|(n, data)| (format!("generated input {n}"), data)),
        );
    }
    inputs
}

#[test]
fn every_target_passes_its_corpus_and_seeded_mutants() {
    for t in TARGETS {
        let inputs = inputs(t);
        for (name, data) in &inputs {
            check(t, &format!("corpus file {name}"), data);
        }
        let dict = dictionary(t).unwrap_or_else(|e| panic!("dictionary of {}: {e}", t.name));
        assert!(!dict.is_empty(), "fuzz/dict/{}.dict is missing", t.name);
        let mut mutator = Mutator::new(SEED, dict, 8192);
        for n in 0..MUTANTS {
            let rng = mutator.rng();
            let base = &inputs[rng.below(inputs.len())].1;
            let other = &inputs[rng.below(inputs.len())].1;
            let mutant = mutator.mutate(base, other);
            check(t, &format!("mutant {n} of seed {SEED:#x}"), &mutant);
        }
    }
}

#[test]
fn every_target_has_a_libfuzzer_harness() {
    let dir = blockseal_fuzz::fuzz_dir();
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    for t in TARGETS {
        let harness = std::fs::read_to_string(dir.join(format!("fuzz_targets/{}.rs", t.name)))
            .unwrap_or_else(|e| panic!("fuzz/fuzz_targets/{}.rs: {e}", t.name));
        assert!(
            harness.contains(&format!("blockseal_fuzz::targets::{}(data)", t.name)),
            "the {} harness calls its target",
            t.name
        );
        assert!(
            manifest.contains(&format!("name = \"{}\"", t.name)),
            "fuzz/Cargo.toml builds {}",
            t.name
        );
    }
}
