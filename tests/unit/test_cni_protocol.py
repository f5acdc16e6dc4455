"""CNI protocol: error results, versions × commands, the CNI_* environment, stdin decoding."""

from __future__ import annotations

import json

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from hostdev.cni import errors
from hostdev.cni.errors import CniError
from hostdev.cni.protocol import (
    LATEST_VERSION,
    MAX_CONFIG_BYTES,
    MAX_NESTING,
    SUPPORTED_VERSIONS,
    CniEnv,
    GcAttachment,
    allowed_commands,
    check_version,
    decode_config,
    parse_env,
    parse_valid_attachments,
    peek_cni_version,
    reply_version,
    version_result,
)

# --- error results -------------------------------------------------------------------------


def test_error_codes_match_the_spec_table() -> None:
    assert (
        errors.INCOMPATIBLE_VERSION,
        errors.UNSUPPORTED_FIELD,
        errors.UNKNOWN_CONTAINER,
        errors.INVALID_ENVIRONMENT,
        errors.IO_FAILURE,
        errors.DECODE_FAILURE,
        errors.INVALID_CONFIG,
        errors.TRY_AGAIN_LATER,
        errors.PLUGIN_NOT_AVAILABLE,
        errors.LIMITED_CONNECTIVITY,
    ) == (1, 2, 3, 4, 5, 6, 7, 11, 50, 51)


def test_error_to_json_is_the_spec_error_object() -> None:
    err = CniError(7, "Invalid Configuration", "Network 192.168.0.0/31 too small to allocate from.")
    assert err.to_json("1.1.0") == {
        "cniVersion": "1.1.0",
        "code": 7,
        "msg": "Invalid Configuration",
        "details": "Network 192.168.0.0/31 too small to allocate from.",
    }
    assert json.loads(json.dumps(err.to_json("0.3.1")))["cniVersion"] == "0.3.1"


def test_error_without_details_still_serialises_every_key() -> None:
    err = CniError(11, "state is locked")
    assert err.to_json("0.4.0") == {
        "cniVersion": "0.4.0",
        "code": 11,
        "msg": "state is locked",
        "details": "",
    }
    assert str(err) == "state is locked"
    assert str(CniError(5, "read failed", "EIO")) == "read failed: EIO"
    assert isinstance(err, Exception)


# --- versions × commands -----------------------------------------------------------------

_EXPECTED_ALLOWED = {
    "0.1.0": {"ADD", "DEL", "VERSION"},
    "0.2.0": {"ADD", "DEL", "VERSION"},
    "0.3.0": {"ADD", "DEL", "VERSION"},
    "0.3.1": {"ADD", "DEL", "VERSION"},
    "0.4.0": {"ADD", "DEL", "VERSION", "CHECK"},
    "1.0.0": {"ADD", "DEL", "VERSION", "CHECK"},
    "1.1.0": {"ADD", "DEL", "VERSION", "CHECK", "GC", "STATUS"},
}
_ALL_COMMANDS = ("ADD", "DEL", "CHECK", "VERSION", "GC", "STATUS")


