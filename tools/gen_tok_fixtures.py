#!/usr/bin/env python3
"""gen_tok_fixtures.py - regenerates tests/fixtures/tok/, the tokenizer oracle.

What it writes (all from the reference Python packages, never from evalctl):
  bank.json            the test strings (>= 300): prose, many scripts, NFC cases,
                       digits, code, whitespace runs, emoji, special-token strings
                       and near misses, a few KB of licence text as a haystack.
  smollm2/             models/smollm2-135m-instruct.gguf loaded by transformers
                       (AutoTokenizer.from_pretrained(dir, gguf_file=...)) and
                       written back with save_pretrained (tokenizer.json compacted).
  llama3/, qwen2/, spm/  small tokenizers trained here with the `tokenizers`
                       library: Llama-3 style (ByteLevel BPE, Llama 3 split regex,
                       ignore_merges, TemplateProcessing BOS), Qwen2 style (NFC,
                       Qwen2 regex, added tokens with lstrip/rstrip/single_word/
                       normalized flags), SentencePiece style (Llama 2 layout:
                       Prepend+Replace normalizer, byte_fallback <0xNN>, fuse_unk).
  llama3.gguf, qwen2.gguf, spm.gguf  the same vocabularies as vocab-only GGUF
                       files (tokenizer.ggml.model gpt2 with pre llama-bpe / qwen2,
                       and llama with scores), read back through transformers.
  gpt2cls/, qwen2cls/, llamacls/, mistralcls/  the same vocabularies with a
                       tokenizer_config.json naming a class that transformers v5
                       rebuilds with its own pipeline (or, for model_type mistral,
                       does not).
  NAME.json.gz         for each tokenizer: how to open it ("path"), and for every
                       bank string the ids of tokenizer(s)["input_ids"], the ids
                       without special tokens for a few strings, what
                       tokenizer.decode(ids) gives where it differs from the input,
                       and tokenizers' DecodeStream chunks for some strings.

Usage: python3 tools/gen_tok_fixtures.py   (from the repository root; needs
transformers, tokenizers and gguf; no torch: the GGUF reader's torch import is
stubbed because only metadata is read).
"""
import gzip
import json
import os
import shutil
import sys
import types

# one thread: the BPE trainer's result must not depend on scheduling
os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

OUT = "tests/fixtures/tok"
GGUF_MODEL = "models/smollm2-135m-instruct.gguf"

# ----------------------------------------------------------------------------- bank


def licence_text(name, start, nbytes):
    with open(os.path.join("/usr/share/common-licenses", name), encoding="utf-8") as f:
        t = f.read()
    t = t[start:start + nbytes]
    return t[: t.rfind("\n") + 1]


