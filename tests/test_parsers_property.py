"""Property-based tests of every reader of user files: a correct parse or a ReasonIRError, nothing else.

Each reader gets random bytes and adversarial text files (non-UTF-8, UTF-16, byte-order marks, CRLF,
truncated lines, wrong JSON types, missing fields, huge integers, NaN/inf, deep nesting, unpaired
surrogates, control characters in ids, empty files). Whatever it parses must also survive the
matching writer and read back to the same data.
"""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase

from reasonir.data import Dataset, bright_from_examples
from reasonir.errors import ReasonIRError
from reasonir.ids import check_doc_id, check_query_id, id_problem
from reasonir.index.corpus import iter_documents, resolve_corpus
from reasonir.io import (
    read_corpus,
    read_qrels,
    read_queries,
    read_run,
    write_corpus,
    write_qrels,
    write_queries,
    write_run,
)
from reasonir.query_variants import load_query_variant
from reasonir.trainio import example_to_record, read_train_examples, write_train_examples
from reasonir.types import Document, TrainExample

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = settings(max_examples=100, deadline=None, derandomize=False,
                    database=DirectoryBasedExampleDatabase(str(ROOT / ".hypothesis" / "examples")),
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FEW = settings(SETTINGS, max_examples=60)

# ------------------------------------------------------------------------------------------------
# strategies
# ------------------------------------------------------------------------------------------------
SPECIAL_CHARS = ["\t", "\n", "\r", " ", "\x00", "\x0b", "\x1b", "\x85", "\u2028", "\xa0", "\ufeff", "\u200b",
                 "a", "b", "/", ".", "é", "Ω", "0", "1", '"', "\\"]
chars = st.one_of(st.sampled_from(SPECIAL_CHARS), st.characters())
texts = st.text(alphabet=chars, max_size=12)
surrogate_texts = st.text(alphabet=st.one_of(chars, st.characters(categories=["Cs"])), max_size=6)
huge_ints = st.sampled_from([2**63, -(2**63) - 1, 10**30, 10**4000])
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), huge_ints,
                    st.floats(allow_nan=True, allow_infinity=True), texts, surrogate_texts)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(texts, inner, max_size=3), max_leaves=6)
# ids drawn from characters that are always allowed (plus inner spaces for document ids)
id_chars = st.one_of(st.sampled_from(["a", "b", "/", ".", "é", "Ω", "0", "1", '"', "\\", "\u200b", "\ufeff"]),
                     st.characters(exclude_categories=["Cc", "Cs", "Zs", "Zl", "Zp"]))
valid_doc_ids = st.one_of(st.integers(0, 10**6).map(str),
                          st.text(st.one_of(id_chars, st.just(" ")), min_size=1, max_size=10)
                          .filter(lambda s: s.strip() == s))
valid_query_ids = st.one_of(st.integers(0, 10**6).map(str), st.text(id_chars, min_size=1, max_size=10))