def test_supported_versions_are_every_released_spec() -> None:
    assert SUPPORTED_VERSIONS == ("0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
    assert LATEST_VERSION == "1.1.0"


@pytest.mark.parametrize("version", sorted(_EXPECTED_ALLOWED))
@pytest.mark.parametrize("command", _ALL_COMMANDS)
def test_version_command_matrix(version: str, command: str) -> None:
    if command in _EXPECTED_ALLOWED[version]:
        assert check_version(version, command) == version
        assert command in allowed_commands(version)
    else:
        with pytest.raises(CniError) as info:
            check_version(version, command)
        assert info.value.code == errors.INCOMPATIBLE_VERSION
        assert command in info.value.msg
        assert command not in allowed_commands(version)


@pytest.mark.parametrize(
    "bad",
    [None, "", "0.3", "1.0", "1.2.0", "2.0.0", "v1.0.0", " 1.0.0", "1.0.0\n", 1, 1.0, ["1.0.0"]],
)
def test_unsupported_or_malformed_versions_are_code_1(bad: object) -> None:
    with pytest.raises(CniError) as info:
        check_version(bad, "ADD")
    assert info.value.code == errors.INCOMPATIBLE_VERSION
    if isinstance(bad, str):
        assert allowed_commands(bad) == frozenset()


def test_version_result_defaults_to_latest_and_lists_all() -> None:
    assert version_result() == {
        "cniVersion": "1.1.0",
        "supportedVersions": ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"],
    }


@pytest.mark.parametrize("requested", ["0.2.0", "0.4.0", "1.0.0"])
def test_version_result_echoes_a_supported_input_version(requested: str) -> None:
    assert version_result(requested)["cniVersion"] == requested


@pytest.mark.parametrize("weird", [None, "", "9.9.9", "0.3", 42, {"x": 1}])
def test_version_result_answers_weird_input_with_latest(weird: object) -> None:
    assert version_result(weird)["cniVersion"] == "1.1.0"
    assert reply_version(weird) == "1.1.0"


def test_peek_cni_version_never_raises() -> None:
    assert peek_cni_version(b'{"cniVersion": "0.3.1", "name": "n"}') == "0.3.1"
    assert peek_cni_version(b"") is None
    assert peek_cni_version(b"\xff\xfe") is None
    assert peek_cni_version(b"[1]") is None
    assert peek_cni_version(b'{"name": "n"}') is None
    assert peek_cni_version(b'{"cniVersion": 7}') == 7


# --- environment ---------------------------------------------------------------------------

_ADD_ENV = {
    "CNI_COMMAND": "ADD",
    "CNI_CONTAINERID": "3c0f5a6e1b2d",
    "CNI_NETNS": "/var/run/netns/blue",
    "CNI_IFNAME": "net1",
    "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=workload-679fb76687-wbhlg",
    "CNI_PATH": "/opt/cni/bin:/usr/libexec/cni",
}


def _env(**changes: str | None) -> dict[str, str]:
    env = dict(_ADD_ENV)
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _env_error(environ: dict[str, str]) -> CniError:
    with pytest.raises(CniError) as info:
        parse_env(environ)
    assert info.value.code == errors.INVALID_ENVIRONMENT
    return info.value


def test_add_environment_is_parsed() -> None:
    assert parse_env(_ADD_ENV) == CniEnv(
        command="ADD",
        container_id="3c0f5a6e1b2d",
        netns="/var/run/netns/blue",
        ifname="net1",
        args=(
            ("IgnoreUnknown", "1"),
            ("K8S_POD_NAMESPACE", "default"),
            ("K8S_POD_NAME", "workload-679fb76687-wbhlg"),
        ),
        path=("/opt/cni/bin", "/usr/libexec/cni"),
    )


@pytest.mark.parametrize("command", ["ADD", "CHECK"])
@pytest.mark.parametrize("variable", ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"])
@pytest.mark.parametrize("absent", [None, ""])
def test_add_and_check_require_their_variables(
    command: str, variable: str, absent: str | None
) -> None:
    err = _env_error(_env(CNI_COMMAND=command, **{variable: absent}))
    assert variable in err.msg


def test_missing_variables_are_all_named() -> None:
    err = _env_error({"CNI_COMMAND": "ADD"})
    for variable in ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"):
        assert variable in err.msg


def test_del_does_not_need_a_netns() -> None:
    env = parse_env(_env(CNI_COMMAND="DEL", CNI_NETNS=None))
    assert env.command == "DEL" and env.netns is None and env.ifname == "net1"
    assert parse_env(_env(CNI_COMMAND="DEL", CNI_NETNS="")).netns is None
    assert parse_env(_env(CNI_COMMAND="DEL")).netns == "/var/run/netns/blue"


@pytest.mark.parametrize("variable", ["CNI_CONTAINERID", "CNI_IFNAME"])
def test_del_requires_container_id_and_ifname(variable: str) -> None:
    assert variable in _env_error(_env(CNI_COMMAND="DEL", **{variable: None})).msg


def test_version_needs_and_reads_nothing_else() -> None:
    assert parse_env({"CNI_COMMAND": "VERSION"}) == CniEnv("VERSION", None, None, None, (), ())
    # Variables VERSION does not use are not judged.
    garbage = {
        "CNI_COMMAND": "VERSION",
        "CNI_IFNAME": "a/b",
        "CNI_CONTAINERID": "-x",
        "CNI_ARGS": ";;",
    }
    assert parse_env(garbage).ifname is None


def test_status_needs_nothing_and_gc_needs_cni_path() -> None:
    assert parse_env({"CNI_COMMAND": "STATUS"}) == CniEnv("STATUS", None, None, None, (), ())
    assert parse_env({"CNI_COMMAND": "STATUS", "CNI_PATH": "/opt/cni/bin"}).path == (
        "/opt/cni/bin",
    )
    assert "CNI_PATH" in _env_error({"CNI_COMMAND": "GC"}).msg
    assert "CNI_PATH" in _env_error({"CNI_COMMAND": "GC", "CNI_PATH": ":::"}).msg
    gc = parse_env({"CNI_COMMAND": "GC", "CNI_PATH": "/opt/cni/bin", "CNI_IFNAME": "bad/name"})
    assert gc == CniEnv("GC", None, None, None, (), ("/opt/cni/bin",))


@pytest.mark.parametrize(
    "command", [None, "", "add", "Add", "DELETE", "UPDATE", "ADD ", "VERSION\n"]
)
def test_unknown_or_missing_command_names_cni_command(command: str | None) -> None:
    assert "CNI_COMMAND" in _env_error(_env(CNI_COMMAND=command)).msg


@pytest.mark.parametrize("container_id", ["a", "A1", "0", "abc_def.ghi-jkl", "f" * 64, "x" * 200])
def test_valid_container_ids(container_id: str) -> None:
    assert parse_env(_env(CNI_CONTAINERID=container_id)).container_id == container_id


@pytest.mark.parametrize(
    "container_id",
    [
        "_abc",
        ".abc",
        "-abc",
        "ab/c",
        "ab c",
        "ab:c",
        "ab\tc",
        "abç",
        "ab\x00c",
        "x" * 201,
        "ａｂｃ",
        "a\u200bb",
    ],
)
def test_invalid_container_ids(container_id: str) -> None:
    assert "CNI_CONTAINERID" in _env_error(_env(CNI_CONTAINERID=container_id)).msg


@pytest.mark.parametrize(
    "ifname", ["e", "eth0", "net1", "x" * 15, "enp68s0f1np1", "a.b", "a-b_c", "@#!"]
)
def test_valid_ifnames(ifname: str) -> None:
    assert parse_env(_env(CNI_IFNAME=ifname)).ifname == ifname


@pytest.mark.parametrize(
    "ifname",
    [".", "..", "x" * 16, "a/b", "a:b", "a b", "a\tb", "a\nb", "é", "a\x7fb", "eth%d", "ａ"],
)
def test_invalid_ifnames(ifname: str) -> None:
    assert "CNI_IFNAME" in _env_error(_env(CNI_IFNAME=ifname)).msg


@pytest.mark.parametrize(
    "netns", ["relative/netns", "proc/1/ns/net", "/run/netns/a\nb", "/" + "n" * 4095]
)
def test_invalid_netns(netns: str) -> None:
    assert "CNI_NETNS" in _env_error(_env(CNI_NETNS=netns)).msg


@pytest.mark.parametrize(
    ("text", "pairs"),
    [
        ("", ()),
        ("A=B", (("A", "B"),)),
        ("FOO=BAR;ABC=123", (("FOO", "BAR"), ("ABC", "123"))),
        ("EMPTY=", (("EMPTY", ""),)),
        ("K8S_POD_UID=6d3c-11ee;x.y-z=1", (("K8S_POD_UID", "6d3c-11ee"), ("x.y-z", "1"))),
        ("A=1;A=1", (("A", "1"),)),
    ],
)
def test_cni_args_parsing(text: str, pairs: tuple[tuple[str, str], ...]) -> None:
    assert parse_env(_env(CNI_ARGS=text)).args == pairs


@pytest.mark.parametrize(
    "text", ["A", "A=B;", ";A=B", "A=B;;C=D", "=B", "A=B=C", "A B=1", "A=1;A=2", "A=\x01", "é=1"]
)
def test_cni_args_are_strict(text: str) -> None:
    assert "CNI_ARGS" in _env_error(_env(CNI_ARGS=text)).msg


def test_cni_path_drops_empty_entries() -> None:
    assert parse_env(_env(CNI_PATH="::/opt/cni/bin::/x:")).path == ("/opt/cni/bin", "/x")
    assert parse_env(_env(CNI_PATH=None)).path == ()


_ENV_KEYS = st.sampled_from(
    ["CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS", "CNI_PATH", "OTHER"]
)
_ENV_VALUES = st.one_of(
    st.sampled_from(
        ["ADD", "DEL", "CHECK", "VERSION", "GC", "STATUS", "eth0", "/run/netns/x", "abc", "A=B"]
    ),
    st.text(max_size=40),
    st.text(alphabet="ab0_.-/:;= %\x00\n", max_size=20),
)


@settings(max_examples=120, deadline=None)
@given(st.dictionaries(_ENV_KEYS, _ENV_VALUES))
def test_parse_env_raises_only_cni_errors(environ: dict[str, str]) -> None:
    try:
        env = parse_env(environ)
    except CniError as err:
        assert err.code == errors.INVALID_ENVIRONMENT
        assert "CNI_" in err.msg
        return
    assert env.command == environ["CNI_COMMAND"]
    if env.command in ("ADD", "DEL", "CHECK"):
        assert env.container_id == environ["CNI_CONTAINERID"]
        assert env.ifname is not None and 0 < len(env.ifname) < 16


# --- decoding stdin ------------------------------------------------------------------------


def _decode_error(raw: bytes) -> CniError:
    with pytest.raises(CniError) as info:
        decode_config(raw)
    assert info.value.code == errors.DECODE_FAILURE
    return info.value


def test_decode_seed_configuration() -> None:
    raw = b'{"name": "amd-host-device-nad-nic", "cniVersion": "0.3.1", "type": "amd-host-device"}'
    assert decode_config(raw) == {
        "name": "amd-host-device-nad-nic",
        "cniVersion": "0.3.1",
        "type": "amd-host-device",
    }


@pytest.mark.parametrize(
    "raw", [b"", b"   \n", b"[]", b'"x"', b"1", b"null", b"true", b"{", b"{} {}", b"{'a': 1}"]
)
def test_decode_refuses_non_objects_and_broken_json(raw: bytes) -> None:
    _decode_error(raw)


def test_decode_refuses_oversized_input() -> None:
    padding = b" " * (MAX_CONFIG_BYTES - 2)
    assert decode_config(b"{" + padding + b"}") == {}
    assert "too large" in _decode_error(b"{" + padding + b" }").msg


@pytest.mark.parametrize(
    "raw", [b'{"a": "\xff"}', b'{"a": "\xc3"}', b"\xef\xbb\xbf{}", b'{"a": "\xed\xa0\x80"}']
)
def test_decode_refuses_invalid_utf8_and_bom(raw: bytes) -> None:
    _decode_error(raw)


@pytest.mark.parametrize("raw", [b'{"a": "\\ud800"}', b'{"\\udfff": 1}', b'{"a": ["x\\ud83d"]}'])
def test_decode_refuses_unpaired_surrogate_escapes(raw: bytes) -> None:
    assert "surrogate" in _decode_error(raw).details


def test_decode_keeps_paired_surrogate_escapes() -> None:
    assert decode_config(b'{"a": "\\ud83d\\ude00"}') == {"a": "\U0001f600"}


@pytest.mark.parametrize(
    "raw",
    [b'{"a": NaN}', b'{"a": Infinity}', b'{"a": -Infinity}', b'{"a": 1e400}', b'{"a": -1e999}'],
)
def test_decode_refuses_non_finite_numbers(raw: bytes) -> None:
    _decode_error(raw)


def test_decode_refuses_huge_integers() -> None:
    _decode_error(b'{"a": ' + b"9" * 5000 + b"}")


def test_nesting_limit_is_exact() -> None:
    def nested(depth: int) -> bytes:
        # The top-level object counts as level 1.
        return b'{"a":' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"

    assert decode_config(nested(MAX_NESTING)) == json.loads(nested(MAX_NESTING))
    assert "nested" in _decode_error(nested(MAX_NESTING + 1)).details


@pytest.mark.parametrize("depth", [1000, 100_000, 400_000])
def test_absurd_nesting_is_a_clean_error(depth: int) -> None:
    _decode_error(b'{"a":' + b"[" * depth + b"]" * depth + b"}")
    _decode_error(b'{"a":' + b'{"a":' * depth + b"1" + b"}" * depth + b"}")
    _decode_error(b"[" * depth)


def test_duplicate_key_with_different_values_is_refused_and_named() -> None:
    err = _decode_error(b'{"name": "a", "device": "eth1", "device": "eth2"}')
    assert "'device'" in err.msg
    err = _decode_error(
        b'{"runtimeConfig": {"deviceID": "0000:01:00.0", "deviceID": "0000:02:00.0"}}'
    )
    assert "'deviceID'" in err.msg


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a": 1, "a": 1.0}',
        b'{"a": 1, "a": true}',
        b'{"a": 0, "a": false}',
        b'{"a": [1], "a": [true]}',
    ],
)
def test_duplicate_values_are_compared_by_json_type_not_python_equality(raw: bytes) -> None:
    _decode_error(raw)


