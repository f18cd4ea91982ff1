#!/usr/bin/env bash
# Create .venv and install lstm-tui into it, with the right PyTorch build for this machine:
# a CPU build where there is no NVIDIA GPU (a bare `pip install torch` would pull a CUDA build
# of several GB), the default CUDA build where `nvidia-smi` sees one.
#
#   bash scripts/install.sh          # the app
#   bash scripts/install.sh --test   # the app plus the test tools, installed editable: the
#                                    # tests then run the code of this checkout as it is now
#
# Environment: PYTHON (default python3), VENV (default .venv), TORCH_CPU_VERSION (2.13.0).
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
venv=${VENV:-.venv}
target=(".")
# A copy of the package in the environment would go stale at the first edit, and the tests
# would pass on the code as it was when installed.
[[ "${1:-}" == "--test" ]] && target=(-e ".[test]")

"$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
  || { echo "lstm-tui needs Python 3.10 or newer" >&2; exit 1; }
[[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
"${pip[@]}" install --upgrade pip

if "$venv/bin/python" -c 'import torch' 2>/dev/null; then
  echo "torch already installed: $("$venv/bin/python" -c 'import torch; print(torch.__version__)')"
elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  echo "NVIDIA GPU found: installing the CUDA build of torch"
  "${pip[@]}" install "torch>=2.6"
else
  version=${TORCH_CPU_VERSION:-2.13.0}
  echo "no NVIDIA GPU: installing the CPU build of torch $version"
  "${pip[@]}" install "torch==$version" \
    || "${pip[@]}" install "torch==$version" --index-url https://download.pytorch.org/whl/cpu
fi

"${pip[@]}" install "${target[@]}"
echo "installed: $("$venv/bin/lstm-tui" --version)"
