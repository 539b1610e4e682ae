"""The assistant's normalisation table (SUP-1, issue #21 item 1): typos and colloquial words holders type,
mapped to the words the knowledge base uses, applied to questions and entries alike before segmentation.

Only general language belongs here (input-method typos, everyday synonyms, spelling variants). Words that
point to one topic belong in that entry's "extra keywords", which operators edit in the back office from the
"Questions asked" list (filter "to improve"): the index follows their edit at once.

English typos need no row: the ranker corrects an unknown word to a knowledge-base word one edit away.
The rows were chosen on the first tuning set (assistant/examples/first.json), never on
tests/assistant/questions_unseen.json.
"""

from __future__ import annotations

import re

# Chinese: replaced wherever they occur (no word boundaries in Chinese). Homophone typos of the pinyin
# input method first, then colloquial forms.
ZH: list[tuple[str, str]] = [
    ("冲值", "充值"), ("冲钱", "充值"), ("充钱", "充值"), ("存钱", "充值"),
    ("挂矢", "挂失"), ("卦失", "挂失"),
    ("登陆", "登录"), ("登入", "登录"),
    ("补版", "补办"), ("补拌", "补办"),
    ("校园咔", "校园卡"), ("校圆卡", "校园卡"),
    ("密吗", "密码"), ("蜜码", "密码"),
    ("二维马", "二维码"),
    ("对不上", "不符"), ("不一致", "不符"),
    ("刷不开", "进不去"), ("刷不进", "进不去"),
    ("饭堂", "食堂"),
    ("搞丢", "丢失"), ("弄丢", "丢失"), ("丢了", "丢失"), ("掉了", "丢失"), ("不见了", "丢失"),
    ("捡到", "找到"), ("拾到", "找到"),
    ("爸妈", "家长"), ("父母", "家长"),
    ("收费", "费用"), ("要钱", "费用"),
    ("有啥用", "用途"), ("有什么用", "用途"), ("干嘛用", "用途"), ("能干嘛", "用途"), ("能干啥", "用途"),
    ("哪些地方", "在哪"), ("什么地方", "在哪"), ("啥地方", "在哪"),
    ("补了", "补办"), ("补个", "补办"), ("去领", "领取"), ("当面办", "人工窗口办理"),
    ("截个图", "截图"), ("截屏", "截图"), ("查到", "查看"), ("查得到", "查看"), ("超限额", "超出限额"),
]

# English: whole words or phrases, case-insensitive.
EN: list[tuple[str, str]] = [
    ("top up", "recharge"), ("top-up", "recharge"), ("topup", "recharge"), ("topping up", "recharge"),
    ("put money on", "recharge"), ("add money to", "recharge"), ("load money", "recharge"),
    ("put cash on", "recharge cash"),
    ("pin", "password"), ("passcode", "password"), ("pwd", "password"),
    ("log in", "login"), ("log-in", "login"), ("sign in", "login"), ("sign-in", "login"), ("signin", "login"),
    ("logon", "login"),
    ("canteen card", "meal card"), ("dining card", "meal card"),
    ("picture", "photo"), ("pic", "photo"), ("headshot", "photo"),
    ("uni", "university"), ("varsity", "university"),
    ("dorms", "dormitory"), ("dorm", "dormitory"), ("residence hall", "dormitory"),
    ("guest pass", "visitor code"), ("guest code", "visitor code"),
    ("come onto campus", "enter campus"), ("come on campus", "enter campus"), ("get onto campus", "enter campus"),
    ("get into campus", "enter campus"), ("get on campus", "enter campus"),
    ("purchases", "payments"), ("purchase", "payment"), ("i graduate", "graduation"), ("11pm", "23:00"),
    ("part time", "part-time"), ("full time", "full-time"),
    ("doesnt", "does not"), ("dont", "do not"), ("cant", "cannot"), ("wont", "will not"), ("isnt", "is not"),
]

_ZH_RE = re.compile("|".join(re.escape(k) for k, _ in sorted(ZH, key=lambda r: -len(r[0]))))
_ZH_MAP = dict(ZH)
_EN_RE = re.compile(r"(?<![a-z0-9])(?:" + "|".join(re.escape(k) for k, _ in sorted(EN, key=lambda r: -len(r[0])))
                    + r")(?![a-z0-9])")
_EN_MAP = dict(EN)


def normalise(text: str) -> str:
    """``text`` lower-cased, with the table's variants replaced by their canonical words."""
    text = _ZH_RE.sub(lambda m: _ZH_MAP[m.group(0)], text.lower())
    return _EN_RE.sub(lambda m: _EN_MAP[m.group(0)], text)
