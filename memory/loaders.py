"""Turn files into text sections, streamed: plain text, Markdown, reStructuredText, code, HTML, PDF.

Text files are read line by line (each read capped at a few KB), so a file of any size is
parsed in bounded memory. Each `Section` carries its offset in the document's extracted text
stream, its page (PDF) and the nearest heading above it.
"""

from __future__ import annotations

import codecs
import hashlib
import logging
import os
import re
import stat
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from memory.errors import MemchatError

if TYPE_CHECKING:
    from bs4 import BeautifulSoup
    from pypdf import PdfReader

PROSE_EXTENSIONS = frozenset({".txt", ".md", ".markdown", ".rst"})
MARKDOWN_EXTENSIONS = frozenset({".md", ".markdown"})
HTML_EXTENSIONS = frozenset({".html", ".htm"})
PDF_EXTENSIONS = frozenset({".pdf"})
CODE_EXTENSIONS = frozenset({
    ".py", ".js", ".ts", ".tsx", ".jsx", ".java", ".c", ".h", ".cpp", ".hpp", ".cc", ".go", ".rs",
    ".rb", ".php", ".sh", ".toml", ".yaml", ".yml", ".json", ".css", ".sql", ".kt", ".swift",
    ".scala", ".lua", ".r", ".m", ".cs",
})
SUPPORTED_EXTENSIONS: frozenset[str] = PROSE_EXTENSIONS | HTML_EXTENSIONS | PDF_EXTENSIONS | CODE_EXTENSIONS
SUPPORTED_KINDS = "text (.txt .md .markdown .rst), PDF, HTML (.html .htm) or source code (.py .js .go .rs …)"

SKIPPED_DIRS = frozenset({".git", ".venv", "node_modules", "__pycache__"})
SECTION_CHARS = 8192  # a section never holds more text than this
SNIFF_BYTES = 8192
DIGEST_BLOCK = 1 << 20
_FALLBACK_ERRORS = "memchat-latin1"

# pypdf reports recoverable damage through logging: keep it out of the terminal unless the app logs.
logging.getLogger("pypdf").addHandler(logging.NullHandler())


@dataclass(frozen=True)
class Section:
    """A paragraph-sized piece of a document's text."""

    text: str
    char_start: int  # offset of `text` in the document's extracted text stream
    page: int | None = None  # 1-based, PDFs only
    heading: str | None = None  # nearest heading above this text


class DocumentError(MemchatError):
    """A file cannot be turned into text."""


class UnsupportedFileError(DocumentError):
    """The file's extension is not one memchat can read."""


class BinaryFileError(DocumentError):
    """The file holds binary data where text was expected."""


class EmptyDocumentError(DocumentError):
    """The file holds no extractable text."""


class UnreadableFileError(DocumentError):
    """The file is missing, not readable, a folder, or corrupt."""


# ---------------------------------------------------------------- files and folders


def file_digest(path: Path) -> str:
    """SHA-256 of the file's bytes, hex; raises UnreadableFileError if it cannot be read."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while block := handle.read(DIGEST_BLOCK):
                digest.update(block)
    except OSError as exc:
        raise _unreadable(path, exc) from exc
    return digest.hexdigest()


def discover_files(paths: Iterable[Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Expand folders into supported files; return (files, [(path, why it was skipped)])."""
    files: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    seen: set[Path] = set()

    def keep(path: Path) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            files.append(path)

    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            for found in _walk_folder(path, skipped):
                keep(found)
        elif not path.exists():
            skipped.append((path, "no such file or folder; check the path"))
        elif not path.is_file():
            skipped.append((path, "not a regular file; pass a file or a folder"))
        elif not is_supported(path):
            skipped.append((path, _unsupported_reason(path)))
        else:
            keep(path)
    return files, skipped


def is_supported(path: Path) -> bool:
    """Whether memchat can read this kind of file (by extension, case-insensitive)."""
    return path.suffix.lower() in SUPPORTED_EXTENSIONS


