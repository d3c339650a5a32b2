//! Every fuzz target over its committed seed corpus (`fuzz/corpus/TARGET/`),
//! so each `cargo test` checks the targets' properties on known inputs,
//! including the regressions the fuzzer found. `scripts/fuzz.sh` runs the
//! same targets under libFuzzer.

use std::path::PathBuf;

#[test]
fn every_target_holds_on_its_seed_corpus() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    for (name, check) in srelab::fuzz::TARGETS {
        let dir = root.join(name);
        let mut seeds: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("no seed corpus {}: {e}", dir.display()))
            .map(|entry| entry.unwrap().path())
            .collect();
        seeds.sort();
        assert!(seeds.len() >= 3, "{name}: only {} seeds", seeds.len());
        for seed in seeds {
            let data = std::fs::read(&seed).unwrap();
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(outcome.is_ok(), "{name} fails on {}", seed.display());
        }
    }
}