def bank():
    s = []
    # English prose
    s += [
        "Hello world",
        "Hello, world!",
        " Hello world",
        "hello world ",
        "The quick brown fox jumps over the lazy dog.",
        "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG",
        "It was the best of times, it was the worst of times, it was the age of wisdom.",
        "Call me Ishmael. Some years ago - never mind how long precisely - having little money.",
        "I'm sure you're right; we'll see what they've done, and I'd say it's fine.",
        "DON'T SHOUT. I'M HERE. YOU'RE LATE. WE'LL GO. THEY'VE GONE. I'D STAY. IT'S OK.",
        "don't won't can't shouldn't y'all o'clock rock'n'roll",
        "The cat's toy; the cats' toys; 'quoted' \"double\"",
        "She said \u201chello\u201d and he said \u2018bye\u2019 \u2014 then left\u2026",
        "it\u2019s typographic, isn\u2019t it?",
        "Mr. Smith went to Washington D.C. on Jan. 5th, 2021 at 3:30 p.m.",
        "e.g. i.e. etc. vs. a.k.a.",
        "Supercalifragilisticexpialidocious antidisestablishmentarianism",
        "pneumonoultramicroscopicsilicovolcanoconiosis",
        "a", "A", "I", "ab", "abc", "the", " the", "  the", "The", "tHe",
        "word-word word_word word.word word/word word\\word",
        "Hyphen-ated, semi;colon: colon! bang? question.",
        "(parenthetical) [bracketed] {braced} <angled>",
        "Tab\tseparated\tvalues\there",
        "Line one\nLine two\nLine three",
        "Windows\r\nline\r\nendings\r\n",
        "Ends with newline\n",
        "\nStarts with newline",
        "Multiple\n\n\nblank\n\n\n\nlines",
        "What's up?! ... Nothing!!! ???",
        "caf\u00e9 na\u00efve r\u00e9sum\u00e9 co\u00f6perate fa\u00e7ade",
        "Stra\u00dfe \u00fcber \u00c4rger \u00d6l \u00df",
        "\u00bfQu\u00e9 tal? \u00a1Muy bien! Espa\u00f1a ni\u00f1o",
        "Les \u00e9l\u00e8ves fran\u00e7ais \u00e9tudient \u00e0 l'\u00e9cole.",
        "Dziękuję bardzo, zażółć gęślą jaźń",
        "Vi\u1ec7t Nam, ti\u1ebfng Vi\u1ec7t c\u00f3 d\u1ea5u",
        "\u0130stanbul \u0131\u015f\u0131k \u011fa\u015f",
    ]
    # other scripts
    s += [
        "\u4f60\u597d\uff0c\u4e16\u754c\uff01",
        "\u6211\u7231\u5317\u4eac\u5929\u5b89\u95e8\u3002\u4eca\u5929\u5929\u6c14\u5f88\u597d\u3002",
        "\u4e2d\u6587\u5b57\u7b26\u548cEnglish\u6df7\u5408123\u6570\u5b57",
        "\u65e5\u672c\u8a9e\u306e\u6587\u7ae0\u3067\u3059\u3002\u3072\u3089\u304c\u306a\u3068\u30ab\u30bf\u30ab\u30ca\u3002",
        "\u30c8\u30fc\u30af\u30ca\u30a4\u30b6\u30fc\u306e\u30c6\u30b9\u30c8",
        "\ud55c\uad6d\uc5b4 \ubb38\uc7a5\uc785\ub2c8\ub2e4. \uc548\ub155\ud558\uc138\uc694!",
        "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440! \u041a\u0430\u043a \u0434\u0435\u043b\u0430?",
        "\u0421\u044a\u0435\u0448\u044c \u0436\u0435 \u0435\u0449\u0451 \u044d\u0442\u0438\u0445 \u043c\u044f\u0433\u043a\u0438\u0445 \u0444\u0440\u0430\u043d\u0446\u0443\u0437\u0441\u043a\u0438\u0445 \u0431\u0443\u043b\u043e\u043a",
        "\u0423\u043a\u0440\u0430\u0457\u043d\u0441\u044c\u043a\u0430 \u043c\u043e\u0432\u0430: \u0457\u0436\u0430\u043a, \u0491\u0430\u043d\u043e\u043a",
        "\u039a\u03b1\u03bb\u03b7\u03bc\u03ad\u03c1\u03b1 \u03ba\u03cc\u03c3\u03bc\u03b5",
        "\u0393\u03b1\u03b6\u03ad\u03b5\u03c2 \u03ba\u03b1\u1f76 \u03bc\u03c5\u03c1\u03c4\u03b9\u1f72\u03c2 \u03b4\u1f72\u03bd \u03b8\u1f70 \u03b2\u03c1\u1ff6",
        "\u03a3\u03af\u03c3\u03c5\u03c6\u03bf\u03c2 \u03a3\u03a3 \u03c3\u03c2",
        "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645",
        "\u0627\u0644\u0644\u063a\u0629 \u0627\u0644\u0639\u0631\u0628\u064a\u0629 \u062c\u0645\u064a\u0644\u0629 \u0661\u0662\u0663",
        "\u0634\u0643\u0631\u064b\u0627 \u062c\u064e\u0632\u0650\u064a\u0644\u064b\u0627",
        "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd",
        "\u05e2\u05b4\u05d1\u05b0\u05e8\u05b4\u05d9\u05ea \u05e2\u05dd \u05e0\u05b4\u05e7\u05bc\u05d5\u05bc\u05d3",
        "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e",
        "\u0939\u093f\u0928\u094d\u0926\u0940 \u092d\u093e\u0937\u093e \u092e\u0947\u0902 \u0915\u094d\u0937 \u0924\u094d\u0930 \u091c\u094d\u091e",
        "\u0938\u0902\u0938\u094d\u0915\u0943\u0924\u092e\u094d \u0967\u0968\u0969",
        "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e04\u0e23\u0e31\u0e1a \u0e20\u0e32\u0e29\u0e32\u0e44\u0e17\u0e22",
        "\u10d2\u10d0\u10db\u10d0\u10e0\u10ef\u10dd\u10d1\u10d0 \u10e5\u10d0\u10e0\u10d7\u10e3\u10da\u10d8",
        "\u0532\u0561\u0580\u0587 \u0570\u0561\u0575\u0565\u0580\u0565\u0576",
        "\u1230\u120b\u121d \u12a0\u121b\u122d\u129b",
        "\u0bb5\u0ba3\u0b95\u0bcd\u0b95\u0bae\u0bcd \u0ba4\u0bae\u0bbf\u0bb4\u0bcd",
        "\u09a8\u09ae\u09b8\u09cd\u0995\u09be\u09b0 \u09ac\u09be\u0982\u09b2\u09be",
        "\u0c24\u0c46\u0c32\u0c41\u0c17\u0c41 \u0c2d\u0c3e\u0c37",
        "\u1019\u103c\u1014\u103a\u1019\u102c\u1005\u102c",
        "\u0f56\u0f7c\u0f51\u0f0b\u0f61\u0f72\u0f42",
        "\u1781\u17d2\u1798\u17c2\u179a",
        "\u0ea5\u0eb2\u0ea7",
        "\u0d2e\u0d32\u0d2f\u0d3e\u0d33\u0d02",
        "\u0a2a\u0a70\u0a1c\u0a3e\u0a2c\u0a40",
        "\u0a97\u0ac1\u0a9c\u0ab0\u0abe\u0aa4\u0ac0",
        "\u0d9c\u0dd2\u0d82\u0dc4\u0dbd",
        "\u1824\u1833\u1829\u182d\u1823\u182f",
        "\U00010330\U00010331\U00010332 Gothic",
        "\U0001d518\U0001d52b\U0001d526\U0001d520\U0001d52c\U0001d521\U0001d522 math fraktur",
        "\uff26\uff55\uff4c\uff4c\uff57\uff49\uff44\uff54\uff48 \uff21\uff22\uff23",
        "\u2160\u2161\u2162\u2163 \u216b roman",
        "Mixed: English, \u0440\u0443\u0441\u0441\u043a\u0438\u0439, \u4e2d\u6587, \u0627\u0644\u0639\u0631\u0628\u064a\u0629, \u05e2\u05d1\u05e8\u05d9\u05ea, \u0939\u093f\u0928\u094d\u0926\u0940, \u65e5\u672c\u8a9e",
    ]
    # combining characters and NFC cases (decomposed and precomposed forms)
    s += [
        "e\u0301", "\u00e9", "cafe\u0301", "Cafe\u0301 au lait", "e\u0301e\u0301e\u0301",
        "A\u030a", "\u212b", "\u00c5", "\u2126 ohm", "\u1e9b\u0323", "q\u0307\u0323",
        "o\u0308\u0304", "\u01d5", "u\u0308\u0301", "a\u0328\u0301",
        "\u1100\u1161\u11a8", "\u1112\u1161\u11ab\u1100\u1173\u11af", "\uac01",
        "\u0915\u093c", "\u0958", "\u0928\u093c", "\ufb01 ligature \ufb02",
        "\u00bd \u2153 \u00b2 \u2075", "x\u0336\u0336y",
        "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319\u0324\u031e\u0349\u035a\u032f\u031e\u0320\u034dalgo",
        "\u05e9\u05c1\u05b8", "\u0626", "\u064a\u0654", "\u1f00\u0345", "\u03b1\u0313\u0345",
        "Vie\u0323\u0302t Nam", "n\u0303", "N\u0303o\u0303",
        "\u0041\u0308\u0301", "\u0340\u0341 combining at start",
        "\u0301 lone accent", "a \u0301 b",
    ]
    # digits of every length and number formats
    d = "12345678901234567890123456789"
    s += [d[:n] for n in range(1, 26)]
    s += [" " + d[:n] for n in (1, 2, 3, 4, 7)]
    s += [
        "0", "00", "000", "007", "1 2 3", "12 345 6789", "3.14159", "-42", "+1e-10",
        "1,000,000", "1.000.000,00", "$1,234.56", "\u20ac99.99", "50%", "2024-01-15T10:30:00Z",
        "192.168.0.1", "0xDEADBEEF", "0b101010", "v1.2.3", "abc123def456", "123abc",
        "a1b2c3", "\u0661\u0662\u0663\u0664\u0665", "\u0967\u0968\u0969\u096a", "\uff11\uff12\uff13\uff14",
        "\u2460\u2461\u2462", "x\u00b2 + y\u00b2 = z\u00b2", "\U0001d7ce\U0001d7cf\U0001d7d0",
        "Phone: +1 (555) 123-4567", "1st 2nd 3rd 4th 21st",
    ]
    # code
    s += [
        "def foo(x):\n    return x + 1\n",
        "for i in range(10):\n\tprint(i)",
        "int main(void) {\n    printf(\"%d\\n\", 42);\n    return 0;\n}",
        "#include <stdio.h>\n#define MAX(a, b) ((a) > (b) ? (a) : (b))",
        "const x = {a: 1, b: [2, 3], c: 'str'};",
        "{\"key\": \"value\", \"n\": 12, \"arr\": [true, false, null]}",
        "<html><body><div class=\"main\">Hi</div></body></html>",
        "SELECT * FROM users WHERE id = 42 AND name LIKE '%bob%';",
        "if (a && b || !c) { x <<= 2; y >>= 3; z ^= ~w; }",
        "$ ls -la | grep \"foo\" > /dev/null 2>&1 && echo ok",
        "fn main() -> Result<(), Box<dyn Error>> { Ok(()) }",
        "    indented four\n        indented eight\n\t\ttabbed",
        "x=1;y=2;z=x+y;print(z)",
        "a==b!=c<=d>=e->f=>g::h..i...j",
        "// comment\n/* block\n   comment */\n# hash",
        "https://www.example.com/path/to/page?query=1&x=y#frag",
        "user.name+tag@example.co.uk",
        "C:\\Users\\name\\file.txt",
        "```python\nprint('hi')\n```",
        "__init__ __name__ __main__ self.x_y_z",
        "camelCaseIdentifier PascalCase snake_case SCREAMING_CASE kebab-case",
        "return \"\"\"docstring\"\"\"",
        "regex: ^[a-z]+\\d{2,3}(?:foo|bar)$",
        "@decorator\nclass Foo(Base):\n    pass",
        "x  =  1\n\n\ny = 2",
    ]
    # whitespace and newline runs
    s += [
        "", " ", "  ", "   ", "    ", "        ", "\t", "\t\t", "\n", "\n\n", "\n\n\n", "\r", "\r\n",
        " \n", "\n ", " \n ", "  \n  ", "\t\n\t", " \t \n", "a b", "a  b", "a   b", "a\tb", "a\t\tb",
        "a\nb", "a\n\nb", "a \nb", "a\n b", "a \n b", "   leading spaces", "trailing spaces   ",
        "  both  ", "\u00a0", "a\u00a0b", "\u3000", "a\u3000b", "\u2028", "a\u2029b", "\u0085", "a\u0085b",
        "\u000b\u000c", "a\u000bb\u000cc", "\u2002\u2003\u2009", "a\u200ab", "\u202f\u205f", "\u1680",
        "\u180e", " \u00a0 ", "x\n\n\n\n\n\n\n\n\n\ny", "end  \n\n  ",
    ]
    # emoji with modifiers and ZWJ sequences
    s += [
        "\U0001f600", "\U0001f44d", "\U0001f44d\U0001f3fd", "\U0001f44b\U0001f3ff hi",
        "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466",
        "\U0001f3f3\ufe0f\u200d\U0001f308", "\U0001f1fa\U0001f1f8\U0001f1ef\U0001f1f5", "1\ufe0f\u20e3",
        "\u2764\ufe0f", "\u2764", "\U0001f469\U0001f3fd\u200d\U0001f4bb", "\U0001f9d1\u200d\U0001f91d\u200d\U0001f9d1",
        "I love \U0001f355 and \U0001f37a!", "\U0001f602\U0001f602\U0001f602", "\U0001fae0 melting",
        "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f", "\u263a\ufe0e text style",
        "emoji\U0001f525in\U0001f525words", "\U0001f600 \U0001f600  \U0001f600",
        "\u00a9 \u00ae \u2122 \u2713 \u2717 \u2605",
    ]
    # special-token strings and near misses (for every tokenizer's specials)
    s += [
        "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|im_start|>user\nHi<|im_end|>\n",
        "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>assistant\n",
        "<|im_start|", "|im_start|>", "<|im_start >", "<|IM_START|>", "<<|im_start|>>",
        "<|im_start|><|im_end|>", " <|im_end|> ", "x<|im_end|>y", "<|im_end|><|im_end|><|im_end|>",
        "<|endoftext|>The end", "text<|endoftext|>", "<|endoftext", "<|endoftext|>>",
        "<|begin_of_text|>", "<|begin_of_text|>Hello", " <|begin_of_text|> ", "<|end_of_text|>",
        "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>", "<|eot_id|", "<|eot_id|><|eot_id|>",
        "<s>", "</s>", "<unk>", "<s>Hello</s>", "<s> Hello </s>", " <s>", "<s><s>", "</s >", "< s>",
        "<0x41>", "<0x0A>", "<pad>", "<mask>", "a <mask> b", "a<mask>b", "a   <mask>   b",
        "<sep>", "x <sep>   y", "x<sep>y", "[WORD]", "a [WORD] b", "a[WORD]b", "([WORD])", "[WORD][WORD]",
        "<tool_call>", "<tool_call>{\"name\": \"f\"}</tool_call>", " <tool_call> ",
        "caf\u00e9 bar", "cafe\u0301 bar", "<repo_name>evalctl<file_sep>main.c",
        "<|unk|>", "a <|x1|> b", "<|a1|>", "x <|new|>   y", "<|new|><|new|>",
        "<|im_start|>user\n\u4f60\u597d<|im_end|>", "<|im_start|>\U0001f600<|im_end|>",
    ]
    # punctuation, symbols, markup
    s += [
        "!!!", "???", "...", "\u2026", "---", "\u2014\u2013-", "***bold***", "__under__", "~~strike~~",
        "# Heading\n## Sub\n- item\n* item\n1. item", "> quote\n>> nested", "| a | b |\n|---|---|",
        "\u2200x\u2208\u211d: x\u00b2 \u2265 0", "\u222b\u2080\u00b9 f(x) dx \u2248 \u2211 \u03c0",
        "\u00ab guillemets \u00bb \u2039single\u203a", "\u300c\u65e5\u672c\u300d\u3010\u4e2d\u3011", "@#$%^&*()_+-=[]{}|;':\",./<>?`~",
        "a.b,c;d:e!f?g", "''''", "\"\"\"\"", "' s", "'s", "'S", "'t", "'re", "'ve", "'m", "'ll", "'d",
        "'LL", "'Re", "\u017f'\u017f", "x's y'S z'\u017f", "'ss", "''s",
    ]
    # odd code points
    s += [
        "\x01\x02\x03", "\x1b[31mred\x1b[0m", "\x7f", "zero\u200bwidth", "\ufeffBOM", "\u200e\u200f",
        "\ue000\uf8ff private", "\U000f0000", "\ufffd replacement", "\ufffe\uffff", "\U0010ffff",
        "\u0600\u06dd", "soft\u00adhyphen", "a\u034fb", "\u2060joiner\u2061",
    ]
    # long strings: haystack text, runs
    s += [
        licence_text("GPL-3", 0, 4200),
        licence_text("Apache-2.0", 0, 2400),
        " " * 300,
        "\n" * 200,
        "a" * 1500,
        "1234567890" * 40,
        "ab " * 400,
        "\U0001f600" * 100,
        ("The quick brown fox. " * 30) + "<|im_end|>" + (" jumps" * 30),
    ]
    seen = set()
    out = []
    for x in s:
        if x not in seen:
            seen.add(x)
            out.append(x)
    return out


