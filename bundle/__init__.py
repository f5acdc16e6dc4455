"""The self-contained node bundle of amd-host-device: build script, entry point, measurements."""