def _walk_folder(folder: Path, skipped: list[tuple[Path, str]]) -> Iterator[Path]:
    """Supported, non-hidden files under `folder`, sorted, skipping tool and hidden folders."""

    def report(exc: OSError) -> None:
        skipped.append((Path(exc.filename or folder), f"cannot read folder: {_os_reason(exc)}"))

    for root, dirs, names in os.walk(folder, onerror=report):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIPPED_DIRS)
        for name in sorted(names):
            path = Path(root) / name
            if not name.startswith(".") and is_supported(path) and path.is_file():
                yield path


# ---------------------------------------------------------------- sections


def iter_sections(path: Path) -> Iterator[Section]:
    """Yield the text of `path` as paragraph-sized sections, streamed.

    Raises a DocumentError subclass: a missing or unsupported file on the first next(),
    EmptyDocumentError once the whole file turned out to hold no text.
    """
    path = Path(path)
    _check_readable(path)
    suffix = path.suffix.lower()
    if suffix in PDF_EXTENSIONS:
        sections = _pdf_sections(path)
    elif suffix in HTML_EXTENSIONS:
        sections = _html_sections(path)
    else:
        sections = _text_sections(_iter_lines(path), _text_style(suffix))
    found_text = False
    for section in sections:
        found_text = True
        yield section
    if not found_text:
        raise _empty(path)


def _check_readable(path: Path) -> None:
    """Raise the DocumentError a file that cannot even be opened, or is empty, deserves."""
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise UnreadableFileError(f"cannot load {path}: it is a folder; pass a file, or load the folder itself")
        if not stat.S_ISREG(info.st_mode):
            raise UnreadableFileError(f"cannot load {path}: not a regular file; pass a file or a folder")
        if not is_supported(path):
            raise UnsupportedFileError(f"cannot load {path}: {_unsupported_reason(path)}")
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise _unreadable(path, exc) from exc
    if info.st_size == 0:
        raise EmptyDocumentError(f"cannot load {path}: the file is empty; add some text or skip this file")


def _text_style(suffix: str) -> str:
    if suffix in MARKDOWN_EXTENSIONS:
        return "markdown"
    if suffix == ".rst":
        return "rst"
    return "code" if suffix in CODE_EXTENSIONS else "prose"


# ---------------------------------------------------------------- text decoding