def corpus(strings):
    parts = []
    for name in ("GPL-3", "Apache-2.0", "LGPL-2.1", "MPL-2.0", "Artistic", "GFDL-1.3"):
        with open(os.path.join("/usr/share/common-licenses", name), encoding="utf-8") as f:
            parts.append(f.read())
    # a third of the bank stays unseen, so its rare characters reach byte fallback
    parts += [x for i, x in enumerate(strings) if len(x) < 500 and i % 3] * 3
    return parts


# ----------------------------------------------------------------------------- torch-free GGUF loading


def stub_torch_for_gguf():
    """transformers' GGUF reader imports torch at module level but reading only the
    metadata never touches it; give it a stand-in so the tokenizer can be built."""
    from transformers.utils import is_torch_available

    assert not is_torch_available()
    fake = types.ModuleType("torch")
    for n in ("float32", "float16", "bfloat16", "Tensor", "dtype", "device"):
        setattr(fake, n, type(n, (), {}))
    sys.modules.setdefault("torch", fake)
    import transformers.modeling_gguf_pytorch_utils as mg

    mg.is_torch_available = lambda: True


def load_gguf_tokenizer(path):
    from transformers import AutoTokenizer

    stub_torch_for_gguf()
    return AutoTokenizer.from_pretrained(os.path.dirname(os.path.abspath(path)), gguf_file=os.path.basename(path))


