# The srelab modules: services.srelab (the service), services.srelab.lab
# (Prometheus, node exporter and Grafana for it) and services.srelab.lb
# (HAProxy in front of instances).
{
  imports = [
    ./srelab.nix
    ./lab.nix
    ./lb.nix
  ];
}
