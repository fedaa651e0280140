#!/usr/bin/env python3
"""gen_chat_fixtures.py - expected chat-template renderings and Jinja results,
computed by transformers and jinja2 (the independent oracle), for
tests/test_chat.c and tests/test_jinja.c.

Writes, under tests/fixtures/chat/:
  templates/smollm2-135m-instruct.jinja  read from models/smollm2-135m-instruct.gguf
                                         (tokenizer.chat_template, via gguf.GGUFReader)
  templates/builtin-*.jinja              evalctl's built-ins (copied below; test_chat
                                         checks the C strings equal these files)
  chat_cases.json                        per template: conversations, variables and the
                                         text apply_chat_template(..., tokenize=False)
                                         returns, or the error it raises
  jinja_cases.json                       small templates for each Jinja construct with
                                         what transformers' jinja2 environment renders,
                                         templates jinja2 rejects, and valid Jinja that
                                         evalctl does not support (its own error text)

The other templates/*.jinja are public chat templates (model metadata), stored
as found; where each came from:
  meta-llama-Meta-Llama-3-8B-Instruct.jinja     llama.cpp tests/test-chat-template.cpp ("Llama-3"),
                                                with the add_generation_prompt guard the current
                                                meta-llama/Meta-Llama-3-8B-Instruct config has
  meta-llama-Llama-3.1-8B-Instruct.jinja        meta-llama/Llama-3.1-8B-Instruct tokenizer_config.json
                                                chat_template, as quoted in a public lm_eval command
  meta-llama-Llama-3.2-3B-Instruct.jinja        llama.cpp models/templates/ (ggerganov/llama.cpp@7b5e0803)
  mistralai-Mistral-Nemo-Instruct-2407.jinja    llama.cpp models/templates/ (ggerganov/llama.cpp@7b5e0803)
  mistralai-Mistral-7B-Instruct-v0.2.jinja      llama.cpp tests/test-chat-template.cpp
  Mixtral-8x7B-Instruct-v0.1-llamacpp-tests.jinja  llama.cpp fork tests/chat/templates/ (ochafik@5bc8b71d)
  Qwen-Qwen2-7B-Instruct.jinja                  Qwen/Qwen2-7B-Instruct tokenizer_config.json chat_template
  Qwen2-7B-Instruct-llamacpp-tests.jinja        llama.cpp fork tests/chat/templates/ (ochafik@5bc8b71d)
  Qwen-Qwen2.5-7B-Instruct.jinja                Qwen2.5-0.5B-Instruct GGUF tokenizer.chat_template, as
                                                quoted verbatim by a public C++ Jinja test suite

strftime_now is pinned: the generator patches transformers' datetime to
FIXED_DATE and the tests set EVALCTL_DATE to the same moment.

Run from the repository root:  python3 tools/gen_chat_fixtures.py
"""
import datetime as _dt
import json
import os
import sys

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
import jinja2  # noqa: E402
import transformers.utils.chat_template_utils as ctu  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402
from tokenizers.models import WordLevel  # noqa: E402
from transformers import PreTrainedTokenizerFast  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "chat")
TDIR = os.path.join(OUT, "templates")
GGUF = os.path.join(ROOT, "models", "smollm2-135m-instruct.gguf")

FIXED_DATE = "2024-09-15T10:20:30"   # EVALCTL_DATE in the tests
JINJA_DATE = "2025-02-03T04:05:06"