# ----------------------------------------------------------------------------- trained tokenizers

LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
                r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
               r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

LLAMA3_TEMPLATE = (
    "{{- bos_token }}{%- for message in messages %}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}"
    "{%- endfor %}{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}"
)
CHATML_TEMPLATE = (
    "{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
LLAMA2_TEMPLATE = (
    "{%- for message in messages %}{%- if message['role'] == 'user' %}{{- bos_token + '[INST] ' + message['content'] + ' [/INST]' }}"
    "{%- else %}{{- ' ' + message['content'] + eos_token }}{%- endif %}{%- endfor %}"
)


def train_bytelevel(strings, split, specials, vocab_size):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(split), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(corpus(strings), trainer)
    return tok


def build_llama3(strings, d):
    from tokenizers import processors

    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
                "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
    tok = train_bytelevel(strings, LLAMA3_SPLIT, specials, 1600)
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|> $B:1",
                                      special_tokens=[("<|begin_of_text|>", tok.token_to_id("<|begin_of_text|>"))]),
    ])
    j = json.loads(tok.to_str())
    j["model"]["ignore_merges"] = True  # as Llama 3's tokenizer.json
    j["model"]["merges"] = [" ".join(m) for m in j["model"]["merges"]]  # the legacy "a b" form
    write_json(os.path.join(d, "tokenizer.json"), j)
    write_json(os.path.join(d, "tokenizer_config.json"), {
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<|begin_of_text|>",
        "eos_token": "<|eot_id|>", "clean_up_tokenization_spaces": True, "chat_template": LLAMA3_TEMPLATE,
        "model_max_length": 131072})


