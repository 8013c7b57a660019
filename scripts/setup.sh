#!/usr/bin/env bash
# Set up everything edgewise needs on a fresh Debian machine: OS packages (as root), the
# virtual environment, torch (the CPU wheel, first, so nothing pulls CUDA builds), the project.
# A second run with nothing changed skips every install (a stamp keyed by the inputs).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
VENV=.venv
STAMP_DIR=.stamps
mkdir -p "$STAMP_DIR"

# OS packages: the testbed (iproute2, iptables), data (dataset-fashion-mnist), browser tests (chromium).
APT_PACKAGES=(iproute2 iptables dataset-fashion-mnist chromium)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing OS packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: not root; missing OS packages: ${missing[*]}"
    echo "setup: install them with: sudo apt-get install ${missing[*]}"
    echo "setup: going on with what works (the Linux testbed needs root; the local one does not)"
  fi
fi

key=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
if [ -x "$VENV/bin/python" ] && [ -f "$STAMP_DIR/venv-$key" ]; then
  exit 0
fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
# --no-compile: Python compiles a module's bytecode at its first import instead, so only what runs is
# compiled (most of torch never is); that halves the install time. The Makefile lets Python cache
# what it compiles (it unexports PYTHONDONTWRITEBYTECODE).
PIP=("$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-compile)
echo "setup: installing torch 2.13.0 (CPU wheel) into $VENV"
"${PIP[@]}" "torch==2.13.0"
echo "setup: installing edgewise and its extras"
"${PIP[@]}" -e ".[subjects,test,bench,ray,runtimes]"
# ExecuTorch without its declared requirements: they pin versions of packages it does not import at run time
# (and would replace the CPU torch); the runtimes extra above brings what it imports.
echo "setup: installing executorch 1.5.1 (the runtime)"
"${PIP[@]}" --no-deps "executorch==1.5.1"
rm -f "$STAMP_DIR"/venv-*
touch "$STAMP_DIR/venv-$key"
echo "setup: done"
