"""Identity documents (ID-2) and the initial secret derived from them (ID-3, ID-6)."""

import pytest
from django.utils import translation
from stdnum.cn import ric

from campuscard.identity.documents import SPECIAL_CERTIFICATES, IdType, initial_secret, validate_document
from tests.conftest import ID_ALICE, ID_BOB


@pytest.fixture(autouse=True)
def english():
    """Reasons are translated; these tests read the English source strings."""
    with translation.override("en"):
        yield


def with_check_digit(first17: str) -> str:
    return first17 + ric.calc_check_digit(first17 + "0")


# --- resident ID cards ----------------------------------------------------------------------------


@pytest.mark.parametrize("number", [ID_ALICE, ID_BOB, with_check_digit("23010319980512001")])
def test_valid_resident_ids_pass_unchanged(number):
    """ID-2: Chinese resident ID numbers are validated by checksum."""
    assert validate_document(IdType.RESIDENT, number) == number


def test_lower_case_x_is_normalised_to_upper_case():
    assert validate_document(IdType.RESIDENT, ID_ALICE.lower()) == ID_ALICE
    assert validate_document("resident", " 110105 19491231 002x ") == ID_ALICE


@pytest.mark.parametrize("number", [
    "110105199003074529",  # ID_BOB with the wrong check digit
    "11010519491231002Y",  # not a check character at all
    "110105199003074511",  # the kind of typo a checksum exists to catch
])
def test_bad_checksum_is_refused_with_the_number_in_the_reason(number):
    with pytest.raises(ValueError) as caught:
        validate_document(IdType.RESIDENT, number)
    assert number in str(caught.value)


@pytest.mark.parametrize("number", [
    "11010519900307452",  # 17 characters
    "1101051990030745280",  # 19 characters
    with_check_digit("11010519901307452"),  # month 13, correct check digit
    "11O105199003074528",  # letter O for zero
])
def test_malformed_resident_ids_are_refused(number):
    with pytest.raises(ValueError):
        validate_document(IdType.RESIDENT, number)


@pytest.mark.parametrize("id_type", [IdType.RESIDENT, IdType.PASSPORT, IdType.HKMO_PERMIT, IdType.TW_PERMIT])
@pytest.mark.parametrize("number", ["", "   ", None])
def test_an_empty_number_is_refused_for_every_type(id_type, number):
    with pytest.raises(ValueError, match="empty"):
        validate_document(id_type, number)


# --- special certificates --------------------------------------------------------------------------


def test_special_certificates_are_the_three_non_resident_documents():
    """ID-2: passports, HK/Macau travel permits and Taiwan permits are "special certificates"."""
    assert {IdType.PASSPORT, IdType.HKMO_PERMIT, IdType.TW_PERMIT} == SPECIAL_CERTIFICATES


@pytest.mark.parametrize(("number", "normalised"), [
    ("E12345678", "E12345678"),
    ("e12345678", "E12345678"),
    ("G 1234 5678", "G12345678"),
    ("AB123", "AB123"),
    ("X" * 20, "X" * 20),
])
def test_passports(number, normalised):
    assert validate_document(IdType.PASSPORT, number) == normalised


@pytest.mark.parametrize("number", ["AB12", "X" * 21, "E1234-5678", "护照12345"])
def test_bad_passports(number):
    with pytest.raises(ValueError):
        validate_document(IdType.PASSPORT, number)


@pytest.mark.parametrize(("number", "normalised"), [
    ("H12345678", "H12345678"),  # HK resident, 8 digits
    ("M12345678", "M12345678"),  # Macau resident
    ("H1234567801", "H1234567801"),  # card version: 10 digits
    ("m1234567801", "M1234567801"),
])
def test_hk_macau_permits_are_h_or_m_and_8_or_10_digits(number, normalised):
    assert validate_document(IdType.HKMO_PERMIT, number) == normalised


@pytest.mark.parametrize("number", ["H1234567", "H123456789", "H123456789012", "K12345678", "12345678",
                                    "HM2345678"])
def test_bad_hk_macau_permits(number):
    with pytest.raises(ValueError, match="H or M"):
        validate_document(IdType.HKMO_PERMIT, number)


@pytest.mark.parametrize("number", [
    "12345678",  # 台胞证: 8 digits
    with_check_digit("83000019900101001"),  # 台湾居民居住证: 830000 prefix, resident-ID checksum
    with_check_digit("83000019950615123"),
])
def test_taiwan_permits(number):
    assert validate_document(IdType.TW_PERMIT, number) == number


@pytest.mark.parametrize("number", [
    "1234567",
    "123456789",
    "T1234567",
    "830000199001010013",  # residence permit with a wrong check digit
    with_check_digit("11010519900307452"),  # a mainland resident ID is not a Taiwan permit
])
def test_bad_taiwan_permits(number):
    with pytest.raises(ValueError):
        validate_document(IdType.TW_PERMIT, number)


def test_resident_id_rules_do_not_apply_to_passports_and_vice_versa():
    assert validate_document(IdType.PASSPORT, "110105199003074529") == "110105199003074529"
    with pytest.raises(ValueError):
        validate_document(IdType.RESIDENT, "E12345678")


def test_unknown_document_type_is_refused():
    with pytest.raises(ValueError, match="unknown ID type"):
        validate_document("driving_licence", "12345678")


# --- initial secret (ID-3, ID-6) -----------------------------------------------------------------


@pytest.mark.parametrize(("id_number", "secret"), [
    (ID_ALICE, "31002X"),
    (ID_ALICE.lower(), "31002X"),  # ID-3: a trailing x becomes X
    (ID_BOB, "074528"),
    (" 1101 0519 4912 3100 2x ", "31002X"),
    ("E12345678", "345678"),
    ("h1234567801", "567801"),
])
def test_initial_secret_is_the_last_six_characters_upper_case(id_number, secret):
    """ID-3: the initial password is the last six characters of the ID number, letters upper-case."""
    assert initial_secret(id_number) == secret
