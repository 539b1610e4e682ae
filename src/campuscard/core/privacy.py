"""What screens other people can see show of a holder: enough to recognise oneself, not to identify."""


def mask_name(name: str) -> str:
    """张三丰 → 张**, Alice Wang → A*********."""
    name = name or ""
    return name[:1] + "*" * (len(name) - 1)


def mask_number(number: str) -> str:
    """A card or person number with only its last four characters: 20220100001 → ****0001."""
    return "****" + (number or "")[-4:]


def mask_id_number(number: str) -> str:
    """An ID document number with its middle starred (#18 item 7): 110101199003071234 → 1101**********1234,
    E12345678 → E*****678."""
    number = number or ""
    if len(number) >= 15:
        return number[:4] + "*" * (len(number) - 8) + number[-4:]
    if len(number) >= 6:
        return number[:1] + "*" * (len(number) - 4) + number[-3:]
    return "*" * len(number)


def mask_phone(phone: str) -> str:
    """A phone number with its middle four starred (#18 item 7): 13812345678 → 138****5678."""
    phone = phone or ""
    if len(phone) >= 7:
        return phone[:3] + "****" + phone[-4:]
    return "*" * len(phone)
