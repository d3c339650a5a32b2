# The one HAProxy configuration, haproxy/srelab.cfg, rendered as
# `srelab lab --lb` renders it (src/lab/haproxy.rs; tests/haproxy_config.rs
# evaluates this file and compares both texts): @LISTEN@ and
# @EXPORTER_LISTEN@ become HOST:PORT, @SERVERS@ one `server NAME ADDRESS`
# line per server, named srelab-1, srelab-2, ... in order. Plain Nix (no
# nixpkgs), so nix-instantiate alone evaluates it.
{
  listen,
  exporter,
  servers,
}: let
  line = i: "    server srelab-${toString (i + 1)} ${builtins.elemAt servers i}";
  lines = builtins.genList line (builtins.length servers);
in
  builtins.replaceStrings ["@LISTEN@" "@EXPORTER_LISTEN@" "@SERVERS@"]
  [listen exporter (builtins.concatStringsSep "\n" lines)]
  (builtins.readFile ../haproxy/srelab.cfg)