def build_qwen2(strings, d):
    from tokenizers import AddedToken, normalizers, processors

    tok = train_bytelevel(strings, QWEN2_SPLIT, ["<|endoftext|>", "<|im_start|>", "<|im_end|>"], 1800)
    tok.normalizer = normalizers.NFC()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.add_tokens([
        AddedToken("<tool_call>", special=False, normalized=False),
        AddedToken("</tool_call>", special=False, normalized=False),
        AddedToken("<mask>", special=True, normalized=False, lstrip=True),
        AddedToken("<sep>", special=True, normalized=False, rstrip=True),
        AddedToken("[WORD]", special=False, normalized=False, single_word=True),
        AddedToken("caf\u00e9", special=False, normalized=True),
    ])
    j = json.loads(tok.to_str())
    write_json(os.path.join(d, "tokenizer.json"), j)
    # transformers ignores add_eos_token (a tokenizer.json exists) and
    # additional_special_tokens (v5 reads extra_special_tokens); added_tokens_decoder
    # entries and named special tokens it lacks are added, in that order
    write_json(os.path.join(d, "tokenizer_config.json"), {
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": None, "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>", "unk_token": "<|unk|>", "add_eos_token": True,
        "additional_special_tokens": ["<|a1|>"], "extra_special_tokens": ["<|x1|>"],
        "added_tokens_decoder": {
            "1802": {"content": "<mask>", "lstrip": True, "rstrip": False, "normalized": False,
                     "single_word": False, "special": True},
            "1900": {"content": "<|new|>", "lstrip": False, "rstrip": True, "normalized": False,
                     "single_word": False, "special": False}},
        "chat_template": CHATML_TEMPLATE, "errors": "replace", "clean_up_tokenization_spaces": False})


