"""Strict parsing of PCI addresses, auxiliary device ids and interface names."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hostdev._sysfs.errors import InvalidAuxiliaryId, InvalidNetdevName, InvalidPciAddress
from hostdev._sysfs.netdev_name import parse_netdev_name
from hostdev._sysfs.pci_address import (
    is_auxiliary_id,
    is_sysfs_pci_address,
    parse_auxiliary_id,
    parse_pci_address,
)

HEX = "0123456789abcdefABCDEF"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0000:00:03.0", "0000:00:03.0"),
        ("0000:3B:1F.7", "0000:3b:1f.7"),
        ("ABCD:ef:00.1", "abcd:ef:00.1"),
        ("ffff:ff:1f.7", "ffff:ff:1f.7"),
        ("03:00.0", "0000:03:00.0"),
        ("af:10.2", "0000:af:10.2"),
    ],
)
def test_valid_addresses_normalise(text: str, expected: str) -> None:
    assert parse_pci_address(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "0000:00:20.0",  # device > 0x1f
        "0000:00:03.8",  # function > 7
        "0000:00:03.a",
        "0000:00:3.0",
        "000:00:03.0",
        "00000:00:03.0",  # VMD-style 5-digit domain
        "10000:e0:00.0",
        "0000-00-03.0",
        "0000:00:03:0",
        "0000:00.03.0",
        "0000:00:03.0\n",
        "0000:00:03.0 ",
        " 0000:00:03.0",
        "0000:00:03.0\0",
        "\0000:00:03.0",
        "0000:00:03.0/..",
        "../../../etc",
        "0000:00:03.0/../../../../etc/passwd",
        "..",
        ".",
        "0000/00:03.0",
        "0000:0g:03.0",
        "0x00:00:03.0",
        "+000:00:03.0",
        "0000:00:03.-",
        "０000:00:03.0",  # fullwidth zero
        "0000:00:03.٠",  # Arabic-Indic zero
        "0000:00:03.\u0661",  # Arabic-Indic one
        "0000:00:0\u0663.0",
        "０３:00.0",
        "0000:00:03.0" * 100,
    ],
)
def test_hostile_or_malformed_addresses_are_rejected(text: str) -> None:
    with pytest.raises(InvalidPciAddress):
        parse_pci_address(text)


@pytest.mark.parametrize("value", [None, 3, b"0000:00:03.0", ["0000:00:03.0"]])
def test_non_strings_are_rejected_as_invalid_address(value: object) -> None:
    with pytest.raises(InvalidPciAddress, match="not a string"):
        parse_pci_address(value)  # type: ignore[arg-type]


def test_invalid_address_is_a_value_error_with_safe_truncated_message() -> None:
    hostile = "\x1b[31m" + "A" * 500 + "\u202e"
    with pytest.raises(ValueError) as info:
        parse_pci_address(hostile)
    message = str(info.value)
    assert "\\x1b" in message and "\x1b" not in message
    assert len(message) < 200
    assert "(506 chars)" in message


@st.composite
def pci_addresses(draw: st.DrawFn) -> tuple[str, str]:
    """(text as a user might write it, expected normal form)."""
    domain = draw(st.text(HEX, min_size=4, max_size=4))
    bus = draw(st.text(HEX, min_size=2, max_size=2))
    device = draw(st.integers(0, 0x1F))
    device_text = draw(st.sampled_from([f"{device:02x}", f"{device:02X}"]))
    function = draw(st.integers(0, 7))
    if draw(st.booleans()):
        text = f"{domain}:{bus}:{device_text}.{function}"
    else:
        domain = "0000"
        text = f"{bus}:{device_text}.{function}"
    return text, f"{domain}:{bus}:{device:02x}.{function}".lower()


@given(pci_addresses())
def test_valid_addresses_round_trip(case: tuple[str, str]) -> None:
    text, expected = case
    normal = parse_pci_address(text)
    assert normal == expected
    assert parse_pci_address(normal) == normal
    assert is_sysfs_pci_address(normal)


@given(st.text(max_size=40))
def test_arbitrary_text_raises_only_invalid_pci_address(text: str) -> None:
    try:
        normal = parse_pci_address(text)
    except InvalidPciAddress:
        return
    # Anything accepted must be plain ASCII of the canonical shape.
    assert normal.isascii() and len(normal) == 12 and parse_pci_address(normal) == normal


@given(st.text(alphabet=st.sampled_from("0123456789abcdefABCDEF:./\n \0٠０"), max_size=14))
def test_near_miss_text_raises_only_invalid_pci_address(text: str) -> None:
    try:
        normal = parse_pci_address(text)
    except InvalidPciAddress:
        return
    assert normal.isascii() and ("/" not in normal) and normal == normal.strip()


def test_short_and_upper_case_forms_are_not_what_sysfs_shows() -> None:
    assert not is_sysfs_pci_address("03:00.0")
    assert not is_sysfs_pci_address("0000:3B:00.0")
    assert is_sysfs_pci_address("0000:3b:00.0")


@pytest.mark.parametrize(
    "text",
    ["mlx5_core.eth.0", "ionic.rdma.0", "mlx5_core.sf.4", "mlx5_core.eth-rep.12",
     "pds_core.vDPA.1"],
)
def test_valid_auxiliary_ids_are_returned_unchanged(text: str) -> None:
    assert parse_auxiliary_id(text) == text
    assert is_auxiliary_id(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "mlx5_core",
        "mlx5_core.eth",
        "mlx5_core.eth.0.1",
        "mlx5_core..0",
        ".eth.0",
        "mlx5_core.eth.",
        "mlx5_core.eth.01",
        "mlx5_core.eth.-1",
        "mlx5_core.eth.4294967296",
        "mlx5-core.eth.0",
        "mlx5_core.eth.0\n",
        "mlx5_core.eth 0.0",
        "mlx5_core/../eth.0",
        "../mlx5_core.eth.0",
        "..",
        "mlx5_core.eth.٠",
        "mlx5_core.eth.０",
        "mlx5_core.ét.0",
        "m" * 60 + ".eth.0",
        "mlx5_core.eth.0\0",
    ],
)
def test_malformed_auxiliary_ids_are_rejected(text: str) -> None:
    with pytest.raises(InvalidAuxiliaryId):
        parse_auxiliary_id(text)
    assert not is_auxiliary_id(text)


@given(st.text(max_size=80))
def test_arbitrary_text_raises_only_invalid_auxiliary_id(text: str) -> None:
    try:
        parse_auxiliary_id(text)
    except InvalidAuxiliaryId:
        return
    assert text.isascii() and text.count(".") == 2 and "/" not in text


@pytest.mark.parametrize("text", ["eth0", "enp3s0f0v1", "a", "x" * 15, "eth-0_1.2", "ñic0"])
def test_valid_netdev_names(text: str) -> None:
    assert parse_netdev_name(text) == text


@pytest.mark.parametrize(
    "text",
    ["", ".", "..", "x" * 16, "eth/0", "eth:0", "eth 0", "eth0\n", "eth\t0", "eth\0", "ñ" * 8,
     "\ud800"],
)
def test_invalid_netdev_names(text: str) -> None:
    with pytest.raises(InvalidNetdevName):
        parse_netdev_name(text)


@given(st.text(max_size=20))
def test_arbitrary_text_raises_only_invalid_netdev_name(text: str) -> None:
    try:
        parse_netdev_name(text)
    except InvalidNetdevName:
        return
    assert "/" not in text and text not in (".", "..") and 1 <= len(text.encode()) <= 15
