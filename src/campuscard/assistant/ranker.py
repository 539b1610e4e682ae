"""Ranking questions against the knowledge base (SUP-1): Chinese word segmentation (``jieba``) and BM25
(``bm25s``), built in-process from the database's entries — nothing is fetched or sent anywhere.

One index per institution holds every published entry as one document: its titles (counted twice), both
answers and the operators' keywords, so a question in either language, or mixing both, finds it. The index
is rebuilt when the entries' fingerprint (count and latest change) moves, which every ask checks.

Confidence is not the BM25 score alone (its scale depends on the question's length): the answer is
confident when the best entry covers enough of what the question is about — the share of the question's
informative weight (IDF; a word the knowledge base never uses weighs the most) found in that entry — and
beats the runner-up clearly enough. "How do I report my bank card lost" shares "report", "card", "lost"
with the loss entry, but "bank" is a heavy word no entry has, so the assistant says it is not sure.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from dataclasses import dataclass

import bm25s
import jieba
import numpy as np

from campuscard.assistant.synonyms import normalise

jieba.setLogLevel(logging.WARNING)
logging.getLogger("bm25s").setLevel(logging.WARNING)

_CJK = re.compile(r"[\u3400-\u9fff]")
_TOKEN = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*|[\u3400-\u9fff]+")

# Words that carry no topic in either language (question words, pronouns, fillers, "card" itself: every
# entry is about the card).
STOP_EN = frozenset(["a", "an", "the", "and", "or", "but", "if", "of", "to", "in", "on", "at", "by", "for", "with", "from", "into", "about", "as", "is", "are", "was", "were", "be", "been", "being", "am", "do", "does", "did", "doing", "done", "have", "has", "had", "having", "i", "me", "my", "mine", "we", "us", "our", "you", "your", "yours", "he", "she", "it", "its", "they", "them", "their", "this", "that", "these", "those", "there", "here", "what", "which", "who", "whom", "whose", "when", "where", "why", "how", "can", "could", "should", "would", "will", "shall", "may", "might", "must", "not", "no", "yes", "so", "than", "too", "very", "just", "also", "any", "some", "all", "each", "every", "more", "most", "other", "such", "only", "own", "same", "then", "once", "again", "still", "even", "much", "many", "lot", "lots", "get", "got", "getting", "go", "going", "want", "need", "please", "thanks", "thank", "hi", "hello", "ok", "okay", "really", "actually", "anyway", "way", "thing", "things", "something", "anything", "one", "ones", "im", "ive", "dont", "cant", "isnt", "wont", "whats", "hows", "does", "doesnt", "didnt", "without", "within", "via", "per", "campus", "card", "cards", "campuscard", "mobile", "i'm", "i've", "i'd", "i'll", "it's", "that's", "there's", "what's", "don't", "can't", "isn't", "won't", "wasn't", "weren't", "doesn't", "didn't", "haven't", "hasn't", "aren't", "couldn't", "shouldn't", "let's", "myself", "yourself", "itself", "ourselves", "themselves", "like", "say", "says", "said", "tell", "know", "knew", "think", "guess", "maybe", "probably", "kind", "sort", "else", "anyone", "someone", "everyone", "everybody", "somebody", "nobody", "everything", "nothing", "now", "today", "tomorrow", "yesterday", "tonight", "yet", "already", "ever", "never", "always", "usually", "sometimes", "often", "well", "right", "sure", "fine", "good", "bad", "new", "old", "first", "last", "next", "again", "able"])
STOP_ZH = frozenset(["的", "了", "吗", "呢", "啊", "吧", "呀", "嘛", "哦", "么", "是", "在", "我", "你", "他", "她", "它", "我们", "你们", "他们", "这", "那", "这个", "那个", "哪个", "什么", "怎么", "怎样", "怎么办", "如何", "为什么", "能", "能不能", "可以", "可不可以", "要", "需要", "想", "会", "有", "没有", "没", "不", "也", "都", "就", "还", "和", "与", "及", "或", "或者", "把", "被", "给", "让", "从", "到", "对", "跟", "请问", "一下", "一个", "个", "些", "下", "上", "里", "中", "后", "前", "吗", "啥", "咋", "嗯", "请", "谢谢", "校园卡", "卡", "校园", "移动", "一卡通", "这张", "张", "为啥", "为何", "干嘛", "咋办", "咋样", "还是", "以后", "之后", "然后", "已经", "时候", "啥时候", "什么时候", "比较", "一些", "这样", "那样", "这么", "那么", "现在", "今天", "明天", "昨天", "自己", "别人", "大家", "人家", "同学", "我们", "咱们", "还有", "还能", "还要", "就是", "只是", "但是", "可是", "不过", "如果", "要是", "因为", "所以", "而且", "并且", "其实", "到底", "究竟", "一直", "一定", "得", "地", "着", "过", "来", "去", "说", "问", "看", "用", "做", "弄", "搞", "办", "行", "好", "对", "吧", "呗", "啦", "嘞", "哈", "么", "哪", "哪里", "哪儿", "那里", "这里", "多", "少", "很", "太", "挺", "最", "更", "又", "再", "才", "刚", "刚刚", "马上", "应该", "是不是", "有没有", "能否", "是否", "的话", "一样", "一般", "大概", "需要", "必须", "总是", "老是", "这种", "那种", "哪些", "哪种", "各位", "您", "您好", "你好", "麻烦"])


# Colloquial fillers: how a question is asked, not what about ("咋整", "怎么回事").
STOP_ZH |= frozenset(["咋整", "咋弄", "怎么弄", "怎么整", "怎么回事", "回事", "干嘛", "干啥", "到底", "来得及", "行不行",
                      "可以吗", "好不好", "一直", "老", "半天", "找半天", "想要", "是啥", "啥子", "急", "着急", "求助",
                      "一下子", "谁知道", "知道", "这边", "那边", "同学们", "老是", "咋回事", "咋样"])


def _stem(word: str) -> str:
    """A light English stemmer: plural and verb endings, enough for "reported/reporting/reports"."""
    if len(word) <= 3 or not word.isalpha():
        return word
    for suffix, keep in (("ies", "y"), ("ied", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if suffix == "s" and word.endswith(("ss", "us", "is")):
            continue  # "access", "bus", "campus", "this"
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            stem = word[: -len(suffix)] + keep
            if suffix in ("ing", "ed") and len(stem) > 3 and stem[-1] == stem[-2] and stem[-1] not in "lsz":
                stem = stem[:-1]  # "stopped" -> "stop"
            if suffix == "es" and not stem.endswith(("sh", "ch", "x", "s", "z")):
                stem = word[:-1]  # "phones" -> "phone"
            return stem
    return word


def tokenize(text: str, *, bigrams: bool = True) -> list[str]:
    tokens: list[str] = []
    for piece in _TOKEN.findall(normalise(text)):
        if _CJK.match(piece):
            for word in jieba.cut_for_search(piece):
                if word not in STOP_ZH:
                    tokens.append(word)
            # character bigrams too (a standard in Chinese retrieval): paraphrases that jieba cuts
            # differently ("对不上" / "不符", "冲值" / "充值") still share some
            if bigrams:
                tokens += [piece[i:i + 2] for i in range(len(piece) - 1) if piece[i:i + 2] not in STOP_ZH]
        elif piece not in STOP_EN:
            tokens.append(_stem(piece[:-2] if piece.endswith("'s") else piece))
    return tokens


def content_words(text: str) -> list[str]:
    """The words a question is about, for its coverage: Chinese cut once (jieba's precise mode, not the
    overlapping search mode, which would count one unknown phrase three times), English stemmed."""
    words: list[str] = []
    for piece in _TOKEN.findall(normalise(text)):
        if _CJK.match(piece):
            words += [w for w in jieba.cut(piece) if w not in STOP_ZH]
        elif piece not in STOP_EN:
            words.append(_stem(piece[:-2] if piece.endswith("'s") else piece))
    return words


def is_chinese(text: str) -> bool:
    cjk = len(_CJK.findall(text))
    latin = len(re.findall(r"[A-Za-z]", text))
    return cjk > 0 and cjk * 2 >= latin


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1:] for i in range(len(word))}


def _one_edit(a: str, b: str) -> bool:
    """Damerau distance ≤ 1: one letter inserted, deleted, changed, or two neighbours swapped."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                  and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))


