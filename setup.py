"""Only here for cffi: ``cffi_modules`` generates hostdev/_netns_ffi.py (ABI mode) at build time."""

from setuptools import setup

setup(cffi_modules=["hostdev/_netns_build.py:ffibuilder"])
