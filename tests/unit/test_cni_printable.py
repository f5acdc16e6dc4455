"""The printable rule: no path, name or ID the plugin accepts holds a non-printable character.

Every character of a configured path (``stateDir``, ``logFile``, ``kernelpath``), of the
``type``, and of the ``CNI_*`` values (``CNI_NETNS``, ``CNI_ARGS`` values, ``CNI_PATH``) must
satisfy ``str.isprintable()``, which also excludes surrogates (a non-UTF-8 byte from the
environment arrives as one). Such a character either cannot be written faithfully to a state
record, a log line or a JSON reply, or makes a path look like another one (U+202E reverses the
text after it, U+200B is invisible). The ASCII space stays allowed where it was (paths,
``CNI_ARGS`` values); names and IDs that never allowed a space still do not.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hostdev.cni.config import parse_plugin_config
from hostdev.cni.errors import INVALID_CONFIG, INVALID_ENVIRONMENT, CniError
from hostdev.cni.names import path_problem
from hostdev.cni.node_settings import NodeSettings
from hostdev.cni.protocol import parse_env

# Each one has been accepted by an earlier version of the validators (the surrogate came from a
# failed CI run of tests/unit/test_fuzz_inputs.py).
UNPRINTABLE = {
    "surrogate (non-UTF-8 byte)": os.fsdecode(b"\xff"),
    "lone surrogate": "\ud800",
    "NEL U+0085": "\x85",
    "zero-width space U+200B": "\u200b",
    "right-to-left override U+202E": "\u202e",
    "no-break space U+00A0": "\xa0",
    "line separator U+2028": "\u2028",
    "BOM U+FEFF": "\ufeff",
    "C1 control U+009B": "\x9b",
    "private use U+E000": "\ue000",
    "NUL": "\x00",
    "newline": "\n",
    "DEL": "\x7f",
}
CASES = pytest.mark.parametrize("char", UNPRINTABLE.values(), ids=UNPRINTABLE.keys())

BASE = {"cniVersion": "1.1.0", "name": "net", "type": "amd-host-device", "deviceID": "0000:44:00.0"}
ENV = {
    "CNI_COMMAND": "ADD",
    "CNI_CONTAINERID": "c0ffee",
    "CNI_IFNAME": "net1",
    "CNI_NETNS": "/run/netns/pod",
    "CNI_PATH": "/opt/cni/bin",
}


def _config_error(**changes: object) -> CniError:
    with pytest.raises(CniError) as caught:
        parse_plugin_config({**BASE, **changes}, "ADD")
    assert caught.value.code == INVALID_CONFIG
    return caught.value


def _env_error(**changes: str) -> CniError:
    with pytest.raises(CniError) as caught:
        parse_env({**ENV, **changes})
    assert caught.value.code == INVALID_ENVIRONMENT
    return caught.value


def _printable_details(error: CniError) -> None:
    """The refusal itself must be printable (it is written to stdout as JSON and to the log)."""
    assert error.msg.isprintable() and error.details.isprintable(), error


@CASES
@pytest.mark.parametrize("key", ["stateDir", "logFile"])
def test_configured_paths_refuse_it(key: str, char: str) -> None:
    error = _config_error(**{key: f"/var/lib/cni/a{char}b"})
    assert key in error.msg and "non-printable" in error.details
    _printable_details(error)


@CASES
def test_kernelpath_refuses_it(char: str) -> None:
    error = _config_error(deviceID=None, kernelpath=f"/{char}sys/devices/pci0000:00/0000:00:03.0")
    assert "kernelpath" in error.msg
    _printable_details(error)


@CASES
def test_type_refuses_it(char: str) -> None:
    error = _config_error(type=f"amd-host{char}-device")
    assert "type" in error.msg
    _printable_details(error)


@CASES
def test_cni_netns_refuses_it(char: str) -> None:
    error = _env_error(CNI_NETNS=f"/run/netns/pod{char}")
    assert "CNI_NETNS" in error.msg and "non-printable" in error.details
    _printable_details(error)


@CASES
def test_cni_args_values_refuse_it(char: str) -> None:
    error = _env_error(CNI_ARGS=f"K8S_POD_NAME=a{char}b")
    assert "CNI_ARGS" in error.msg
    _printable_details(error)


@CASES
def test_cni_path_refuses_it(char: str) -> None:
    error = _env_error(CNI_PATH=f"/opt/cni/bin:/opt/{char}/bin")
    assert "CNI_PATH" in error.msg
    _printable_details(error)


def test_the_message_names_the_character() -> None:
    assert _env_error(CNI_NETNS="/run/netns/\u202epod").details.startswith("contains the non-printable character U+202E")


def test_ascii_space_and_printable_unicode_stay_allowed_in_paths_and_args() -> None:
    assert path_problem("/var/lib/cni/my state", "stateDir") is None
    assert path_problem("/var/lib/cni/d\u00e9j\u00e0", "stateDir") is None
    env = parse_env({**ENV, "CNI_NETNS": "/run/netns/pod one", "CNI_ARGS": "K=a b"})
    assert env.netns == "/run/netns/pod one" and env.args == (("K", "a b"),)
    node = NodeSettings("/etc/cni/amd-host-device.conf", log_dir="/var/log/my logs")
    conf = parse_plugin_config({**BASE, "logFile": "/var/log/my logs/d\u00e9j\u00e0 vu.log"}, "ADD", node)
    assert conf.log_file == "/var/log/my logs/d\u00e9j\u00e0 vu.log"


# Names and IDs: each has a charset of its own (ASCII only), which must refuse every one of the
# characters above too, with the code of where the text came from (4: environment, 7: config).
ENV_NAMES = {"CNI_CONTAINERID": "c0{}ffee", "CNI_IFNAME": "ne{}t1"}


@CASES
@pytest.mark.parametrize("variable", ENV_NAMES)
def test_ids_and_names_in_the_environment_refuse_it(variable: str, char: str) -> None:
    error = _env_error(**{variable: ENV_NAMES[variable].format(char)})
    assert variable in error.msg
    _printable_details(error)


CONFIG_NAMES = {
    "name": {"name": "ne{}t"},
    "deviceID": {"deviceID": "0000:44:00.0{}"},
    "runtimeConfig.deviceID": {"deviceID": None, "runtimeConfig": {"deviceID": "mlx5_core.sf.{}4"}},
    "pciBusID": {"deviceID": None, "pciBusID": "0000:44{}:00.0"},
    "device": {"deviceID": None, "device": "enp{}68s0"},
    "hwaddr": {"deviceID": None, "hwaddr": "02:00:00:00:00:0{}1"},
    "ipam.type": {"ipam": {"type": "host{}-local"}},
}


def _formatted(value: object, char: str) -> object:
    if isinstance(value, str):
        return value.format(char)
    if isinstance(value, dict):
        return {key: _formatted(item, char) for key, item in value.items()}
    if isinstance(value, list):
        return [_formatted(item, char) for item in value]
    return value


@CASES
@pytest.mark.parametrize("key", CONFIG_NAMES)
def test_ids_and_names_in_the_configuration_refuse_it(key: str, char: str) -> None:
    changes = _formatted(CONFIG_NAMES[key], char)
    assert isinstance(changes, dict)
    error = _config_error(**changes)
    assert key in error.msg
    _printable_details(error)


@CASES
@pytest.mark.parametrize("field", ["containerID", "ifname"])
def test_valid_attachments_of_a_gc_refuse_it(field: str, char: str) -> None:
    from hostdev.cni.protocol import parse_valid_attachments

    entry = {"containerID": "c0ffee", "ifname": "net1"}
    entry[field] = f"{entry[field][:2]}{char}{entry[field][2:]}"
    with pytest.raises(CniError) as caught:
        parse_valid_attachments({"cni.dev/valid-attachments": [entry]})
    assert caught.value.code == INVALID_CONFIG and f"[0].{field}" in caught.value.msg
    _printable_details(caught.value)


@CASES
@pytest.mark.parametrize(
    "settings",
    [{"stateDir": "/var/lib/cni/a{}b"}, {"logDir": "/var/log/a{}b"}, {"deny": {"netdev": ["en{}o1"]}}, {"allow": {"driver": ["e1000{}e"]}}],
    ids=["stateDir", "logDir", "deny.netdev", "allow.driver"],
)
def test_node_settings_refuse_it(settings: dict[str, object], char: str, tmp_path: Path) -> None:
    """Trusted, but still text that ends in paths, logs and replies."""
    import json

    from hostdev.cni.node_settings import load_node_settings

    path = tmp_path / "amd-host-device.conf"
    path.write_text(json.dumps(_formatted(settings, char)))
    with pytest.raises(CniError) as caught:
        load_node_settings(str(path))
    assert caught.value.code == INVALID_CONFIG and "node settings" in caught.value.msg
    _printable_details(caught.value)