def pin_date(iso):
    fixed = _dt.datetime.fromisoformat(iso)

    class Fixed(_dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return fixed

    ctu.datetime = Fixed


# ------------------------------------------------------------------ built-ins (same text as src/chat.c)
BUILTINS = {
    "chatml": "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
              "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
              "{% endif %}",
    "llama3": "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
              "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + "
              "'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
              "{{ content }}{% endfor %}{% if add_generation_prompt %}"
              "{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}",
    "mistral": (
        "{%- if messages[0]['role'] == 'system' %}\n"
        "    {%- set system_message = messages[0]['content'] %}\n"
        "    {%- set loop_messages = messages[1:] %}\n"
        "{%- else %}\n"
        "    {%- set loop_messages = messages %}\n"
        "{%- endif %}\n"
        "{{- bos_token }}\n"
        "{%- for message in loop_messages %}\n"
        "    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}\n"
        "        {{- raise_exception('After the optional system message, conversation roles must alternate "
        "user/assistant/user/assistant/...') }}\n"
        "    {%- endif %}\n"
        "    {%- if message['role'] == 'user' %}\n"
        "        {%- if loop.last and system_message is defined %}\n"
        "            {{- '[INST] ' + system_message + '\\n\\n' + message['content'] + '[/INST]' }}\n"
        "        {%- else %}\n"
        "            {{- '[INST] ' + message['content'] + '[/INST]' }}\n"
        "        {%- endif %}\n"
        "    {%- elif message['role'] == 'assistant' %}\n"
        "        {{- ' ' + message['content'] + eos_token }}\n"
        "    {%- else %}\n"
        "        {{- raise_exception('Only user and assistant roles are supported, with the exception of an "
        "initial optional system message!') }}\n"
        "    {%- endif %}\n"
        "{%- endfor %}\n"),
    "none": "{% for message in messages %}{{ message['content'] }}{% endfor %}",
}

# ------------------------------------------------------------------ templates and their special tokens
LLAMA = ("<|begin_of_text|>", "<|eot_id|>")
QWEN = (None, "<|im_end|>")
MISTRAL = ("<s>", "</s>")
TEMPLATES = [
    # name, file, (bos, eos), kind (for template-specific cases)
    ("smollm2-135m-instruct", "smollm2-135m-instruct.jinja", ("<|im_start|>", "<|im_end|>"), "chatml"),
    ("llama3", "meta-llama-Meta-Llama-3-8B-Instruct.jinja", LLAMA, "llama3"),
    ("llama3.1", "meta-llama-Llama-3.1-8B-Instruct.jinja", LLAMA, "llama31"),
    ("llama3.2", "meta-llama-Llama-3.2-3B-Instruct.jinja", LLAMA, "llama32"),
    ("qwen2", "Qwen-Qwen2-7B-Instruct.jinja", QWEN, "chatml"),
    ("qwen2-llamacpp-tests", "Qwen2-7B-Instruct-llamacpp-tests.jinja", QWEN, "chatml"),
    ("qwen2.5", "Qwen-Qwen2.5-7B-Instruct.jinja", QWEN, "qwen25"),
    ("mistral-7b-v0.2", "mistralai-Mistral-7B-Instruct-v0.2.jinja", MISTRAL, "mistral"),
    ("mixtral-v0.1-llamacpp-tests", "Mixtral-8x7B-Instruct-v0.1-llamacpp-tests.jinja", MISTRAL, "mistral"),
    ("mistral-nemo", "mistralai-Mistral-Nemo-Instruct-2407.jinja", MISTRAL, "nemo"),
    ("builtin-chatml", "builtin-chatml.jinja", QWEN, "chatml"),
    ("builtin-llama3", "builtin-llama3.jinja", LLAMA, "llama3"),
    ("builtin-mistral", "builtin-mistral.jinja", MISTRAL, "mistral"),
    ("builtin-none", "builtin-none.jinja", (None, None), "chatml"),
]


def u(c):
    return {"role": "user", "content": c}


def a(c):
    return {"role": "assistant", "content": c}


def s(c):
    return {"role": "system", "content": c}


COMMON = [
    ("one user turn", [u("Hello!")], True),
    ("one user turn, no generation prompt", [u("Hello!")], False),
    ("system + user", [s("You are terse."), u("What is 2+2?")], True),
    ("multi-turn", [s("Be kind."), u("Hi"), a("Hello, how can I help?"), u("Tell me a joke.")], True),
    ("multi-turn without system", [u("Hi"), a("Hello!"), u("Bye"), a("Goodbye.")], False),
    ("trailing assistant with generation prompt", [u("Hi"), a("Hello!")], True),
    ("empty contents", [u(""), a(""), u("")], True),
    ("unicode", [u("héllo wörld — 你好，世界 🌍🚀 ñ Ω ∑ مرحبا \u200b e\u0301"), a("Привет! ¿Qué tal? 😀")], True),
    ("special tokens inside content",
     [u("<|im_start|>system\nfake<|im_end|> <|eot_id|><|start_header_id|> [INST] x [/INST] </s><s> "
        "{{ bos_token }} {% if true %}no{% endif %} {# c #}")], True),
    ("whitespace in content", [s("  padded system  \n"), u("\n\n  lines\n\twith tabs  \n\n"), a("  spaced  ")], False),
    ("quotes and backslashes", [u("He said \"hi\" and 'bye' \\ \\n {\"json\": [1, 2]}")], True),
    ("long conversation", [x for i in range(6) for x in (u(f"question {i}"), a(f"answer {i}"))] + [u("last")], True),
    ("system only", [s("Only a system prompt.")], True),
    ("two user turns in a row", [u("first"), u("second")], True),
    ("assistant first", [a("I speak first."), u("ok")], True),
    ("empty conversation", [], True),
]

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the weather in a city — «quoted» text",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "City name"},
                           "days": {"type": "integer", "minimum": 1, "maximum": 7.5}},
            "required": ["city"],
        },
    },
}
CALL = {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}}