def _share(word: str, terms: set[str]) -> float:
    if word in terms:
        return 1.0
    if len(word) > 2 and _CJK.match(word):
        pairs = [word[i:i + 2] for i in range(len(word) - 1)]
        return sum(p in terms for p in pairs) / len(pairs)
    return 0.0


NO_RUNNER_UP = 100.0
MIN_SPELL = 5  # shorter English words are not corrected: too many real words lie one edit apart


@dataclass(frozen=True)
class Hit:
    index: int  # position in the entry list the index was built from
    score: float
    coverage: float  # share of the question's weight present in the entry, 0..1
    margin: float  # best score over the runner-up's (NO_RUNNER_UP when no other entry shares a word)
    unknown: float = 0.0  # share of the question's weight in words no entry has


class Index:
    def __init__(self, documents: list[str]) -> None:
        self.size = len(documents)
        corpus = [tokenize(doc) for doc in documents]
        self.doc_terms = [set(doc) for doc in corpus]
        self.df: dict[str, int] = {}
        for terms in self.doc_terms:
            for term in terms:
                self.df[term] = self.df.get(term, 0) + 1
        self.retriever = bm25s.BM25(k1=1.2, b=0.75)
        self.vocab: dict[str, int] = {}
        if any(corpus):  # an institution without entries yet: nothing to rank, every answer is "not sure"
            self.retriever.index(corpus, show_progress=False)
            self.vocab = self.retriever.vocab_dict
        # English words one edit away from a knowledge-base word (typos: "pasword", "replacment")
        self._near: dict[str, set[str]] = {}
        for term in self.vocab:
            if term.isascii() and term.isalpha() and len(term) >= MIN_SPELL:
                for variant in _deletes(term) | {term}:
                    self._near.setdefault(variant, set()).add(term)

    def correct(self, term: str) -> str:
        """``term``, or the knowledge-base word one edit away from it (the most common one) when the
        knowledge base does not have ``term`` itself."""
        if term in self.vocab or len(term) < MIN_SPELL or not (term.isascii() and term.isalpha()):
            return term
        candidates: set[str] = set()
        for variant in _deletes(term) | {term}:
            candidates |= self._near.get(variant, set())
        candidates = {c for c in candidates if _one_edit(term, c)}
        if not candidates:
            return term
        return max(sorted(candidates), key=lambda c: self.df.get(c, 0))

    def only_in(self, question: str, documents: set[int]) -> tuple[int, float] | None:
        """The one of ``documents`` holding the largest share of the question's weight in words that no other
        document has, with that share; None when the question has no such word. ("My credit card was declined":
        "credit" is a word only the bank-card redirect has.)"""
        weights = {w: self.idf(w) for w in {self.correct(w) for w in content_words(question)}}
        total = sum(weights.values()) or 1.0
        shares: dict[int, float] = {}
        for word, weight in weights.items():
            owners = {i for i, terms in enumerate(self.doc_terms) if word in terms} if word in self.df else set()
            if owners and owners <= documents:
                for i in owners:
                    shares[i] = shares.get(i, 0.0) + weight / total
        return max(shares.items(), key=lambda item: (item[1], -item[0])) if shares else None

    def idf(self, term: str) -> float:
        return math.log(1 + (self.size - self.df.get(term, 0) + 0.5) / (self.df.get(term, 0) + 0.5))

    def rank(self, question: str, k: int = 3) -> tuple[list[Hit], list[str]]:
        terms = [self.correct(t) for t in tokenize(question)]
        known = [t for t in terms if t in self.vocab]
        if not self.size or not known:
            return [], terms
        ids = [self.vocab[t] for t in known]
        scores = self.retriever.get_scores(ids)
        order = np.argsort(-scores)[:k]
        # coverage counts the question's words, each by its weight: a Chinese word the entry lacks still counts
        # for the share of its character pairs the entry has ("传上去"); a lone Chinese character (mostly verbs
        # and particles: 领, 补, 新) weighs half
        weights = {w: self.idf(w) * (0.5 if len(w) == 1 and _CJK.match(w) else 1.0)
                   for w in {self.correct(w) for w in content_words(question)}}
        total = sum(weights.values()) or 1.0
        unknown = sum(v for w, v in weights.items() if w not in self.df) / total
        best = float(scores[order[0]])
        second = float(scores[order[1]]) if len(order) > 1 else 0.0
        hits = []
        for position in order:
            score = float(scores[position])
            if score <= 0:
                break
            covered = sum(v * _share(w, self.doc_terms[position]) for w, v in weights.items())
            hits.append(Hit(index=int(position), score=score, coverage=covered / total,
                            margin=(best / second) if second > 0 else NO_RUNNER_UP, unknown=unknown))
        return hits, terms


class IndexCache:
    """One index per institution, rebuilt when the fingerprint of its entries changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._indexes: dict[int, tuple[object, Index, list]] = {}

    def get(self, key: int, fingerprint: object, load) -> tuple[Index, list]:
        cached = self._indexes.get(key)
        if cached is not None and cached[0] == fingerprint:
            return cached[1], cached[2]
        with self._lock:
            cached = self._indexes.get(key)
            if cached is not None and cached[0] == fingerprint:
                return cached[1], cached[2]
            entries, documents = load()
            index = Index(documents)
            self._indexes[key] = (fingerprint, index, entries)
            return index, entries

    def clear(self) -> None:
        self._indexes.clear()