@pytest.mark.parametrize(
    "raw, keys",
    [
        (b'{"cniVersion": "0.3.1", "CNIVERSION": "1.0.0", "name": "n"}', ("cniVersion", "CNIVERSION")),
        (b'{"name": "n", "Name": "n"}', ("name", "Name")),  # even with equal values
        (b'{"runtimeConfig": {"deviceID": "0000:01:00.0", "DeviceID": "0000:02:00.0"}}', ("deviceID", "DeviceID")),
        (b'{"kind": 1, "\\u212aind": 1}', ("kind", "\u212aind")),  # KELVIN SIGN: Go's EqualFold says k
        (b'{"s": 1, "\\u017f": 2}', ("s", "\u017f")),  # LATIN SMALL LETTER LONG S: likewise s
        (b'{"ipam": {"type": "host-local", "TYPE": "host-local"}}', ("type", "TYPE")),
        (b'{"prevResult": {"ips": [{"address": "a", "ADDRESS": "a"}]}}', ("address", "ADDRESS")),
    ],
)
def test_keys_that_differ_only_by_case_are_refused(raw: bytes, keys: tuple[str, str]) -> None:
    """Issue 16: Go's encoding/json (libcni, Multus) matches struct fields case-insensitively, so
    ``CNIVERSION`` can be what the runtime reads while this plugin reads ``cniVersion``."""
    err = _decode_error(raw)
    assert all(repr(key) in err.msg for key in keys), err.msg