def extra_cases(kind):
    """(label, messages, add_generation_prompt, extra variables) beyond COMMON."""
    out = []
    tool_msgs = [u("Weather in Paris?"),
                 {"role": "assistant", "content": None, "tool_calls": [CALL]},
                 {"role": "tool", "content": "{\"temp\": 21}"}]
    if kind in ("llama31", "llama32"):
        out += [
            ("tools in the user message", [s("sys"), u("Weather in Paris?")], True, {"tools": [WEATHER_TOOL]}),
            ("tools in the system message", [u("Weather?")], True,
             {"tools": [WEATHER_TOOL], "tools_in_user_message": False}),
            ("tool call and result", tool_msgs, True, {"tools": [WEATHER_TOOL]}),
            ("tool result as a mapping", [u("q"), {"role": "tool", "content": {"temp": 21, "unit": "C"}}], True, {}),
            ("tool result as a string", [u("q"), {"role": "ipython", "content": "plain text"}], True, {}),
            ("two tool calls raise", [u("q"), {"role": "assistant", "tool_calls": [CALL, CALL]}], True, {}),
            ("tools but no messages raise", [], True, {"tools": [WEATHER_TOOL]}),
            ("custom date_string", [u("date?")], True, {"date_string": "01 Jan 2030"}),
            ("custom_tools", [u("x")], False, {"custom_tools": [WEATHER_TOOL]}),
        ]
    if kind == "llama31":
        out += [
            ("builtin tools", [s("sys"), u("search")], True, {"builtin_tools": ["brave_search", "wolfram_alpha", "code_interpreter"]}),
            ("builtin tool call (python tag, tuple unpacking)",
             [u("search"), {"role": "assistant", "tool_calls": [{"function": {"name": "brave_search", "arguments": {"query": "x", "count": "3"}}}]}],
             True, {"builtin_tools": ["brave_search"]}),
        ]
    if kind == "qwen25":
        out += [
            ("tools with system", [s("sys prompt"), u("Weather?")], True, {"tools": [WEATHER_TOOL]}),
            ("tools without system", [u("Weather?")], True, {"tools": [WEATHER_TOOL, WEATHER_TOOL]}),
            ("tool call and results", tool_msgs + [{"role": "tool", "content": "second"}, a("It is 21.")], True, {}),
            ("assistant content and tool call", [u("q"), {"role": "assistant", "content": "Let me check.", "tool_calls": [CALL["function"]]}], False, {}),
            ("second system message", [s("a"), u("b"), s("c")], True, {}),
        ]
    if kind == "nemo":
        nemo_call = {"id": "abc123XYZ", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
        out += [
            ("tools", [s("sys"), u("Weather?"), a("Let me see."), u("Paris please")], True, {"tools": [WEATHER_TOOL]}),
            ("tool call and result",
             [u("Weather?"), {"role": "assistant", "tool_calls": [nemo_call, nemo_call]},
              {"role": "tool", "tool_call_id": "abc123XYZ", "content": "21C"}, a("21C.")], True, {}),
            ("tool result with nested content",
             [u("q"), {"role": "assistant", "tool_calls": [nemo_call]},
              {"role": "tool_results", "tool_call_id": "abc123XYZ", "content": {"content": {"t": [1, 2.5, None, True]}}}], True, {}),
            ("bad tool call id raises", [u("q"), {"role": "assistant", "tool_calls": [dict(nemo_call, id="short")]}], True, {}),
            ("unknown role raises", [u("q"), {"role": "narrator", "content": "x"}], True, {}),
        ]
    if kind == "mistral":
        out += [("unknown role raises", [u("q"), {"role": "narrator", "content": "x"}], True, {})]
    if kind in ("chatml", "llama3"):
        out += [("extra message fields", [{"role": "user", "content": "x", "name": "bob", "weight": 1.5}], True, {})]
    out += [("reasoning field aliases", [u("q"), {"role": "assistant", "content": "a", "reasoning_content": "thought"}], True, {})]
    return out


def make_tokenizer(src, bos, eos):
    vocab = {"<unk>": 0}
    for t in (bos, eos):
        if t and t not in vocab:
            vocab[t] = len(vocab)
    tok = Tokenizer(WordLevel(vocab=vocab, unk_token="<unk>"))
    kw = {}
    if bos:
        kw["bos_token"] = bos
    if eos:
        kw["eos_token"] = eos
    return PreTrainedTokenizerFast(tokenizer_object=tok, chat_template=src, **kw)


def render_case(tok, messages, agp, extra):
    extra = dict(extra)
    tools = extra.pop("tools", None)
    try:
        out = tok.apply_chat_template(messages, tools=tools, add_generation_prompt=agp, tokenize=False, **extra)
        return {"expected": out}
    except jinja2.exceptions.TemplateError as e:
        # raise_exception raises TemplateError itself; jinja2's own failures are subclasses
        kind = type(e).__name__
        return {"error": str(e), "error_type": kind}
    except Exception as e:  # TypeError and friends from Python operations inside the template
        return {"error": str(e), "error_type": type(e).__name__}


def read_gguf_template():
    import gguf
    r = gguf.GGUFReader(GGUF)
    f = r.fields["tokenizer.chat_template"]
    return bytes(f.parts[f.data[0]]).decode("utf-8")


def gen_chat():
    pin_date(FIXED_DATE)
    with open(os.path.join(TDIR, "smollm2-135m-instruct.jinja"), "w", newline="") as fh:
        fh.write(read_gguf_template())
    for name, text in BUILTINS.items():
        with open(os.path.join(TDIR, f"builtin-{name}.jinja"), "w", newline="") as fh:
            fh.write(text)
    doc = {"date": FIXED_DATE, "templates": []}
    total = 0
    for name, fname, (bos, eos), kind in TEMPLATES:
        with open(os.path.join(TDIR, fname), newline="") as fh:
            src = fh.read()
        tok = make_tokenizer(src, bos, eos)
        cases = []
        allc = [(lbl, m, agp, {}) for (lbl, m, agp) in COMMON] + extra_cases(kind)
        for lbl, msgs, agp, extra in allc:
            for gp in ([agp] if extra else [agp, not agp]):
                c = {"label": lbl, "messages": msgs, "add_generation_prompt": gp, "vars": extra}
                c.update(render_case(tok, msgs, gp, extra))
                cases.append(c)
        ok = sum(1 for c in cases if "expected" in c)
        print(f"{name}: {len(cases)} cases ({ok} render, {len(cases) - ok} raise)")
        total += len(cases)
        doc["templates"].append({"name": name, "file": "templates/" + fname, "bos_token": bos,
                                 "eos_token": eos, "cases": cases})
    with open(os.path.join(OUT, "chat_cases.json"), "w") as fh:
        json.dump(doc, fh, ensure_ascii=False, indent=1)
        fh.write("\n")
    print(f"chat_cases.json: {total} cases")


# ------------------------------------------------------------------ Jinja construct cases

VARS = {
    "l": [1, 2, 3, 4, 5],
    "s": "héllo wörld",
    "d": {"b": 2, "a": 1, "c": [1, {"x": "y"}]},
    "msgs": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo", "tool_calls": [{"id": 1}]},
             {"role": "user", "content": "  bye  "}],
    "n": 7, "f": 2.5, "z": 0, "e": "", "t": True, "no": None,
    "nested": {"a": {"b": {"c": "deep"}}},
    "words": ["banana", "Apple", "cherry", "apple"],
    "people": [{"name": "Ann", "age": 31}, {"name": "bob", "age": 25}, {"name": "Cy", "age": 31, "x": None}],
    "content": [{"type": "text", "text": "A"}, {"type": "image"}, {"type": "text", "text": "B"}],
    "big": 12345678901234, "neg": -3, "fl": [0.1, 1e16, 1e-5, 123.456, -0.0, 1e22, 2.0, 1.5e-7, 100.0],
}

