"""Secrets never reach logs, prompts, artifacts, events or the dashboard; identifiers become safe file names."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from godel.redact import MASK, redact, redact_obj, safe_path_component

SECRETS = [
    ("key sk-proj-abcdefghijklmnopqrstuvwxyz0123", "abcdefghijklmnopqrstuvwxyz0123"),
    ("sk-ant-api03-AbCdEfGhIjKlMnOpQrStUv_wx-yz", "AbCdEfGhIjKlMnOpQrStUv_wx-yz"),
    ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig", "eyJhbGciOiJIUzI1NiJ9"),
    ("Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
    ("curl -H 'authorization: token plainword'", "plainword"),
    ("postgresql://godel:hunter2secret@db:5432/x", "hunter2secret"),
    ("AWS AKIAIOSFODNN7EXAMPLE here", "AKIAIOSFODNN7EXAMPLE"),
    ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI"),
    ('{"api_key": "abc123secretvalue"}', "abc123secretvalue"),
    ("OPENAI_API_KEY=opaque-value-1234", "opaque-value-1234"),
    ("token: ghp_0123456789abcdefghijABCDEFGHIJ012345", "ghp_0123456789abcdefghij"),
    ("password=correcthorse", "correcthorse"),
]


@pytest.mark.parametrize(("text", "secret"), SECRETS)
def test_known_shapes(text: str, secret: str) -> None:
    out = redact(text)
    assert secret not in out and MASK in out


def test_keeps_ordinary_text() -> None:
    text = "score 0.93 after 12 iterations; see https://example.org/docs and sk-learn results"
    assert redact(text) == text


def test_env_secret_values_of_any_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_SERVICE_TOKEN", "plainwordsnoshape")
    assert "plainwordsnoshape" not in redact("the value plainwordsnoshape leaked")


def test_redact_obj_recursive() -> None:
    doc = {
        "prompt": "use sk-abcdefghijklmnopqrstuvwx",
        "headers": {"Authorization": "Basic dXNlcjpwYXNz", "x": 1},
        "list": ["ok", ("password=abcdefg",)],
        "api_key": "zzzzzzzz",
        "n": 3.5,
    }
    out = redact_obj(doc)
    assert out["headers"]["Authorization"] == MASK and out["api_key"] == MASK
    assert "abcdefghijklmnop" not in out["prompt"] and out["list"][1][0] == "password=" + MASK
    assert out["n"] == 3.5 and out["headers"]["x"] == 1 and isinstance(out["list"][1], tuple)
    assert doc["api_key"] == "zzzzzzzz"  # input untouched


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_secret_inside_any_text_is_removed(noise: str) -> None:
    key = "sk-ant-" + "Q" * 30
    assert "Q" * 30 not in redact(noise + " " + key + " " + noise) or "Q" * 30 in noise


@pytest.mark.parametrize(
    "bad", ["../../etc/passwd", "/abs/path", "a/b", "..", ".", "", "CON", "x" * 300, "run\x00name"]
)
def test_safe_path_component(bad: str) -> None:
    out = safe_path_component(bad)
    assert out and "/" not in out and "\\" not in out and "\x00" not in out
    assert out not in (".", "..") and not out.startswith(".") and len(out) <= 120
    assert os.path.basename(out) == out


def test_safe_path_component_is_stable_and_injective() -> None:
    assert safe_path_component("run-1.ok") == "run-1.ok"
    assert safe_path_component("a/b") != safe_path_component("a_b")
    assert safe_path_component("a/b") == safe_path_component("a/b")


@given(st.text(max_size=60))
def test_safe_path_component_property(s: str) -> None:
    out = safe_path_component(s)
    assert out and all(c.isascii() and (c.isalnum() or c in "._-") for c in out)
    assert not out.startswith(".")


def test_prose_about_tokens_is_kept() -> None:
    text = "token counting, token expiration and basic arithmetic"
    assert redact(text) == text


def _every_pattern(text: str) -> str:
    """Redaction without the needles' shortcut: every pattern run on every text."""
    from godel.redact import _PATTERNS

    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


@given(
    st.lists(
        st.sampled_from(
            [s for s, _ in SECRETS] + ["def f(x):\n    return x * 2\n", "Token", "API", "://", " "]
        )
        | st.text(max_size=40),
        max_size=8,
    )
)
def test_the_needles_never_change_what_is_redacted(parts: list[str]) -> None:
    from godel.redact import _redact

    text = " ".join(parts)
    assert _redact(text, []) == _every_pattern(text)


def test_a_cached_text_is_redacted_again_once_a_secret_is_exported(monkeypatch: pytest.MonkeyPatch) -> None:
    value = "opaque-credential-0987654321"
    text = f"{'the prompt shows a program. ' * 20}and here: {value}"
    assert value in redact(text)  # no variable holds it yet: not a secret, and cached
    monkeypatch.setenv("GODEL_TEST_EXPORTED_TOKEN", value)
    assert value not in redact(text)
