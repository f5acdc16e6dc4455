"""Build-time generator of ``hostdev._netns_ffi``: cffi out-of-line ABI mode.

ABI mode needs no compiler and the generated module holds its type data pre-parsed, so importing
it needs neither pycparser nor a C toolchain: only ``_cffi_backend``. setuptools runs this through
``cffi_modules`` (setup.py); ``python -m hostdev._netns_build`` writes it next to this file for a
source checkout.
"""

from __future__ import annotations

import os

from cffi import FFI

CDEF = """
int setns(int fd, int nstype);
int unshare(int flags);
"""

ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source("hostdev._netns_ffi", None)


def main() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    ffibuilder.emit_python_code(os.path.join(here, "_netns_ffi.py"))


if __name__ == "__main__":
    main()
