"""Structure-aware chunking: sections follow the document's own headings,
functions and paragraphs; every chunk's line range holds exactly its text."""

from __future__ import annotations

import textwrap

import pytest

from tools.knowledge.chunking import ChunkConfig, chunk_text, kind_of


def lines_of(text: str, chunk) -> str:
    return "\n".join(text.splitlines()[chunk.start_line - 1:chunk.end_line])


def test_markdown_headings_make_sections_with_their_heading_path():
    text = textwrap.dedent("""\
        # Guide

        Intro.

        ## Install

        Run pip.

        ```sh
        # not a heading: inside a fence
        ```

        ### On Linux

        apt-get.

        Setext title
        ============

        Body.
        """)
    chunks = chunk_text(text, "docs/guide.md")
    assert [(c.start_line, c.end_line, c.heading) for c in chunks] == [
        (1, 3, "Guide"),
        (5, 11, "Guide > Install"),
        (13, 15, "Guide > Install > On Linux"),
        (17, 20, "Setext title"),
    ]
    assert all(c.text == lines_of(text, c) for c in chunks)


def test_rest_titles_take_their_level_from_the_order_styles_appear_in():
    text = textwrap.dedent("""\
        =====
        Title
        =====

        Lead.

        Part one
        --------

        One.

        Detail
        ^^^^^^

        Deep.

        Part two
        --------

        Two.

        ----

        After a transition line (not a title).
        """)
    chunks = chunk_text(text, "doc.rst.txt")
    assert [c.heading for c in chunks] == [
        "Title", "Title > Part one", "Title > Part one > Detail", "Title > Part two"]
    assert chunks[-1].text.endswith("After a transition line (not a title).")
    assert chunks[0].start_line == 1 and chunks[1].start_line == 7


def test_python_functions_and_classes_are_sections_and_long_classes_split_at_methods():
    body = "\n".join(f"        x{i} = {i}" for i in range(120))
    text = textwrap.dedent('''\
        """Module doc."""
        import os


        @decorator
        def first(a):
            return a


        class Small:
            def m(self):
                return 1


        class Big:
            """Big."""

            def one(self):
        {body}

            def two(self):
                return 2
        ''').replace("{body}", body)
    chunks = chunk_text(text, "pkg/mod.py")
    headings = [c.heading for c in chunks]
    assert headings[:3] == ["", "def first", "class Small"]
    assert "class Big > def one" in headings and "class Big > def two" in headings
    first = chunks[1]
    assert first.text.startswith("@decorator") and first.start_line == 5
    assert all(c.text == lines_of(text, c) for c in chunks)


def test_python_that_does_not_parse_falls_back_to_paragraphs():
    chunks = chunk_text("def broken(:\n    pass\n\nother text\n", "x.py")
    assert [c.heading for c in chunks] == [""]
    assert chunks[0].text.startswith("def broken")


def test_long_sections_are_cut_between_paragraphs_with_overlap():
    paragraphs = [f"paragraph {i} " + "word " * 30 for i in range(12)]
    text = "# T\n\n" + "\n\n".join(paragraphs) + "\n"
    config = ChunkConfig(max_chars=500, overlap=1)
    chunks = chunk_text(text, "a.md", config)
    assert len(chunks) > 3
    assert all(len(c.text) <= 500 for c in chunks)
    assert all(c.text == lines_of(text, c) for c in chunks)
    for before, after in zip(chunks, chunks[1:]):      # each repeats a line of the one before
        assert after.start_line <= before.end_line
    covered = set()
    for c in chunks:
        covered |= set(range(c.start_line, c.end_line + 1))
    text_lines = {i + 1 for i, line in enumerate(text.splitlines()) if line.strip()}
    assert text_lines <= covered


def test_without_overlap_chunks_do_not_share_lines():
    text = "\n\n".join("line " * 40 for _ in range(10))
    chunks = chunk_text(text, "notes.txt", ChunkConfig(max_chars=300, overlap=0))
    assert all(b.start_line > a.end_line for a, b in zip(chunks, chunks[1:]))


def test_a_line_longer_than_a_chunk_is_kept_whole():
    text = "short\n" + "x" * 5000 + "\nend\n"
    chunks = chunk_text(text, "a.txt", ChunkConfig(max_chars=200))
    assert any(c.text == "x" * 5000 for c in chunks)


@pytest.mark.parametrize("path, kind", [("a.md", "markdown"), ("b.rst.txt", "rest"), ("c.PY", "python"),
                                        ("d.txt", "text"), ("Makefile", "text")])
def test_kind_follows_the_file_name(path, kind):
    assert kind_of(path) == kind


@pytest.mark.parametrize("size, overlap", [(10, 0), (500, -1)])
def test_bad_chunk_settings_are_refused_with_a_reason(size, overlap):
    with pytest.raises(ValueError, match="chunk size|overlap"):
        ChunkConfig(size, overlap)