def test_duplicate_key_with_equal_value_is_accepted() -> None:
    assert decode_config(b'{"a": {"x": 1, "y": [2]}, "a": {"y": [2], "x": 1}}') == {
        "a": {"x": 1, "y": [2]}
    }


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_decode_random_bytes_raises_only_cni_errors(raw: bytes) -> None:
    try:
        result = decode_config(raw)
    except CniError as err:
        assert err.code == errors.DECODE_FAILURE
        return
    assert isinstance(result, dict)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet='{}[]":,0123456789.eE+-tfalsenu\\ \nab\ud800', max_size=60))
def test_decode_json_shaped_text_raises_only_cni_errors(text: str) -> None:
    try:
        result = decode_config(text.encode("utf-8", "surrogatepass"))
    except CniError as err:
        assert err.code == errors.DECODE_FAILURE
        return
    assert isinstance(result, dict)


_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=8,
)


def _has_keys_differing_only_by_case(value: object) -> bool:
    if isinstance(value, dict):
        if len({key.casefold() for key in value}) != len(value):
            return True
        return any(_has_keys_differing_only_by_case(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_keys_differing_only_by_case(v) for v in value)
    return False


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(st.text(max_size=8), _JSON_VALUES, max_size=6))
# Found by scripts/fuzz-seeds.sh (seeds 3585137856, 1267064600) once 17c21ff refused such keys.
@example({"": {"0N0": None, "0n0": None}})
@example({"\u00c2": None, "\u00e2": None})
@example({"kind": 1, "\u212aind": 2})
def test_decode_accepts_what_json_dumps_writes(obj: dict[str, object]) -> None:
    raw = json.dumps(obj).encode()
    case_twins = _has_keys_differing_only_by_case(obj)
    try:
        decoded = decode_config(raw)
    except CniError as err:
        # Refused only: keys of one object that differ only by case (Go's decoder may read either),
        # or text holding lone surrogates.
        assert err.code == errors.DECODE_FAILURE
        by_case = "differ only by case" in err.msg
        assert (by_case and case_twins) or (not by_case and "surrogate" in err.details), err
        return
    assert not case_twins, "keys that differ only by case were accepted"
    assert decoded == obj


