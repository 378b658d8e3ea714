# shellcheck shell=bash
# For hack/*.sh that start processes which run on after the script ends (the control plane,
# the GPU operator): source it and call close_inherited_fds first thing.

# Closes every descriptor the script inherited above stderr (255 is bash's own, reading the
# script). The processes the script starts must not inherit them: a caller holding a lock
# (`flock FILE make test`, a CI lock) would otherwise find it held by kube-apiserver, etcd or
# the operator's exporter forever.
close_inherited_fds() {
  local fd
  for fd in /proc/$$/fd/*; do
    fd="${fd##*/}"
    if [[ "${fd}" -gt 2 && "${fd}" -lt 255 ]]; then eval "exec ${fd}>&-" 2>/dev/null || true; fi
  done
}
