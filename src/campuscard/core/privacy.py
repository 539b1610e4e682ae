"""What screens other people can see show of a holder: enough to recognise oneself, not to identify."""


def mask_name(name: str) -> str:
    """张三丰 → 张**, Alice Wang → A*********."""
    name = name or ""
    return name[:1] + "*" * (len(name) - 1)


def mask_number(number: str) -> str:
    """A card or person number with only its last four characters: 20220100001 → ****0001."""
    return "****" + (number or "")[-4:]
