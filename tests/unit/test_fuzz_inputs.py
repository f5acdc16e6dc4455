"""Generated hostile input for everything the plugin parses: the configuration bytes on stdin,
the configuration object, the CNI environment, and netlink datagrams from the kernel.

Properties: every input ends in a value or in the one error type its layer defines (CniError
with the layer's code, DecodeError); nothing crashes with another exception; nothing hangs (each
example runs under a SIGALRM guard); and whatever the parser *accepts* as a device selector is
canonical, so no hostile string can reach a sysfs path. A few hundred examples per property
per run; pure, in-process, no root needed.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from hypothesis import HealthCheck, example, find, given, settings
from hypothesis import strategies as st

from hostdev._netlink.attrs import AttrSet, Kind, encode_attr
from hostdev._netlink.rdma_codec import decode_device, decode_port, decode_system
from hostdev._netlink.rdma_tables import NLDEV, NLDEV_GET, NLDEV_PORT_GET, NLDEV_SYS_GET
from hostdev._netlink.rtnl_addr import decode_address
from hostdev._netlink.rtnl_link import decode_link
from hostdev._netlink.rtnl_neigh import decode_neigh_parms, decode_neighbour
from hostdev._netlink.rtnl_route import decode_route
from hostdev._netlink.rtnl_tables import (
    IFA, IFADDRMSG, IFINFOMSG, IFLA, NDA, NDMSG, NDTA, NDTMSG, RTA, RTM_NEWADDR, RTM_NEWLINK, RTM_NEWNEIGH,
    RTM_NEWNEIGHTBL, RTM_NEWROUTE, RTMSG,
)  # fmt: skip
from hostdev._netlink.socket import Request, _attribute_at
from hostdev._netlink.wire import (
    HEADER,
    NLA_F_NESTED,
    NLM_F_ACK_TLVS,
    NLM_F_CAPPED,
    NLMSG_DONE,
    NLMSG_ERROR,
    iter_messages,
    parse_ack,
)
from hostdev.cni.config import PluginConfig, parse_plugin_config
from hostdev.cni.decode import decode_config
from hostdev.cni.errors import CniError
from hostdev.cni.plugin import main
from hostdev.cni.protocol import CniEnv, parse_env, parse_valid_attachments
from hostdev.errors import DecodeError

MANY = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
GUARD_SECONDS = 5


@contextmanager
def no_hang(seconds: int = GUARD_SECONDS) -> Iterator[None]:
    """Fail (instead of hanging the run) when one example takes longer than ``seconds``."""

    def expired(_signum: int, _frame: FrameType | None) -> None:
        raise TimeoutError(f"one example took more than {seconds}s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# --- configuration ---------------------------------------------------------------------------

COMMANDS = ("ADD", "DEL", "CHECK", "GC", "STATUS")
KEYS = (
    "cniVersion", "name", "type", "deviceID", "pciBusID", "device", "hwaddr", "kernelpath",
    "runtimeConfig", "renameToIfname", "rdma", "stateDir", "logLevel", "logFile",
    "lockTimeoutSeconds", "returnTimeoutSeconds", "prevResult", "ipam", "cni.dev/valid-attachments",
    "ipamTimeoutSeconds", "keepHostAddresses",
)  # fmt: skip
PCI_CANONICAL = re.compile(r"[0-9a-f]{4}:[0-9a-f]{2}:[01][0-9a-f]\.[0-7]\Z")
AUX_CANONICAL = re.compile(r"[A-Za-z0-9_]+\.[A-Za-z0-9_-]+\.(0|[1-9][0-9]*)\Z")
IFNAME = re.compile(r"[!-~]{1,15}\Z")

json_scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=20)

# Strings that look almost like the real thing: the interesting neighbourhood for validators.
near_ids = st.sampled_from(["0000:44:00.0", "44:00.0", "mlx5_core.sf.4", "enp68s0", "aa:bb:cc:dd:ee:ff", "/sys/devices/pci0000:00/0000:44:00.0", "0.3.1", "1.1.0"])
# Every character that ever got through a validator is here, and in an @example below.
UNPRINTABLE = ("\udcff", "\x85", "\u200b", "\u202e", os.fsdecode(b"\xfe"))
mutations = st.sampled_from(["", "\n", "\x00", " ", "/..", "/../../", "\uff10", "\u0660", "%", ":", ".", *UNPRINTABLE])
near_strings = st.builds(lambda base, where, extra: base[:where] + extra + base[where:], near_ids, st.integers(0, 40), mutations) | near_ids
# Values some key accepts, so that accepted configurations are common enough to check.
plausible = st.sampled_from(["auto", "skip", "info", "/var/lib/cni/x", "/tmp/a.log", True, 1, 2.5, 50, {}, {"deviceID": "0000:44:00.0"}])
values = plausible | near_strings | json_values


def base_config() -> dict[str, object]:
    return {"cniVersion": "1.1.0", "name": "net", "type": "amd-host-device", "deviceID": "0000:44:00.0"}


REQUIRED = ("cniVersion", "name", "type")


def _config(changes: dict[str, object], required: tuple[str, object] | None, drop_device: bool) -> dict[str, object]:
    conf = {**base_config(), **changes}
    if required is not None:  # sometimes break a required key too (None: the key is absent)
        if required[1] is None:
            conf.pop(required[0], None)
        else:
            conf[required[0]] = required[1]
    if drop_device:
        conf.pop("deviceID", None)
    return conf


configs = st.builds(
    _config,
    st.dictionaries(st.sampled_from([k for k in KEYS if k not in REQUIRED]), values, max_size=5),
    st.none() | st.tuples(st.sampled_from(REQUIRED), values),
    st.booleans(),
)


def _check_accepted(conf: PluginConfig) -> None:
    """What the parser accepts is canonical: nothing hostile can ride along into a path."""
    if conf.device is None:
        return
    for selector in (conf.device.primary, *conf.device.cross_checks):
        if selector.kind == "pci":
            assert PCI_CANONICAL.match(selector.value), selector
        elif selector.kind == "auxiliary":
            assert AUX_CANONICAL.match(selector.value) and len(selector.value) <= 64, selector
        elif selector.kind == "name":
            assert IFNAME.match(selector.value) and selector.value not in (".", "..") and not set("/:%") & set(selector.value), selector
        elif selector.kind == "hwaddr":
            assert re.fullmatch(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}", selector.value), selector
        else:
            assert selector.value.startswith("/sys/devices/") and "/../" not in selector.value + "/", selector
    for path in (conf.state_dir, conf.log_file):
        if path is not None:
            assert path.startswith("/") and ".." not in path.split("/") and path.isprintable(), path


def _unprintable_configs() -> list[dict[str, object]]:
    """The configurations that once got accepted (first: the CI failure of issue 12)."""
    found: list[dict[str, object]] = [{**base_config(), "stateDir": "/\udcffsys/devices/pci0000:00"}]
    for char in UNPRINTABLE:
        found += [
            {**base_config(), "stateDir": f"/var/lib/cni/x{char}"},
            {**base_config(), "logFile": f"/tmp/a{char}.log"},
            {**{k: v for k, v in base_config().items() if k != "deviceID"}, "kernelpath": f"/sys/devices/pci0000:00/{char}0000:00:03.0"},
        ]
    return found


def _with_examples(cases: list[dict[str, object]], command: str = "ADD") -> Callable[[Any], Any]:
    def decorate(test: Any) -> Any:
        for case in cases:
            test = example(case, command)(test)
        return test

    return decorate


@MANY
@_with_examples(_unprintable_configs())
@given(configs, st.sampled_from(COMMANDS))
def test_config_objects_parse_or_fail_with_their_code(conf: dict[str, object], command: str) -> None:
    with no_hang():
        try:
            parsed = parse_plugin_config(conf, command)
        except CniError as exc:
            assert exc.code in (1, 2, 7), exc
            assert exc.msg
            return
    _check_accepted(parsed)


SELECTOR_KEYS = ("deviceID", "pciBusID", "runtimeConfig.deviceID", "device", "hwaddr", "kernelpath")


@MANY
@given(st.dictionaries(st.sampled_from(SELECTOR_KEYS), near_strings | st.text(max_size=70), min_size=1, max_size=3))
def test_device_selectors_are_refused_or_canonical(selectors: dict[str, str]) -> None:
    conf: dict[str, object] = {k: v for k, v in base_config().items() if k != "deviceID"}
    for key, value in selectors.items():
        if key == "runtimeConfig.deviceID":
            conf["runtimeConfig"] = {"deviceID": value}
        else:
            conf[key] = value
    with no_hang():
        try:
            parsed = parse_plugin_config(conf, "ADD")
        except CniError as exc:
            assert exc.code == 7, exc
            return
    assert parsed.device is not None
    _check_accepted(parsed)


@MANY
@_with_examples(_unprintable_configs())
@given(configs, st.sampled_from(COMMANDS))
def test_config_bytes_through_decode_and_parse(conf: dict[str, object], command: str) -> None:
    raw = json.dumps(conf, ensure_ascii=bool(len(conf) % 2)).encode("utf-8", "surrogatepass")
    with no_hang():
        try:
            decoded = decode_config(raw)
            parsed = parse_plugin_config(decoded, command)
            if command == "GC":
                parse_valid_attachments(decoded)
        except CniError as exc:
            assert exc.code in (1, 2, 6, 7), exc
            return
    _check_accepted(parsed)


@MANY
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_decode_to_an_object_or_code_6(raw: bytes) -> None:
    with no_hang():
        try:
            assert isinstance(decode_config(raw), dict)
        except CniError as exc:
            assert exc.code == 6, exc


splices = st.sampled_from(['{"a":', "[", "]", "}", ",", '"\\ud800"', "NaN", "1e999", "9" * 5000, '"k":1', '"k":2', "\x00", "\ufeff"])


@MANY
@given(st.lists(splices, max_size=30), st.integers(0, 3000))
def test_json_like_text_decodes_or_is_code_6(pieces: list[str], depth: int) -> None:
    text = '{"cniVersion":"1.1.0",' + "".join(pieces) + "[" * depth + "]" * depth + "}"
    with no_hang():
        try:
            decode_config(text.encode("utf-8", "surrogatepass"))
        except CniError as exc:
            assert exc.code == 6, exc


env_text = near_strings | st.text(max_size=30)
# Values each variable accepts, mutated or not: without them no environment would be valid and
# the assertions on accepted ones would never run.
ENV_COMMANDS = ("ADD", "DEL", "CHECK", "GC", "STATUS", "VERSION")
VALID_ENV = {
    "CNI_COMMAND": st.sampled_from(ENV_COMMANDS),
    "CNI_CONTAINERID": st.sampled_from(("c0ffee", "a" * 64, "pod_1.x-y")),
    "CNI_NETNS": st.sampled_from(("/run/netns/pod", "/proc/4242/ns/net", "/var/run/netns/pod one")),
    "CNI_IFNAME": st.sampled_from(("net1", "eth0", "x" * 15)),
    "CNI_ARGS": st.sampled_from(("", "K8S_POD_NAME=web-0;K8S_POD_NAMESPACE=default", "IgnoreUnknown=1")),
    "CNI_PATH": st.sampled_from(("/opt/cni/bin", "/opt/cni/bin:/usr/lib/cni")),
}


@st.composite
def environments(draw: st.DrawFn) -> dict[str, str]:
    environ: dict[str, str] = {}
    for name, valid in VALID_ENV.items():
        choice = draw(st.integers(0, 5))
        if choice == 0:
            continue  # the variable is missing
        if choice == 1:
            environ[name] = draw(env_text)  # anything
        elif choice == 2:
            value = draw(valid)
            where = draw(st.integers(0, len(value)))
            environ[name] = value[:where] + draw(mutations) + value[where:]  # almost valid
        else:
            environ[name] = draw(valid)
    return environ


def _parsed_or_code_4(environ: dict[str, str]) -> CniEnv | None:
    with no_hang():
        try:
            return parse_env(environ)
        except CniError as exc:
            assert exc.code == 4, exc
            assert exc.msg.isprintable() and exc.details.isprintable(), exc
            return None


VALID_ADD = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c0ffee", "CNI_NETNS": "/run/netns/pod", "CNI_IFNAME": "net1", "CNI_PATH": "/opt/cni/bin"}


@MANY
@example(VALID_ADD)
@example({**VALID_ADD, "CNI_COMMAND": "DEL", "CNI_NETNS": ""})
@example({**VALID_ADD, "CNI_NETNS": "/run/netns/\udcffpod"})
@example({**VALID_ADD, "CNI_NETNS": "/run/netns/pod\x85"})
@example({**VALID_ADD, "CNI_NETNS": "/run/netns/\u200bpod"})
@example({**VALID_ADD, "CNI_NETNS": "/run/netns/\u202edop"})
@example({**VALID_ADD, "CNI_NETNS": os.fsdecode(b"/run/netns/\xfe\xffpod")})
@example({**VALID_ADD, "CNI_ARGS": "K8S_POD_NAME=\u202e"})
@example({**VALID_ADD, "CNI_PATH": os.fsdecode(b"/opt/\xff")})
@given(environments())
def test_environment_parses_or_fails_with_code_4(environ: dict[str, str]) -> None:
    env = _parsed_or_code_4(environ)
    if env is None:
        return
    assert env.command == environ["CNI_COMMAND"]
    if env.container_id is not None:
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", env.container_id)
    if env.ifname is not None:
        assert IFNAME.match(env.ifname) and not set("/:%") & set(env.ifname)
    if env.netns is not None:
        assert env.netns.startswith("/") and env.netns.isprintable()
    for key, value in env.args:
        assert re.fullmatch(r"[A-Za-z0-9_.-]+", key) and value.isprintable() and "=" not in value
    for entry in env.path:
        assert entry.isprintable()


def test_the_environment_generator_reaches_acceptance_for_every_command() -> None:
    """The property above is not vacuous: accepted environments are generated, for each command."""
    for command in ENV_COMMANDS:
        found = find(environments(), lambda e, c=command: e.get("CNI_COMMAND") == c and _parsed_or_code_4(e) is not None)
        assert found["CNI_COMMAND"] == command


@MANY
@given(st.binary(max_size=3000))
def test_version_answers_anything_on_stdin_with_one_json_document(raw: bytes) -> None:
    out = io.StringIO()
    with no_hang():
        code = main({"CNI_COMMAND": "VERSION"}, io.BytesIO(raw), out)
    assert code == 0
    reply = json.loads(out.getvalue())
    assert "1.1.0" in reply["supportedVersions"]


@MANY
@given(st.text(max_size=12), configs)
def test_unknown_commands_are_refused_before_anything_runs(command: str, conf: dict[str, object]) -> None:
    if command in COMMANDS + ("VERSION",):
        command += "?"
    out = io.StringIO()
    environ = {"CNI_COMMAND": command, "CNI_CONTAINERID": "c", "CNI_IFNAME": "net1", "CNI_NETNS": "/run/netns/x"}
    with no_hang():
        code = main(environ, io.BytesIO(json.dumps(conf).encode()), out)
    assert code == 1
    assert json.loads(out.getvalue())["code"] == 4


# --- netlink ---------------------------------------------------------------------------------

Decoder = Callable[[Any, Any], object]
# (decoder, message type, family header size, attribute table)
RTNL: list[tuple[Decoder, int, int, AttrSet]] = [
    (decode_link, RTM_NEWLINK, IFINFOMSG.size, IFLA),
    (decode_address, RTM_NEWADDR, IFADDRMSG.size, IFA),
    (decode_route, RTM_NEWROUTE, RTMSG.size, RTA),
    (decode_neighbour, RTM_NEWNEIGH, NDMSG.size, NDA),
    (decode_neigh_parms, RTM_NEWNEIGHTBL, NDTMSG.size, NDTA),
]
RDMA: list[tuple[Decoder, int, int, AttrSet]] = [
    (decode_device, NLDEV_GET, 0, NLDEV),
    (decode_port, NLDEV_PORT_GET, 0, NLDEV),
    (decode_system, NLDEV_SYS_GET, 0, NLDEV),
]
ALL_DECODERS = RTNL + RDMA
_FIXED_SIZES = {Kind.U8: 1, Kind.U16: 2, Kind.U32: 4, Kind.S32: 4, Kind.U64: 8, Kind.UINT: 4, Kind.BE16: 2}


@st.composite
def attributes(draw: st.DrawFn, table: AttrSet, depth: int = 0) -> bytes:
    """One attribute of ``table``: a known number with a payload of the right size (usually) or
    of any size, a nest with its own attributes, or an unknown number."""
    known = list(table.by_number.values())
    if not known or draw(st.integers(0, 9)) == 0:
        return encode_attr(draw(st.integers(0, 0x3FFF)) | draw(st.sampled_from((0, NLA_F_NESTED))), draw(st.binary(max_size=24)))
    attr = draw(st.sampled_from(known))
    if attr.kind is Kind.NEST and attr.nested is not None and depth < 3:
        inner = draw(st.lists(attributes(attr.nested, depth + 1), max_size=5))
        return encode_attr(attr.number | draw(st.sampled_from((0, NLA_F_NESTED))), b"".join(inner))
    size = _FIXED_SIZES.get(attr.kind)
    if size is not None and draw(st.booleans()):
        payload = draw(st.binary(min_size=size, max_size=size))
    elif attr.kind is Kind.STRING:
        payload = draw(st.text(max_size=20)).encode("utf-8", "surrogatepass") + draw(st.sampled_from([b"\0", b"", b"\xff\0"]))
    else:
        payload = draw(st.binary(max_size=40))
    return encode_attr(attr.number, payload)


@st.composite
def datagrams(draw: st.DrawFn) -> tuple[bytes, list[Decoder]]:
    """A datagram of well-framed messages for one decoder, some with lying lengths or an ACK."""
    decode, msg_type, header_size, table = draw(st.sampled_from(ALL_DECODERS))
    out = b""
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.integers(0, 9))
        if kind == 0:  # an NLMSG_ERROR / NLMSG_DONE, possibly with extended-ack TLVs
            body = draw(st.binary(min_size=0, max_size=60))
            flags = draw(st.sampled_from([0, NLM_F_CAPPED, NLM_F_ACK_TLVS, NLM_F_CAPPED | NLM_F_ACK_TLVS]))
            mtype = draw(st.sampled_from([NLMSG_ERROR, NLMSG_DONE]))
        else:
            body = draw(st.binary(min_size=header_size, max_size=header_size)) + b"".join(draw(st.lists(attributes(table), max_size=12)))
            flags, mtype = 0, msg_type if kind != 1 else draw(st.integers(0, 0xFFFF))
        length = 16 + len(body)
        if draw(st.integers(0, 15)) == 0:
            length = draw(st.integers(0, 0xFFFFFFFF))  # a lying nlmsg_len
        message = HEADER.pack(length, mtype, flags, draw(st.integers(0, 2**32 - 1)), 0) + body
        out += message + b"\0" * (-len(message) % 4)
    return out + draw(st.binary(max_size=3)), [decode]


def _receive(datagram: bytes, decoders: list[Decoder]) -> None:
    """What the socket does with a datagram: frame, then ack or decode; only DecodeError may escape."""
    try:
        messages = list(iter_messages(memoryview(datagram)))
    except DecodeError:
        return
    for msg in messages:
        if msg.type in (NLMSG_ERROR, NLMSG_DONE):
            try:
                parse_ack(datagram, msg)
            except DecodeError:
                pass
            continue
        for decode in decoders:
            try:
                decode(memoryview(datagram), msg)
            except DecodeError:
                pass


@MANY
@given(datagrams())
def test_table_shaped_datagrams_decode_or_raise_decode_error(case: tuple[bytes, list[Decoder]]) -> None:
    datagram, decoders = case
    with no_hang():
        _receive(datagram, decoders)


@MANY
@given(st.binary(max_size=1500))
def test_arbitrary_bytes_through_every_decoder(datagram: bytes) -> None:
    with no_hang():
        _receive(datagram, [decode for decode, *_ in ALL_DECODERS])


@MANY
@given(st.binary(max_size=200), st.none() | st.integers(-(2**40), 2**40), st.sampled_from([IFLA, IFA, RTA, NLDEV]))
def test_naming_the_attribute_an_extended_ack_points_at(sent: bytes, offset: int | None, table: AttrSet) -> None:
    with no_hang():
        name = _attribute_at(sent, offset, Request("TEST", 16, table))
    assert name is None or name.startswith(table.prefix)