ADVERSARIAL_JSON_LINES = [
    '{"_id": ' + "9" * 5000 + ', "text": "x"}',          # an integer too long for int()
    "[" * 5000 + "]" * 5000,                              # nesting deeper than the parser's recursion
    '{"a": ' * 3000 + "1" + "}" * 3000,
    '{"_id": "a", "text": "\\ud800"}',                    # an unpaired surrogate escape
    '{"_id": "\\udfff", "text": "x"}',
    '{"_id": NaN, "text": "x"}', '{"_id": Infinity, "text": "x"}', '{"_id": 1e999, "text": "x"}',
    '{"_id": -0.0, "text": "x"}', '{"_id": "a", "text": "x"', '{"_id": "a", "text": "x"}}',
    '{"_id": "a", "text": "x"} trailing', "{}", "null", '"a string"', "123", "[]",
    '\ufeff{"_id": "a", "text": "x"}', '{"_id": {"$oid": "1"}, "text": "x"}', '{"_id": "a", "text": ["x"]}',
    '{"_id": "a", "title": 5}', '{"_id": "a", "text": "x", "title": ["t"]}', '{"_id": "a\\tb", "text": "x"}',
    '{"_id": "", "text": "x"}', '{"_id": "a", "text": "x"}', '{"_id": "a", "text": "x"}',   # a duplicate
    '{"query": "q", "pos": ["p"], "pos_instructions": 5}', '{"query": "q", "pos": [["i", 1]]}',
    '{"anchor": "a", "positive": "p", "negative_\\u00b2": "n"}',
    '{"anchor": "a", "positive": "p", "negative_' + "9" * 5000 + '": "n"}',
    '{"query": "q", "positive_passages": [{"docid": "a\\nb", "text": "t"}]}',
    '{"query": "q", "positive_passages": [{"text": "t", "title": 3}]}',
    '{"query": "q", "query_id": "q 1", "positive_passages": [{"text": "t"}]}',
]
TREC_TOKENS = ["q1", "q 1", "Q0", "0", "1", "-1", "2", "d1", "doc with space.txt", "a/b c", "", " ", "0.5", "-3",
               "nan", "NaN", "inf", "-Infinity", "1e999", "9" * 5000, "1_0", "\u0661", "0x10", "abc", "1.5e-320",
               "\x00", "\x0b", "\u2028", "\xa0", "query-id", "corpus-id", "score", "tag", "\ufeff"]
trec_tokens = st.one_of(st.sampled_from(TREC_TOKENS), texts, st.floats().map(repr), st.integers().map(str))
separators = st.sampled_from([" ", "\t", "  ", " \t", "\t\t"])


@st.composite
def trec_lines(draw):
    cols = draw(st.lists(trec_tokens, min_size=0, max_size=7))
    out = ""
    for i, col in enumerate(cols):
        out += (draw(separators) if i else "") + col
    return out


def json_record(keys):
    """Objects with a random subset of ``keys`` holding values of random JSON types."""
    return st.fixed_dictionaries({}, optional={k: json_values for k in keys})


@st.composite
def json_lines(draw, keys):
    kind = draw(st.sampled_from(["record", "record", "adversarial", "text"]))
    if kind == "adversarial":
        return draw(st.sampled_from(ADVERSARIAL_JSON_LINES))
    if kind == "text":
        return draw(texts)
    line = json.dumps(draw(json_record(keys)), ensure_ascii=draw(st.booleans()))
    if draw(st.integers(0, 4)) == 0:                      # sometimes truncate the line
        line = line[:draw(st.integers(0, len(line)))]
    return line


@st.composite
def files(draw, lines):
    """File bytes: random bytes, or lines joined with LF/CRLF/CR, maybe a BOM, an encoding, a cut."""
    if draw(st.integers(0, 5)) == 0:
        return draw(st.binary(max_size=200))
    rows = draw(st.lists(lines, max_size=6))
    eol = draw(st.sampled_from(["\n", "\n", "\r\n", "\r"]))
    text = eol.join(rows) + draw(st.sampled_from(["", eol]))
    if draw(st.booleans()):
        text = "\ufeff" + text
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8", "latin-1", "utf-16"]))
    data = text.encode(encoding, errors="replace" if encoding == "latin-1" else "surrogatepass")
    if draw(st.integers(0, 5)) == 0:
        data = data[:draw(st.integers(0, len(data)))]
    return data


CORPUS_KEYS = ("_id", "id", "docid", "doc_id", "text", "contents", "content", "title", "lang")
QUERY_KEYS = ("_id", "id", "query_id", "qid", "text", "query", "contents")
TRAIN_KEYS = ("query", "pos", "neg", "anchor", "positive", "negative", "negative_1", "positive_passages",
              "negative_passages", "query_id", "source_doc_id")
corpus_files = files(json_lines(CORPUS_KEYS))
query_jsonl_files = files(json_lines(QUERY_KEYS))
tsv_files = files(st.one_of(trec_lines(), texts))
trec_files = files(trec_lines())
train_files = files(st.one_of(json_lines(TRAIN_KEYS), json_lines(("query", "pos", "neg"))))