def _latin1_fallback(exc: UnicodeError) -> tuple[str, int]:
    """Codec error handler: undecodable bytes (cp1252's five holes) read as Latin-1."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return exc.object[exc.start:exc.end].decode("latin-1"), exc.end


codecs.register_error(_FALLBACK_ERRORS, _latin1_fallback)


def detect_encoding(path: Path) -> str:
    """The encoding to read a text file with; BinaryFileError if it is not text.

    UTF-8 (BOM-aware) and BOM-marked UTF-16 are recognised; a file that is not valid UTF-8
    is read as cp1252 (Latin-1 for cp1252's unassigned bytes).
    """
    try:
        with open(path, "rb") as handle:
            head = handle.read(SNIFF_BYTES)
            if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                return "utf-16"
            if b"\x00" in head:
                raise _binary(path)
            encoding = "utf-8-sig" if head.startswith(codecs.BOM_UTF8) else "utf-8"
            handle.seek(0)
            if _is_valid_utf8(handle):
                return encoding
    except OSError as exc:
        raise _unreadable(path, exc) from exc
    if _looks_binary(head):
        raise _binary(path)
    return "cp1252"


def _is_valid_utf8(handle: BinaryIO) -> bool:
    """Whether the whole stream decodes as UTF-8, checked block by block."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        while block := handle.read(DIGEST_BLOCK):
            decoder.decode(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _looks_binary(head: bytes) -> bool:
    """Many control bytes (other than tab, newlines, form feed) mean this is not text."""
    controls = sum(1 for byte in head if byte < 32 and byte not in (9, 10, 12, 13))
    return bool(head) and controls / len(head) > 0.1


def _iter_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(offset, line) pairs of the decoded text; a line longer than SECTION_CHARS comes in pieces."""
    encoding = detect_encoding(path)
    try:
        with open(path, encoding=encoding, errors=_FALLBACK_ERRORS, newline=None) as handle:
            offset = 0
            while line := handle.readline(SECTION_CHARS):
                yield offset, line
                offset += len(line)
    except UnicodeError as exc:  # only a truncated UTF-16 file can get here
        raise _binary(path) from exc
    except OSError as exc:
        raise _unreadable(path, exc) from exc


# ---------------------------------------------------------------- plain text, Markdown, rst, code

_ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_SETEXT_UNDERLINE = re.compile(r"^ {0,3}(=+|-{2,})[ \t]*$")
_RST_ADORNMENT = re.compile(r"^([!-/:-@\[-`{-~])\1+[ \t]*$")
_SPACES = re.compile(r"[ \t\f\v\u00a0]+")


class _Paragraph:
    """Raw lines of the paragraph being read, with the offset of its first character."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.start = 0
        self.size = 0

    def add(self, offset: int, line: str) -> None:
        if not self.lines:
            self.start = offset
        self.lines.append(line)
        self.size += len(line)

    def take(self) -> tuple[int, str]:
        """Empty the paragraph; return (start, raw text)."""
        start, raw = self.start, "".join(self.lines)
        self.lines, self.size = [], 0
        return start, raw


def _text_sections(lines: Iterable[tuple[int, str]], style: str) -> Iterator[Section]:
    """Sections of a line-oriented text file, split on blank lines, headings tracked by style."""
    paragraph = _Paragraph()
    heading: str | None = None
    in_fence = False
    keep_indent = style == "code"

    def flush() -> Iterator[Section]:
        if paragraph.lines:
            start, raw = paragraph.take()
            yield from _raw_sections(raw, start, heading, keep_indent or in_fence)

    for offset, line in lines:
        stripped = line.strip()
        if style == "markdown" and _FENCE.match(line):
            yield from flush()
            in_fence = not in_fence
            continue
        if style == "markdown" and not in_fence and (match := _ATX_HEADING.match(line.rstrip("\n"))):
            yield from flush()
            if title := _SPACES.sub(" ", match.group(2) or "").strip():
                heading = title
                yield Section(title, offset + match.start(2), heading=heading)
            continue
        title = _underlined_title(style, in_fence, paragraph, stripped)
        if title is not None:
            start, raw = paragraph.take()
            heading = title
            yield Section(title, start + raw.index(title), heading=heading)
            continue
        if not stripped:
            yield from flush()
            continue
        if style in ("markdown", "rst") and not in_fence and not paragraph.lines and _is_rule(style, stripped):
            continue  # a thematic break or an rst overline: no text
        paragraph.add(offset, line)
        if paragraph.size >= SECTION_CHARS:
            yield from _flush_long(paragraph, heading, keep_indent or in_fence)
    yield from flush()


def _underlined_title(style: str, in_fence: bool, paragraph: _Paragraph, stripped: str) -> str | None:
    """The title if `stripped` underlines a one-line paragraph (Markdown setext, rst)."""
    if in_fence or len(paragraph.lines) != 1 or style not in ("markdown", "rst"):
        return None
    title = paragraph.lines[0].strip()
    if style == "markdown":
        return title if _SETEXT_UNDERLINE.match(stripped) else None
    if _RST_ADORNMENT.match(stripped) and len(stripped) >= len(title) and not _RST_ADORNMENT.match(title):
        return title
    return None


def _is_rule(style: str, stripped: str) -> bool:
    if style == "rst":
        return bool(_RST_ADORNMENT.match(stripped))
    return bool(re.fullmatch(r"([-*_])([ \t]*\1){2,}", stripped))


def _flush_long(paragraph: _Paragraph, heading: str | None, keep_indent: bool) -> Iterator[Section]:
    """Emit all but the tail of an over-long paragraph, cut at whitespace; keep the tail buffered."""
    start, raw = paragraph.take()
    pieces = list(split_at_whitespace(raw, SECTION_CHARS))
    for offset, piece in pieces[:-1]:
        yield from _raw_sections(piece, start + offset, heading, keep_indent)
    tail_offset, tail = pieces[-1]
    paragraph.add(start + tail_offset, tail)


def _raw_sections(raw: str, start: int, heading: str | None, keep_indent: bool) -> Iterator[Section]:
    """At most one section for a raw paragraph, whitespace tidied; none if it is blank."""
    text = _tidy_code(raw) if keep_indent else _tidy_prose(raw)
    if not text:
        return
    lead = len(raw) - len(raw.lstrip("\n")) if keep_indent else len(raw) - len(raw.lstrip())
    yield Section(text, start + lead, heading=heading)


def _tidy_prose(raw: str) -> str:
    """Collapse runs of spaces, trim each line, drop blank lines."""
    lines = (_SPACES.sub(" ", line).strip() for line in raw.splitlines())
    return "\n".join(line for line in lines if line)


def _tidy_code(raw: str) -> str:
    """Keep indentation; trim trailing spaces and surrounding blank lines."""
    return "\n".join(line.rstrip() for line in raw.splitlines()).strip("\n")


def split_at_whitespace(text: str, limit: int) -> Iterator[tuple[int, str]]:
    """(offset, piece) pieces of `text` no longer than `limit`, cut at a newline or space when possible."""
    start = 0
    while len(text) - start > limit:
        window = text[start:start + limit]
        cut = window.rfind("\n", limit // 2)
        if cut < 0:
            cut = max(window.rfind(" ", limit // 2), window.rfind("\t", limit // 2))
        cut = cut + 1 if cut > 0 else limit
        yield start, text[start:start + cut]
        start += cut
    yield start, text[start:]


# ---------------------------------------------------------------- HTML

_DROPPED_TAGS = frozenset({"script", "style", "nav", "noscript", "template", "head", "svg", "iframe", "object"})
_HEADING_TAGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_BLOCK_TAGS = frozenset({
    "address", "article", "aside", "blockquote", "body", "caption", "dd", "details", "dialog", "div",
    "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "header", "hr", "html", "li",
    "main", "ol", "p", "section", "summary", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul",
})


class _TextStream:
    """Offsets of sections laid end to end, one blank line apart, in an extracted text stream."""

    def __init__(self) -> None:
        self.offset = 0

    def sections(self, text: str, page: int | None, heading: str | None) -> Iterator[Section]:
        for relative, piece in split_at_whitespace(text, SECTION_CHARS):
            if piece.strip():
                lead = len(piece) - len(piece.lstrip())
                yield Section(piece.strip(), self.offset + relative + lead, page=page, heading=heading)
        self.offset += len(text) + 2


def _html_sections(path: Path) -> Iterator[Section]:
    """Block-level paragraphs of an HTML file; h1-h6 become headings."""
    from bs4 import BeautifulSoup

    encoding = detect_encoding(path)
    try:
        markup = path.read_text(encoding=encoding, errors=_FALLBACK_ERRORS)
    except OSError as exc:
        raise _unreadable(path, exc) from exc
    soup = BeautifulSoup(markup, "html.parser")
    stream = _TextStream()
    heading: str | None = None
    for kind, text in _html_blocks(soup):
        if kind == "heading":
            heading = text
        yield from stream.sections(text, None, heading)


def _html_blocks(soup: BeautifulSoup) -> Iterator[tuple[str, str]]:
    """('heading' | 'text', text) in document order, walking the tree without recursion."""
    from bs4 import NavigableString, Tag
    from bs4.element import PreformattedString

    inline: list[str] = []

    def flush() -> Iterator[tuple[str, str]]:
        lines = (" ".join(line.split()) for line in "".join(inline).split(_LINE_BREAK))
        inline.clear()
        if text := "\n".join(line for line in lines if line):
            yield "text", text

    stack: list[object] = [soup]
    while stack:
        node = stack.pop()
        if node is _BLOCK_END:
            yield from flush()
        elif isinstance(node, PreformattedString):  # comments, doctype, CDATA
            continue
        elif isinstance(node, NavigableString):
            inline.append(str(node))
        elif isinstance(node, Tag):
            name = node.name.lower()
            if name in _DROPPED_TAGS:
                continue
            if name == "br":
                inline.append(_LINE_BREAK)
            elif name in _HEADING_TAGS or name == "pre":
                yield from flush()
                text = " ".join(node.get_text(" ").split()) if name != "pre" else _tidy_code(node.get_text())
                if text.strip():
                    yield ("heading" if name != "pre" else "text"), text
            elif name in _BLOCK_TAGS:
                yield from flush()
                stack.append(_BLOCK_END)
                stack.extend(reversed(node.contents))
            else:
                stack.extend(reversed(node.contents))
    yield from flush()


_BLOCK_END = object()
_LINE_BREAK = "\u2028"  # a <br>, kept apart from the source's insignificant newlines


# ---------------------------------------------------------------- PDF

_PDF_FAILURES = (ValueError, KeyError, IndexError, TypeError, AttributeError, AssertionError,
                 RecursionError, zlib.error, struct.error)


def _pdf_sections(path: Path) -> Iterator[Section]:
    """Paragraphs of a PDF's text layer, page by page; the file is read lazily, never whole."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    stream = _TextStream()
    try:
        with open(path, "rb") as handle:
            reader = PdfReader(handle)
            _unlock(reader, path)
            for number, page in enumerate(reader.pages, start=1):
                text = page.extract_text() or ""
                for paragraph in re.split(r"\n[ \t]*\n", text):
                    tidy = _tidy_prose(_dehyphenate(paragraph))
                    if tidy:
                        yield from stream.sections(tidy, number, None)
    except OSError as exc:
        raise _unreadable(path, exc) from exc
    except (PyPdfError, *_PDF_FAILURES) as exc:
        raise UnreadableFileError(
            f"cannot load {path}: the PDF is damaged or not a PDF ({_short(exc)}); "
            "re-export or repair it (e.g. with qpdf) and load it again") from exc


def _unlock(reader: PdfReader, path: Path) -> None:
    """Open an encrypted PDF that needs no password; refuse one that does."""
    if reader.is_encrypted and not reader.decrypt(""):
        raise UnreadableFileError(f"cannot load {path}: the PDF is password-protected; "
                                  "save an unprotected copy and load that")


def _dehyphenate(text: str) -> str:
    """Join words hyphenated across line ends: 'infor-\\nmation' → 'information'."""
    return re.sub(r"(\w)-\n(?=[a-z])", r"\1", text)


# ---------------------------------------------------------------- errors


def _unsupported_reason(path: Path) -> str:
    kind = f"'{path.suffix}'" if path.suffix else "without an extension"
    return f"unsupported file type {kind}; convert it to {SUPPORTED_KINDS}"


def _unreadable(path: Path, exc: OSError) -> UnreadableFileError:
    return UnreadableFileError(f"cannot read {path}: {_os_reason(exc)}")


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "no such file; check the path"
    if isinstance(exc, PermissionError):
        return "permission denied; check the file's permissions"
    if isinstance(exc, IsADirectoryError):
        return "it is a folder; pass a file, or load the folder itself"
    return f"{exc.strerror or exc}; check the file and try again"


def _binary(path: Path) -> BinaryFileError:
    return BinaryFileError(f"cannot load {path}: it holds binary data, not text; "
                           f"load only {SUPPORTED_KINDS} files")


def _empty(path: Path) -> EmptyDocumentError:
    if path.suffix.lower() in PDF_EXTENSIONS:
        return EmptyDocumentError(f"cannot load {path}: the PDF has no text layer (a scan?); "
                                  "run OCR on it first (e.g. ocrmypdf) and load the result")
    return EmptyDocumentError(f"cannot load {path}: it holds no text; add some text or skip this file")


def _short(exc: Exception) -> str:
    message = " ".join(str(exc).split()) or type(exc).__name__
    return message if len(message) <= 80 else message[:77] + "…"
