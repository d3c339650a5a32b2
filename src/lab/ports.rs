//! The lab's addresses, and the check that each is free before anything starts.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};

use super::error::LabError;

/// One port the lab will listen on, and for what.
#[derive(Debug, Clone)]
pub struct Port {
    pub what: String,
    pub addr: SocketAddr,
}

impl Port {
    pub fn new(what: impl Into<String>, port: u16) -> Port {
        Port {
            what: what.into(),
            addr: local(port),
        }
    }
}

/// `127.0.0.1:port`: everything in the lab listens on loopback only.
pub fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Fails on the first port planned twice, or naming every port already taken.
pub fn ensure_free(ports: &[Port]) -> Result<(), LabError> {
    let mut seen: BTreeMap<u16, &str> = BTreeMap::new();
    for p in ports {
        if let Some(first) = seen.insert(p.addr.port(), &p.what) {
            return Err(LabError::PortClash {
                port: p.addr.port(),
                first: first.to_owned(),
                second: p.what.clone(),
            });
        }
    }
    // Binding and dropping is the honest test: it fails exactly when the
    // child's own bind would.
    let taken: Vec<String> = ports
        .iter()
        .filter(|p| TcpListener::bind(p.addr).is_err())
        .map(|p| format!("{} ({})", p.addr, p.what))
        .collect();
    if taken.is_empty() {
        Ok(())
    } else {
        Err(LabError::PortsInUse(taken))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_port_is_named() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let err = ensure_free(&[Port::new("prometheus", port)]).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("port 127.0.0.1:{port} (prometheus) is already in use")
        );
    }

    #[test]
    fn every_taken_port_is_named_at_once() {
        let a = TcpListener::bind("127.0.0.1:0").unwrap();
        let b = TcpListener::bind("127.0.0.1:0").unwrap();
        let (pa, pb) = (
            a.local_addr().unwrap().port(),
            b.local_addr().unwrap().port(),
        );
        let free = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = ensure_free(&[
            Port::new("srelab-1", pa),
            Port::new("srelab-2", free),
            Port::new("prometheus", pb),
        ])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "ports 127.0.0.1:{pa} (srelab-1), 127.0.0.1:{pb} (prometheus) are already in use"
            )
        );
    }

    #[test]
    fn a_port_planned_twice_is_named() {
        let err = ensure_free(&[Port::new("a", 1), Port::new("b", 1)]).unwrap_err();
        assert_eq!(err.to_string(), "port 1 is planned for both a and b");
    }
}