def _has_surrogate(text: str) -> bool:
    return any("\ud800" <= ch <= "\udfff" for ch in text)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    # thousands of tiny atomic writes: skip their fsync, which only costs time here
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("reasonir.fileio.os.fsync", lambda fd: None)
        yield tmp_path_factory.mktemp("parsers")


def _parse(reader, path):
    """The reader's result, or None when it raised a ReasonIRError (any other exception fails the test)."""
    try:
        return reader(path)
    except ReasonIRError:
        return None


# ------------------------------------------------------------------------------------------------
# corpora
# ------------------------------------------------------------------------------------------------
def _same_docs(a: list[Document], b: list[Document]) -> None:
    assert [(d.id, d.title, d.text) for d in a] == [(d.id, d.title, d.text) for d in b]
    assert [json.dumps(d.metadata, sort_keys=True) for d in a] == [json.dumps(d.metadata, sort_keys=True) for d in b]


@SETTINGS
@given(data=corpus_files, gz=st.sampled_from(["no", "no", "gzip", "not gzip"]))
def test_corpus_jsonl_parses_or_raises_and_round_trips(work, data, gz):
    path = work / ("c.jsonl" if gz == "no" else "c.jsonl.gz")
    path.write_bytes(gzip.compress(data) if gz == "gzip" else data)
    docs = _parse(read_corpus, path)
    streamed = _parse(lambda p: [d for d, _ in iter_documents(resolve_corpus(p))], path)
    if docs is None:
        return
    assert streamed is not None and [d.id for d in streamed] == [d.id for d in docs]
    for d in docs:
        assert check_doc_id(d.id) == d.id and isinstance(d.text, str) and isinstance(d.title, str)
    write_corpus(work / "out.jsonl", docs)
    _same_docs(read_corpus(work / "out.jsonl"), docs)


@FEW
@given(data=st.binary(max_size=300))
def test_random_bytes_as_gzip_or_parquet_are_data_format_errors(work, data):
    for name in ("r.jsonl.gz", "r.parquet"):
        (work / name).write_bytes(data)
        _parse(read_corpus, work / name)
        _parse(read_train_examples, work / name)


PARQUET_VALUES = {
    "str": st.text(alphabet=st.one_of(st.sampled_from(SPECIAL_CHARS), st.characters(exclude_categories=["Cs"])),
                   max_size=8),
    "int": st.integers(-(2**63), 2**63 - 1),
    "float": st.floats(allow_nan=True, allow_infinity=True),
    "bool": st.booleans(),
    "list": st.lists(st.text(max_size=3), max_size=2),
    "null": st.none(),
}


@st.composite
def parquet_columns(draw, keys):
    n = draw(st.integers(0, 4))
    cols = {}
    for name in draw(st.lists(st.sampled_from(keys), unique=True, max_size=5)):
        kind = draw(st.sampled_from(sorted(PARQUET_VALUES)))
        cols[name] = draw(st.lists(PARQUET_VALUES[kind], min_size=n, max_size=n))
    return cols


@FEW
@given(cols=parquet_columns(CORPUS_KEYS))
def test_parquet_corpus_parses_or_raises_and_round_trips(work, cols):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq
    pq.write_table(pa.table(cols) if cols else pa.table({"x": pa.array([], pa.int64())}), work / "c.parquet")
    docs = _parse(read_corpus, work / "c.parquet")
    streamed = _parse(lambda p: [d for d, _ in iter_documents(resolve_corpus(p))], work / "c.parquet")
    if docs is None:
        return
    assert streamed is not None and [d.id for d in streamed] == [d.id for d in docs]
    write_corpus(work / "out.jsonl", docs)
    _same_docs(read_corpus(work / "out.jsonl"), docs)