RENDER = [
    # whitespace control, trim_blocks, lstrip_blocks
    "a  {{- ' b ' -}}  c",
    "x\n  {% if true %}\n  y\n  {% endif %}\nz",
    "x\n  {%- if true %}\n  y\n  {%- endif %}\nz",
    "{% if true %}  \n a{% endif %}",
    "  {#- c -#}  d",
    "line1\n    {# comment #}\nline2",
    "a {#+ c +#} b",
    "  {%+ if true %}x{% endif +%}\ny",
    "  {% if true +%}\nkeep{% endif %}",
    "a\n{% raw %}{{ x }} {% if %}{% endraw %}\nb",
    "a\n  {%- raw -%}  {{ x }}  {%- endraw -%}  \nb",
    "{{ 'a' }}\n{{ 'b' }}\n",
    "x\n\n",
    "a\r\nb\rc\n{% if true %}\r\nd{% endif %}",
    "text {% if true %}X{% endif %} more",
    "  {{ 1 }}  ",
    "\t{% if true %}tab{% endif %}",
    "\u00a0{% if true %}nbsp{% endif %}",
    "{%- if true -%}\n\n  x  \n{%- endif -%}\n\nafter",
    "{% for i in l %}\n  {{ i }}\n{% endfor %}",
    "{% for i in l -%}\n  {{ i }}\n{%- endfor %}",
    "{{- 1 -}}   {{- 2 }}  {{ 3 -}}   end",
    "{{ '{{ not a tag }}' }} {{ '%}' }} {{ '}}' }}",
    "{% set x = {'a': {'b': 1}} %}{{ x['a']['b'] }}{{ {'k': 'v'}['k']}}",
    # literals and printing
    "{{ 1 }} {{ -1 }} {{ 1.0 }} {{ 1.50 }} {{ 1e3 }} {{ 1_000 }} {{ 0x1F }} {{ 0o17 }} {{ 0b101 }} {{ 2.5e-3 }}",
    "{{ true }} {{ false }} {{ none }} {{ True }} {{ None }} {{ undefined_name }}|",
    "{{ [1, 'a', \"b'c\", none, true, 1.0, [2], {'k': 'v'}] }} {{ (1,) }} {{ () }} {{ {} }} {{ (1, 'x') }}",
    "{{ ['a\\nb', 'tab\\t', 'q\"', \"both'\\\"\", 'é', '\\x00', '\\u200b', '\\x7f', 'back\\\\slash'] }}",
    "{{ fl }}",
    "{% for x in fl %}{{ x }} {% endfor %}",
    "{{ big }} {{ neg }} {{ big * 1000 }} {{ 2 ** 62 }}",
    "{{ 'a' 'b' \"c\" }} {{ '\\u00e9\\t|\\x41\\101' }} {{ '\\q' }}",
    # arithmetic
    "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % -3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 2 ** -1 }}",
    "{{ 7 / 2 }} {{ 6 / 3 }} {{ 1.5 + 1 }} {{ 0.1 + 0.2 }} {{ 1e100 }} {{ 1e-7 }} {{ 123456789.123 }} {{ 3 - -2 }}",
    "{{ 7.5 // 2 }} {{ -7.5 % 2 }} {{ true + 1 }} {{ true * 3 }} {{ 2 ** 0.5 }} {{ 10 / 4 * 2 }}",
    "{{ 'a' + 'b' }} {{ 'a' ~ 1 ~ none ~ true ~ 1.5 ~ [1] }} {{ 'ab' * 3 }} {{ 3 * 'x' }} {{ [1] * 2 }} {{ [1, 2] + [3] }} {{ (1,) + (2,) }}",
    "{{ (2 + 3) ~ 4 }} {{ 2 * 3 ~ 4 }} {{ 'x' ~ 2 ** 3 }} {{ 'a' ~ 'b' + 'c' }}",
    # comparisons and logic
    "{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 1 == 1.0 }} {{ true == 1 }} {{ 'a' < 'b' }} {{ [1, 2] == [1, 2] }} {{ (1, 2) == [1, 2] }}",
    "{{ {'a': 1} == {'a': 1} }} {{ none == none }} {{ 'ab' != 'ab' }} {{ 'é' > 'z' }} {{ [1, 2] < [1, 3] }} {{ 2 >= 2.0 }}",
    "{{ 'a' in 'cat' }} {{ 1 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 3 not in [1, 2] }} {{ 'x' in nothing_here }} {{ 'ell' in s }}",
    "{{ none or 'x' }} {{ 0 and 1 }} {{ not 0 }} {{ '' or [] or 'z' }} {{ 1 if 0 else 2 }} [{{ 'y' if 1 }}|{{ 'y' if 0 }}]",
    "{{ not x is defined }} {{ not 1 == 2 }} {{ not not 1 }} {{ 1 and 2 or 3 }} {{ 0 or 0 and 1 }}",
    "{{ ' a ' | trim + 'b' }} {{ -1 | abs }} {{ - 2 ** 2 }} {{ (-2) ** 2 }} {{ '1' ~ 2 | string }}",
    "{{ 'x' if t else 'y' }} {{ 'x' if no else 'y' if t else 'z' }}",
    # subscripts and slices
    "{{ d['a'] }} {{ d.a }} {{ l[-1] }} {{ l[1:] }} {{ l[:-1] }} {{ l[::-1] }} {{ l[::2] }} {{ l[1:4:2] }} {{ l[-2:] }} {{ l[10:] }}",
    "{{ s[1:3] }} {{ s[-2:] }} {{ s[::-1] }} {{ s[1] }} {{ s[-1] }} {{ s[100:] }}|{{ l[10] }}|{{ d.missing }}|{{ l.0 }} {{ d['c'][1]['x'] }}",
    "{{ msgs[0].role }} {{ msgs[-1]['content'] }} {{ msgs[1].tool_calls[0].id }} {{ nested.a.b.c }} {{ d.items is callable }}",
    "{{ l[5:1:-1] }} {{ l[-10:2] }} {{ s[:0] }} {{ 'abc'[::-2] }}",
    # strings: methods
    "{{ '  x  '.strip() }}|{{ 'xxaxx'.strip('x') }}|{{ '  x  '.lstrip() }}|{{ '  x  '.rstrip() }}|{{ 'abcba'.lstrip('ab') }}",
    "{{ 'a,b,,c'.split(',') }} {{ ' a  b \\n c '.split() }} {{ 'a b c'.split(' ', 1) }} {{ 'a b c'.rsplit(' ', 1) }} {{ 'a-b-c'.split('-', -1) }}",
    "{{ 'Hello'.startswith('He') }} {{ 'Hello'.endswith('lo') }} {{ 'Hello'.startswith(('x', 'H')) }} {{ 'Hello'.upper() }} {{ 'HeLLo'.lower() }}",
    "{{ 'a-b-a'.replace('a', 'x') }} {{ 'aaa'.replace('a', 'b', 2) }} {{ 'ab'.replace('', '-') }} {{ 'hello world'.title() }} {{ 'hELLO'.capitalize() }}",
    "{{ 'hello'.index('l') }} {{ 'hello'.rindex('l') }} {{ 'hello'.find('l') }} {{ 'hello'.rfind('l') }} {{ 'hello'.find('z') }} {{ 'héllo'.find('l') }} {{ 'banana'.count('a') }} {{ ', '.join(['a', 'b']) }}",
    "{{ 'a\\nb\\r\\nc'.splitlines() }} {{ '123'.isdigit() }} {{ 'ab'.isalpha() }} {{ ' '.isspace() }} {{ 'abc'.islower() }} {{ 'ABC'.isupper() }}",
    "{{ 'prefix-x'.removeprefix('prefix-') }} {{ 'x.txt'.removesuffix('.txt') }} {{ 'AbC'.swapcase() }} {{ s.upper() }} {{ 'ÉCOLE'.lower() }}",
    "{{ \"they're bill's\".title() }} {{ 'hello-world foo_bar'.title() }} {{ '1st place'.title() }}",
    # dict methods
    "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %} {{ d.keys() | list }} {{ d.values() | list }}",
    "{{ d.get('a') }} {{ d.get('zz') }} {{ d.get('zz', 'dflt') }} {{ d.get('zz') is none }}",
    # loops
    "{% for x in l %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }}{{ loop.revindex0 }},{% endfor %}",
    "{% for x in l %}{{ loop.previtem }}-{{ loop.nextitem }}-{{ loop.cycle('a', 'b') }};{% endfor %}",
    "{% for x in range(10) if x % 3 == 0 %}{{ x }}{{ loop.last }}{{ loop.length }},{% endfor %}",
    "{% for x in [] %}never{% else %}empty{% endfor %} {% for x in [1] %}one{% else %}no{% endfor %}",
    "{% for x in l %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}",
    "{% for a, b in [[1, 2], [3, 4]] %}{{ a }}{{ b }} {% endfor %}{% for a, b in ['xy'] %}{{ b }}{{ a }}{% endfor %}",
    "{% for k in d %}{{ k }}{% endfor %} {% for c in 'héy' %}[{{ c }}]{% endfor %} {% for x in undefined_list %}x{% endfor %}",
    "{% for i in range(2) %}{% for j in range(2) %}{{ loop.index }}{{ i }}{{ j }} {% endfor %}{{ loop.index }}|{% endfor %}",
    "{% for m in msgs if m.role == 'user' %}{{ loop.index }}:{{ m.content | trim }} {% endfor %}",
    "{% for c in content %}{% if c.type == 'text' %}{{ c.text }}{% elif c['type'] == 'image' %}<img>{% endif %}{% endfor %}",
    "{{ range(3) | list }} {{ range(1, 5) | list }} {{ range(5, 0, -2) | list }} {{ range(0) | list }}",
    # scoping, set, namespace
    "{% set x = 1 %}{% for i in range(3) %}[{{ x }}]{% if i == 1 %}{% set x = 5 %}{% endif %}[{{ x }}]{% endfor %}{{ x }}",
    "{% for i in range(3) %}{% if i == 1 %}{% set y = 5 %}{% endif %}[{{ y }}]{% endfor %}",
    "{% set ns = namespace(n=0, s='') %}{% for i in range(4) %}{% set ns.n = ns.n + i %}{% set ns.s = ns.s ~ i %}{% endfor %}{{ ns.n }} {{ ns.s }}",
    "{% set ns = namespace() %}{% set ns.found = false %}{% for m in msgs %}{% if m.role == 'assistant' %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.found }} {{ ns.missing is defined }}",
    "{% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns.b }} {{ ns }}",
    "{% set a, b = 1, 2 %}{{ a }}{{ b }} {% set c = 3, 4 %}{{ c }}",
    "{% set x %}a{{ 1 }}b{% endset %}[{{ x }}] {% set y | upper | replace('B', '_') %}abc{% endset %}{{ y }}",
    "{% set messages = msgs[1:] %}{{ messages | length }} {{ msgs | length }}",
    "{% if true %}{% set inner = 'leaks' %}{% endif %}{{ inner }}",
    "{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}[{{ a }}]",
    "{% filter upper %}abc {{ 'def' }}{% endfilter %}",
    "{% generation %}gen {{ 1 }}{% endgeneration %}",
    "{% set d2 = dict(a=1, b='x') %}{{ d2 }} {{ dict(d2, c=3) }} {{ dict([('k', 'v')]) }}",
    # macros
    "{% macro f(a, b='B') %}<{{ a }}|{{ b }}>{% endmacro %}{{ f(1) }}{{ f(1, 2) }}{{ f(b=3, a=4) }}{{ f() }}",
    "{% set x = 1 %}{% macro m() %}{{ x }}{% endmacro %}{% set x = 2 %}{{ m() }}",
    "{% macro m() %}{{ y }}{% endmacro %}{% for i in range(2) %}{% set y = i %}{{ m() }}{% endfor %}",
    "{% macro render(m) %}{{ m.role | upper }}: {{ m.content }}{% endmacro %}{% for m in msgs %}{{ render(m) }};{% endfor %}",
    "{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * (fact(n - 1) | int) }}{% endif %}{% endmacro %}{{ fact(5) }}",
    # filters
    "{{ '  x  ' | trim }}|{{ 'xxaxx' | trim('x') }}|{{ l | length }} {{ s | length }} {{ d | count }} {{ undefined_thing | length }}",
    "{{ d | tojson }} {{ msgs | tojson }} {{ s | tojson }} {{ fl | tojson }} {{ [none, true, false] | tojson }}",
    "{{ d | tojson(indent=2) }}\n{{ [] | tojson(indent=2) }} {{ {} | tojson(indent=4) }} {{ [[], {}] | tojson(indent=1) }}",
    "{{ d | tojson(sort_keys=true) }} {{ d | tojson(separators=(',', ':')) }} {{ s | tojson(ensure_ascii=true) }} {{ 'a\"b\\\\c\\n\\t\\x01\\x7f' | tojson }}",
    "{{ {'😀': '😀'} | tojson(ensure_ascii=true) }} {{ {1: 'int key', true: 'b'} | tojson }} {{ (1, 2) | tojson }} {{ d | tojson(indent='--') }}",
    "{{ undefined_thing | default('dflt') }} {{ none | default('dflt') }} {{ '' | default('dflt') }} {{ '' | default('dflt', true) }} {{ 0 | d(5, boolean=true) }}",
    "{{ l | first }} {{ l | last }} {{ s | first }} {{ [] | first }}|{{ d | first }} {{ 'xyz' | last }}",
    "{{ l | join }} {{ l | join(', ') }} {{ people | join('/', attribute='name') }} {{ words | join('-') }}",
    "{{ 'aBc' | upper }} {{ 'aBc' | lower }} {{ 12 | string }} {{ none | string }} {{ [1, 'a'] | string }} {{ 1.5 | string | length }}",
    "{{ '42' | int }} {{ '4.7' | int }} {{ 'x' | int }} {{ 'x' | int(9) }} {{ 3.9 | int }} {{ '0x1A' | int(0, 16) }} {{ true | int }} {{ ' 12 ' | int }}",
    "{{ '1.5' | float }} {{ 3 | float }} {{ 'x' | float }} {{ 'x' | float(1.25) }} {{ '1e3' | float }}",
    "{{ 'abc' | list }} {{ d | list }} {{ (1, 2) | list }} {{ undefined_thing | list }}",
    "{{ people | selectattr('age', 'equalto', 31) | map(attribute='name') | list }} {{ people | rejectattr('age', 'equalto', 31) | list }}",
    "{{ msgs | selectattr('tool_calls', 'defined') | list | length }} {{ msgs | selectattr('tool_calls', 'undefined') | map(attribute='content') | list }}",
    "{{ people | selectattr('x', 'none') | map(attribute='name') | join }} {{ people | selectattr('x') | list }} {{ msgs | selectattr('role', 'eq', 'user') | list | length }}",
    "{{ l | select('odd') | list }} {{ l | reject('even') | list }} {{ [0, 1, '', 'a', none] | select | list }} {{ l | select('>', 3) | list }} {{ l | select('in', [2, 9]) | list }}",
    "{{ people | map(attribute='name') | map('upper') | join(',') }} {{ ['a', 'b'] | map('replace', 'a', 'x') | list }} {{ people | map(attribute='missing', default='?') | list }}",
    "{{ d | items | list }} {{ {'x': 1} | items | first }} {{ undefined_thing | items | list }}",
    "{{ words | unique | list }} {{ words | unique(case_sensitive=true) | list }} {{ people | unique(attribute='age') | map(attribute='name') | list }}",
    "{{ words | sort }} {{ words | sort(reverse=true) }} {{ words | sort(case_sensitive=true) }} {{ people | sort(attribute='age') | map(attribute='name') | list }}",
    "{{ d | dictsort }} {{ {'b': 1, 'A': 2, 'c': 0} | dictsort }} {{ {'b': 1, 'A': 2} | dictsort(true) }} {{ {'b': 1, 'a': 2} | dictsort(by='value') }}",
    "{{ l | reverse | list }} {{ 'abc' | reverse }} {{ l | sum }} {{ people | sum(attribute='age') }} {{ [0.5, 1] | sum(start=1) }}",
    "{{ l | max }} {{ l | min }} {{ words | max }} {{ words | min(case_sensitive=true) }} {{ people | max(attribute='age') }} {{ [] | max }}|",
    "{{ -3 | abs }} {{ -2.5 | abs }} {{ 2.567 | round }} {{ 2.567 | round(2) }} {{ 2.5 | round }} {{ 3.5 | round }} {{ 2.1 | round(0, 'ceil') }} {{ 2.9 | round(1, 'floor') }}",
    "{{ 'a-b-a' | replace('a', 'x') }} {{ 'aaa' | replace('a', 'b', 1) }} {{ 'hello wOrld-foo(bar' | title }} {{ 'hELLO world' | capitalize }}",
    "[{{ 'ab' | center(6) }}] [{{ 'abc' | center(6) }}] [{{ 'abcdefg' | center(3) }}]",
    "{{ 'a\\nb\\n\\nc' | indent }}|{{ 'a\\nb\\n\\nc' | indent(2, true) }}|{{ 'a\\nb\\n\\nc' | indent(2, blank=true) }}|{{ 'a\\nb' | indent('>>') }}|{{ '' | indent(first=true) }}",
    "{{ 'one two, three' | wordcount }} {{ '<a href=\"x\">&\\'</a>' | escape }} {{ '<b>' | e }} {{ '<b>' | safe }}",
    "{{ d | attr('a') }}|{{ d | attr('items') is defined }} {{ 'abc' | attr('upper') is callable }}",
    # tests
    "{{ x is defined }} {{ n is defined }} {{ x is undefined }} {{ no is none }} {{ n is not none }} {{ s is string }} {{ n is string }}",
    "{{ n is number }} {{ f is number }} {{ t is number }} {{ n is integer }} {{ f is float }} {{ t is integer }} {{ t is boolean }} {{ t is true }} {{ z is false }}",
    "{{ d is mapping }} {{ l is mapping }} {{ l is iterable }} {{ s is iterable }} {{ d is iterable }} {{ n is iterable }} {{ no is iterable }} {{ undefined_thing is iterable }}",
    "{{ l is sequence }} {{ s is sequence }} {{ d is sequence }} {{ n is sequence }} {{ range is callable }} {{ s.upper is callable }} {{ s is callable }}",
    "{{ n is odd }} {{ n is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(2) }} {{ n is eq 7 }} {{ n is equalto(7) }} {{ n is ne 7 }}",
    "{{ n is lt 8 }} {{ n is gt 8 }} {{ n is ge 7 }} {{ n is le 6 }} {{ n is lessthan 10 }} {{ n is greaterthan 1 }} {{ 2 is in l }} {{ 'a' is in 'cat' }}",
    "{{ 'abc' is lower }} {{ 'aBc' is lower }} {{ 'ABC' is upper }} {{ 'trim' is filter }} {{ 'nosuch' is filter }} {{ 'odd' is test }} {{ no is sameas none }} {{ t is sameas true }}",
    "{% if msgs[0]['role'] == 'user' and msgs[0].content is string and 'tool_calls' in msgs[1] %}ok{% endif %}",
    # globals
    "{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y-%m-%d %H:%M:%S') }}|{{ strftime_now('%A %B %j %a %e') }}|{{ strftime_now('') }}",
    "{{ strftime_now is defined }} {{ raise_exception is defined }} {{ namespace is defined }} {{ range(3) | list }}",
    "{% if raise_exception is defined %}{{ 'has raise' }}{% endif %}",
]

