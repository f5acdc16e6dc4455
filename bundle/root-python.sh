#!/bin/sh
# Runs inside the bullseye builder root (bundle/build_root.py, through bundle/run-in-root.sh):
# builds CPython from Debian's python3.11 source package (DSC, with all of Debian's patches,
# security fixes included) with bullseye's gcc against bullseye's glibc 2.31, installs it under
# /opt/python3.11, and makes a venv /opt/venv with the pinned wheels in WHEELS (cffi for the
# generated ABI-mode module and its _cffi_backend; pip only to install them, offline).
#
#   root-python.sh DSC WHEELS REQUIREMENTS
set -eu
dsc=$1 wheels=$2 requirements=$3
work=$(dirname "$dsc")/python
log=$(dirname "$dsc")/log
mkdir -p "$log"
rm -rf "$work"
dpkg-source --no-copy -x "$dsc" "$work" >"$log/dpkg-source.log" 2>&1
cd "$work"
# Debian builds pyexpat into the interpreter; the upstream build makes it an extension module,
# which Debian's backport of CVE-2026-4224 (internal headers) only compiles with this define,
# the one upstream's later pyexpat.c sets itself.
sed -i '1i #ifndef Py_BUILD_CORE_BUILTIN\n#  define Py_BUILD_CORE_MODULE 1\n#endif' Modules/pyexpat.c
# Shared libpython (the bundle's launcher embeds it); -O3 as upstream; no semantic interposition
# as upstream's --enable-optimizations sets (calls inside libpython stay direct). No PGO/LTO
# (--enable-optimizations): its training run would add minutes to a cold build on CI's 2 cores.
# No test suite or test modules: never shipped, and a third of what `make install` would copy
# and byte-compile three times.
./configure --prefix=/opt/python3.11 --enable-shared --without-ensurepip --disable-test-modules \
  CFLAGS_NODIST=-fno-semantic-interposition LDFLAGS_NODIST=-fno-semantic-interposition \
  >"$log/configure.log" 2>&1
make -j"$(nproc)" >"$log/make.log" 2>&1
make install >"$log/install.log" 2>&1
# The root's interpreter finds its libpython through the root's own linker cache, not an rpath
# (an rpath would end up in every extension module the bundle ships).
echo /opt/python3.11/lib >/etc/ld.so.conf.d/python3.11.conf
ldconfig
/opt/python3.11/bin/python3.11 -c 'import pyexpat, zlib, _ctypes'  # built after all
/opt/python3.11/bin/python3.11 -m venv --without-pip /opt/venv
pip=$(ls "$wheels"/pip-*.whl)
/opt/venv/bin/python "$pip/pip" install --quiet --no-index --no-deps --find-links "$wheels" -r "$requirements"
/opt/venv/bin/python -c 'import _cffi_backend, cffi'
cd /
rm -rf "$work"