def build_spm(strings, d):
    """Llama 2's tokenizer.json layout: <unk> <s> </s>, 256 byte tokens, pieces."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    byte_tokens = ["<0x%02X>" % b for b in range(256)]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="never", split=True)
    trainer = trainers.BpeTrainer(vocab_size=1500, special_tokens=["<unk>", "<s>", "</s>"] + byte_tokens,
                                  show_progress=False)
    tok.train_from_iterator(corpus(strings), trainer)
    j = json.loads(tok.to_str())
    j["added_tokens"] = [t for t in j["added_tokens"] if t["content"] in ("<unk>", "<s>", "</s>")]
    j["model"]["byte_fallback"] = True
    j["model"]["fuse_unk"] = True
    j["pre_tokenizer"] = None
    j["decoder"] = json.loads(decoders.Sequence([
        decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]).__getstate__())
    j["post_processor"] = json.loads(processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B:1", special_tokens=[("<s>", 1)]).__getstate__())
    write_json(os.path.join(d, "tokenizer.json"), j)
    write_json(os.path.join(d, "tokenizer_config.json"), {
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>",
        "unk_token": "<unk>", "add_bos_token": True, "add_eos_token": False, "legacy": True,
        "chat_template": LLAMA2_TEMPLATE, "clean_up_tokenization_spaces": False})


def build_mix(strings, d):
    """The SentencePiece vocabulary behind the other components: NFKC, a regex
    Replace, Strip; Split with each behaviour, Digits, Metaspace (first, split);
    Metaspace decoder; a template adding BOS and EOS."""
    j = json.load(open(os.path.join(OUT, "spm", "tokenizer.json"), encoding="utf-8"))
    j["normalizer"] = {"type": "Sequence", "normalizers": [
        {"type": "NFKC"},
        {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "},
        {"type": "Strip", "strip_left": False, "strip_right": True}]}
    j["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"String": "\n"}, "behavior": "MergedWithPrevious", "invert": False},
        {"type": "Split", "pattern": {"Regex": "[,;:]"}, "behavior": "Contiguous", "invert": False},
        {"type": "Split", "pattern": {"Regex": "\\p{Lu}"}, "behavior": "MergedWithNext", "invert": False},
        {"type": "Split", "pattern": {"Regex": "[\\p{L}\\s]+"}, "behavior": "Removed", "invert": True},
        {"type": "Digits", "individual_digits": False},
        {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": True}]}
    j["decoder"] = {"type": "Sequence", "decoders": [
        {"type": "ByteFallback"}, {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": True}]}
    j["post_processor"] = {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                                      {"SpecialToken": {"id": "</s>", "type_id": 0}}],
                           "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
                           "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]},
                                              "</s>": {"id": "</s>", "ids": [2], "tokens": ["</s>"]}}}
    write_json(os.path.join(d, "tokenizer.json"), j)
    write_json(os.path.join(d, "tokenizer_config.json"), {
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
        "clean_up_tokenization_spaces": False})


def write_json(path, obj):
    data = (json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
    if path.endswith(".gz"):
        with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as f:
            f.write(data)
    else:
        with open(path, "wb") as f:
            f.write(data)


def added_tokens_decoder(d):
    """tokenizer_config.json's added_tokens_decoder as transformers v4 saved it."""
    j = json.load(open(os.path.join(d, "tokenizer.json"), encoding="utf-8"))
    return {str(t["id"]): {k: t[k] for k in ("content", "lstrip", "normalized", "rstrip", "single_word", "special")}
            for t in j["added_tokens"]}


def build_class_variants():
    """Directories whose tokenizer_config.json names a class transformers v5
    rebuilds from the vocabulary (GPT2Tokenizer, Qwen2Tokenizer, LlamaTokenizer),
    and one a config.json (model_type mistral) sends back to the file as is."""
    out = []
    def variant(name, base, cfg, pre=None, config=None):
        d = os.path.join(OUT, name)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        j = json.load(open(os.path.join(OUT, base, "tokenizer.json"), encoding="utf-8"))
        if pre is not None:
            j["pre_tokenizer"] = pre
        write_json(os.path.join(d, "tokenizer.json"), j)
        cfg = dict(cfg, added_tokens_decoder=added_tokens_decoder(d))
        write_json(os.path.join(d, "tokenizer_config.json"), cfg)
        if config:
            write_json(os.path.join(d, "config.json"), config)
        out.append((name, d))
    # SmolLM2's hub layout: Digits + ByteLevel in the file, GPT2Tokenizer named
    variant("gpt2cls", "llama3", {"tokenizer_class": "GPT2Tokenizer", "add_prefix_space": True,
                                   "bos_token": "<|begin_of_text|>",
                                   "eos_token": "<|eot_id|>", "unk_token": "<|end_of_text|>",
                                   "chat_template": CHATML_TEMPLATE, "clean_up_tokenization_spaces": False},
            pre={"type": "Sequence", "pretokenizers": [
                {"type": "Digits", "individual_digits": True},
                {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]})
    variant("qwen2cls", "qwen2", {"tokenizer_class": "Qwen2Tokenizer", "bos_token": None, "eos_token": "<|im_end|>",
                                   "pad_token": "<|endoftext|>", "chat_template": CHATML_TEMPLATE,
                                   "clean_up_tokenization_spaces": False},
            config={"model_type": "qwen2"})
    variant("llamacls", "spm", {"tokenizer_class": "LlamaTokenizerFast", "bos_token": "<s>", "eos_token": "</s>",
                                 "unk_token": "<unk>", "legacy": False, "add_bos_token": True,
                                 "chat_template": LLAMA2_TEMPLATE, "clean_up_tokenization_spaces": False})
    variant("mistralcls", "spm", {"tokenizer_class": "LlamaTokenizer", "bos_token": "<s>", "eos_token": "</s>",
                                   "unk_token": "<unk>", "legacy": True, "chat_template": LLAMA2_TEMPLATE},
            config={"model_type": "mistral"})
    return out


# ----------------------------------------------------------------------------- vocab-only GGUF files


def write_vocab_gguf(path, d, model, pre=None, add_bos=None, chat_template=None):
    """A GGUF with no tensors: llama hyperparameters (so transformers accepts it)
    and the tokenizer metadata llama.cpp's converter would write."""
    import gguf

    j = json.load(open(os.path.join(d, "tokenizer.json"), encoding="utf-8"))
    vocab = j["model"]["vocab"]
    added = {t["id"]: t for t in j["added_tokens"]}
    n = max(max(vocab.values()), max(added) if added else 0) + 1
    tokens = ["[PAD%d]" % i for i in range(n)]
    for t, i in vocab.items():
        tokens[i] = t
    types_ = [gguf.TokenType.NORMAL] * n
    for i, t in added.items():
        tokens[i] = t["content"]
        types_[i] = gguf.TokenType.CONTROL if t["special"] else gguf.TokenType.USER_DEFINED
    w = gguf.GGUFWriter(path, "llama")
    w.add_name(os.path.basename(path))
    w.add_context_length(4096)
    w.add_embedding_length(64)
    w.add_block_count(1)
    w.add_feed_forward_length(128)
    w.add_head_count(4)
    w.add_head_count_kv(4)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(16)
    w.add_vocab_size(n)
    w.add_tokenizer_model(model)
    if model == "gpt2":
        w.add_tokenizer_pre(pre)
        merges = j["model"]["merges"]
        w.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in merges])
    else:
        scores = [0.0] * n
        for t, i in vocab.items():
            if t.startswith("<0x") and len(t) == 6:
                types_[i] = gguf.TokenType.BYTE
            elif i not in added:
                scores[i] = -float(i)
        unk = vocab.get("<unk>")
        if unk is not None:
            types_[unk] = gguf.TokenType.UNKNOWN
        w.add_token_scores(scores)
        w.add_add_space_prefix(True)
    w.add_token_list(tokens)
    w.add_token_types(types_)
    cfg = json.load(open(os.path.join(d, "tokenizer_config.json"), encoding="utf-8"))
    for key, fn in (("bos_token", w.add_bos_token_id), ("eos_token", w.add_eos_token_id),
                    ("unk_token", w.add_unk_token_id), ("pad_token", w.add_pad_token_id)):
        if cfg.get(key) in tokens:
            fn(tokens.index(cfg[key]))
    if add_bos is not None:
        w.add_add_bos_token(add_bos)
    if chat_template:
        w.add_chat_template(chat_template)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


