# Both srelab modules: services.srelab (the service) and
# services.srelab.lab (Prometheus, node exporter and Grafana for it).
{
  imports = [
    ./srelab.nix
    ./lab.nix
  ];
}