@SETTINGS
@given(docs=st.lists(st.builds(Document, id=valid_doc_ids, text=texts, title=texts,
                               metadata=st.dictionaries(st.sampled_from(["lang", "url", "n"]), json_values,
                                                        max_size=2)),
                     max_size=5, unique_by=lambda d: d.id))
def test_written_corpora_read_back(work, docs):
    assert all(id_problem(d.id, True) is None for d in docs)
    try:
        write_corpus(work / "w.jsonl", docs)
    except ReasonIRError:   # only for an unpaired surrogate, which UTF-8 cannot encode
        assert any(_has_surrogate(d.text + d.title + json.dumps(d.metadata, ensure_ascii=False)) for d in docs)
        return
    _same_docs(read_corpus(work / "w.jsonl"), docs)


# ------------------------------------------------------------------------------------------------
# queries
# ------------------------------------------------------------------------------------------------
@SETTINGS
@given(data=query_jsonl_files)
def test_query_jsonl_parses_or_raises_and_round_trips(work, data):
    (work / "q.jsonl").write_bytes(data)
    queries = _parse(read_queries, work / "q.jsonl")
    if queries is None:
        return
    assert all(check_query_id(q) == q and isinstance(t, str) for q, t in queries.items())
    write_queries(work / "out.jsonl", queries)
    assert read_queries(work / "out.jsonl") == queries


@SETTINGS
@given(data=tsv_files)
def test_query_tsv_parses_or_raises(work, data):
    (work / "q.tsv").write_bytes(data)
    queries = _parse(read_queries, work / "q.tsv")
    if queries is not None:
        assert all(check_query_id(q) == q for q in queries)
        write_queries(work / "out.jsonl", queries)
        assert read_queries(work / "out.jsonl") == queries


@SETTINGS
@given(data=query_jsonl_files, by_list=st.booleans())
def test_query_variant_files_parse_or_raise(work, data, by_list):
    ds = Dataset(name="t", queries={"1": "a", "2": "b"}, qrels={"1": {"d": 1}})
    path = work / ("v.json" if by_list else "v.jsonl")
    if by_list:   # the same lines as the items of a JSON list
        data = b"[" + b",".join(data.splitlines()) + b"]"
    path.write_bytes(data)
    _parse(lambda p: load_query_variant(p, ds), path)


# ------------------------------------------------------------------------------------------------
# qrels and runs
# ------------------------------------------------------------------------------------------------
@SETTINGS
@given(data=trec_files, suffix=st.sampled_from([".txt", ".tsv"]))
def test_qrels_parse_or_raise_and_round_trip(work, data, suffix):
    (work / f"qrels{suffix}").write_bytes(data)
    qrels = _parse(read_qrels, work / f"qrels{suffix}")
    if qrels is None:
        return
    for qid, docs in qrels.items():
        assert check_query_id(qid) == qid
        assert all(check_doc_id(d) == d and type(g) is int for d, g in docs.items())
    write_qrels(work / "out.txt", qrels)
    assert read_qrels(work / "out.txt") == qrels


@SETTINGS
@given(data=trec_files)
def test_runs_parse_or_raise_and_round_trip(work, data):
    (work / "r.trec").write_bytes(data)
    run = _parse(read_run, work / "r.trec")
    if run is None:
        return
    _check_run_round_trip(work, run)


def _check_run_round_trip(work, run):
    assert all(id_problem(q, False) is None and all(id_problem(d, True) is None for d in docs)
               for q, docs in run.items())
    write_run(work / "out.trec", run)
    back = read_run(work / "out.trec")
    assert back.keys() == {q for q, docs in run.items() if docs}
    for qid, docs in back.items():
        assert docs.keys() == run[qid].keys()
        assert all(math.isclose(docs[d], run[qid][d], rel_tol=1e-8, abs_tol=1e-300) for d in docs)


finite = st.floats(allow_nan=False, allow_infinity=False)