RAISE = [
    ("{{ raise_exception('custom message: roles must alternate') }}", {}),
    ("{% for m in msgs %}{% if m.role == 'assistant' %}{{ raise_exception('bad role ' ~ m.role) }}{% endif %}{% endfor %}", {}),
    ("{{ x.y.z }}", {}),
    ("{{ msgs[10]['role'] }}", {}),
    ("{{ [][0].role }}", {}),
    ("{{ 'a' + 1 }}", {}),
    ("{{ 2 + 3 ~ 4 }}", {}),
    ("{{ 1 + 2 | string }}", {}),
    ("{{ 1 / 0 }}", {}),
    ("{{ 1 // 0 }}", {}),
    ("{{ 'a' < 1 }}", {}),
    ("{{ undefined_thing + 'x' }}", {}),
    ("{{ undefined_thing.attr }}", {}),
    ("{{ undefined_fn() }}", {}),
    ("{{ n() }}", {}),
    ("{% for x in n %}{% endfor %}", {}),
    ("{% for a, b in [[1, 2, 3]] %}{% endfor %}", {}),
    ("{{ msgs.append(1) }}", {}),
    ("{{ d.update({'x': 1}) }}", {}),
    ("{{ undefined_thing | tojson }}", {}),
    ("{{ range(1000000) | length }}", {}),
    ("{{ 1 in 'abc' }}", {}),
    ("{% set ns = namespace() %}{% set ns._private = 1 %}", {}),
    ("{{ ''.split('') }}", {}),
    ("{{ 'x' | int(base=7) + 'y' }}", {}),
]

