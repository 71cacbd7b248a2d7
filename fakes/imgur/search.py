"""Gallery search: the ``q`` mini-language and the advanced ``q_*`` parameters (§5.1).

``q`` grammar (operators are upper-case words, as Imgur documents them)::

    query   := or_expr
    or_expr := and_expr ("OR" and_expr)*
    and_expr:= unary (["AND"] unary)*          # juxtaposition means AND
    unary   := ("NOT" | "-") unary | "(" query ")" | term
    term    := [field ":"] (word | "quoted phrase")
    field   := tag | title | user | ext | subreddit | album | meme

A bare word matches a whole word of the title, description, tags, author or section
(case-insensitive); a quoted phrase matches a substring of title or description.
``title: cats`` (space after the colon) is the same as ``title:cats``.

Advanced search: if any of ``q_all q_any q_exactly q_not q_type q_size_px`` is set, ``q``
is ignored (as Imgur documents) and the set ones are AND-ed.

Predicates are callables on one ``Indexed`` post. Word and tag terms, and the AND / OR /
NOT of them, can also answer from a ``SearchIndex`` (word -> positions), so ``matching``
visits only candidate posts instead of testing every post of the catalogue.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from fakes.imgur.data import Catalogue, ImageRecord, Post

FIELDS = ("tag", "title", "user", "ext", "subreddit", "album", "meme")
ADVANCED = ("q_all", "q_any", "q_exactly", "q_not", "q_type", "q_size_px")
# q_size_px buckets by the longer side, in pixels (§5.1).
SIZE_BUCKETS = {
    "small": (0, 500),
    "med": (500, 2000),
    "big": (2000, 5000),
    "lrg": (5000, 10000),
    "huge": (10000, 10**9),
}

_WORD = re.compile(r"[a-z0-9_']+")
_TOKEN = re.compile(r'"[^"]*"?|\(|\)|[^\s()"]+')

Predicate = Callable[["Indexed"], bool]
Positions = frozenset[int]


class SearchError(ValueError):
    """The query cannot be parsed (answered with Imgur's 400)."""


def words_of(text: str | None) -> set[str]:
    return set(_WORD.findall(text.lower())) if text else set()


@dataclass(slots=True)
class Indexed:
    """What a search looks at for one gallery post, computed once per catalogue."""

    post: Post
    words: frozenset[str]
    title_words: frozenset[str]
    text: str  # lower-cased title + description, for phrases
    title: str
    tags: frozenset[str]
    user: str
    section: str
    ext: str
    meme: str
    longest_side: int
    kind: str  # jpg | png | gif | anigif | video | album


def index_catalogue(catalogue: Catalogue) -> list[Indexed]:
    entries = []
    for post in catalogue.posts:
        title = (post.title or "").lower()
        text = f"{title} {(post.description or '').lower()}"
        tags = frozenset(post.tags)
        tag_words = {w for t in post.tags for w in t.split("_")} | set(tags)
        user = (post.account_url or "").lower()
        section = (post.section or "").lower()
        words = words_of(text) | tag_words | {user, section}
        words.discard("")
        if post.is_album:
            cover = catalogue.images.get(post.cover or "")
            width, height = (cover.width, cover.height) if cover else (0, 0)
            ext, kind, meme = "", "album", ""
        else:
            width, height, ext = post.width, post.height, post.ext
            kind = _image_kind(post)
            meme = (post.meme_name or "").lower()
        entries.append(
            Indexed(
                post=post,
                words=frozenset(words),
                title_words=frozenset(words_of(title)),
                text=text,
                title=title,
                tags=tags,
                user=user,
                section=section,
                ext=ext,
                meme=meme,
                longest_side=max(width, height),
                kind=kind,
            )
        )
    return entries


@dataclass(slots=True)
class SearchIndex:
    """Every post's ``Indexed`` entry plus inverted indexes: word or tag -> positions."""

    entries: list[Indexed]
    by_word: dict[str, Positions] = field(default_factory=dict)
    by_tag: dict[str, Positions] = field(default_factory=dict)
    everything: Positions = frozenset()

    @classmethod
    def build(cls, catalogue: Catalogue) -> SearchIndex:
        entries = index_catalogue(catalogue)
        by_word: dict[str, set[int]] = {}
        by_tag: dict[str, set[int]] = {}
        for position, entry in enumerate(entries):
            for word in entry.words:
                by_word.setdefault(word, set()).add(position)
            for tag in entry.tags:
                by_tag.setdefault(tag, set()).add(position)
        return cls(
            entries,
            {w: frozenset(ps) for w, ps in by_word.items()},
            {t: frozenset(ps) for t, ps in by_tag.items()},
            frozenset(range(len(entries))),
        )


def matching(index: SearchIndex, predicate: Predicate) -> list[Indexed]:
    """The entries ``predicate`` accepts, in catalogue order; indexed terms skip the scan."""
    positions = _positions(predicate, index)
    if positions is None:
        return [e for e in index.entries if predicate(e)]
    entries = index.entries
    return [entries[i] for i in sorted(positions)]


def _positions(predicate: Predicate, index: SearchIndex) -> Positions | None:
    """Exactly the positions ``predicate`` accepts, or None when only a scan can tell."""
    exact = getattr(predicate, "positions", None)
    return exact(index) if exact is not None else None


class _Word:
    """A whole-word term (``value in e.words``)."""

    __slots__ = ("word",)

    def __init__(self, word: str) -> None:
        self.word = word

    def __call__(self, e: Indexed) -> bool:
        return self.word in e.words

    def positions(self, index: SearchIndex) -> Positions:
        return index.by_word.get(self.word, frozenset())


class _TagTerm:
    """``tag:name`` (``name in e.tags``)."""

    __slots__ = ("tag",)

    def __init__(self, tag: str) -> None:
        self.tag = tag

    def __call__(self, e: Indexed) -> bool:
        return self.tag in e.tags

    def positions(self, index: SearchIndex) -> Positions:
        return index.by_tag.get(self.tag, frozenset())


class _All:
    """AND: the indexed parts' positions intersected, then the others tested on those."""

    __slots__ = ("parts",)

    def __init__(self, parts: Iterable[Predicate]) -> None:
        self.parts = tuple(parts)

    def __call__(self, e: Indexed) -> bool:
        return all(p(e) for p in self.parts)

    def positions(self, index: SearchIndex) -> Positions | None:
        found: Positions | None = None
        scanned: list[Predicate] = []
        for part in self.parts:
            exact = _positions(part, index)
            if exact is None:
                scanned.append(part)
            else:
                found = exact if found is None else found & exact
        if found is None:
            return None if scanned else index.everything
        if scanned:
            entries = index.entries
            found = frozenset(i for i in found if all(p(entries[i]) for p in scanned))
        return found


class _Any:
    """OR: the union of the parts' positions, when every part is indexed."""

    __slots__ = ("parts",)

    def __init__(self, parts: Iterable[Predicate]) -> None:
        self.parts = tuple(parts)

    def __call__(self, e: Indexed) -> bool:
        return any(p(e) for p in self.parts)

    def positions(self, index: SearchIndex) -> Positions | None:
        found: set[int] = set()
        for part in self.parts:
            exact = _positions(part, index)
            if exact is None:
                return None
            found |= exact
        return frozenset(found)


class _Not:
    __slots__ = ("inner",)

    def __init__(self, inner: Predicate) -> None:
        self.inner = inner

    def __call__(self, e: Indexed) -> bool:
        return not self.inner(e)

    def positions(self, index: SearchIndex) -> Positions | None:
        exact = _positions(self.inner, index)
        return None if exact is None else index.everything - exact


def _image_kind(image: ImageRecord) -> str:
    if image.is_video:
        return "video"
    if image.mime == "image/gif":
        return "anigif" if image.animated else "gif"
    return "png" if image.mime == "image/png" else "jpg"


# -- the q language ------------------------------------------------------------------------


def _normalise_fields(tokens: list[str]) -> list[str]:
    """Join ``title:`` + ``cats`` and lower-case field names: ``["title:cats"]``."""
    out: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        name, sep, rest = tok.partition(":")
        if sep and name.lower() in FIELDS:
            if not rest and i + 1 < len(tokens) and tokens[i + 1] not in ("(", ")"):
                rest = tokens[i + 1]
                i += 1
            tok = f"{name.lower()}:{rest}"
        out.append(tok)
        i += 1
    return out


class _Parser:
    def __init__(self, query: str) -> None:
        self.tokens = _normalise_fields(_TOKEN.findall(query))
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def parse(self) -> Predicate:
        if not self.tokens:
            raise SearchError("empty query")
        predicate = self.or_expr()
        if self.peek() is not None:
            raise SearchError(f"unexpected {self.peek()!r}")
        return predicate

    def or_expr(self) -> Predicate:
        parts = [self.and_expr()]
        while self.peek() == "OR":
            self.take()
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else _Any(parts)

    def and_expr(self) -> Predicate:
        parts = [self.unary()]
        while (tok := self.peek()) is not None and tok not in ("OR", ")"):
            if tok == "AND":
                self.take()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else _All(parts)

    def unary(self) -> Predicate:
        tok = self.peek()
        if tok is None:
            raise SearchError("query ends early")
        if tok == "NOT" or (tok.startswith("-") and len(tok) > 1):
            if tok == "NOT":
                self.take()
            else:
                self.tokens[self.pos] = tok[1:]
            return _Not(self.unary())
        if tok == "(":
            self.take()
            inner = self.or_expr()
            if self.peek() != ")":
                raise SearchError("missing )")
            self.take()
            return inner
        if tok in ("AND", "OR", ")"):
            raise SearchError(f"unexpected {tok!r}")
        return term_predicate(self.take())


def term_predicate(token: str) -> Predicate:
    """One term, with or without a field prefix."""
    field, sep, value = token.partition(":")
    if not sep or field not in FIELDS:
        field, value = "", token
    phrase = value.startswith('"')
    value = value.strip('"').lower().strip()
    if not value:
        raise SearchError("empty term")
    if field == "tag":
        return _TagTerm(value.replace(" ", "_"))
    if field == "title":
        if phrase or " " in value:
            return lambda e: value in e.title
        return lambda e: value in e.title_words
    if field == "user":
        return lambda e: e.user == value
    if field == "ext":
        ext = "jpg" if value == "jpeg" else value.lstrip(".")
        return lambda e: e.ext == ext
    if field == "subreddit":
        return lambda e: e.section == value
    if field == "album":
        return lambda e: e.kind == "album" and (value in e.title_words or value in e.title)
    if field == "meme":
        return lambda e: bool(e.meme) and value in e.meme
    if phrase or " " in value:
        return lambda e: value in e.text
    return _Word(value)


def parse_query(query: str) -> Predicate:
    return _Parser(query).parse()


# -- advanced parameters ---------------------------------------------------------------------


def advanced_predicate(params: Mapping[str, str]) -> Predicate | None:
    """A predicate from the ``q_*`` params, or None when none of them is set."""
    given = {k: params[k].strip() for k in ADVANCED if params.get(k, "").strip()}
    if not given:
        return None
    checks: list[Predicate] = []
    if "q_all" in given:
        checks.append(_All(_Word(w) for w in sorted(words_of(given["q_all"]))))
    if "q_any" in given:
        checks.append(_Any(_Word(w) for w in sorted(words_of(given["q_any"]))))
    if "q_exactly" in given:
        phrase = given["q_exactly"].lower()
        checks.append(lambda e: phrase in e.text)
    if "q_not" in given:
        checks.append(_Not(_Any(_Word(w) for w in sorted(words_of(given["q_not"])))))
    if "q_type" in given:
        kind = given["q_type"].lower()
        if kind == "gif":  # any GIF, still or animated
            checks.append(lambda e: e.kind in ("gif", "anigif"))
        else:
            checks.append(lambda e: e.kind == kind)
    if "q_size_px" in given:
        bucket = SIZE_BUCKETS.get(given["q_size_px"].lower())
        if bucket is None:
            raise SearchError("invalid q_size_px")
        low, high = bucket
        checks.append(lambda e: low <= e.longest_side < high if low else e.longest_side <= high)
    return _All(checks)


def build_predicate(params: Mapping[str, str]) -> Predicate:
    """The search filter for a request's params; raises SearchError if there is none."""
    advanced = advanced_predicate(params)
    if advanced is not None:
        return advanced
    query = params.get("q", "").strip()
    if not query:
        raise SearchError("no query")
    return parse_query(query)


def cache_key(params: Mapping[str, str]) -> tuple:
    if any(params.get(k, "").strip() for k in ADVANCED):
        return tuple((k, params.get(k, "").strip().lower()) for k in ADVANCED)
    return ("q", params.get("q", "").strip())
