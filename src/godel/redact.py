"""One redaction layer for secrets, and one sanitizer for identifiers that become file names.

Everything godel shows or stores that may hold text from outside (logs, prompts, model replies, artifacts, events,
the dashboard) goes through :func:`redact` / :func:`redact_obj`. Redaction is pattern based: it knows the shapes of
the common keys (OpenAI, Anthropic, AWS, GitHub, Slack, Google, Hugging Face), bearer tokens, passwords inside URLs
and ``key=value`` pairs whose key names a secret; it also removes the literal values of secret-looking environment
variables of this process, whatever their shape.

It removes secrets, not paths: a variable holds a credential when one of the parts of its name (split at ``_`` and
``-``) says so (``OPENAI_API_KEY``, ``DB_PASSWORD``, ``GITHUB_TOKEN``, ``DB_PWD``); ``PWD`` and ``OLDPWD``, the
shell's working directories, never do, and neither does a name that merely contains such letters (``KEYBOARD``,
``AUTHOR``), nor one that names where a key is kept (``GODEL_AUDIT_KEY_FILE``, ``SSL_KEY_PATH``).
"""

from __future__ import annotations

import functools
import os
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["MASK", "redact", "redact_obj", "safe_path_component"]

MASK = "***"

# Order matters: specific shapes first so the generic key=value rule does not half-mask them.
_PATTERNS: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    (re.compile(r"sk-ant-[A-Za-z0-9_\-]{8,}"), "sk-ant-" + MASK),
    (re.compile(r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{16,}"), "sk-" + MASK),
    (re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b"), "AKIA" + MASK),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"), "gh_" + MASK),
    (re.compile(r"\bgithub_pat_[A-Za-z0-9_]{30,}\b"), "github_pat_" + MASK),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9\-]{10,}"), "xox-" + MASK),
    (re.compile(r"\bAIza[0-9A-Za-z\-_]{35}\b"), "AIza" + MASK),
    (re.compile(r"\bhf_[A-Za-z0-9]{30,}\b"), "hf_" + MASK),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S), MASK),
    (re.compile(r"(?i)\b(bearer)(\s+)[A-Za-z0-9\-._~+/]{8,}=*"), r"\1\2" + MASK),
    # "token abc123..." / "Basic dXNl...": only values that look machine-made (a digit in them), so prose such as
    # "token counting" stays readable.
    (re.compile(r"(?i)\b(token|basic)(\s+)(?=[A-Za-z._~+/\-]*\d)[A-Za-z0-9\-._~+/]{8,}=*"), r"\1\2" + MASK),
    # Authorization: <scheme> <credentials>, whatever the scheme and however the credentials look
    (
        re.compile(
            r"(?i)\b((?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?)(?:([A-Za-z]+)\s+)?(?!\*\*\*)[^\s\"',;}]+"
        ),
        lambda m: m.group(1) + (m.group(2) + " " if m.group(2) else "") + MASK,
    ),
    # scheme://user:password@host; the scheme is matched from the start of its run of letters only, so a long
    # token (a base64 blob in a traceback) is scanned once, not once per character
    (
        re.compile(r"(?<![a-zA-Z0-9+.\-])([a-zA-Z][a-zA-Z0-9+.\-]*://[^:/\s@]*:)([^@\s/]+)(@)"),
        r"\1" + MASK + r"\3",
    ),
    # api_key=..., "password": "...", SECRET_TOKEN: ..., aws_secret_access_key = ... (but not PWD=/a/path)
    (
        re.compile(
            r"(?i)(\b(?!(?:old)?pwd\b)[a-z0-9_\-]*(?:api[_\-]?key|apikey|secret|token|password|passwd|pwd|"
            r"access[_\-]?key|private[_\-]?key|auth(?:orization)?|credential)s?[a-z0-9_\-]*[\"']?\s*[:=]\s*"
            r"[\"']?)(?!\*\*\*)([^\s\"',;&}]{4,})"
        ),
        r"\1" + MASK,
    ),
)

# What each pattern's match must contain, in the same order: literals, any of which must occur in the text (the
# lower-cased text where the pattern ignores case). The patterns start with a word boundary or an unbounded prefix,
# so the regex engine tries them at every position (the generic key=value rule alone took ~0.7 ms per KB of a
# prompt); a substring test rules most texts out in microseconds.
_NEEDLES: tuple[tuple[bool, tuple[str, ...]], ...] = (
    (False, ("sk-ant-",)),
    (False, ("sk-",)),
    (False, ("AKIA", "ASIA", "AGPA", "AIDA", "AROA")),
    (False, ("ghp_", "gho_", "ghu_", "ghs_", "ghr_")),
    (False, ("github_pat_",)),
    (False, ("xoxa-", "xoxb-", "xoxp-", "xoxo-", "xoxs-", "xoxr-")),
    (False, ("AIza",)),
    (False, ("hf_",)),
    (False, ("PRIVATE KEY-----",)),
    (True, ("bearer",)),
    (True, ("token", "basic")),
    (True, ("authorization",)),
    (False, ("://",)),
    (True, ("api", "key", "secret", "token", "passw", "pwd", "auth", "credential")),
)
assert len(_NEEDLES) == len(_PATTERNS)

# Parts of an environment variable's name that say it holds a credential.
_SECRET_PARTS = frozenset(
    {
        "key",
        "apikey",
        "token",
        "secret",
        "password",
        "passwd",
        "pwd",
        "credential",
        "credentials",
        "auth",
        "pat",
    }
)
_NOT_SECRETS = frozenset({"PWD", "OLDPWD"})  # the shell's working directories
_LOCATION_PARTS = frozenset({"file", "path", "dir", "directory"})


