//! The Grafana files `srelab lab` generates, and the command it would start
//! Grafana with. Grafana itself is not packaged by Debian, so the lab tests
//! run with `--no-grafana`; this test keeps what the lab hands Grafana under
//! test: the provisioning layout Grafana reads (`datasources/*.yaml`,
//! `dashboards/*.yaml`), the YAML's structure, and every path and variable
//! it names resolving to what the lab wrote; Loki's datasource only when
//! Loki runs.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;
use srelab::lab::defaults::{DASHBOARD_UID, DATASOURCE_UID, LOKI_DATASOURCE_UID};
use srelab::lab::grafana;
use srelab::lab::state::StateDir;
use srelab::verify::assets;

/// The environment the command sets, as strings.
fn environment(cmd: &std::process::Command) -> BTreeMap<String, String> {
    cmd.get_envs()
        .filter_map(|(k, v)| Some((k.to_str()?.to_owned(), v?.to_str()?.to_owned())))
        .collect()
}

/// A YAML file, with `$VAR` replaced from `env` as Grafana does.
fn provisioning_yaml(path: &Path, env: &BTreeMap<String, String>) -> Value {
    let mut text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for (var, value) in env {
        text = text.replace(&format!("${var}"), value);
    }
    assert!(
        !text
            .lines()
            .any(|l| !l.trim_start().starts_with('#') && l.contains('$')),
        "a variable the lab does not set in {}:\n{text}",
        path.display()
    );
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The command as the lab builds it, for binaries that need not exist.
fn command(
    state: &StateDir,
    prov: &Path,
    listen: std::net::SocketAddr,
    urls: &grafana::Datasources<'_>,
) -> std::process::Command {
    grafana::command(
        Path::new("/nonexistent/grafana"),
        Path::new("/nonexistent/share/grafana"),
        state,
        prov,
        listen,
        urls,
    )
}

#[test]
fn grafana_gets_provisioning_that_resolves_to_the_lab_files() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::prepare(&dir.path().join("state")).unwrap();
    let prov = grafana::write_files(&state, false).unwrap();
    let listen = "127.0.0.1:3999".parse().unwrap();
    let prometheus = "http://127.0.0.1:9999";
    let urls = grafana::Datasources {
        prometheus,
        loki: None,
    };
    let cmd = command(&state, &prov, listen, &urls);
    assert_eq!(cmd.get_args().next(), Some(OsStr::new("server")));
    let env = environment(&cmd);
    assert_eq!(Path::new(&env["GF_PATHS_PROVISIONING"]), prov);
    assert_eq!(env["GF_SERVER_HTTP_ADDR"], "127.0.0.1");
    assert_eq!(env["GF_SERVER_HTTP_PORT"], "3999");
    // Everything Grafana writes stays in the state directory.
    for var in ["GF_PATHS_DATA", "GF_PATHS_LOGS", "GF_PATHS_PLUGINS"] {
        assert!(
            Path::new(&env[var]).starts_with(state.root()),
            "{var}={} is outside the state directory",
            env[var]
        );
    }

    let datasources = provisioning_yaml(&prov.join("datasources/prometheus.yaml"), &env);
    assert_eq!(datasources["apiVersion"], Value::from(1));
    let ds = &datasources["datasources"];
    assert_eq!(ds.as_sequence().map(Vec::len), Some(1), "{ds:?}");
    assert_eq!(ds[0]["type"], Value::from("prometheus"));
    assert_eq!(ds[0]["uid"], Value::from(DATASOURCE_UID));
    assert_eq!(ds[0]["url"], Value::from(prometheus));
    assert_eq!(ds[0]["access"], Value::from("proxy"));
    assert_eq!(ds[0]["isDefault"], Value::from(true));

    let providers = provisioning_yaml(&prov.join("dashboards/srelab.yaml"), &env);
    assert_eq!(providers["apiVersion"], Value::from(1));
    let provider = &providers["providers"][0];
    assert_eq!(provider["type"], Value::from("file"));
    let dashboards = PathBuf::from(
        provider["options"]["path"]
            .as_str()
            .expect("a dashboards path"),
    );
    for (file, json) in assets::DASHBOARDS {
        let written = std::fs::read_to_string(dashboards.join(file))
            .unwrap_or_else(|e| panic!("{file} not in the provider's path: {e}"));
        assert_eq!(written, *json, "{file} as the repository has it");
    }
    let home = std::fs::read_to_string(&env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"])
        .expect("the home dashboard exists");
    let home: serde_json::Value = serde_json::from_str(&home).unwrap();
    assert_eq!(home["uid"], DASHBOARD_UID);
}

#[test]
fn the_loki_datasource_only_when_loki_runs() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::prepare(&dir.path().join("state")).unwrap();
    let listen = "127.0.0.1:3999".parse().unwrap();
    let loki = "http://127.0.0.1:3100";
    let urls = grafana::Datasources {
        prometheus: "http://127.0.0.1:9999",
        loki: Some(loki),
    };
    let prov = grafana::write_files(&state, true).unwrap();
    let env = environment(&command(&state, &prov, listen, &urls));
    let yaml = provisioning_yaml(&prov.join("datasources/loki.yaml"), &env);
    assert_eq!(yaml["apiVersion"], Value::from(1));
    let ds = &yaml["datasources"];
    assert_eq!(ds.as_sequence().map(Vec::len), Some(1), "{ds:?}");
    assert_eq!(ds[0]["type"], Value::from("loki"));
    assert_eq!(ds[0]["uid"], Value::from(LOKI_DATASOURCE_UID));
    assert_eq!(ds[0]["url"], Value::from(loki));
    assert_eq!(ds[0]["access"], Value::from("proxy"));
    assert!(ds[0]["isDefault"].is_null(), "Prometheus stays the default");

    // The next start without Loki removes it: no datasource without a URL.
    let prov = grafana::write_files(&state, false).unwrap();
    assert!(!prov.join("datasources/loki.yaml").exists());
    let env = environment(&command(&state, &prov, listen, &urls_without_loki()));
    assert!(!env.contains_key("SRELAB_LOKI_URL"), "{env:?}");
}

fn urls_without_loki() -> grafana::Datasources<'static> {
    grafana::Datasources {
        prometheus: "http://127.0.0.1:9999",
        loki: None,
    }
}
