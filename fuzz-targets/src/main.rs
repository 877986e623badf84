//! The stable-toolchain fuzz driver: mutates each target's corpus (`fuzz/corpus/<target>/`)
//! with its dictionary and runs the target on every mutant, printing executions and the rate.
//! A panicking input is written to `fuzz/artifacts/<target>/` and the driver exits with status
//! 1; add it to the corpus once fixed, as a regression case.
//!
//! ```text
//! blockseal-fuzz list
//! blockseal-fuzz seed                       # write the encoders' inputs into the corpora
//! blockseal-fuzz TARGET|all [--runs N] [--seed S] [--max-len BYTES]
//! blockseal-fuzz run TARGET FILE...         # run a target on files (a crash reproduces)
//! ```

use blockseal_fuzz::mutate::Mutator;
use blockseal_fuzz::{corpus, dictionary, fuzz_dir, target, Target, TARGETS};
use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;
use std::time::Instant;

/// Mutants kept to be mutated further, so that changes stack beyond one round.
const POOL: usize = 256;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("blockseal-fuzz: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &[String]) -> Result<ExitCode, String> {
    let Some(first) = args.first() else {
        return Err("usage: blockseal-fuzz list | seed | TARGET|all [--runs N] [--seed S] [--max-len BYTES] | run TARGET FILE...".into());
    };
    match first.as_str() {
        "list" => {
            for t in TARGETS {
                println!("{}", t.name);
            }
            Ok(ExitCode::SUCCESS)
        }
        "seed" => seed().map(|()| ExitCode::SUCCESS),
        "run" => {
            let t = find(args.get(1).ok_or("run: which target?")?)?;
            for file in &args[2..] {
                let data = std::fs::read(file).map_err(|e| format!("{file}: {e}"))?;
                (t.run)(&data);
                println!("{file}: ok");
            }
            Ok(ExitCode::SUCCESS)
        }
        name => {
            let mut runs: u64 = 100_000;
            let mut seed: u64 = 1;
            let mut max_len: usize = 8192;
            let mut rest = args[1..].iter();
            while let Some(flag) = rest.next() {
                let value = rest.next().ok_or(format!("{flag} needs a value"))?;
                let bad = |_| format!("{flag}: not a number: {value}");
                match flag.as_str() {
                    "--runs" => runs = value.parse().map_err(bad)?,
                    "--seed" => seed = value.parse().map_err(bad)?,
                    "--max-len" => max_len = value.parse().map_err(bad)?,
                    _ => return Err(format!("unknown option {flag}")),
                }
            }
            let chosen: Vec<&Target> = if name == "all" {
                TARGETS.iter().collect()
            } else {
                vec![find(name)?]
            };
            let mut crashed = false;
            for t in chosen {
                crashed |= fuzz(t, runs, seed, max_len)?;
            }
            Ok(if crashed {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

fn find(name: &str) -> Result<&'static Target, String> {
    target(name).ok_or_else(|| format!("no target {name}; `blockseal-fuzz list` shows them"))
}

/// Writes each generator's inputs into its target's corpus as `generated-<n>`.
fn seed() -> Result<(), String> {
    for t in TARGETS {
        let Some(generate) = t.generated else {
            continue;
        };
        let dir = fuzz_dir().join("corpus").join(t.name);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for (n, input) in generate().iter().enumerate() {
            let path = dir.join(format!("generated-{n}"));
            std::fs::write(&path, input).map_err(|e| format!("{}: {e}", path.display()))?;
            println!("{}", path.display());
        }
    }
    Ok(())
}

/// Runs `runs` mutants of `t`'s corpus; true if an input panicked.
fn fuzz(t: &Target, runs: u64, seed: u64, max_len: usize) -> Result<bool, String> {
    let mut inputs: Vec<Vec<u8>> = corpus(t)
        .map_err(|e| format!("{}: corpus: {e}", t.name))?
        .into_iter()
        .map(|(_, data)| data)
        .collect();
    if let Some(generate) = t.generated {
        inputs.extend(generate());
    }
    if inputs.is_empty() {
        inputs.push(Vec::new());
    }
    let dict = dictionary(t).map_err(|e| e.to_string())?;
    let mut mutator = Mutator::new(seed, dict, max_len);
    let mut pool: Vec<Vec<u8>> = Vec::with_capacity(POOL);

    // Quiet panics: a crash is reported once, with its input, below.
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let start = Instant::now();
    let mut crash = None;
    for input in &inputs {
        if let Err(message) = execute(t, input) {
            crash = Some((input.clone(), message));
            break;
        }
    }
    let mut execs = inputs.len() as u64;
    while crash.is_none() && execs < runs {
        let rng = mutator.rng();
        let from_pool = !pool.is_empty() && rng.one_in(2);
        let base = if from_pool {
            pool[rng.below(pool.len())].clone()
        } else {
            inputs[rng.below(inputs.len())].clone()
        };
        let other = inputs[rng.below(inputs.len())].clone();
        let mutant = mutator.mutate(&base, &other);
        execs += 1;
        if let Err(message) = execute(t, &mutant) {
            crash = Some((mutant, message));
            break;
        }
        if pool.len() < POOL {
            pool.push(mutant);
        } else {
            let at = mutator.rng().below(POOL);
            pool[at] = mutant;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    panic::set_hook(hook);
    println!(
        "{:<13} {execs:>11} execs in {secs:>7.1} s = {:>9.0} exec/s (corpus {}, seed {seed})",
        t.name,
        execs as f64 / secs.max(1e-9),
        inputs.len()
    );
    let Some((input, message)) = crash else {
        return Ok(false);
    };
    let dir = fuzz_dir().join("artifacts").join(t.name);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join(format!("crash-{:016x}", fnv1a(&input)));
    std::fs::write(&path, &input).map_err(|e| format!("{}: {e}", path.display()))?;
    println!(
        "{}: CRASH after {execs} execs: {message}\n  input ({} bytes) saved to {}\n  {:?}",
        t.name,
        input.len(),
        path.display(),
        String::from_utf8_lossy(&input[..input.len().min(400)])
    );
    Ok(true)
}

/// Runs the target on one input; the panic message if it panicked.
fn execute(t: &Target, input: &[u8]) -> Result<(), String> {
    panic::catch_unwind(AssertUnwindSafe(|| (t.run)(input))).map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(non-string panic)".into())
    })
}

/// A stable name for a crashing input.
fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