@SETTINGS
@given(run=st.dictionaries(valid_query_ids, st.dictionaries(valid_doc_ids, finite, min_size=1, max_size=4),
                           max_size=4),
       qrels=st.dictionaries(valid_query_ids, st.dictionaries(valid_doc_ids, st.integers(-2, 4), max_size=4),
                             max_size=4))
def test_written_runs_and_qrels_read_back(work, run, qrels):
    _check_run_round_trip(work, run)
    write_qrels(work / "q.txt", qrels)
    assert read_qrels(work / "q.txt") == {q: d for q, d in qrels.items() if d}


# ------------------------------------------------------------------------------------------------
# training data and BRIGHT examples
# ------------------------------------------------------------------------------------------------
def _same_examples(a: list[TrainExample], b: list[TrainExample]) -> None:
    def rows(exs):   # compared as JSON text, so that NaN in provenance compares equal to itself
        return [json.dumps(example_to_record(x), sort_keys=True) for x in exs]
    assert rows(a) == rows(b)
    assert [(x.query, x.pos, x.neg, x.query_instruction, x.doc_instruction) for x in a] == \
        [(x.query, x.pos, x.neg, x.query_instruction, x.doc_instruction) for x in b]


@SETTINGS
@given(data=train_files)
def test_training_jsonl_parses_or_raises_and_round_trips(work, data):
    (work / "t.jsonl").write_bytes(data)
    examples = _parse(read_train_examples, work / "t.jsonl")
    if examples is None:
        return
    write_train_examples(work / "out.jsonl", examples)
    _same_examples(read_train_examples(work / "out.jsonl"), examples)


@FEW
@given(cols=parquet_columns(("anchor", "positive", "negative", "negative_1", "query", "pos", "neg")))
def test_training_parquet_parses_or_raises(work, cols):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq
    pq.write_table(pa.table(cols) if cols else pa.table({"x": pa.array([], pa.int64())}), work / "t.parquet")
    _parse(read_train_examples, work / "t.parquet")


@SETTINGS
@given(rows=st.lists(st.one_of(json_record(("id", "query", "gold_ids", "excluded_ids")), json_values), max_size=4))
def test_bright_examples_parse_or_raise(rows):
    try:
        ds = bright_from_examples("biology", rows, None, origin="examples.jsonl")
    except ReasonIRError:
        return
    for qid, docs in ds.qrels.items():
        assert check_query_id(qid) == qid and all(check_doc_id(d) == d for d in docs)


# ------------------------------------------------------------------------------------------------
# inputs the properties above found (each crashed with another exception, or parsed wrongly, before)
# ------------------------------------------------------------------------------------------------
KNOWN_BAD = [
    # (reader, file name, file bytes, expected message)
    (read_qrels, "q.txt", b"q1\t0\td1\tinf\n", "relevance 'inf' is not a finite number"),        # OverflowError
    (read_qrels, "q.txt", b"q1\t0\td1\tnan\n", "relevance 'nan' is not a finite number"),        # ValueError
    (read_qrels, "q.txt", b"q1\t0\td1\t1e999\n", "is not a finite number (too large)"),             # OverflowError
    (read_qrels, "q.txt", b"q1\t0\td1\t" + b"9" * 5000 + b"\n", "is not a finite number (too large)"),
    (read_qrels, "q.txt", b"q1\t0\td1\t5000000000\n", "outside -1000000..1000000"),               # trec_eval stalled
    (read_qrels, "q.txt", b"q1\t0\td1\t1_0\n", "relevance '1_0' is not a number"),                # read as 10
    (read_run, "r.trec", b"q1 Q0 d1 1 1_0 t\n", "score '1_0' is not a number"),                   # read as 10.0
    (read_run, "r.trec", "q1 Q0 d1 1 \u0661 t\n".encode(), "is not a number"),                    # Arabic digit
    (read_corpus, "c.jsonl", b'{"_id": ' + b"9" * 5000 + b', "text": "x"}\n', "invalid JSON (Exceeds the limit"),
    (read_corpus, "c.jsonl", b"[" * 5000 + b"]" * 5000 + b"\n", "nested too deeply"),             # RecursionError
    (read_corpus, "c.jsonl", b'{"_id": "a", "text": "\\ud800"}\n', "unpaired surrogate"),        # crashed on write
    (read_corpus, "c.jsonl.gz", b"\x1f\x8b\x08\x00garbage", "cannot decompress this gzip file"),  # zlib.error
    (read_corpus, "c.jsonl.gz", gzip.compress(b'{"_id": "a", "text": "x"}\n' * 50)[:40], "cannot decompress"),
    (read_corpus, "c.parquet", b"PAR1 not parquet", "cannot read this parquet file"),            # ArrowInvalid
    (read_queries, "q.jsonl", b'{"_id": ' + b"1" * 4500 + b', "text": "x"}\n', "invalid JSON"),
    (read_train_examples, "t.jsonl", b'{"anchor": "a", "positive": "p", "negative_\\u00b2": "n"}\n', None),
    (read_train_examples, "t.jsonl", b'{"query": "q", "pos": ["p"], "pos_instructions": 5}\n', "is reserved"),
    (read_train_examples, "t.jsonl", b'{"query": "q", "positive_passages": [{"text": "t", "title": 3}]}\n',
     "string 'title'"),                                                                          # read as "3 t"
]


