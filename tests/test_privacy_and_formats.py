"""Personal data helpers: encryption, blind index, masking, mainland phone and resident-ID validation."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.mainland_formats import (
    InvalidFormat,
    id_check_character,
    normalize_mainland_mobile,
    parse_resident_id,
)
from core.privacy import DecryptionError, FieldCipher, mask_id_number, mask_name, mask_phone

cipher = FieldCipher("unit-test-data-key-0123456789")


@given(st.text(max_size=300))
def test_encrypted_values_round_trip_and_never_contain_the_plaintext(value):
    token = cipher.encrypt(value, context="call.summary")
    assert cipher.decrypt(token, context="call.summary") == value
    if len(value) >= 4:
        assert value not in token


def test_same_value_encrypts_differently_each_time_but_indexes_the_same():
    a, b = cipher.encrypt("+8613812345678"), cipher.encrypt("+8613812345678")
    assert a != b
    assert cipher.blind_index("+8613812345678") == cipher.blind_index("+8613812345678")
    assert cipher.blind_index("+8613812345678") != cipher.blind_index("+8613812345679")


def test_ciphertext_moved_to_another_column_or_altered_does_not_decrypt():
    token = cipher.encrypt("张小明", context="appointment.parent_name")
    with pytest.raises(DecryptionError):
        cipher.decrypt(token, context="call.summary")
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(DecryptionError):
        cipher.decrypt(tampered, context="appointment.parent_name")


def test_another_key_cannot_read_the_data():
    token = cipher.encrypt("secret")
    with pytest.raises(DecryptionError):
        FieldCipher("another-key-entirely-000000").decrypt(token)


def test_masks_show_only_what_a_list_needs():
    assert mask_phone("+8613812345678") == "138****5678"
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone(None) == ""
    assert mask_id_number("11010519491231002X") == "110*************2X"
    assert mask_name("张小明") == "张**"


@pytest.mark.parametrize(
    "raw", ["13812345678", "+86 138 1234 5678", "0086-138-1234-5678", "8613812345678", " 138-1234-5678 "]
)
def test_mainland_mobiles_are_normalised_to_e164(raw):
    assert normalize_mainland_mobile(raw) == "+8613812345678"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "Enter a mobile phone number."),
        ("1381234567", "Enter a mainland mobile number"),
        ("12812345678", "Enter a mainland mobile number"),
        ("+85291234567", "Enter a mainland mobile number"),
        ("138abc45678", "only digits"),
    ],
)
def test_invalid_phones_are_refused_with_a_reason(raw, reason):
    with pytest.raises(InvalidFormat) as excinfo:
        normalize_mainland_mobile(raw)
    assert reason in str(excinfo.value)


def test_a_published_example_id_number_passes_and_yields_birth_date_and_sex():
    parsed = parse_resident_id("11010519491231002x")
    assert parsed.number == "11010519491231002X"
    assert parsed.birth_date == date(1949, 12, 31)
    assert parsed.sex == "female"


@given(
    area=st.integers(110000, 659999),
    born=st.dates(min_value=date(1900, 1, 1), max_value=date(2025, 12, 31)),
    sequence=st.integers(0, 999),
)
def test_any_well_formed_id_number_passes_and_any_single_wrong_check_character_fails(area, born, sequence):
    first17 = f"{area:06d}{born:%Y%m%d}{sequence:03d}"
    good = first17 + id_check_character(first17)
    parsed = parse_resident_id(good)
    assert parsed.birth_date == born
    assert parsed.sex == ("male" if sequence % 2 else "female")
    for wrong in "0123456789X":
        if wrong != good[-1]:
            with pytest.raises(InvalidFormat):
                parse_resident_id(first17 + wrong)


def test_impossible_birth_date_is_refused_even_with_a_right_check_character():
    first17 = "110105" + "20230230" + "123"
    with pytest.raises(InvalidFormat, match="impossible birth date"):
        parse_resident_id(first17 + id_check_character(first17))
