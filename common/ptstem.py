"""Portuguese search words: the Python twin of PostgreSQL's `pt_fold()` + `pt_unaccent` (migration 0002).

SQLite has no Portuguese stemmer, so its FTS5 index stores the words made here; PostgreSQL makes the
same words itself. Both follow one order: fold accents and case, split on anything that is not a
letter or digit, drop stopwords, reduce the plurals snowball misses (ões/ães/ãos → ão, ais → al,
éis → el, óis → ol, uis → ul, éus → éu, ns → m), drop stopwords again (as `portuguese_stem` does),
then snowball-stem each word that has no digit. A test compares this module with PostgreSQL.
"""
from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache

import snowballstemmer

# PostgreSQL's tsearch_data/portuguese.stop, kept verbatim: `portuguese_stem` checks this list.
_PG_STOPWORDS = """
de a o que e do da em um para com não uma os no se na por mais as dos como mas ao ele das à seu sua
ou quando muito nos já eu também só pelo pela até isso ela entre depois sem mesmo aos seus quem nas
me esse eles você essa num nem suas meu às minha numa pelos elas qual nós lhe deles essas esses pelas
este dele tu te vocês vos lhes meus minhas teu tua teus tuas nosso nossa nossos nossas dela delas esta
estes estas aquele aquela aqueles aquelas isto aquilo estou está estamos estão estive esteve
estivemos estiveram estava estávamos estavam estivera estivéramos esteja estejamos estejam estivesse
estivéssemos estivessem estiver estivermos estiverem hei há havemos hão houve houvemos houveram
houvera houvéramos haja hajamos hajam houvesse houvéssemos houvessem houver houvermos houverem
houverei houverá houveremos houverão houveria houveríamos houveriam sou somos são era éramos eram
fui foi fomos foram fora fôramos seja sejamos sejam fosse fôssemos fossem for formos forem serei
será seremos serão seria seríamos seriam tenho tem temos tém tinha tínhamos tinham tive teve tivemos
tiveram tivera tivéramos tenha tenhamos tenham tivesse tivéssemos tivessem tiver tivermos tiverem
terei terá teremos terão teria teríamos teriam
""".split()

# Where PostgreSQL's unaccent.rules differ from Unicode's compatibility decomposition (NFKD).
_CHAR_FOLDS = {"æ": "ae", "œ": "oe", "ß": "ss", "ø": "o", "đ": "d", "ł": "l", "ð": "d", "þ": "th", "ħ": "h",
               "ı": "i", "ŀ": "l", "ĸ": "q", "ŉ": "'n", "ȸ": "db", "ȹ": "qp", "©": "(c)",
               "¹": " ", "²": " ", "³": " ", "①": " ", **{c: c for c in "ªºµ™‰"}}
_NOT_WORD = re.compile(r"[\W_]+")
_DIGIT = re.compile(r"[0-9]")

# (suffix, replacement, shortest stem kept, words left alone), applied in this order to every word.
PLURAL_RULES: tuple[tuple[str, str, int, tuple[str, ...]], ...] = (
    ("oes", "ao", 1, ()),
    ("aes", "ao", 1, ("maes",)),
    ("aos", "ao", 1, ()),
    ("ais", "al", 1, ("cais", "pais", "jamais", "demais")),
    ("eis", "el", 2, ()),
    ("ois", "ol", 2, ("herois",)),
    ("uis", "ul", 1, ()),
    ("eus", "eu", 1, ("deus", "adeus")),
    ("ns", "m", 1, ()),
    ("maes", "mae", 0, ()),
)


def fold(text: str) -> str:
    """Strip accents from `text`, then lower-case it: `Coração Ÿ` -> `coracao y`."""
    if text.isascii():
        return text.lower()
    return "".join([_fold_char(c) for c in text]).lower()


@lru_cache(maxsize=4096)
def _fold_char(char: str) -> str:
    folded = _CHAR_FOLDS.get(char.lower())
    if folded is not None:
        return folded
    return "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))


STOPWORDS: frozenset[str] = frozenset(fold(word) for word in _PG_STOPWORDS)
_STEMMER_STOPWORDS: frozenset[str] = frozenset(w for w in _PG_STOPWORDS if w.isascii())


def reduce_plural(word: str) -> str:
    """Apply PLURAL_RULES to one folded word: `coracoes` -> `coracao`, `papeis` -> `papel`."""
    for suffix, replacement, min_stem, exceptions in PLURAL_RULES:
        if word.endswith(suffix) and len(word) - len(suffix) >= min_stem and word not in exceptions:
            word = word[: -len(suffix)] + replacement
    return word


_local = threading.local()


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """Snowball's Portuguese stem of one folded, plural-reduced word (words with digits stay whole)."""
    if _DIGIT.search(word):
        return word
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        stemmer = _local.stemmer = snowballstemmer.stemmer("portuguese")
    return stemmer.stemWord(word)


def lexemes(text: str) -> list[str]:
    """The search words of `text` in order, repeats kept: `Os cachorros na praia` -> [cachorr, pra]."""
    result = []
    for word in _NOT_WORD.split(fold(text)):
        if not word or word in STOPWORDS:
            continue
        word = reduce_plural(word)
        if word in _STEMMER_STOPWORDS:
            continue
        result.append(stem(word))
    return result


def query_terms(text: str, limit: int = 32) -> list[str]:
    """The distinct search words of a query, first `limit` of them; [] when only stopwords remain."""
    return list(dict.fromkeys(lexemes(text)))[:limit]