# --- GC valid attachments ------------------------------------------------------------------


def test_valid_attachments_are_parsed() -> None:
    conf = {
        "cni.dev/valid-attachments": [
            {"containerID": "abc123", "ifname": "net1"},
            {"containerID": "def456", "ifname": "eth0", "extra": True},
        ]
    }
    assert parse_valid_attachments(conf) == frozenset(
        {GcAttachment("abc123", "net1"), GcAttachment("def456", "eth0")}
    )


def test_absent_list_means_unknown_and_null_means_none_valid() -> None:
    assert parse_valid_attachments({"name": "n"}) is None
    assert parse_valid_attachments({"cni.dev/valid-attachments": None}) == frozenset()
    assert parse_valid_attachments({"cni.dev/valid-attachments": []}) == frozenset()


def test_legacy_attachments_key_is_read_when_the_spec_key_is_absent() -> None:
    legacy = {"cni.dev/attachments": [{"containerID": "abc", "ifname": "net1"}]}
    assert parse_valid_attachments(legacy) == frozenset({GcAttachment("abc", "net1")})
    both = dict(legacy, **{"cni.dev/valid-attachments": []})
    assert parse_valid_attachments(both) == frozenset()


@pytest.mark.parametrize(
    ("entries", "named"),
    [
        ({"containerID": "a"}, "cni.dev/valid-attachments"),
        (["abc"], "[0]"),
        ([{"containerID": "a", "ifname": "net1"}, {"ifname": "net1"}], "[1].containerID"),
        ([{"containerID": "a", "ifname": 3}], "[0].ifname"),
        ([{"containerID": "-bad", "ifname": "net1"}], "[0].containerID"),
        ([{"containerID": "c" * 201, "ifname": "net1"}], "[0].containerID"),  # ADD refuses it too
        ([{"containerID": "a", "ifname": "x" * 16}], "[0].ifname"),
    ],
)
def test_malformed_attachments_fail_the_whole_request(entries: object, named: str) -> None:
    with pytest.raises(CniError) as info:
        parse_valid_attachments({"cni.dev/valid-attachments": entries})
    assert info.value.code == errors.INVALID_CONFIG
    assert named in info.value.msg