# ----------------------------------------------------------------------------- references


CONVERSATIONS = [
    [{"role": "user", "content": "Hello! How are you?"}],
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "2+2?"},
     {"role": "assistant", "content": "4"}, {"role": "user", "content": "And 3+3?"}],
    [{"role": "user", "content": "Write <|im_end|> and </s> literally:\n\u4f60\u597d \U0001f44b\U0001f3fd  caf\u00e9"}],
]


def chat_ids(tok, conv, gen):
    out = tok.apply_chat_template(conv, add_generation_prompt=gen, tokenize=True)
    return list(out["input_ids"] if hasattr(out, "keys") else out)


def reference(name, tok, path, strings, note):
    from tokenizers.decoders import DecodeStream

    backend = tok.backend_tokenizer
    ids, decoded, plain, stream = [], {}, {}, {}
    for i, s in enumerate(strings):
        x = tok(s)["input_ids"]
        ids.append(x)
        dec = tok.decode(x)
        if dec != s:
            decoded[str(i)] = dec
        if i % 7 == 0:
            plain[str(i)] = tok(s, add_special_tokens=False)["input_ids"]
        if i % 5 == 0 and len(x) < 400:
            ds = DecodeStream(skip_special_tokens=False)
            stream[str(i)] = [ds.step(backend, t) for t in x]
    meta = {
        "name": name, "path": path, "note": note,
        "bos_id": tok.bos_token_id, "eos_id": tok.eos_token_id,
        "bos": tok.bos_token, "eos": tok.eos_token,
        "vocab_size": len(tok),
    }
    chat = []
    if tok.chat_template:
        for k, conv in enumerate(CONVERSATIONS):
            for gen in (True, False):
                chat.append({"conv": k, "gen": gen, "ids": chat_ids(tok, conv, gen),
                             "text": tok.apply_chat_template(conv, add_generation_prompt=gen, tokenize=False)})
    write_json(os.path.join(OUT, name + ".json.gz"),
               dict(meta, ids=ids, decoded=decoded, no_special=plain, stream=stream, chat=chat))
    REFS[name] = (tok, path)
    n_tok = sum(len(x) for x in ids)
    print("%-12s %6d ids, %3d decode differences  (%s)" % (name, n_tok, len(decoded), path))


REFS = {}


