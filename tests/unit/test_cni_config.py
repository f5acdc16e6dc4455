"""Plugin configuration: required keys, strict types, device selection, options and their bounds."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hostdev.cni.config import (
    DEFAULT_STATE_DIR,
    DeviceSelection,
    DeviceSelector,
    PluginConfig,
    parse_plugin_config,
)
from hostdev.cni.errors import INCOMPATIBLE_VERSION, INVALID_CONFIG, CniError
from hostdev.cni.node_settings import NodeSettings
from hostdev.cni.protocol import decode_config

# The seed's NetworkAttachmentDefinition config, as Multus hands it over with the device
# plugin's allocation injected.
SEED = {"name": "amd-host-device-nad-nic", "cniVersion": "0.3.1", "type": "amd-host-device"}
MULTUS = dict(SEED, deviceID="0000:44:00.0", runtimeConfig={"deviceID": "0000:44:00.0"})


def _conf(**changes: object) -> dict[str, object]:
    conf: dict[str, object] = dict(MULTUS)
    for key, value in changes.items():
        if value is _ABSENT:
            conf.pop(key, None)
        else:
            conf[key] = value
    return conf


_ABSENT = object()


def _config_error(
    conf: dict[str, object], command: str = "ADD", code: int = INVALID_CONFIG
) -> CniError:
    with pytest.raises(CniError) as info:
        parse_plugin_config(conf, command)
    assert info.value.code == code, info.value
    return info.value


def _pci(value: str, source: str = "") -> DeviceSelector:
    return DeviceSelector("pci", value, source)


def test_multus_config_with_defaults() -> None:
    raw = json.dumps(MULTUS).encode()
    assert parse_plugin_config(decode_config(raw), "ADD") == PluginConfig(
        cni_version="0.3.1",
        name="amd-host-device-nad-nic",
        type="amd-host-device",
        device=DeviceSelection(_pci("0000:44:00.0")),
        rename_to_ifname=None,
        rdma="auto",
        state_dir="/var/lib/cni/amd-host-device",
        log_level="warn",
        log_file=None,
        lock_timeout_seconds=10.0,
        return_timeout_seconds=5.0,
        prev_result=None,
    )
    assert DEFAULT_STATE_DIR == "/var/lib/cni/amd-host-device"


def test_every_option_set() -> None:
    conf = _conf(
        renameToIfname=True,
        rdma="required",
        stateDir="/run/amd-host-device",  # the node's own: accepted
        logLevel="debug",
        logFile="/var/log/amd-host-device/nic.log",
        lockTimeoutSeconds=2.5,
        returnTimeoutSeconds=0,
        prevResult={"cniVersion": "0.3.1", "interfaces": []},
    )
    node = NodeSettings("/etc/cni/amd-host-device.conf", state_dir="/run/amd-host-device", log_dir="/var/log/amd-host-device")
    config = parse_plugin_config(conf, "ADD", node)
    assert config.rename_to_ifname is True
    assert config.rdma == "required"
    assert config.state_dir == "/run/amd-host-device"
    assert config.log_level == "debug"
    assert config.log_file == "/var/log/amd-host-device/nic.log"
    assert parse_plugin_config({**conf, "logFile": "nic.log"}, "ADD", node).log_file == "/var/log/amd-host-device/nic.log"
    assert config.lock_timeout_seconds == 2.5
    assert config.return_timeout_seconds == 0.0
    assert config.prev_result == {"cniVersion": "0.3.1", "interfaces": []}


@pytest.mark.parametrize(
    "key, value",
    [
        ("stateDir", "/tmp/elsewhere"),
        ("logFile", "/etc/nologin"),
        ("logFile", "/var/log/amd-host-device/sub/nic.log"),
        ("logFile", "sub/nic.log"),
        ("logFile", "/var/log/amd-host-device"),
        ("logFile", "/var/log/amd-host-device/../nologin"),
        ("logFile", ".."),
    ],
)
def test_node_only_paths_from_a_nad_fail_add_and_are_ignored_by_the_rest(key: str, value: str) -> None:
    node = NodeSettings("/etc/cni/amd-host-device.conf", log_dir="/var/log/amd-host-device")
    with pytest.raises(CniError) as caught:
        parse_plugin_config(_conf(**{key: value}), "ADD", node)
    assert caught.value.code == 7 and key in caught.value.msg
    for command in ("DEL", "CHECK"):
        config = parse_plugin_config(_conf(cniVersion="1.0.0", **{key: value}), command, node)
        assert config.state_dir == node.state_dir and config.log_file is None
        assert len(config.ignored) == 1 and key in config.ignored[0]


def test_unknown_keys_and_nulls_are_ignored() -> None:
    conf = _conf(
        bridge="cni0",
        capabilities={"deviceID": True},
        args={"cni": {"labels": [1]}},
        dns={"nameservers": ["10.0.0.1"]},
        logFile=None,
        rdma=None,
        ipam={},
        **{"cni.dev/valid-attachments": [], "cniVersions": ["0.3.1"]},
    )
    config = parse_plugin_config(conf, "ADD")
    assert config.rdma == "auto" and config.log_file is None


# --- required keys and versions ------------------------------------------------------------


@pytest.mark.parametrize("key", ["name", "type"])
def test_name_and_type_are_required(key: str) -> None:
    assert key in _config_error(_conf(**{key: _ABSENT})).msg


def test_cni_version_is_required_and_checked_for_the_command() -> None:
    _config_error(_conf(cniVersion=_ABSENT), code=INCOMPATIBLE_VERSION)
    _config_error(_conf(cniVersion="0.5.0"), code=INCOMPATIBLE_VERSION)
    _config_error(_conf(cniVersion=1), code=INCOMPATIBLE_VERSION)
    assert "CHECK" in _config_error(_conf(), command="CHECK", code=INCOMPATIBLE_VERSION).msg
    assert parse_plugin_config(_conf(cniVersion="0.4.0"), "CHECK").cni_version == "0.4.0"
    _config_error(_conf(cniVersion="1.0.0"), command="GC", code=INCOMPATIBLE_VERSION)
    assert parse_plugin_config(_conf(cniVersion="1.1.0"), "GC").cni_version == "1.1.0"


@pytest.mark.parametrize("name", ["", "-net", "net/1", "net 1", "nét", "x" * 201, "..", ".net"])
def test_invalid_network_names(name: str) -> None:
    assert "name" in _config_error(_conf(name=name)).msg


@pytest.mark.parametrize("name", ["a", "amd-host-device-nad-nic", "Net_1.2-3", "x" * 200])
def test_valid_network_names(name: str) -> None:
    assert parse_plugin_config(_conf(name=name), "ADD").name == name


@pytest.mark.parametrize("plugin_type", ["", "bin/amd-host-device", "a\\b", "a\x00b"])
def test_invalid_types(plugin_type: str) -> None:
    assert "type" in _config_error(_conf(type=plugin_type)).msg


# --- strict types for every known key ------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("name", 1),
        ("name", ["n"]),
        ("type", True),
        ("runtimeConfig", "0000:44:00.0"),
        ("runtimeConfig", []),
        ("deviceID", 440000),
        ("pciBusID", {"bus": 44}),
        ("device", ["eth0"]),
        ("hwaddr", 0x0490812C4F90),
        ("kernelpath", False),
        ("renameToIfname", "true"),
        ("renameToIfname", 1),
        ("rdma", True),
        ("rdma", "yes"),
        ("rdma", "AUTO"),
        ("stateDir", 5),
        ("logLevel", "warning"),
        ("logLevel", 3),
        ("logFile", ["/tmp/x"]),
        ("lockTimeoutSeconds", "10"),
        ("lockTimeoutSeconds", True),
        ("returnTimeoutSeconds", [5]),
        ("prevResult", "{}"),
        ("prevResult", []),
        ("ipam", "host-local"),
        ("keepHostAddresses", "true"),
        ("ipamTimeoutSeconds", [1]),
    ],
)
def test_wrong_types_are_code_7_naming_the_key(key: str, value: object) -> None:
    assert key in _config_error(_conf(**{key: value})).msg


def test_runtime_config_device_id_must_be_a_string() -> None:
    err = _config_error(_conf(runtimeConfig={"deviceID": 5}))
    assert "runtimeConfig.deviceID" in err.msg


# --- device selection ----------------------------------------------------------------------


def test_each_selector_kind() -> None:
    bare = dict(SEED)
    cases = {
        "runtimeConfig": ({"deviceID": "0000:44:00.1"}, DeviceSelector("pci", "0000:44:00.1")),
        "deviceID": ("mlx5_core.sf.4", DeviceSelector("auxiliary", "mlx5_core.sf.4")),
        "pciBusID": ("0000:c1:00.0", DeviceSelector("pci", "0000:c1:00.0")),
        "device": ("enp68s0", DeviceSelector("name", "enp68s0")),
        "hwaddr": ("04:90:81:2C:4F:90", DeviceSelector("hwaddr", "04:90:81:2c:4f:90")),
        "kernelpath": (
            "/sys/devices/pci0000:40/0000:40:01.1/0000:44:00.0/",
            DeviceSelector("kernelpath", "/sys/devices/pci0000:40/0000:40:01.1/0000:44:00.0"),
        ),
    }
    for key, (value, expected) in cases.items():
        config = parse_plugin_config(dict(bare, **{key: value}), "ADD")
        assert config.device == DeviceSelection(expected), key
        source = "runtimeConfig.deviceID" if key == "runtimeConfig" else key
        assert config.device is not None and config.device.primary.source == source


def test_bus_keys_agree_after_normalisation() -> None:
    conf = _conf(
        deviceID="44:00.0", pciBusID="0000:44:00.0", runtimeConfig={"deviceID": "0000:44:00.0"}
    )
    assert parse_plugin_config(conf, "ADD").device == DeviceSelection(_pci("0000:44:00.0"))
    upper = _conf(deviceID="0000:C1:00.0", pciBusID="c1:00.0", runtimeConfig=_ABSENT)
    assert parse_plugin_config(upper, "ADD").device == DeviceSelection(_pci("0000:c1:00.0"))


@pytest.mark.parametrize(
    ("changes", "names"),
    [
        ({"pciBusID": "0000:44:00.1"}, ("runtimeConfig.deviceID", "deviceID", "pciBusID")),
        ({"deviceID": "0000:45:00.0"}, ("runtimeConfig.deviceID", "deviceID")),
        ({"runtimeConfig": {"deviceID": "mlx5_core.sf.4"}}, ("runtimeConfig.deviceID", "deviceID")),
        (
            {"runtimeConfig": _ABSENT, "deviceID": "0001:44:00.0", "pciBusID": "44:00.0"},
            ("deviceID", "pciBusID"),
        ),
    ],
)
def test_disagreeing_bus_keys_are_named(changes: dict[str, object], names: tuple[str, ...]) -> None:
    err = _config_error(_conf(**changes))
    assert "disagree" in err.msg
    for name in names:
        assert name in err.msg


def test_pci_bus_id_must_be_pci_but_device_ids_may_be_auxiliary() -> None:
    assert "pciBusID" in _config_error(dict(SEED, pciBusID="mlx5_core.sf.4")).msg
    aux = dict(SEED, runtimeConfig={"deviceID": "ionic.rdma.0"}, deviceID="ionic.rdma.0")
    assert parse_plugin_config(aux, "ADD").device == DeviceSelection(
        DeviceSelector("auxiliary", "ionic.rdma.0")
    )


@pytest.mark.parametrize(
    "value",
    [
        "",
        "0000:44:00",
        "0000:44:20.0",
        "0000:44:00.8",
        "00000:44:00.0",
        "44:00.0.1",
        "../../x",
        "mlx5_core.sf.04",
        "eth0",
    ],
)
@pytest.mark.parametrize("key", ["deviceID", "pciBusID"])
def test_invalid_bus_ids(key: str, value: str) -> None:
    assert key in _config_error(dict(SEED, **{key: value})).msg


def test_other_keys_become_cross_checks_in_precedence_order() -> None:
    conf = _conf(
        kernelpath="/sys/devices/pci0000:40/0000:40:01.1/0000:44:00.0",
        device="enp68s0",
        hwaddr="04-90-81-2c-4f-90",
    )
    assert parse_plugin_config(conf, "ADD").device == DeviceSelection(
        _pci("0000:44:00.0"),
        (
            DeviceSelector("name", "enp68s0"),
            DeviceSelector("hwaddr", "04:90:81:2c:4f:90"),
            DeviceSelector("kernelpath", "/sys/devices/pci0000:40/0000:40:01.1/0000:44:00.0"),
        ),
    )
    by_name = parse_plugin_config(
        dict(SEED, hwaddr="04:90:81:2c:4f:90", device="enp68s0"), "ADD"
    ).device
    assert by_name == DeviceSelection(
        DeviceSelector("name", "enp68s0"), (DeviceSelector("hwaddr", "04:90:81:2c:4f:90"),)
    )


@pytest.mark.parametrize("command", ["ADD", "CHECK"])
def test_add_and_check_need_a_device(command: str) -> None:
    err = _config_error(dict(SEED, cniVersion="1.1.0"), command=command)
    assert "no device" in err.msg


@pytest.mark.parametrize("command", ["DEL", "GC", "STATUS"])
def test_del_gc_status_accept_no_device_but_validate_any_given(command: str) -> None:
    assert parse_plugin_config(dict(SEED, cniVersion="1.1.0"), command).device is None
    assert (
        "hwaddr"
        in _config_error(dict(SEED, cniVersion="1.1.0", hwaddr="nope"), command=command).msg
    )


@pytest.mark.parametrize("device", ["", ".", "a/b", "x" * 16, "eth 0", "eth:0"])
def test_invalid_device_names(device: str) -> None:
    assert "device" in _config_error(dict(SEED, device=device)).msg


@pytest.mark.parametrize(
    "hwaddr",
    [
        "",
        "04:90:81:2c:4f",
        "04:90:81:2c:4f:90:00",
        "0490.812c.4f90",
        "04:90-81:2c:4f:90",
        "4:90:81:2c:4f:90",
        "04:90:81:2c:4f:9g",
        "０4:90:81:2c:4f:90",
    ],
)
def test_invalid_hwaddrs(hwaddr: str) -> None:
    assert "hwaddr" in _config_error(dict(SEED, hwaddr=hwaddr)).msg


@pytest.mark.parametrize(
    "path",
    [
        "",
        "/sys/devices",
        "/sys/devices/",
        "/sys/class/net/eth0",
        "sys/devices/pci0000:00/0000:00:1f.6",
        "/sys/devices/../../etc",
        "/sys/devices/pci0000:00/../x",
        "/sys/devices/./pci0000:00",
        "/sys/devices//pci0000:00",
        "/sys/devices/pci0000:00\x00/x",
        "/sys/devices/pci0000:00\n",
        "/sys/devices/" + "d" * 4090,
    ],
)
def test_invalid_kernelpaths(path: str) -> None:
    assert "kernelpath" in _config_error(dict(SEED, kernelpath=path)).msg


# --- options -------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["stateDir", "logFile"])
@pytest.mark.parametrize(
    "path", ["", "relative/dir", "/var/lib/../../etc", "/var/lib/\x00x", "/" + "p" * 4095]
)
def test_paths_must_be_absolute_and_clean(key: str, path: str) -> None:
    assert key in _config_error(_conf(**{key: path})).msg


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (0.001, True),
        (1, True),
        (50, True),
        (50.0, True),
        (0, False),
        (-1, False),
        (50.5, False),
        (1e300, False),
    ],
)
def test_lock_timeout_bounds(value: float, ok: bool) -> None:
    if ok:
        assert parse_plugin_config(
            _conf(lockTimeoutSeconds=value), "ADD"
        ).lock_timeout_seconds == float(value)
    else:
        assert "lockTimeoutSeconds" in _config_error(_conf(lockTimeoutSeconds=value)).msg


@pytest.mark.parametrize(
    ("value", "ok"), [(0, True), (5, True), (30, True), (-0.5, False), (31, False)]
)
def test_return_timeout_bounds(value: float, ok: bool) -> None:
    if ok:
        assert parse_plugin_config(
            _conf(returnTimeoutSeconds=value), "DEL"
        ).return_timeout_seconds == float(value)
    else:
        assert "returnTimeoutSeconds" in _config_error(_conf(returnTimeoutSeconds=value)).msg


@pytest.mark.parametrize("mode", ["auto", "required", "skip"])
def test_rdma_modes(mode: str) -> None:
    assert parse_plugin_config(_conf(rdma=mode), "ADD").rdma == mode


@pytest.mark.parametrize("level", ["error", "warn", "info", "debug"])
def test_log_levels(level: str) -> None:
    assert parse_plugin_config(_conf(logLevel=level), "ADD").log_level == level


def test_an_ipam_section_names_its_plugin_and_options_default() -> None:
    config = parse_plugin_config(_conf(ipam={"type": "host-local", "subnet": "10.1.0.0/16"}), "ADD")
    assert config.ipam_type == "host-local"
    assert config.ipam_timeout_seconds == 20.0 and config.keep_host_addresses is False
    for without in ({}, {"type": ""}, {"type": None}, {"subnet": "10.1.0.0/16"}):
        assert parse_plugin_config(_conf(ipam=without), "ADD").ipam_type is None
    config = parse_plugin_config(_conf(ipam={"type": "static"}, ipamTimeoutSeconds=2.5, keepHostAddresses=True), "DEL")
    assert (config.ipam_type, config.ipam_timeout_seconds, config.keep_host_addresses) == ("static", 2.5, True)


@pytest.mark.parametrize(
    "name",
    ["../host-local", "/usr/lib/cni/host-local", "..", ".", ".host-local", "a/b", "a\\b", "host local", "x\x00", "\u0127", "-x", "x" * 256],
)
def test_ipam_types_that_are_not_plain_file_names_are_code_7(name: str) -> None:
    err = _config_error(_conf(ipam={"type": name}))
    assert err.msg == "invalid ipam.type" and err.details.startswith("ipam.type ")


def test_ipam_type_must_be_a_string_and_not_this_plugin() -> None:
    assert "ipam.type" in _config_error(_conf(ipam={"type": 5})).msg
    assert "this plugin" in _config_error(_conf(ipam={"type": "amd-host-device"})).details


@pytest.mark.parametrize("value", [0, -1, 50.5, "20", True])
def test_ipam_timeout_is_bounded(value: object) -> None:
    assert "ipamTimeoutSeconds" in _config_error(_conf(ipamTimeoutSeconds=value)).msg


_KNOWN_KEYS = [
    "cniVersion", "name", "type", "runtimeConfig", "deviceID", "pciBusID", "device", "hwaddr",
    "kernelpath", "renameToIfname", "rdma", "stateDir", "logLevel", "logFile",
    "lockTimeoutSeconds", "returnTimeoutSeconds", "prevResult", "ipam", "ipamTimeoutSeconds",
    "keepHostAddresses",
]  # fmt: skip
_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 100),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(
        [
            "0000:44:00.0",
            "44:00.0",
            "mlx5_core.sf.4",
            "enp68s0",
            "04:90:81:2c:4f:90",
            "/sys/devices/x",
            "1.1.0",
            "auto",
        ]
    ),
    st.dictionaries(
        st.sampled_from(["deviceID", "type", "x"]), st.text(max_size=12) | st.integers(), max_size=2
    ),
    st.lists(st.integers(), max_size=2),
)


@settings(max_examples=120, deadline=None)
@given(
    st.dictionaries(st.sampled_from(_KNOWN_KEYS), _VALUES),
    st.sampled_from(["ADD", "DEL", "CHECK", "GC", "STATUS"]),
)
def test_random_configs_raise_only_cni_errors(overrides: dict[str, object], command: str) -> None:
    conf: dict[str, object] = dict(MULTUS, cniVersion="1.1.0")
    conf.update(overrides)
    try:
        config = parse_plugin_config(conf, command)
    except CniError as err:
        assert err.code in (INCOMPATIBLE_VERSION, INVALID_CONFIG)
        return
    assert config.cni_version == conf["cniVersion"]
    assert config.state_dir.startswith("/")
    assert 0 < config.lock_timeout_seconds <= 50
    if command in ("ADD", "CHECK"):
        assert config.device is not None