SYNTAX_ERRORS = [
    "{% if x %}no end",
    "{% for %}{% endfor %}",
    "{{ 1 + }}",
    "{% foo %}",
    "{% endif %}",
    "{{ x",
    "{# unclosed comment",
    "{% if x %}{% endfor %}",
    "{{ 'unterminated }}",
    "{{ (1, 2 }}",
    "{{ a. }}",
    "{% set = 1 %}",
    "{% macro m(a=1, b) %}{% endmacro %}",
    "{{ x | nosuchfilter }}",
    "{{ x is nosuchtest }}",
    "{% else %}",
    "{{ }}",
    "{% if x %}{% else %}{% else %}{% endif %}",
    "{% for x in l %}{% endif %}",
    "{{ 1 ] }}",
    "{{ x is is y }}",
    "{% set x %}never closed",
    "{% raw %} no end",
    "{{ 'a' 1 }}",
    "{% for x in %}{% endfor %}",
    "text {% if %}{% endif %}",
    "{{ 1 +* 2 }}",
    "{{ f(a=1, 2) }}",
    "{% set 1 = 2 %}",
    "{{ @ }}",
]

# Valid Jinja that evalctl refuses, with the words its error must contain (its
# own diagnostics: not an oracle's output).
UNSUPPORTED = [
    ("{{ 'text' | wordwrap(5) }}", "line 1: unsupported filter 'wordwrap'"),
    ("a\n{{ x | truncate(3) }}", "line 2: unsupported filter 'truncate'"),
    ("{% include 'other.jinja' %}", "unsupported statement 'include'"),
    ("{% extends 'base' %}", "unsupported statement 'extends'"),
    ("{% macro m() %}{% endmacro %}{% call m() %}x{% endcall %}", "unsupported statement 'call'"),
    ("{% for x in l recursive %}{% endfor %}", "unsupported recursive for loop"),
    ("{{ '%s-%d' % ('a', 1) }}", "unsupported: printf-style string formatting"),
    ("{{ lipsum() }}", "unsupported function 'lipsum'"),
    ("{{ 'a{}'.format(1) }}", "unsupported string method 'format'"),
    ("{{ f(*l) }}", "unsupported *args"),
]


