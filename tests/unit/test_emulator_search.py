"""Gallery search semantics on a small hand-made catalogue."""

from __future__ import annotations

import itertools

import pytest

from fakes.imgur.data import AlbumRecord, Catalogue, ImageRecord, generate_catalogue
from fakes.imgur.search import (
    SearchError,
    SearchIndex,
    advanced_predicate,
    build_predicate,
    index_catalogue,
    matching,
    parse_query,
)


def image(id_, title, *, tags=(), mime="image/jpeg", size=(800, 600), user="ann", **extra):
    return ImageRecord(
        id=id_, mime=mime, width=size[0], height=size[1], size=1000, datetime=0, title=title,
        tags=tuple(tags), account_url=user, in_gallery=True, **extra,
    )  # fmt: skip


@pytest.fixture(scope="module")
def catalogue():
    cat = Catalogue(seed=0)
    cover = image("cover01", "cover", size=(12_000, 900))
    posts = [
        image("cat0001", "A grumpy cat", tags=("cats", "funny")),
        image("dog0001", "A happy dog", tags=("dogs",), user="bob"),
        image("both001", "Cat meets dog", tags=("cats", "dogs"), mime="image/png", size=(300, 200)),
        image("gif0001", "Dancing cat", tags=("gif",), mime="image/gif", animated=True,
              size=(400, 300), section="gifs"),
        image("meme001", "Success at last", tags=("memes",), meme_name="Success Kid",
              size=(2500, 2500)),
        image("stil001", "Still gif of a dog", mime="image/gif", size=(6000, 4000)),
    ]  # fmt: skip
    album = AlbumRecord(
        id="alb01", datetime=0, image_ids=["cover01"], title="Cat album", cover="cover01",
        in_gallery=True, tags=("cats",), account_url="ann",
    )  # fmt: skip
    cat.images["cover01"] = cover
    cat.posts = [*posts, album]
    return cat


@pytest.fixture(scope="module")
def index(catalogue):
    return index_catalogue(catalogue)


@pytest.fixture(scope="module")
def search_index(catalogue):
    return SearchIndex.build(catalogue)


def ids(index, predicate) -> set[str]:
    return {e.post.id for e in index if predicate(e)}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("cat", {"cat0001", "both001", "gif0001", "alb01"}),
        ("cat dog", {"both001"}),  # juxtaposition is AND
        ("cat AND dog", {"both001"}),
        ("cat OR dog", {"cat0001", "dog0001", "both001", "gif0001", "stil001", "alb01"}),
        ("cat NOT dog", {"cat0001", "gif0001", "alb01"}),
        ("cat -dog", {"cat0001", "gif0001", "alb01"}),
        ("(cat OR dog) AND NOT tag:cats", {"dog0001", "gif0001", "stil001"}),
        ("tag:cats", {"cat0001", "both001", "alb01"}),
        ("tag: dogs", {"dog0001", "both001"}),
        ("title:grumpy", {"cat0001"}),
        ("title: cat AND dog", {"both001"}),
        ('title:"meets dog"', {"both001"}),
        ('"happy dog"', {"dog0001"}),
        ("user:bob", {"dog0001"}),
        ("ext:gif", {"gif0001", "stil001"}),
        ("ext:png", {"both001"}),
        ("title: cat ext: gif", {"gif0001"}),
        ("subreddit:gifs", {"gif0001"}),
        ("album:cat", {"alb01"}),
        ("meme:success", {"meme001"}),
        ("CAT", {"cat0001", "both001", "gif0001", "alb01"}),  # case-insensitive words
    ],
)
def test_q_language(index, search_index, query, expected):
    assert ids(index, parse_query(query)) == expected
    # The inverted index gives the same answer as testing every post.
    assert {e.post.id for e in matching(search_index, parse_query(query))} == expected


@pytest.mark.parametrize("query", ["", "AND", "cat AND", "(cat", "NOT", "tag:"])
def test_malformed_queries_raise(query):
    with pytest.raises(SearchError):
        parse_query(query)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"q_all": "cat dog"}, {"both001"}),
        ({"q_any": "grumpy happy"}, {"cat0001", "dog0001"}),
        ({"q_exactly": "cat meets"}, {"both001"}),
        ({"q_not": "cat dog"}, {"meme001"}),
        ({"q_type": "png"}, {"both001"}),
        ({"q_type": "jpg"}, {"cat0001", "dog0001", "meme001"}),
        ({"q_type": "gif"}, {"gif0001", "stil001"}),
        ({"q_type": "anigif"}, {"gif0001"}),
        ({"q_type": "album"}, {"alb01"}),
        ({"q_size_px": "small"}, {"both001", "gif0001"}),
        ({"q_size_px": "med"}, {"cat0001", "dog0001"}),
        ({"q_size_px": "big"}, {"meme001"}),
        ({"q_size_px": "lrg"}, {"stil001"}),
        ({"q_size_px": "huge"}, {"alb01"}),  # an album is measured by its cover
        ({"q_any": "cat", "q_type": "png"}, {"both001"}),
    ],
)
def test_advanced_parameters(index, search_index, params, expected):
    assert ids(index, advanced_predicate(params)) == expected
    assert {e.post.id for e in matching(search_index, advanced_predicate(params))} == expected


@pytest.mark.parametrize(
    ("query", "indexed"),
    [
        ("cat dog", True),
        ("cat OR tag:dogs", True),
        ("NOT (cat OR dog)", True),
        ("cat ext:gif", True),  # the word narrows, the field test runs on those only
        ("ext:gif", False),
        ("cat OR ext:gif", False),
        ('"happy dog"', False),
    ],
)
def test_which_queries_skip_the_scan(search_index, query, indexed):
    positions = getattr(parse_query(query), "positions", None)
    assert (positions is not None and positions(search_index) is not None) == indexed


def test_index_agrees_with_a_scan_on_a_generated_catalogue():
    cat = generate_catalogue(3, 400)
    search_index = SearchIndex.build(cat)
    words = sorted({w for e in search_index.entries for w in e.words})[
        :: max(1, len(cat.posts) // 25)
    ]
    queries = [
        *words,
        *(f"{a} {b}" for a, b in itertools.pairwise(words)),
        *(f"{a} OR {b}" for a, b in zip(words, words[2:], strict=False)),
        *(f"{a} -{b}" for a, b in zip(words, words[3:], strict=False)),
        *(f"{a} ext:jpg" for a in words),
    ]
    for query in queries:
        predicate = parse_query(query)
        scanned = [e.post.id for e in search_index.entries if predicate(e)]
        assert [e.post.id for e in matching(search_index, predicate)] == scanned, query
    for params in ({"q_all": "cat dog"}, {"q_any": "cat dog"}, {"q_not": "cat"}, {"q_all": "!!"}):
        predicate = advanced_predicate(params)
        scanned = [e.post.id for e in search_index.entries if predicate(e)]
        assert [e.post.id for e in matching(search_index, predicate)] == scanned, params


def test_advanced_parameters_win_over_q(index):
    predicate = build_predicate({"q": "tag:dogs", "q_type": "album"})
    assert ids(index, predicate) == {"alb01"}


def test_no_query_at_all_is_an_error():
    with pytest.raises(SearchError):
        build_predicate({"q": "  "})