@pytest.mark.parametrize("reader, name, data, needle", KNOWN_BAD,
                         ids=[f"{r.__name__}-{i}" for i, (r, *_rest) in enumerate(KNOWN_BAD)])
def test_known_bad_inputs(tmp_path, reader, name, data, needle):
    (tmp_path / name).write_bytes(data)
    if needle is None:   # a valid row that used to crash: it parses
        assert reader(tmp_path / name)
        return
    with pytest.raises(ReasonIRError) as err:
        reader(tmp_path / name)
    assert needle in str(err.value) and str(err.value).startswith(str(tmp_path / name))


@pytest.mark.parametrize("reader", [read_corpus, read_queries, read_qrels, read_run, read_train_examples])
def test_a_folder_where_a_file_belongs_is_a_clear_error(tmp_path, reader):
    folder = tmp_path / "x.jsonl"
    folder.mkdir()
    (folder / "junk.txt").write_text("x")
    with pytest.raises((ReasonIRError, FileNotFoundError)) as err:
        reader(folder)
    assert str(folder) in str(err.value)


def test_query_variant_file_that_is_not_utf8(tmp_path):
    ds = Dataset(name="t", queries={"1": "a"}, qrels={"1": {"d": 1}})
    (tmp_path / "v.json").write_bytes(b'{"1": "caf\xe9"}')
    with pytest.raises(ReasonIRError, match="not valid UTF-8"):
        load_query_variant(tmp_path / "v.json", ds)
    (tmp_path / "w.json").write_bytes(b'[{"id": "1", "query": "x"}, {"id": "1", "query": "y"}]')
    with pytest.raises(ReasonIRError, match="duplicate query id '1'"):
        load_query_variant(tmp_path / "w.json", ds)


def test_bright_example_rows_of_the_wrong_type():
    with pytest.raises(ReasonIRError, match="must be an object, got NoneType"):
        bright_from_examples("biology", [None], None, origin="examples.jsonl")
    with pytest.raises(ReasonIRError, match="'query' must be a string"):
        bright_from_examples("biology", [{"id": "1", "query": 5, "gold_ids": []}], None, origin="examples.jsonl")


def test_writing_an_unpaired_surrogate_is_a_clear_error(tmp_path):
    with pytest.raises(ReasonIRError, match="unpaired surrogate"):
        write_corpus(tmp_path / "c.jsonl", [Document("a", "x\ud800")])
    with pytest.raises(ReasonIRError, match="unpaired surrogate"):
        write_train_examples(tmp_path / "t.jsonl", [TrainExample(query="q\udfff", pos=["p"])])
    assert not list(tmp_path.iterdir())