def jinja_env_render(src, vars):
    tmpl = ctu._compile_jinja_template(src)
    return tmpl.render(**vars)


def gen_jinja():
    pin_date(JINJA_DATE)
    bad = False
    out = {"date": JINJA_DATE, "vars": VARS, "render": [], "raise": [], "syntax_errors": [], "unsupported": []}
    for src in RENDER:
        try:
            out["render"].append({"template": src, "expected": jinja_env_render(src, VARS)})
        except Exception as e:
            print(f"render case failed in jinja2 itself: {src!r}: {e!r}")
            bad = True
    for src, extra in RAISE:
        try:
            got = jinja_env_render(src, dict(VARS, **extra))
            print(f"raise case rendered: {src!r} -> {got!r}")
            bad = True
        except jinja2.exceptions.TemplateSyntaxError as e:
            sys.exit(f"raise case is a syntax error: {src!r}: {e}")
        except Exception as e:
            out["raise"].append({"template": src, "error_type": type(e).__name__, "error": str(e)})
    for src in SYNTAX_ERRORS:
        try:
            ctu._compile_jinja_template(src)
            print(f"syntax case compiled: {src!r}")
            bad = True
        except (jinja2.exceptions.TemplateSyntaxError, jinja2.exceptions.TemplateAssertionError) as e:
            out["syntax_errors"].append({"template": src, "jinja2_error": str(e)})
    for src, msg in UNSUPPORTED:
        try:
            ctu._compile_jinja_template(src)  # must be valid Jinja
        except jinja2.exceptions.TemplateSyntaxError as e:
            sys.exit(f"unsupported case is not valid Jinja: {src!r}: {e}")
        out["unsupported"].append({"template": src, "error_contains": msg})
    if bad:
        sys.exit("jinja cases disagree with jinja2; fix the lists above")
    with open(os.path.join(OUT, "jinja_cases.json"), "w") as fh:
        json.dump(out, fh, ensure_ascii=False, indent=1)
        fh.write("\n")
    print(f"jinja_cases.json: {len(out['render'])} render, {len(out['raise'])} raise, "
          f"{len(out['syntax_errors'])} syntax errors, {len(out['unsupported'])} unsupported")


if __name__ == "__main__":
    os.makedirs(TDIR, exist_ok=True)
    gen_chat()
    gen_jinja()
