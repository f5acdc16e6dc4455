"""Programs built on both the library and the plugin: the ``hostdev`` command (``install``, ``show``)."""