@functools.lru_cache(maxsize=1024)
def _holds_secret(name: str) -> bool:
    # Cached by name: the environment's names barely change, and this is asked for each of them on every redact().
    if name.upper() in _NOT_SECRETS:
        return False
    parts = re.split(r"[_\-]+", name.lower())
    if parts[-1] in _LOCATION_PARTS:
        return False  # GODEL_AUDIT_KEY_FILE, SSL_KEY_PATH: where a key is kept, not the key
    return any(
        part in _SECRET_PARTS or part.endswith(("key", "token", "secret", "password")) for part in parts
    )


_SECRET_KEYS = re.compile(
    r"(?i)^(.*[_\-])?(api[_\-]?key|apikey|secret|token|password|passwd|pwd|access[_\-]?key|private[_\-]?key|"
    r"authorization|credentials?)([_\-].*)?$"
)
_MIN_ENV_SECRET = 8


_env_cache: tuple[tuple[tuple[Any, Any], ...], list[str]] = ((), [])


def _env_secrets() -> list[str]:
    # The environment is read on each call, so a key exported after import is still hidden; the secrets derived
    # from it are recomputed only when it changed (redact runs for every event and prompt of a run).
    global _env_cache
    # The raw (undecoded) mapping where CPython keeps one: comparing it is ~20x cheaper than decoding every
    # variable, and any change to the environment through os.environ changes it.
    raw = getattr(os.environ, "_data", None)
    items: tuple[tuple[Any, Any], ...] = tuple(raw.items() if isinstance(raw, dict) else os.environ.items())
    seen, values = _env_cache
    if items == seen:
        return values
    values = sorted(
        {
            v
            for k, v in os.environ.items()
            if _holds_secret(k) and len(v) >= _MIN_ENV_SECRET and MASK not in v
        },
        key=len,
        reverse=True,
    )
    _env_cache = (items, values)
    return values


_CACHE_LIMIT = 512  # texts; a run's prompts repeat their system text, the task and the parent's program
_MIN_CACHED = 256  # characters: shorter texts redact faster than they hash into the cache
_cache: dict[str, str] = {}
_cache_secrets: list[str] = []
_cache_lock = threading.Lock()


def _redact(text: str, secrets: list[str]) -> str:
    for value in secrets:
        if value in text:
            text = text.replace(value, MASK)
    low = text.lower()
    for (folded, needles), (pattern, repl) in zip(_NEEDLES, _PATTERNS, strict=True):
        hay = low if folded else text
        for needle in needles:  # a plain loop: any() with a generator costs more than the tests themselves
            if needle in hay:
                new = pattern.sub(repl, text)
                if new != text:
                    text, low = new, new.lower()
                break
    return text


def redact(text: str) -> str:
    """``text`` with every secret it holds replaced by ``***`` (the key's recognisable prefix is kept)."""
    global _cache_secrets
    if not text:
        return text
    secrets = _env_secrets()
    if len(text) < _MIN_CACHED:
        return _redact(text, secrets)
    with _cache_lock:
        if secrets is not _cache_secrets:  # the environment's secrets changed: earlier results may show one
            _cache.clear()
            _cache_secrets = secrets
        hit = _cache.get(text)
    if hit is not None:
        return hit
    out = _redact(text, secrets)
    with _cache_lock:
        if len(_cache) >= _CACHE_LIMIT:
            _cache.pop(next(iter(_cache)))  # the oldest entry
        _cache[text] = out
    return out


def redact_obj(obj: Any) -> Any:
    """A copy of a JSON-like value with every string redacted and every value under a secret-named key masked.

    Mappings become dicts, lists and tuples keep their type; other values are returned unchanged.
    """
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, Mapping):
        out: dict[Any, Any] = {}
        for key, value in obj.items():
            if isinstance(key, str) and _SECRET_KEYS.match(key) and isinstance(value, str | bytes) and value:
                out[key] = MASK
            else:
                out[key] = redact_obj(value)
        return out
    if isinstance(obj, list):
        return [redact_obj(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(redact_obj(v) for v in obj)
    return obj


_UNSAFE = re.compile(r"[^A-Za-z0-9._\-]+")
_RESERVED = {
    "con",
    "prn",
    "aux",
    "nul",
    *(f"com{i}" for i in range(1, 10)),
    *(f"lpt{i}" for i in range(1, 10)),
}
_MAX_COMPONENT = 100


def safe_path_component(s: str) -> str:
    """A single, harmless file-name component for an identifier (run name, task name, label...).

    Keeps ``[A-Za-z0-9._-]``, replaces the rest with ``_``, never returns ``''``, ``.``, ``..``, a leading dot or a
    reserved Windows device name. When anything had to change, a short hash of the original is appended, so two
    different identifiers never map to the same name (``a/b`` and ``a_b`` stay distinct).
    """
    original = str(s)
    cleaned = _UNSAFE.sub("_", original).strip("._-") or "_"
    if cleaned.split(".")[0].lower() in _RESERVED:
        cleaned = "_" + cleaned
    changed = cleaned != original
    if len(cleaned) > _MAX_COMPONENT:
        cleaned = cleaned[:_MAX_COMPONENT]
        changed = True
    if changed:
        import hashlib  # here: it loads OpenSSL, and every CLI start-up imports this module

        digest = hashlib.sha256(original.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        cleaned = f"{cleaned}-{digest}"
    return cleaned