def cli_cases(strings):
    """Files for tests/test_tokenize_cli.sh: NN.args (model path, then the flags),
    NN.in (the --file input), NN.out (what stdout must be, byte for byte)."""
    d = os.path.join(OUT, "cli")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    pick = {s: i for i, s in enumerate(strings)}
    for old in os.listdir(OUT):
        if old.endswith(".json") and old not in ("bank.json", "conversations.json"):
            os.remove(os.path.join(OUT, old))
    cases = [
        ("smollm2_gguf", "", "<|im_start|>user\nHi<|im_end|>\n"),
        ("smollm2_dir", "", "Mixed: English, \u0440\u0443\u0441\u0441\u043a\u0438\u0439, \u4e2d\u6587, \u0627\u0644\u0639\u0631\u0628\u064a\u0629, \u05e2\u05d1\u05e8\u05d9\u05ea, \u0939\u093f\u0928\u094d\u0926\u0940, \u65e5\u672c\u8a9e"),
        ("llama3_dir", "", "It was the best of times, it was the worst of times, it was the age of wisdom."),
        ("llama3_dir", "--no-special", "It was the best of times, it was the worst of times, it was the age of wisdom."),
        ("spm_gguf", "", "<s>Hello</s>"),
        ("qwen2_dir", "--decode", "caf\u00e9 na\u00efve r\u00e9sum\u00e9 co\u00f6perate fa\u00e7ade"),
        ("spm_dir", "--decode", "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"),
        ("smollm2_gguf", "--messages", 1),
        ("smollm2_gguf", "--messages --render", 1),
        ("qwen2_dir", "--messages --no-generation-prompt", 2),
        ("llama3_dir", "--messages", 0),
        ("spm_gguf", "--messages", 0),
        ("llama3_gguf", "--messages --render", 1),
    ]
    for n, (name, flags, what) in enumerate(cases, 1):
        tok, path = REFS[name]
        base = os.path.join(d, "%02d" % n)
        with open(base + ".args", "w", encoding="utf-8") as f:
            f.write(path + "\n" + flags + "\n")
        if "--messages" in flags:
            conv = CONVERSATIONS[what]
            gen = "--no-generation-prompt" not in flags
            write_json(base + ".in", conv)
            if "--render" in flags:
                out = tok.apply_chat_template(conv, add_generation_prompt=gen, tokenize=False)
            else:
                out = " ".join(map(str, chat_ids(tok, conv, gen))) + "\n"
        elif "--decode" in flags:
            assert what in pick
            ids = tok(what)["input_ids"]
            inp, out = " ".join(map(str, ids)) + "\n", tok.decode(ids)
        else:
            assert what in pick
            inp = what
            ids = tok(what, add_special_tokens="--no-special" not in flags)["input_ids"]
            out = " ".join(map(str, ids)) + "\n"
        if "--messages" not in flags:
            with open(base + ".in", "w", encoding="utf-8", newline="") as f:
                f.write(inp)
        with open(base + ".out", "w", encoding="utf-8", newline="") as f:
            f.write(out)


def main():
    from transformers import AutoTokenizer

    if not os.path.isdir("tests/fixtures"):
        sys.exit("run from the repository root")
    os.makedirs(OUT, exist_ok=True)
    strings = bank()
    assert len(strings) >= 300, len(strings)
    for x in strings:
        x.encode("utf-8")
    write_json(os.path.join(OUT, "bank.json"), strings)
    print("bank: %d strings" % len(strings))

    # SmolLM2 from the GGUF, and the same tokenizer saved as an HF directory
    smol = load_gguf_tokenizer(GGUF_MODEL)
    sdir = os.path.join(OUT, "smollm2")
    shutil.rmtree(sdir, ignore_errors=True)
    smol.save_pretrained(sdir)
    # compact, merges as "a b" strings (the smaller of tokenizers' two spellings)
    sj = json.load(open(os.path.join(sdir, "tokenizer.json"), encoding="utf-8"))
    sj["model"]["merges"] = [" ".join(m) for m in sj["model"]["merges"]]
    write_json(os.path.join(sdir, "tokenizer.json"), sj)
    reference("smollm2_gguf", smol, GGUF_MODEL, strings, "transformers AutoTokenizer(gguf_file=...)")
    reference("smollm2_dir", AutoTokenizer.from_pretrained(sdir), sdir, strings, "save_pretrained of the GGUF tokenizer")

    for name, build, ggufargs in (
        ("llama3", build_llama3, dict(model="gpt2", pre="llama-bpe")),
        ("qwen2", build_qwen2, dict(model="gpt2", pre="qwen2", add_bos=False)),
        ("spm", build_spm, dict(model="llama", add_bos=True)),
    ):
        d = os.path.join(OUT, name)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        build(strings, d)
        reference(name + "_dir", AutoTokenizer.from_pretrained(d), d, strings, "trained with tokenizers")
        g = os.path.join(OUT, name + ".gguf")
        cfg = json.load(open(os.path.join(d, "tokenizer_config.json"), encoding="utf-8"))
        write_vocab_gguf(g, d, chat_template=cfg.get("chat_template"), **ggufargs)
        reference(name + "_gguf", load_gguf_tokenizer(g), g, strings, "vocab-only GGUF of " + name)
    d = os.path.join(OUT, "mix")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    build_mix(strings, d)
    reference("mix_dir", AutoTokenizer.from_pretrained(d), d, strings, "spm vocabulary, other components")
    for name, d in build_class_variants():
        t = AutoTokenizer.from_pretrained(d)
        reference(name, t, d, strings, "tokenizer_class %s: %s" % (json.load(open(os.path.join(d, "tokenizer_config.json"))).get("tokenizer_class"), type(t).__name__))
    write_json(os.path.join(OUT, "conversations.json"), CONVERSATIONS)
    cli_cases(strings)


if __name__ == "__main__":
    main()
