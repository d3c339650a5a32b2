//! The SLO file and what is generated from it: the committed rules, unit
//! tests and dashboard are exactly what the generator makes now; promtool
//! accepts the rules and passes every generated unit test; the binary
//! embeds what is committed; `srelab slo` fails as it says it does.

mod common;
mod lab_support;

use std::path::Path;

use common::tools::promtool;
use lab_support::{output_within, srelab};
use serde_json::Value;
use srelab::slo::{self, spec::Spec};
use srelab::verify::assets;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn spec() -> Spec {
    Spec::load(&repo().join(slo::SPEC_PATH)).expect("spec/slo.toml reads")
}

#[test]
fn the_committed_files_are_what_the_generator_makes() {
    let stale = slo::stale(&spec(), repo()).unwrap();
    assert!(
        stale.is_empty(),
        "differ from spec/slo.toml: {stale:?}; run `cargo run -- slo generate`"
    );
    assert_eq!(
        assets::SLO_RULES,
        std::fs::read_to_string(repo().join(slo::RULES_PATH)).unwrap()
    );
}

#[test]
fn promtool_accepts_the_rules() {
    promtool(&["check", "rules", slo::RULES_PATH]);
}

/// Every generated unit-test file, each in its own promtool, at once.
#[test]
fn promtool_passes_every_generated_unit_test() {
    let files: Vec<String> = slo::generate(&spec())
        .unwrap()
        .into_iter()
        .map(|(path, _)| path)
        .filter(|p| p.starts_with("prometheus/slo.test-"))
        .collect();
    assert_eq!(
        files.len(),
        spec().alerts.len(),
        "one file per alert policy"
    );
    std::thread::scope(|s| {
        for f in &files {
            s.spawn(move || promtool(&["test", "rules", f]));
        }
    });
}

#[test]
fn every_burn_rate_alert_is_tested_firing_quiet_and_after_the_burn() {
    let spec = spec();
    for (path, text) in slo::generate(&spec).unwrap() {
        if !path.starts_with("prometheus/slo.test-") {
            continue;
        }
        for slo in &spec.slos {
            for case in ["just above", "just below", "a burn stopped"] {
                let title = format!("# {}: ", slo.name);
                assert!(
                    text.lines()
                        .any(|l| l.trim_start().starts_with(&title) && l.contains(case)),
                    "{path}: no `{case}` case for {}",
                    slo.name
                );
            }
        }
    }
}

#[test]
fn the_slo_dashboard_is_normalised_and_reads_the_recorded_ratios() {
    let (file, text) = assets::DASHBOARDS
        .iter()
        .find(|(f, _)| *f == slo::dashboard::FILE)
        .expect("the binary embeds the SLO dashboard");
    assert_eq!(
        *text,
        std::fs::read_to_string(repo().join("grafana/dashboards").join(file)).unwrap()
    );
    let doc: Value = serde_json::from_str(text).unwrap();
    assert_eq!(doc["uid"], slo::dashboard::UID);
    assert!(doc["id"].is_null() && doc.get("version").is_none());
    let panels = doc["panels"].as_array().unwrap();
    for slo in &spec().slos {
        let of_slo: Vec<&Value> = panels
            .iter()
            .filter(|p| {
                p["targets"]
                    .to_string()
                    .contains(&format!("slo=\\\"{}\\\"", slo.name))
            })
            .collect();
        let titles: Vec<&str> = of_slo.iter().filter_map(|p| p["title"].as_str()).collect();
        assert!(
            titles.iter().any(|t| t.starts_with("Error budget left")),
            "{titles:?}"
        );
        assert!(titles.contains(&"Burn rate by window"), "{titles:?}");
        for p in of_slo {
            assert_eq!(
                p["datasource"]["uid"],
                srelab::lab::defaults::DATASOURCE_UID
            );
            assert!(
                p["fieldConfig"]["defaults"]["unit"].is_string(),
                "{}",
                p["title"]
            );
            assert!(
                p["targets"]
                    .to_string()
                    .contains("slo:sli_error:ratio_rate")
            );
        }
    }
}

#[test]
fn generate_check_names_a_stale_file_and_a_bad_spec_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["prometheus", "grafana/dashboards"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
    }
    let spec_path = repo().join(slo::SPEC_PATH);
    let run = |args: &[&str]| {
        let mut cmd = srelab();
        cmd.args(["slo", "generate", "--spec"])
            .arg(&spec_path)
            .arg("--root")
            .arg(dir.path())
            .args(args);
        output_within(&mut cmd, std::time::Duration::from_secs(60))
    };
    let (code, _, err) = run(&["--check"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("prometheus/slo.yml") && err.contains("srelab slo generate"),
        "{err}"
    );
    let (code, out, err) = run(&[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("wrote "), "{out}");
    let (code, _, err) = run(&["--check"]);
    assert_eq!(code, 0, "{err}");

    let bad = dir.path().join("slo.toml");
    std::fs::write(&bad, "job = \"srelab\"\n[[slo]]\nname = \"x\"\n").unwrap();
    let (code, _, err) = output_within(
        srelab().args(["slo", "gates", "--spec"]).arg(&bad),
        std::time::Duration::from_secs(30),
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with("error: the SLO file") && err.lines().count() == 1,
        "{err}"
    );
}

#[test]
fn gates_print_load_options() {
    let (code, out, err) = output_within(
        srelab()
            .args(["slo", "gates", "--spec"])
            .arg(repo().join(slo::SPEC_PATH)),
        std::time::Duration::from_secs(30),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.trim(),
        "--max-error-ratio 0.001 --max-p99 /api/items=250ms --max-p99 /api/items/{id}=250ms"
    );
}
