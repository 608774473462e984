"""Replies split for WhatsApp at line, sentence or word boundaries, never over 1,600 characters."""
from channels.chunking import split_message


def test_short_text_is_one_chunk():
    assert split_message("Olá!") == ["Olá!"]
    assert split_message("   ") == []


def test_long_text_splits_at_sentences_in_order():
    text = " ".join(f"Esta é a frase {i}." for i in range(400))
    chunks = split_message(text)
    assert all(len(c) <= 1600 for c in chunks)
    assert " ".join(chunks) == text
    assert all(c.endswith(".") for c in chunks)


def test_lines_are_preferred_boundaries():
    text = "\n".join(["x" * 1000, "y" * 1000, "z" * 100])
    assert split_message(text) == ["x" * 1000, "y" * 1000 + "\n" + "z" * 100]


def test_a_giant_word_is_cut_hard():
    chunks = split_message("a" * 4000)
    assert [len(c) for c in chunks] == [1600, 1600, 800]
